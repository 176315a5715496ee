"""Byte streams to boards: any pyserial URL (a device path, ``socket://host:port``,
``rfc2217://``), and the simulated board, started as a process behind a pseudo-terminal."""

from __future__ import annotations

import os
import select
import subprocess
from pathlib import Path
from typing import Any

from .boards import Board
from .errors import EdgeAIError
from .link import READ_POLL
from .native import FIRMWARE, ROOT

SIM_START_TIMEOUT = 10.0  # seconds for the simulator to print its port
SIM_STOP_TIMEOUT = 5.0
_BUILT: set[Path] = set()  # simulator binaries already built by this process


def default_sim_flash() -> Path:
    """Where the simulated board keeps its flash between runs (override: EDGEAI_SIM_FLASH)."""
    env = os.environ.get("EDGEAI_SIM_FLASH")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "edgeai" / "sim-flash.bin"


def open_port(url: str, baud: int) -> Any:
    """A pyserial port for a device path or URL, opened exclusively where the OS allows it."""
    import serial

    try:
        kwargs: dict[str, Any] = {"baudrate": baud, "timeout": READ_POLL, "write_timeout": 10.0}
        if "://" not in url:
            kwargs["exclusive"] = True
        return serial.serial_for_url(url, **kwargs)
    except serial.SerialException as e:
        text = str(e)
        if "No such file" in text or "Errno 2" in text:
            raise EdgeAIError(f"{url}: no such port; check the cable and the port name") from None
        if "busy" in text.lower() or "Errno 16" in text or "exclusively lock" in text:
            raise EdgeAIError(f"{url}: the port is busy (another program has it open); close it and retry") from None
        raise EdgeAIError(f"{url}: cannot open the port ({text})") from None


class Simulator:
    """The posix simulated board as a child process; ``port`` is its pseudo-terminal."""

    def __init__(self, board: Board, flash: Path | None = None) -> None:
        self.board = board
        self.flash = flash or default_sim_flash()
        self.proc: subprocess.Popen[str] | None = None
        self.port = ""

    def binary(self) -> Path:
        """The simulator executable, built (once per process) with the board file's command."""
        path = ROOT / str(self.board.build.get("binary", "build/host/edgeai-sim"))
        if path in _BUILT:
            return path
        command = self.board.build.get("command", ["make", "-C", "firmware", "sim"])
        proc = subprocess.run([*command, "-s"], cwd=ROOT, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not path.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise EdgeAIError(f"building the simulator failed: {tail[0]}; run `make -C {FIRMWARE.name} sim`")
        _BUILT.add(path)
        return path

    def start(self) -> str:
        self.flash.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(self.binary()), "--flash", str(self.flash), "--flash-size", str(self.board.flash_bytes),
             "--board", self.board.name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,  # Ctrl-C at the user's terminal stops edgeai, not the board
        )  # fmt: skip
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], SIM_START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("edgeai-sim: port "):
            err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
            self.stop()
            reason = err.strip().splitlines()[-1] if err.strip() else "it printed no port"
            raise EdgeAIError(f"the simulated board did not start: {reason}")
        self.port = line.split("port ", 1)[1].strip()
        return self.port

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(SIM_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
        self.proc = None

    def kill(self) -> None:
        """Kill -9, as a power cut would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stop()
