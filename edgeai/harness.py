"""The on-device test harness (``edgeai test``): golden vectors on any board, bit for bit, with the
latency of each, and on a mismatch (or on request) a layer-by-layer diff against ``edgeai.ref``
that names the first layer that differs. Several boards at once run in parallel threads, one
board each, and their results merge into one run (JUnit XML, HTML report)."""

from __future__ import annotations

import math
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .bench import LayerCost, op_macs
from .blob import KIND_ARENA, KIND_CONST, Blob, named_params, np_dtype, read_blob
from .boards import Board, board_names, load_board
from .device import Device
from .errors import EdgeAIError
from .ref import Interpreter
from .vectors import Vector, model_sha256

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Target:
    """One board to test on: a board name (an emulated board is started), a port, or both."""

    board: str | None = None
    port: str | None = None
    flash: Path | None = None  # an emulated board's flash file

    @property
    def label(self) -> str:
        return self.port or self.board or "?"


@dataclass(frozen=True)
class VectorResult:
    name: str
    source: str
    passed: bool
    compared: int  # output elements compared
    mismatched: int
    max_abs_diff: int
    cycles: int
    instructions: int | None
    seconds: float  # cycles at the board's clock
    arena_bytes: int  # the model's arena (the plan is static: every inference uses the same)


@dataclass(frozen=True)
class LayerDiff:
    index: int
    op: str
    name: str
    params: dict[str, int]
    output_shape: tuple[int, ...]
    compared: int
    mismatched: int
    max_abs_diff: int
    mean_abs_diff: float

    @property
    def identical(self) -> bool:
        return self.mismatched == 0


@dataclass
class BoardRun:
    target: str  # what the user named: the port, or the board
    board: str  # the board's own name (HELLO)
    firmware: str
    clock_hz: int
    counters: str
    arena_capacity: int
    uploaded: bool = False
    vectors: list[VectorResult] = field(default_factory=list)
    layers: list[LayerCost] = field(default_factory=list)  # per-layer timing of one inference
    diff_vector: str | None = None  # the vector the layer diff ran on
    diff: list[LayerDiff] = field(default_factory=list)
    error: str | None = None  # the board could not be tested at all (gone, not answering, ...)
    wall_seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(v.passed for v in self.vectors)

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and bool(self.vectors)
            and all(v.passed for v in self.vectors)
            and self.first_bad_layer is None  # a difference that the outputs happen to hide still fails
        )

    @property
    def first_bad_layer(self) -> LayerDiff | None:
        return next((d for d in self.diff if not d.identical), None)


@dataclass
class HarnessRun:
    model: str
    model_sha256: str
    blob_bytes: int
    arena_bytes: int
    runs: list[BoardRun]

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.ok for r in self.runs)


# -- one board ------------------------------------------------------------------------------------
def layer_diff(dev: Device, blob: Blob, inputs: Sequence[Any]) -> list[LayerDiff]:
    """Run op by op on the board, read every op's output over the link, and compare each with
    ``edgeai.ref`` on the same inputs."""
    want: list[npt.NDArray[np.int8]] = []
    Interpreter(blob).run(list(inputs), on_op=lambda _i, _op, out: want.append(np.asarray(out)))
    got = dev.run_layers(blob, inputs)
    out = []
    for i, (op, g, w) in enumerate(zip(blob.ops, got, want, strict=True)):
        d = np.abs(g.astype(np.int32) - w.astype(np.int32).reshape(g.shape))
        out.append(LayerDiff(
            index=i, op=op.opname, name=op.name or blob.tensors[op.output].name, params=named_params(op),
            output_shape=tuple(blob.tensors[op.output].shape), compared=int(d.size),
            mismatched=int(np.count_nonzero(d)), max_abs_diff=int(d.max(initial=0)),
            mean_abs_diff=float(d.mean()) if d.size else 0.0,
        ))  # fmt: skip
    return out


def _board_for(dev: Device, target: Target) -> Board | None:
    name = target.board or (dev.info.board if dev.info.board in board_names() else None)
    return load_board(name) if name else None


def run_on_device(dev: Device, data: bytes, vectors: Sequence[Vector], target: Target | None = None,
                   layers: bool = False, progress: Progress | None = None) -> BoardRun:  # fmt: skip
    """Upload ``data`` if the board holds another model, run every vector, check it bit for
    bit, time one inference per layer, and diff layer by layer on the first mismatch (or on
    the first vector with ``layers``)."""
    target = target or Target()
    blob = read_blob(data)
    board = _board_for(dev, target)
    clock = board.clock_hz if board else 0
    run = BoardRun(
        target=target.label, board=dev.info.board, firmware=dev.info.firmware, clock_hz=clock,
        counters=board.counters if board else "", arena_capacity=dev.info.arena_bytes,
    )  # fmt: skip
    start = time.monotonic()
    if not dev.has_model(data):
        dev.upload(data, progress=(lambda d, t: progress("upload", d, t)) if progress else None)
        run.uploaded = True
    for k, v in enumerate(vectors):
        for idx, x in zip(blob.inputs, v.inputs, strict=True):
            dev.write_tensor(idx, np.ascontiguousarray(x, dtype=np_dtype(blob.tensors[idx].dtype)).tobytes())
        counts = dev.invoke_counts(0, len(blob.ops))
        compared = mismatched = worst = 0
        for idx, y in zip(blob.outputs, v.outputs, strict=True):
            t = blob.tensors[idx]
            g = np.frombuffer(dev.read_tensor(idx, t.nbytes), dtype=np.int8)
            d = np.abs(g.astype(np.int32) - np.asarray(y, dtype=np.int32).reshape(-1))
            compared += d.size
            mismatched += int(np.count_nonzero(d))
            worst = max(worst, int(d.max(initial=0)))
        run.vectors.append(VectorResult(
            v.name, v.source, mismatched == 0, compared, mismatched, worst, counts.cycles, counts.instructions,
            counts.cycles / clock if clock else math.nan, blob.arena_bytes,
        ))  # fmt: skip
        if progress:
            progress(f"vectors on {target.label}", k + 1, len(vectors))
    bad = next((v for v in run.vectors if not v.passed), None)
    if bad is not None or (layers and vectors):
        chosen = next(v for v in vectors if v.name == (bad.name if bad else vectors[0].name))
        run.diff_vector = chosen.name
        run.diff = layer_diff(dev, blob, chosen.inputs)
    if len(blob.ops) <= 255:
        timed = dev.time_layers_counts()
        run.layers = [
            LayerCost(
                i,
                op.opname,
                tuple(blob.tensors[op.output].shape),
                op_macs(blob, op),
                c.cycles,
                c.instructions,
                c.cycles / clock if clock else math.nan,
            )
            for i, (op, c) in enumerate(zip(blob.ops, timed, strict=True))
        ]
    run.wall_seconds = time.monotonic() - start
    return run


# -- several boards -------------------------------------------------------------------------------
def run_tests(data: bytes, vectors: Sequence[Vector], targets: Sequence[Target], model: str = "model",
              layers: bool = False, progress: Progress | None = None) -> HarnessRun:  # fmt: skip
    """Test on every target, in parallel (one thread per board); a board that cannot be reached
    gets a run with ``error`` set, the others go on."""
    if not targets:
        raise EdgeAIError("say which board: --board B, or one or more --port PORT")
    if not vectors:
        raise EdgeAIError("no vectors to run")
    blob = read_blob(data)
    runs: list[BoardRun | None] = [None] * len(targets)
    lock = threading.Lock()

    def locked(stage: str, done: int, total: int) -> None:
        if progress:
            with lock:
                progress(stage, done, total)

    def work(k: int, t: Target) -> None:
        try:
            with Device.open(board=t.board, port=t.port, flash=t.flash) as dev:
                runs[k] = run_on_device(dev, data, vectors, t, layers, locked)
        except EdgeAIError as e:
            runs[k] = BoardRun(target=t.label, board=t.board or "?", firmware="?", clock_hz=0, counters="",
                               arena_capacity=0, error=str(e))  # fmt: skip

    if len(targets) == 1:
        work(0, targets[0])
    else:
        threads = [threading.Thread(target=work, args=(k, t), daemon=True) for k, t in enumerate(targets)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    return HarnessRun(model, model_sha256(data), len(data), blob.arena_bytes, [r for r in runs if r is not None])


# -- what the report plots ----------------------------------------------------------------------------
def arena_timeline(blob: Blob) -> list[tuple[int, int, int]]:
    """Per op: (op index, bytes of activations live while it runs, highest arena byte they use).
    A tensor lives from the op that writes it (or the start, for inputs) to its last reader (or
    the end, for outputs)."""
    n = len(blob.ops)
    first: dict[int, int] = {i: 0 for i in blob.inputs}
    last: dict[int, int] = {i: n - 1 for i in blob.outputs}
    for k, op in enumerate(blob.ops):
        first.setdefault(op.output, k)
        last[op.output] = max(last.get(op.output, k), k)
        for i in op.inputs:
            if i >= 0 and blob.tensors[i].kind == KIND_ARENA:
                last[i] = max(last.get(i, k), k)
                first.setdefault(i, 0)
    out = []
    for k in range(n):
        live = [i for i in first if blob.tensors[i].kind == KIND_ARENA and first[i] <= k <= last.get(i, k)]
        spans: dict[int, int] = {}
        for i in live:  # tensors sharing arena bytes (RESHAPE) count once
            t = blob.tensors[i]
            spans[t.offset] = max(spans.get(t.offset, 0), t.nbytes)
        out.append((k, sum(spans.values()), max((o + s for o, s in spans.items()), default=0)))
    return out


def size_breakdown(blob: Blob, blob_bytes: int) -> dict[str, int]:
    """Bytes of the blob by what they hold: weights per operator type, and the rest (header,
    tensor and op records, names, alignment)."""
    out: dict[str, int] = {}
    for op in blob.ops:
        for i in op.inputs:
            if i >= 0 and blob.tensors[i].kind == KIND_CONST:
                key = f"{op.opname} constants"
                out[key] = out.get(key, 0) + blob.tensors[i].nbytes
    out["records, names, alignment"] = blob_bytes - sum(out.values())
    return out


# -- JUnit ----------------------------------------------------------------------------------------
def _ident(text: str) -> str:
    """A JUnit class-name part: dots would read as packages."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def write_junit(path: str | Path, run: HarnessRun) -> None:
    """One testsuite per board, one testcase per vector (plus one error case for a board that
    could not be tested), as CI systems read it."""
    suites = ET.Element("testsuites", name=f"edgeai test {run.model}")
    for r in run.runs:
        tests = len(r.vectors) + bool(r.diff) or 1
        failures = sum(not v.passed for v in r.vectors) + (r.first_bad_layer is not None)
        s = ET.SubElement(suites, "testsuite", name=f"{run.model} on {r.target}", tests=str(tests),
                          failures=str(failures), errors=str(int(r.error is not None)),
                          time=f"{r.wall_seconds:.3f}")  # fmt: skip
        props = ET.SubElement(s, "properties")
        for key, value in (("board", r.board), ("firmware", r.firmware), ("model_sha256", run.model_sha256),
                     ("arena_bytes", str(run.arena_bytes)), ("arena_capacity", str(r.arena_capacity))):  # fmt: skip
            ET.SubElement(props, "property", name=key, value=value)
        if r.error is not None:
            case = ET.SubElement(s, "testcase", classname=f"edgeai.{_ident(r.target)}", name="connect")
            ET.SubElement(case, "error", message=r.error)
            continue
        cls = f"edgeai.{_ident(run.model)}.{_ident(r.target)}"
        for v in r.vectors:
            seconds = f"{v.seconds:.6f}" if math.isfinite(v.seconds) else "0"
            case = ET.SubElement(s, "testcase", classname=cls, name=f"vector {v.name}", time=seconds)
            out = f"cycles={v.cycles} instructions={v.instructions} arena_bytes={v.arena_bytes} source={v.source}"
            ET.SubElement(case, "system-out").text = out
            if not v.passed:
                bad = r.first_bad_layer if r.diff_vector == v.name else None
                where = f"; first differing layer #{bad.index} {bad.op}" if bad else ""
                ET.SubElement(case, "failure", message=f"{v.mismatched} of {v.compared} output values differ "
                              f"(max |diff| {v.max_abs_diff}){where}")  # fmt: skip
        if r.diff:
            case = ET.SubElement(s, "testcase", classname=cls, name=f"layer diff (vector {r.diff_vector})")
            bad = r.first_bad_layer
            if bad is not None:
                ET.SubElement(case, "failure", message=f"first differing layer #{bad.index} {bad.op}: {bad.mismatched} "
                              f"of {bad.compared} values differ (max |diff| {bad.max_abs_diff})")  # fmt: skip
    ET.indent(suites)
    try:
        ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as e:
        raise EdgeAIError(f"{path}: cannot write the JUnit file ({e.strerror})") from None
