"""The C runtime on real blobs: built with AddressSanitizer and UndefinedBehaviorSanitizer, it
runs the MLPerf Tiny models bit-exact with edgeai.ref, and its loader rejects thousands of
mutated and truncated blobs cleanly."""

from __future__ import annotations

import re
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgeai.blob import read_blob
from edgeai.compiler import compile_model
from edgeai.errors import EdgeAIError
from edgeai.native import FIRMWARE, ROOT, LoadError, NativeModel
from edgeai.ref import Interpreter

from .conftest import MODELS, MLPerfModel, mlperf_path

SAN = ROOT / "build" / "host-san"


def _san_tool(name: str) -> Path:
    tool = SAN / name
    proc = subprocess.run(["make", "-s", "-C", str(FIRMWARE), "SAN=1", "tools"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert tool.exists()
    return tool


def test_sanitized_runtime_matches_ref(mlperf_model: MLPerfModel, tmp_path: Path) -> None:
    run = _san_tool("eai_run")
    compiled = compile_model(mlperf_model.path)
    blob_path = tmp_path / "model.eai"
    blob_path.write_bytes(compiled.data)
    ref = Interpreter(compiled.data)
    rng = np.random.default_rng(7)
    for k in range(3):
        xs = [rng.integers(-128, 128, size=s, dtype=np.int8) for s in ref.input_shapes()]
        ins = []
        for i, x in enumerate(xs):
            p = tmp_path / f"in{k}_{i}.bin"
            x.tofile(p)
            ins.append(str(p))
        out_dir = tmp_path / f"out{k}"
        out_dir.mkdir()
        proc = subprocess.run([str(run), str(blob_path), str(out_dir), *ins], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "runtime error" not in proc.stderr and "AddressSanitizer" not in proc.stderr
        expected = ref.run(xs)
        for i, e in enumerate(expected):
            got = np.fromfile(out_dir / f"output{i}.bin", dtype=np.int8)
            assert np.array_equal(got, e.reshape(-1))


def test_fuzz_loader_sanitized(tmp_path: Path) -> None:
    fuzz = _san_tool("eai_fuzz")
    blobs = []
    for name, rel in sorted(MODELS.items()):
        p = tmp_path / f"{name}.eai"
        p.write_bytes(compile_model(mlperf_path(rel)).data)
        blobs.append(str(p))
    proc = subprocess.run(
        [str(fuzz), "--iterations", "1500", "--seed", "20261123", *blobs],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "runtime error" not in proc.stderr and "AddressSanitizer" not in proc.stderr
    counts = [int(n) for n in re.findall(r"(\d+) mutants", proc.stdout)]
    assert sum(counts) >= 4 * 1500, proc.stdout
    assert re.search(r"\b0 crashes", proc.stdout), proc.stdout


def _mutants(data: bytes, n: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(0, len(b)))
            b[pos] = int(rng.integers(0, 256))
        if k % 2:  # re-seal the CRC so the mutation reaches the structural checks
            b[16:20] = (zlib.crc32(bytes(b[20:])) & 0xFFFFFFFF).to_bytes(4, "little")
        out.append(bytes(b))
    return out


def test_python_and_c_loaders_reject_mutants_cleanly() -> None:
    data = compile_model(mlperf_path("kws01/kws_ref_model.tflite")).data
    x = np.zeros(490, np.int8)
    accepted = 0
    for m in _mutants(data, 400, 3) + [data[:n] for n in range(0, len(data), 97)]:
        try:
            NativeModel(m).run([x])
            accepted += 1
        except LoadError:
            pass
        try:
            read_blob(m)
        except EdgeAIError:
            pass
    assert accepted < 400  # most mutants are refused; the ones accepted ran without harm


def test_loader_error_codes() -> None:
    data = bytearray(compile_model(mlperf_path("kws01/kws_ref_model.tflite")).data)
    with pytest.raises(LoadError, match="magic"):
        NativeModel(b"XXXX" + bytes(data[4:]))
    with pytest.raises(LoadError, match=r"(?i)truncat"):
        NativeModel(bytes(data[:100]))
    flipped = bytearray(data)
    flipped[-1] ^= 0x40
    with pytest.raises(LoadError, match=r"(?i)crc"):
        NativeModel(bytes(flipped))
