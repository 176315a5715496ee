"""``edgeai build``: the firmware for a board, as its board file says: make for the simulated and
QEMU boards; for ESP32 boards ESP-IDF's ``idf.py`` where ESP-IDF is installed, else PlatformIO
(its ESP-IDF framework), from the same project (firmware/ports/esp-idf).

Where an ESP build leaves its images:

- idf.py: ``<project>/build/``: ``bootloader/bootloader.bin``, ``partition_table/partition-table.bin``
  and the app ``edgeai.bin`` (named after the project);
- PlatformIO: ``<project>/.pio/build/<env>/``: ``bootloader.bin``, ``partitions.bin``, ``firmware.bin``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .boards import ROOT, Board
from .errors import EdgeAIError

_BUILT: set[tuple[str, Path]] = set()  # (board, binary) built by this process already

CROSS_HINT = "apt-get install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf"
PIO_HINT = "pip install platformio (it downloads the ESP-IDF toolchain on its first build, which needs internet)"
IDF_HINT = (
    "install ESP-IDF v5.1 or later (https://docs.espressif.com/projects/esp-idf/en/stable/esp32/get-started/) "
    "and source its export.sh, so that IDF_PATH is set and idf.py is on PATH"
)
IDF_PROJECT_NAME = "edgeai"  # project() in firmware/ports/esp-idf/CMakeLists.txt: idf.py names the app after it


@dataclass(frozen=True)
class EspImages:
    """The images an ESP build left: where, by which tool, and for which chip (None: unknown)."""

    folder: Path
    tool: str  # "idf.py" or "platformio"
    bootloader: Path
    partitions: Path
    app: Path
    target: str | None = None

    @property
    def complete(self) -> bool:
        """The bootloader and the app are there (the partition table is optional: edgeai can
        write the board file's)."""
        return self.bootloader.is_file() and self.app.is_file()


def idf_images(folder: Path) -> EspImages:
    """An idf.py build folder's images (the chip from its project_description.json)."""
    target = None
    try:
        target = str(json.loads((folder / "project_description.json").read_text())["target"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return EspImages(folder, "idf.py", folder / "bootloader" / "bootloader.bin",
                     folder / "partition_table" / "partition-table.bin", folder / f"{IDF_PROJECT_NAME}.bin",
                     target)  # fmt: skip


def pio_images(folder: Path, target: str | None = None) -> EspImages:
    """A PlatformIO build folder's images."""
    return EspImages(folder, "platformio", folder / "bootloader.bin", folder / "partitions.bin",
                     folder / "firmware.bin", target)  # fmt: skip


def esp_project(board: Board) -> Path:
    return ROOT / str(board.build["project"])


def esp_builds(board: Board) -> list[EspImages]:
    """Where `edgeai build` leaves this board's images: the idf.py build folder, then
    PlatformIO's folder for the board's env (whether or not they exist)."""
    project = esp_project(board)
    return [idf_images(project / "build"), pio_images(project / ".pio" / "build" / str(board.build["env"]), board.chip)]


def esp_build_plan(board: Board) -> list[list[str]]:
    """The commands that build an ESP board's firmware here: with ESP-IDF installed (IDF_PATH set,
    idf.py on PATH) ``idf.py -C PROJECT set-target CHIP`` (only when the build folder is not
    already for that chip: set-target starts the build over) and ``idf.py -C PROJECT build``;
    else ``pio run -d PROJECT -e ENV``; else an error naming both ways to install."""
    project = str(board.build["project"])  # relative to ROOT, where the commands run
    idf = shutil.which("idf.py")
    if os.environ.get("IDF_PATH") and idf is not None:
        plan = []
        if idf_images(esp_project(board) / "build").target != board.chip:
            plan.append([idf, "-C", project, "set-target", board.chip])
        return [*plan, [idf, "-C", project, "build"]]
    pio = shutil.which("pio") or shutil.which("platformio")
    if pio is not None:
        return [[pio, "run", "-d", project, "-e", str(board.build["env"])]]
    raise EdgeAIError(
        f"building {board.name} needs ESP-IDF or PlatformIO: {IDF_HINT}; or {PIO_HINT}; then run edgeai build again"
    )


def build_firmware(board: Board, on_line: Callable[[str], None] | None = None, force: bool = False) -> Path:
    """Build the board's firmware; returns the binary (make) or the folder of the ESP images.
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
    if tool in ("esp-idf", "platformio"):
        plan = esp_build_plan(board)
        for command in plan:
            _run(command, board, on_line)
        idf, pio = esp_builds(board)
        images = idf if Path(plan[-1][0]).name == "idf.py" else pio
        if not images.complete:
            missing = images.bootloader if not images.bootloader.is_file() else images.app
            raise EdgeAIError(f"the build of {board.name} made no {missing}; run `{' '.join(plan[-1])}` to see why")
        return images.folder
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
