"""The digits example models through the whole float-to-int8 path: accuracy within a point of
float, not below onnxruntime's own quantizer, C and edgeai.ref identical, the report written."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

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


def _quant_peer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quant_peer", ROOT / "benchmarks" / "quant_peer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["quant_peer"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["digits_small", "digits_large"])
def test_not_below_onnxruntime_quantizer(name: str) -> None:
    """edgeai's minmax int8 model against onnxruntime's minmax int8 model (QDQ, per channel), same calibration
    samples: at least as faithful a copy of the float model (top-1 answers kept, SQNR of the logits), not right less
    often beyond chance (exact McNemar test), and within a point of float."""
    qp = _quant_peer()
    c = qp.compare(DIGITS / f"{name}.onnx", DIGITS / "calib.npy", DIGITS / "test_x.npy", np.load(DIGITS / "test_y.npy"))
    ours = c.ours_logits["minmax"]
    summary = (
        f"accuracy float {c.accuracy(c.float_logits):.4f}, onnxruntime {c.accuracy(c.peer_logits):.4f}, "
        f"edgeai {c.accuracy(ours):.4f}; kept {c.agreement(c.peer_logits):.4f} vs {c.agreement(ours):.4f}; "
        f"SQNR {c.sqnr_db(c.peer_logits):.2f} vs {c.sqnr_db(ours):.2f} dB"
    )
    assert c.problems() == [], summary
    assert c.accuracy(ours) >= c.accuracy(c.float_logits) - 0.01, summary


def test_quant_peer_table() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "quant_peer.py")], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sum(line.startswith("| digits") for line in proc.stdout.splitlines()) == 4, proc.stdout


@pytest.mark.parametrize("name", ["digits_small", "digits_large"])
def test_verify_example_models(name: str) -> None:
    report = verify(DIGITS / f"{name}.onnx", samples=20, calib=DIGITS / "calib.npy")
    assert report.backends == ["ref", "c"]
    assert report.ok and report.mismatched_elements == 0 and report.compared_elements > 0
    assert report.top1_agreement is not None and report.top1_agreement >= 0.98
    assert np.isfinite(report.sqnr_db or 0.0)


def test_quant_peer_flags_a_worse_quantizer() -> None:
    """The comparison's verdicts on made-up logits: a lucky peer is chance, a noisier or often-wrong edgeai is not."""
    qp = _quant_peer()
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 10
    fl = (np.eye(10)[labels] * 4 + rng.normal(0, 0.1, (200, 10))).astype(np.float32)
    fl[0] = np.eye(10)[1] * 4  # the float model is wrong on sample 0
    lucky = fl.copy()
    lucky[0, 0] = 5.0  # the peer's quantization error happens to fix it
    same = qp.Comparison("m", labels, fl, lucky, {"minmax": fl + 0.01})
    assert same.problems() == [] and same.worse_than_peer_p() == 0.5
    noisy = qp.Comparison("m", labels, fl, fl + 0.01, {"minmax": fl + 0.05})
    assert any("further from the float" in p for p in noisy.problems())
    wrong = fl.copy()
    wrong[:12] = np.roll(np.eye(10)[labels[:12]] * 4, 1, axis=1)  # edgeai wrong on 12 samples the peer gets right
    often = qp.Comparison("m", labels, fl, fl, {"minmax": wrong.astype(np.float32)})
    problems = often.problems()
    assert any("McNemar" in p for p in problems) and any("fewer of the float" in p for p in problems)
