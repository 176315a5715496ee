"""The serial protocol on the simulated board: payload-to-wire byte ratio of a model upload
(goal >= 0.97), round trips per second of a small inference, what one lost INVOKE request
costs, and uploads through a line that flips bytes (edgeai.noisyline.NoisyRelay, a relay
thread between pyserial and the simulator's pseudo-terminal) at byte error rates 0 to 1e-3.

Usage: python benchmarks/link.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeai.boards import load_board
from edgeai.compiler import compile_model, compile_onnx
from edgeai.device import Device
from edgeai.link import CMD_INVOKE, FrameReader, Link, LinkError
from edgeai.noisyline import NoisyRelay
from edgeai.transport import Simulator, open_port

ROOT = Path(__file__).resolve().parent.parent
MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"
ERROR_RATES = (0.0, 1e-4, 3e-4, 1e-3)  # each byte, each way, flipped with this probability
SEEDS = (1, 2, 3)  # one upload per seed of the line's RNG; the table gives the median


class LoseOne:
    """A transport that loses the next write holding a request of kind ``kind``."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.kind = 0

    def write(self, data: bytes) -> int:
        if self.kind and any(f.kind == self.kind for f in FrameReader().feed(data)):
            self.kind = 0
            return len(data)
        return int(self.port.write(data) or 0)

    def read(self, size: int = 1) -> bytes:
        return bytes(self.port.read(size))

    @property
    def in_waiting(self) -> int:
        return int(self.port.in_waiting)


def lost_request(data: bytes, blob: Any) -> None:
    """One dev.run whose INVOKE request is lost, against clean ones."""
    board = load_board("sim")
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulator(board, Path(tmp) / "flash.bin")
        port = open_port(sim.start(), board.baud)
        wire = LoseOne(port)
        try:
            dev = Device(Link(wire, baud=board.baud), board=board)
            dev.upload(data)
            x = np.zeros(blob.tensors[blob.inputs[0]].shape, np.int8)
            clean = []
            for _ in range(20):
                t0 = time.perf_counter()
                dev.run(blob, [x])
                clean.append(time.perf_counter() - t0)
            wire.kind = CMD_INVOKE
            t0 = time.perf_counter()
            dev.run(blob, [x])
            lost = time.perf_counter() - t0
        finally:
            port.close()
            sim.stop()
    median = statistics.median(clean) * 1e3
    print(f"one lost INVOKE request: dev.run took {lost:.3f} s (clean: median {median:.1f} ms); "
          f"retries {dev.link.stats.retries}, unaccepted waits {dev.link.stats.unaccepted}")  # fmt: skip


def noisy_upload(data: bytes, rate: float, seed: int) -> tuple[bool, float, Any, tuple[int, int], int]:
    """Upload ``data`` through a relay flipping bytes at ``rate``: (ok, seconds, link stats,
    flips each way, largest chunk)."""
    board = load_board("sim")
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulator(board, Path(tmp) / "flash.bin")
        relay = NoisyRelay(sim.start(), rate, seed)
        port = open_port(relay.start(), board.baud)
        try:
            dev = Device(Link(port, baud=board.baud), board=board)
            largest = dev.upload_chunk_bytes()
            t0 = time.perf_counter()
            try:
                dev.upload(data)
                ok = dev.has_model(data)
            except LinkError:
                ok = False
            return ok, time.perf_counter() - t0, dev.link.stats, relay.flips, largest
        finally:
            port.close()
            relay.stop()
            sim.stop()


def noisy_uploads(name: str, data: bytes) -> None:
    print(f"| byte error rate | {name} upload ({len(data):,} B) | seconds (median of {len(SEEDS)}) | kB/s "
          "| flips host>board/board>host | retries | chunks sent again | chunk bytes: least used, at the end |")
    print("|---|---|---|---|---|---|---|---|")
    for rate in ERROR_RATES:
        runs = sorted((noisy_upload(data, rate, seed) for seed in SEEDS), key=lambda r: r[1])
        ok, dt, stats, flips, largest = runs[len(runs) // 2]
        done = sum(r[0] for r in runs)
        rate_text = f"{len(data) / dt / 1e3:.1f}" if ok else "-"
        chunks = f"{stats.chunk_min or largest:,}, {stats.chunk_bytes or largest:,} (of {largest:,})"
        print(f"| {rate:g} | {done}/{len(runs)} completed | {dt:.2f} | {rate_text} | {flips[0]}/{flips[1]} "
              f"| {stats.retries} | {stats.chunks_resent} | {chunks} |")  # fmt: skip


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
    print()
    lost_request(digits.data, digits.blob)
    print()
    noisy_uploads("kws01", compile_model(models["kws01"]).data)


if __name__ == "__main__":
    main()
