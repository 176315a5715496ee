"""Shared fixtures: where the MLPerf Tiny models live, and skipping cleanly without them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
MLPERF = SHARED / "models" / "mlperf-tiny"


@dataclass(frozen=True)
class MLPerfModel:
    name: str
    path: Path


MODELS = {
    "kws01": "kws01/kws_ref_model.tflite",
    "vww01": "vww01/vww_96_int8.tflite",
    "ic01": "ic01/pretrainedResnet_quant.tflite",
    "ad01": "ad01/ad01_int8.tflite",
}


def mlperf_path(rel: str) -> Path:
    p = MLPERF / rel
    if not p.exists():
        pytest.skip(f"{p} is absent: the MLPerf Tiny models are read from ../shared beside the project")
    return p


@pytest.fixture(params=sorted(MODELS))
def mlperf_model(request: pytest.FixtureRequest) -> MLPerfModel:
    name = str(request.param)
    return MLPerfModel(name, mlperf_path(MODELS[name]))
