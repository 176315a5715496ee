"""The ONNX front end: float ONNX graphs read into the NHWC float IR give what onnxruntime
gives, and what it cannot take is refused with the node's name and type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgeai.errors import EdgeAIError  # noqa: E402
from edgeai.float_ref import FloatInterpreter  # noqa: E402
from edgeai.frontends.onnx import load_onnx  # noqa: E402

RNG = np.random.default_rng(5)


class Net:
    """A tiny ONNX graph builder: nodes, initializers, one input and one output."""

    def __init__(self, shape: list[Any]) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.shape = shape
        self.n = 0

    def const(self, arr: np.ndarray) -> str:
        name = f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def w(self, *shape: int, scale: float = 0.3) -> str:
        return self.const((RNG.standard_normal(shape) * scale).astype(np.float32))

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        self.n += 1
        out = f"t{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op.lower()}{self.n}", **attrs))
        return out

    def save(self, path: Path, out: str, opset: int = 17) -> Path:
        g = helper.make_graph(
            self.nodes, "net", [helper.make_tensor_value_info("input", TensorProto.FLOAT, self.shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], self.inits,
        )  # fmt: skip
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        onnx.save(model, path)
        return path


def bn(net: Net, x: str, c: int) -> str:
    return net.node(
        "BatchNormalization",
        [x, net.const(RNG.uniform(0.5, 1.5, c).astype(np.float32)), net.w(c), net.w(c),
         net.const(RNG.uniform(0.5, 2.0, c).astype(np.float32))],
        epsilon=1e-3,
    )  # fmt: skip


def check_against_onnxruntime(path: Path, shape: tuple[int, ...]) -> None:
    graph = load_onnx(path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fi = FloatInterpreter(graph)
    for _ in range(3):
        x = RNG.standard_normal(shape).astype(np.float32)
        (expected,) = sess.run(None, {"input": x})
        xin = x.transpose(graph.input_perm[0]) if graph.input_perm[0] else x
        (got,) = fi.run([xin])
        perm = graph.output_perm[0]
        if perm is not None:
            got = got.transpose(np.argsort(perm))
        np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-4, atol=1e-5)


def small_cnn(path: Path, *, with_noops: bool = False) -> Path:
    """Conv+BN+ReLU, strided conv+BN+ReLU6, depthwise, max and average pools, global pool, Gemm;
    ``with_noops`` adds Dropout, Identity and a final Softmax."""
    net = Net([1, 3, 12, 12])
    x = net.node("Conv", ["input", net.w(8, 3, 3, 3), net.w(8)], pads=[1, 1, 1, 1])
    x = net.node("Relu", [bn(net, x, 8)])
    x = net.node("Conv", [x, net.w(16, 8, 3, 3)], strides=[2, 2], pads=[1, 1, 0, 0])
    x = net.node("Clip", [bn(net, x, 16), net.const(np.float32(0)), net.const(np.float32(6))])
    x = net.node("Conv", [x, net.w(32, 1, 3, 3), net.w(32)], group=16, auto_pad="SAME_UPPER")
    x = net.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = net.node("AveragePool", [x], kernel_shape=[2, 2], pads=[1, 1, 1, 1])
    x = net.node("GlobalAveragePool", [x])
    x = net.node("Flatten", [net.node("Dropout", [x]) if with_noops else x])
    x = net.node("Gemm", [x, net.w(10, 32), net.w(10)], transB=1)
    if with_noops:
        x = net.node("Softmax", [net.node("Identity", [x])])
    return net.save(path, x)


def test_cnn_with_bn_relu6_depthwise_pools(tmp_path: Path) -> None:
    check_against_onnxruntime(small_cnn(tmp_path / "cnn.onnx", with_noops=True), (1, 3, 12, 12))
    ops = [op.type for op in load_onnx(tmp_path / "cnn.onnx").ops]
    assert ops == ["CONV_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D",
                   "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]  # fmt: skip


def test_flatten_image_into_gemm_keeps_onnx_order(tmp_path: Path) -> None:
    net = Net([1, 2, 5, 4])
    x = net.node("Conv", ["input", net.w(6, 2, 3, 3)], pads=[1, 1, 1, 1], group=1)
    x = net.node("Flatten", [x])
    x = net.node("Gemm", [x, net.w(6 * 5 * 4, 7)])
    check_against_onnxruntime(net.save(tmp_path / "flat.onnx", x), (1, 2, 5, 4))


def test_residual_add_grouped_conv_and_matmul_bias(tmp_path: Path) -> None:
    net = Net([1, 4, 6, 6])
    a = net.node("Conv", ["input", net.w(4, 2, 3, 3), net.w(4)], pads=[1, 1, 1, 1], group=2, dilations=[1, 1])
    a = net.node("Relu", [a])
    b = net.node("Conv", [a, net.w(4, 4, 1, 1)])
    x = net.node("Relu", [net.node("Add", [b, "input"])])
    x = net.node("Reshape", [net.node("GlobalAveragePool", [x]), net.const(np.array([1, -1], np.int64))])
    x = net.node("MatMul", [x, net.w(4, 5)])
    x = net.node("Relu", [net.node("Add", [x, net.w(5)])])
    check_against_onnxruntime(net.save(tmp_path / "res.onnx", x), (1, 4, 6, 6))


def test_dilated_conv(tmp_path: Path) -> None:
    net = Net([1, 1, 9, 9])
    x = net.node("Conv", ["input", net.w(3, 1, 3, 3)], dilations=[2, 2], pads=[2, 2, 2, 2], strides=[2, 1])
    check_against_onnxruntime(net.save(tmp_path / "dil.onnx", x), (1, 1, 9, 9))


def test_refusals(tmp_path: Path) -> None:
    net = Net([1, 4])
    x = net.node("Gemm", ["input", net.w(4, 3)])
    x = net.node("Sigmoid", [x])
    x = net.node("Tanh", [x])
    with pytest.raises(EdgeAIError, match=r"sigmoid2 \(Sigmoid\), tanh3 \(Tanh\)"):
        load_onnx(net.save(tmp_path / "sig.onnx", x))

    net = Net(["batch", 4, "n", 3])
    with pytest.raises(EdgeAIError, match="dynamic dimension 2"):
        load_onnx(net.save(tmp_path / "dyn.onnx", net.node("Relu", ["input"])))

    net = Net([1, 4])
    x = net.node("Gemm", ["input", net.w(4, 3)])
    with pytest.raises(EdgeAIError, match="opset 11"):
        load_onnx(net.save(tmp_path / "old.onnx", x, opset=11))

    net = Net([1, 4])
    with pytest.raises(EdgeAIError, match=r"'relu1' \(Relu\): can only follow"):
        load_onnx(net.save(tmp_path / "relu.onnx", net.node("Relu", ["input"])))

    good = tmp_path / "sig.onnx"
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(good.read_bytes()[:40])
    with pytest.raises(EdgeAIError, match=r"truncated or corrupt|no nodes"):
        load_onnx(trunc)
    with pytest.raises(EdgeAIError, match="no such file"):
        load_onnx(tmp_path / "missing.onnx")
