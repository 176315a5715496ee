"""Post-training static quantization: a float graph and calibration samples in, an int8
graph out (int8 activations per tensor with a zero point, int8 weights per output channel,
symmetric, int32 biases), ready for ``edgeai.lower``.

Activation ranges come from running the float graph over the calibration samples and
observing every tensor, with one of three range choices:

- ``minmax``: the observed minimum and maximum;
- ``percentile``: the 0.01st and 99.99th percentiles, so rare outliers do not stretch the grid;
- ``mse``: of a grid of ranges shrunk from min/max, the one whose int8 round trip has the
  smallest mean squared error on the observed values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .errors import EdgeAIError
from .float_ref import FloatInterpreter
from .ir import QGraph, QOp, QTensor

F32 = npt.NDArray[np.float32]
METHODS = ("minmax", "percentile", "mse")
MAX_KEPT = 1 << 18  # observed values kept per tensor for percentile and mse (a seeded subsample)
PERCENTILE = 99.99
MIN_SOFTMAX_INPUT_SCALE = 2.0**-25  # twice what TFLite's softmax accepts (beta * scale * 2^26 > 1)
_SHRINK = np.linspace(0.3, 1.0, 36)  # the grid of range scalings the mse method tries


@dataclass(frozen=True)
class QParams:
    scale: float
    zero_point: int


def qparams_for_range(lo: float, hi: float) -> QParams:
    """int8 scale and zero point for the real range [lo, hi] (widened to hold 0, as TFLite)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        hi = lo + 1e-6
    scale = float(np.float32((hi - lo) / 255.0))
    zp = int(np.clip(np.round(-128.0 - lo / scale), -128, 127))
    return QParams(scale, zp)


def _roundtrip_mse(values: F32, q: QParams) -> float:
    x = np.clip(np.round(values / q.scale) + q.zero_point, -128, 127)
    return float(np.mean(((x - q.zero_point) * q.scale - values) ** 2))


def choose_range(values: F32, lo: float, hi: float, method: str) -> QParams:
    if method == "minmax" or values.size == 0:
        return qparams_for_range(lo, hi)
    if method == "percentile":
        p_lo, p_hi = np.percentile(values, [100.0 - PERCENTILE, PERCENTILE])
        return qparams_for_range(float(p_lo), float(p_hi))
    if method == "mse":
        candidates = [qparams_for_range(lo * f, hi * f) for f in _SHRINK]
        return min(candidates, key=lambda q: _roundtrip_mse(values, q))
    raise EdgeAIError(f"unknown calibration method {method!r}; choose one of {', '.join(METHODS)}")


class _Observer:
    """Min, max and a bounded seeded subsample of every tensor's values."""

    def __init__(self, seed: int = 0) -> None:
        self.lo: dict[int, float] = {}
        self.hi: dict[int, float] = {}
        self.kept: dict[int, list[F32]] = {}
        self.count: dict[int, int] = {}
        self.rng = np.random.default_rng(seed)

    def see(self, t: int, x: npt.ArrayLike) -> None:
        flat = np.asarray(x, dtype=np.float32).reshape(-1)
        self.lo[t] = min(self.lo.get(t, np.inf), float(flat.min()))
        self.hi[t] = max(self.hi.get(t, -np.inf), float(flat.max()))
        n = self.count.get(t, 0)
        room = MAX_KEPT - n
        if room > 0:
            take = flat if flat.size <= room else self.rng.choice(flat, room, replace=False)
            self.kept.setdefault(t, []).append(take)
            self.count[t] = n + take.size

    def values(self, t: int) -> F32:
        parts = self.kept.get(t, [])
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def calibrate(
    graph: QGraph,
    samples: Sequence[Sequence[F32]],
    method: str = "minmax",
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, QParams]:
    """Quantization parameters for every activation tensor of a float graph."""
    if method not in METHODS:
        raise EdgeAIError(f"unknown calibration method {method!r}; choose one of {', '.join(METHODS)}")
    if not samples:
        raise EdgeAIError("the calibration set is empty: give at least one sample")
    fi = FloatInterpreter(graph)
    obs = _Observer()
    for k, sample in enumerate(samples):
        for t, x in zip(graph.inputs, sample, strict=True):
            obs.see(t, x)
        fi.run(sample, on_op=lambda _i, op, out: obs.see(op.outputs[0], out))
        if progress is not None:
            progress(k + 1, len(samples))
    params: dict[int, QParams] = {}
    for t in obs.lo:
        params[t] = choose_range(obs.values(t), obs.lo[t], obs.hi[t], method)
    # softmax's fixed-point kernel needs beta * input scale * 2^26 > 1: an input whose observed
    # range is (nearly) empty gets the narrowest grid that works
    for op in graph.ops:
        if op.type == "SOFTMAX":
            t = op.inputs[0]
            floor = MIN_SOFTMAX_INPUT_SCALE / float(op.options.get("beta", 1.0))
            if params[t].scale < floor:
                mid = (obs.lo[t] + obs.hi[t]) / 2.0
                params[t] = qparams_for_range(mid - 128 * floor, mid + 127 * floor)
    # ops whose int8 kernels keep their input's quantization, or have a fixed one
    for op in graph.ops:
        out = op.outputs[0]
        if op.type in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "RESHAPE"):
            params[out] = params[op.inputs[0]]
        elif op.type == "SOFTMAX":
            params[out] = QParams(1.0 / 256.0, -128)
    return params


def _weights(w: F32, axis: int) -> tuple[npt.NDArray[np.int8], F32]:
    """Symmetric per-channel int8 weights along ``axis``, and their scales."""
    moved = np.moveaxis(w, axis, 0)
    amax = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def quantize_graph(graph: QGraph, params: dict[int, QParams]) -> QGraph:
    """The int8 graph of a float graph, with activation quantization from ``calibrate``."""
    tensors: list[QTensor] = []
    for i, t in enumerate(graph.tensors):
        if t.data is None:
            if i not in params:
                raise EdgeAIError(f"{graph.name}: tensor {t.name!r} was never computed during calibration")
            q = params[i]
            tensors.append(QTensor(t.name, t.shape, "int8", np.array([q.scale], np.float32),
                                   np.array([q.zero_point], np.int64)))  # fmt: skip
        else:
            tensors.append(QTensor(t.name, t.shape, "float32", data=t.data))  # replaced below
    ops: list[QOp] = []
    for op in graph.ops:
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            x, w_i, b_i = op.inputs[0], op.inputs[1], op.inputs[2]
            w = graph.tensors[w_i].data
            assert w is not None
            axis = 3 if op.type == "DEPTHWISE_CONV_2D" else 0
            wq, ws = _weights(w.astype(np.float32), axis)
            tensors[w_i] = QTensor(graph.tensors[w_i].name, wq.shape, "int8", ws, np.zeros(len(ws), np.int64), wq)
            in_scale = np.float32(params[x].scale)
            bias_scale = (in_scale * ws).astype(np.float64)
            b = graph.tensors[b_i].data
            assert b is not None
            bq = np.clip(np.round(b.astype(np.float64) / bias_scale), -(2**31), 2**31 - 1).astype(np.int32)
            tensors[b_i] = QTensor(graph.tensors[b_i].name, bq.shape, "int32", bias_scale.astype(np.float32),
                                   np.zeros(len(bq), np.int64), bq)  # fmt: skip
        ops.append(QOp(op.type, list(op.inputs), list(op.outputs), dict(op.options), op.index))
    for t in tensors:
        if t.dtype == "float32":
            raise EdgeAIError(f"{graph.name}: constant {t.name!r} is not an operator's weights or bias")
    return QGraph(graph.name, tensors, ops, list(graph.inputs), list(graph.outputs),
                  list(graph.input_perm), list(graph.output_perm))  # fmt: skip
