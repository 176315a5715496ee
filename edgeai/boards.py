"""Boards are data: one TOML file each in boards/ (chip, port, clock, memory, flash layout, baud,
how to build, how to flash). This module reads them and answers what follows from them: how big a
model slot is, where the firmware's slot table and slots lie in the board's flash, and whether a
model fits."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from .errors import EdgeAIError

ROOT = Path(__file__).resolve().parent.parent
BOARDS_DIR = ROOT / "boards"
SECTOR_BYTES = 4096  # the firmware's flash sector (EAI_PORT_SECTOR_BYTES)
TABLE_SECTORS = 2  # slot-table sectors, written alternately (docs/protocol.md)
MODEL_PARTITIONS = ("eai_table", "model_a", "model_b")


@dataclass(frozen=True)
class Partition:
    name: str
    offset: int
    size: int
    type: str = "data"
    subtype: str = ""
    flags: str = ""


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    chip: str
    arch: str
    port: str
    clock_hz: int
    counters: str
    baud: int
    ram_bytes: int
    arena_bytes: int
    flash_bytes: int
    erase_bytes: int
    flash: dict[str, Any]
    partitions: tuple[Partition, ...]
    build: dict[str, Any]
    upload: dict[str, Any]
    emulator: dict[str, Any] = field(default_factory=dict)

    # -- the firmware's flash, as docs/protocol.md lays it out ---------------------------------------
    def partition(self, name: str) -> Partition:
        for p in self.partitions:
            if p.name == name:
                return p
        raise EdgeAIError(f"board {self.name}: no partition {name!r} in its flash layout")

    @property
    def slot_bytes(self) -> int:
        """The largest blob one model slot holds."""
        if not self.partitions:
            return (self.flash_bytes - TABLE_SECTORS * SECTOR_BYTES) // 2 // SECTOR_BYTES * SECTOR_BYTES
        a, b = self.partition("model_a"), self.partition("model_b")
        return min(a.size, b.size) // SECTOR_BYTES * SECTOR_BYTES

    def table_sector_offset(self, k: int) -> int:
        """Flash offset of slot-table sector ``k`` (each on an erase block of its own)."""
        if not self.partitions:
            return k * SECTOR_BYTES
        return self.partition("eai_table").offset + k * max(SECTOR_BYTES, self.erase_bytes)

    def slot_offset(self, slot: int) -> int:
        """Flash offset of model slot ``slot`` (0 = A, 1 = B)."""
        if not self.partitions:
            return TABLE_SECTORS * SECTOR_BYTES + slot * self.slot_bytes
        return self.partition("model_b" if slot else "model_a").offset

    @property
    def emulated(self) -> bool:
        return self.port in ("posix", "qemu-rv32")

    # -- checks -----------------------------------------------------------------------------------
    def misfits(self, blob_bytes: int, arena_bytes: int) -> list[str]:
        """Why a model of this blob and arena size does not fit the board ([] if it does)."""
        out = []
        if blob_bytes > self.slot_bytes:
            out.append(
                f"the blob is {blob_bytes:,} bytes, a model slot on {self.name} holds {self.slot_bytes:,} "
                f"({blob_bytes - self.slot_bytes:,} bytes too many)"
            )
        if arena_bytes > self.arena_bytes:
            out.append(
                f"the arena needs {arena_bytes:,} bytes, {self.name} has {self.arena_bytes:,} "
                f"({arena_bytes - self.arena_bytes:,} bytes too many)"
            )
        return out

    def check_layout(self) -> None:
        """Refuse a board file whose flash layout the firmware could not use."""
        if not self.partitions:
            if self.flash_bytes < TABLE_SECTORS * SECTOR_BYTES + 2 * SECTOR_BYTES or self.flash_bytes % SECTOR_BYTES:
                raise EdgeAIError(f"board {self.name}: flash bytes must be a multiple of 4096 of at least 16384")
            return
        names = [p.name for p in self.partitions]
        for need in MODEL_PARTITIONS:
            if need not in names:
                raise EdgeAIError(f"board {self.name}: the flash layout needs a partition {need!r}")
        block = max(SECTOR_BYTES, self.erase_bytes)
        table = self.partition("eai_table")
        if table.size < TABLE_SECTORS * block:
            raise EdgeAIError(f"board {self.name}: eai_table holds {table.size} bytes, needs {TABLE_SECTORS * block}")
        spans = sorted((p.offset, p.offset + p.size, p.name) for p in self.partitions)
        for (_, end, a), (start, _, b) in itertools.pairwise(spans):
            if start < end:
                raise EdgeAIError(f"board {self.name}: partitions {a} and {b} overlap")
        for p in self.partitions:
            if p.offset + p.size > self.flash_bytes:
                raise EdgeAIError(f"board {self.name}: partition {p.name} ends past the flash end ({self.flash_bytes})")
            if p.name in MODEL_PARTITIONS and (p.offset % block or p.size % block):
                raise EdgeAIError(f"board {self.name}: partition {p.name} is not aligned to {block}-byte erase blocks")


def board_names() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def _int(v: Any) -> int:
    return int(v, 0) if isinstance(v, str) else int(v)


def read_partitions_csv(text: str) -> tuple[Partition, ...]:
    """An ESP-IDF partition table CSV (name, type, subtype, offset, size, flags) with explicit
    offsets and sizes, as firmware/ports/esp-idf/partitions.csv has."""
    out = []
    for row in csv.reader(io.StringIO(text)):
        if not row or row[0].strip().startswith("#"):
            continue
        cells = [c.strip() for c in row] + [""] * 6
        name, ptype, subtype, offset, size, flags = cells[:6]
        if not offset or not size:
            raise EdgeAIError(f"partition {name}: give its offset and size explicitly")
        out.append(Partition(name, _size(offset), _size(size), ptype, subtype, flags))
    return tuple(out)


def _size(text: str) -> int:
    t = text.strip().upper()
    for suffix, mul in (("K", 1024), ("M", 1024 * 1024)):
        if t.endswith(suffix):
            return int(t[:-1], 0) * mul
    return int(t, 0)


def load_board(name: str) -> Board:
    path = BOARDS_DIR / f"{name}.toml"
    if not path.is_file():
        raise EdgeAIError(f"unknown board {name!r}; known boards: {', '.join(board_names()) or '(none)'}")
    try:
        data = tomllib.loads(path.read_text())
        flash = dict(data["flash"])
        parts: tuple[Partition, ...]
        if "partitions" in flash:
            parts = read_partitions_csv((ROOT / str(flash["partitions"])).read_text())
        else:
            parts = tuple(
                Partition(str(p["name"]), _int(p["offset"]), _int(p["size"])) for p in flash.get("partition", [])
            )
        board = Board(
            name=data["name"],
            description=data.get("description", ""),
            chip=data["chip"],
            arch=data["arch"],
            port=data["port"],
            clock_hz=int(data["clock_hz"]),
            counters=str(data.get("counters", "")),
            baud=int(data["baud"]),
            ram_bytes=int(data["memory"].get("ram_bytes", 0)),
            arena_bytes=int(data["memory"]["arena_bytes"]),
            flash_bytes=_int(flash["bytes"]),
            erase_bytes=_int(flash.get("erase_bytes", SECTOR_BYTES)),
            flash={k: v for k, v in flash.items() if k != "partition"},
            partitions=parts,
            build=dict(data.get("build", {})),
            upload=dict(data.get("upload", {})),
            emulator=dict(data.get("emulator", {})),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, OSError) as e:
        raise EdgeAIError(f"{path}: not a valid board file ({e})") from None
    board.check_layout()
    return board
