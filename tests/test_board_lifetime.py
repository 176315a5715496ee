"""Whose flash an emulated board uses, and how long the board lives (issue 12):
one board per flash file, the second refused with a message that says what to do; a board that
runs only what it validated, whatever is written to its flash file underneath; and a board that
ends with the edgeai process that started it, however that process ends."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai.blob import _HEADER
from edgeai.boards import load_board
from edgeai.compiler import compile_onnx
from edgeai.device import Device
from edgeai.errors import EdgeAIError
from edgeai.link import DeviceError
from edgeai.ref import Interpreter

from .test_onnx_frontend import Net

ROOT = Path(__file__).resolve().parent.parent
HAVE_QEMU = all(shutil.which(t) for t in ("qemu-system-riscv32", "riscv64-unknown-elf-gcc"))
FLASH_VAR = {"sim": "EDGEAI_SIM_FLASH", "qemu-rv32": "EDGEAI_QEMU_FLASH"}
GONE_WITHIN = 3.0  # seconds for a board to end after its edgeai process has
LINUX = sys.platform.startswith("linux")  # the tests find processes through /proc

pytestmark = pytest.mark.skipif(not LINUX, reason="finds processes and their parents through /proc (Linux)")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small two-layer model (its weights are most of its bytes)."""
    tmp = tmp_path_factory.mktemp("model")
    net = Net([1, 32])
    x = net.node("Relu", [net.node("Gemm", ["input", net.w(32, 64), net.w(64)])])
    path = net.save(tmp / "mlp.onnx", net.node("Gemm", [x, net.w(64, 10)]))
    np.save(tmp / "calib.npy", np.random.default_rng(0).standard_normal((16, 1, 32)).astype(np.float32))
    compiled, _ = compile_onnx(path, tmp / "calib.npy")
    return compiled.data


INPUTS = np.random.default_rng(1).integers(-128, 128, size=(8, 32), dtype=np.int8)


def answers(dev: Device, data: bytes) -> list[np.ndarray[Any, Any]]:
    blob = Interpreter(data).blob
    return [dev.run(blob, [x])[0][0] for x in INPUTS]


def reference(data: bytes) -> list[np.ndarray[Any, Any]]:
    ref = Interpreter(data)
    return [ref.run([x])[0] for x in INPUTS]


def same(a: list[np.ndarray[Any, Any]], b: list[np.ndarray[Any, Any]]) -> bool:
    return all(np.array_equal(x.reshape(-1), y.reshape(-1)) for x, y in zip(a, b, strict=True))


def need(board: str) -> None:
    if board == "qemu-rv32" and not HAVE_QEMU:
        pytest.skip("qemu-system-riscv32 or riscv64-unknown-elf-gcc absent: apt-get install qemu-system-misc "
                    "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf")  # fmt: skip


def edgeai(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", "edgeai", *args], capture_output=True, text=True, env=full)


# -- processes, through /proc ----------------------------------------------------------------------
def _stat(pid: int) -> tuple[str, int] | None:
    """A process's state letter and parent, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """Whether any thread of the process runs. A zombie has ended (nobody may reap it here), but a
    zombie leader whose other threads still exit (QEMU's) still holds its files."""
    if _stat(pid) is None:
        return False
    try:
        tasks = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return False
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        if text[text.rindex(")") + 2 :].split()[0] not in ("Z", "X"):
            return True
    return False


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            st = _stat(int(d.name))
            if st is not None and st[1] == pid:
                out.append(int(d.name))
    return out


def survivors(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


# -- (a) one board per flash file ------------------------------------------------------------------
@pytest.mark.parametrize("board", ["sim", "qemu-rv32"])
def test_second_board_on_one_flash_file_is_refused(tmp_path: Path, model: bytes, board: str) -> None:
    """A board runs on a flash file; a second one on the same file (the API, the CLI, the
    simulator by hand, `edgeai flash`) is refused in one line that names the file, the process
    that holds it and what to do; the first board's model stays whole and answers right; and
    once the first board stops, the file is free."""
    need(board)
    flash = tmp_path / "flash.bin"
    env = {FLASH_VAR[board]: str(flash)}
    eai = tmp_path / "mlp.eai"
    eai.write_bytes(model)
    want = reference(model)
    with Device.open(board=board, flash=flash) as first:
        first.upload(model)
        assert same(answers(first, model), want)

        with pytest.raises(EdgeAIError) as e:
            Device.open(board=board, flash=flash).close()
        msg = str(e.value)
        assert "\n" not in msg and str(flash) in msg, msg
        assert "in use" in msg and "wait" in msg and FLASH_VAR[board] in msg, msg
        m = re.search(r"process (\d+), ", msg)
        assert m, msg
        holder = int(m.group(1))
        if board == "sim":  # the first board itself, which this process started
            st = _stat(holder)
            assert st is not None and st[1] == os.getpid() and comm(holder) == "edgeai-sim"
        else:  # the host that runs the first QEMU board (QEMU holds the lock with it): this process
            assert holder == os.getpid()

        proc = edgeai("info", "--board", board, env=env)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert proc.stderr.count("\n") == 1 and str(flash) in proc.stderr and f"process {holder}" in proc.stderr

        proc = edgeai("flash", "--board", board, "--model", str(eai), env=env)
        assert proc.returncode == 1 and "in use" in proc.stderr and str(flash) in proc.stderr, proc.stderr

        if board == "sim":
            binary = ROOT / "build/host/edgeai-sim"
            proc = subprocess.run([str(binary), "--flash", str(flash)], capture_output=True, text=True, timeout=10)
            assert proc.returncode == 3 and str(flash) in proc.stderr and "in use" in proc.stderr, proc.stderr

        assert first.hello().active_slot is not None and first.has_model(model)
        assert same(answers(first, model), want)
        first.reset()
        assert first.has_model(model) and same(answers(first, model), want)
    with Device.open(board=board, flash=flash) as again:
        assert again.has_model(model) and same(answers(again, model), want)


# -- (b) the flash file written underneath a running board -----------------------------------------
OVERWRITE = """
import sys
path, off, n, how = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(path, "r+b") as f:  # no lock: a process that ignores it
    f.seek(off)
    old = f.read(n)
    f.seek(off)
    f.write(bytes(b ^ 0x5A for b in old) if how == "xor" else bytes(n))
"""


@pytest.mark.parametrize("board", ["sim", "qemu-rv32"])
def test_flash_written_underneath_a_running_board(tmp_path: Path, model: bytes, board: str) -> None:
    """Another process, ignoring the lock, changes the weights of the active model in the flash
    file, then zeroes the whole active slot: the running board still answers from the model it
    validated (also after a RESET, which reloads its flash). Restarted, it reads the file again,
    finds the model does not check out and refuses to run it (NO_MODEL). (QEMU's CFI flash is
    read into QEMU's memory at boot and written through, as the simulator's now is.)"""
    need(board)
    flash = tmp_path / "flash.bin"
    want = reference(model)
    d_off, d_bytes = _HEADER.unpack_from(model)[15:17]  # the blob's data section: the weights
    assert d_bytes > len(model) // 2
    with Device.open(board=board, flash=flash) as dev:
        dev.upload(model)
        assert same(answers(dev, model), want)
        slot = load_board(board).slot_offset(dev.info.active_slot or 0)
        before = flash.read_bytes()
        for off, n, how in ((slot + d_off, d_bytes, "xor"), (slot, len(model), "zero")):
            subprocess.run([sys.executable, "-c", OVERWRITE, str(flash), str(off), str(n), how], check=True)
            assert flash.read_bytes() != before
            assert same(answers(dev, model), want), f"the board ran the {how}ed bytes it never validated"
        dev.reset()
        assert dev.has_model(model) and same(answers(dev, model), want)
    with Device.open(board=board, flash=flash) as dev:
        assert dev.info.active_slot is None
        with pytest.raises(DeviceError, match="NO_MODEL"):
            dev.invoke(0, 1)


# -- (c) a board ends with the edgeai process that started it ----------------------------------------
SCRIPT = """
import sys, time
from pathlib import Path
from edgeai.device import Device
dev = Device.open(board=sys.argv[1], flash=Path(sys.argv[2]))
print("board open:", dev.info.board, flush=True)
time.sleep(600)
"""

CASES = [
    ("sim", "cli", signal.SIGTERM),
    ("sim", "cli", signal.SIGKILL),
    ("sim", "script", signal.SIGTERM),
    ("sim", "script", signal.SIGKILL),
    ("qemu-rv32", "cli", signal.SIGTERM),
    ("qemu-rv32", "script", signal.SIGKILL),
]


@pytest.mark.parametrize(("board", "how", "sig"), CASES, ids=[f"{b}-{h}-{s.name}" for b, h, s in CASES])
def test_board_ends_with_its_edgeai_process(tmp_path: Path, board: str, how: str, sig: signal.Signals) -> None:
    """An edgeai process (the CLI: `edgeai sim` or `edgeai repl`; or a Python script that opens
    a board) is ended by SIGTERM or SIGKILL: every process it started (the board, QEMU's
    watchdog) is gone within GONE_WITHIN seconds, the CLI ends cleanly on SIGTERM (status 143,
    no traceback), and a new board can take the flash file."""
    need(board)
    flash = tmp_path / "flash.bin"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", FLASH_VAR[board]: str(flash)}
    if how == "script":
        cmd = [sys.executable, "-c", SCRIPT, board, str(flash)]
        ready = "board open:"
    elif board == "sim":
        cmd = [sys.executable, "-m", "edgeai", "sim", "--flash", str(flash)]
        ready = "simulated board on"
    else:
        cmd = [sys.executable, "-m", "edgeai", "repl", "--board", board]
        ready = "edgeai console"
    host = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    started: list[int] = []
    try:
        assert host.stdout is not None
        seen = ""
        deadline = time.monotonic() + 60
        while ready not in seen and time.monotonic() < deadline and host.poll() is None:
            if select.select([host.stdout], [], [], 0.5)[0]:
                seen += host.stdout.readline()
        assert ready in seen, (seen, host.stderr.read() if host.poll() is not None and host.stderr else "")
        started = children(host.pid)
        names = sorted(comm(p) for p in started)
        assert ("edgeai-sim" in names) if board == "sim" else any(n.startswith("qemu-system") for n in names), names
        host.send_signal(sig)
        code = host.wait(10)
        left = survivors(started, GONE_WITHIN)
        assert not left, f"still running {GONE_WITHIN} s after edgeai ended: {[(p, comm(p)) for p in left]}"
        err = host.stderr.read() if host.stderr else ""
        if how == "cli" and sig == signal.SIGTERM:
            assert code == 128 + signal.SIGTERM and "Traceback" not in err, err
            assert "terminated" in err
        else:
            assert code == -sig
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        for pid in started:  # what a failing run left behind (today's main leaves boards running)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        for s in (host.stdin, host.stdout, host.stderr):
            if s is not None:
                s.close()
    with Device.open(board=board, flash=flash) as dev:  # the flash is free for the next board
        assert dev.info.board == board
