"""``edgeai verify``: the same inputs through TFLite's reference kernels, ``edgeai.ref`` and the
C runtime, compared element by element."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import oracle
from .blob import Blob, BlobTensor
from .compiler import Compiled, compile_model
from .device import Device
from .errors import EdgeAIError
from .native import NativeModel
from .ref import Interpreter

I8 = npt.NDArray[np.int8]
Runner = Callable[[Sequence[I8]], list[I8]]


@dataclass
class PairResult:
    a: str
    b: str
    compared_elements: int = 0
    mismatched_elements: int = 0
    max_abs_diff: int = 0
    mismatched_samples: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pair": f"{self.a} vs {self.b}",
            "compared_elements": self.compared_elements,
            "mismatched_elements": self.mismatched_elements,
            "max_abs_diff": self.max_abs_diff,
            "mismatched_samples": self.mismatched_samples[:20],
        }


@dataclass
class VerifyReport:
    model: str
    samples: int
    backends: list[str]
    pairs: list[PairResult]
    skipped: list[str]
    compiled: Compiled
    top1_agreement: float | None = None  # int8 against float, for float (ONNX) models
    sqnr_db: float | None = None

    @property
    def compared_elements(self) -> int:
        return sum(p.compared_elements for p in self.pairs)

    @property
    def mismatched_elements(self) -> int:
        return sum(p.mismatched_elements for p in self.pairs)

    @property
    def max_abs_diff(self) -> int:
        return max((p.max_abs_diff for p in self.pairs), default=0)

    @property
    def ok(self) -> bool:
        return self.mismatched_elements == 0 and len(self.pairs) > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "samples": self.samples,
            "backends": self.backends,
            "compared_elements": self.compared_elements,
            "mismatched_elements": self.mismatched_elements,
            "max_abs_diff": self.max_abs_diff,
            "pairs": [p.to_dict() for p in self.pairs],
            "skipped": self.skipped,
            "arena_bytes": self.compiled.arena_bytes,
            "arena_lower_bound_bytes": self.compiled.arena_lower_bound_bytes,
            "blob_bytes": self.compiled.blob_bytes,
            "ok": self.ok,
            **(
                {"top1_agreement": self.top1_agreement, "sqnr_db": self.sqnr_db}
                if self.top1_agreement is not None
                else {}
            ),
        }


def _quantize(x: npt.NDArray[np.floating[Any]], t: BlobTensor) -> I8:
    q = np.asarray(x, dtype=np.float32) / np.float32(t.scale)
    q = np.sign(q) * np.floor(np.abs(q) + 0.5) + t.zero_point  # TfLiteRound: half away from zero
    return np.clip(q, -128, 127).astype(np.int8)


def load_samples(path: str | Path, t: BlobTensor) -> list[I8]:
    """Samples for an input tensor from a file: raw int8 ``.bin`` (one or more samples back to
    back), or ``.npy`` of int8 (used as is) or float (quantized with the input's scale and zero
    point), holding one sample or a stack of them."""
    p = Path(path)
    if not p.is_file():
        raise EdgeAIError(f"{p}: no such input file")
    n = t.elements
    if p.suffix == ".npy":
        try:
            a = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise EdgeAIError(f"{p}: not a readable .npy file ({e})") from None
        if a.dtype.kind == "f":
            a = _quantize(a, t)
        elif a.dtype != np.int8:
            if a.dtype.kind not in "iu" or a.min(initial=0) < -128 or a.max(initial=0) > 127:
                raise EdgeAIError(f"{p}: holds {a.dtype} values; give int8 values or floats to quantize")
            a = a.astype(np.int8)
        flat = a.reshape(-1)
    else:
        flat = np.fromfile(p, dtype=np.int8)
    if flat.size == 0 or flat.size % n:
        raise EdgeAIError(
            f"{p}: holds {flat.size} values, not a whole number of samples of {n} for input {t.name!r} {t.shape}"
        )
    return [s.reshape(t.shape) for s in flat.reshape(-1, n)]


def verify(
    model: str | Path,
    samples: int = 50,
    input_files: Sequence[str | Path] = (),
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    calib: str | Path | None = None,
    method: str = "minmax",
    device: Device | None = None,
    upload_progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Compile ``model`` and compare every backend available on the same inputs.

    With ``device``, the model also runs on that board (uploaded first if the board holds
    another), as one more backend. A float ONNX model is first calibrated on ``calib``; the C
    runtime and ``edgeai.ref`` are compared on random inputs and the calibration samples, and
    the int8 model is measured against the float one (top-1 agreement, SQNR) on those samples
    (or on ``input_files``)."""
    is_onnx = Path(model).suffix.lower() == ".onnx"
    float_graph = None
    float_samples: list[list[npt.NDArray[np.float32]]] = []
    if is_onnx:
        if calib is None:
            raise EdgeAIError(f"{model}: verifying a float ONNX model needs --calib SAMPLES to quantize it")
        from .compiler import compile_onnx
        from .samples import load_samples as load_float_samples

        compiled, float_graph = compile_onnx(model, calib, method)
        float_samples = [s for f in input_files for s in load_float_samples(f, float_graph)]
        float_samples = float_samples or load_float_samples(calib, float_graph)
    else:
        compiled = compile_model(model)
    blob: Blob = compiled.blob
    in_tensors = [blob.tensors[i] for i in blob.inputs]
    rng = np.random.default_rng(seed)
    cases: list[list[I8]] = [
        [rng.integers(-128, 128, size=t.shape, dtype=np.int8) for t in in_tensors] for _ in range(samples)
    ]
    if float_graph is not None:
        cases.extend([_quantize(x, t) for x, t in zip(s, in_tensors, strict=True)] for s in float_samples)
    elif input_files:
        if len(in_tensors) != 1:
            raise EdgeAIError(f"--input works for single-input models; {Path(model).name} has {len(in_tensors)} inputs")
        for f in input_files:
            cases.extend([s] for s in load_samples(f, in_tensors[0]))
    if not cases:
        raise EdgeAIError("nothing to verify: give --samples N > 0 or --input FILE")

    runners: dict[str, Runner] = {}
    skipped: list[str] = []
    reason = oracle.available() if not is_onnx else "the model is ONNX (the TFLite oracle checks .tflite models)"
    if reason is None:
        runners["tflite"] = oracle.TFLiteReference(model).run
    else:
        skipped.append(f"tflite: {reason}")
    runners["ref"] = Interpreter(blob).run
    runners["c"] = NativeModel(compiled.data).run
    if device is not None:
        if not device.has_model(compiled.data):
            device.upload(compiled.data, progress=upload_progress)

        def on_board(case: Sequence[I8], dev: Device = device) -> list[I8]:
            return dev.run(blob, case)[0]

        runners[f"board:{device.info.board}"] = on_board

    names = list(runners)
    pairs = [PairResult(a, b) for a, b in itertools.combinations(names, 2)]
    for k, case in enumerate(cases):
        outs = {name: run(case) for name, run in runners.items()}
        for pr in pairs:
            for x, y in zip(outs[pr.a], outs[pr.b], strict=True):
                d = np.abs(x.astype(np.int32).reshape(-1) - y.astype(np.int32).reshape(-1))
                pr.compared_elements += d.size
                bad = int(np.count_nonzero(d))
                if bad:
                    pr.mismatched_elements += bad
                    pr.max_abs_diff = max(pr.max_abs_diff, int(d.max()))
                    if k not in pr.mismatched_samples:
                        pr.mismatched_samples.append(k)
        if progress is not None:
            progress(k + 1, len(cases))
    report = VerifyReport(str(model), len(cases), names, pairs, skipped, compiled)
    if float_graph is not None:
        from .evaluate import evaluate

        ev = evaluate(compiled, float_graph, float_samples, onnx_path=model)
        report.top1_agreement, report.sqnr_db = ev.top1_agreement, ev.sqnr_db
    return report
