"""Property: for randomly generated float ONNX graphs (convolution stacks with residual adds,
depthwise blocks, pools, MLPs), the int8 blob edgeai makes runs identically in the C runtime
and edgeai.ref on every output."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("onnx")

from edgeai.verify import verify

from .test_onnx_frontend import Net, bn

BLOCKS = ("conv", "dw", "res", "pool")


@st.composite
def cnn(draw: st.DrawFn) -> tuple[Net, str, tuple[int, ...]]:
    c = draw(st.integers(1, 4))
    h, w = draw(st.integers(4, 11)), draw(st.integers(4, 11))
    net = Net([1, c, h, w])
    x = "input"
    for block in draw(st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=4)):
        act = draw(st.sampled_from(["none", "relu", "relu6"]))
        if block == "conv":
            k, s, co = draw(st.sampled_from([1, 3])), draw(st.integers(1, 2)), draw(st.integers(1, 8))
            x = net.node("Conv", [x, net.w(co, c, k, k)], pads=[k // 2] * 4, strides=[s, s])
            x = bn(net, x, co) if draw(st.booleans()) else x
            c, h, w = co, (h + 2 * (k // 2) - k) // s + 1, (w + 2 * (k // 2) - k) // s + 1
        elif block == "dw":
            m, s = draw(st.integers(1, 2)), draw(st.integers(1, 2))
            x = net.node("Conv", [x, net.w(c * m, 1, 3, 3), net.w(c * m)], group=c, pads=[1] * 4, strides=[s, s])
            c, h, w = c * m, (h - 1) // s + 1, (w - 1) // s + 1
        elif block == "res":
            y = net.node("Conv", [x, net.w(c, c, 3, 3), net.w(c)], pads=[1] * 4)
            x = net.node("Add", [net.node("Relu", [y]), x])
        elif h >= 2 and w >= 2:
            op = draw(st.sampled_from(["MaxPool", "AveragePool"]))
            x = net.node(op, [x], kernel_shape=[2, 2], strides=[2, 2])
            h, w = h // 2, w // 2
        if act == "relu" and block != "pool":
            x = net.node("Relu", [x])
        elif act == "relu6" and block != "pool":
            x = net.node("Clip", [x, net.const(np.float32(0)), net.const(np.float32(6))])
    if draw(st.booleans()):
        x = net.node("Flatten", [net.node("GlobalAveragePool", [x])])
        features = c
    else:
        x = net.node("Flatten", [x])
        features = c * h * w
    x = net.node("Gemm", [x, net.w(draw(st.integers(2, 10)), features), net.w(1)], transB=1)
    return net, x, (1, net.shape[1], net.shape[2], net.shape[3])


@st.composite
def mlp(draw: st.DrawFn) -> tuple[Net, str, tuple[int, ...]]:
    f = draw(st.integers(1, 32))
    net = Net([1, f])
    x = "input"
    for _ in range(draw(st.integers(1, 3))):
        o = draw(st.integers(1, 24))
        x = (
            net.node("Gemm", [x, net.w(f, o), net.w(o)])
            if draw(st.booleans())
            else net.node("Add", [net.node("MatMul", [x, net.w(f, o)]), net.w(o)])
        )
        x = net.node("Relu", [x]) if draw(st.booleans()) else x
        f = o
    if draw(st.booleans()):
        x = net.node("Softmax", [x])
    return net, x, (1, net.shape[1])


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(cnn(), mlp()), st.sampled_from(["minmax", "percentile", "mse"]), st.integers(0, 2**31))
def test_c_and_ref_identical_on_random_graphs(model: tuple[Net, str, tuple[int, ...]], method: str, seed: int) -> None:
    net, out, shape = model
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = net.save(Path(tmp) / "m.onnx", out)
        calib = Path(tmp) / "calib.npy"
        np.save(calib, (rng.standard_normal((8, *shape)) * rng.uniform(0.1, 3)).astype(np.float32))
        report = verify(path, samples=5, calib=calib, method=method, seed=seed)
    assert report.backends == ["ref", "c"]
    assert report.compared_elements > 0
    assert report.mismatched_elements == 0, report.to_dict()["pairs"]
