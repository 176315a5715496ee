"""Requantization helpers against TFLite's definitions, written out longhand."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edgeai.quant import (
    INT32_MAX,
    INT32_MIN,
    activation_range,
    mbqm,
    quantize_multiplier,
    rdbpot,
    srdhm,
)

i32 = st.integers(INT32_MIN, INT32_MAX)


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def srdhm_longhand(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _trunc_div(ab + nudge, 2**31)


def rdbpot_longhand(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


@given(i32, i32)
def test_srdhm_matches_longhand(a: int, b: int) -> None:
    assert int(srdhm(a, b)) == srdhm_longhand(a, b)


def test_srdhm_saturates() -> None:
    assert int(srdhm(INT32_MIN, INT32_MIN)) == INT32_MAX
    assert int(srdhm(INT32_MAX, INT32_MAX)) == INT32_MAX - 1


@given(i32, st.integers(0, 31))
def test_rdbpot_matches_longhand(x: int, e: int) -> None:
    assert int(rdbpot(x, e)) == rdbpot_longhand(x, e)


def test_rdbpot_rounds_half_away_from_zero() -> None:
    assert rdbpot(np.array([5, -5, 6, -6, 7, -7]), 1).tolist() == [3, -3, 3, -3, 4, -4]


@given(st.integers(-(2**20), 2**20), st.integers(0, INT32_MAX), st.integers(-31, 10))
def test_mbqm_matches_longhand(x: int, m: int, s: int) -> None:
    left, right = max(s, 0), max(-s, 0)
    shifted = ((x << left) + 2**31) % 2**32 - 2**31
    assert int(mbqm(x, m, s)) == rdbpot_longhand(srdhm_longhand(shifted, m), right)


def test_quantize_multiplier_known_values() -> None:
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(0.25) == (1 << 30, -1)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    # q rounds up to 2^31: halve it and bump the shift, as TFLite does
    assert quantize_multiplier(1.0 - 2**-40) == (1 << 30, 1)
    # below 2^-31 every product rounds to zero: multiplier 0 (vww01 has 44 such channels)
    assert quantize_multiplier(1.3e-11) == (0, 0)
    m, s = quantize_multiplier(0.0123)
    assert 2**30 <= m < 2**31 and math.isclose(m * 2.0 ** (s - 31), 0.0123, rel_tol=1e-9)


def test_activation_ranges() -> None:
    assert activation_range("NONE", 0.1, 3) == (-128, 127)
    assert activation_range("RELU", 0.1, -20) == (-20, 127)
    assert activation_range("RELU6", 0.05, -128) == (-128, -8)
    assert activation_range("RELU6", 0.01, 0) == (0, 127)
    assert activation_range("RELU_N1_TO_1", 0.1, 0) == (-10, 10)
