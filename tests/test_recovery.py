"""Recovering from a bad line, on the simulated board: a lost request is noticed within a round
trip (the board acknowledges long requests, ACCEPTED, before their work) while a long inference
keeps its time; and uploads adapt their chunk size to the line, so that one completes through a
separate relay that flips one byte in a thousand each way, and a failed one leaves the previous
model running."""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai import link as edgeai_link
from edgeai.blob import Blob
from edgeai.boards import load_board
from edgeai.compiler import compile_onnx
from edgeai.device import Device
from edgeai.link import (
    CMD_INVOKE,
    CMD_UPLOAD_CHUNK,
    RESPONSE_BIT,
    DeviceTimeout,
    Frame,
    FrameReader,
    Link,
    LinkError,
    decode_frame,
    encode_frame,
)
from edgeai.noisyline import NoisyRelay
from edgeai.ref import Interpreter
from edgeai.transport import Simulator, open_port

from .test_faults import tiny_model
from .test_onnx_frontend import Net

ROOT = Path(__file__).resolve().parent.parent
BOARD = load_board("sim")


class Lossy:
    """A transport between the link and the port that loses chosen frames whole: the next
    ``requests`` writes that hold a request of kind ``kind``, and the next ``accepted`` ACCEPTED
    frames from the board."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.kind = 0
        self.requests = 0
        self.accepted = 0
        self.lost = 0
        self.raw = b""
        self.pending = b""

    def write(self, data: bytes) -> int:
        if self.requests and any(f.kind == self.kind for f in FrameReader().feed(data)):
            self.requests -= 1
            self.lost += 1
            return len(data)
        return int(self.port.write(data) or 0)

    def read(self, size: int = 1) -> bytes:
        if not self.pending:
            self.raw += bytes(self.port.read(max(size, self.port.in_waiting or 1)))
            end = self.raw.rfind(b"\0") + 1
            whole, self.raw = self.raw[:end], self.raw[end:]
            for piece in whole.split(b"\0")[:-1]:
                f = decode_frame(piece)
                if self.accepted and f is not None and f.kind == edgeai_link.KIND_ACCEPTED:
                    self.accepted -= 1
                    self.lost += 1
                    continue
                self.pending += piece + b"\0"
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    @property
    def in_waiting(self) -> int:
        return len(self.pending)


def _sim(tmp_path: Path) -> tuple[Simulator, str]:
    sim = Simulator(BOARD, tmp_path / "flash.bin")
    return sim, sim.start()


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Blob]:
    """24 3x3 convolutions of 64 channels on 44 x 44: 1.7 G multiply-accumulates, most of a
    second on the simulated board."""
    tmp = tmp_path_factory.mktemp("slow")
    net = Net([1, 64, 44, 44])
    x = "input"
    for _ in range(24):
        x = net.node("Relu", [net.node("Conv", [x, net.w(64, 64, 3, 3, scale=0.05), net.w(64)], pads=[1, 1, 1, 1])])
    path = net.save(tmp / "slow.onnx", x)
    np.save(tmp / "calib.npy", np.random.default_rng(0).standard_normal((2, 1, 64, 44, 44)).astype(np.float32))
    compiled, _ = compile_onnx(path, tmp / "calib.npy")
    return compiled.data, compiled.blob


@pytest.fixture(scope="module")
def digits() -> tuple[bytes, Blob]:
    compiled, _ = compile_onnx(ROOT / "models/digits/digits_small.onnx", ROOT / "models/digits/calib.npy")
    return compiled.data, compiled.blob


def _input(blob: Blob, seed: int) -> np.ndarray:
    n = blob.tensors[blob.inputs[0]].elements
    return np.random.default_rng(seed).integers(-128, 128, n).astype(np.int8)


# -- part 4: a lost request costs a round trip, not the work allowance --------------------------------
def test_a_lost_invoke_is_retried_within_a_round_trip(tmp_path: Path) -> None:
    """One INVOKE request lost on the way: the board never acknowledges it, so the host sends it
    again after the round-trip wait (0.5 s), not after the 30 s an inference is allowed; the run
    gives the right answer."""
    data, blob = tiny_model(tmp_path)
    sim, port_name = _sim(tmp_path)
    port = open_port(port_name, BOARD.baud)
    wire = Lossy(port)
    try:
        dev = Device(Link(wire, baud=BOARD.baud), board=BOARD)
        dev.upload(data)
        x = _input(blob, 1)
        (want,) = Interpreter(blob).run([x])
        clean = max(_timed(lambda: dev.run(blob, [x]))[1] for _ in range(3))
        retries = dev.link.stats.retries
        wire.kind, wire.requests = CMD_INVOKE, 1
        ((got,), _), elapsed = _timed(lambda: dev.run(blob, [x]))
        extra = elapsed - clean
        print(f"a lost INVOKE request cost {extra:.3f} s (a clean run {clean * 1e3:.1f} ms)")
        assert wire.lost == 1 and np.array_equal(got, want)
        assert extra < 1.0
        assert dev.link.stats.retries == retries + 1 and dev.link.stats.unaccepted == 1
    finally:
        port.close()
        sim.stop()


def test_a_long_inference_keeps_its_time(tmp_path: Path, slow_model: tuple[bytes, Blob]) -> None:
    """An inference that lasts several times the host's wait for an acknowledgement (a base
    timeout of 0.1 s here): acknowledged, it is not retried. A lost INVOKE is retried after the
    short wait and then has its time too; a lost ACCEPTED makes the host retry, but its last try
    waits the whole allowance, so the run still completes."""
    data, blob = slow_model
    sim, port_name = _sim(tmp_path)
    port = open_port(port_name, BOARD.baud)
    wire = Lossy(port)
    try:
        dev = Device(Link(wire, baud=BOARD.baud, base_timeout=0.1), board=BOARD)
        dev.upload(data)
        x = _input(blob, 2)
        (want,) = Interpreter(blob).run([x])
        accepted = dev.link.stats.accepted
        ((got,), cycles), clean = _timed(lambda: dev.run(blob, [x]))
        quick = dev.link.timeout_for(64)
        print(f"inference {cycles / 1e9:.3f} s; the host waits {quick:.3f} s for ACCEPTED")
        assert cycles / 1e9 > 3 * quick  # the board works several times longer than the short wait
        assert np.array_equal(got, want)
        assert dev.link.stats.retries == 0 and dev.link.stats.accepted == accepted + 1

        overhead = clean - cycles / 1e9  # the host's part of a run: writing the input, reading the output
        wire.kind, wire.requests = CMD_INVOKE, 1
        ((got,), cycles), elapsed = _timed(lambda: dev.run(blob, [x]))
        assert wire.lost == 1 and np.array_equal(got, want)
        assert elapsed - cycles / 1e9 < overhead + 1.0 and dev.link.stats.retries == 1

        wire.accepted = 1
        ((got,), cycles), elapsed = _timed(lambda: dev.run(blob, [x]))
        assert wire.lost == 2 and np.array_equal(got, want)
        assert dev.link.stats.unaccepted >= 2 and elapsed - cycles / 1e9 < overhead + 1.0
    finally:
        port.close()
        sim.stop()


# -- part 5: uploads adapt their chunk to the line -------------------------------------------------------
def test_upload_through_a_noisy_line(tmp_path: Path, digits: tuple[bytes, Blob]) -> None:
    """A relay thread between pyserial and the simulator's pseudo-terminal flips one byte in a
    thousand each way (seeded): 4 KiB chunks would almost never arrive whole (1.6 % of tries), so
    the chunks shrink; the upload completes, and the model then runs bit-exact through the same
    line."""
    data, blob = digits
    sim, port_name = _sim(tmp_path)
    relay = NoisyRelay(port_name, 1e-3, seed=1)
    port = open_port(relay.start(), BOARD.baud)
    try:
        dev = Device(Link(port, baud=BOARD.baud), board=BOARD)
        largest = dev.upload_chunk_bytes()
        shown: list[tuple[int, int]] = []
        _, seconds = _timed(lambda: dev.upload(data, progress=lambda done, total: shown.append((done, total))))
        s = dev.link.stats
        print(f"upload of {len(data):,} bytes at a byte error rate of 1e-3: {seconds:.2f} s, "
              f"{len(data) / seconds / 1e3:.1f} kB/s; flips {relay.flips}; {s.retries} retries, "
              f"{s.chunks_resent} chunks sent again smaller; chunks from {largest} bytes down to {s.chunk_min}, "
              f"{s.chunk_bytes} at the end")  # fmt: skip
        assert dev.has_model(data)
        done = [d for d, _ in shown]  # the progress bar moves forward chunk by chunk, to the end
        assert done == sorted(set(done)) and done[-1] == len(data) and {t for _, t in shown} == {len(data)}
        assert sum(relay.flips) > 10 and s.chunk_shrinks > 0 and s.chunk_min < largest
        ref = Interpreter(blob)
        for k in range(10):
            x = _input(blob, k)
            (got,), _ = dev.run(blob, [x])
            assert np.array_equal(got, ref.run([x])[0])
    finally:
        port.close()
        relay.stop()
        sim.stop()


def test_a_failed_upload_keeps_the_old_model(tmp_path: Path, digits: tuple[bytes, Blob]) -> None:
    """The line dies half way through an upload: the chunks shrink to the smallest, which then
    fails all its tries; the upload fails, and the board still runs its previous model."""
    old, old_blob = tiny_model(tmp_path)
    new, _ = digits
    sim, port_name = _sim(tmp_path)
    try:
        port = open_port(port_name, BOARD.baud)
        with Device(Link(port, baud=BOARD.baud), lambda: port.close(), board=BOARD) as dev:
            dev.upload(old)
        with NoisyRelay(port_name, 1e-3, seed=2, cut_after=len(new) // 2) as relay:
            port = open_port(relay.port, BOARD.baud)
            with Device(Link(port, baud=BOARD.baud, base_timeout=0.1), lambda: port.close(), board=BOARD) as dev:
                with pytest.raises(LinkError):
                    dev.upload(new)
                assert relay.dead and dev.link.stats.chunk_min <= 64
        port = open_port(port_name, BOARD.baud)
        with Device(Link(port, baud=BOARD.baud), lambda: port.close(), board=BOARD) as dev:
            assert dev.has_model(old) and not dev.has_model(new)
            x = _input(old_blob, 3)
            (got,), _ = dev.run(old_blob, [x])
            assert np.array_equal(got, Interpreter(old_blob).run([x])[0])
    finally:
        sim.stop()


class ChunkBoard:
    """A transport that plays a board taking UPLOAD_CHUNKs: it keeps those whose frame is at
    most ``limit`` bytes on the wire (writing their data into ``image``) and answers them at once;
    bigger ones are lost."""

    def __init__(self, limit: int, size: int) -> None:
        self.limit = limit
        self.image = bytearray(size)
        self.sizes: list[int] = []  # data bytes of each request written
        self.reader = FrameReader()
        self.out = b""

    def write(self, data: bytes) -> int:
        for f in self.reader.feed(data):
            assert f.kind == CMD_UPLOAD_CHUNK
            (off,) = struct.unpack_from("<I", f.payload)
            self.sizes.append(len(f.payload) - 4)
            if len(data.lstrip(b"\0")) <= self.limit:
                self.image[off : off + len(f.payload) - 4] = f.payload[4:]
                self.out += encode_frame(Frame(f.kind | RESPONSE_BIT, 0, f.seq, b""))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        if not self.out:
            time.sleep(0.001)
        out, self.out = self.out, b""
        return out


def test_chunks_shrink_on_loss_and_grow_back() -> None:
    """A line that loses every frame longer than 1,100 bytes: the first chunk (4,092 bytes) fails
    its two tries (two timeouts: a quarter) and is sent again as 1,023; after GROW_AFTER clean
    chunks the chunk doubles, is lost, and shrinks again. Every byte arrives, at its offset; a
    clean line keeps full chunks."""
    data = bytes(np.random.default_rng(0).integers(0, 256, 40_000, dtype=np.uint8))
    board = ChunkBoard(1100, len(data))
    link = Link(board, baud=921600, base_timeout=0.01)
    link.send_chunks(CMD_UPLOAD_CHUNK, data, lambda off: struct.pack("<I", off), 4092)
    assert board.image == data
    grow = edgeai_link.GROW_AFTER
    assert board.sizes[: 3 + grow] == [4092, 4092] + [1023] * grow + [2046]
    assert max(board.sizes[2:]) == 2046
    s = link.stats
    assert s.chunk_grows >= 1 and s.chunks_resent >= 2 and s.chunk_shrinks == s.chunks_resent
    assert s.retries == s.chunks_resent and s.chunk_min < 1023
    clean = ChunkBoard(10_000, len(data))
    link = Link(clean, baud=921600, base_timeout=0.01)
    link.send_chunks(CMD_UPLOAD_CHUNK, data, lambda off: struct.pack("<I", off), 4092)
    assert clean.image == data and set(clean.sizes[:-1]) == {4092} and link.stats.retries == 0
    assert link.stats.chunk_bytes == 4092 and link.stats.chunk_shrinks == 0


def test_a_dead_line_fails_after_the_smallest_chunk() -> None:
    """Nothing arrives: 4,092 bytes twice, a quarter twice, and so on down to 64 bytes, which
    gets all five tries; then DeviceTimeout."""
    board = ChunkBoard(0, 10_000)
    link = Link(board, baud=921600, base_timeout=0.01)
    with pytest.raises(DeviceTimeout):
        link.send_chunks(CMD_UPLOAD_CHUNK, bytes(10_000), lambda off: struct.pack("<I", off), 4092)
    assert board.sizes == [4092] * 2 + [1023] * 2 + [255] * 2 + [64] * 5
