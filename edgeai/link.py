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

PROTOCOL_VERSION = 3
MAX_PAYLOAD = 4096
HEADER_BYTES = 6
CRC_BYTES = 4
MAX_FRAME = HEADER_BYTES + MAX_PAYLOAD + CRC_BYTES
MAX_WIRE = 4200
KIND_LOG = 0x7F
RESPONSE_BIT = 0x80

# Timeouts and retries (seconds unless named otherwise). A request waits
# BASE_TIMEOUT + wire bytes / (baud / 10) * SLACK + the command's own work allowance.
BASE_TIMEOUT = 0.5
SLACK = 2.0
RETRIES = 4
READ_POLL = 0.02  # how long one transport read may block
RETRY_PREFIX = b"\0"  # written before a retry: ends whatever partial frame the board holds

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

    def request(self, command: int, payload: bytes = b"", *, work: float = 0.0,
                expect_bytes: int = 0, check: bool = True) -> Frame:  # fmt: skip
        """Send a request and return its response frame. ``work`` adds seconds the board needs
        to act; ``expect_bytes`` is the size of the answer's payload, for the timeout."""
        seq = self._next_seq()
        wire = encode_frame(Frame(command, 0, seq, payload))
        name = COMMAND_NAMES.get(command, hex(command))
        if self.window is not None and len(wire) > self.window:
            raise WindowError(
                f"a {name} request takes {len(wire):,} bytes on the wire; the board keeps only "
                f"{self.window:,} while busy: send less per request"
            )
        timeout = self.timeout_for(len(wire) + expect_bytes + 32, work)
        self._received = 0
        for attempt in range(self.retries + 1):
            if attempt == 0:
                self._make_room(len(wire))
                self._send(wire, seq)
                self.stats.requests += 1
            elif self._fits(len(RETRY_PREFIX) + len(wire)):
                self.stats.retries += 1
                self.stats.requests += 1
                self._send(RETRY_PREFIX + wire, seq)
            else:
                self.stats.held += 1  # the board may still hold every earlier copy: wait instead
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for frame in self._pump():
                    if frame.kind == command | RESPONSE_BIT and frame.seq == seq:
                        self._answered(seq, len(wire))
                        if check and frame.status != 0:
                            raise DeviceError(command, frame.status, frame.payload)
                        return frame
        self._copies.clear()  # every copy has had the whole allowance, several times: gone
        if self._received and not self.valid_frames:
            raise NotEdgeAIError(
                "the device answers, but not with edgeai frames: is the edgeai firmware running on it?"
            )
        raise DeviceTimeout(
            f"no answer from the board after {self.retries + 1} tries of {timeout:.1f} s: "
            "check the port and that the board runs edgeai firmware"
        )

    def _answered(self, seq: int, request_bytes: int) -> None:
        """The board has done the work of ``seq``: any copy of it still unanswered is answered
        from memory (or was lost) within the time the bytes take both ways."""
        rest = [c for c in self._copies if c.seq == seq]
        if rest:
            drain = time.monotonic() + self.timeout_for(sum(c.nbytes for c in rest) + len(rest) * MAX_WIRE)
            for c in rest:
                c.expires = drain
