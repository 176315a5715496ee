"""Byte streams to boards: any pyserial URL (a device path, ``socket://host:port``,
``rfc2217://``), and the two emulated boards: the simulated board, started as a process behind a
pseudo-terminal, and the qemu-rv32 board, QEMU booting the RV32 firmware from its flash file with
its UART on a loopback TCP socket.

An emulated board lives no longer than the process that started it, however that process ends
(an exception, SIGTERM, SIGKILL): it holds the read end of a pipe, the *lifeline*, whose write end
only the host holds, and the end of that pipe ends the board. The simulator watches its lifeline
itself (``--lifeline-fd``); QEMU cannot, so a small watchdog (``sh``) reads it and ends QEMU. A
pipe rather than Linux's ``PR_SET_PDEATHSIG``: it works on macOS too, and it follows the host
process, not the thread that happened to start the board (the harness starts boards from worker
threads). While it runs, a board holds its flash file's lock (edgeai.flashimage.FlashLock): the
simulator takes it itself; for QEMU the host takes it and QEMU inherits it."""

from __future__ import annotations

import os
import re
import select
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .boards import Board
from .build import build_firmware
from .errors import EdgeAIError
from .flashimage import FlashLock, Region, flash_in_use, write_flash_file
from .link import READ_POLL

SIM_ARGS_ENV = "EDGEAI_SIM_ARGS"  # extra options for the simulated board, e.g. "--rx-bytes 1024"
SIM_START_TIMEOUT = 10.0  # seconds for the simulator to print its port
SIM_STOP_TIMEOUT = 5.0
QEMU_START_TIMEOUT = 10.0  # seconds for QEMU to listen, and then for the firmware's boot line
QEMU_HINT = "apt-get install qemu-system-misc"
SIM_FLASH_IN_USE = 3  # edgeai-sim's exit status when another process holds its flash file's lock
STAND_DOWN = b"\n"  # written to a lifeline before the host itself stops the board: the watchdog exits quietly
# The QEMU board's watchdog: its stdin is the lifeline; a line means the host is stopping QEMU
# itself, the end of the pipe without one that the host has gone, so it ends QEMU (pid $1).
WATCHDOG = ["sh", "-c", 'read line || kill -TERM "$1" 2>/dev/null', "edgeai-watchdog"]


def default_flash(board: Board) -> Path:
    """Where an emulated board keeps its flash between runs (override: EDGEAI_SIM_FLASH for the
    simulated board, EDGEAI_QEMU_FLASH for qemu-rv32)."""
    env = os.environ.get("EDGEAI_SIM_FLASH" if board.port == "posix" else "EDGEAI_QEMU_FLASH")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "edgeai" / ("sim-flash.bin" if board.port == "posix" else f"{board.name}-flash.bin")


def default_sim_flash() -> Path:
    """Where the simulated board keeps its flash between runs (override: EDGEAI_SIM_FLASH)."""
    from .boards import load_board

    return default_flash(load_board("sim"))


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


@dataclass(frozen=True)
class SimOptions:
    """How the simulated board departs from an ideal one (firmware/ports/posix/main.c): a
    receive buffer of ``rx_bytes`` that drops what overflows it (as an ESP32's UART ring does),
    flash that takes ``erase_ms_per_sector`` per 4 KiB erased and ``write_ms_per_page`` per
    256-byte page written, and a map limit of ``map_bytes``. ``extra`` are more options as
    they are (EDGEAI_SIM_ARGS). The defaults are the ideal board."""

    rx_bytes: int | None = None
    erase_ms_per_sector: float = 0.0
    write_ms_per_page: float = 0.0
    map_bytes: int | None = None
    extra: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> SimOptions:
        """The options in EDGEAI_SIM_ARGS (shell words), e.g. "--rx-bytes 1024 --erase-ms-per-sector 45"."""
        return cls(extra=tuple(shlex.split(os.environ.get(SIM_ARGS_ENV, ""))))

    def args(self) -> list[str]:
        out: list[str] = []
        if self.rx_bytes is not None:
            out += ["--rx-bytes", str(self.rx_bytes)]
        if self.erase_ms_per_sector:
            out += ["--erase-ms-per-sector", repr(float(self.erase_ms_per_sector))]
        if self.write_ms_per_page:
            out += ["--write-ms-per-page", repr(float(self.write_ms_per_page))]
        if self.map_bytes is not None:
            out += ["--map-bytes", str(self.map_bytes)]
        return out + list(self.extra)


@dataclass(frozen=True)
class RxStats:
    """What a simulated board with a receive buffer received from the host, and dropped."""

    received: int
    dropped: int
    rx_bytes: int


RX_STATS = re.compile(r"edgeai-sim: received (\d+) bytes from the host, dropped (\d+) \(receive buffer (\d+) bytes\)")


class _BoardProcess:
    """An emulated board's process: stopping it cleanly, or killing it as a power cut would; and
    what ties it to the host (the lifeline, the watchdog, the flash lock)."""

    proc: subprocess.Popen[str] | None
    stderr_text: str = ""  # what the process said on stderr, once it has stopped
    _lifeline: int | None = None  # the host's end of the lifeline pipe
    _watchdog: subprocess.Popen[bytes] | None = None
    _lock: FlashLock | None = None

    def stop(self) -> None:
        self._end_process()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def kill(self) -> None:
        """Kill -9, as a power cut would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self._stand_down()  # before the process is reaped: the watchdog must not signal a reused pid
            self.proc.wait()
        self.stop()

    def _lifeline_fd(self) -> int:
        """A new lifeline; returns the end the board (or its watchdog) reads, for the caller to
        pass to the child and then close."""
        self._stand_down()
        read_end, self._lifeline = os.pipe()  # neither end is inherited by other children
        return read_end

    def _stand_down(self) -> None:
        """Tell the watchdog that the host stops the board itself, and close the lifeline (which
        stops the simulator)."""
        if self._lifeline is not None:
            try:
                os.write(self._lifeline, STAND_DOWN)
            except OSError:
                pass  # the reader has gone already
            os.close(self._lifeline)
            self._lifeline = None
        if self._watchdog is not None:
            try:
                self._watchdog.wait(SIM_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._watchdog.kill()
                self._watchdog.wait()
            self._watchdog = None

    def _end_process(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self._stand_down()
            try:
                self.proc.wait(SIM_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stand_down()
        if self.proc is not None:
            if self.proc.stderr is not None and not self.proc.stderr.closed:
                try:
                    self.stderr_text = self.proc.stderr.read()
                except (OSError, ValueError):
                    pass
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
        self.proc = None


class Simulator(_BoardProcess):
    """The posix simulated board as a child process; ``port`` is its pseudo-terminal."""

    def __init__(self, board: Board, flash: Path | None = None, options: SimOptions | None = None) -> None:
        self.board = board
        self.flash = flash or default_flash(board)
        self.options = options if options is not None else SimOptions.from_env()
        self.proc: subprocess.Popen[str] | None = None
        self.port = ""

    def rx_stats(self) -> RxStats | None:
        """Once stopped: what the simulator received and dropped (None without a receive buffer)."""
        m = RX_STATS.search(self.stderr_text)
        return RxStats(int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None

    def binary(self) -> Path:
        """The simulator executable, built (once per process) with the board file's command."""
        return build_firmware(self.board)

    def ready(self, serial_port: Any) -> None:
        """The simulator listens as soon as it names its port."""

    def start(self) -> str:
        """Start the simulator (it locks its flash file: FlashInUseError if another board has it)."""
        self.flash.parent.mkdir(parents=True, exist_ok=True)
        binary = self.binary()
        lifeline = self._lifeline_fd()
        try:
            self.proc = subprocess.Popen(
                [str(binary), "--flash", str(self.flash), "--flash-size", str(self.board.flash_bytes),
                 "--board", self.board.name, "--lifeline-fd", str(lifeline), *self.options.args()],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=(lifeline,),
                start_new_session=True,  # Ctrl-C at the user's terminal stops edgeai, not the board
            )  # fmt: skip
        except BaseException:
            self._stand_down()
            raise
        finally:
            os.close(lifeline)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], SIM_START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("edgeai-sim: port "):
            code = self.proc.poll()
            if code is None and ready and not line:  # its stdout closed: it is exiting
                try:
                    code = self.proc.wait(SIM_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
            err = self.proc.stderr.read() if code is not None and self.proc.stderr else ""
            self.stop()
            if code == SIM_FLASH_IN_USE:
                e = flash_in_use(self.flash, "use another flash file (EDGEAI_SIM_FLASH=FILE)")
                raise type(e)(f"the simulated board did not start: {e}")
            said = [x.removeprefix("edgeai-sim: ") for x in err.strip().splitlines()]
            said = [x for x in said if not x.startswith("usage:")] or said  # the message, not the usage line
            reason = said[-1] if said else "it printed no port"
            if self.options.args():
                reason += f" (options: {' '.join(self.options.args())}; {SIM_ARGS_ENV} sets them)"
            raise EdgeAIError(f"the simulated board did not start: {reason}")
        self.port = line.split("port ", 1)[1].strip()
        return self.port


class Qemu(_BoardProcess):
    """The qemu-rv32 board: QEMU boots the RV32 firmware in place from the board's flash file
    (the app at offset 0, refreshed from the current build before each start, the model slots
    kept); ``port`` is a ``socket://`` URL to its UART."""

    def __init__(self, board: Board, flash: Path | None = None) -> None:
        self.board = board
        self.flash = flash or default_flash(board)
        self.proc: subprocess.Popen[str] | None = None
        self.port = ""

    def prepare(self, lock: FlashLock | None = None) -> None:
        """Build the firmware and put it at the flash file's app offset (creating the file, erased,
        if absent), as `edgeai flash --board qemu-rv32` does (``lock``: the caller holds the flash
        file's lock)."""
        app = build_firmware(self.board).read_bytes()
        off = int(self.board.flash.get("app", 0))
        if self.flash.exists() and self.flash.stat().st_size == self.board.flash_bytes:
            with self.flash.open("rb") as f:
                f.seek(off)
                if f.read(len(app)) == app:
                    return
        write_flash_file(self.flash, self.board.flash_bytes, [Region("app", off, app)], lock=lock)

    def command(self, tcp_port: int) -> list[str]:
        cmd = [str(c).format(flash=self.flash, tcp_port=tcp_port) for c in self.board.emulator["command"]]
        if shutil.which(cmd[0]) is None:
            raise EdgeAIError(f"the {self.board.name} board needs {cmd[0]}: {QEMU_HINT}")
        return cmd

    def start(self) -> str:
        """Lock the flash file (FlashInUseError if another board has it), refresh its app and boot
        QEMU from it; QEMU inherits the lock, and a watchdog ends QEMU if the host goes."""
        self.flash.parent.mkdir(parents=True, exist_ok=True)
        hint = "use another flash file (EDGEAI_QEMU_FLASH=FILE)"
        try:
            self._lock = FlashLock.acquire(self.flash, hint)
        except EdgeAIError as e:
            raise type(e)(f"the {self.board.name} board did not start: {e}") from None
        try:
            self.prepare(self._lock)
            reason = ""
            for _attempt in range(3):  # the free port we pick may be taken before QEMU binds it: pick again
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    tcp_port = s.getsockname()[1]
                reason = self._launch(tcp_port)
                if not reason:
                    self.port = f"socket://127.0.0.1:{tcp_port}"
                    return self.port
                if "in use" not in reason.lower() or "lock" in reason.lower():
                    break
            if "lock" in reason:  # QEMU's own image lock: a QEMU not started by edgeai has the file
                reason = f"its flash file {self.flash} is in use by another QEMU: stop that one, or {hint}"
            raise EdgeAIError(f"the {self.board.name} board did not start: {reason}")
        except BaseException:
            self.stop()
            raise

    def _launch(self, tcp_port: int) -> str:
        """Start QEMU, and its watchdog; "" once QEMU listens on its UART socket, else why it did not."""
        assert self._lock is not None
        self.proc = subprocess.Popen(
            self.command(tcp_port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, start_new_session=True, pass_fds=(self._lock.fileno(),),  # QEMU holds the lock too
        )  # fmt: skip
        lifeline = self._lifeline_fd()
        try:
            self._watchdog = subprocess.Popen([*WATCHDOG, str(self.proc.pid)], stdin=lifeline,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                              start_new_session=True)  # fmt: skip
        except BaseException:
            self._end_process()
            raise
        finally:
            os.close(lifeline)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + QEMU_START_TIMEOUT
        seen: list[str] = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
            line = self.proc.stderr.readline() if ready else ""
            if line:
                seen.append(line.strip())
                if "waiting for connection" in line:
                    return ""
            elif self.proc.poll() is not None:
                break
        self._end_process()  # keeping the lock for the next attempt
        return next((x for x in reversed(seen) if x), "it did not listen on its UART socket")

    def ready(self, serial_port: Any) -> None:
        """Wait for the firmware's boot line: it enables the UART's FIFO (dropping whatever came
        before) and only then speaks, so the host must not talk first."""
        deadline = time.monotonic() + QEMU_START_TIMEOUT
        while time.monotonic() < deadline:
            data = serial_port.read(256)
            if b"\x00" in data:
                return
            if self.proc is not None and self.proc.poll() is not None:
                break
        code = self.proc.poll() if self.proc is not None else None
        why = f"QEMU exited with status {code}" if code is not None else "no boot line in 10 s"
        raise EdgeAIError(f"the {self.board.name} firmware did not boot ({why}); run `make -C firmware qemu`")


Emulator = Simulator | Qemu


def emulator_for(board: Board, flash: Path | None = None, sim_options: SimOptions | None = None) -> Emulator:
    """The emulated board a board file names (posix or qemu-rv32)."""
    if board.port == "posix":
        return Simulator(board, flash, sim_options)
    if board.port == "qemu-rv32":
        return Qemu(board, flash)
    raise EdgeAIError(f"board {board.name} is real hardware: give --port PORT (e.g. /dev/ttyUSB0)")
