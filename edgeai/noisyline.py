"""A damaged serial line, for testing and measuring the link: ``ByteNoise`` corrupts bytes
(flips, drops, doubles) from a seeded RNG, and ``NoisyRelay`` is a thread that relays bytes
between a board's port and a new pseudo-terminal, which the host opens as its port, through
such noise each way. The host and the board run unchanged; only the line is bad."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import select
import threading
import tty
from dataclasses import dataclass, field

RELAY_POLL = 0.02  # seconds the relay waits for bytes before looking at its stop flag
RELAY_READ = 65536  # bytes the relay reads at once


@dataclass
class ByteNoise:
    """Each byte is dropped with probability ``drop``, doubled with ``double``, or replaced by
    another value (XOR with a random nonzero byte) with ``flip``; ``faults`` counts them."""

    rng: random.Random
    flip: float = 0.0
    drop: float = 0.0
    double: float = 0.0
    faults: int = 0

    def __call__(self, data: bytes) -> bytes:
        if not (self.flip or self.drop or self.double):
            return data
        out = bytearray()
        for b in data:
            r = self.rng.random()
            if r < self.drop:
                self.faults += 1
            elif r < self.drop + self.double:
                out += bytes([b, b])
                self.faults += 1
            elif r < self.drop + self.double + self.flip:
                out.append(b ^ self.rng.randrange(1, 256))
                self.faults += 1
            else:
                out.append(b)
        return bytes(out)


@dataclass
class _Direction:
    src: int
    dst: int
    noise: ByteNoise
    pending: bytearray = field(default_factory=bytearray)
    bytes: int = 0  # bytes that entered this direction


class NoisyRelay:
    """A line that flips each byte, either way, with probability ``rate``, between a board's port
    (a pseudo-terminal path, e.g. the simulator's) and ``port``, a new pseudo-terminal for the host
    to open with pyserial. A thread of its own moves the bytes; the RNGs are seeded with ``seed``
    (one per direction). ``cut_after``: once that many bytes have come from the host, the line
    goes dead both ways, as a pulled cable. Use as a context manager, or ``start``/``stop``."""

    def __init__(self, board_port: str, rate: float, seed: int = 0, cut_after: int | None = None) -> None:
        self.board_port = board_port
        self.rate = rate
        self.seed = seed
        self.cut_after = cut_after
        self.port = ""
        self._fds: list[int] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.to_board: _Direction | None = None
        self.to_host: _Direction | None = None
        self.error: OSError | None = None  # what ended the relay early (the board's port closed)

    def start(self) -> str:
        board = os.open(self.board_port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self._fds.append(board)
        tty.setraw(board)
        master, slave = os.openpty()
        self._fds += [master, slave]  # the slave stays open: the master never reads EIO between opens
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.port = os.ttyname(slave)
        up = ByteNoise(random.Random(2 * self.seed), flip=self.rate)
        down = ByteNoise(random.Random(2 * self.seed + 1), flip=self.rate)
        self.to_board = _Direction(master, board, up)
        self.to_host = _Direction(board, master, down)
        self._thread = threading.Thread(target=self._run, name="noisy-relay", daemon=True)
        self._thread.start()
        return self.port

    @property
    def flips(self) -> tuple[int, int]:
        """Bytes flipped so far: (host to board, board to host)."""
        assert self.to_board is not None and self.to_host is not None
        return self.to_board.noise.faults, self.to_host.noise.faults

    @property
    def dead(self) -> bool:
        return self.cut_after is not None and self.to_board is not None and self.to_board.bytes >= self.cut_after

    def _run(self) -> None:
        assert self.to_board is not None and self.to_host is not None
        ways = (self.to_board, self.to_host)
        try:
            while not self._stop.is_set():
                writing = [d.dst for d in ways if d.pending]
                readable, writable, _ = select.select([d.src for d in ways], writing, [], RELAY_POLL)
                for d in ways:
                    if d.src in readable:
                        try:
                            data = os.read(d.src, RELAY_READ)
                        except BlockingIOError:
                            data = b""
                        if d is self.to_board and self.cut_after is not None:
                            data = data[: max(0, self.cut_after - d.bytes)]
                        d.bytes += len(data)
                        if not self.dead:
                            d.pending += d.noise(data)
                    if d.dst in writable and d.pending:
                        try:
                            n = os.write(d.dst, d.pending)
                        except BlockingIOError:
                            n = 0
                        del d.pending[:n]
        except OSError as e:
            if e.errno != errno.EBADF:
                self.error = e

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()

    def __enter__(self) -> NoisyRelay:
        if not self.port:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
