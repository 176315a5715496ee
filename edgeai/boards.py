"""Boards are data: one TOML file each in boards/ (chip, port, clock, memory, flash layout, baud,
how to build, how to flash). This module reads them and answers what follows from them: how big a
model slot is, where the firmware's slot table and slots lie in the board's flash, and whether a
model fits."""

from __future__ import annotations

import csv
import io
import itertools
import math
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

# The flash timing the host plans with for a board whose file states none (an unknown board, a
# board file without the figures): the slowest common SPI NOR parts. Sector erase: ESP-IDF's
# generic flash driver waits 600 ms for one (SPI_FLASH_GENERIC_SECTOR_ERASE_TIMEOUT_MS in
# components/spi_flash/spi_flash_chip_generic.c: the GD25Q127's maximum at 125 °C plus 100 ms);
# page program: 3 ms, the W25Q32JV's tPP maximum.
DEFAULT_SECTOR_ERASE_MS = 600.0
DEFAULT_PAGE_PROGRAM_MS = 3.0
DEFAULT_PROGRAM_PAGE_BYTES = 256


@dataclass(frozen=True)
class FlashTiming:
    """How long the board's flash may take (maximum figures): the host's upload timeouts scale
    with the bytes erased and written using them, so a slow chip within its datasheet is never
    taken for a silent one."""

    sector_erase_s: float = DEFAULT_SECTOR_ERASE_MS / 1e3  # one SECTOR_BYTES sector
    page_program_s: float = DEFAULT_PAGE_PROGRAM_MS / 1e3  # one page
    page_bytes: int = DEFAULT_PROGRAM_PAGE_BYTES
    erase_block_bytes: int = SECTOR_BYTES  # what the firmware's erase rounds up to

    def erase_seconds(self, nbytes: int) -> float:
        """The longest erase of ``nbytes`` (rounded up to whole erase blocks) may take."""
        block = max(SECTOR_BYTES, self.erase_block_bytes)
        sectors = math.ceil(nbytes / block) * (block // SECTOR_BYTES)
        return sectors * self.sector_erase_s

    def program_seconds(self, nbytes: int) -> float:
        """The longest write of ``nbytes`` may take: one more page than it fills, for a write
        that does not start on a page."""
        if nbytes <= 0:
            return 0.0
        return (math.ceil(nbytes / self.page_bytes) + 1) * self.page_program_s


@dataclass(frozen=True)
class MapWindow:
    """The flash the board can map as data (an ESP32's MMU pages): ``pages`` of ``page_bytes``,
    of which ``app_pages`` are kept for the app. The rest holds the slot table's pages and the
    active model's beside the model being uploaded."""

    pages: int
    page_bytes: int
    app_pages: int


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
    flash_timing: FlashTiming = field(default_factory=FlashTiming)
    map_window: MapWindow | None = None  # None: any model that fits a slot maps

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

    def _pages(self, offset: int, nbytes: int) -> int:
        """MMU pages that map [offset, offset + nbytes) of flash."""
        assert self.map_window is not None
        page = self.map_window.page_bytes
        return 0 if nbytes <= 0 else (offset + nbytes - 1) // page - offset // page + 1

    @property
    def map_bytes(self) -> int | None:
        """The largest model this board can map beside an active one (None: no limit): the
        map window less the app's pages and the slot table's, halved between the two models,
        less the part of a page before the worse-placed slot's start."""
        w = self.map_window
        if w is None:
            return None
        if self.partitions:
            table = self.partition("eai_table")
            table_pages = self._pages(table.offset, table.size)
        else:
            table_pages = self._pages(0, TABLE_SECTORS * SECTOR_BYTES)
        per_model = (w.pages - w.app_pages - table_pages) // 2
        lead = max(self.slot_offset(k) % w.page_bytes for k in (0, 1))
        return max(0, per_model * w.page_bytes - lead)

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
        limit = self.map_bytes
        if limit is not None and blob_bytes > limit:
            assert self.map_window is not None
            w = self.map_window
            out.append(
                f"{self.name} maps at most {limit:,} bytes of a model beside the active one ({w.pages} pages of "
                f"{w.page_bytes // 1024} KiB, {w.app_pages} kept for the app) "
                f"({blob_bytes - limit:,} bytes too many)"
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


def _timing(flash: dict[str, Any]) -> FlashTiming:
    return FlashTiming(
        sector_erase_s=float(flash.get("sector_erase_max_ms", DEFAULT_SECTOR_ERASE_MS)) / 1e3,
        page_program_s=float(flash.get("page_program_max_ms", DEFAULT_PAGE_PROGRAM_MS)) / 1e3,
        page_bytes=_int(flash.get("program_page_bytes", DEFAULT_PROGRAM_PAGE_BYTES)),
        erase_block_bytes=_int(flash.get("erase_bytes", SECTOR_BYTES)),
    )


def _map_window(data: dict[str, Any] | None) -> MapWindow | None:
    if data is None:
        return None
    w = MapWindow(_int(data["pages"]), _int(data["page_bytes"]), _int(data["app_pages"]))
    if w.pages <= 0 or w.page_bytes <= 0 or w.page_bytes % SECTOR_BYTES or not 0 <= w.app_pages < w.pages:
        raise ValueError("[map] needs pages > app_pages >= 0 and page_bytes a multiple of 4096")
    return w


def known_board(name: str) -> Board | None:
    """The board file named ``name`` (as a board's HELLO names itself), or None if there is none."""
    return load_board(name) if name in board_names() else None


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
            flash_timing=_timing(flash),
            map_window=_map_window(data.get("map")),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, OSError) as e:
        raise EdgeAIError(f"{path}: not a valid board file ({e})") from None
    board.check_layout()
    return board
