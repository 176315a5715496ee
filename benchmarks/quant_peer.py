"""edgeai's int8 quantization against onnxruntime's own static quantizer (QDQ, per channel),
on the same calibration samples: accuracy of the float model and of each int8 model.

Usage: python benchmarks/quant_peer.py [--model M.onnx --calib C.npy --eval X.npy --labels Y.npy]
(defaults: the project's digits example models in models/digits).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeai.compiler import compile_onnx
from edgeai.evaluate import dequantize, quantize_input
from edgeai.ref import Interpreter
from edgeai.samples import load_samples

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("minmax", "percentile", "mse")


def ort_accuracy(model: Path, x: np.ndarray, y: np.ndarray) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    right = sum(int(np.argmax(sess.run(None, {name: xi[None]})[0]) == yi) for xi, yi in zip(x, y, strict=True))
    return right / len(y)


def ort_quantized(model: Path, calib: np.ndarray, out: Path) -> Path:
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


def edgeai_accuracy(model: Path, calib: Path, x_path: Path, y: np.ndarray, method: str) -> float:
    compiled, graph = compile_onnx(model, calib, method)
    blob = compiled.blob
    t_in, t_out = blob.tensors[blob.inputs[0]], blob.tensors[blob.outputs[0]]
    ref = Interpreter(blob)
    right = 0
    for (xs,), yi in zip(load_samples(x_path, graph), y, strict=True):
        (q,) = ref.run([quantize_input(xs, t_in)])
        right += int(np.argmax(dequantize(q, t_out)) == yi)
    return right / len(y)


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
    x, y = np.load(args.eval), np.load(args.labels)
    calib = np.load(args.calib)
    print(f"calibration samples: {len(calib)}, evaluation samples: {len(y)}")
    print(
        "| model | float | onnxruntime int8 (QDQ, per channel, minmax) | "
        + " | ".join(f"edgeai {m}" for m in METHODS)
        + " |"
    )
    print("|---|---|---|" + "---|" * len(METHODS))
    worse = False
    for model in models:
        with tempfile.TemporaryDirectory() as tmp:
            peer = ort_accuracy(ort_quantized(model, calib, Path(tmp) / "q.onnx"), x, y)
        ours = [edgeai_accuracy(model, args.calib, args.eval, y, m) for m in METHODS]
        worse |= ours[0] < peer
        cells = " | ".join(f"{100 * a:.2f} %" for a in ours)
        print(f"| {model.name} | {100 * ort_accuracy(model, x, y):.2f} % | {100 * peer:.2f} % | {cells} |")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
