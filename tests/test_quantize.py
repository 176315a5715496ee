"""Float ONNX to int8: calibration, quantization, and the blob it makes agreeing bit for bit
between edgeai.ref and the C runtime, and closely with the float model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

from edgeai.compiler import compile_model
from edgeai.errors import EdgeAIError
from edgeai.float_ref import FloatInterpreter
from edgeai.frontends.onnx import load_onnx
from edgeai.native import NativeModel
from edgeai.quantize import qparams_for_range
from edgeai.ref import Interpreter

from .test_onnx_frontend import RNG, small_cnn

ROOT = Path(__file__).resolve().parent.parent


def test_qparams_hold_zero_and_the_range() -> None:
    q = qparams_for_range(-1.0, 3.0)
    assert q.scale == pytest.approx(4.0 / 255, rel=1e-6)
    assert -128 <= q.zero_point <= 127
    assert (-128 - q.zero_point) * q.scale == pytest.approx(-1.0, abs=q.scale)
    assert qparams_for_range(0.5, 2.0).zero_point == -128  # widened to hold 0


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse"])
def test_int8_matches_float_and_backends_agree(tmp_path: Path, method: str) -> None:
    model = small_cnn(tmp_path / "cnn.onnx")
    calib = tmp_path / "calib.npy"
    np.save(calib, RNG.standard_normal((64, 1, 3, 12, 12)).astype(np.float32))
    compiled = compile_model(model, calib, method)
    blob = compiled.blob
    t_in, t_out = blob.tensors[blob.inputs[0]], blob.tensors[blob.outputs[0]]
    fi, ref, native = FloatInterpreter(load_onnx(model)), Interpreter(compiled.data), NativeModel(compiled.data)
    agree, sqnr = 0, []
    for _ in range(40):
        xf = RNG.standard_normal((1, 12, 12, 3)).astype(np.float32)
        q = np.clip(np.round(xf / t_in.scale) + t_in.zero_point, -128, 127).astype(np.int8)
        (yq,) = ref.run([q])
        (yc,) = native.run([q])
        (yf,) = fi.run([xf])
        assert np.array_equal(yq, yc)
        deq = ((yq.astype(np.float32) - t_out.zero_point) * t_out.scale).reshape(yf.shape)
        agree += int(deq.argmax() == yf.argmax())
        sqnr.append(10 * np.log10(np.sum(yf**2) / np.sum((yf - deq) ** 2)))
    assert agree >= 36
    assert np.mean(sqnr) > 25.0


def test_bad_calibration_sets(tmp_path: Path) -> None:
    model = small_cnn(tmp_path / "cnn.onnx")
    with pytest.raises(EdgeAIError, match="needs calibration samples"):
        compile_model(model)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((4, 3, 8, 8), np.float32))
    with pytest.raises(EdgeAIError, match=r"does not match the model's input \(1, 3, 12, 12\)"):
        compile_model(model, wrong)
    ints = tmp_path / "ints.npy"
    np.save(ints, np.zeros((4, 3, 12, 12), np.int32))
    with pytest.raises(EdgeAIError, match="int32 values"):
        compile_model(model, ints)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EdgeAIError, match=r"no \.npy or \.npz"):
        compile_model(model, empty)
    none = tmp_path / "none.npy"
    np.save(none, np.zeros((0, 3, 12, 12), np.float32))
    with pytest.raises(EdgeAIError, match="no samples"):
        compile_model(model, none)


def test_cli_compiles_onnx_with_calibration(tmp_path: Path) -> None:
    model = small_cnn(tmp_path / "cnn.onnx")
    folder = tmp_path / "calib"
    folder.mkdir()
    for k in range(3):
        np.save(folder / f"part{k}.npy", RNG.standard_normal((8, 3, 12, 12)).astype(np.float32))
    out = tmp_path / "cnn.eai"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "edgeai", "compile", str(model), "--calib", str(folder), "--method", "mse"]
    proc = subprocess.run([*cmd, "-o", str(out)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0 and "arena" in proc.stdout
    proc = subprocess.run(cmd[:-4], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "--calib" in proc.stderr


def test_compile_eval_report_and_verify_onnx(tmp_path: Path) -> None:
    import json

    model = small_cnn(tmp_path / "cnn.onnx")
    calib, evalset = tmp_path / "calib.npy", tmp_path / "eval.npy"
    np.save(calib, RNG.standard_normal((32, 1, 3, 12, 12)).astype(np.float32))
    x_eval = RNG.standard_normal((40, 3, 12, 12)).astype(np.float32)
    np.save(evalset, x_eval)
    sess = pytest.importorskip("onnxruntime").InferenceSession(str(model), providers=["CPUExecutionProvider"])
    labels = np.array([int(np.argmax(sess.run(None, {"input": x[None]})[0])) for x in x_eval])
    np.save(tmp_path / "labels.npy", labels)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    report = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "edgeai", "compile", str(model), "--calib", str(calib), "--eval", str(evalset),
         "--labels", str(tmp_path / "labels.npy"), "--report", str(report), "-o", str(tmp_path / "m.eai")],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "top-1 agreement" in proc.stdout and "accuracy: float 100.00 %" in proc.stdout
    page = (report / "index.html").read_text()
    assert "sqnr_per_layer.png" in page and "DEPTHWISE_CONV_2D" in page
    assert (report / "sqnr_per_layer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    out = tmp_path / "verify.json"
    proc = subprocess.run(
        [sys.executable, "-m", "edgeai", "verify", str(model), "--calib", str(calib), "--samples", "10",
         "--json", str(out)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["backends"] == ["ref", "c"] and data["mismatched_elements"] == 0
    assert data["samples"] == 10 + 32
    assert data["top1_agreement"] >= 0.85 and data["sqnr_db"] > 20
