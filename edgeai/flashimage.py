"""What goes where in a board's flash: the firmware's slot table with one record naming a model in
slot A (docs/protocol.md), and the regions ``edgeai flash`` writes, for every kind of board.

The writes are (offset, bytes) pairs in the board's physical flash. Flash-file boards (sim,
qemu-rv32) apply them to their file; ESP boards hand them to esptool."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .blob import read_blob
from .boards import SECTOR_BYTES, TABLE_SECTORS, Board
from .errors import EdgeAIError

RECORD_MAGIC = 0x544F4C53  # "SLOT"
RECORD_BYTES = 32

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


def write_flash_file(path: Path, size: int, regions: list[Region], progress: Progress | None = None) -> None:
    """Write regions into a board's flash file (created erased, all 0xFF, if absent).
    The writes go to a copy that replaces the file at the end, so an interrupted flash leaves
    the old contents whole."""
    if path.exists() and path.stat().st_size != size:
        raise EdgeAIError(
            f"{path} holds {path.stat().st_size:,} bytes, not the board's {size:,}: delete it to start erased"
        )
    for r in regions:
        if r.offset < 0 or r.offset + len(r.data) > size:
            raise EdgeAIError(_misfit(r, size))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        if path.exists():
            with path.open("rb") as src, tmp.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        else:
            with tmp.open("wb") as dst:
                block = b"\xff" * (1 << 20)
                for off in range(0, size, len(block)):
                    dst.write(block[: min(len(block), size - off)])
        with tmp.open("r+b") as f:
            for r in regions:
                step = 64 * 1024
                for done in range(0, len(r.data), step):
                    f.seek(r.offset + done)
                    f.write(r.data[done : done + step])
                    if progress:
                        progress(r.name, min(done + step, len(r.data)), len(r.data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
