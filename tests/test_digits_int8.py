"""The digits example models through the whole float-to-int8 path: accuracy within a point of
float, not below onnxruntime's own quantizer, C and edgeai.ref identical, the report written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from edgeai.compiler import compile_onnx
from edgeai.evaluate import evaluate, load_labels
from edgeai.report import write_report
from edgeai.samples import load_samples
from edgeai.verify import verify

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "models" / "digits"


@pytest.mark.parametrize("name", ["digits_small", "digits_large"])
def test_int8_accuracy_within_a_point_of_float(name: str, tmp_path: Path) -> None:
    compiled, graph = compile_onnx(DIGITS / f"{name}.onnx", DIGITS / "calib.npy")
    samples = load_samples(DIGITS / "test_x.npy", graph)
    labels = load_labels(DIGITS / "test_y.npy", len(samples))
    ev = evaluate(compiled, graph, samples, labels, onnx_path=DIGITS / f"{name}.onnx")
    assert ev.float_backend == "onnxruntime"
    assert ev.float_accuracy is not None and ev.int8_accuracy is not None
    assert ev.int8_accuracy >= ev.float_accuracy - 0.01
    assert ev.top1_agreement >= 0.98
    page = write_report(tmp_path / "report", name, compiled, ev, "minmax")
    html = page.read_text()
    assert "Quantization report" in html and "sqnr_per_layer.png" in html
    assert (tmp_path / "report" / "sqnr_per_layer.png").stat().st_size > 1000


def test_not_below_onnxruntime_quantizer() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "quant_peer.py")], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| digits")]
    assert len(rows) == 2
    for row in rows:
        float_acc, peer, minmax, *_ = (float(v) for v in re.findall(r"([\d.]+) %", row))
        assert minmax >= peer and minmax >= float_acc - 1.0, row


@pytest.mark.parametrize("name", ["digits_small", "digits_large"])
def test_verify_example_models(name: str) -> None:
    report = verify(DIGITS / f"{name}.onnx", samples=20, calib=DIGITS / "calib.npy")
    assert report.backends == ["ref", "c"]
    assert report.ok and report.mismatched_elements == 0 and report.compared_elements > 0
    assert report.top1_agreement is not None and report.top1_agreement >= 0.98
    assert np.isfinite(report.sqnr_db or 0.0)
