"""Boards are data: one TOML file each in boards/ (chip, port, memory, flash layout, baud, how
to build). This module reads them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from .errors import EdgeAIError

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"
SECTOR_BYTES = 4096


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    chip: str
    arch: str
    port: str
    clock_hz: int
    baud: int
    arena_bytes: int
    flash_bytes: int
    build: dict[str, Any]

    @property
    def slot_bytes(self) -> int:
        """The largest blob one model slot holds (docs/protocol.md's flash layout)."""
        return (self.flash_bytes - 2 * SECTOR_BYTES) // 2 // SECTOR_BYTES * SECTOR_BYTES


def board_names() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def load_board(name: str) -> Board:
    path = BOARDS_DIR / f"{name}.toml"
    if not path.is_file():
        raise EdgeAIError(f"unknown board {name!r}; known boards: {', '.join(board_names()) or '(none)'}")
    try:
        data = tomllib.loads(path.read_text())
        return Board(
            name=data["name"],
            description=data.get("description", ""),
            chip=data["chip"],
            arch=data["arch"],
            port=data["port"],
            clock_hz=int(data["clock_hz"]),
            baud=int(data["baud"]),
            arena_bytes=int(data["memory"]["arena_bytes"]),
            flash_bytes=int(data["memory"]["flash_bytes"]),
            build=dict(data.get("build", {})),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
        raise EdgeAIError(f"{path}: not a valid board file ({e})") from None
