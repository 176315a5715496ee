"""The digits example models in models/digits: the committed files work, and the recipe remakes them byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "models" / "digits"
RECIPE = DIGITS / "make.py"
GENERATED = ["digits_small.onnx", "digits_large.onnx", "calib.npy", "test_x.npy", "test_y.npy"]
MIN_ACCURACY = {"digits_small": 0.95, "digits_large": 0.97}
# What the ONNX front end reads (issue 3); the example models must stay within it.
SUPPORTED_OPS = {
    "Conv", "Gemm", "MatMul", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "Add", "Flatten",
    "Reshape", "Softmax", "BatchNormalization", "Identity", "Dropout",
}  # fmt: skip


def _metrics() -> dict[str, Any]:
    metrics: dict[str, Any] = json.loads((DIGITS / "metrics.json").read_text())
    return metrics


@pytest.mark.parametrize("name", sorted(MIN_ACCURACY))
def test_committed_model_accuracy_matches_metrics(name: str) -> None:
    info = _metrics()["models"][name]
    x = np.load(DIGITS / "test_x.npy")
    y = np.load(DIGITS / "test_y.npy")
    assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8) and 0.0 <= x.min() and x.max() <= 1.0
    assert y.dtype == np.int64 and y.shape == (x.shape[0],)

    model = onnx.load(str(DIGITS / f"{name}.onnx"))
    onnx.checker.check_model(model)
    ops = {n.op_type for n in model.graph.node}
    assert ops <= SUPPORTED_OPS, f"{name} uses operators the ONNX front end does not read: {ops - SUPPORTED_OPS}"
    assert "BatchNormalization" in ops

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(DIGITS / f"{name}.onnx"), opts, providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    (out,) = sess.get_outputs()
    assert (inp.name, list(inp.shape), out.name, list(out.shape)) == ("input", [1, 1, 8, 8], "logits", [1, 10])
    logits = np.concatenate([sess.run(["logits"], {"input": x[i : i + 1]})[0] for i in range(len(x))])
    correct = int((logits.argmax(axis=1) == y).sum())
    assert correct == info["test_correct"]
    assert correct / len(y) == info["test_accuracy"]
    assert info["test_accuracy"] >= MIN_ACCURACY[name]


def test_committed_files_are_small() -> None:
    info = _metrics()
    calib = np.load(DIGITS / "calib.npy")
    assert calib.dtype == np.float32 and calib.shape == (info["n_calib"], 1, 8, 8)
    assert 100 <= len(calib) <= 200
    assert info["models"]["digits_small"]["int8_weight_bytes"] < 20_000
    total = sum((DIGITS / f).stat().st_size for f in [*GENERATED, "metrics.json"])
    assert total < 1_000_000


def test_recipe_rebuilds_identical_files(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the recipe needs torch: pip install -e '.[models]'")
    pytest.importorskip("sklearn", reason="the recipe needs scikit-learn: pip install -e '.[models]'")
    proc = subprocess.run(
        [sys.executable, str(RECIPE), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    differ = [f for f in GENERATED if (tmp_path / f).read_bytes() != (DIGITS / f).read_bytes()]
    assert not differ, (
        f"{differ} differ from what `python models/digits/make.py` makes now. If the recipe changed on purpose, rerun "
        f"it and commit the files; float training is byte-reproducible only with the same torch build and CPU family."
        f"\n{proc.stdout}"
    )
    assert json.loads((tmp_path / "metrics.json").read_text()) == _metrics()
