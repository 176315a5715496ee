"""Offline arena planner: every activation gets a fixed offset in one arena.

Each activation is alive from the op that writes it (or step 0 for a model input) to the
last op that reads it (or the last step for a model output). A RESHAPE's output shares its
input's bytes, so the two form one buffer. Buffers are placed first-fit, each at the lowest
aligned offset that does not collide with a buffer alive at the same time, in several orders:
largest first (TFLite Micro's GreedyMemoryPlanner), by size x lifetime, by first use, and
seeded shuffles; the smallest arena wins. The liveness lower bound (the largest total
size alive at any one step) says how close the plan is to the best possible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .blob import KIND_ARENA, OPCODES, Blob

ARENA_ALIGN = 16
SEARCH_ROUNDS = 200  # random orders tried after the fixed ones


@dataclass(frozen=True)
class Plan:
    arena_bytes: int
    lower_bound_bytes: int
    offsets: dict[int, int]  # tensor index -> arena offset


def _align(n: int) -> int:
    return (n + ARENA_ALIGN - 1) // ARENA_ALIGN * ARENA_ALIGN


def _first_fit(order: list[int], size: dict[int, int], first: dict[int, int], last: dict[int, int]) -> dict[int, int]:
    """Place buffers in ``order``, each at the lowest aligned offset free over its lifetime."""
    placed: list[tuple[int, int, int]] = []  # (offset, end, buffer)
    where: dict[int, int] = {}
    for b in order:
        live = sorted((off, end) for off, end, o in placed if first[o] <= last[b] and first[b] <= last[o])
        offset = 0
        for off, end in live:
            if offset + size[b] <= off:
                break
            offset = max(offset, _align(end))
        where[b] = offset
        placed.append((offset, offset + size[b], b))
    return where


def _best_placement(size: dict[int, int], first: dict[int, int], last: dict[int, int]) -> dict[int, int]:
    """First-fit over several orders (largest first, as TFLite Micro's greedy planner, then
    seeded shuffles of it); the smallest arena wins. Deterministic for a given model."""
    bufs = sorted(size, key=lambda b: (-size[b], first[b], b))
    orders = [
        bufs,
        sorted(bufs, key=lambda b: (-size[b] * (last[b] - first[b] + 1), b)),
        sorted(bufs, key=lambda b: (first[b], -size[b], b)),
    ]
    rng = random.Random(0x0EDA1)
    for _ in range(SEARCH_ROUNDS):
        order = bufs[:]
        rng.shuffle(order)
        orders.append(order)
    best: dict[int, int] = {}
    best_end = -1
    for order in orders:
        where = _first_fit(order, size, first, last)
        end = max((where[b] + size[b] for b in where), default=0)
        if best_end < 0 or end < best_end:
            best, best_end = where, end
    return best


def plan_arena(blob: Blob) -> Plan:
    """Plan arena offsets for ``blob``'s activations (does not modify ``blob``)."""
    n_ops = len(blob.ops)
    root: dict[int, int] = {}

    def find(t: int) -> int:
        while root.get(t, t) != t:
            t = root[t]
        return t

    for op in blob.ops:
        if op.opcode == OPCODES["RESHAPE"]:
            root[find(op.output)] = find(op.inputs[0])

    first: dict[int, int] = {}
    last: dict[int, int] = {}
    size: dict[int, int] = {}

    def touch(t: int, step: int) -> None:
        if blob.tensors[t].kind != KIND_ARENA:
            return
        b = find(t)
        first[b] = min(first.get(b, step), step)
        last[b] = max(last.get(b, step), step)
        size[b] = max(size.get(b, 0), blob.tensors[t].nbytes)

    for t in blob.inputs:
        touch(t, 0)
    for step, op in enumerate(blob.ops):
        for t in op.inputs:
            if t >= 0:
                touch(t, step)
        touch(op.output, step)
    for t in blob.outputs:
        touch(t, n_ops - 1)

    lower = max(
        (sum(size[b] for b in size if first[b] <= step <= last[b]) for step in range(n_ops)),
        default=0,
    )

    where = _best_placement(size, first, last)
    arena = max((where[b] + size[b] for b in where), default=0)
    offsets = {
        t: where[find(t)] for t, tensor in enumerate(blob.tensors) if tensor.kind == KIND_ARENA and find(t) in where
    }
    return Plan(_align(arena), lower, offsets)
