"""Flow control and flash timing, for real: the simulated board started with a small receive
buffer that drops what overflows it (as an ESP32's UART ring does) and flash as slow as a chip's,
driven through real pyserial on its pseudo-terminal. Also the link's window rules on a scripted
board, and the upload timeouts a board file's datasheet figures give."""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai.boards import FlashTiming, load_board
from edgeai.compiler import compile_model
from edgeai.device import Device, DeviceInfo
from edgeai.errors import EdgeAIError
from edgeai.link import (
    CMD_HELLO,
    CMD_UPLOAD_BEGIN,
    CMD_UPLOAD_CHUNK,
    KIND_LOG,
    PROTOCOL_VERSION,
    RESPONSE_BIT,
    DeviceTimeout,
    Frame,
    FrameReader,
    Link,
    WindowError,
    encode_frame,
)
from edgeai.ref import Interpreter
from edgeai.transport import SimOptions, Simulator, open_port

from .conftest import mlperf_path

RX_BYTES = 1024  # the simulated board's receive buffer: a quarter of one full frame


@pytest.fixture(scope="module")
def ad01() -> bytes:
    return compile_model(mlperf_path("ad01/ad01_int8.tflite")).data


@pytest.fixture(scope="module")
def kws() -> bytes:
    return compile_model(mlperf_path("kws01/kws_ref_model.tflite")).data


class InFlight:
    """A transport between the link and the port that measures, independently of the link, the
    bytes of requests in flight: written since the last response frame arrived."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.reader = FrameReader()
        self.in_flight = 0
        self.max_in_flight = 0
        self.written = 0

    def write(self, data: bytes) -> int | None:
        self.in_flight += len(data)
        self.written += len(data)
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return self.port.write(data)  # type: ignore[no-any-return]

    def read(self, size: int = 1) -> bytes:
        data = bytes(self.port.read(size))
        for frame in self.reader.feed(data):
            if frame.kind & RESPONSE_BIT and frame.kind != KIND_LOG:
                self.in_flight = 0
        return data

    @property
    def in_waiting(self) -> int:
        return int(self.port.in_waiting)


def _sim(tmp_path: Path, options: SimOptions) -> tuple[Simulator, Any]:
    board = load_board("sim")
    sim = Simulator(board, tmp_path / "flash.bin", options)
    return sim, open_port(sim.start(), board.baud)


def test_upload_within_the_window_on_a_slow_lossy_board(tmp_path: Path, ad01: bytes) -> None:
    """ad01 (276,224 bytes) to a board that keeps 1,024 bytes and erases at 40 ms per sector:
    68 sectors, 2.7 s, longer than the old fixed allowance of 0.5 + 2.0 s, and no retry is
    needed because the wait follows the board file's datasheet figure (400 ms per sector). The
    link never has more than 1,024 bytes in flight, the board drops nothing, and the model runs
    bit-exact."""
    sim, port = _sim(tmp_path, SimOptions(rx_bytes=RX_BYTES, erase_ms_per_sector=40, write_ms_per_page=0.2))
    wire = InFlight(port)
    try:
        dev = Device(Link(wire, baud=921600), board=load_board("sim"))
        assert dev.info.rx_buffer_bytes == RX_BYTES and dev.link.window == RX_BYTES
        chunk = dev.link.payload_for(4, dev.info.max_payload)
        assert chunk == 187  # 5 copies (the first write and 4 retries) of 203 wire bytes and a 0 fit 1,024
        t0 = time.monotonic()
        dev.upload(ad01)
        assert time.monotonic() - t0 > 68 * 0.040
        assert dev.has_model(ad01)
        assert dev.link.stats.retries == 0 and dev.link.stats.held == 0
        assert 0 < wire.max_in_flight <= RX_BYTES
        assert dev.link.stats.max_in_flight <= RX_BYTES
        blob = Interpreter(ad01).blob
        x = np.random.default_rng(0).integers(-128, 128, blob.tensors[blob.inputs[0]].elements).astype(np.int8)
        (want,) = Interpreter(blob).run([x])
        (got,), _ = dev.run(blob, [x])
        assert np.array_equal(got, want)
    finally:
        port.close()
        sim.stop()
    stats = sim.rx_stats()
    assert stats is not None and stats.rx_bytes == RX_BYTES
    assert stats.dropped == 0 and stats.received == wire.written


def test_retries_during_a_long_erase_stay_within_the_window(tmp_path: Path, kws: bytes) -> None:
    """A host that expects instant flash (timing 0) retries UPLOAD_BEGIN every 0.15 s during a
    0.44 s erase (11 sectors at 40 ms): the retries pile up in the board's buffer, counted in
    flight; the board answers the first by work and the rest from memory, drops nothing, and
    the upload succeeds."""
    sim, port = _sim(tmp_path, SimOptions(rx_bytes=RX_BYTES, erase_ms_per_sector=40))
    wire = InFlight(port)
    try:
        dev = Device(Link(wire, baud=921600, base_timeout=0.15), board=load_board("sim"), timing=FlashTiming(0, 0))
        dev.upload(kws)
        assert dev.has_model(kws)
        assert dev.link.stats.retries >= 2
        assert wire.max_in_flight <= RX_BYTES and dev.link.stats.max_in_flight <= RX_BYTES
    finally:
        port.close()
        sim.stop()
    stats = sim.rx_stats()
    assert stats is not None and stats.dropped == 0


def test_a_host_ignoring_the_window_loses_data(tmp_path: Path, kws: bytes) -> None:
    """The negative control: on the same board, full 4 KiB chunks (a host that ignores HELLO's
    receive buffer, and keeps its chunk size) are lost whole, and the upload fails; the board
    reports the drops."""
    sim, port = _sim(tmp_path, SimOptions(rx_bytes=RX_BYTES, erase_ms_per_sector=40))
    try:
        dev = Device(Link(port, baud=921600, retries=1, base_timeout=0.3), board=load_board("sim"))
        dev.link.window = None  # ignore it
        assert dev.link.payload_for(4, dev.info.max_payload) == 4092
        dev.link.request(CMD_UPLOAD_BEGIN, struct.pack("<II", len(kws), zlib.crc32(kws)), work=1.0)
        with pytest.raises(DeviceTimeout):
            for off in range(0, len(kws), 4092):
                dev.link.request(CMD_UPLOAD_CHUNK, struct.pack("<I", off) + kws[off : off + 4092])
    finally:
        port.close()
        sim.stop()
    stats = sim.rx_stats()
    assert stats is not None and stats.dropped >= 2 * RX_BYTES  # of each 4,107-byte copy, thousands lost


def test_a_burst_during_the_erase_keeps_only_the_buffer(tmp_path: Path, kws: bytes) -> None:
    """Frame by frame: UPLOAD_BEGIN (erasing 11 sectors at 40 ms), then at once 12 chunks of 200
    bytes (2,612 bytes on the wire). The board answers the BEGIN and only the chunks its 1,024
    bytes (and the app's 512-byte read) kept; 4 chunks (with the BEGIN, 884 bytes: within the buffer) sent the
    same way are all answered."""

    def burst(n_chunks: int, where: Path) -> tuple[set[int], int, int]:
        sim, port = _sim(where, SimOptions(rx_bytes=RX_BYTES, erase_ms_per_sector=40))
        answered: set[int] = set()
        try:
            begin = encode_frame(Frame(CMD_UPLOAD_BEGIN, 0, 1, struct.pack("<II", len(kws), zlib.crc32(kws))))
            chunks = [
                encode_frame(Frame(CMD_UPLOAD_CHUNK, 0, 2 + k, struct.pack("<I", off) + kws[off : off + 200]))
                for k, off in enumerate(range(0, 200 * n_chunks, 200))
            ]
            port.write(begin + b"".join(chunks))
            reader = FrameReader()
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                for f in reader.feed(port.read(4096)):
                    if f.kind & RESPONSE_BIT and f.kind != KIND_LOG and f.status == 0:
                        answered.add(f.seq)
        finally:
            port.close()
            sim.stop()
        stats = sim.rx_stats()
        assert stats is not None
        return answered, len(begin) + sum(map(len, chunks)), stats.dropped

    (tmp_path / "a").mkdir()
    answered, sent, dropped = burst(12, tmp_path / "a")
    assert sent > RX_BYTES + 512  # more than the buffer and the app's one read together
    assert 1 in answered and 2 <= len(answered) - 1 < 12 and dropped > 0
    (tmp_path / "b").mkdir()
    answered, sent, dropped = burst(4, tmp_path / "b")
    assert sent <= RX_BYTES and answered == {1, 2, 3, 4, 5} and dropped == 0


# -- the window rules, on a scripted board ------------------------------------------------------------
class ScriptedBoard:
    """A transport that plays a board: it answers each request copy it is given after ``delay``
    seconds (``delay(seq, copy)``; None: never), as a board with infinite buffer would, and
    records every write."""

    def __init__(self, delay: Callable[[int, int], float | None], hello: DeviceInfo | None = None) -> None:
        self.delay = delay
        self.hello = hello
        self.reader = FrameReader()
        self.writes: list[bytes] = []
        self.copies: dict[int, int] = {}
        self.due: list[tuple[float, bytes]] = []

    def write(self, data: bytes) -> int:
        self.writes.append(data)
        for f in self.reader.feed(data):
            n = self.copies.get(f.seq, 0)
            self.copies[f.seq] = n + 1
            d = self.delay(f.seq, n)
            if d is not None:
                answer = encode_frame(Frame(f.kind | RESPONSE_BIT, 0, f.seq, self._answer(f)))
                self.due.append((time.monotonic() + d, answer))
        return len(data)

    def _answer(self, f: Frame) -> bytes:
        if f.kind != CMD_HELLO or self.hello is None:
            return b""
        i = self.hello
        strings = b"".join(struct.pack("<H", len(s)) + s.encode() for s in (i.firmware, i.board))
        return struct.pack("<HHIIBIIIII", PROTOCOL_VERSION, i.max_payload, i.slot_bytes, i.arena_bytes, 0xFF,
                           0, 0, 0, i.rx_buffer_bytes or 0xFFFFFFFF, i.map_bytes or 0xFFFFFFFF) + strings  # fmt: skip

    def read(self, size: int = 1) -> bytes:
        end = time.monotonic() + 0.005
        while True:
            now = time.monotonic()
            ready = [d for d in self.due if d[0] <= now]
            if ready or now >= end:
                break
            time.sleep(0.001)
        self.due = [d for d in self.due if d not in ready]
        return b"".join(w for _, w in ready)


def _wire(payload: bytes) -> int:
    return len(encode_frame(Frame(CMD_UPLOAD_CHUNK, 0, 1, payload)))


def test_a_retry_that_does_not_fit_waits() -> None:
    """A window of one and a half requests: the retry (the request again, after a 0) would not
    fit beside the first copy, so it is not written; the host waits another timeout, and the
    answer that comes in it is taken."""
    payload = bytes(range(1, 48))
    wire = _wire(payload)
    board = ScriptedBoard(lambda seq, copy: 0.15)
    link = Link(board, baud=921600, base_timeout=0.1, window=wire + wire // 2)
    frame = link.request(CMD_UPLOAD_CHUNK, payload)
    assert frame.seq == 1 and [len(w) for w in board.writes] == [wire]
    assert link.stats.held == 1 and link.stats.retries == 0 and link.in_flight == 0


def test_leftover_copies_hold_the_next_request() -> None:
    """A request retried once; the board answers the retry at once and the first copy (late)
    at 0.3 s. The unanswered copy stays in flight, so the next request, which would not fit
    beside it, is written only once the late answer has retired it."""
    small, big = bytes(range(1, 21)), bytes(range(1, 41))
    window = 2 * _wire(small) + 1 + 5
    assert _wire(small) + 1 + _wire(big) > window
    board = ScriptedBoard(lambda seq, copy: {(1, 0): 0.3, (1, 1): 0.01}.get((seq, copy), 0.0))
    link = Link(board, baud=921600, base_timeout=0.1, window=window)
    link.request(CMD_UPLOAD_CHUNK, small)
    assert link.stats.retries == 1 and link.in_flight in (_wire(small), _wire(small) + 1)
    t0 = time.monotonic()
    link.request(CMD_UPLOAD_CHUNK, big)
    assert link.stats.waits == 1 and time.monotonic() - t0 >= 0.15  # held until the late answer at 0.3 s
    assert link.stats.max_in_flight <= window and link.in_flight == 0


def test_a_request_larger_than_the_window_is_refused() -> None:
    link = Link(ScriptedBoard(lambda s, c: 0.0), window=64)
    with pytest.raises(
        WindowError, match=r"UPLOAD_CHUNK request takes 11\d bytes on the wire; the board keeps only 64 "
    ):
        link.request(CMD_UPLOAD_CHUNK, bytes(100))  # 100 zeros: COBS adds a byte per zero run
    with pytest.raises(WindowError, match="too few for a request and 4 retries"):
        Link(ScriptedBoard(lambda s, c: 0.0), window=64).payload_for(4)


# -- timeouts from the datasheet ----------------------------------------------------------------------
def _device(board_name: str, rx: int | None = 8192) -> Device:
    info = DeviceInfo(PROTOCOL_VERSION, 4096, 1245184, 196608, None, 0, 0, 0, "0.1.0", board_name, rx, None)
    return Device(Link(ScriptedBoard(lambda s, c: 0.0, info), baud=921600))


def test_upload_timeouts_follow_the_datasheet() -> None:
    """esp32c3, found from HELLO's board name, a 1.2 MB (1,200,000-byte) upload: UPLOAD_BEGIN
    erases 293 sectors at the W25Q32JV's 400 ms, 117.2 s of work; a full chunk of 1,615 bytes
    (the 8,192-byte buffer holds 5 copies) programs 7 pages, plus one, at 3 ms; the commit reads
    back 1.2 MB and may erase a table sector."""
    dev = _device("esp32c3")
    assert dev.board is not None and dev.board.name == "esp32c3"
    assert dev.link.payload_for(4, 4096) == 1615
    begin, chunk, commit = dev.upload_timeouts(1_200_000)
    assert begin == pytest.approx(0.5 + 293 * 0.4, abs=0.01)
    assert chunk == pytest.approx(0.5 + 8 * 0.003 + 2 * (1637 + 32) * 10 / 921600, abs=0.001)
    assert commit == pytest.approx(0.5 + 2.0 + 1.2 + 0.4 + 2 * 0.003, abs=0.01)


def test_unknown_boards_plan_conservatively() -> None:
    dev = _device("my-own-board")
    assert dev.board is None and dev.timing == FlashTiming()
    begin, _, _ = dev.upload_timeouts(1_200_000)
    assert begin == pytest.approx(0.5 + 293 * 0.6, abs=0.01)  # ESP-IDF's 600 ms sector-erase timeout


def test_text_larger_than_the_window() -> None:
    dev = _device("esp32c3", rx=256)
    with pytest.raises(EdgeAIError, match=r"the text is 300 bytes; this board keeps only 256 bytes .* at most 241"):
        dev.write_text(0, "x" * 300)
