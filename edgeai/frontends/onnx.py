"""ONNX front end: a float ONNX model (opset 13 and later) becomes a float graph in the IR.

The IR speaks TFLite's operator vocabulary in NHWC layout, so 4-D activations are
transposed from ONNX's NCHW (the graph records the permutation for its inputs and outputs)
and weights are laid out as the int8 kernels read them. On the way:

- BatchNormalization is folded into the convolution before it;
- Identity and Dropout disappear;
- Relu and Clip (as ReLU or ReLU6) fuse into the op that produces their input, as TFLite
  fuses them, and an Add of a constant vector after Gemm/MatMul/Conv becomes its bias;
- a Flatten/Reshape of an NHWC tensor feeding a Gemm/MatMul permutes that layer's weights, so
  the flattening order stays ONNX's.

Anything else is refused, naming each node and its op type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ModelFormatError, UnsupportedModelError
from ..files import read_model_bytes
from ..ir import QGraph, QOp, QTensor

F32 = npt.NDArray[np.float32]

SUPPORTED = (
    "Conv", "Gemm", "MatMul", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "Add",
    "Flatten", "Reshape", "Softmax", "BatchNormalization", "Identity", "Dropout",
)  # fmt: skip
MIN_OPSET = 13
NCHW_TO_NHWC = (0, 2, 3, 1)
_FUSABLE = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D")


@dataclass
class _Value:
    """An ONNX value as the importer sees it: a constant, or an IR activation tensor."""

    const: F32 | None = None
    tensor: int = -1
    nchw: bool = False  # a 4-D activation stored NHWC while ONNX means NCHW
    flat_from: tuple[int, ...] | None = None  # NHWC shape it was flattened from (H*W > 1)


@dataclass
class _Importer:
    path: Path
    graph: Any
    tensors: list[QTensor] = field(default_factory=list)
    ops: list[QOp] = field(default_factory=list)
    values: dict[str, _Value] = field(default_factory=dict)
    consumers: dict[str, int] = field(default_factory=dict)
    producer: dict[int, int] = field(default_factory=dict)  # tensor -> index of the op writing it

    def fail(self, node: Any, msg: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{self.path}: node {node.name or '?'!r} ({node.op_type}): {msg}")

    def new_tensor(self, name: str, shape: tuple[int, ...]) -> int:
        self.tensors.append(QTensor(name, tuple(int(d) for d in shape), "float32"))
        return len(self.tensors) - 1

    def const_tensor(self, name: str, data: npt.NDArray[Any]) -> int:
        arr = np.ascontiguousarray(data, dtype=np.float32)
        self.tensors.append(QTensor(name, tuple(arr.shape), "float32", data=arr))
        return len(self.tensors) - 1

    def emit(self, node: Any, type_: str, inputs: list[int], shape: tuple[int, ...], **options: Any) -> int:
        out = self.new_tensor(node.output[0], shape)
        self.ops.append(QOp(type_, inputs, [out], options, len(self.ops)))
        self.producer[out] = len(self.ops) - 1
        return out

    # -- value access --------------------------------------------------------------------------
    def value(self, node: Any, name: str) -> _Value:
        if name not in self.values:
            raise self.fail(node, f"input {name!r} is not produced by any earlier node")
        return self.values[name]

    def const(self, node: Any, i: int) -> F32:
        v = self.value(node, node.input[i])
        if v.const is None:
            raise self.fail(node, f"input {node.input[i]!r} must be a constant (an initializer)")
        return v.const

    def act(self, node: Any, i: int) -> _Value:
        v = self.value(node, node.input[i])
        if v.const is not None:
            raise self.fail(node, f"input {node.input[i]!r} is a constant where a computed activation is needed")
        return v

    def shape(self, t: int) -> tuple[int, ...]:
        return self.tensors[t].shape

    def sole_use(self, name: str) -> bool:
        return self.consumers.get(name, 0) == 1 and name not in {o.name for o in self.graph.output}


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(
    node: Any,
    attrs: dict[str, Any],
    k: tuple[int, int],
    s: tuple[int, int],
    d: tuple[int, int],
    hw: tuple[int, int],
    imp: _Importer,
) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) padding of a 2-D window op."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("NOTSET", ""):
        p = [int(x) for x in attrs.get("pads", [0, 0, 0, 0])]
        if len(p) != 4 or min(p) < 0:
            raise imp.fail(node, f"pads {p} are not 2-D non-negative padding")
        return p[0], p[1], p[2], p[3]
    if auto == "VALID":
        return 0, 0, 0, 0
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out: list[int] = []
        for i in range(2):
            o = -(-hw[i] // s[i])
            total = max((o - 1) * s[i] + (k[i] - 1) * d[i] + 1 - hw[i], 0)
            small = total // 2
            out += [small, total - small] if auto == "SAME_UPPER" else [total - small, small]
        return out[0], out[2], out[1], out[3]
    raise imp.fail(node, f"auto_pad {auto} is not supported")


def _window_out(n: int, k: int, s: int, d: int, before: int, after: int) -> int:
    return (n + before + after - ((k - 1) * d + 1)) // s + 1


def load_onnx(path: str | Path) -> QGraph:
    """Read a float ONNX model into a float QGraph (NHWC). Raises EdgeAIError subclasses."""
    try:
        import onnx
    except ImportError:
        raise UnsupportedModelError("reading ONNX models needs the onnx package: pip install onnx") from None
    p = Path(path)
    data = read_model_bytes(p)
    try:
        model = onnx.load_from_string(data)
    except Exception:  # protobuf raises DecodeError and friends
        raise ModelFormatError(f"{p}: not a readable ONNX model (truncated or corrupt); re-export it") from None
    if not model.graph.node:
        raise ModelFormatError(f"{p}: not an ONNX model with a graph (no nodes); re-export it")
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < MIN_OPSET:
        raise UnsupportedModelError(f"{p}: ONNX opset {opset}; edgeai reads opset {MIN_OPSET} and later: re-export it")
    bad = [f"{n.name or f'#{i}'} ({n.op_type})" for i, n in enumerate(model.graph.node)
           if n.op_type not in SUPPORTED or n.domain not in ("", "ai.onnx")]  # fmt: skip
    if bad:
        raise UnsupportedModelError(
            f"{p}: unsupported operator{'s' if len(bad) > 1 else ''} {', '.join(bad)}; "
            f"edgeai supports {', '.join(SUPPORTED)}"
        )
    graph = model.graph
    imp = _Importer(p, graph)
    for init in graph.initializer:
        imp.values[init.name] = _Value(const=onnx.numpy_helper.to_array(init).astype(np.float32))
    for node in graph.node:
        for name in node.input:
            if name:
                imp.consumers[name] = imp.consumers.get(name, 0) + 1

    inputs: list[int] = []
    input_perm: list[tuple[int, ...] | None] = []
    init_names = {i.name for i in graph.initializer}
    for vi in graph.input:
        if vi.name in init_names:
            continue
        tt = vi.type.tensor_type
        if tt.elem_type != onnx.TensorProto.FLOAT:
            raise UnsupportedModelError(f"{p}: input {vi.name!r} is not float32; edgeai quantizes float models")
        dims: list[int] = []
        for k, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif k == 0:
                dims.append(1)  # a symbolic batch is fixed to 1
            else:
                raise UnsupportedModelError(
                    f"{p}: input {vi.name!r} has a dynamic dimension {k} ({d.dim_param or '?'}) that cannot be "
                    "fixed; export the model with a fixed input shape"
                )
        if not dims or len(dims) > 4:
            raise UnsupportedModelError(f"{p}: input {vi.name!r} has rank {len(dims)}; edgeai takes ranks 1 to 4")
        if len(dims) == 4:
            n, c, h, w = dims
            imp.values[vi.name] = _Value(tensor=imp.new_tensor(vi.name, (n, h, w, c)), nchw=True)
            input_perm.append(NCHW_TO_NHWC)
        else:
            imp.values[vi.name] = _Value(tensor=imp.new_tensor(vi.name, tuple(dims)))
            input_perm.append(None)
        inputs.append(imp.values[vi.name].tensor)

    for node in graph.node:
        _import_node(imp, node)

    outputs: list[int] = []
    output_perm: list[tuple[int, ...] | None] = []
    for vo in graph.output:
        v = imp.values.get(vo.name)
        if v is None or v.const is not None:
            raise UnsupportedModelError(f"{p}: output {vo.name!r} is not computed by the graph")
        if v.flat_from is not None:
            raise UnsupportedModelError(
                f"{p}: output {vo.name!r} flattens an NCHW tensor; its element order would differ from ONNX's"
            )
        outputs.append(v.tensor)
        output_perm.append(NCHW_TO_NHWC if v.nchw else None)
    return QGraph(p.stem, imp.tensors, imp.ops, inputs, outputs, input_perm, output_perm)


def _fuse_activation(imp: _Importer, node: Any, lo: float, hi: float) -> None:
    v = imp.act(node, 0)
    op_i = imp.producer.get(v.tensor)
    op = imp.ops[op_i] if op_i is not None else None
    if lo == 0.0 and hi == float("inf"):
        act = "RELU"
    elif lo == 0.0 and hi == 6.0:
        act = "RELU6"
    elif lo == -1.0 and hi == 1.0:
        act = "RELU_N1_TO_1"
    else:
        raise imp.fail(node, f"clipping to [{lo}, {hi}] is not an activation edgeai can fuse (ReLU, ReLU6)")
    if (
        op is None
        or op.type not in _FUSABLE
        or op.options.get("activation", "NONE") != "NONE"
        or not imp.sole_use(node.input[0])
    ):
        raise imp.fail(node, "can only follow Conv, Gemm/MatMul, Add or a pool whose output nothing else reads")
    op.options["activation"] = act
    imp.tensors[v.tensor].name = node.output[0]
    imp.values[node.output[0]] = v


def _import_node(imp: _Importer, node: Any) -> None:
    t = node.op_type
    a = _attrs(node)
    if t in ("Identity", "Dropout"):
        imp.values[node.output[0]] = imp.value(node, node.input[0])
        return
    if t == "Relu":
        _fuse_activation(imp, node, 0.0, float("inf"))
        return
    if t == "Clip":
        lo = float(imp.const(node, 1)) if len(node.input) > 1 and node.input[1] else -float("inf")
        hi = float(imp.const(node, 2)) if len(node.input) > 2 and node.input[2] else float("inf")
        _fuse_activation(imp, node, lo, hi)
        return
    if t == "Conv":
        _conv(imp, node, a)
        return
    if t == "BatchNormalization":
        _batchnorm(imp, node, a)
        return
    if t in ("MaxPool", "AveragePool", "GlobalAveragePool"):
        _pool(imp, node, a)
        return
    if t in ("Gemm", "MatMul"):
        _dense(imp, node, a)
        return
    if t == "Add":
        _add(imp, node)
        return
    if t in ("Flatten", "Reshape"):
        _flatten(imp, node, a)
        return
    if t == "Softmax":
        v = imp.act(node, 0)
        shape = imp.shape(v.tensor)
        axis = int(a.get("axis", -1))
        if v.nchw or axis not in (-1, len(shape) - 1):
            raise imp.fail(node, "softmax must run over the last axis of a non-image tensor")
        out = imp.emit(node, "SOFTMAX", [v.tensor], shape, beta=1.0)
        imp.values[node.output[0]] = _Value(tensor=out, flat_from=v.flat_from)
        return
    raise imp.fail(node, "is not supported")


def _conv(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.act(node, 0)
    if not x.nchw:
        raise imp.fail(node, "input must be a 4-D NCHW image")
    w = imp.const(node, 1)
    bias = imp.const(node, 2) if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[0], np.float32)
    if w.ndim != 4:
        raise imp.fail(node, f"weights of shape {w.shape}: only 2-D convolutions are supported")
    n, h, wd, ci = imp.shape(x.tensor)
    co, cig, kh, kw = w.shape
    g = int(a.get("group", 1))
    s = tuple(int(v) for v in a.get("strides", [1, 1]))
    d = tuple(int(v) for v in a.get("dilations", [1, 1]))
    if len(s) != 2 or len(d) != 2 or cig * g != ci or co % g:
        raise imp.fail(node, f"weights {w.shape}, group {g} do not fit {ci} input channels")
    pt, pl, pb, pr = _pads(node, a, (kh, kw), (s[0], s[1]), (d[0], d[1]), (h, wd), imp)
    oh, ow = _window_out(h, kh, s[0], d[0], pt, pb), _window_out(wd, kw, s[1], d[1], pl, pr)
    options = dict(padding="EXPLICIT", pad_top=pt, pad_left=pl, pad_bottom=pb, pad_right=pr,
                   stride_h=s[0], stride_w=s[1], dilation_h=d[0], dilation_w=d[1], activation="NONE")  # fmt: skip
    if g == ci and cig == 1 and g > 1:
        wt = imp.const_tensor(node.input[1], w.reshape(co, kh, kw).transpose(1, 2, 0)[None])  # [1,KH,KW,Co]
        op_type = "DEPTHWISE_CONV_2D"
        options["depth_multiplier"] = co // ci
    else:
        wt = imp.const_tensor(node.input[1], w.transpose(0, 2, 3, 1))  # OHWI
        op_type = "CONV_2D"
    bt = imp.const_tensor(f"{node.output[0]}/bias", bias.reshape(co))
    out = imp.emit(node, op_type, [x.tensor, wt, bt], (n, oh, ow, co), **options)
    imp.values[node.output[0]] = _Value(tensor=out, nchw=True)


def _batchnorm(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.act(node, 0)
    op_i = imp.producer.get(x.tensor)
    op = imp.ops[op_i] if op_i is not None else None
    if op is None or op.type not in ("CONV_2D", "DEPTHWISE_CONV_2D") or op.options.get("activation") != "NONE" \
            or not imp.sole_use(node.input[0]):  # fmt: skip
        raise imp.fail(node, "can only follow a convolution whose output nothing else reads (it is folded into it)")
    gamma, beta, mean, var = (imp.const(node, i) for i in range(1, 5))
    eps = float(a.get("epsilon", 1e-5))
    k = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    wt, bt = imp.tensors[op.inputs[1]], imp.tensors[op.inputs[2]]
    assert wt.data is not None and bt.data is not None
    # the output channel is axis 0 of an OHWI filter and axis 3 of a depthwise [1,KH,KW,Co] one
    scale = k.reshape(-1, 1, 1, 1) if op.type == "CONV_2D" else k.reshape(1, 1, 1, -1)
    wt.data = (wt.data * scale).astype(np.float32)
    bt.data = ((bt.data - mean) * k + beta).astype(np.float32)
    imp.tensors[x.tensor].name = node.output[0]
    imp.values[node.output[0]] = x


def _pool(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.act(node, 0)
    if not x.nchw:
        raise imp.fail(node, "input must be a 4-D NCHW image")
    n, h, wd, c = imp.shape(x.tensor)
    if node.op_type == "GlobalAveragePool":
        k, s, pads = (h, wd), (1, 1), (0, 0, 0, 0)
        op_type = "AVERAGE_POOL_2D"
    else:
        ks = [int(v) for v in a.get("kernel_shape", [])]
        ss = [int(v) for v in a.get("strides", [1, 1])]
        if len(ks) != 2 or len(ss) != 2:
            raise imp.fail(node, "only 2-D pooling is supported")
        k, s = (ks[0], ks[1]), (ss[0], ss[1])
        if int(a.get("ceil_mode", 0)):
            raise imp.fail(node, "ceil_mode=1 is not supported; export with ceil_mode=0")
        if [int(v) for v in a.get("dilations", [1, 1])] != [1, 1]:
            raise imp.fail(node, "dilated pooling is not supported")
        pads = _pads(node, a, (k[0], k[1]), (s[0], s[1]), (1, 1), (h, wd), imp)
        if node.op_type == "AveragePool" and int(a.get("count_include_pad", 0)) and any(pads):
            raise imp.fail(node, "count_include_pad=1 with padding is not supported (TFLite counts only real taps)")
        op_type = "AVERAGE_POOL_2D" if node.op_type == "AveragePool" else "MAX_POOL_2D"
    pt, pl, pb, pr = pads
    oh, ow = _window_out(h, k[0], s[0], 1, pt, pb), _window_out(wd, k[1], s[1], 1, pl, pr)
    out = imp.emit(node, op_type, [x.tensor], (n, oh, ow, c), padding="EXPLICIT", pad_top=pt, pad_left=pl,
                   pad_bottom=pb, pad_right=pr, stride_h=s[0], stride_w=s[1], filter_h=k[0], filter_w=k[1],
                   activation="NONE")  # fmt: skip
    imp.values[node.output[0]] = _Value(tensor=out, nchw=True)


def _dense(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.act(node, 0)
    shape = imp.shape(x.tensor)
    if x.nchw or len(shape) != 2:
        raise imp.fail(node, f"input of shape {shape} must be 2-D [batch, features] (Flatten it first)")
    w = imp.const(node, 1)
    if node.op_type == "Gemm":
        if float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0 or int(a.get("transA", 0)):
            raise imp.fail(node, "only alpha=1, beta=1, transA=0 are supported")
        filt = w if int(a.get("transB", 0)) else w.T
        bias = imp.const(node, 2) if len(node.input) > 2 and node.input[2] else np.zeros(filt.shape[0], np.float32)
    else:
        filt = w.T
        bias = np.zeros(filt.shape[0], np.float32)
    if filt.ndim != 2 or filt.shape[1] != shape[1]:
        raise imp.fail(node, f"weights {w.shape} do not fit {shape[1]} input features")
    co = filt.shape[0]
    bias = np.broadcast_to(bias, (co,))
    if x.flat_from is not None:  # our activation is flattened NHWC; ONNX's is NCHW
        _, h, wd, c = x.flat_from
        filt = filt.reshape(co, c, h, wd).transpose(0, 2, 3, 1).reshape(co, -1)
    wt = imp.const_tensor(node.input[1], filt)
    bt = imp.const_tensor(f"{node.output[0]}/bias", bias)
    out = imp.emit(node, "FULLY_CONNECTED", [x.tensor, wt, bt], (shape[0], co), activation="NONE")
    imp.values[node.output[0]] = _Value(tensor=out)


def _add(imp: _Importer, node: Any) -> None:
    va, vb = imp.value(node, node.input[0]), imp.value(node, node.input[1])
    if va.const is not None and vb.const is not None:
        imp.values[node.output[0]] = _Value(const=(va.const + vb.const).astype(np.float32))
        return
    if va.const is not None or vb.const is not None:  # a bias: fold into the producer
        v, c = (vb, va.const) if va.const is not None else (va, vb.const)
        assert c is not None
        name = node.input[1] if vb.const is None else node.input[0]
        op_i = imp.producer.get(v.tensor)
        op = imp.ops[op_i] if op_i is not None else None
        if op is None or op.type not in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D") \
                or op.options.get("activation") != "NONE" or not imp.sole_use(name):  # fmt: skip
            raise imp.fail(node, "adding a constant is supported only as the bias of the Gemm/MatMul/Conv before it")
        bt = imp.tensors[op.inputs[2]]
        assert bt.data is not None
        co = bt.data.shape[0]
        vec = c.reshape(-1) if c.size == co and (c.ndim <= 1 or v.nchw or c.shape[-1] == co) else None
        if v.nchw and c.ndim == 4 and c.shape[1] != co:
            vec = None
        if vec is None:
            raise imp.fail(node, f"constant of shape {c.shape} is not a per-channel bias of {co} channels")
        bt.data = (bt.data + vec).astype(np.float32)
        imp.values[node.output[0]] = v
        return
    if va.nchw != vb.nchw or va.flat_from != vb.flat_from:
        raise imp.fail(node, "adds an image (NCHW) tensor to a non-image tensor")
    sa, sb = imp.shape(va.tensor), imp.shape(vb.tensor)
    try:
        shape = tuple(int(d) for d in np.broadcast_shapes(sa, sb))
    except ValueError:
        raise imp.fail(node, f"shapes {sa} and {sb} do not broadcast") from None
    out = imp.emit(node, "ADD", [va.tensor, vb.tensor], shape, activation="NONE")
    imp.values[node.output[0]] = _Value(tensor=out, nchw=va.nchw, flat_from=va.flat_from)


def _flatten(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.act(node, 0)
    shape = imp.shape(x.tensor)
    onnx_shape = (shape[0], shape[3], shape[1], shape[2]) if x.nchw else shape
    new: tuple[int, ...]
    if node.op_type == "Flatten":
        axis = int(a.get("axis", 1))
        axis = axis + len(onnx_shape) if axis < 0 else axis
        new = (int(np.prod(onnx_shape[:axis], dtype=np.int64)), int(np.prod(onnx_shape[axis:], dtype=np.int64)))
    else:
        target = [int(v) for v in imp.const(node, 1).astype(np.int64)]
        if int(a.get("allowzero", 0)) and 0 in target:
            raise imp.fail(node, "allowzero with a 0 in the shape is not supported")
        total = int(np.prod(onnx_shape, dtype=np.int64))
        resolved = [onnx_shape[i] if v == 0 else v for i, v in enumerate(target)]
        if resolved.count(-1) > 1:
            raise imp.fail(node, f"shape {target} has more than one -1")
        if -1 in resolved:
            known = int(np.prod([v for v in resolved if v != -1], dtype=np.int64))
            resolved[resolved.index(-1)] = total // known if known else 0
        new = tuple(resolved)
        if int(np.prod(new, dtype=np.int64)) != total:
            raise imp.fail(node, f"cannot reshape {onnx_shape} to {target}")
    if len(new) > 4 or min(new) < 1:
        raise imp.fail(node, f"result shape {new} is not supported")
    flat_from = None
    if x.nchw and shape[1] * shape[2] > 1:
        # NHWC and NCHW flatten in different orders: allowed only into [batch, features] for a
        # Gemm/MatMul, whose weights are permuted to match
        if len(new) != 2 or new[0] != shape[0]:
            raise imp.fail(node, f"reshaping an image {onnx_shape} to {new} would reorder its elements")
        flat_from = shape
    elif x.nchw and len(new) == 4:
        raise imp.fail(node, f"reshaping an image {onnx_shape} to another image {new} is not supported")
    out = imp.emit(node, "RESHAPE", [x.tensor], new)
    imp.values[node.output[0]] = _Value(tensor=out, flat_from=flat_from)
