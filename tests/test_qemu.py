"""The qemu-rv32 board: the firmware cross-compiled for RV32IMC, booted by QEMU from its flash
file, reached over socket:// through pyserial. Needs gcc-riscv64-unknown-elf,
picolibc-riscv64-unknown-elf and qemu-system-misc (.ci/run installs them); in CI their absence
fails rather than skips."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from edgeai.bench import bench
from edgeai.boards import load_board
from edgeai.compiler import compile_model
from edgeai.device import Device
from edgeai.errors import EdgeAIError
from edgeai.flash import flash
from edgeai.link import Link
from edgeai.ref import Interpreter
from edgeai.transport import Qemu, open_port
from edgeai.verify import verify

from .conftest import MODELS, mlperf_path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("riscv64-unknown-elf-gcc", "qemu-system-riscv32")
_missing = [t for t in TOOLS if shutil.which(t) is None]
if _missing:
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must run the qemu-rv32 tests, but {', '.join(_missing)} is missing: see .ci/run")
    pytest.skip(f"{', '.join(_missing)} absent: apt-get install gcc-riscv64-unknown-elf "
                "picolibc-riscv64-unknown-elf qemu-system-misc", allow_module_level=True)  # fmt: skip

BOARD = load_board("qemu-rv32")


@pytest.fixture(scope="module")
def kws() -> bytes:
    return compile_model(mlperf_path(MODELS["kws01"])).data


def test_layout_matches_the_firmware() -> None:
    """boards/qemu-rv32.toml and firmware/ports/qemu-rv32/layout.h describe one flash."""
    text = (ROOT / "firmware/ports/qemu-rv32/layout.h").read_text()
    c = {m[1]: int(m[2], 16) for m in re.finditer(r"#define (QEMU_\w+) (0x[0-9a-fA-F]+)u", text)}
    assert c["QEMU_FLASH_BYTES"] == BOARD.flash_bytes and c["QEMU_FLASH_BLOCK"] == BOARD.erase_bytes
    for name, off, size in (("eai_table", "QEMU_TABLE_OFF", "QEMU_TABLE_BYTES"),
                            ("model_a", "QEMU_SLOT_A_OFF", "QEMU_SLOT_BYTES"),
                            ("model_b", "QEMU_SLOT_B_OFF", "QEMU_SLOT_BYTES")):  # fmt: skip
        p = BOARD.partition(name)
        assert (p.offset, p.size) == (c[off], c[size])
    assert BOARD.slot_bytes == c["QEMU_SLOT_BYTES"]
    link = (ROOT / "firmware/ports/qemu-rv32/link.ld").read_text()
    assert f"LENGTH = {BOARD.ram_bytes // 1024}K" in link


@pytest.mark.parametrize("name", sorted(MODELS))
def test_verify_and_bench_on_qemu(tmp_path: Path, name: str) -> None:
    """Bit-exact with TFLite, edgeai.ref and the host C runtime; and the instruction counts of
    two runs, in two separate QEMU boots, are identical."""
    path = mlperf_path(MODELS[name])
    data = compile_model(path).data
    inputs = [mlperf_path("samples/kws01_sample0_mfcc_int8.bin")] if name == "kws01" else []
    flash_file = tmp_path / "flash.bin"
    with Device.open(board="qemu-rv32", flash=flash_file) as dev:
        assert dev.info.board == "qemu-rv32" and dev.info.slot_bytes == BOARD.slot_bytes
        report = verify(path, samples=3, input_files=inputs, device=dev)
        first = bench(dev, data, BOARD, name=name, runs=2)
    assert "board:qemu-rv32" in report.backends
    for pair in report.pairs:
        assert pair.compared_elements > 0 and pair.mismatched_elements == 0, pair
    with Device.open(board="qemu-rv32", flash=flash_file) as dev:
        assert dev.has_model(data)  # kept in flash across the reboot
        second = bench(dev, data, BOARD, name=name, runs=1)
    assert first.repeatable
    assert first.total_instructions is not None and first.total_instructions > 0
    assert [x.instructions for x in first.layers] == [x.instructions for x in second.layers]
    assert first.total_instructions == second.total_instructions
    conv = [t for t in first.by_type if t.macs]
    assert conv and all(t.instructions_per_mac is not None and t.instructions_per_mac > 1 for t in conv)


def test_flashed_model_is_active_at_boot(tmp_path: Path, kws: bytes) -> None:
    """`edgeai flash --model` writes app, slot table and model into the flash file; the board
    boots into that model, and the merged image (--output) is the same bytes."""
    flash_file = tmp_path / "flash.bin"
    r = flash(BOARD, kws, flash_file=flash_file)
    assert [w for w, _, _ in r.regions] == ["app", "slot table A", "slot table B", "model (slot A)"]
    image = tmp_path / "image.bin"
    flash(BOARD, kws, output=image)
    assert image.read_bytes() == flash_file.read_bytes()
    with Device.open(board="qemu-rv32", flash=flash_file) as dev:
        assert dev.has_model(kws) and dev.info.active_slot == 0
        blob = Interpreter(kws).blob
        x = np.fromfile(mlperf_path("samples/kws01_sample0_mfcc_int8.bin"), dtype=np.int8)
        (y,), _ = dev.run(blob, [x])
        assert np.array_equal(y, Interpreter(blob).run([x])[0])


def test_interrupted_upload_keeps_the_old_model(tmp_path: Path, kws: bytes) -> None:
    """QEMU killed (-9) in the middle of an upload, a few times at different points: the
    model in force before stays active and right."""
    ad01 = compile_model(mlperf_path(MODELS["ad01"])).data
    flash_file = tmp_path / "flash.bin"
    flash(BOARD, kws, flash_file=flash_file)
    x = np.fromfile(mlperf_path("samples/kws01_sample0_mfcc_int8.bin"), dtype=np.int8)
    blob = Interpreter(kws).blob
    (want,) = Interpreter(blob).run([x])
    for fraction in (0.1, 0.5, 0.97):
        q = Qemu(BOARD, flash_file)
        ser = open_port(q.start(), BOARD.baud)
        try:
            q.ready(ser)
            dev = Device(Link(ser, baud=BOARD.baud, retries=0))

            def cut(done: int, total: int, q: Qemu = q, fraction: float = fraction) -> None:
                if done >= fraction * total:
                    threading.Thread(target=q.kill).start()

            with pytest.raises(EdgeAIError):
                dev.upload(ad01, progress=cut)
        finally:
            ser.close()
            q.stop()
        with Device.open(board="qemu-rv32", flash=flash_file) as dev:
            assert dev.has_model(kws)
            (y,), _ = dev.run(blob, [x])
            assert np.array_equal(y, want)


def test_cli_flash_and_bench(tmp_path: Path, kws: bytes) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEAI_QEMU_FLASH": str(tmp_path / "flash.bin")}
    model = tmp_path / "kws.eai"
    model.write_bytes(kws)

    def edgeai(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edgeai", *args], capture_output=True, text=True, env=env)

    proc = edgeai("flash", "--board", "qemu-rv32", "--model", str(model))
    assert proc.returncode == 0 and "model (slot A)" in proc.stdout, proc.stderr
    out = tmp_path / "bench.json"
    proc = edgeai("bench", str(model), "--board", "qemu-rv32", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "the same counts every run" in proc.stdout and "instr/MAC" in proc.stdout
    import json

    r = json.loads(out.read_text())
    assert r["repeatable"] and r["total_instructions"] > 0 and len(r["layers"]) == len(Interpreter(kws).blob.ops)
    proc = edgeai("flash", "--board", "qemu-rv32", "--port", "/dev/ttyUSB0")
    assert proc.returncode == 1 and "flash is a file" in proc.stderr


def test_codesize_benchmark() -> None:
    """benchmarks/codesize.py prints `size` on the ELF and the split by part; the parts add up
    to the flash image the ELF loads."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks/codesize.py"), "--json", "/dev/stdout"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "riscv64-unknown-elf-size" in proc.stdout
    rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines() if line.split()[:1]}
    for part in ("core", "kernels", "port", "libc", "total"):
        assert part in rows
    text = int(rows["kernels"][0].replace(",", ""))
    assert 1000 < text < 64 * 1024  # a handful of kernels, not a library of them
    size_line = proc.stdout.splitlines()[2].split()  # text data bss dec hex filename
    flash_total = int(rows["total"][4].replace(",", ""))
    assert abs(flash_total - int(size_line[0]) - int(size_line[1])) < 64  # only alignment padding is unattributed
