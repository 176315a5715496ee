"""The serial protocol on the simulated board: payload-to-wire byte ratio of a model upload
(goal >= 0.97) and round trips per second of a small inference.

Usage: python benchmarks/link.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from edgeai.compiler import compile_model, compile_onnx
from edgeai.device import Device

ROOT = Path(__file__).resolve().parent.parent
MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"


def main() -> None:
    models = {p.parent.name: p for p in sorted(MLPERF.glob("*/*.tflite"))}
    digits, _ = compile_onnx(ROOT / "models/digits/digits_small.onnx", ROOT / "models/digits/calib.npy")
    print("| upload | blob B | wire B (both ways) | payload/wire | frames | seconds | MB/s |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, Device.open(board="sim", flash=Path(tmp) / "flash.bin") as dev:
        for name, path in models.items():
            data = compile_model(path).data
            before = dev.link.stats.bytes_sent + dev.link.stats.bytes_received
            frames = dev.link.stats.requests
            t0 = time.perf_counter()
            dev.upload(data)
            dt = time.perf_counter() - t0
            wire = dev.link.stats.bytes_sent + dev.link.stats.bytes_received - before
            print(f"| {name} | {len(data):,} | {wire:,} | {len(data) / wire:.4f} | {dev.link.stats.requests - frames} "
                  f"| {dt:.3f} | {len(data) / dt / 1e6:.1f} |")  # fmt: skip
        dev.upload(digits.data)
        blob = digits.blob
        x = np.zeros(blob.tensors[blob.inputs[0]].shape, np.int8)
        n = 300
        t0 = time.perf_counter()
        for _ in range(n):
            dev.run(blob, [x])
        dt = time.perf_counter() - t0
        print()
        print(f"small inference (digits_small, 3 requests each: write input, invoke, read output): "
              f"{n / dt:.0f} inferences/s, {3 * n / dt:.0f} round trips/s")  # fmt: skip


if __name__ == "__main__":
    main()
