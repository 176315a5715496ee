"""How good is the int8 model? Per-layer signal-to-quantization-noise ratio against the float
model, top-1 agreement, and accuracy of both where labels are given."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .blob import BlobOp, BlobTensor
from .compiler import Compiled
from .errors import EdgeAIError
from .float_ref import FloatInterpreter
from .ir import QGraph, QOp
from .ref import Interpreter

F32 = npt.NDArray[np.float32]


@dataclass
class LayerError:
    index: int
    op: str
    name: str
    sqnr_db: float


@dataclass
class Evaluation:
    samples: int
    float_backend: str  # what computed the float outputs: "onnxruntime" or "edgeai.float_ref"
    top1_agreement: float
    sqnr_db: float  # of the model's first output, over all samples
    float_accuracy: float | None = None
    int8_accuracy: float | None = None
    layers: list[LayerError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "float_backend": self.float_backend,
            "top1_agreement": self.top1_agreement,
            "sqnr_db": self.sqnr_db,
            "float_accuracy": self.float_accuracy,
            "int8_accuracy": self.int8_accuracy,
            "layers": [vars(layer) for layer in self.layers],
        }


def sqnr_db(signal: float, noise: float) -> float:
    """10 log10(signal / noise); infinite when the int8 result is exact."""
    if noise <= 0.0:
        return float("inf")
    if signal <= 0.0:
        return float("-inf")
    return float(10.0 * np.log10(signal / noise))


def quantize_input(x: F32, t: BlobTensor) -> npt.NDArray[np.int8]:
    q = np.asarray(x, np.float32) / np.float32(t.scale)
    q = np.sign(q) * np.floor(np.abs(q) + 0.5) + t.zero_point  # TfLiteRound
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: npt.NDArray[np.int8], t: BlobTensor) -> F32:
    return ((q.astype(np.float32) - np.float32(t.zero_point)) * np.float32(t.scale)).astype(np.float32)


def load_labels(path: str | Path, n: int) -> npt.NDArray[np.int64]:
    """Integer class labels, one per evaluation sample: .npy, or text with one label a line."""
    p = Path(path)
    if not p.is_file():
        raise EdgeAIError(f"{p}: no such labels file")
    try:
        labels = np.load(p, allow_pickle=False) if p.suffix == ".npy" else np.loadtxt(p, dtype=np.int64, ndmin=1)
    except (ValueError, OSError) as e:
        raise EdgeAIError(f"{p}: not readable as integer labels ({e})") from None
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype.kind not in "iu":
        raise EdgeAIError(f"{p}: labels must be integers (class indices), not {labels.dtype}")
    if labels.size != n:
        raise EdgeAIError(f"{p}: {labels.size} labels for {n} evaluation samples")
    return labels.astype(np.int64)


def evaluate(
    compiled: Compiled,
    float_graph: QGraph,
    samples: Sequence[Sequence[F32]],
    labels: npt.NDArray[np.int64] | None = None,
    onnx_path: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Run ``samples`` (float, IR layout) through the float graph and the int8 blob."""
    if not samples:
        raise EdgeAIError("the evaluation set is empty")
    blob = compiled.blob
    if len(blob.ops) != len(float_graph.ops):
        raise EdgeAIError("the compiled model and the float model have different operators")
    t_in = [blob.tensors[i] for i in blob.inputs]
    t_out = blob.tensors[blob.outputs[0]]
    fi = FloatInterpreter(float_graph)
    ref = Interpreter(blob)
    session = None
    if onnx_path is not None:
        try:
            import onnxruntime as ort

            session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        except ImportError:
            session = None
    n_ops = len(blob.ops)
    sig = np.zeros(n_ops)
    noise = np.zeros(n_ops)
    out_sig = out_noise = 0.0
    agree = float_right = int8_right = 0
    float_layers: list[F32] = []
    int8_layers: list[npt.NDArray[np.int8]] = []

    def keep_float(_i: int, _op: QOp, out: F32) -> None:
        float_layers.append(out)

    def keep_int8(_i: int, _op: BlobOp, out: npt.NDArray[np.int8]) -> None:
        int8_layers.append(out)

    for k, sample in enumerate(samples):
        float_layers.clear()
        int8_layers.clear()
        (yf,) = fi.run(sample, on_op=keep_float)[:1]
        if session is not None:
            feeds = {}
            for inp, x, perm in zip(session.get_inputs(), sample, float_graph.input_perm, strict=True):
                feeds[inp.name] = x.transpose(np.argsort(perm)) if perm is not None else x
            yf_src = session.run(None, feeds)[0]
            perm0 = float_graph.output_perm[0] if float_graph.output_perm else None
            yf = (yf_src.transpose(perm0) if perm0 is not None else yf_src).astype(np.float32)
        q_in = [quantize_input(x, t) for x, t in zip(sample, t_in, strict=True)]
        (yq,) = ref.run(q_in, on_op=keep_int8)[:1]
        for i, op in enumerate(blob.ops):
            f = float_layers[i].astype(np.float64).reshape(-1)
            d = dequantize(int8_layers[i], blob.tensors[op.output]).astype(np.float64).reshape(-1)
            sig[i] += float(np.sum(f**2))
            noise[i] += float(np.sum((f - d) ** 2))
        yd = dequantize(yq, t_out).astype(np.float64).reshape(-1)
        yf64 = np.asarray(yf, np.float64).reshape(-1)
        out_sig += float(np.sum(yf64**2))
        out_noise += float(np.sum((yf64 - yd) ** 2))
        agree += int(np.argmax(yd) == np.argmax(yf64))
        if labels is not None:
            float_right += int(np.argmax(yf64) == labels[k])
            int8_right += int(np.argmax(yd) == labels[k])
        if progress is not None:
            progress(k + 1, len(samples))
    n = len(samples)
    layers = [
        LayerError(i, op.opname, blob.tensors[op.output].name, sqnr_db(sig[i], noise[i]))
        for i, op in enumerate(blob.ops)
    ]
    return Evaluation(
        samples=n,
        float_backend="onnxruntime" if session is not None else "edgeai.float_ref",
        top1_agreement=agree / n,
        sqnr_db=sqnr_db(out_sig, out_noise),
        float_accuracy=float_right / n if labels is not None else None,
        int8_accuracy=int8_right / n if labels is not None else None,
        layers=layers,
    )
