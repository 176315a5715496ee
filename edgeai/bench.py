"""``edgeai bench``: what one inference costs on a board, per layer and in total: cycles, retired
instructions where the board counts them, multiply-accumulates, instructions per MAC, and the
time that makes at the board's clock. On qemu-rv32 the counts are exact instruction counts
(``-icount shift=0``) and the same on every run."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .blob import Blob, BlobOp, random_inputs, read_blob
from .boards import Board
from .device import Device
from .errors import EdgeAIError

MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def op_macs(blob: Blob, op: BlobOp) -> int:
    """Multiply-accumulates of one op (0 for ops that do none: pools, add, softmax, reshape)."""
    out = math.prod(blob.tensors[op.output].shape)
    if op.opname == "CONV_2D":
        _, kh, kw, cin = blob.tensors[op.inputs[1]].shape  # OHWI, cin per group
        return out * kh * kw * cin
    if op.opname == "DEPTHWISE_CONV_2D":
        _, kh, kw, _ = blob.tensors[op.inputs[1]].shape
        return out * kh * kw
    if op.opname == "FULLY_CONNECTED":
        return out * blob.tensors[op.inputs[1]].shape[1]
    return 0


@dataclass(frozen=True)
class LayerCost:
    index: int
    op: str
    output_shape: tuple[int, ...]
    macs: int
    cycles: int
    instructions: int | None
    seconds: float  # at the board's clock

    @property
    def instructions_per_mac(self) -> float | None:
        return self.instructions / self.macs if self.instructions is not None and self.macs else None


@dataclass(frozen=True)
class TypeCost:
    op: str
    layers: int
    macs: int
    cycles: int
    instructions: int | None

    @property
    def instructions_per_mac(self) -> float | None:
        return self.instructions / self.macs if self.instructions is not None and self.macs else None


@dataclass
class BenchResult:
    model: str
    board: str
    clock_hz: int
    counters: str
    runs: int
    layers: list[LayerCost]
    total_cycles: int  # one whole inference (INVOKE of all ops), not the sum of the layers
    total_instructions: int | None
    repeatable: bool | None  # every run gave the same counts (None with one run)
    by_type: list[TypeCost] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def seconds(self) -> float:
        return self.total_cycles / self.clock_hz

    @property
    def instructions_per_mac(self) -> float | None:
        return self.total_instructions / self.macs if self.total_instructions is not None and self.macs else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["macs"] = self.macs
        d["seconds"] = self.seconds
        d["instructions_per_mac"] = self.instructions_per_mac
        for layer, dl in zip(self.layers, d["layers"], strict=True):
            dl["instructions_per_mac"] = layer.instructions_per_mac
        for t, dt in zip(self.by_type, d["by_type"], strict=True):
            dt["instructions_per_mac"] = t.instructions_per_mac
        return d


def by_type(layers: list[LayerCost]) -> list[TypeCost]:
    """Layers summed per operator, in order of first appearance."""
    out: dict[str, TypeCost] = {}
    for layer in layers:
        prev = out.get(layer.op)
        instr = layer.instructions
        if prev is None:
            out[layer.op] = TypeCost(layer.op, 1, layer.macs, layer.cycles, instr)
        else:
            both = None if prev.instructions is None or instr is None else prev.instructions + instr
            out[layer.op] = TypeCost(
                layer.op, prev.layers + 1, prev.macs + layer.macs, prev.cycles + layer.cycles, both
            )
    return list(out.values())


def bench(device: Device, data: bytes, board: Board, name: str = "model", runs: int = 2, seed: int = 0,
          progress: Callable[[str, int, int], None] | None = None) -> BenchResult:  # fmt: skip
    """Upload the model if the board holds another, write a seeded random input, then time the
    whole inference and each layer ``runs`` times."""
    blob = read_blob(data)
    if runs < 1:
        raise EdgeAIError("--runs must be at least 1")
    if not device.has_model(data):
        device.upload(data, progress=(lambda d, t: progress("upload", d, t)) if progress else None)
    rng = np.random.default_rng(seed)
    inputs = random_inputs(blob, rng)
    per_run = []
    for r in range(runs):
        if progress:
            progress("bench", r, runs)
        for idx, x in zip(blob.inputs, inputs, strict=True):
            device.write_tensor(idx, x.tobytes())
        total = device.invoke_counts(0, len(blob.ops))
        device_layers = device.time_layers_counts()
        per_run.append((total, device_layers))
    if progress:
        progress("bench", runs, runs)
    total, counts = per_run[0]
    repeatable = None if runs == 1 else all(p == per_run[0] for p in per_run[1:])
    layers = [
        LayerCost(
            index=i,
            op=op.opname,
            output_shape=tuple(blob.tensors[op.output].shape),
            macs=op_macs(blob, op),
            cycles=c.cycles,
            instructions=c.instructions,
            seconds=c.cycles / board.clock_hz,
        )
        for i, (op, c) in enumerate(zip(blob.ops, counts, strict=True))
    ]
    return BenchResult(
        model=name,
        board=board.name,
        clock_hz=board.clock_hz,
        counters=board.counters,
        runs=runs,
        layers=layers,
        total_cycles=total.cycles,
        total_instructions=total.instructions,
        repeatable=repeatable,
        by_type=by_type(layers),
    )
