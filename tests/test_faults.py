"""Fault injection: a proxy between the host and the simulated board corrupts, drops and
duplicates bytes at a 1 % rate each way. Every answer the host accepts is right, and no call
takes longer than its timeouts allow."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeai.boards import load_board
from edgeai.compiler import compile_onnx
from edgeai.device import Device
from edgeai.link import Link, LinkError
from edgeai.noisyline import ByteNoise
from edgeai.ref import Interpreter
from edgeai.transport import Simulator, open_port

from .test_onnx_frontend import Net

RATE = 0.01
FRAMES = 10_000


class FaultyLine:
    """Wraps a port: each byte, either way, is dropped, doubled or flipped with RATE/3 each
    (edgeai.noisyline.ByteNoise; its NoisyRelay is the same noise as a line of its own)."""

    def __init__(self, port: Any, rng: random.Random) -> None:
        self.port = port
        self._mangle = ByteNoise(rng, flip=RATE / 3, drop=RATE / 3, double=RATE / 3)
        self.pending = b""

    @property
    def faults(self) -> int:
        return self._mangle.faults

    def write(self, data: bytes) -> int:
        return int(self.port.write(self._mangle(data)) or 0)

    def read(self, size: int = 1) -> bytes:
        if not self.pending:
            self.pending = self._mangle(self.port.read(max(size, self.port.in_waiting or 1)))
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    @property
    def in_waiting(self) -> int:
        return len(self.pending)


def tiny_model(tmp_path: Path) -> tuple[bytes, Any]:
    net = Net([1, 8])
    x = net.node("Relu", [net.node("Gemm", ["input", net.w(8, 6), net.w(6)])])
    x = net.node("Gemm", [x, net.w(6, 4)])
    path = net.save(tmp_path / "tiny.onnx", x)
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).standard_normal((16, 1, 8)).astype(np.float32))
    compiled, _ = compile_onnx(path, calib)
    return compiled.data, compiled.blob


def test_faulty_line(tmp_path: Path) -> None:
    data, blob = tiny_model(tmp_path)
    board = load_board("sim")
    flash = tmp_path / "flash.bin"
    with Device.open(board="sim", flash=flash) as dev:
        dev.upload(data)
    sim = Simulator(board, flash)
    port = open_port(sim.start(), board.baud)
    rng = random.Random(7)
    line = FaultyLine(port, rng)
    link = Link(line, baud=board.baud, base_timeout=0.02)
    ref = Interpreter(blob)
    nprng = np.random.default_rng(7)
    accepted = failed = 0
    worst = 0.0
    try:
        dev = Device(link)
        while link.stats.requests + link.valid_frames < FRAMES:
            x = nprng.integers(-128, 128, size=8, dtype=np.int8)
            limit = 3 * (link.retries + 1) * link.timeout_for(64) + 0.1  # three requests per run
            t0 = time.monotonic()
            try:
                (y,), _ = dev.run(blob, [x], work=0.0)
            except LinkError:
                failed += 1
            else:
                accepted += 1
                assert np.array_equal(y, ref.run([x])[0])
            elapsed = time.monotonic() - t0
            worst = max(worst, elapsed / limit)
            assert elapsed <= limit
    finally:
        port.close()
        sim.stop()
    assert line.faults > 500
    assert accepted > 0.9 * (accepted + failed)
    print(f"frames {link.stats.requests + link.valid_frames}, faults {line.faults}, runs ok {accepted}, "
          f"runs failed cleanly {failed}, retries {link.stats.retries}, worst call {worst:.0%} of its limit")
