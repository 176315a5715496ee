"""edgeai's int8 quantization against onnxruntime's own static quantizer (QDQ, per channel),
on the same calibration samples: accuracy of the float model and of each int8 model, and how
faithfully each int8 model copies the float one (top-1 answers kept, SQNR of the logits).

Exit status 1 if edgeai's minmax quantization is worse than onnxruntime's: less faithful, or
right less often beyond chance (exact McNemar test). A single sample where the int8 model's
error happens to fix the float model's answer is chance, not a better quantizer.

Usage: python benchmarks/quant_peer.py [--model M.onnx --calib C.npy --eval X.npy --labels Y.npy]
(defaults: the project's digits example models in models/digits).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeai.compiler import compile_onnx
from edgeai.evaluate import dequantize, quantize_input
from edgeai.ref import Interpreter
from edgeai.samples import load_samples

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("minmax", "percentile", "mse")


@dataclass(frozen=True)
class Comparison:
    """One model: top-1 answers and logits of the float model, onnxruntime's int8 model and edgeai's, per method."""

    model: str
    labels: NDArray[np.int64]
    float_logits: NDArray[np.float32]
    peer_logits: NDArray[np.float32]
    ours_logits: dict[str, NDArray[np.float32]]

    def accuracy(self, logits: NDArray[np.float32]) -> float:
        return float((logits.argmax(1) == self.labels).mean())

    def agreement(self, logits: NDArray[np.float32]) -> float:
        """Share of samples whose top-1 answer is the float model's."""
        return float((logits.argmax(1) == self.float_logits.argmax(1)).mean())

    def sqnr_db(self, logits: NDArray[np.float32]) -> float:
        """Signal-to-quantization-noise ratio of the logits against the float model's, in dB."""
        noise = float(((logits - self.float_logits) ** 2).sum())
        return float("inf") if noise == 0 else 10 * math.log10(float((self.float_logits**2).sum()) / noise)

    def worse_than_peer_p(self, method: str = "minmax") -> float:
        """One-sided exact McNemar test: the probability of edgeai being wrong on at least this many of the samples
        where exactly one of the two int8 models is right, were both equally good. Small: edgeai is worse."""
        ours = self.ours_logits[method].argmax(1) == self.labels
        peer = self.peer_logits.argmax(1) == self.labels
        only_peer, n = int((peer & ~ours).sum()), int((peer != ours).sum())
        return sum(math.comb(n, k) for k in range(only_peer, n + 1)) / 2**n if n else 1.0

    def problems(self) -> list[str]:
        """Where edgeai's minmax quantization is worse than onnxruntime's minmax quantization: a less faithful copy of
        the float model (fewer top-1 answers kept, lower SQNR), or fewer right answers beyond chance (p < 0.05)."""
        ours, out = self.ours_logits["minmax"], []
        if self.agreement(ours) < self.agreement(self.peer_logits):
            out.append(f"{self.model}: edgeai keeps fewer of the float model's answers than onnxruntime")
        if self.sqnr_db(ours) < self.sqnr_db(self.peer_logits):
            out.append(f"{self.model}: edgeai's logits are further from the float model's than onnxruntime's")
        if self.worse_than_peer_p() < 0.05:
            out.append(f"{self.model}: edgeai is right less often than onnxruntime (McNemar p < 0.05)")
        return out


def ort_logits(model: Path, x: NDArray[np.float32]) -> NDArray[np.float32]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: xi[None]})[0].reshape(1, -1) for xi in x]).astype(np.float32)


def ort_quantized(model: Path, calib: NDArray[np.float32], out: Path) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.it = iter(calib)

        def get_next(self) -> dict[str, Any] | None:
            x = next(self.it, None)
            return None if x is None else {"input": x.reshape(1, *x.shape[-3:]).astype(np.float32)}

    quantize_static(
        str(model), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
    )  # fmt: skip
    return out


def edgeai_logits(model: Path, calib: Path, x_path: Path, method: str) -> NDArray[np.float32]:
    compiled, graph = compile_onnx(model, calib, method)
    blob = compiled.blob
    t_in, t_out = blob.tensors[blob.inputs[0]], blob.tensors[blob.outputs[0]]
    ref = Interpreter(blob)
    samples = load_samples(x_path, graph)
    rows = [dequantize(ref.run([quantize_input(xs, t_in)])[0], t_out).reshape(-1) for (xs,) in samples]
    return np.stack(rows).astype(np.float32)


def compare(model: Path, calib: Path, x_path: Path, labels: NDArray[np.int64]) -> Comparison:
    """edgeai's int8 model (each calibration method) and onnxruntime's (QDQ, per channel, minmax) on the same
    calibration samples, against the float model."""
    x = np.load(x_path)
    with tempfile.TemporaryDirectory() as tmp:
        peer = ort_logits(ort_quantized(model, np.load(calib), Path(tmp) / "q.onnx"), x)
    ours = {m: edgeai_logits(model, calib, x_path, m) for m in METHODS}
    return Comparison(model.name, labels, ort_logits(model, x), peer, ours)


def main() -> int:
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's quantizer advises pre-processing at WARNING
    d = ROOT / "models" / "digits"
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, action="append", help="float ONNX model (repeatable)")
    ap.add_argument("--calib", type=Path, default=d / "calib.npy")
    ap.add_argument("--eval", type=Path, default=d / "test_x.npy")
    ap.add_argument("--labels", type=Path, default=d / "test_y.npy")
    args = ap.parse_args()
    models = args.model or [d / "digits_small.onnx", d / "digits_large.onnx"]
    y = np.load(args.labels)
    print(f"calibration samples: {len(np.load(args.calib))}, evaluation samples: {len(y)}")
    print()
    print("accuracy")
    ours = " | ".join(f"edgeai {m}" for m in METHODS)
    print(f"| model | float | onnxruntime int8 (QDQ, per channel, minmax) | {ours} |")
    print("|---|---|---|" + "---|" * len(METHODS))
    results = [compare(m, args.calib, args.eval, y) for m in models]
    for c in results:
        cells = " | ".join(f"{100 * c.accuracy(c.ours_logits[m]):.2f} %" for m in METHODS)
        fl, peer = c.accuracy(c.float_logits), c.accuracy(c.peer_logits)
        print(f"| {c.model} | {100 * fl:.2f} % | {100 * peer:.2f} % | {cells} |")
    print()
    print("fidelity to the float model: top-1 answers kept, SQNR of the logits")
    print(f"| model | onnxruntime int8 | {ours} | McNemar p (edgeai minmax worse) |")
    print("|---|---|" + "---|" * len(METHODS) + "---|")
    for c in results:
        every = (c.peer_logits, *c.ours_logits.values())
        kept = [f"{100 * c.agreement(v):.2f} %, {c.sqnr_db(v):.1f} dB" for v in every]
        print(f"| {c.model} | " + " | ".join(kept) + f" | {c.worse_than_peer_p():.3f} |")
    problems = [p for c in results for p in c.problems()]
    for p in problems:
        print(f"worse than onnxruntime: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
