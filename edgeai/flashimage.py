"""What goes where in a board's flash: the firmware's slot table with one record naming a model in
slot A (docs/protocol.md), and the regions ``edgeai flash`` writes, for every kind of board.

The writes are (offset, bytes) pairs in the board's physical flash. Flash-file boards (sim,
qemu-rv32) apply them to their file; ESP boards hand them to esptool.

A flash file is used by one board at a time: whatever serves or writes it (the simulator itself,
the host for a QEMU board and QEMU with it, ``edgeai flash``) holds an exclusive lock on it
(``flock``), and the next one is refused with :class:`~edgeai.errors.FlashInUseError`."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .blob import read_blob
from .boards import SECTOR_BYTES, TABLE_SECTORS, Board
from .errors import EdgeAIError, FlashInUseError

RECORD_MAGIC = 0x544F4C53  # "SLOT"
RECORD_BYTES = 32
LOCK_TRIES = 10  # opens of a flash file that keeps being replaced between the open and the lock

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Region:
    """Bytes for one place in flash, and what they are."""

    name: str
    offset: int
    data: bytes


def slot_record(generation: int, slot: int, size: int, crc: int) -> bytes:
    """One 32-byte slot-table record, as firmware/app/app.c writes it."""
    head = struct.pack("<IIB3xII8x", RECORD_MAGIC, generation, slot, size, crc)
    return head + struct.pack("<I", zlib.crc32(head))


def model_regions(board: Board, blob: bytes) -> list[Region]:
    """The slot table (both sectors: one record naming slot A, then blank) and the blob in slot A,
    so the board boots with this model active whatever its flash held before."""
    model = read_blob(blob)  # refuse a corrupt blob before writing anything
    misfit = [m for m in board.misfits(len(blob), model.arena_bytes)]
    if misfit:
        raise EdgeAIError(f"the model does not fit {board.name}: {'; '.join(misfit)}")
    table0 = slot_record(1, 0, len(blob), zlib.crc32(blob))
    table0 += b"\xff" * (SECTOR_BYTES - len(table0))
    out = [Region("slot table A", board.table_sector_offset(0), table0)]
    for k in range(1, TABLE_SECTORS):
        out.append(Region(f"slot table {'AB'[k]}", board.table_sector_offset(k), b"\xff" * SECTOR_BYTES))
    pad = -len(blob) % SECTOR_BYTES
    out.append(Region("model (slot A)", board.slot_offset(0), blob + b"\xff" * pad))
    return out


def lock_holder(path: Path) -> tuple[int, str] | None:
    """The live process holding a ``flock`` on ``path`` and its name, from /proc/locks (Linux);
    None where that cannot be known."""
    try:
        st = path.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        f = line.split()  # "4: FLOCK  ADVISORY  WRITE 1234 fe:00:573448 0 EOF" ("->" marks a waiter)
        if len(f) >= 6 and f[1] == "FLOCK" and f[5] == key and f[4].isdigit():
            try:
                return int(f[4]), Path(f"/proc/{f[4]}/comm").read_text().strip()
            except OSError:
                return None  # the locker has gone (a child it started holds the lock now)
    return None


def flash_in_use(path: Path, hint: str) -> FlashInUseError:
    """The error for a flash file another process holds: which file, who holds it if that can be
    known, and what to do (``hint``: how to use another file)."""
    holder = lock_holder(path)
    who = f"process {holder[0]}, {holder[1]}" if holder else "another process"
    return FlashInUseError(f"{path} is in use by a running board ({who}): wait for it to finish, or {hint}")


class FlashLock:
    """An exclusive ``flock`` on a board's flash file, held while a board or a writer uses it.
    It belongs to the open file, so a child given the descriptor (QEMU) holds it too, and it ends
    when the last holder closes it or dies."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path, hint: str) -> FlashLock:
        """Lock ``path`` (created empty if absent), without waiting: FlashInUseError (with
        ``hint``, how to use another file) if another process holds it."""
        import fcntl

        for _ in range(LOCK_TRIES):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as e:
                raise EdgeAIError(f"{path}: cannot open the flash file ({e.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise flash_in_use(path, hint) from None
            except OSError as e:
                os.close(fd)
                raise EdgeAIError(f"{path}: cannot lock the flash file ({e.strerror})") from None
            held = os.fstat(fd)
            try:
                named = os.stat(path)
            except OSError:
                named = None
            if named is not None and (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino):
                return cls(path, fd)
            os.close(fd)  # replaced by a writer (write_flash_file) between the open and the lock
        raise EdgeAIError(f"{path} keeps being replaced by another process; stop it and retry")

    def fileno(self) -> int:
        if self.fd is None:
            raise ValueError("the flash lock was released")
        return self.fd

    def adopt(self, fd: int) -> None:
        """Hold the lock of ``fd`` (a locked file just renamed over ``path``) instead."""
        old, self.fd = self.fd, fd
        if old is not None:
            os.close(old)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> FlashLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def write_flash_file(path: Path, size: int, regions: list[Region], progress: Progress | None = None,
                     lock: FlashLock | None = None) -> None:  # fmt: skip
    """Write regions into a board's flash file (created erased, all 0xFF, if absent or empty).
    The writes go to a copy that replaces the file at the end, so an interrupted flash leaves
    the old contents whole. The file is locked meanwhile (FlashInUseError if a board uses it),
    or the caller holds ``lock`` on it; the lock passes to the new file before it replaces the
    old one, so no board can take the file in between."""
    import fcntl

    for r in regions:
        if r.offset < 0 or r.offset + len(r.data) > size:
            raise EdgeAIError(_misfit(r, size))
    path.parent.mkdir(parents=True, exist_ok=True)
    held = lock or FlashLock.acquire(path, "flash another file (--flash FILE)")
    tmp = path.with_name(path.name + ".part")
    tmp_fd: int | None = None
    try:
        have = os.fstat(held.fileno()).st_size
        if have not in (0, size):
            raise EdgeAIError(f"{path} holds {have:,} bytes, not the board's {size:,}: delete it to start erased")
        tmp_fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        with os.fdopen(tmp_fd, "r+b", closefd=False) as dst:
            if have:
                with path.open("rb") as src:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
            else:
                block = b"\xff" * (1 << 20)
                for off in range(0, size, len(block)):
                    dst.write(block[: min(len(block), size - off)])
            for r in regions:
                step = 64 * 1024
                for done in range(0, len(r.data), step):
                    dst.seek(r.offset + done)
                    dst.write(r.data[done : done + step])
                    if progress:
                        progress(r.name, min(done + step, len(r.data)), len(r.data))
            dst.flush()
            os.fsync(dst.fileno())
        fcntl.flock(tmp_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else has it
        os.replace(tmp, path)
        held.adopt(tmp_fd)
        tmp_fd = None
    finally:
        if tmp_fd is not None:
            os.close(tmp_fd)
        tmp.unlink(missing_ok=True)
        if lock is None:
            held.release()


def _misfit(r: Region, size: int) -> str:
    return f"{r.name} ({len(r.data):,} bytes at {r.offset:#x}) does not fit a flash of {size:,} bytes"


def merge_image(size: int, regions: list[Region]) -> bytes:
    """A whole flash image: 0xFF with the regions written in."""
    img = bytearray(b"\xff" * size)
    for r in regions:
        if r.offset + len(r.data) > size:
            raise EdgeAIError(_misfit(r, size))
        img[r.offset : r.offset + len(r.data)] = r.data
    return bytes(img)
