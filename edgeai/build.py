"""``edgeai build``: the firmware for a board, as its board file says: make for the simulated and
QEMU boards, PlatformIO (ESP-IDF framework) for ESP32 boards."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .boards import ROOT, Board
from .errors import EdgeAIError

_BUILT: set[tuple[str, Path]] = set()  # (board, binary) built by this process already

CROSS_HINT = "apt-get install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf"
PIO_HINT = "pip install platformio (it downloads the ESP-IDF toolchain on its first build, which needs internet)"


def build_firmware(board: Board, on_line: Callable[[str], None] | None = None, force: bool = False) -> Path:
    """Build the board's firmware; returns the binary (make) or the build folder (PlatformIO).
    ``on_line`` sees each line of the build's output as it comes."""
    tool = board.build.get("tool", "make")
    if tool == "make":
        binary = ROOT / str(board.build["binary"])
        if not force and (board.name, binary) in _BUILT:
            return binary
        command = [str(c) for c in board.build["command"]]
        if board.port == "qemu-rv32" and shutil.which("riscv64-unknown-elf-gcc") is None:
            raise EdgeAIError(f"building {board.name} needs the RV32 cross compiler: {CROSS_HINT}")
        _run([*command, *([] if on_line else ["-s"])], board, on_line)
        if not binary.exists():
            raise EdgeAIError(f"the build of {board.name} made no {binary}; run `{' '.join(command)}` to see why")
        _BUILT.add((board.name, binary))
        return binary
    if tool == "platformio":
        pio = shutil.which("pio") or shutil.which("platformio")
        if pio is None:
            raise EdgeAIError(f"building {board.name} needs PlatformIO: {PIO_HINT}; then run edgeai build again")
        project = ROOT / str(board.build["project"])
        env = str(board.build["env"])
        _run([pio, "run", "-d", str(project), "-e", env], board, on_line)
        return project / ".pio" / "build" / env
    raise EdgeAIError(f"board {board.name}: unknown build tool {tool!r} in its board file")


def _run(command: list[str], board: Board, on_line: Callable[[str], None] | None) -> None:
    try:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError:
        raise EdgeAIError(f"building {board.name}: {command[0]} is not installed") from None
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip("\n")
        tail = [*tail, line][-20:]
        if on_line:
            on_line(line)
    if proc.wait() != 0:
        errors = [t for t in tail if "error" in t.lower()] or tail or ["(no output)"]
        raise EdgeAIError(f"building {board.name} failed: {errors[-1].strip()} (run `{' '.join(command)}` to see all)")


def firmware_path(board: Board, key: str = "binary") -> Path:
    return ROOT / str(board.build[key])
