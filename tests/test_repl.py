"""``edgeai repl`` driven through a real pseudo-terminal, on the simulated board."""

from __future__ import annotations

import os
import pty
import re
import select
import sys
import time
from pathlib import Path

from edgeai.blob import read_blob
from edgeai.compiler import compile_model

from .conftest import mlperf_path

ROOT = Path(__file__).resolve().parent.parent
PROMPT = b"edgeai> "


class Console:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def expect(self, marker: bytes = PROMPT, timeout: float = 10.0) -> str:
        """Everything up to and including ``marker``, as text with \\r\\n as \\n."""
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} within {timeout} s; got {self.buf[-2000:]!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    data = b""
                assert data, f"the console closed; got {self.buf[-2000:]!r}"
                self.buf += data
        head, _, self.buf = self.buf.partition(marker)
        return head.decode("utf-8", "replace").replace("\r\n", "\n")

    def send(self, line: str) -> str:
        os.write(self.fd, line.encode() + b"\n")
        return self.expect()


def test_repl_session(tmp_path: Path) -> None:
    kws = compile_model(mlperf_path("kws01/kws_ref_model.tflite")).data
    sample = mlperf_path("samples/kws01_sample0_mfcc_int8.bin")
    model = tmp_path / "kws.eai"
    model.write_bytes(kws)
    out_index = read_blob(kws).outputs[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEAI_SIM_FLASH": str(tmp_path / "flash.bin"), "TERM": "dumb",
           "HOME": str(tmp_path)}  # fmt: skip
    pid, fd = pty.fork()
    if pid == 0:  # the child: the REPL on the terminal's slave side
        os.execve(sys.executable, [sys.executable, "-m", "edgeai", "repl", "--board", "sim"], env)
    try:
        c = Console(fd)
        assert "edgeai console" in c.expect(timeout=15)
        out = c.send("help")
        for name in ("info", "load", "run", "layers", "tensor", "reset", "logs", "quit"):
            assert name in out
        assert "EOF" not in out
        out = c.send("info")
        assert "board: sim" in out and "model: none" in out
        out = c.send("run 1 2")
        assert "error: no model loaded: load FILE.eai first" in out
        out = c.send(f"load {model}")
        assert "uploaded" in out and "13 ops" in out, out
        out = c.send("run 1 2")
        assert re.search(r"error: the input \(.*\) needs \d+ values, 2 given", out), out
        out = c.send(f"run @{sample}")
        values = re.search(r"output 0 \(1, 12\): ([-\d ]+)", out)
        assert values is not None and values.group(1).split()[5] == "127", out
        assert re.search(r"cycles: [\d,]+", out)
        out = c.send("layers")
        rows = [ln for ln in out.splitlines() if re.match(r"\s*\d+\s+[A-Z][A-Z0-9_]+\s+[\d,]+\s+[\d.]+%$", ln)]
        assert len(rows) == 13, out
        out = c.send(f"tensor {out_index}")
        assert f"tensor {out_index}" in out and "(1, 12) int8" in out and "127" in out, out
        out = c.send("frobnicate")
        assert "error: unknown command 'frobnicate'" in out
        os.write(fd, b"\x03")  # Ctrl-C at the prompt: a fresh prompt, the REPL and the board live on
        assert "^C" in c.expect()
        out = c.send("reset")
        assert "board: sim" in out and f"{len(kws):,} bytes" in out, out
        os.write(fd, b"quit\n")
        deadline = time.monotonic() + 10
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() < deadline, "the REPL did not exit on quit"
            try:
                select.select([fd], [], [], 0.1)
                os.read(fd, 65536)
            except OSError:
                time.sleep(0.05)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert (tmp_path / ".cache" / "edgeai" / "repl_history").exists()
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
