"""ESP boards without a board: the binary partition table, the regions ``edgeai flash`` writes,
the merged flash image, and esptool's failures as one-line errors.

The ESP32-C3 application and bootloader images are built here, in tmp_path, from a tiny
freestanding C program (riscv64-unknown-elf-gcc, then esptool's elf2image); no binary is
committed."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from edgeai.boards import Board, Partition, load_board
from edgeai.errors import EdgeAIError
from edgeai.esp import (
    MD5_ENTRY_HEAD,
    FirmwareFiles,
    app_image_info,
    esp_regions,
    find_firmware,
    flash_esp,
    merge_esp,
    partition_table_bin,
    read_partition_table_bin,
    same_layout,
)
from edgeai.flashimage import RECORD_MAGIC

ROOT = Path(__file__).resolve().parent.parent
GCC = "riscv64-unknown-elf-gcc"

esptool_cmds = pytest.importorskip("esptool.cmds")


@pytest.fixture(scope="module")
def c3() -> Board:
    return load_board("esp32c3")


# -- the partition table ------------------------------------------------------------------------------
def test_partition_table_layout(c3: Board) -> None:
    table = partition_table_bin(c3.partitions)
    n = len(c3.partitions)
    assert len(table) == 0xC00
    for k, p in enumerate(c3.partitions):
        magic, ptype, _, offset, size, label, flags = struct.unpack_from("<2sBBII16sI", table, 32 * k)
        assert magic == b"\xaa\x50"
        assert (label.rstrip(b"\0").decode(), offset, size, flags) == (p.name, p.offset, p.size, 0)
        assert ptype == (0x00 if p.type == "app" else 0x01)
    # the CSV's names and numbers, as ESP-IDF encodes them
    expect = {"nvs": (1, 0x02), "phy_init": (1, 0x01), "factory": (0, 0x00), "eai_table": (1, 0x40)}
    expect |= {"model_a": (1, 0x41), "model_b": (1, 0x42)}
    got = {
        struct.unpack_from("<16s", table, 32 * k + 12)[0].rstrip(b"\0").decode(): table[32 * k + 2 : 32 * k + 4]
        for k in range(n)
    }
    assert {name: (t[0], t[1]) for name, t in got.items()} == expect
    # the MD5 line right after the entries, then 0xFF to the end
    assert table[32 * n : 32 * n + 16] == MD5_ENTRY_HEAD
    assert table[32 * n + 16 : 32 * n + 32] == hashlib.md5(table[: 32 * n]).digest()
    assert table[32 * (n + 1) :] == b"\xff" * (0xC00 - 32 * (n + 1))


def test_partition_table_round_trip(c3: Board) -> None:
    table = partition_table_bin(c3.partitions)
    assert read_partition_table_bin(table) == list(c3.partitions)
    assert read_partition_table_bin(table + b"\xff" * 0x400) == list(c3.partitions)  # a whole 4 KiB sector read back


def test_partition_table_names_and_flags() -> None:
    parts = (
        Partition("otadata", 0xD000, 0x2000, "data", "ota"),
        Partition("ota_0", 0x20000, 0x100000, "app", "ota_0", "encrypted"),
        Partition("fs", 0x120000, 0x10000, "data", "littlefs", "readonly"),
        Partition("custom", 0x130000, 0x1000, "0x40", "0x7", "encrypted:readonly"),
        Partition("blank", 0x131000, 0x1000, "data", ""),
    )
    table = partition_table_bin(parts)
    entries = [struct.unpack_from("<2sBBII16sI", table, 32 * k) for k in range(len(parts))]
    assert [(e[1], e[2], e[6]) for e in entries] == [(1, 0x00, 0), (0, 0x10, 1), (1, 0x83, 2), (0x40, 7, 3), (1, 6, 0)]
    back = read_partition_table_bin(table)
    assert same_layout(back, parts)
    assert [p.flags for p in back] == ["", "encrypted", "readonly", "encrypted:readonly", ""]
    assert back[4].subtype == "undefined"


@pytest.mark.parametrize("at", [0x0C, 32 * 3 + 20, 32 * 6 + 20])  # an offset, a label byte, the digest itself
def test_partition_table_corrupt(c3: Board, at: int) -> None:
    table = bytearray(partition_table_bin(c3.partitions))
    table[at] ^= 0x01
    with pytest.raises(EdgeAIError, match="MD5"):
        read_partition_table_bin(bytes(table))


def test_partition_table_refusals() -> None:
    with pytest.raises(EdgeAIError, match="1 to 16 bytes"):
        partition_table_bin([Partition("a_name_of_17_byte", 0x9000, 0x1000, "data", "nvs")])
    with pytest.raises(EdgeAIError, match="neither a known name nor a number"):
        partition_table_bin([Partition("x", 0x9000, 0x1000, "data", "nfs")])
    with pytest.raises(EdgeAIError, match="not an ESP-IDF partition table"):
        read_partition_table_bin(b"\x00" * 0xC00)
    with pytest.raises(EdgeAIError, match="no end marker"):
        read_partition_table_bin(partition_table_bin([Partition("x", 0x9000, 0x1000, "data", "nvs")])[:64])


# -- fixture firmware, built here ---------------------------------------------------------------------
PROGRAM = r"""
static const char message[] = "edgeai esp fixture " WHAT;
volatile unsigned counter = 3;
unsigned table[16];

void _start(void) {
    for (;;) {
        counter += (unsigned char)message[counter % (sizeof message - 1)];
        table[counter & 15] = counter;
    }
}
"""

# ESP32-C3 memory (esptool's ESP32C3ROM.MEMORY_MAP, the TRM): IRAM 0x4037C000-0x403E0000 and DRAM
# 0x3FC80000-0x3FCE0000 are the same SRAM seen from the instruction and data buses (IRAM address =
# DRAM address + 0x700000), so the data goes at a DRAM address whose IRAM alias lies past the code.
LINK = """
ENTRY(_start)
MEMORY {{
  iram (rx) : ORIGIN = {iram:#x}, LENGTH = 0x8000
  dram (rw) : ORIGIN = {dram:#x}, LENGTH = 0x8000
}}
SECTIONS {{
  .text : {{ *(.text .text.*) }} > iram
  .rodata : {{ *(.rodata .rodata.* .srodata .srodata.*) }} > dram
  .data : {{ *(.data .data.* .sdata .sdata.*) }} > dram
  .bss (NOLOAD) : {{ *(.bss .bss.* .sbss .sbss.* COMMON) }} > dram
  /DISCARD/ : {{ *(.comment) *(.note*) *(.riscv.attributes) *(.eh_frame*) }}
}}
"""


def _elf(tmp: Path, name: str, iram: int, dram: int) -> bytes:
    gcc = shutil.which(GCC)
    if gcc is None:
        pytest.skip(
            f"{GCC} is not on PATH: it builds the ESP32-C3 fixture images (apt-get install gcc-riscv64-unknown-elf)"
        )
    (tmp / f"{name}.c").write_text(PROGRAM)
    (tmp / f"{name}.ld").write_text(LINK.format(iram=iram, dram=dram))
    elf = tmp / f"{name}.elf"
    subprocess.run(
        [
            gcc,
            "-march=rv32imc",
            "-mabi=ilp32",
            "-Os",
            "-ffreestanding",
            "-nostdlib",
            "-nostartfiles",
            f'-DWHAT="{name}"',
            "-Wl,--build-id=none",
            "-T",
            str(tmp / f"{name}.ld"),
            "-o",
            str(elf),
            str(tmp / f"{name}.c"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return elf.read_bytes()


def _image(elf: bytes, **kw: Any) -> bytes:
    from edgeai.esp import _captured

    args = {"flash_mode": "dio", "flash_freq": "80m", "flash_size": "4MB"} | kw
    with _captured():  # elf2image talks; keep it quiet
        data = esptool_cmds.elf2image(elf, chip="esp32c3", **args)
    assert isinstance(data, bytes)
    return data


@pytest.fixture(scope="module")
def elves(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("esp-fixture")
    return {
        "app": _elf(tmp, "app", 0x40380000, 0x3FC90000),
        "boot": _elf(tmp, "bootloader", 0x403C8000, 0x3FCD8000),
    }


@pytest.fixture(scope="module")
def images(elves: dict[str, bytes]) -> dict[str, bytes]:
    # the bootloader with other flash settings than the board's: esptool sets the board's when it merges
    return {
        "app": _image(elves["app"]),
        "boot": _image(elves["boot"], flash_mode="qio", flash_freq="40m", flash_size="2MB"),
    }


@pytest.fixture(scope="module")
def blob() -> bytes:
    from edgeai.compiler import compile_model

    digits = ROOT / "models" / "digits"
    return compile_model(digits / "digits_small.onnx", digits / "calib.npy").data


def _firmware(tmp: Path, boot: bytes, app: bytes, table: bytes | None) -> FirmwareFiles:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "bootloader.bin").write_bytes(boot)
    (tmp / "firmware.bin").write_bytes(app)
    if table is not None:
        (tmp / "partitions.bin").write_bytes(table)
    return FirmwareFiles(
        tmp / "bootloader.bin", tmp / "partitions.bin" if table is not None else None, tmp / "firmware.bin"
    )


def test_fixture_images_are_esp32c3(images: dict[str, bytes]) -> None:
    info = app_image_info(images["app"], "esp32c3")
    assert "Chip ID: 5 (ESP32-C3)" in info
    assert "Entry point: 0x40380000" in info
    assert "Flash mode: DIO" in info and "Flash size: 4MB" in info and "Flash freq: 80m" in info
    assert "invalid" not in info


# -- the regions and the merged image ----------------------------------------------------------------
def test_merged_image(c3: Board, images: dict[str, bytes], blob: bytes, tmp_path: Path) -> None:
    fw = find_firmware(
        c3, _firmware(tmp_path / "fw", images["boot"], images["app"], partition_table_bin(c3.partitions)).app.parent
    )
    assert fw.partitions is not None
    regions = esp_regions(c3, fw, blob)
    assert [(r.name, r.offset) for r in regions][:3] == [
        ("bootloader", 0x0),
        ("partition table", 0x8000),
        ("app", 0x10000),
    ]
    img = merge_esp(c3, regions)
    assert len(img) == c3.flash_bytes == 4 * 1024 * 1024

    # the bootloader at 0x0, its header carrying the board's flash settings
    boot = img[: len(images["boot"])]
    assert "Flash mode: QIO" in app_image_info(images["boot"], "esp32c3")
    info = app_image_info(boot, "esp32c3")
    assert "Chip ID: 5 (ESP32-C3)" in info and "Entry point: 0x403c8000" in info
    assert "Flash mode: DIO" in info and "Flash size: 4MB" in info and "Flash freq: 80m" in info
    assert "invalid" not in info  # its SHA-256 digest recomputed after the header changed
    assert boot[4:] != images["boot"][4:] and boot[:2] == images["boot"][:2]
    assert img[len(images["boot"]) : 0x8000] == b"\xff" * (0x8000 - len(images["boot"]))

    # the partition table at 0x8000, as the board's layout
    assert read_partition_table_bin(img[0x8000:0x9000]) == list(c3.partitions)
    assert img[0x8C00:0x10000] == b"\xff" * (0x10000 - 0x8C00)  # the rest of its sector, nvs, phy_init: erased

    # the app at 0x10000 (esptool changes only the image at the bootloader's offset)
    app = img[0x10000 : 0x10000 + len(images["app"])]
    assert app == images["app"]
    info = app_image_info(app, "esp32c3")
    assert "Chip ID: 5 (ESP32-C3)" in info
    assert "(valid)" in info and "Checksum:" in info and "Validation hash:" in info and "invalid" not in info

    # the slot table's first sector names the blob in slot A; the second is erased
    table = c3.partition("eai_table").offset
    magic, gen, slot, size, crc, rec_crc = struct.unpack_from("<IIB3xII8xI", img, table)
    assert (magic, gen, slot, size, crc) == (RECORD_MAGIC, 1, 0, len(blob), zlib.crc32(blob))
    assert rec_crc == zlib.crc32(img[table : table + 28])
    assert img[table + 32 : table + 0x1000] == b"\xff" * (0x1000 - 32)
    assert img[table + 0x1000 : table + 0x2000] == b"\xff" * 0x1000

    # the blob byte for byte in model_a, then erased flash; model_b untouched
    a = c3.partition("model_a")
    assert img[a.offset : a.offset + len(blob)] == blob
    assert img[a.offset + len(blob) : a.offset + a.size] == b"\xff" * (a.size - len(blob))
    b = c3.partition("model_b")
    assert img[b.offset : b.offset + b.size] == b"\xff" * b.size


def test_model_only(c3: Board, blob: bytes) -> None:
    regions = esp_regions(c3, None, blob)
    assert [r.name for r in regions] == ["slot table A", "slot table B", "model (slot A)"]
    img = merge_esp(c3, regions)
    assert img[: c3.partition("eai_table").offset] == b"\xff" * c3.partition("eai_table").offset


def test_partition_table_from_the_board(c3: Board, images: dict[str, bytes], tmp_path: Path) -> None:
    fw = _firmware(tmp_path, images["boot"], images["app"], None)
    assert find_firmware(c3, tmp_path).partitions is None
    regions = {r.name: r for r in esp_regions(c3, fw, None)}
    assert regions["partition table"].data == partition_table_bin(c3.partitions)
    assert "model (slot A)" not in regions


# -- refusals -------------------------------------------------------------------------------------------
def test_firmware_and_board_disagree(c3: Board, images: dict[str, bytes], tmp_path: Path) -> None:
    other = tuple(replace(p, size=0x100000) if p.name == "model_b" else p for p in c3.partitions)
    fw = _firmware(tmp_path, images["boot"], images["app"], partition_table_bin(other))
    with pytest.raises(EdgeAIError, match="the board file and the firmware disagree") as e:
        esp_regions(c3, fw, None)
    assert "\n" not in str(e.value)


def test_app_too_big(c3: Board, elves: dict[str, bytes], images: dict[str, bytes], tmp_path: Path) -> None:
    big = _image(elves["app"], pad_to_size="2MB")  # a whole image, padded by esptool to 2 MiB
    assert len(big) == 2 * 1024 * 1024
    fw = _firmware(tmp_path, images["boot"], big, None)
    too_many = len(big) - c3.partition("factory").size
    with pytest.raises(EdgeAIError, match=f"factory partition holds 1,572,864 \\({too_many:,} bytes too many\\)"):
        esp_regions(c3, fw, None)


def test_app_for_another_chip(c3: Board, images: dict[str, bytes], tmp_path: Path) -> None:
    app = bytearray(images["app"])
    app[12:14] = struct.pack("<H", 9)  # the ESP32-S3's image chip id; nothing else fixed up
    fw = _firmware(tmp_path, images["boot"], bytes(app), None)
    with pytest.raises(EdgeAIError, match="the app is built for ESP32-S3, board esp32c3 is an ESP32-C3"):
        esp_regions(c3, fw, None)


def test_not_an_image(c3: Board, images: dict[str, bytes], tmp_path: Path) -> None:
    fw = _firmware(tmp_path, images["boot"], b"\x7fELF" + images["app"][4:], None)
    with pytest.raises(EdgeAIError, match=r"not an ESP app image \(starts with 0x7f, not 0xe9\)"):
        esp_regions(c3, fw, None)
    with pytest.raises(EdgeAIError, match="not an ESP image esptool can read"):
        app_image_info(b"hello", "esp32c3")


def test_corrupt_app(c3: Board, images: dict[str, bytes], tmp_path: Path) -> None:
    app = bytearray(images["app"])
    app[40] ^= 0xFF  # a byte of the first segment's data
    fw = _firmware(tmp_path, images["boot"], bytes(app), None)
    with pytest.raises(EdgeAIError, match=r"(checksum|digest) is wrong"):
        esp_regions(c3, fw, None)
    assert "invalid" in app_image_info(bytes(app), "esp32c3")


def test_missing_firmware(c3: Board, tmp_path: Path) -> None:
    with pytest.raises(EdgeAIError) as e:
        find_firmware(c3, tmp_path / "nowhere")
    msg = str(e.value)
    assert "nowhere" in msg and "`edgeai build --board esp32c3`" in msg and "--firmware DIR" in msg
    (tmp_path / "bootloader.bin").write_bytes(b"\xe9")
    with pytest.raises(EdgeAIError, match=r"no firmware\.bin: run `edgeai build"):
        find_firmware(c3, tmp_path)


def test_not_an_esp_board(blob: bytes) -> None:
    with pytest.raises(EdgeAIError, match="not an ESP-IDF board"):
        esp_regions(load_board("sim"), None, blob)


# -- talking to a chip --------------------------------------------------------------------------------------
def _logger() -> object:
    from esp_pylib.logger import EspLog

    return EspLog.instance


def test_flash_no_such_port(c3: Board, blob: bytes) -> None:
    before = _logger()
    t = time.monotonic()
    with pytest.raises(EdgeAIError) as e:
        flash_esp(c3, "/dev/ttyUSB-edgeai-none", esp_regions(c3, None, blob), connect_attempts=1)
    assert time.monotonic() - t < 5
    msg = str(e.value)
    assert msg.startswith("/dev/ttyUSB-edgeai-none: no such serial port") and "\n" not in msg
    assert _logger() is before


@pytest.fixture
def pty() -> Iterator[str]:
    """A serial port nobody answers on: a pseudo-terminal's far end, kept open and silent."""
    if not hasattr(os, "openpty"):
        pytest.skip("no pseudo-terminals on this system")
    main, sub = os.openpty()
    try:
        yield os.ttyname(sub)
    finally:
        os.close(main)
        os.close(sub)


def test_flash_silent_port(c3: Board, blob: bytes, pty: str, capfd: Any) -> None:
    port = pty
    before = _logger()
    t = time.monotonic()
    with pytest.raises(EdgeAIError) as e:
        flash_esp(c3, port, esp_regions(c3, None, blob), connect_attempts=1)
    assert time.monotonic() - t < 5
    assert str(e.value) == f"{port}: no ESP chip answered: hold BOOT and press RESET, check the cable and the port"
    assert _logger() is before
    assert capfd.readouterr() == ("", "")  # esptool's messages (a pty has no RTS/DTR to reset with) kept, not printed


def test_flash_busy_port(c3: Board, blob: bytes, pty: str) -> None:
    import serial

    port = pty
    with serial.Serial(port, exclusive=True):
        with pytest.raises(EdgeAIError, match=f"^{port} is busy: close the program using it"):
            flash_esp(c3, port, esp_regions(c3, None, blob), connect_attempts=1)


class FakeESP:
    """What flash_esp needs of an ESPLoader, and a record of what was done to it."""

    IS_STUB = False

    def __init__(self, chip: str) -> None:
        self.CHIP_NAME = chip
        self.calls: list[str] = []
        self.closed = False
        port = self

        class _Port:
            def close(self) -> None:
                port.closed = True

        self._port = _Port()

    def change_baud(self, baud: int) -> None:
        self.calls.append(f"baud {baud}")


def _fake_esptool(monkeypatch: pytest.MonkeyPatch, esp: FakeESP, fail: str | None = None) -> None:
    from esptool.logger import log

    def detect_chip(port: str, baud: int, **kw: Any) -> FakeESP:
        esp.calls.append(f"detect {baud}")
        return esp

    def write_flash(e: FakeESP, addr_data: list[tuple[int, bytes]], **kw: Any) -> None:
        e.calls.append(f"write {kw}")
        for addr, data in addr_data:  # as esptool's write_flash reports itself
            log.print(f"\nWriting input at {addr:#010x}...")
            with log.progress(total=len(data), unit="B") as bar:
                for _ in range(0, len(data), 0x4000):
                    bar.update(min(0x4000, len(data)), description=f"Writing at {addr:#010x}")
            if fail == "md5":
                raise esptool_cmds.FatalError("MD5 of file does not match data in flash!")

    monkeypatch.setattr(esptool_cmds, "detect_chip", detect_chip)
    monkeypatch.setattr(esptool_cmds, "run_stub", lambda e: e)
    monkeypatch.setattr(esptool_cmds, "attach_flash", lambda e: e.calls.append("attach"))
    monkeypatch.setattr(esptool_cmds, "write_flash", write_flash)
    monkeypatch.setattr(esptool_cmds, "verify_flash", lambda e, ad, **kw: e.calls.append("verify"))
    monkeypatch.setattr(esptool_cmds, "reset_chip", lambda e, mode: e.calls.append(mode))


def test_flash_sequence(c3: Board, blob: bytes, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    esp = FakeESP("ESP32-C3")
    _fake_esptool(monkeypatch, esp)
    seen: list[tuple[str, int, int]] = []
    before = _logger()
    regions = esp_regions(c3, None, blob)
    assert flash_esp(c3, "/dev/fake", regions, baud=921600, progress=lambda *a: seen.append(a)) == "ESP32-C3"
    assert esp.calls == [
        "detect 115200",
        "baud 921600",
        "attach",
        "write {'flash_mode': 'dio', 'flash_freq': '80m', 'flash_size': '4MB'}",
        "verify",
        "hard-reset",
    ]
    assert esp.closed and _logger() is before
    stages = [s for s, _, _ in seen]
    assert stages[0] == "connect" and stages[-1] == "verify"
    for r in regions:  # every region's bar runs to its end under its own name
        assert (r.name, len(r.data), len(r.data)) in seen
    assert capsys.readouterr().out == ""  # nothing printed


def test_flash_wrong_chip(c3: Board, blob: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    esp = FakeESP("ESP32-S3")
    _fake_esptool(monkeypatch, esp)
    with pytest.raises(EdgeAIError, match="found an ESP32-S3, but board esp32c3 is an ESP32-C3"):
        flash_esp(c3, "/dev/fake", esp_regions(c3, None, blob))
    assert esp.closed and not any(c.startswith("write") for c in esp.calls)


def test_flash_verify_fails(c3: Board, blob: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    esp = FakeESP("ESP32-C3")
    _fake_esptool(monkeypatch, esp, fail="md5")
    with pytest.raises(EdgeAIError, match="/dev/fake: the flash does not hold what was written"):
        flash_esp(c3, "/dev/fake", esp_regions(c3, None, blob))
    assert "hard-reset" not in esp.calls and esp.closed


def test_cli_merged_image_passes_esptool_image_info(images: dict[str, bytes], tmp_path: Path) -> None:
    """`edgeai flash --board esp32c3 --output image.bin --model kws.eai --firmware DIR`, then the
    esptool command itself reads the application at the app offset; the model is at model_a."""
    from edgeai.compiler import compile_model

    from .conftest import MODELS, mlperf_path

    kws = compile_model(mlperf_path(MODELS["kws01"])).data
    (tmp_path / "kws.eai").write_bytes(kws)
    _firmware(tmp_path / "fw", images["boot"], images["app"], None)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    image = tmp_path / "image.bin"
    proc = subprocess.run(
        [sys.executable, "-m", "edgeai", "flash", "--board", "esp32c3", "--output", str(image),
         "--model", str(tmp_path / "kws.eai"), "--firmware", str(tmp_path / "fw")],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    board = load_board("esp32c3")
    data = image.read_bytes()
    app_off = int(board.flash["app"])
    (tmp_path / "app.bin").write_bytes(data[app_off : app_off + len(images["app"])])
    info = subprocess.run([sys.executable, "-m", "esptool", "image-info", str(tmp_path / "app.bin")],
                          capture_output=True, text=True)  # fmt: skip
    assert info.returncode == 0, info.stderr
    assert "ESP32-C3" in info.stdout and "valid" in info.stdout and "invalid" not in info.stdout
    a = board.partition("model_a").offset
    assert data[a : a + len(kws)] == kws
    t = board.partition("eai_table").offset
    assert int.from_bytes(data[t + 16 : t + 20], "little") == zlib.crc32(kws)
