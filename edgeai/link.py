"""The host side of the serial protocol (docs/protocol.md): COBS framing, CRC, sequence
numbers, timeouts that scale with the transfer, and retries.

The link reads and writes through a ``Transport``: anything with ``write(bytes)`` and
``read(n) -> bytes`` that returns what is available within a short timeout (a pyserial port
is one). It tells "no answer" (``DeviceTimeout``) from "not an edgeai board"
(``NotEdgeAIError``) from "the board said no" (``DeviceError``).
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .errors import EdgeAIError

PROTOCOL_VERSION = 4
MAX_PAYLOAD = 4096
HEADER_BYTES = 6
CRC_BYTES = 4
MAX_FRAME = HEADER_BYTES + MAX_PAYLOAD + CRC_BYTES
MAX_WIRE = 4200
KIND_ACCEPTED = 0x7E  # board to host: the request's work has begun (payload: u8 the request's kind)
KIND_LOG = 0x7F
RESPONSE_BIT = 0x80

# Timeouts and retries (seconds unless named otherwise). A request waits
# BASE_TIMEOUT + wire bytes / (baud / 10) * SLACK + the command's own work allowance; one the
# board acknowledges (ACCEPTED) waits that long only once acknowledged, and before that only the
# round trip (the same without the work), so a lost request is retried within a round trip.
BASE_TIMEOUT = 0.5
SLACK = 2.0
RETRIES = 4
READ_POLL = 0.02  # how long one transport read may block
RETRY_PREFIX = b"\0"  # written before a retry: ends whatever partial frame the board holds

# Chunked transfers (uploads) adapt the data bytes per request to the line, as TCP's window or
# XMODEM-1K's block does: each timeout halves the chunk, GROW_AFTER chunks in a row answered
# without one double it; between MIN_CHUNK and the most a frame and the board's receive buffer
# allow (Link.payload_for). A chunk above MIN_CHUNK gets CHUNK_RETRIES retries and is then sent
# again, smaller; one of MIN_CHUNK bytes or less gets all of the link's.
MIN_CHUNK = 64
CHUNK_RETRIES = 1
GROW_AFTER = 8

CMD_HELLO = 0x01
CMD_UPLOAD_BEGIN = 0x02
CMD_UPLOAD_CHUNK = 0x03
CMD_UPLOAD_COMMIT = 0x04
CMD_WRITE_TENSOR = 0x05
CMD_READ_TENSOR = 0x06
CMD_INVOKE = 0x07
CMD_TIME_LAYERS = 0x08
CMD_RESET = 0x09
CMD_WRITE_TEXT = 0x0A
# The commands whose work may take long: the board sends ACCEPTED once it has checked one, before
# the work (an erase, a read-back, an inference). Every other command is answered at once.
ACKED_COMMANDS = frozenset({CMD_UPLOAD_BEGIN, CMD_UPLOAD_COMMIT, CMD_INVOKE, CMD_TIME_LAYERS})

STATUS_NAMES = {
    0: "OK",
    1: "BAD_FRAME",
    2: "BAD_VERSION",
    3: "NO_MODEL",
    4: "TOO_BIG",
    5: "BAD_STATE",
    6: "BAD_RANGE",
    7: "BAD_CRC",
    8: "LOAD_FAILED",
    9: "ARENA",
    10: "FLASH",
    11: "RUN_FAILED",
}


COMMAND_NAMES = {
    CMD_HELLO: "HELLO",
    CMD_UPLOAD_BEGIN: "UPLOAD_BEGIN",
    CMD_UPLOAD_CHUNK: "UPLOAD_CHUNK",
    CMD_UPLOAD_COMMIT: "UPLOAD_COMMIT",
    CMD_WRITE_TENSOR: "WRITE_TENSOR",
    CMD_READ_TENSOR: "READ_TENSOR",
    CMD_INVOKE: "INVOKE",
    CMD_TIME_LAYERS: "TIME_LAYERS",
    CMD_RESET: "RESET",
    CMD_WRITE_TEXT: "WRITE_TEXT",
}
STATUS_HINTS = {
    3: "; the board holds no model: upload one (edgeai upload MODEL.eai)",
    4: "; the model does not fit a slot of this board",
    7: "; the upload was damaged on the way: run it again",
    8: "; the board's loader refused the blob: recompile it with this edgeai",
    9: "; the model's arena does not fit the board's RAM",
    10: "; the board's flash failed",
}


class LinkError(EdgeAIError):
    """A failure of the link itself."""


class DeviceTimeout(LinkError):
    """The board did not answer within the timeout, after every retry."""


class NotEdgeAIError(LinkError):
    """Bytes arrive, but not edgeai frames: something else is on the port."""


class PortGone(LinkError):
    """The port itself failed: unplugged, closed, or the simulator died."""


class WindowError(LinkError):
    """A request that cannot be sent within the board's receive buffer, even alone."""


class DeviceError(EdgeAIError):
    """The board answered with an error status."""

    def __init__(self, command: int, status: int, payload: bytes) -> None:
        self.command = command
        self.status = status
        self.payload = payload
        name = STATUS_NAMES.get(status, f"status {status}")
        hint = STATUS_HINTS.get(status, "")
        detail = ""
        if status in (8, 11) and len(payload) >= 4:
            detail = f" (runtime status {int.from_bytes(payload[:4], 'little', signed=True)}"
            if len(payload) >= 8:
                detail += f", record {int.from_bytes(payload[4:8], 'little', signed=True)}"
            detail += ")"
        super().__init__(f"the board refused {COMMAND_NAMES.get(command, hex(command))}: {name}{detail}{hint}")


class Transport(Protocol):
    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...


# ---- COBS ------------------------------------------------------------------------------------


def cobs_encode(data: bytes) -> bytes:
    """Consistent overhead byte stuffing: the result holds no 0x00."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes | None:
    """Inverse of cobs_encode; None for input that is not valid COBS."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0 or i + code > n:
            return None
        block = data[i + 1 : i + code]
        if 0 in block:
            return None
        out += block
        i += code
        if code < 255 and i < n:
            out.append(0)
    return bytes(out)


# ---- frames ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    kind: int
    status: int
    seq: int
    payload: bytes


def encode_frame(frame: Frame) -> bytes:
    if len(frame.payload) > MAX_PAYLOAD:
        raise LinkError(f"payload of {len(frame.payload)} bytes exceeds the frame limit of {MAX_PAYLOAD}")
    body = struct.pack("<BBHH", frame.kind, frame.status, frame.seq, len(frame.payload)) + frame.payload
    body += struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)
    return cobs_encode(body) + b"\0"


def wire_bytes(payload_bytes: int) -> int:
    """The most bytes a frame with a payload of ``payload_bytes`` takes on the wire: COBS adds
    one byte per 254 and one more, then the 0x00 delimiter."""
    n = HEADER_BYTES + payload_bytes + CRC_BYTES
    return n + n // 254 + 2


def decode_frame(wire: bytes) -> Frame | None:
    """A frame from its COBS bytes (without the delimiter); None if it is not a valid frame."""
    body = cobs_decode(wire)
    if body is None or not HEADER_BYTES + CRC_BYTES <= len(body) <= MAX_FRAME:
        return None
    kind, status, seq, length = struct.unpack_from("<BBHH", body)
    if length != len(body) - HEADER_BYTES - CRC_BYTES:
        return None
    (crc,) = struct.unpack_from("<I", body, len(body) - CRC_BYTES)
    if zlib.crc32(body[:-CRC_BYTES]) & 0xFFFFFFFF != crc:
        return None
    return Frame(kind, status, seq, body[HEADER_BYTES:-CRC_BYTES])


@dataclass
class FrameReader:
    """Splits a byte stream at 0x00 and keeps the valid frames; counts what it drops."""

    buffer: bytearray = field(default_factory=bytearray)
    overflow: bool = False
    dropped: int = 0
    garbage_bytes: int = 0

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        start = 0
        while True:
            end = data.find(b"\0", start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self.overflow:
                self.buffer += piece
                if len(self.buffer) > MAX_WIRE:
                    self.overflow = True
                    self.garbage_bytes += len(self.buffer)
                    self.buffer.clear()
            if end < 0:
                return frames
            if self.overflow:
                self.overflow = False
                self.dropped += 1
            elif self.buffer:
                frame = decode_frame(bytes(self.buffer))
                if frame is None:
                    self.dropped += 1
                    self.garbage_bytes += len(self.buffer)
                else:
                    frames.append(frame)
                self.buffer.clear()
            start = end + 1


# ---- the link ----------------------------------------------------------------------------------


@dataclass
class LinkStats:
    requests: int = 0
    retries: int = 0  # retries written
    held: int = 0  # retries not written because the board's receive buffer had no room: waited instead
    waits: int = 0  # requests that waited for earlier copies to drain before their first write
    bytes_sent: int = 0
    bytes_received: int = 0
    max_in_flight: int = 0  # the most bytes of requests ever counted in flight
    accepted: int = 0  # requests the board acknowledged (ACCEPTED) before their work
    unaccepted: int = 0  # short waits that ended with neither ACCEPTED nor an answer: retried early
    chunk_shrinks: int = 0  # chunked transfers: times timeouts shrank the chunk (each one halves it)
    chunk_grows: int = 0  # ... times GROW_AFTER clean chunks doubled it
    chunks_resent: int = 0  # ... chunks given up after their tries and sent again, smaller
    chunk_bytes: int = 0  # ... the chunk size in use at the end of the last transfer
    chunk_min: int = 0  # ... the smallest chunk size any transfer used (0: none yet)


@dataclass
class _Copy:
    """One written copy of a request, still counted in flight: until an answer to its seq
    retires it, or, once its request has been answered (the board repeats the answer from
    memory, without work), until ``expires``."""

    seq: int
    nbytes: int
    expires: float = float("inf")


class Link:
    """Request/response over a transport, with retries on the same sequence number.

    Flow control (docs/protocol.md): with a ``window`` (the receive buffer HELLO announces) the
    link never has more bytes of requests in flight than the window. A copy of a request (the
    first write or a retry) is in flight from its write until an answer with its seq arrives
    (each answer retires one copy: the board answers every copy it receives whole). Copies of
    an answered request that were never answered (a retry that crossed the answer, or a copy
    lost on the way) stay counted until the board, which answers repeats from memory, would
    have answered them too. A write that would exceed the window waits: the first write of a
    request until earlier copies drain; a retry until the next timeout, when it tries again."""

    def __init__(self, transport: Transport, baud: int = 115200, retries: int = RETRIES,
                 on_log: Callable[[str], None] | None = None, base_timeout: float = BASE_TIMEOUT,
                 window: int | None = None) -> None:  # fmt: skip
        self.transport = transport
        self.baud = baud
        self.retries = retries
        self.base_timeout = base_timeout
        self.on_log = on_log
        self.window = window  # bytes the board keeps while busy; None: the link never drops
        self.logs: list[str] = []
        self.reader = FrameReader()
        self.stats = LinkStats()
        self.valid_frames = 0  # any valid frame ever received: the other side speaks edgeai
        self._seq = 0
        self._copies: list[_Copy] = []
        self._received = 0
        self.last_timeouts = 0  # the timeouts the last request met (each one a retry, or its end)

    def _next_seq(self) -> int:
        self._seq = self._seq % 0xFFFF + 1
        return self._seq

    def _write(self, data: bytes) -> None:
        try:
            self.transport.write(data)
        except OSError as e:  # pyserial's SerialException is an OSError
            raise PortGone(f"the port failed while writing ({e}); was the board unplugged or reset?") from None

    def _read(self) -> bytes:
        """What has arrived: blocks (up to the transport's timeout) for the first byte only."""
        try:
            data = bytes(self.transport.read(1))
            waiting = int(getattr(self.transport, "in_waiting", 0) or 0) if data else 0
            return data + bytes(self.transport.read(waiting)) if waiting else data
        except OSError as e:
            raise PortGone(f"the port failed while reading ({e}); was the board unplugged or reset?") from None

    def timeout_for(self, wire_bytes: int, work: float = 0.0) -> float:
        """Seconds to wait for an answer to a request of ``wire_bytes`` (both directions)."""
        return self.base_timeout + SLACK * wire_bytes * 10.0 / self.baud + work

    # -- flow control ---------------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        """Bytes of requests written and not yet answered (or drained), retries included."""
        return sum(c.nbytes for c in self._copies)

    def _fits(self, nbytes: int) -> bool:
        return self.window is None or self.in_flight + nbytes <= self.window

    def _expire(self) -> None:
        now = time.monotonic()
        self._copies = [c for c in self._copies if c.expires > now]

    def payload_for(self, header_bytes: int, max_payload: int = MAX_PAYLOAD) -> int:
        """The most data bytes one request of a chunked transfer (after ``header_bytes`` of its
        own fields) may carry: within ``max_payload``, and small enough that the first write and
        every retry fit the window together, so a retry never waits for room."""
        cap = min(max_payload, MAX_PAYLOAD) - header_bytes
        if self.window is None:
            return cap
        per_copy = self.window // (self.retries + 1) - len(RETRY_PREFIX)
        n = min(cap, per_copy - (HEADER_BYTES + header_bytes + CRC_BYTES) - 2)
        while n > 0 and wire_bytes(header_bytes + n) > per_copy:
            n -= 1
        if n < 1:
            raise WindowError(
                f"the board keeps only {self.window} bytes while busy, too few for a request and "
                f"{self.retries} retries: use fewer retries, or a firmware with a bigger receive buffer"
            )
        return n

    def _pump(self) -> list[Frame]:
        """Read what has arrived: keep the logs, retire one copy per answer; return the answers."""
        data = self._read()
        if not data:
            return []
        self.stats.bytes_received += len(data)
        self._received += len(data)
        answers = []
        for frame in self.reader.feed(data):
            self.valid_frames += 1
            if frame.kind == KIND_LOG:
                text = frame.payload.decode("utf-8", "replace")
                self.logs.append(text)
                if self.on_log is not None:
                    self.on_log(text)
                continue
            if frame.kind & RESPONSE_BIT:
                for k, c in enumerate(self._copies):
                    if c.seq == frame.seq:
                        del self._copies[k]
                        break
            answers.append(frame)
        return answers

    def _send(self, data: bytes, seq: int) -> None:
        self._write(data)
        self._copies.append(_Copy(seq, len(data)))
        self.stats.bytes_sent += len(data)
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.in_flight)

    def _make_room(self, nbytes: int) -> None:
        """Wait until ``nbytes`` more fit the window: earlier copies are answered or drained."""
        if self._fits(nbytes):
            return
        self.stats.waits += 1
        while True:
            self._expire()
            if self._fits(nbytes):
                return
            if not self._copies or all(c.expires == float("inf") for c in self._copies):
                self._copies.clear()  # nothing left that could drain: an earlier request failed
                return
            self._pump()

    def request(self, command: int, payload: bytes = b"", *, work: float = 0.0, expect_bytes: int = 0,
                check: bool = True, retries: int | None = None) -> Frame:  # fmt: skip
        """Send a request and return its response frame. ``work`` adds seconds the board needs
        to act; ``expect_bytes`` is the size of the answer's payload, for the timeout;
        ``retries`` overrides the link's count for this request.

        A command in ACKED_COMMANDS is acknowledged (ACCEPTED) by the board before its work:
        until then the host waits only the round trip, and retries when it passes, so a lost
        request costs a round trip, not the work allowance. Once acknowledged, the request has
        its whole allowance. As an ACCEPTED can be lost too while the board works, the last try
        waits until the whole allowance has passed since the first write."""
        seq = self._next_seq()
        wire = encode_frame(Frame(command, 0, seq, payload))
        name = COMMAND_NAMES.get(command, hex(command))
        if self.window is not None and len(wire) > self.window:
            raise WindowError(
                f"a {name} request takes {len(wire):,} bytes on the wire; the board keeps only "
                f"{self.window:,} while busy: send less per request"
            )
        tries = (self.retries if retries is None else retries) + 1
        timeout = self.timeout_for(len(wire) + expect_bytes + 32, work)
        acked = command in ACKED_COMMANDS
        quick = self.timeout_for(len(wire) + wire_bytes(1) + 32) if acked else timeout
        accepted = False
        first_write = 0.0
        self._received = 0
        self.last_timeouts = 0
        for attempt in range(tries):
            if attempt == 0:
                self._make_room(len(wire))
                self._send(wire, seq)
                self.stats.requests += 1
                first_write = time.monotonic()
            elif self._fits(len(RETRY_PREFIX) + len(wire)):
                self.stats.retries += 1
                self.stats.requests += 1
                self._send(RETRY_PREFIX + wire, seq)
            else:
                self.stats.held += 1  # the board may still hold every earlier copy: wait instead
            now = time.monotonic()
            if accepted or not acked:
                deadline = now + timeout
            elif attempt == tries - 1:
                deadline = max(now + quick, first_write + timeout)
            else:
                deadline = now + quick
            while time.monotonic() < deadline:
                for frame in self._pump():
                    if frame.seq != seq:
                        continue
                    if frame.kind == KIND_ACCEPTED:
                        if not accepted:
                            self.stats.accepted += 1
                            accepted = True
                        deadline = max(deadline, time.monotonic() + timeout)
                    elif frame.kind == command | RESPONSE_BIT:
                        self._answered(seq, len(wire))
                        if check and frame.status != 0:
                            raise DeviceError(command, frame.status, frame.payload)
                        return frame
            self.last_timeouts += 1
            if acked and not accepted:
                self.stats.unaccepted += 1
        self._copies.clear()  # every copy has had the whole allowance, several times: gone
        if self._received and not self.valid_frames:
            raise NotEdgeAIError(
                "the device answers, but not with edgeai frames: is the edgeai firmware running on it?"
            )
        raise DeviceTimeout(
            f"no answer from the board to {name} after {tries} tries in "
            f"{time.monotonic() - first_write:.1f} s: check the port and that the board runs edgeai firmware"
        )

    def send_chunks(self, command: int, data: bytes, header: Callable[[int], bytes], largest: int, *,
                    work: Callable[[int], float] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> None:  # fmt: skip
        """Send ``data`` as requests of ``command``, each ``header(offset)`` and then the chunk
        at that offset (the command must be idempotent: a chunk may arrive more than once).
        The chunk adapts to the line (MIN_CHUNK, CHUNK_RETRIES, GROW_AFTER), from ``largest``
        data bytes down; ``work(n)`` is the board's allowance for a chunk of ``n`` bytes; the
        stats show the adaptation. Raises DeviceTimeout once a chunk of the smallest size has
        failed all of the link's tries."""
        smallest = max(1, min(MIN_CHUNK, largest))
        size = largest
        clean = 0
        self.stats.chunk_min = min(self.stats.chunk_min or size, size)
        off = 0
        while off < len(data):
            chunk = data[off : off + size]
            last = len(chunk) <= smallest
            try:
                self.request(command, header(off) + chunk, work=work(len(chunk)) if work else 0.0,
                             retries=None if last else min(CHUNK_RETRIES, self.retries))  # fmt: skip
            except DeviceTimeout:
                if last:
                    raise
                self.stats.chunks_resent += 1
            else:
                off += len(chunk)
                if progress is not None:
                    progress(off, len(data))
            if self.last_timeouts:
                clean = 0
                new = max(smallest, size >> self.last_timeouts)
                if new < size:
                    self.stats.chunk_shrinks += 1
                    size = new
            else:
                clean += 1
                if clean >= GROW_AFTER and size < largest:
                    clean = 0
                    size = min(largest, 2 * size)
                    self.stats.chunk_grows += 1
            self.stats.chunk_min = min(self.stats.chunk_min, size)
            self.stats.chunk_bytes = size

    def _answered(self, seq: int, request_bytes: int) -> None:
        """The board has done the work of ``seq``: any copy of it still unanswered is answered
        from memory (or was lost) within the time the bytes take both ways."""
        rest = [c for c in self._copies if c.seq == seq]
        if rest:
            drain = time.monotonic() + self.timeout_for(sum(c.nbytes for c in rest) + len(rest) * MAX_WIRE)
            for c in rest:
                c.expires = drain
