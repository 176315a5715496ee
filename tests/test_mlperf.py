"""The four MLPerf Tiny models: bit-exact across TFLite's reference kernels, edgeai.ref and the
C runtime, real samples giving the published answers, and arena and blob sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeai import oracle
from edgeai.compiler import compile_model
from edgeai.ref import Interpreter
from edgeai.verify import verify

from .conftest import MLPerfModel, mlperf_path


def _require_oracle() -> None:
    reason = oracle.available()
    if reason is not None:
        pytest.skip(reason)


def _ad01_windows(tmp_path: Path) -> Path:
    spec = np.fromfile(mlperf_path("samples/ad01_normal_id_01_00000000_hist_librosa.bin"), dtype="<f4")
    frames = spec.reshape(200, 128)
    windows = np.stack([frames[i : i + 5].reshape(640) for i in range(196)])
    out = tmp_path / "ad01_windows.npy"
    np.save(out, windows)
    return out


def _real_inputs(name: str, tmp_path: Path) -> list[Path]:
    if name == "kws01":
        return [mlperf_path("samples/kws01_sample0_mfcc_int8.bin")]
    if name == "ad01":
        return [_ad01_windows(tmp_path)]
    return []  # the upstream ic01/vww01 samples are empty or mismatched (see shared README)


def test_verify_three_backends_identical(mlperf_model: MLPerfModel, tmp_path: Path) -> None:
    _require_oracle()
    report = verify(mlperf_model.path, samples=50, input_files=_real_inputs(mlperf_model.name, tmp_path))
    assert report.backends == ["tflite", "ref", "c"]
    assert len(report.pairs) == 3
    for pair in report.pairs:
        assert pair.compared_elements > 0
        assert pair.mismatched_elements == 0, pair
    assert report.ok and report.max_abs_diff == 0


def test_kws01_sample_says_on() -> None:
    compiled = compile_model(mlperf_path("kws01/kws_ref_model.tflite"))
    x = np.fromfile(mlperf_path("samples/kws01_sample0_mfcc_int8.bin"), dtype=np.int8)
    (y,) = Interpreter(compiled.data).run([x])
    assert y.reshape(-1)[5] == 127
    assert np.all(np.delete(y.reshape(-1), 5) == -128)


def test_ad01_reconstruction_error(tmp_path: Path) -> None:
    from edgeai.native import NativeModel
    from edgeai.verify import load_samples

    compiled = compile_model(mlperf_path("ad01/ad01_int8.tflite"))
    blob = compiled.blob
    t_in, t_out = blob.tensors[blob.inputs[0]], blob.tensors[blob.outputs[0]]
    windows = np.load(_ad01_windows(tmp_path))
    native = NativeModel(compiled.data)
    errors = []
    for w, q in zip(windows, load_samples(_ad01_windows(tmp_path), t_in), strict=True):
        (y,) = native.run([q])
        recon = (y.reshape(-1).astype(np.float32) - t_out.zero_point) * np.float32(t_out.scale)
        errors.append(float(np.mean((recon - w) ** 2)))
    assert len(errors) == 196
    assert abs(np.mean(errors) - 10.26) < 0.05
    assert 8.2 < min(errors) and max(errors) < 12.5


def test_arena_and_blob_sizes(mlperf_model: MLPerfModel) -> None:
    c = compile_model(mlperf_model.path)
    assert c.arena_bytes <= 1.10 * c.arena_lower_bound_bytes
    assert c.arena_bytes >= c.arena_lower_bound_bytes
    assert c.blob_bytes <= mlperf_model.path.stat().st_size


def test_cli_verify_json(tmp_path: Path) -> None:
    _require_oracle()
    model = mlperf_path("kws01/kws_ref_model.tflite")
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeai",
            "verify",
            str(model),
            "--samples",
            "5",
            "--input",
            str(mlperf_path("samples/kws01_sample0_mfcc_int8.bin")),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["model"] == str(model)
    assert report["samples"] == 6
    assert report["mismatched_elements"] == 0 and report["max_abs_diff"] == 0
    assert report["compared_elements"] == 3 * 6 * 12


def test_every_layer_identical(mlperf_model: MLPerfModel) -> None:
    """Not just the final outputs (2 values for vww01): every operator's output tensor agrees
    across TFLite's reference kernels, edgeai.ref and the C runtime.

    TFLite runs ADD in place, over one of its inputs, even with all tensors preserved: those
    inputs are compared between edgeai.ref and the C runtime only (the ADD's output, which
    depends on them, is compared with TFLite)."""
    _require_oracle()
    from tflite_runtime.interpreter import Interpreter as TFLiteInterpreter
    from tflite_runtime.interpreter import OpResolverType

    from edgeai.compiler import compile_graph
    from edgeai.frontends.tflite import load_tflite
    from edgeai.native import NativeModel

    graph = load_tflite(mlperf_model.path)
    compiled = compile_graph(graph)
    blob = compiled.blob
    assert len(blob.ops) == len(graph.ops)
    tfl = TFLiteInterpreter(
        model_path=str(mlperf_model.path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    tfl.allocate_tensors()
    detail = tfl.get_input_details()[0]
    native = NativeModel(compiled.data)
    overwritten = {t for op in graph.ops if op.type == "ADD" for t in op.inputs}
    rng = np.random.default_rng(11)
    for _ in range(3):
        x = rng.integers(-128, 128, size=blob.tensors[blob.inputs[0]].shape, dtype=np.int8)
        ref_layers: list[np.ndarray] = []
        Interpreter(blob).run([x], on_op=lambda _i, _op, out, acc=ref_layers: acc.append(out))
        c_layers = native.run_layers([x], [op.output for op in blob.ops])
        tfl.set_tensor(detail["index"], x.reshape(detail["shape"]))
        tfl.invoke()
        for i, op in enumerate(graph.ops):
            assert np.array_equal(c_layers[i], ref_layers[i].reshape(c_layers[i].shape)), f"C differs at {op.where}"
            if op.outputs[0] not in overwritten:
                expected = tfl.get_tensor(op.outputs[0]).reshape(-1)
                assert np.array_equal(ref_layers[i].reshape(-1), expected), f"ref differs at {op.where}"


def test_verify_without_oracle_compares_what_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oracle, "available", lambda: "tflite-runtime is not installed (test)")
    report = verify(mlperf_path("kws01/kws_ref_model.tflite"), samples=3)
    assert report.backends == ["ref", "c"]
    assert report.skipped == ["tflite: tflite-runtime is not installed (test)"]
    assert report.ok and report.compared_elements == 3 * 12
