"""``edgeai.ref``: the numpy reference interpreter of an ``.eai`` blob.

It runs the blob with the integer arithmetic of TFLite 2.14's reference kernels, exactly as
the C runtime does (docs/model-format.md): it is the golden model the firmware must equal.
Vectorised numpy, int64 intermediates wrapped to int32 where the C wraps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .blob import INT8, KIND_CONST, OPCODES, Blob, BlobOp, np_dtype, read_blob
from .errors import EdgeAIError
from .quant import INT32_MAX, mbqm, rdbpot, srdhm, wrap32

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]


# ---- kernels ----------------------------------------------------------------------------------


def _windows(
    x: I64, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int, ph: int, pw: int, fill: int
) -> I64:
    """[N, OH, OW, KH, KW, C] taps of ``x`` (NHWC) with out-of-image taps set to ``fill``."""
    n, h, w, c = x.shape
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    bottom = max(need_h - h - ph, 0)
    right = max(need_w - w - pw, 0)
    xp = np.pad(x, ((0, 0), (ph, bottom), (pw, right), (0, 0)), constant_values=fill)
    out = np.empty((n, oh, ow, kh, kw, c), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            out[:, :, :, ky, kx, :] = xp[:, y0 : y0 + (oh - 1) * sh + 1 : sh, x0 : x0 + (ow - 1) * sw + 1 : sw, :]
    return out


def _requant(acc: I64, bias: I64 | None, mult: I64, shift: I64, p: Sequence[int]) -> I8:
    if bias is not None:
        acc = acc + bias
    acc = wrap32(acc)
    out = mbqm(acc, mult, shift) + p[7]
    return np.clip(out, p[8], p[9]).astype(np.int8)


def _matmul_exact(a: I64, b: I64) -> I64:
    """Integer matmul through float64 BLAS: exact while |sums| < 2^53 (ours are < 2^32)."""
    return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


def conv_2d(x: I8, w: I8, bias: I64 | None, mult: I64, shift: I64, p: Sequence[int], out_shape: tuple[int, ...]) -> I8:
    n, oh, ow, co = out_shape
    _fco, kh, kw, fci = w.shape
    ci = x.shape[3]
    groups = ci // fci
    xs = x.astype(np.int64) + p[6]
    taps = _windows(xs, kh, kw, p[0], p[1], p[2], p[3], oh, ow, p[4], p[5], 0)
    cog = co // groups
    acc = np.empty((n, oh, ow, co), dtype=np.int64)
    for g in range(groups):
        t = taps[..., g * fci : (g + 1) * fci].reshape(n * oh * ow, kh * kw * fci)
        wg = w[g * cog : (g + 1) * cog].reshape(cog, kh * kw * fci).astype(np.int64)
        acc[..., g * cog : (g + 1) * cog] = _matmul_exact(t, wg.T).reshape(n, oh, ow, cog)
    return _requant(acc, bias, mult, shift, p)


def depthwise_conv_2d(
    x: I8, w: I8, bias: I64 | None, mult: I64, shift: I64, p: Sequence[int], out_shape: tuple[int, ...]
) -> I8:
    n, oh, ow, co = out_shape
    _, kh, kw, _ = w.shape
    ci = x.shape[3]
    dm = co // ci
    xs = x.astype(np.int64) + p[6]
    taps = _windows(xs, kh, kw, p[0], p[1], p[2], p[3], oh, ow, p[4], p[5], 0)
    wk = w.reshape(kh, kw, ci, dm).astype(np.int64)
    acc = np.einsum("nhwyxc,yxcm->nhwcm", taps, wk).reshape(n, oh, ow, co)
    return _requant(acc, bias, mult, shift, p)


def fully_connected(
    x: I8, w: I8, bias: I64 | None, mult: I64, shift: I64, p: Sequence[int], out_shape: tuple[int, ...]
) -> I8:
    _co, depth = w.shape
    xs = x.reshape(-1, depth).astype(np.int64) + p[6]
    ws = w.astype(np.int64) + p[0]
    acc = _matmul_exact(xs, ws.T)
    return _requant(acc, bias, mult, shift, p).reshape(out_shape)


def _pool_taps(x: I8, p: Sequence[int], out_shape: tuple[int, ...], fill: int) -> I64:
    _, oh, ow, _ = out_shape
    return _windows(x.astype(np.int64), p[2], p[3], p[0], p[1], 1, 1, oh, ow, p[4], p[5], fill)


def average_pool_2d(x: I8, p: Sequence[int], out_shape: tuple[int, ...]) -> I8:
    total = _pool_taps(x, p, out_shape, 0).sum(axis=(3, 4))
    ones = np.ones((*x.shape[:3], 1), dtype=np.int8)
    count = _pool_taps(ones, p, out_shape, 0).sum(axis=(3, 4))
    half = count // 2
    # C division truncates toward zero
    avg = np.where(total > 0, (total + half) // count, -((half - total) // count))
    return np.clip(avg, p[8], p[9]).astype(np.int8)


def max_pool_2d(x: I8, p: Sequence[int], out_shape: tuple[int, ...]) -> I8:
    m = _pool_taps(x, p, out_shape, -(1 << 20)).max(axis=(3, 4))
    return np.clip(m, p[8], p[9]).astype(np.int8)


def add(a: I8, b: I8, p: Sequence[int], out_shape: tuple[int, ...]) -> I8:
    def scaled(v: I8, offset: int, m: int, s: int) -> I64:
        return mbqm(wrap32((v.astype(np.int64) + offset) << p[6]), m, s)

    total = wrap32(scaled(a, p[0], p[1], p[2]) + scaled(b, p[3], p[4], p[5]))
    out = mbqm(total, p[10], p[11]) + p[7]
    return np.broadcast_to(np.clip(out, p[8], p[9]), out_shape).astype(np.int8)


def embedding_bag(ids: I32, table: I8, p: Sequence[int], out_shape: tuple[int, ...]) -> I8:
    """The mean of the table rows the valid ids name (-1 and any id outside [0, rows) are
    skipped), to 1/256 of a table step, rounded half away from zero; then requantized."""
    flat = np.asarray(ids, dtype=np.int64).reshape(-1)
    rows = table.shape[0]
    valid = flat[(flat >= 0) & (flat < rows)]
    n = len(valid)
    if n == 0:
        mean = np.zeros(table.shape[1], dtype=np.int64)
    else:
        num = table[valid].astype(np.int64).sum(axis=0) * 256
        mean = np.sign(num) * ((2 * np.abs(num) + n) // (2 * n))
    out = mbqm(mean, p[2], p[3]) + p[1]
    return np.clip(out, p[4], p[5]).astype(np.int8).reshape(out_shape)


# gemmlowp fixed point on int32 raw values (held in int64) ---------------------------------------


def _srmpot(x: I64, exponent: int) -> I64:
    """SaturatingRoundingMultiplyByPOT<exponent>."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rdbpot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, -(2**31), wrap32(x << exponent)))


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: I64) -> I64:
    constant_term = 1895147668
    constant_1_over_3 = 715827883
    x = wrap32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = _srmpot(x4, -2)
    poly = _srmpot(wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), -1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


def _exp_on_negative_values(a: I64, integer_bits: int = 5) -> I64:
    frac = 31 - integer_bits
    one_quarter = 1 << (frac - 2)
    mask = one_quarter - 1
    a_mod = wrap32((a & mask) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(_srmpot(a_mod, integer_bits))
    remainder = wrap32(a_mod - a)
    for exponent, multiplier in (
        (-2, 1672461947),
        (-1, 1302514674),
        (0, 790015084),
        (1, 290630308),
        (2, 39332535),
        (3, 720401),
        (4, 242),
    ):
        if integer_bits > exponent:
            bit = 1 << (frac + exponent)
            result = np.where((remainder & bit) != 0, srdhm(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def _one_over_one_plus_x_for_x_in_0_1(a: I64) -> I64:
    s = a + INT32_MAX
    half_denominator = np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2))
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))
    for _ in range(3):
        hdx = srdhm(half_denominator, x)
        one_minus = wrap32((1 << 29) - hdx)
        x = wrap32(x + _srmpot(srdhm(x, one_minus), 2))
    return _srmpot(x, 1)


def softmax(x: I8, p: Sequence[int]) -> I8:
    mult, left_shift, diff_min = p[0], p[1], p[2]
    depth = x.shape[-1]
    rows = x.reshape(-1, depth).astype(np.int64)
    diff = rows - rows.max(axis=1, keepdims=True)
    valid = diff >= diff_min
    rescaled = srdhm(wrap32(diff << left_shift), mult)
    exps = _exp_on_negative_values(rescaled)
    sum_of_exps = wrap32(np.where(valid, rdbpot(exps, 12), 0).sum(axis=1, keepdims=True))
    # GetReciprocal
    u = sum_of_exps & 0xFFFFFFFF
    headroom_plus_one = np.array([32 - int(v).bit_length() for v in u.ravel()], dtype=np.int64).reshape(u.shape)
    num_bits_over_unit = 12 - headroom_plus_one
    shifted_sum_minus_one = wrap32(((u << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    shifted_scale = _one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
    unsat = rdbpot(srdhm(shifted_scale, exps), num_bits_over_unit + 31 - 8)
    out = np.where(valid, np.clip(unsat - 128, -128, 127), -128)
    return out.reshape(x.shape).astype(np.int8)


# ---- interpreter ------------------------------------------------------------------------------


class Interpreter:
    """Runs a blob op by op; ``on_op`` sees every intermediate tensor as it is computed."""

    def __init__(self, blob: Blob | bytes) -> None:
        self.blob = read_blob(blob) if isinstance(blob, (bytes, bytearray, memoryview)) else blob

    def input_shapes(self) -> list[tuple[int, ...]]:
        return [self.blob.tensors[i].shape for i in self.blob.inputs]

    def output_shapes(self) -> list[tuple[int, ...]]:
        return [self.blob.tensors[i].shape for i in self.blob.outputs]

    def run(
        self,
        inputs: Sequence[npt.ArrayLike],
        *,
        on_op: Callable[[int, BlobOp, I8], None] | None = None,
    ) -> list[I8]:
        """Run the model on ``inputs`` (int8 arrays; int32 for the ids of an EMBEDDING_BAG);
        returns the outputs.

        ``on_op(index, op, output)`` is called after each op."""
        b = self.blob
        if len(inputs) != len(b.inputs):
            raise EdgeAIError(f"the model takes {len(b.inputs)} input(s), {len(inputs)} given")
        values: dict[int, npt.NDArray[Any]] = {}
        for k, (idx, arr) in enumerate(zip(b.inputs, inputs, strict=True)):
            t = b.tensors[idx]
            a = np.asarray(arr)
            dtype = np_dtype(t.dtype)
            if a.size != t.elements:
                raise EdgeAIError(f"input {k} ({t.name!r}) needs {t.elements} {dtype} values {t.shape}, got {a.size}")
            values[idx] = a.astype(dtype).reshape(t.shape)
        for i, op in enumerate(b.ops):
            out = self._run_op(op, values)
            values[op.output] = out
            if on_op is not None:
                on_op(i, op, out)
        return [values[i].copy() for i in b.outputs]

    def _tensor(self, idx: int, values: dict[int, npt.NDArray[Any]]) -> npt.NDArray[Any]:
        t = self.blob.tensors[idx]
        if t.kind == KIND_CONST:
            assert t.data is not None
            return t.data
        return values[idx]

    def _run_op(self, op: BlobOp, values: dict[int, npt.NDArray[Any]]) -> I8:
        b = self.blob
        out_shape = b.tensors[op.output].shape
        p = op.params
        code = op.opcode
        x = self._tensor(op.inputs[0], values)
        if code in (OPCODES["CONV_2D"], OPCODES["DEPTHWISE_CONV_2D"], OPCODES["FULLY_CONNECTED"]):
            w = self._tensor(op.inputs[1], values).astype(np.int8)
            bias = None if op.inputs[2] < 0 else self._tensor(op.inputs[2], values).astype(np.int64)
            mult = self._tensor(op.inputs[3], values).astype(np.int64)
            shift = self._tensor(op.inputs[4], values).astype(np.int64)
            fn = {
                OPCODES["CONV_2D"]: conv_2d,
                OPCODES["DEPTHWISE_CONV_2D"]: depthwise_conv_2d,
                OPCODES["FULLY_CONNECTED"]: fully_connected,
            }[code]
            return fn(x.astype(np.int8), w, bias, mult, shift, p, out_shape)
        if code == OPCODES["AVERAGE_POOL_2D"]:
            return average_pool_2d(x.astype(np.int8), p, out_shape)
        if code == OPCODES["MAX_POOL_2D"]:
            return max_pool_2d(x.astype(np.int8), p, out_shape)
        if code == OPCODES["ADD"]:
            y = self._tensor(op.inputs[1], values)
            return add(x.astype(np.int8), y.astype(np.int8), p, out_shape)
        if code == OPCODES["SOFTMAX"]:
            return softmax(x.astype(np.int8), p)
        if code == OPCODES["RESHAPE"]:
            return np.asarray(x, dtype=np.int8).reshape(out_shape)
        if code == OPCODES["EMBEDDING_BAG"]:
            table = self._tensor(op.inputs[1], values).astype(np.int8)
            return embedding_bag(np.asarray(x, dtype=np.int32), table, p, out_shape)
        raise EdgeAIError(f"op {op.opname} is not implemented by the reference interpreter")


def run(blob: Blob | bytes, inputs: Sequence[npt.ArrayLike]) -> list[I8]:
    """Run ``blob`` once on ``inputs`` with the reference interpreter."""
    return Interpreter(blob).run(inputs)


__all__ = ["INT8", "Interpreter", "run"]
