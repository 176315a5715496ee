"""The CLI end to end: compile, inspect, and one clear line for every kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import mlperf_path

ROOT = Path(__file__).resolve().parent.parent


def edgeai(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edgeai", *args], capture_output=True, text=True, env=env)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 1, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("edgeai: error: ")
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]


def test_compile_and_inspect(tmp_path: Path) -> None:
    model = mlperf_path("ic01/pretrainedResnet_quant.tflite")
    out = tmp_path / "ic01.eai"
    proc = edgeai("compile", str(model), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0
    proc = edgeai("inspect", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    for key in ("operators", "tensors", "arena_bytes", "arena_lower_bound_bytes", "weights_bytes", "blob_bytes"):
        assert key in info
    ops = [op["op"] for op in info["operators"]]
    assert ops.count("CONV_2D") == 9 and ops.count("ADD") == 3 and ops[-1] == "SOFTMAX"
    assert info["blob_bytes"] == out.stat().st_size
    assert info["arena_bytes"] >= info["arena_lower_bound_bytes"] > 0
    text = edgeai("inspect", str(out))
    assert text.returncode == 0 and "arena_bytes:" in text.stdout and "CONV_2D" in text.stdout


def test_missing_files(tmp_path: Path) -> None:
    assert_one_line_error(edgeai("compile", str(tmp_path / "nope.tflite")), "no such file")
    assert_one_line_error(edgeai("inspect", str(tmp_path / "nope.eai")), "no such file")
    assert_one_line_error(edgeai("verify", str(tmp_path / "nope.tflite")), "no such file")


def test_bad_blobs(tmp_path: Path) -> None:
    good = tmp_path / "kws.eai"
    assert edgeai("compile", str(mlperf_path("kws01/kws_ref_model.tflite")), "-o", str(good)).returncode == 0
    data = good.read_bytes()
    trunc = tmp_path / "trunc.eai"
    trunc.write_bytes(data[: len(data) // 2])
    assert_one_line_error(edgeai("inspect", str(trunc)), "truncated")
    corrupt = tmp_path / "corrupt.eai"
    corrupt.write_bytes(data[:200] + bytes([data[200] ^ 1]) + data[201:])
    assert_one_line_error(edgeai("inspect", str(corrupt)), "corrupt")
    notblob = tmp_path / "x.eai"
    notblob.write_bytes(b"hello world" * 10)
    assert_one_line_error(edgeai("inspect", str(notblob)), "not an .eai")


def test_bad_tflite(tmp_path: Path) -> None:
    data = mlperf_path("kws01/kws_ref_model.tflite").read_bytes()
    trunc = tmp_path / "trunc.tflite"
    trunc.write_bytes(data[: len(data) // 3])
    assert_one_line_error(edgeai("compile", str(trunc)), "truncated or corrupt")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\0" * 64)
    assert_one_line_error(edgeai("compile", str(junk)), "not a TFLite")
    other = tmp_path / "model.onnx.txt"
    other.write_text("x")
    assert_one_line_error(edgeai("compile", str(other)), "unknown model type")


def test_verify_input_of_wrong_size(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\1" * 100)
    proc = edgeai("verify", str(mlperf_path("kws01/kws_ref_model.tflite")), "--samples", "1", "--input", str(bad))
    assert_one_line_error(proc, "not a whole number of samples")
