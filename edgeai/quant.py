"""Fixed-point requantization, exactly as TFLite 2.14's reference integer kernels do it.

Two halves: the compile-time side turns real scales into a Q31 multiplier and a shift
(``quantize_multiplier``, TFLite's ``QuantizeMultiplier``), and the run-time side applies them
to int32 accumulators (``mbqm``, TFLite's ``MultiplyByQuantizedMultiplier`` with gemmlowp's
double rounding). The numpy run-time functions wrap int32 arithmetic the way the C runtime
does (see docs/model-format.md), so the two agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def tflite_round(x: float) -> float:
    """``std::round``: half away from zero (Python's ``round`` is half to even)."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: ``real ~= m * 2^(shift - 31)``, ``m`` in [2^30, 2^31).

    A scale below 2^-31 gives ``(0, 0)``, as TFLite does: every product then rounds to 0.
    """
    if real == 0.0:
        return 0, 0
    if real < 0.0 or not math.isfinite(real):
        raise ValueError(f"requantization scale {real!r} is not a finite positive number")
    q, shift = math.frexp(real)
    q_fixed = int(tflite_round(q * (1 << 31)))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"requantization scale {real!r} is too large (shift {shift} > 30)")
    return q_fixed, shift


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplierGreaterThanOne`` (used by softmax): shift is >= 0."""
    if real <= 1.0:
        raise ValueError(f"multiplier {real!r} must be greater than one")
    m, shift = quantize_multiplier(real)
    if shift < 0:
        raise ValueError(f"multiplier {real!r} gave a negative shift")
    return m, shift


def quantize_value(real: float, scale: float, zero_point: int) -> int:
    """TFLite's ``Quantize`` for activation bounds: ``zp + round(f / scale)`` in float32."""
    tmp = float(np.float32(real) / np.float32(scale))
    return zero_point + int(tflite_round(tmp))


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite ``CalculateActivationRangeQuantized`` for int8 outputs."""
    qmin, qmax = -128, 127
    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize_value(0.0, scale, zero_point)), qmax
    if activation == "RELU6":
        return (
            max(qmin, quantize_value(0.0, scale, zero_point)),
            min(qmax, quantize_value(6.0, scale, zero_point)),
        )
    if activation == "RELU_N1_TO_1":
        return (
            max(qmin, quantize_value(-1.0, scale, zero_point)),
            min(qmax, quantize_value(1.0, scale, zero_point)),
        )
    raise ValueError(f"unsupported fused activation {activation}")


# ---- run time: vectorised int32 fixed point -------------------------------------------------


def wrap32(x: npt.ArrayLike) -> I64:
    """Wrap integers to int32 range (two's complement), kept in int64 for headroom."""
    a = np.asarray(x, dtype=np.int64)
    return ((a + 2**31) & 0xFFFFFFFF) - 2**31


def srdhm(a: npt.ArrayLike, b: npt.ArrayLike) -> I64:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values."""
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    overflow = (a64 == INT32_MIN) & (b64 == INT32_MIN)
    ab = a64 * b64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    # C integer division truncates toward zero.
    q = np.where(s >= 0, s >> 31, -((-s) >> 31))
    return np.where(overflow, INT32_MAX, q).astype(np.int64)


def rdbpot(x: npt.ArrayLike, exponent: npt.ArrayLike) -> I64:
    """gemmlowp ``RoundingDivideByPOT`` (0 <= exponent <= 31)."""
    x64 = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0)
    return (x64 >> e) + (remainder > threshold)


def mbqm(x: npt.ArrayLike, multiplier: npt.ArrayLike, shift: npt.ArrayLike) -> I64:
    """TFLite ``MultiplyByQuantizedMultiplier`` (double rounding); ``x * 2^left`` wraps."""
    s = np.asarray(shift, dtype=np.int64)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    shifted = wrap32(np.asarray(x, dtype=np.int64) << left)
    return rdbpot(srdhm(shifted, multiplier), right)
