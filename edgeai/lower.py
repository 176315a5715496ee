"""Lowering: a quantized QGraph becomes blob ops with integer requantization parameters.

Every real-valued scale is turned here, once, into the Q31 multipliers and shifts that
TFLite 2.14's reference kernels compute in their Prepare step, with the same double and
float32 arithmetic, so the firmware and ``edgeai.ref`` never touch a float.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .blob import (
    INT8,
    INT32,
    KIND_ARENA,
    KIND_CONST,
    MAX_BAG_IDS,
    MAX_BAG_ROWS,
    OPCODES,
    Blob,
    BlobOp,
    BlobTensor,
    pack_params,
)
from .errors import UnsupportedModelError
from .ir import QGraph, QOp, QTensor, window_pads
from .quant import activation_range, quantize_multiplier, quantize_multiplier_greater_than_one

_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
MAX_REDUCTION = 1 << 16  # terms in one conv/fc sum (firmware EAI_MAX_REDUCTION): int32 stays exact
MAX_SOFTMAX_DEPTH = 4095  # firmware EAI_MAX_SOFTMAX_DEPTH: the int32 sum of exps cannot wrap
MAX_STRIDE = 65536  # firmware EAI_MAX_STRIDE: strides, dilations, pool windows; pads up to EAI_MAX_PAD = one less
_MIN_INPUTS = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "ADD": 2, "EMBEDDING_BAG": 2}


class _Lowering:
    def __init__(self, graph: QGraph) -> None:
        self.g = graph
        self.tensors: list[BlobTensor] = []
        self.ops: list[BlobOp] = []
        self.index: dict[int, int] = {}

    # -- tensors ---------------------------------------------------------------------------
    def fail(self, op: QOp, msg: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{self.g.name}: {op.where}: {msg}")

    def act(self, op: QOp, t: int) -> int:
        """Blob index of activation tensor ``t`` (an int8 tensor computed at run time)."""
        if t < 0:
            raise self.fail(op, "a required input is missing")
        qt = self.g.tensors[t]
        if qt.is_const:
            raise self.fail(op, f"tensor {qt.name!r} is a constant where edgeai needs a computed activation")
        if qt.dtype != "int8":
            raise self.fail(op, f"tensor {qt.name!r} is {qt.dtype}; edgeai runs int8 activations only")
        if len(qt.scale) != 1:
            raise self.fail(op, f"activation {qt.name!r} has per-channel quantization; only per-tensor is supported")
        if len(qt.shape) > 4:
            raise self.fail(op, f"tensor {qt.name!r} has rank {len(qt.shape)}; at most 4 is supported")
        self.check_quant(op, qt)
        if t not in self.index:
            shape = qt.shape or (1,)
            self.index[t] = len(self.tensors)
            self.tensors.append(BlobTensor(qt.name, INT8, KIND_ARENA, shape, float(qt.scale[0]), int(qt.zero_point[0])))
        return self.index[t]

    def ids(self, op: QOp, t: int) -> int:
        """Blob index of int32 tensor ``t``, the ids an EMBEDDING_BAG reads (a model input)."""
        qt = self.g.tensors[t]
        if qt.is_const or qt.dtype != "int32":
            raise self.fail(op, f"ids {qt.name!r} must be a computed int32 tensor (a model input), not {qt.dtype}")
        if t not in self.index:
            self.index[t] = len(self.tensors)
            self.tensors.append(BlobTensor(qt.name, INT32, KIND_ARENA, qt.shape or (1,)))
        return self.index[t]

    def check_quant(self, op: QOp, qt: QTensor) -> None:
        """An int8 activation's scale must be positive and its zero point an int8 value."""
        scale, zp = float(qt.scale[0]), int(qt.zero_point[0])
        if not (math.isfinite(scale) and scale > 0):
            raise self.fail(op, f"activation {qt.name!r} has scale {scale}; int8 activations need a positive scale")
        if not -128 <= zp <= 127:
            raise self.fail(op, f"activation {qt.name!r} has zero point {zp}, outside int8's -128..127")

    def const(self, name: str, data: npt.NDArray[Any], dtype: int, scale: float = 0.0, zp: int = 0) -> int:
        self.tensors.append(BlobTensor(name, dtype, KIND_CONST, tuple(data.shape) or (1,), scale, zp, data=data))
        return len(self.tensors) - 1

    def weights(self, op: QOp, t: int, rank: int) -> QTensor:
        if t < 0:
            raise self.fail(op, "the weights input is missing")
        qt = self.g.tensors[t]
        if not qt.is_const or qt.dtype != "int8":
            raise self.fail(
                op,
                f"weights {qt.name!r} must be a constant int8 tensor "
                f"(got {qt.dtype}{'' if qt.is_const else ', computed'})",
            )
        if len(qt.shape) != rank:
            raise self.fail(op, f"weights {qt.name!r} have shape {qt.shape}; expected rank {rank}")
        return qt

    def bias(self, op: QOp, channels: int) -> int:
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            return -1
        qt = self.g.tensors[op.inputs[2]]
        if not qt.is_const or qt.dtype != "int32" or qt.data is None:
            raise self.fail(op, f"bias {qt.name!r} must be a constant int32 tensor")
        if qt.data.size != channels:
            raise self.fail(op, f"bias {qt.name!r} has {qt.data.size} values for {channels} output channels")
        return self.const(qt.name, qt.data.reshape(channels).astype("<i4"), INT32)

    def requant(self, op: QOp, name: str, in_t: QTensor, w: QTensor, out_t: QTensor, channels: int) -> tuple[int, int]:
        """Per-channel (multiplier, shift) tensors, as TFLite's PopulateConvolutionQuantizationParams."""
        ws = w.scale
        if len(ws) not in (1, channels):
            raise self.fail(op, f"weights {w.name!r} have {len(ws)} scales for {channels} output channels")
        in_scale = float(in_t.scale[0])
        out_scale = float(out_t.scale[0])
        n = len(ws)  # per-tensor weights keep a single (multiplier, shift) pair
        mults = np.zeros(n, "<i4")
        shifts = np.zeros(n, "<i4")
        for c in range(n):
            real = in_scale * float(ws[c]) / out_scale
            try:
                mults[c], shifts[c] = quantize_multiplier(real)
            except ValueError as e:
                raise self.fail(op, f"output channel {c}: {e}") from None
        return (
            self.const(f"{name}/multiplier", mults, INT32),
            self.const(f"{name}/shift", shifts, INT32),
        )

    def weighted(
        self, op: QOp, w: QTensor, in_t: QTensor, out_t: QTensor, channels: int
    ) -> tuple[list[int], dict[str, int]]:
        """The constant inputs (weights, bias, multipliers, shifts) and the common params of
        CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED."""
        mult, shift = self.requant(op, out_t.name, in_t, w, out_t, channels)
        assert w.data is not None
        wi = self.const(w.name, w.data.astype(np.int8), INT8, float(w.scale[0]), 0)
        b = self.bias(op, channels)
        lo, hi = self.activation(op, out_t)
        params = {
            "input_offset": -int(in_t.zero_point[0]),
            "output_offset": int(out_t.zero_point[0]),
            "act_min": lo,
            "act_max": hi,
        }
        return [wi, b, mult, shift], params

    def activation(self, op: QOp, out_t: QTensor) -> tuple[int, int]:
        a = op.options.get("activation", "NONE")
        if a not in _ACTIVATIONS:
            raise self.fail(op, f"fused activation {a} is not supported (only {', '.join(_ACTIVATIONS)})")
        return activation_range(a, float(out_t.scale[0]), int(out_t.zero_point[0]))

    def emit(self, op: QOp, opcode: str, inputs: list[int], **params: int) -> None:
        p = pack_params(opcode, **params)
        if opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D") and (
            max(p[0:4]) > MAX_STRIDE or max(p[4:6]) > MAX_STRIDE - 1
        ):
            what = "window" if opcode.endswith("POOL_2D") else "dilations"
            raise self.fail(
                op,
                f"strides ({p[0]}, {p[1]}), {what} ({p[2]}, {p[3]}) or padding ({p[4]}, {p[5]}) exceed the "
                f"runtime's limits ({MAX_STRIDE}, padding {MAX_STRIDE - 1})",
            )
        out = self.act(op, op.outputs[0])
        self.ops.append(BlobOp(OPCODES[opcode], inputs, out, p, name=f"#{op.index} {op.type}"))

    def window(self, op: QOp, size: tuple[int, int], k: tuple[int, int], s: tuple[int, int],
               d: tuple[int, int], out: tuple[int, int]) -> tuple[int, int]:  # fmt: skip
        """The (top, left) padding the kernels take, checking the output size and that the end
        is padded at most one more than the start (the runtime's rule)."""
        if op.options.get("padding") not in ("SAME", "VALID", "EXPLICIT"):
            raise self.fail(op, "unknown padding type")
        top, left, bottom, right = window_pads(op, size, k, d)
        expected = tuple((size[i] + (top, left)[i] + (bottom, right)[i] - (k[i] - 1) * d[i] - 1) // s[i] + 1
                         for i in range(2))  # fmt: skip
        if expected != out:
            raise self.fail(op, f"output size {out} does not follow from input {size}, window {k} and strides {s}")
        if bottom > top + 1 or right > left + 1:
            raise self.fail(
                op,
                f"padding (top {top}, left {left}, bottom {bottom}, right {right}) pads the end more than one "
                "past the start, which the runtime does not do",
            )
        return top, left

    # -- operators ---------------------------------------------------------------------------
    def conv(self, op: QOp, depthwise: bool) -> None:
        g = self.g
        x = self.act(op, op.inputs[0])
        in_t, out_t = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        w = self.weights(op, op.inputs[1], 4)
        if len(in_t.shape) != 4 or len(out_t.shape) != 4:
            raise self.fail(op, f"input {in_t.shape} and output {out_t.shape} must be NHWC (rank 4)")
        n, h, wd, ci = in_t.shape
        on, oh, ow, co = out_t.shape
        extra: dict[str, int] = {}
        if depthwise:
            _, kh, kw, fco = w.shape
            if fco != co or co % ci:
                raise self.fail(op, f"filter {w.shape} does not match input channels {ci} and output channels {co}")
            extra = {"depth_multiplier": co // ci}
        else:
            fco, kh, kw, fci = w.shape
            if fco != co or ci % fci or co % (ci // fci):
                raise self.fail(op, f"filter {w.shape} does not match input channels {ci} and output channels {co}")
        if on != n:
            raise self.fail(op, f"batch of output {out_t.shape} differs from input {in_t.shape}")
        o = op.options
        sh, sw, dh, dw = o["stride_h"], o["stride_w"], o["dilation_h"] or 1, o["dilation_w"] or 1
        if min(sh, sw, dh, dw) < 1:
            raise self.fail(op, f"strides ({sh}, {sw}) and dilations ({dh}, {dw}) must be at least 1")
        pad_h, pad_w = self.window(op, (h, wd), (kh, kw), (sh, sw), (dh, dw), (oh, ow))
        terms = kh * kw * (1 if depthwise else w.shape[3])
        if terms > MAX_REDUCTION:
            raise self.fail(op, f"each output sums {terms} products; the runtime allows at most {MAX_REDUCTION}")
        consts, common = self.weighted(op, w, in_t, out_t, co)
        self.emit(
            op,
            "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D",
            [x, *consts],
            stride_h=sh,
            stride_w=sw,
            dilation_h=dh,
            dilation_w=dw,
            pad_h=pad_h,
            pad_w=pad_w,
            **common,
            **extra,
        )

    def fully_connected(self, op: QOp) -> None:
        g = self.g
        if op.options.get("weights_format", 0) != 0:
            raise self.fail(op, "shuffled weights formats are not supported")
        x = self.act(op, op.inputs[0])
        in_t, out_t = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        w = self.weights(op, op.inputs[1], 2)
        co, depth = w.shape
        elems = int(np.prod(in_t.shape or (1,)))
        if elems % depth:
            raise self.fail(op, f"input {in_t.shape} is not a whole number of rows of {depth}")
        if int(np.prod(out_t.shape or (1,))) != elems // depth * co:
            raise self.fail(op, f"output {out_t.shape} does not hold {elems // depth} x {co} values")
        if depth > MAX_REDUCTION:
            raise self.fail(op, f"each output sums {depth} products; the runtime allows at most {MAX_REDUCTION}")
        if np.any(w.zero_point != 0):
            raise self.fail(op, f"weights {w.name!r} have a non-zero zero point; int8 weights must be symmetric")
        consts, common = self.weighted(op, w, in_t, out_t, co)
        self.emit(op, "FULLY_CONNECTED", [x, *consts], filter_offset=0, **common)

    def pool(self, op: QOp) -> None:
        g = self.g
        x = self.act(op, op.inputs[0])
        in_t, out_t = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        if len(in_t.shape) != 4 or len(out_t.shape) != 4:
            raise self.fail(op, f"input {in_t.shape} and output {out_t.shape} must be NHWC (rank 4)")
        if int(in_t.zero_point[0]) != int(out_t.zero_point[0]) or not np.isclose(
            in_t.scale[0], out_t.scale[0], rtol=1e-6
        ):
            raise self.fail(op, "input and output quantization differ; a requantizing pool is not supported")
        _n, h, wd, c = in_t.shape
        _, oh, ow, oc = out_t.shape
        o = op.options
        sh, sw, fh, fw = o["stride_h"], o["stride_w"], o["filter_h"], o["filter_w"]
        if min(sh, sw, fh, fw) < 1 or oc != c:
            raise self.fail(op, "invalid pool window, stride or channel count")
        pad_h, pad_w = self.window(op, (h, wd), (fh, fw), (sh, sw), (1, 1), (oh, ow))
        lo, hi = self.activation(op, out_t)
        self.emit(
            op,
            op.type,
            [x],
            stride_h=sh,
            stride_w=sw,
            filter_h=fh,
            filter_w=fw,
            pad_h=pad_h,
            pad_w=pad_w,
            act_min=lo,
            act_max=hi,
        )

    def add(self, op: QOp) -> None:
        g = self.g
        a, b = self.act(op, op.inputs[0]), self.act(op, op.inputs[1])
        ta, tb, to = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        try:
            shape = np.broadcast_shapes(ta.shape, tb.shape)
        except ValueError:
            raise self.fail(op, f"input shapes {ta.shape} and {tb.shape} do not broadcast") from None
        if tuple(shape) != tuple(to.shape):
            raise self.fail(op, f"output {to.shape} is not the broadcast of {ta.shape} and {tb.shape}")
        left_shift = 20
        s1, s2, so = (float(np.float32(t.scale[0])) for t in (ta, tb, to))
        twice_max = 2.0 * max(s1, s2)
        m1, sh1 = quantize_multiplier(s1 / twice_max)
        m2, sh2 = quantize_multiplier(s2 / twice_max)
        try:
            mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * so))
        except ValueError as e:
            raise self.fail(op, str(e)) from None
        lo, hi = self.activation(op, to)
        self.emit(
            op,
            "ADD",
            [a, b],
            input1_offset=-int(ta.zero_point[0]),
            input1_multiplier=m1,
            input1_shift=sh1,
            input2_offset=-int(tb.zero_point[0]),
            input2_multiplier=m2,
            input2_shift=sh2,
            left_shift=left_shift,
            output_offset=int(to.zero_point[0]),
            act_min=lo,
            act_max=hi,
            output_multiplier=mo,
            output_shift=sho,
        )

    def softmax(self, op: QOp) -> None:
        g = self.g
        x = self.act(op, op.inputs[0])
        in_t, out_t = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        if in_t.shape != out_t.shape:
            raise self.fail(op, f"output {out_t.shape} differs from input {in_t.shape}")
        if int(out_t.zero_point[0]) != -128 or abs(float(out_t.scale[0]) - 1 / 256) > 0.001 / 256:
            raise self.fail(op, "int8 softmax output must have zero point -128 and scale 1/256")
        depth = in_t.shape[-1] if in_t.shape else 1
        if depth > MAX_SOFTMAX_DEPTH:
            raise self.fail(op, f"softmax over {depth} values; the runtime allows at most {MAX_SOFTMAX_DEPTH}")
        beta = float(np.float32(op.options.get("beta", 1.0)))
        real = min(beta * float(in_t.scale[0]) * (1 << (31 - 5)), (1 << 31) - 1.0)
        try:
            mult, left_shift = quantize_multiplier_greater_than_one(real)
        except ValueError as e:
            raise self.fail(op, f"input scale too small for softmax ({e})") from None
        radius = int(np.floor(1.0 * ((1 << 5) - 1) * (1 << (31 - 5)) / (1 << left_shift)))
        self.emit(op, "SOFTMAX", [x], input_multiplier=mult, input_left_shift=left_shift, diff_min=-radius)

    def reshape(self, op: QOp) -> None:
        g = self.g
        x = self.act(op, op.inputs[0])
        in_t, out_t = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        if int(np.prod(in_t.shape or (1,))) != int(np.prod(out_t.shape or (1,))):
            raise self.fail(op, f"output {out_t.shape} does not hold the {in_t.shape} input's values")
        self.emit(op, "RESHAPE", [x])

    def embedding_bag(self, op: QOp) -> None:
        g = self.g
        x = self.ids(op, op.inputs[0])
        ids_t, out_t = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        table = self.weights(op, op.inputs[1], 2)
        assert table.data is not None
        rows, depth = table.shape
        if len(table.scale) != 1 or np.any(table.zero_point != 0):
            raise self.fail(op, f"table {table.name!r} must be quantized per tensor and symmetric (zero point 0)")
        if len(ids_t.shape) != 2 or ids_t.shape[0] != 1 or not 1 <= ids_t.shape[1] <= MAX_BAG_IDS:
            raise self.fail(op, f"ids {ids_t.shape} must be [1, L] with L at most {MAX_BAG_IDS}")
        if rows > MAX_BAG_ROWS:
            raise self.fail(op, f"table has {rows} rows; the runtime allows at most {MAX_BAG_ROWS}")
        if tuple(out_t.shape) != (1, depth):
            raise self.fail(op, f"output {out_t.shape} must be [1, {depth}], one mean row of the table")
        ngrams = int(op.options.get("ngrams", 2))
        if ngrams not in (1, 2):
            raise self.fail(op, f"ngrams is {ngrams}; the text features are 1- or 2-grams")
        # the kernel's mean carries 8 fractional bits: m = 256 x sum / n in table steps
        real = float(table.scale[0]) / (256.0 * float(out_t.scale[0]))
        try:
            mult, shift = quantize_multiplier(real)
        except ValueError as e:
            raise self.fail(op, str(e)) from None
        lo, hi = self.activation(op, out_t)
        wi = self.const(table.name, table.data.astype(np.int8), INT8, float(table.scale[0]), 0)
        self.emit(
            op,
            "EMBEDDING_BAG",
            [x, wi],
            ngrams=ngrams,
            output_offset=int(out_t.zero_point[0]),
            output_multiplier=mult,
            output_shift=shift,
            act_min=lo,
            act_max=hi,
        )

    def run(self) -> Blob:
        for t in self.g.inputs:
            where = QOp("input", [], [], index=-1)
            if self.g.tensors[t].dtype == "int32":
                self.ids(where, t)
            else:
                self.act(where, t)
        for op in self.g.ops:
            if len(op.outputs) != 1:
                raise self.fail(op, f"has {len(op.outputs)} outputs; edgeai operators have one")
            need = _MIN_INPUTS.get(op.type, 1)
            if len(op.inputs) < need:
                raise self.fail(op, f"has {len(op.inputs)} input(s); {op.type} needs at least {need}")
            out_t = self.g.tensors[op.outputs[0]]
            if out_t.dtype == "int8" and len(out_t.scale) == 1:
                self.check_quant(op, out_t)  # before its scale divides anything
            if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                self.conv(op, op.type == "DEPTHWISE_CONV_2D")
            elif op.type == "FULLY_CONNECTED":
                self.fully_connected(op)
            elif op.type in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
                self.pool(op)
            elif op.type == "ADD":
                self.add(op)
            elif op.type == "SOFTMAX":
                self.softmax(op)
            elif op.type == "RESHAPE":
                self.reshape(op)
            elif op.type == "EMBEDDING_BAG":
                self.embedding_bag(op)
            else:
                raise self.fail(op, "is not supported")
        outs = []
        for t in self.g.outputs:
            if t not in self.index:
                raise UnsupportedModelError(
                    f"{self.g.name}: output {self.g.tensors[t].name!r} is not computed by any operator"
                )
            outs.append(self.index[t])
        return Blob(self.tensors, self.ops, [self.index[t] for t in self.g.inputs], outs)


def lower(graph: QGraph) -> Blob:
    """Turn a quantized graph into blob records (arena offsets not yet planned)."""
    return _Lowering(graph).run()
