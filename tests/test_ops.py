"""Every operator edgeai supports, on small random int8 models built in the test: TFLite's
reference kernels, ``edgeai.ref`` and the C runtime must agree bit for bit. Also the errors a
user meets with models edgeai cannot compile."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from edgeai import oracle
from edgeai.compiler import compile_model
from edgeai.errors import EdgeAIError
from edgeai.native import NativeModel
from edgeai.ref import Interpreter
from edgeai.verify import verify

try:
    from .tflite_builder import ModelBuilder
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from tflite_builder import ModelBuilder  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = 20

Rng = np.random.Generator


# the comparisons need TFLite's reference kernels; the error-path tests below run without them
ORACLE_MISSING = oracle.available()
needs_oracle = pytest.mark.skipif(ORACLE_MISSING is not None, reason=f"no TFLite oracle: {ORACLE_MISSING}")


def rng_for(*key: object) -> Rng:
    """A generator seeded by the test's parameters, so every case is reproducible on its own."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def act_quant(rng: Rng) -> tuple[float, int]:
    return float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128))


def check(path: Path) -> None:
    """Compile and run ``path`` on TFLite, edgeai.ref and C; every element must be equal."""
    report = verify(path, samples=SAMPLES)
    assert "tflite" in report.backends, report.skipped
    assert "c" in report.backends and "ref" in report.backends
    assert report.compared_elements > 0
    assert report.mismatched_elements == 0, report.to_dict()["pairs"]
    assert report.ok


# ---- weighted ops ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conv:
    h: int = 8
    w: int = 8
    ci: int = 3
    co: int = 8
    kh: int = 3
    kw: int = 3
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    activation: str = "NONE"
    per_channel: bool = True
    bias: bool = True
    groups: int = 1
    depthwise: bool = False
    n: int = 1
    weight_scale: float | None = None  # fixed weight scale (per tensor) instead of a fitted one


def out_size(padding: str, size: int, k: int, stride: int, dilation: int) -> int:
    eff = (k - 1) * dilation + 1
    return -(-size // stride) if padding == "SAME" else -(-(size - eff + 1) // stride)


def output_quant(rng: Rng, activation: str) -> tuple[float, int]:
    """Output scale and zero point that put the fused activation's bounds inside int8."""
    if activation == "RELU6":
        return 6.0 / float(rng.uniform(35, 50)), -128 + int(rng.integers(0, 40))
    if activation == "RELU_N1_TO_1":
        return 1.0 / float(rng.uniform(25, 40)), int(rng.integers(-10, 10))
    return act_quant(rng)


def uniform_rms(zp: int) -> float:
    """RMS of ``x - zp`` for the verifier's inputs (uniform int8)."""
    return math.sqrt(65536 / 12 + (0.5 + zp) ** 2)


def fitted_weight_scales(
    rng: Rng, n: int, taps: int, in_scale: float, out_scale: float, rms_in: float
) -> npt.NDArray[np.float64]:
    """Weight scales that make the accumulators span roughly +-30 output steps (one sigma), so
    outputs use the int8 range instead of saturating; ``rms_in`` is the RMS of ``x - zp``."""
    acc_std = math.sqrt(taps) * 73.0 * rms_in  # weights uniform in [-127, 127]
    base = 30.0 * out_scale / (in_scale * acc_std)
    return base * rng.uniform(0.5, 2.0, size=n)


def build_conv(path: Path, c: Conv, rng: Rng, zero_bias: bool = False) -> Path:
    """A one-op CONV_2D or DEPTHWISE_CONV_2D model; ``zero_bias`` gives a bias-less ``c`` an
    all-zero bias instead (same weights and quantization: TFLite's CONV_2D requires a bias)."""
    mb = ModelBuilder()
    in_s, in_zp = act_quant(rng)
    out_s, out_zp = output_quant(rng, c.activation)
    oh = out_size(c.padding, c.h, c.kh, c.stride[0], c.dilation[0])
    ow = out_size(c.padding, c.w, c.kw, c.stride[1], c.dilation[1])
    co = c.co
    if c.depthwise:
        fshape, taps, qdim = [1, c.kh, c.kw, co], c.kh * c.kw, 3
    else:
        fci = c.ci // c.groups
        fshape, taps, qdim = [co, c.kh, c.kw, fci], c.kh * c.kw * fci, 0
    if c.weight_scale is not None:
        ws = np.array([c.weight_scale])
    else:
        ws = fitted_weight_scales(rng, co if c.per_channel else 1, taps, in_s, out_s, uniform_rms(in_zp))
    x = mb.add_tensor("input", [c.n, c.h, c.w, c.ci], "int8", in_s, in_zp)
    wt = mb.add_tensor("filter", fshape, "int8", ws, 0, rng.integers(-127, 128, size=fshape), qdim)
    inputs = [x, wt]  # no bias: two inputs (TFLite's conv kernels refuse an input of -1)
    if c.bias:
        b = np.rint(rng.normal(0, 1000, size=co))
        inputs.append(mb.add_tensor("bias", [co], "int32", in_s * ws, 0, b))
    elif zero_bias:
        inputs.append(mb.add_tensor("bias", [co], "int32", in_s * ws, 0, np.zeros(co)))
    y = mb.add_tensor("output", [c.n, oh, ow, co], "int8", out_s, out_zp)
    opts: dict[str, object] = {
        "padding": c.padding,
        "stride_h": c.stride[0],
        "stride_w": c.stride[1],
        "dilation_h": c.dilation[0],
        "dilation_w": c.dilation[1],
        "activation": c.activation,
    }
    if c.depthwise:
        opts["depth_multiplier"] = co // c.ci
    mb.add_op("DEPTHWISE_CONV_2D" if c.depthwise else "CONV_2D", inputs, [y], **opts)
    return mb.save(path, [x], [y])


CONV_CASES = {
    "same_3x3_relu": Conv(activation="RELU"),
    "valid_3x3": Conv(h=9, w=7, padding="VALID"),
    "valid_1x1": Conv(kh=1, kw=1, ci=16, co=4, padding="VALID"),
    "same_stride2_even_input_odd_pad": Conv(h=8, w=8, stride=(2, 2), activation="RELU6"),
    "same_stride2_odd_input": Conv(h=9, w=9, stride=(2, 2)),
    "same_stride2_even_kernel": Conv(h=7, w=10, kh=4, kw=2, stride=(2, 2)),
    "same_stride_2x1_nonsquare_kernel": Conv(h=9, w=8, kh=3, kw=5, stride=(2, 1)),
    "valid_stride2_odd_input": Conv(h=11, w=9, stride=(2, 2), padding="VALID"),
    "same_dilation2": Conv(h=10, w=9, dilation=(2, 2), activation="RELU_N1_TO_1"),
    "valid_dilation_2x3": Conv(h=12, w=12, dilation=(2, 3), padding="VALID"),
    "grouped_2": Conv(ci=8, co=6, groups=2, activation="RELU"),
    "grouped_4_stride2": Conv(ci=8, co=8, groups=4, stride=(2, 2)),
    "per_tensor_weights": Conv(per_channel=False, activation="RELU6"),
    "no_bias": Conv(bias=False),
    "no_bias_per_tensor": Conv(bias=False, per_channel=False, padding="VALID"),
    "batch_2": Conv(n=2, h=6, w=5, stride=(2, 2)),
    "relu_n1_to_1_per_tensor": Conv(per_channel=False, activation="RELU_N1_TO_1"),
}

DEPTHWISE_CASES = {
    "dm1_same": Conv(ci=8, co=8, depthwise=True),
    "dm1_valid_relu": Conv(ci=4, co=4, depthwise=True, padding="VALID", activation="RELU"),
    "dm2_same_relu6": Conv(ci=4, co=8, depthwise=True, activation="RELU6"),
    "dm3_valid": Conv(ci=2, co=6, depthwise=True, padding="VALID", h=7, w=9),
    "stride2_even_input": Conv(ci=6, co=6, depthwise=True, stride=(2, 2), h=8, w=8),
    "stride2_odd_input_dm2": Conv(ci=3, co=6, depthwise=True, stride=(2, 2), h=9, w=7),
    "dilation2_same": Conv(ci=4, co=4, depthwise=True, dilation=(2, 2), h=9, w=10),
    "dilation2_valid_dm2": Conv(ci=2, co=4, depthwise=True, dilation=(2, 2), padding="VALID", h=9, w=9),
    "per_tensor_no_bias": Conv(ci=5, co=5, depthwise=True, per_channel=False, bias=False),
    "relu_n1_to_1": Conv(ci=4, co=4, depthwise=True, activation="RELU_N1_TO_1", kh=5, kw=5),
}


@needs_oracle
@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_conv_2d(tmp_path: Path, name: str) -> None:
    c = CONV_CASES[name]
    path = build_conv(tmp_path / f"conv_{name}.tflite", c, rng_for("conv", name))
    if c.bias:
        check(path)
        return
    # TFLite 2.14 refuses a CONV_2D without bias ("has_bias was not true"); edgeai runs it.
    # Its oracle is the same model with an all-zero bias.
    twin = build_conv(tmp_path / f"conv_{name}_zero_bias.tflite", c, rng_for("conv", name), zero_bias=True)
    check(twin)
    compiled = compile_model(path)
    assert compiled.blob.ops[0].inputs[2] == -1
    ref, native, tfl = Interpreter(compiled.blob), NativeModel(compiled.data), oracle.TFLiteReference(twin)
    shape = compiled.blob.tensors[compiled.blob.inputs[0]].shape
    rng = np.random.default_rng(0)
    for _ in range(SAMPLES):
        x = rng.integers(-128, 128, size=shape, dtype=np.int8)
        expected = tfl.run([x])[0]
        np.testing.assert_array_equal(ref.run([x])[0], expected)
        np.testing.assert_array_equal(native.run([x])[0], expected)


@needs_oracle
@pytest.mark.parametrize("name", sorted(DEPTHWISE_CASES))
def test_depthwise_conv_2d(tmp_path: Path, name: str) -> None:
    check(build_conv(tmp_path / f"dw_{name}.tflite", DEPTHWISE_CASES[name], rng_for("dw", name)))


def add_fc(
    mb: ModelBuilder,
    rng: Rng,
    x: int,
    in_q: tuple[float, int],
    rows: int,
    depth: int,
    co: int,
    out_q: tuple[float, int],
    *,
    bias: bool = True,
    activation: str = "NONE",
    weight_scale: float | None = None,
    rms_in: float | None = None,
) -> int:
    """A FULLY_CONNECTED op on tensor ``x`` (``rows`` x ``depth`` values); returns its output."""
    if weight_scale is None:
        rms = uniform_rms(in_q[1]) if rms_in is None else rms_in
        weight_scale = float(fitted_weight_scales(rng, 1, depth, in_q[0], out_q[0], rms)[0])
    ws = weight_scale
    w = mb.add_tensor("fc/weights", [co, depth], "int8", ws, 0, rng.integers(-127, 128, size=(co, depth)))
    b = -1
    if bias:
        b = mb.add_tensor("fc/bias", [co], "int32", in_q[0] * ws, 0, np.rint(rng.normal(0, 1000, size=co)))
    y = mb.add_tensor("fc/output", [rows, co], "int8", *out_q)
    mb.add_op("FULLY_CONNECTED", [x, w, b], [y], activation=activation)
    return y


FC_CASES: dict[str, tuple[list[int], int, bool, str]] = {
    # input shape, output channels, bias, activation
    "rank2_batch1": ([1, 32], 10, True, "NONE"),
    "rank2_batch3_relu": ([3, 20], 7, True, "RELU"),
    "rank4_batch1": ([1, 3, 3, 4], 5, True, "RELU6"),
    "rank4_batch3": ([3, 2, 2, 4], 6, True, "NONE"),
    "no_bias": ([1, 24], 8, False, "NONE"),
    "no_bias_rank4_batch3": ([3, 1, 2, 8], 4, False, "RELU_N1_TO_1"),
}


@needs_oracle
@pytest.mark.parametrize("name", sorted(FC_CASES))
def test_fully_connected(tmp_path: Path, name: str) -> None:
    shape, co, bias, activation = FC_CASES[name]
    rng = rng_for("fc", name)
    mb = ModelBuilder()
    in_q = act_quant(rng)
    x = mb.add_tensor("input", shape, "int8", *in_q)
    rows = shape[0]
    depth = int(np.prod(shape)) // rows
    y = add_fc(mb, rng, x, in_q, rows, depth, co, output_quant(rng, activation), bias=bias, activation=activation)
    check(mb.save(tmp_path / f"fc_{name}.tflite", [x], [y]))


# ---- pools, add, softmax, reshape --------------------------------------------------------------

POOL_CASES: dict[str, tuple[list[int], int, int, int, str, str]] = {
    # input shape, filter (h = w unless noted), stride, padding, activation
    "same_3x3_stride1": ([1, 6, 7, 4], 3, 3, 1, "SAME", "NONE"),
    "same_3x3_stride2_even": ([1, 8, 8, 3], 3, 3, 2, "SAME", "NONE"),
    "same_2x2_stride2_odd": ([1, 7, 9, 5], 2, 2, 2, "SAME", "RELU"),
    "same_4x3_stride1": ([1, 5, 6, 2], 4, 3, 1, "SAME", "NONE"),
    "valid_2x2_stride2": ([1, 8, 6, 4], 2, 2, 2, "VALID", "NONE"),
    "valid_3x3_stride2_odd": ([1, 9, 7, 3], 3, 3, 2, "VALID", "RELU"),
    "valid_3x3_stride1_relu6": ([2, 5, 5, 3], 3, 3, 1, "VALID", "RELU6"),
    "global": ([1, 5, 5, 8], 5, 5, 1, "VALID", "NONE"),
}


@needs_oracle
@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_pool(tmp_path: Path, op: str, name: str) -> None:
    shape, fh, fw, stride, padding, activation = POOL_CASES[name]
    rng = rng_for("pool", op, name)
    q = output_quant(rng, activation)
    if activation == "RELU6":  # keep both bounds inside what the window's average or maximum reaches
        q = (q[0], int(rng.integers(40, 80)) if op == "MAX_POOL_2D" else int(rng.integers(-30, 10)))
    mb = ModelBuilder()
    x = mb.add_tensor("input", shape, "int8", *q)
    oh, ow = out_size(padding, shape[1], fh, stride, 1), out_size(padding, shape[2], fw, stride, 1)
    y = mb.add_tensor("output", [shape[0], oh, ow, shape[3]], "int8", *q)
    mb.add_op(
        op, [x], [y], padding=padding, stride_h=stride, stride_w=stride, filter_h=fh, filter_w=fw, activation=activation
    )
    check(mb.save(tmp_path / f"{op.lower()}_{name}.tflite", [x], [y]))


ADD_CASES: dict[str, tuple[list[int], list[int], str, tuple[float, float]]] = {
    # shape a, shape b, activation, (scale a, scale b) (0: random)
    "equal_shapes": ([1, 4, 4, 8], [1, 4, 4, 8], "NONE", (0, 0)),
    "equal_scales": ([1, 3, 5, 4], [1, 3, 5, 4], "NONE", (0.05, 0.05)),
    "different_scales_relu": ([1, 4, 4, 8], [1, 4, 4, 8], "RELU", (0.02, 0.09)),
    "broadcast_channels": ([1, 4, 4, 8], [1, 1, 1, 8], "NONE", (0, 0)),
    "broadcast_pixels": ([1, 4, 4, 8], [1, 4, 4, 1], "RELU", (0, 0)),
    "broadcast_first_operand": ([1, 1, 1, 8], [1, 4, 4, 8], "NONE", (0.08, 0.011)),
    "broadcast_lower_rank": ([1, 4, 4, 8], [8], "RELU6", (0, 0)),
    "rank2": ([3, 10], [3, 10], "RELU_N1_TO_1", (0, 0)),
}


@needs_oracle
@pytest.mark.parametrize("name", sorted(ADD_CASES))
def test_add(tmp_path: Path, name: str) -> None:
    sa, sb, activation, scales = ADD_CASES[name]
    rng = rng_for("add", name)
    qa, qb = act_quant(rng), act_quant(rng)
    qa, qb = (scales[0] or qa[0], qa[1]), (scales[1] or qb[0], qb[1])
    out_q = output_quant(rng, activation)
    if activation == "NONE":
        out_q = ((qa[0] + qb[0]) * float(rng.uniform(0.7, 1.3)), out_q[1])
    mb = ModelBuilder()
    a = mb.add_tensor("a", sa, "int8", *qa)
    b = mb.add_tensor("b", sb, "int8", *qb)
    y = mb.add_tensor("sum", list(np.broadcast_shapes(tuple(sa), tuple(sb))), "int8", *out_q)
    mb.add_op("ADD", [a, b], [y], activation=activation)
    check(mb.save(tmp_path / f"add_{name}.tflite", [a, b], [y]))


SOFTMAX_CASES: dict[str, tuple[list[int], float, float, bool]] = {
    # shape, beta, input scale, whether random inputs must reach below diff_min
    "1x10_beta1_wide": ([1, 10], 1.0, 0.25, True),
    "1x10_beta05_wide": ([1, 10], 0.5, 0.3, True),
    "2x5x7_beta1_wide": ([2, 5, 7], 1.0, 0.2, True),
    "2x5x7_beta05_wide": ([2, 5, 7], 0.5, 0.45, True),
    "1x10_beta1": ([1, 10], 1.0, 0.05, False),
    "2x5x7_beta05": ([2, 5, 7], 0.5, 0.02, False),
}


@needs_oracle
@pytest.mark.parametrize("name", sorted(SOFTMAX_CASES))
def test_softmax(tmp_path: Path, name: str) -> None:
    shape, beta, scale, wide = SOFTMAX_CASES[name]
    rng = rng_for("softmax", name)
    mb = ModelBuilder()
    x = mb.add_tensor("logits", shape, "int8", scale, int(rng.integers(-20, 20)))
    y = mb.add_tensor("probs", shape, "int8", 1 / 256, -128)
    mb.add_op("SOFTMAX", [x], [y], beta=beta)
    path = mb.save(tmp_path / f"softmax_{name}.tflite", [x], [y])
    check(path)
    if wide:
        # the verifier's inputs (seed 0): some differences from the row maximum are below diff_min
        diff_min = compile_model(path).blob.ops[0].params[2]
        inputs = np.random.default_rng(0).integers(-128, 128, size=(SAMPLES, *shape), dtype=np.int8)
        rows = inputs.reshape(-1, shape[-1]).astype(np.int64)
        diffs = rows - rows.max(axis=1, keepdims=True)
        assert np.count_nonzero(diffs < diff_min) > 0, diff_min


@needs_oracle
@pytest.mark.parametrize("shape_input", [True, False], ids=["shape_tensor", "new_shape_option"])
def test_reshape(tmp_path: Path, shape_input: bool) -> None:
    rng = rng_for("reshape", shape_input)
    q = act_quant(rng)
    mb = ModelBuilder()
    x = mb.add_tensor("input", [1, 4, 3, 2], "int8", *q)
    r = mb.add_tensor("flat", [1, 24], "int8", *q)
    if shape_input:
        s = mb.add_tensor("shape", [2], "int32", data=[1, 24])
        mb.add_op("RESHAPE", [x, s], [r])
    else:
        mb.add_op("RESHAPE", [x], [r], new_shape=[1, 24])
    # a reshape between two computing ops, then one back to 4-D
    y = mb.add_tensor("probs", [1, 24], "int8", 1 / 256, -128)
    mb.add_op("SOFTMAX", [r], [y])
    z = mb.add_tensor("out", [1, 2, 3, 4], "int8", 1 / 256, -128)
    if shape_input:
        s2 = mb.add_tensor("shape2", [4], "int32", data=[1, 2, 3, 4])
        mb.add_op("RESHAPE", [y, s2], [z])
    else:
        mb.add_op("RESHAPE", [y], [z], new_shape=[1, 2, 3, 4])
    check(mb.save(tmp_path / "reshape.tflite", [x], [z]))


# ---- graphs ------------------------------------------------------------------------------------


@needs_oracle
def test_two_inputs_two_outputs(tmp_path: Path) -> None:
    rng = rng_for("two_in_two_out")
    mb = ModelBuilder()
    qa, qb, qs = act_quant(rng), act_quant(rng), act_quant(rng)
    qs = (qa[0] + qb[0], qs[1])
    a = mb.add_tensor("a", [1, 6, 6, 4], "int8", *qa)
    b = mb.add_tensor("b", [1, 6, 6, 4], "int8", *qb)
    s = mb.add_tensor("sum", [1, 6, 6, 4], "int8", *qs)
    mb.add_op("ADD", [a, b], [s], activation="RELU")
    pooled = mb.add_tensor("pooled", [1, 3, 3, 4], "int8", *qb)
    mb.add_op("MAX_POOL_2D", [b], [pooled], padding="VALID", stride_h=2, stride_w=2, filter_h=2, filter_w=2)
    out_q = act_quant(rng)
    ws = fitted_weight_scales(rng, 8, 9 * 4, qs[0], out_q[0], 20.0)  # the sum after RELU
    w = mb.add_tensor("filter", [8, 3, 3, 4], "int8", ws, 0, rng.integers(-127, 128, size=(8, 3, 3, 4)))
    bias = mb.add_tensor("bias", [8], "int32", qs[0] * ws, 0, np.rint(rng.normal(0, 1000, size=8)))
    conv = mb.add_tensor("conv", [1, 3, 3, 8], "int8", *out_q)
    mb.add_op("CONV_2D", [s, w, bias], [conv], padding="SAME", stride_h=2, stride_w=2)
    # the outputs listed in the opposite order of their computation
    path = mb.save(tmp_path / "two_in_two_out.tflite", [a, b], [pooled, conv])
    check(path)
    blob = compile_model(path).blob
    assert len(blob.inputs) == 2 and len(blob.outputs) == 2
    assert [blob.tensors[i].shape for i in blob.outputs] == [(1, 3, 3, 4), (1, 3, 3, 8)]


def build_chain(path: Path, rng: Rng) -> Path:
    """conv -> depthwise -> average pool -> reshape -> fully connected -> softmax."""
    mb = ModelBuilder()
    q0 = act_quant(rng)
    x = mb.add_tensor("image", [1, 12, 12, 3], "int8", *q0)

    def conv(
        name: str, x: int, q_in: tuple[float, int], rms_in: float, shape: list[int], fshape: list[int], activation: str
    ) -> tuple[int, tuple[float, int]]:
        dw = name == "dw"
        q_out = output_quant(rng, activation)
        co = fshape[3] if dw else fshape[0]
        taps = fshape[1] * fshape[2] * (1 if dw else fshape[3])
        ws = fitted_weight_scales(rng, co, taps, q_in[0], q_out[0], rms_in)
        w = mb.add_tensor(f"{name}/filter", fshape, "int8", ws, 0, rng.integers(-127, 128, size=fshape), 3 if dw else 0)
        b = mb.add_tensor(f"{name}/bias", [co], "int32", q_in[0] * ws, 0, np.rint(rng.normal(0, 1000, size=co)))
        y = mb.add_tensor(f"{name}/out", shape, "int8", *q_out)
        opts = {"depth_multiplier": 1} if dw else {}
        op = "DEPTHWISE_CONV_2D" if dw else "CONV_2D"
        mb.add_op(op, [x, w, b], [y], padding="SAME", stride_h=2, stride_w=2, activation=activation, **opts)
        return y, q_out

    # after a RELU about half the values sit at the zero point, the rest spread ~30 steps
    c1, q1 = conv("conv", x, q0, uniform_rms(q0[1]), [1, 6, 6, 8], [8, 3, 3, 3], "RELU")
    c2, q2 = conv("dw", c1, q1, 20.0, [1, 3, 3, 8], [1, 3, 3, 8], "RELU6")
    p = mb.add_tensor("pool", [1, 2, 2, 8], "int8", *q2)
    mb.add_op("AVERAGE_POOL_2D", [c2], [p], padding="SAME", stride_h=2, stride_w=2, filter_h=2, filter_w=2)
    flat = mb.add_tensor("flat", [1, 32], "int8", *q2)
    mb.add_op("RESHAPE", [p, mb.add_tensor("shape", [2], "int32", data=[1, 32])], [flat])
    logits = add_fc(mb, rng, flat, q2, 1, 32, 10, (0.1, int(rng.integers(-20, 20))), rms_in=15.0)
    probs = mb.add_tensor("probs", [1, 10], "int8", 1 / 256, -128)
    mb.add_op("SOFTMAX", [logits], [probs])
    return mb.save(path, [x], [probs])


@needs_oracle
def test_chain(tmp_path: Path) -> None:
    path = build_chain(tmp_path / "chain.tflite", rng_for("chain"))
    check(path)
    ops = [op.opname for op in compile_model(path).blob.ops]
    assert ops == ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]


@needs_oracle
@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"])
def test_requantization_scale_below_2_pow_minus_31(tmp_path: Path, op: str) -> None:
    """A real multiplier under 2^-31 quantizes to (0, 0): every output is the zero point."""
    rng = rng_for("tiny", op)
    out_zp = 17
    if op == "FULLY_CONNECTED":
        mb = ModelBuilder()
        in_q = act_quant(rng)
        x = mb.add_tensor("input", [1, 16], "int8", *in_q)
        y = add_fc(mb, rng, x, in_q, 1, 16, 4, (0.05, out_zp), weight_scale=1e-12)
        path = mb.save(tmp_path / "tiny.tflite", [x], [y])
    else:
        c = Conv(ci=4, co=4, depthwise=op == "DEPTHWISE_CONV_2D", weight_scale=1e-12, per_channel=False)
        path = build_conv(tmp_path / "tiny.tflite", c, rng)  # with a random output zero point
    check(path)
    blob = compile_model(path).blob
    mults = [t for t in blob.tensors if t.name.endswith("/multiplier")]
    assert mults and all(int(np.asarray(t.data).max()) == 0 for t in mults)
    zp = blob.tensors[blob.outputs[0]].zero_point
    if op == "FULLY_CONNECTED":
        assert zp == out_zp
    sample = np.random.default_rng(1).integers(-128, 128, size=blob.tensors[blob.inputs[0]].shape, dtype=np.int8)
    for out in (Interpreter(blob).run([sample])[0], oracle.TFLiteReference(path).run([sample])[0]):
        assert np.all(out == zp)


# ---- errors ------------------------------------------------------------------------------------


def edgeai_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "edgeai", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def assert_cli_error(path: Path, pattern: str) -> None:
    proc = edgeai_cli("compile", str(path), "-o", str(path.with_suffix(".eai")))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("edgeai: error: "), lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    assert not path.with_suffix(".eai").exists()


def small_model(extra_ops: list[str] | None = None, unused: list[str] | None = None) -> ModelBuilder:
    """input -> SOFTMAX, then each of ``extra_ops`` (unary, no options) in turn."""
    mb = ModelBuilder()
    for name in unused or []:
        mb.add_opcode(name)
    x = mb.add_tensor("x", [1, 10], "int8", 0.1, 0)
    y = mb.add_tensor("y", [1, 10], "int8", 1 / 256, -128)
    mb.add_op("SOFTMAX", [x], [y])
    for k, name in enumerate(extra_ops or []):
        z = mb.add_tensor(
            f"t{k}", [1, 10], "int8", 1 / 128 if name == "TANH" else 1 / 256, 0 if name == "TANH" else -128
        )
        mb.add_op(name, [y], [z])
        y = z
    return mb


def test_float_model_is_refused(tmp_path: Path) -> None:
    mb = ModelBuilder()
    x = mb.add_tensor("x", [1, 4, 4, 2], "float32")
    y = mb.add_tensor("y", [1, 32], "float32")
    mb.add_op("RESHAPE", [x], [y], new_shape=[1, 32])
    path = mb.save(tmp_path / "float.tflite", [x], [y])
    with pytest.raises(EdgeAIError, match=r"FLOAT32.*not an int8 model"):
        compile_model(path)
    assert_cli_error(path, r"not an int8 model")


@pytest.mark.parametrize(
    "ops, listed",
    [
        (["LOGISTIC", "TANH"], r"unsupported operators #1 LOGISTIC, #2 TANH;"),
        (["CONCATENATION"], r"unsupported operator #1 CONCATENATION;"),
        (["GELU"], r"unsupported operator #1 GELU;"),  # builtin code 150: past the deprecated int8 field
    ],
)
def test_unsupported_operators_are_listed(tmp_path: Path, ops: list[str], listed: str) -> None:
    path = small_model(ops).save(tmp_path / "unsupported.tflite", [0], [len(ops) + 1])
    with pytest.raises(EdgeAIError, match=listed) as e:
        compile_model(path)
    assert "#0" not in str(e.value)  # the supported SOFTMAX is not listed
    assert_cli_error(path, listed)


def test_unused_operator_code_is_ignored(tmp_path: Path) -> None:
    path = small_model(unused=["QUANTIZE", "LOGISTIC"]).save(tmp_path / "unused.tflite", [0], [1])
    compiled = compile_model(path)
    assert [op.opname for op in compiled.blob.ops] == ["SOFTMAX"]
    if ORACLE_MISSING is None:
        check(path)
    proc = edgeai_cli("compile", str(path), "-o", str(tmp_path / "unused.eai"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "unused.eai").stat().st_size == compiled.blob_bytes


def good_model_bytes(tmp_path: Path) -> bytes:
    return build_chain(tmp_path / "good.tflite", rng_for("chain")).read_bytes()


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.25])
def test_truncated_file(tmp_path: Path, fraction: float) -> None:
    data = good_model_bytes(tmp_path)
    path = tmp_path / "truncated.tflite"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(EdgeAIError, match="truncated or corrupt"):
        compile_model(path)
    assert_cli_error(path, "truncated or corrupt")


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_after_header(tmp_path: Path, seed: int) -> None:
    data = good_model_bytes(tmp_path)
    path = tmp_path / "garbage.tflite"
    path.write_bytes(data[:8] + np.random.default_rng(seed).bytes(len(data) - 8))
    with pytest.raises(EdgeAIError, match="truncated or corrupt"):
        compile_model(path)
    if seed == 0:
        assert_cli_error(path, "truncated or corrupt")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.tflite"
    with pytest.raises(EdgeAIError, match="no such file"):
        compile_model(path)
    assert_cli_error(path, "no such file")


def malformed_model(case: str) -> tuple[ModelBuilder, list[int], list[int]]:
    """Well-formed flatbuffers whose graph or quantization is broken (as a bit flip makes them)."""
    mb = ModelBuilder()
    zp = {"zero_point_beyond_int32": 2**40, "zero_point_beyond_int8": 300}.get(case, 0)
    scale = 0.0 if case == "zero_output_scale" else 0.1
    x = mb.add_tensor("x", [1, 4, 4, 2], "int8", 0.1, 0)
    b = mb.add_tensor("b", [3], "int32", 0.001, 0, [1, 2, 3])
    y = mb.add_tensor("y", [1, 4, 4, 3], "int8", scale, zp)
    w = mb.add_tensor("w", [3, 1, 1, 2], "int8", 0.01, 0, np.ones((3, 1, 1, 2)))  # the last tensor
    if case == "add_with_one_input":
        mb.add_op("ADD", [x], [mb.add_tensor("s", [1, 4, 4, 2], "int8", 0.1, 0)])
    elif case == "conv_without_inputs":
        mb.add_op("CONV_2D", [], [y])
    elif case == "conv_filter_absent":
        mb.add_op("CONV_2D", [x, -1, b], [y])
    elif case == "pool_window_beyond_runtime_limit":  # SAME output sizes do not depend on the window
        p = mb.add_tensor("p", [1, 4, 4, 2], "int8", 0.1, 0)
        mb.add_op("AVERAGE_POOL_2D", [x], [p], padding="SAME", filter_h=2, filter_w=131074)
        return mb, [x], [p]
    else:
        mb.add_op("CONV_2D", [x, w, b], [y])
    return mb, [x], [y]


@pytest.mark.parametrize(
    "case",
    [
        "add_with_one_input",
        "conv_without_inputs",
        "conv_filter_absent",
        "zero_output_scale",
        "zero_point_beyond_int32",
        "zero_point_beyond_int8",
        "pool_window_beyond_runtime_limit",
    ],
)
def test_malformed_graph_is_a_clear_error(tmp_path: Path, case: str) -> None:
    mb, inputs, outputs = malformed_model(case)
    path = mb.save(tmp_path / f"{case}.tflite", inputs, outputs)
    with pytest.raises(EdgeAIError):
        compile_model(path)
    assert_cli_error(path, ".")
