"""``edgeai compile``: a model file in, an ``.eai`` blob out, with the facts about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .blob import KIND_ARENA, Blob, write_blob
from .errors import EdgeAIError
from .frontends.tflite import load_tflite
from .ir import QGraph
from .lower import lower
from .planner import plan_arena


@dataclass
class Compiled:
    """A compiled model: the blob bytes and the numbers a user asks about."""

    name: str
    blob: Blob
    data: bytes
    arena_lower_bound_bytes: int

    @property
    def arena_bytes(self) -> int:
        return self.blob.arena_bytes

    @property
    def weights_bytes(self) -> int:
        return self.blob.weights_bytes

    @property
    def blob_bytes(self) -> int:
        return len(self.data)


def load_graph(path: str | Path) -> QGraph:
    """Read an already-quantized model file (int8 TFLite) into the IR."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".tflite":
        return load_tflite(p)
    if not p.exists():
        raise EdgeAIError(f"{p}: no such file")
    raise EdgeAIError(f"{p}: unknown model type {suffix or '(no suffix)'!r}; edgeai compiles .tflite and .onnx models")


def compile_graph(graph: QGraph) -> Compiled:
    """Lower, plan and serialize a quantized graph."""
    blob = lower(graph)
    plan = plan_arena(blob)
    for i, t in enumerate(blob.tensors):
        if t.kind == KIND_ARENA:
            t.offset = plan.offsets[i]
    blob.arena_bytes = plan.arena_bytes
    return Compiled(graph.name, blob, write_blob(blob), plan.lower_bound_bytes)


def compile_onnx(
    path: str | Path,
    calib: str | Path,
    method: str = "minmax",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Compiled, QGraph]:
    """Compile a float ONNX model; returns the blob and the float graph it was quantized from."""
    from .frontends.onnx import load_onnx
    from .quantize import calibrate, quantize_graph
    from .samples import load_samples

    graph = load_onnx(path)
    params = calibrate(graph, load_samples(calib, graph), method, progress)
    return compile_graph(quantize_graph(graph, params)), graph


def compile_model(
    path: str | Path,
    calib: str | Path | None = None,
    method: str = "minmax",
    progress: Callable[[int, int], None] | None = None,
) -> Compiled:
    """Compile a model file to an ``.eai`` blob (in memory): an int8 TFLite model as it is, a
    float ONNX model calibrated on the samples ``calib``."""
    p = Path(path)
    if p.suffix.lower() == ".onnx":
        if calib is None:
            from .frontends.onnx import load_onnx

            load_onnx(p)  # a model that cannot be read says so first
            raise EdgeAIError(f"{p}: a float ONNX model needs calibration samples to become int8: give --calib SAMPLES")
        return compile_onnx(p, calib, method, progress)[0]
    return compile_graph(load_graph(p))
