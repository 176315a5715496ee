"""Board files, `edgeai boards`, `compile --board`, `build` and `flash` on the simulated board."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeai import boards
from edgeai.boards import board_names, load_board
from edgeai.build import build_firmware
from edgeai.cli import main
from edgeai.compiler import compile_model
from edgeai.device import Device
from edgeai.errors import EdgeAIError
from edgeai.esp import partition_table_bin, read_partition_table_bin

from .conftest import MODELS, mlperf_path

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ("esp32", "esp32c3", "esp32c6", "esp32s3", "qemu-rv32", "sim")


def test_all_boards_load_with_usable_layouts() -> None:
    assert tuple(board_names()) == BOARDS
    for name in BOARDS:
        b = load_board(name)
        assert b.name == name and b.clock_hz > 0 and b.arena_bytes > 0 and b.slot_bytes >= 1 << 20
        assert b.build["tool"] in ("make", "esp-idf") and b.upload["tool"] in ("file", "esptool")
        if b.partitions:  # the slot table's two sectors and the slots do not overlap each other
            spans = [(b.table_sector_offset(k), 4096) for k in (0, 1)]
            spans += [(b.slot_offset(s), b.slot_bytes) for s in (0, 1)]
            spans.sort()
            assert all(a + n <= c for (a, n), (c, _) in itertools.pairwise(spans))


def test_esp_boards_share_the_port_partition_table() -> None:
    """The ESP board files read firmware/ports/esp-idf/partitions.csv, which the PlatformIO
    build also uses: the binary table edgeai writes parses back to the same layout."""
    csv = (ROOT / "firmware/ports/esp-idf/partitions.csv").read_text()
    for name in ("esp32", "esp32s3", "esp32c3", "esp32c6"):
        b = load_board(name)
        assert b.partitions == boards.read_partitions_csv(csv)
        assert b.slot_bytes == 0x130000 and b.flash["app"] == 0x10000 and b.flash["partition_table"] == 0x8000
        assert [p.name for p in read_partition_table_bin(partition_table_bin(b.partitions))] == [
            p.name for p in b.partitions
        ]
    assert load_board("esp32").flash["bootloader"] == 0x1000 and load_board("esp32c3").flash["bootloader"] == 0


def test_bad_board_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boards, "BOARDS_DIR", tmp_path)
    with pytest.raises(EdgeAIError, match="unknown board 'nope'"):
        load_board("nope")
    (tmp_path / "broken.toml").write_text('name = "broken"\n')
    with pytest.raises(EdgeAIError, match="not a valid board file"):
        load_board("broken")
    text = (ROOT / "boards/qemu-rv32.toml").read_text().replace("offset = 0x500000", "offset = 0x300000")
    (tmp_path / "overlap.toml").write_text(text)
    with pytest.raises(EdgeAIError, match="overlap"):
        load_board("overlap")


def test_cli_boards(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    for name in BOARDS:
        assert f"\n{name} " in out
    assert main(["boards", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    c3 = next(b for b in data if b["name"] == "esp32c3")
    assert c3["arch"] == "rv32imc" and c3["flash_with"] == "esptool" and len(c3["partitions"]) == 6


def test_compile_board_refuses_what_does_not_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    model = mlperf_path(MODELS["vww01"])
    c = compile_model(model)
    small = (ROOT / "boards/sim.toml").read_text().replace('name = "sim"', 'name = "tiny"')
    small = small.replace("arena_bytes = 262144", "arena_bytes = 50000").replace("bytes = 4194304", "bytes = 262144")
    monkeypatch.setattr(boards, "BOARDS_DIR", tmp_path)
    (tmp_path / "tiny.toml").write_text(small)
    out = tmp_path / "vww.eai"
    assert main(["compile", str(model), "-o", str(out), "--board", "tiny"]) == 1
    err = capsys.readouterr().err
    slot = (262144 - 8192) // 2 // 4096 * 4096
    assert f"({c.blob_bytes - slot:,} bytes too many)" in err
    assert f"({c.arena_bytes - 50000:,} bytes too many)" in err
    assert err.count("\n") == 1 and not out.exists()
    monkeypatch.undo()
    assert main(["compile", str(model), "-o", str(out), "--board", "esp32"]) == 0
    assert "fits esp32" in capsys.readouterr().out and out.exists()


def test_build_esp_without_platformio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EdgeAIError, match="pip install platformio"):
        build_firmware(load_board("esp32c3"))


def test_flash_sim_file_then_boot(tmp_path: Path) -> None:
    """`edgeai flash --board sim --model` writes the simulator's flash file: it boots with the
    model active. A corrupt blob is refused before anything is written."""
    kws = compile_model(mlperf_path(MODELS["kws01"])).data
    model = tmp_path / "kws.eai"
    model.write_bytes(kws)
    flash_file = tmp_path / "flash.bin"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEAI_SIM_FLASH": str(flash_file)}
    bad = tmp_path / "bad.eai"
    bad.write_bytes(kws[:-10])
    run = [sys.executable, "-m", "edgeai", "flash", "--board", "sim", "--model"]
    proc = subprocess.run([*run, str(bad)], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and not flash_file.exists() and proc.stderr.count("\n") == 1
    proc = subprocess.run([*run, str(model)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert flash_file.stat().st_size == load_board("sim").flash_bytes
    with Device.open(board="sim", flash=flash_file) as dev:
        assert dev.has_model(kws) and dev.info.active_slot == 0


def test_map_windows_and_flash_timing() -> None:
    """What the board files say the chips map beside an active model, and the SPI NOR maxima
    the host plans with: the ESP32's 64 data pages less 24 for the app and 1 for the slot table
    leave 19 per model, exactly a slot; the others map more than a slot."""
    want = {"esp32": 19 * 65536, "esp32c3": 51 * 65536, "esp32s3": 243 * 65536, "esp32c6": 115 * 65536}
    for name, limit in want.items():
        b = load_board(name)
        assert b.map_bytes == limit and b.map_window is not None and b.map_window.page_bytes == 65536
        assert (b.flash_timing.sector_erase_s, b.flash_timing.page_program_s, b.flash_timing.page_bytes) == (
            0.4, 0.003, 256)  # fmt: skip
    assert load_board("esp32").map_bytes == load_board("esp32").slot_bytes == 1_245_184
    assert load_board("sim").map_bytes is None and load_board("qemu-rv32").map_bytes is None
    b = load_board("esp32")
    assert b.misfits(1_245_184, 0) == []
    assert b.misfits(1_245_185, 0) == [
        "the blob is 1,245,185 bytes, a model slot on esp32 holds 1,245,184 (1 bytes too many)",
        "esp32 maps at most 1,245,184 bytes of a model beside the active one (64 pages of 64 KiB, 24 kept for "
        "the app) (1 bytes too many)",
    ]


def test_compile_board_refuses_a_model_too_big_to_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 1,312,400-byte blob (one 1300 x 1000 fully connected layer): `edgeai compile --board
    esp32` says by how much it misses the slot and the ESP32's map window; the ESP32-C3 maps
    more than a slot, so only the slot is named there."""
    import numpy as np

    from .test_onnx_frontend import Net

    net = Net([1, 1300])
    model = net.save(tmp_path / "big.onnx", net.node("Gemm", ["input", net.w(1000, 1300), net.w(1000)], transB=1))
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).standard_normal((2, 1, 1300)).astype(np.float32))
    out = tmp_path / "big.eai"
    args = ["compile", str(model), "--calib", str(tmp_path / "calib.npy"), "-o", str(out)]
    assert main([*args, "--board", "esp32"]) == 1
    err = capsys.readouterr().err
    assert "the blob is 1,312,400 bytes, a model slot on esp32 holds 1,245,184 (67,216 bytes too many)" in err
    assert "esp32 maps at most 1,245,184 bytes of a model beside the active one" in err
    assert err.count("(67,216 bytes too many)") == 2 and err.count("\n") == 1 and not out.exists()
    assert main([*args, "--board", "esp32c3"]) == 1
    err = capsys.readouterr().err
    assert "(67,216 bytes too many)" in err and "maps at most" not in err
