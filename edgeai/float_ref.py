"""A float numpy interpreter of a float IR graph (NHWC): what calibration observes and what
int8 results are measured against. Tests hold it to onnxruntime on the source ONNX model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import EdgeAIError
from .ir import QGraph, QOp, window_pads

F32 = npt.NDArray[np.float32]
_ACT = {"NONE": (-np.inf, np.inf), "RELU": (0.0, np.inf), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


def _taps(
    x: npt.NDArray[np.float64],
    k: tuple[int, int],
    s: tuple[int, int],
    d: tuple[int, int],
    pads: tuple[int, int, int, int],
    out_hw: tuple[int, int],
    fill: float,
) -> npt.NDArray[np.float64]:
    pt, pl, pb, pr = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    n, _, _, c = x.shape
    oh, ow = out_hw
    out = np.empty((n, oh, ow, k[0], k[1], c))
    for ky in range(k[0]):
        for kx in range(k[1]):
            y0, x0 = ky * d[0], kx * d[1]
            out[:, :, :, ky, kx, :] = xp[
                :, y0 : y0 + (oh - 1) * s[0] + 1 : s[0], x0 : x0 + (ow - 1) * s[1] + 1 : s[1], :
            ]
    return out


class FloatInterpreter:
    """Runs a float graph; ``on_op`` sees every op's output (for calibration)."""

    def __init__(self, graph: QGraph) -> None:
        if any(t.dtype != "float32" for t in graph.tensors):
            raise EdgeAIError(f"{graph.name}: the float interpreter runs float graphs only")
        self.graph = graph

    def run(self, inputs: Sequence[npt.ArrayLike],
            on_op: Callable[[int, QOp, F32], None] | None = None) -> list[F32]:  # fmt: skip
        g = self.graph
        if len(inputs) != len(g.inputs):
            raise EdgeAIError(f"the model takes {len(g.inputs)} input(s), {len(inputs)} given")
        values: dict[int, npt.NDArray[np.float64]] = {}
        for idx, x in zip(g.inputs, inputs, strict=True):
            values[idx] = np.asarray(x, dtype=np.float64).reshape(g.tensors[idx].shape)
        for i, op in enumerate(g.ops):
            out = self._op(op, values)
            lo, hi = _ACT[op.options.get("activation", "NONE")]
            out = np.clip(out, lo, hi).reshape(g.tensors[op.outputs[0]].shape)
            values[op.outputs[0]] = out
            if on_op is not None:
                on_op(i, op, out.astype(np.float32))
        return [values[i].astype(np.float32) for i in g.outputs]

    def _get(self, t: int, values: dict[int, npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
        qt = self.graph.tensors[t]
        return qt.data.astype(np.float64) if qt.data is not None else values[t]

    def _op(self, op: QOp, values: dict[int, Any]) -> npt.NDArray[np.float64]:
        g = self.graph
        o = op.options
        x = self._get(op.inputs[0], values)
        out_shape = g.tensors[op.outputs[0]].shape
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = self._get(op.inputs[1], values)
            b = self._get(op.inputs[2], values) if len(op.inputs) > 2 and op.inputs[2] >= 0 else 0.0
            k = (w.shape[1], w.shape[2])
            s, d = (o["stride_h"], o["stride_w"]), (o["dilation_h"], o["dilation_w"])
            taps = _taps(x, k, s, d, window_pads(op, (x.shape[1], x.shape[2]), k, d), (out_shape[1], out_shape[2]), 0.0)
            n, oh, ow, co = out_shape
            if op.type == "DEPTHWISE_CONV_2D":
                ci = x.shape[3]
                acc = np.einsum("nhwyxc,yxcm->nhwcm", taps, w.reshape(k[0], k[1], ci, co // ci)).reshape(out_shape)
            else:
                groups = x.shape[3] // w.shape[3]
                cog, fci = co // groups, w.shape[3]
                acc = np.empty(out_shape)
                for gi in range(groups):
                    t = taps[..., gi * fci : (gi + 1) * fci].reshape(n * oh * ow, -1)
                    wg = w[gi * cog : (gi + 1) * cog].reshape(cog, -1)
                    acc[..., gi * cog : (gi + 1) * cog] = (t @ wg.T).reshape(n, oh, ow, cog)
            return acc + b
        if op.type == "FULLY_CONNECTED":
            w = self._get(op.inputs[1], values)
            b = self._get(op.inputs[2], values) if len(op.inputs) > 2 and op.inputs[2] >= 0 else 0.0
            return x.reshape(-1, w.shape[1]) @ w.T + b
        if op.type in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            k, s = (o["filter_h"], o["filter_w"]), (o["stride_h"], o["stride_w"])
            pads = window_pads(op, (x.shape[1], x.shape[2]), k, (1, 1))
            if op.type == "MAX_POOL_2D":
                return _taps(x, k, s, (1, 1), pads, (out_shape[1], out_shape[2]), -np.inf).max(axis=(3, 4))
            total = _taps(x, k, s, (1, 1), pads, (out_shape[1], out_shape[2]), 0.0).sum(axis=(3, 4))
            count = _taps(np.ones_like(x[..., :1]), k, s, (1, 1), pads, (out_shape[1], out_shape[2]), 0.0).sum(
                axis=(3, 4)
            )
            return total / count
        if op.type == "ADD":
            return x + self._get(op.inputs[1], values)
        if op.type == "SOFTMAX":
            z = (x - x.max(axis=-1, keepdims=True)) * o.get("beta", 1.0)
            e = np.exp(z)
            return e / e.sum(axis=-1, keepdims=True)
        if op.type == "RESHAPE":
            return x.reshape(out_shape)
        raise EdgeAIError(f"{op.where} is not supported by the float interpreter")
