"""``edgeai repl``: an interactive console over the Device API (never the serial port itself)."""

from __future__ import annotations

import cmd
import shlex
import sys
from pathlib import Path
from typing import IO, Any

import numpy as np

from .blob import INT8, KIND_ARENA, Blob, read_blob
from .device import Device
from .errors import EdgeAIError
from .files import read_model_bytes

HISTORY = Path.home() / ".cache" / "edgeai" / "repl_history"
SHOW_VALUES = 64  # values printed per tensor before "… (N more)"


def open_device(board: str | None, port: str | None, baud: int | None) -> Device:
    if not board and not port:
        raise EdgeAIError("say which board: --board sim (the simulated board) or --port PORT")
    return Device.open(board=board, port=port, baud=baud)


def _values(a: np.ndarray[Any, Any]) -> str:
    flat = a.reshape(-1)
    text = " ".join(str(int(v)) for v in flat[:SHOW_VALUES])
    return text + (f" … ({flat.size - SHOW_VALUES} more)" if flat.size > SHOW_VALUES else "")


class Repl(cmd.Cmd):
    """The console: one command per line; ``help`` lists them."""

    prompt = "edgeai> "
    intro = "edgeai console: type help for the commands, quit or Ctrl-D to leave."

    def __init__(self, dev: Device, stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> None:
        super().__init__(stdin=stdin, stdout=stdout)
        self.dev = dev
        self.blob: Blob | None = None
        self.model_name = ""
        self.ran = False
        self.last_input: np.ndarray[Any, Any] | None = None

    # -- plumbing -----------------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        print(text, file=self.stdout, flush=True)

    def onecmd(self, line: str) -> bool:
        try:
            return bool(super().onecmd(line))
        except EdgeAIError as e:
            self.say(f"error: {e}")
        except KeyboardInterrupt:
            self.say("\ninterrupted")
            try:  # answers to the interrupted request carry an old sequence number and are dropped
                self.dev.hello()
            except (EdgeAIError, KeyboardInterrupt):
                self.say("error: the board does not answer after the interrupt; try reset")
        return False

    def emptyline(self) -> bool:
        return False  # cmd.Cmd would repeat the last command

    def default(self, line: str) -> None:
        self.say(f"error: unknown command {line.split()[0]!r}; type help for the commands")

    def get_names(self) -> list[str]:
        return [n for n in super().get_names() if n != "do_EOF"]

    def need_model(self) -> Blob:
        if self.blob is None:
            raise EdgeAIError("no model loaded: load FILE.eai first")
        return self.blob

    # -- commands -----------------------------------------------------------------------------------
    def do_info(self, arg: str) -> bool:
        """info: the board, firmware, slot, arena and active model"""
        i = self.dev.info
        self.say(f"board: {i.board}, firmware {i.firmware}, protocol {i.protocol}")
        self.say(f"slot: {i.slot_bytes:,} bytes, arena: {i.arena_bytes:,} bytes, frame payload: {i.max_payload}")
        if i.active_slot is None:
            self.say("model: none")
        else:
            self.say(f"model: slot {'AB'[i.active_slot]}, {i.model_bytes:,} bytes, crc32 {i.model_crc:08x}, "
                     f"arena {i.model_arena_bytes:,} bytes")  # fmt: skip
        if self.blob is not None:
            self.say(f"loaded: {self.model_name} ({len(self.blob.ops)} ops)")
        return False

    def do_load(self, arg: str) -> bool:
        """load FILE.eai: upload the model (unless the board holds it already) and use it"""
        from .cli import _progress

        args = shlex.split(arg)
        if len(args) != 1:
            raise EdgeAIError("usage: load FILE.eai")
        path = Path(args[0]).expanduser()
        data = read_model_bytes(path)
        try:
            blob = read_blob(data)
        except EdgeAIError as e:
            raise type(e)(f"{path}: {e}") from None
        if self.dev.has_model(data):
            self.say(f"the board holds {path.name} already")
        else:
            self.dev.upload(data, progress=_progress("upload"))
            self.say(f"uploaded {len(data):,} bytes to slot {'AB'[self.dev.info.active_slot or 0]}")
        self.blob, self.model_name, self.ran, self.last_input = blob, path.name, False, None
        ins = ", ".join(f"{self.blob.tensors[t].shape}" for t in blob.inputs)
        self.say(f"{path.name}: {len(blob.ops)} ops, input(s) {ins}")
        return False

    def do_run(self, arg: str) -> bool:
        """run VALUES... | run @FILE: run on int8 values, or on a raw int8 .bin / .npy file"""
        from .verify import load_samples

        blob = self.need_model()
        if len(blob.inputs) != 1:
            raise EdgeAIError(f"run takes single-input models; this one has {len(blob.inputs)}")
        t = blob.tensors[blob.inputs[0]]
        args = shlex.split(arg)
        if len(args) == 1 and args[0].startswith("@"):
            samples = load_samples(Path(args[0][1:]).expanduser(), t)
        else:
            try:
                values = [int(v) for v in args]
            except ValueError:
                raise EdgeAIError("usage: run VALUES... (integers) or run @FILE") from None
            if len(values) != t.elements:
                raise EdgeAIError(f"the input {t.shape} needs {t.elements} values, {len(values)} given")
            if any(v < -128 or v > 127 for v in values):
                raise EdgeAIError("input values are int8: -128 to 127")
            samples = [np.array(values, dtype=np.int8).reshape(t.shape)]
        for k, x in enumerate(samples):
            outs, cycles = self.dev.run(blob, [x])
            self.ran, self.last_input = True, x
            prefix = f"sample {k}: " if len(samples) > 1 else ""
            for j, y in enumerate(outs):
                self.say(f"{prefix}output {j} {tuple(y.shape)}: {_values(y)}")
            self.say(f"{prefix}cycles: {cycles:,}")
        return False

    def do_layers(self, arg: str) -> bool:
        """layers: per-layer timing of the loaded model"""
        blob = self.need_model()
        times = self.dev.time_layers()
        if len(times) != len(blob.ops):
            raise EdgeAIError(
                f"the board timed {len(times)} layers; the loaded model has {len(blob.ops)}: load it again"
            )
        if self.ran and self.last_input is not None:  # timing ran over the arena: restore the last run's tensors
            self.dev.run(blob, [self.last_input])
        total = sum(times) or 1
        self.say(f"{'#':>3}  {'operator':<20} {'time':>12} {'share':>7}")
        for i, (op, c) in enumerate(zip(blob.ops, times, strict=True)):
            self.say(f"{i:>3}  {op.opname:<20} {c:>12,} {100 * c / total:>6.1f}%")
        return False

    def do_tensor(self, arg: str) -> bool:
        """tensor N: read tensor N from the board (after a run): its shape and values"""
        blob = self.need_model()
        try:
            (index,) = (int(v) for v in shlex.split(arg))
        except ValueError:
            raise EdgeAIError("usage: tensor N") from None
        if not 0 <= index < len(blob.tensors):
            raise EdgeAIError(f"no tensor {index}: the model has tensors 0 to {len(blob.tensors) - 1}")
        t = blob.tensors[index]
        if t.kind == KIND_ARENA and not self.ran:
            raise EdgeAIError("the arena holds no results yet: run first")
        raw = self.dev.read_tensor(index, t.nbytes)
        a = np.frombuffer(raw, dtype=np.int8 if t.dtype == INT8 else np.dtype("<i4")).reshape(t.shape)
        self.say(f"tensor {index} {t.name!r} {tuple(t.shape)} {'int8' if t.dtype == INT8 else 'int32'}: {_values(a)}")
        return False

    def do_reset(self, arg: str) -> bool:
        """reset: reset the board and show its info"""
        self.dev.reset()
        self.ran, self.last_input = False, None
        return self.do_info("")

    def do_logs(self, arg: str) -> bool:
        """logs: the log lines the board has sent so far"""
        for line in self.dev.link.logs:
            self.say(line.rstrip("\n"))
        if not self.dev.link.logs:
            self.say("no log lines yet")
        return False

    def do_quit(self, arg: str) -> bool:
        """quit (or exit, or Ctrl-D): leave"""
        return True

    do_exit = do_quit

    def do_EOF(self, arg: str) -> bool:
        self.say()
        return True


def _readline() -> Any:
    try:
        import readline
    except ImportError:
        return None
    try:
        readline.set_history_length(1000)
        if HISTORY.exists():
            readline.read_history_file(str(HISTORY))
    except OSError:
        pass
    return readline


def run_repl(dev: Device) -> int:
    """The console loop: Ctrl-C at the prompt drops the line, Ctrl-D or quit leaves."""
    readline = _readline()
    repl = Repl(dev)
    try:
        while True:
            try:
                repl.cmdloop()
                return 0
            except KeyboardInterrupt:
                repl.say("^C")
                repl.intro = ""
    finally:
        if readline is not None:
            try:
                HISTORY.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(str(HISTORY))
            except OSError:
                pass
        sys.stdout.flush()
