"""`edgeai build` for ESP32 boards: idf.py where ESP-IDF is installed, else PlatformIO, else one
clear error; and `edgeai flash` finding the images either leaves. Fake `idf.py` and `pio`
executables on PATH log their command lines and leave images where the real tools do."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import pytest

from edgeai import boards
from edgeai.boards import Board, load_board
from edgeai.build import build_firmware, esp_build_plan
from edgeai.cli import main
from edgeai.errors import EdgeAIError
from edgeai.esp import find_firmware

FAKE_IDF = """#!{python}
# A fake idf.py: logs its arguments; `set-target T` remembers T, `build` leaves idf.py's images.
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps(["idf.py", *args]) + "\\n")
project = Path(args[args.index("-C") + 1])
build = project / "build"
if "set-target" in args:
    build.mkdir(parents=True, exist_ok=True)
    (build / ".target").write_text(args[args.index("set-target") + 1])
if args[-1] == "build":
    (build / "bootloader").mkdir(parents=True, exist_ok=True)
    (build / "partition_table").mkdir(exist_ok=True)
    (build / "bootloader" / "bootloader.bin").write_bytes(b"\\xe9boot")
    (build / "partition_table" / "partition-table.bin").write_bytes(b"\\xaa\\x50")
    (build / "edgeai.bin").write_bytes(b"\\xe9app-idf")
    target = (build / ".target").read_text()
    (build / "project_description.json").write_text(json.dumps({{"target": target}}))
"""

FAKE_PIO = """#!{python}
# A fake pio: logs its arguments; `run -d D -e E` leaves PlatformIO's images in D/.pio/build/E.
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps(["pio", *args]) + "\\n")
out = Path(args[args.index("-d") + 1]) / ".pio" / "build" / args[args.index("-e") + 1]
out.mkdir(parents=True, exist_ok=True)
(out / "bootloader.bin").write_bytes(b"\\xe9boot")
(out / "partitions.bin").write_bytes(b"\\xaa\\x50")
(out / "firmware.bin").write_bytes(b"\\xe9app-pio")
"""


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bin folder (the only one on PATH) for the fakes; returns the log file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "commands.log"
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.delenv("IDF_PATH", raising=False)
    return log


def _install(log: Path, name: str) -> None:
    exe = log.parent / "bin" / name
    exe.write_text((FAKE_IDF if name == "idf.py" else FAKE_PIO).format(python=sys.executable))
    exe.chmod(0o755)


def _commands(log: Path) -> list[list[str]]:
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return [json.loads(x) for x in lines]


def _board(tmp_path: Path, name: str = "esp32c3") -> Board:
    """The board, with its ESP-IDF project in tmp_path (so the fakes write there)."""
    b = load_board(name)
    return dataclasses.replace(b, build={**b.build, "project": str(tmp_path / "project")})


def test_idf_when_esp_idf_is_installed(tmp_path: Path, tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tools, "idf.py")
    _install(tools, "pio")  # installed too, but ESP-IDF comes first
    monkeypatch.setenv("IDF_PATH", str(tmp_path / "esp-idf"))
    board = _board(tmp_path)
    p = str(tmp_path / "project")
    out = build_firmware(board)
    assert _commands(tools) == [["idf.py", "-C", p, "set-target", "esp32c3"], ["idf.py", "-C", p, "build"]]
    assert out == tmp_path / "project" / "build"
    build_firmware(board)  # already configured for the C3: set-target (which starts over) is skipped
    assert _commands(tools) == [["idf.py", "-C", p, "build"]]
    build_firmware(_board(tmp_path, "esp32"))  # another chip: set-target again
    assert _commands(tools) == [["idf.py", "-C", p, "set-target", "esp32"], ["idf.py", "-C", p, "build"]]


def test_the_commands_for_the_real_project(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands as the brief gives them, relative to the repository (where they run)."""
    _install(tools, "idf.py")
    _install(tools, "pio")
    board = load_board("esp32c3")
    idf, pio = str(tools.parent / "bin" / "idf.py"), str(tools.parent / "bin" / "pio")
    assert esp_build_plan(board) == [[pio, "run", "-d", "firmware/ports/esp-idf", "-e", "esp32c3"]]
    monkeypatch.setenv("IDF_PATH", "/opt/esp-idf")
    plan = esp_build_plan(board)
    assert plan[-1] == [idf, "-C", "firmware/ports/esp-idf", "build"]
    assert plan[:-1] in ([], [[idf, "-C", "firmware/ports/esp-idf", "set-target", "esp32c3"]])


def test_platformio_without_esp_idf(tmp_path: Path, tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tools, "idf.py")  # on PATH, but IDF_PATH is not set: ESP-IDF is not set up
    _install(tools, "pio")
    out = build_firmware(_board(tmp_path))
    assert _commands(tools) == [["pio", "run", "-d", str(tmp_path / "project"), "-e", "esp32c3"]]
    assert out == tmp_path / "project" / ".pio" / "build" / "esp32c3"


def test_no_tool(tmp_path: Path, tools: Path) -> None:
    with pytest.raises(EdgeAIError) as e:
        build_firmware(_board(tmp_path))
    msg = str(e.value)
    assert msg.startswith("building esp32c3 needs ESP-IDF or PlatformIO: install ESP-IDF v5.1 or later")
    assert "IDF_PATH is set and idf.py is on PATH" in msg and "pip install platformio" in msg
    assert "\n" not in msg


def test_flash_finds_the_images_of_either_build(tmp_path: Path, tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    board = _board(tmp_path)
    project = tmp_path / "project"
    with pytest.raises(EdgeAIError, match="no such directory: run `edgeai build --board esp32c3`"):
        find_firmware(board)
    _install(tools, "idf.py")
    monkeypatch.setenv("IDF_PATH", str(tmp_path / "esp-idf"))
    build_firmware(board)
    fw = find_firmware(board)
    assert (fw.bootloader, fw.partitions, fw.app) == (
        project / "build/bootloader/bootloader.bin",
        project / "build/partition_table/partition-table.bin",
        project / "build/edgeai.bin",
    )
    time.sleep(0.01)
    _install(tools, "pio")
    monkeypatch.delenv("IDF_PATH")
    build_firmware(board)  # newer: PlatformIO's images are taken
    pio = project / ".pio/build/esp32c3"
    assert find_firmware(board).app == pio / "firmware.bin"
    os.utime(project / "build/edgeai.bin")  # the idf.py build newer again
    assert find_firmware(board).app == project / "build/edgeai.bin"
    assert find_firmware(board, pio).app == pio / "firmware.bin"  # --firmware DIR: either layout
    assert find_firmware(board, project / "build").partitions == project / "build/partition_table/partition-table.bin"
    (project / "build" / "project_description.json").write_text('{"target": "esp32s3"}')
    assert find_firmware(board).app == pio / "firmware.bin"  # an idf.py build for another chip is passed over


def test_cli_build_says_where_the_firmware_is(tmp_path: Path, tools: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    _install(tools, "idf.py")
    monkeypatch.setenv("IDF_PATH", str(tmp_path / "esp-idf"))
    board = _board(tmp_path)
    monkeypatch.setattr(boards, "load_board", lambda name: board)
    assert main(["build", "--board", "esp32c3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"esp32c3: firmware in {tmp_path / 'project' / 'build'}"
    assert out[1].split() == ["bootloader", "bootloader/bootloader.bin", "(5", "bytes)"]
    assert out[2].split()[:3] == ["partition", "table", "partition_table/partition-table.bin"]
    assert out[3].split()[:2] == ["app", "edgeai.bin"]
    assert out[4] == "flash it with: edgeai flash --board esp32c3 --port PORT"
