"""TFLite front end: reads an int8 ``.tflite`` flatbuffer (schema package ``tflite``).

Models keep their own quantization. Only operators the model's subgraph actually uses
matter: entries of the operator-code table that no operator refers to are ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tflite

from ..errors import ModelFormatError, UnsupportedModelError
from ..files import read_model_bytes
from ..ir import QGraph, QOp, QTensor

SUPPORTED = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "ADD",
    "SOFTMAX",
    "RESHAPE",
)

_OPNAME = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_TYPENAME = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_ACT = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
_NP_DTYPES: dict[str, np.dtype[Any]] = {
    "INT8": np.dtype(np.int8),
    "INT32": np.dtype("<i4"),
    "FLOAT32": np.dtype("<f4"),
}
_PAD = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}


def _options(op: Any, cls: Any) -> Any:
    table = op.BuiltinOptions()
    if table is None:
        return None
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    return opts


def _conv_options(o: Any) -> dict[str, Any]:
    """Options Conv2DOptions and DepthwiseConv2DOptions share."""
    return {
        "padding": _PAD.get(o.Padding(), "?"),
        "stride_h": o.StrideH(),
        "stride_w": o.StrideW(),
        "dilation_h": o.DilationHFactor(),
        "dilation_w": o.DilationWFactor(),
        "activation": _ACT.get(o.FusedActivationFunction(), "?"),
    }


def _op_options(name: str, op: Any) -> dict[str, Any]:
    if name == "CONV_2D":
        return _conv_options(_options(op, tflite.Conv2DOptions))
    if name == "DEPTHWISE_CONV_2D":
        o = _options(op, tflite.DepthwiseConv2DOptions)
        return {**_conv_options(o), "depth_multiplier": o.DepthMultiplier()}
    if name == "FULLY_CONNECTED":
        o = _options(op, tflite.FullyConnectedOptions)
        if o is None:
            return {"activation": "NONE", "weights_format": 0}
        return {"activation": _ACT.get(o.FusedActivationFunction(), "?"), "weights_format": o.WeightsFormat()}
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        o = _options(op, tflite.Pool2DOptions)
        return {
            "padding": _PAD.get(o.Padding(), "?"),
            "stride_h": o.StrideH(),
            "stride_w": o.StrideW(),
            "filter_h": o.FilterHeight(),
            "filter_w": o.FilterWidth(),
            "activation": _ACT.get(o.FusedActivationFunction(), "?"),
        }
    if name == "ADD":
        o = _options(op, tflite.AddOptions)
        return {"activation": "NONE" if o is None else _ACT.get(o.FusedActivationFunction(), "?")}
    if name == "SOFTMAX":
        o = _options(op, tflite.SoftmaxOptions)
        return {"beta": 1.0 if o is None else float(o.Beta())}
    return {}


def load_tflite(path: str | Path) -> QGraph:
    """Read an int8 TFLite model into a QGraph. Raises EdgeAIError subclasses on bad input."""
    p = Path(path)
    buf = read_model_bytes(p)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelFormatError(f"{p}: not a TFLite flatbuffer (no TFL3 identifier); give an int8 .tflite model")
    try:
        return _parse(p, buf)
    except (IndexError, ValueError, TypeError, KeyError, AttributeError, OverflowError):
        # flatbuffers raises these when offsets point outside the buffer
        raise ModelFormatError(f"{p}: the TFLite file is truncated or corrupt; re-export it") from None
    except Exception as e:  # struct.error and friends from a mangled flatbuffer
        if type(e).__module__ == "struct":
            raise ModelFormatError(f"{p}: the TFLite file is truncated or corrupt; re-export it") from None
        raise


def _parse(p: Path, buf: bytes) -> QGraph:
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ModelFormatError(f"{p}: the model has no subgraph")
    if model.SubgraphsLength() > 1:
        raise UnsupportedModelError(
            f"{p}: the model has {model.SubgraphsLength()} subgraphs (control flow); edgeai runs single-subgraph models"
        )
    sg = model.Subgraphs(0)

    # operators first: unsupported ones are reported all at once, with index and type
    ops_raw: list[tuple[int, str, Any]] = []
    bad: list[str] = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = _OPNAME.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            cname = code.CustomCode()
            name = f"CUSTOM({cname.decode() if cname else '?'})"
        if name not in SUPPORTED:
            bad.append(f"#{i} {name}")
        ops_raw.append((i, name, op))
    if bad:
        raise UnsupportedModelError(
            f"{p}: unsupported operator{'s' if len(bad) > 1 else ''} {', '.join(bad)}; "
            f"edgeai supports {', '.join(SUPPORTED)}"
        )
    if not ops_raw:
        raise ModelFormatError(f"{p}: the model has no operators")

    inputs = [int(i) for i in sg.InputsAsNumpy()]
    outputs = [int(i) for i in sg.OutputsAsNumpy()]
    for idx in inputs + outputs:
        t = sg.Tensors(idx)
        if t.Type() != tflite.TensorType.INT8:
            role = "input" if idx in inputs else "output"
            tname = _TYPENAME.get(t.Type(), str(t.Type()))
            raise UnsupportedModelError(
                f"{p}: {role} {t.Name().decode(errors='replace')!r} is {tname}, not INT8: "
                "this is not an int8 model; quantize it to int8 (full-integer) first"
            )

    tensors: list[QTensor] = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        name = (t.Name() or b"").decode(errors="replace") or f"tensor{i}"
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        shape = tuple(1 if d < 0 else d for d in shape)  # a dynamic batch is fixed to 1
        tname = _TYPENAME.get(t.Type(), str(t.Type()))
        q = t.Quantization()
        scale = np.zeros(1, np.float32)
        zp = np.zeros(1, np.int64)
        if q is not None and q.ScaleLength():
            scale = q.ScaleAsNumpy().astype(np.float32)
            zp = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(len(scale), np.int64)
        data = None
        b = model.Buffers(t.Buffer())
        if b is not None and b.DataLength():
            raw = b.DataAsNumpy().tobytes()
            np_dtype = _NP_DTYPES.get(tname)
            if np_dtype is None:
                data = None
            else:
                count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                if len(raw) != count * np_dtype.itemsize:
                    raise ModelFormatError(
                        f"{p}: tensor {name!r} holds {len(raw)} bytes, not what its shape {shape} needs; "
                        "the file is corrupt"
                    )
                data = np.frombuffer(raw, dtype=np_dtype).reshape(shape)
        dtype = {"INT8": "int8", "INT32": "int32"}.get(tname, tname.lower())
        tensors.append(QTensor(name, shape, dtype, scale, zp, data))

    ops: list[QOp] = []
    for i, name, op in ops_raw:
        ins = [int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else []
        bad_refs = [x for x in ins if not -1 <= x < len(tensors)] + [x for x in outs if not 0 <= x < len(tensors)]
        if bad_refs:  # -1 marks an absent optional input, never an output
            raise ModelFormatError(f"{p}: operator #{i} ({name}) refers to tensor {bad_refs[0]}, which does not exist")
        ops.append(QOp(name, ins, outs, _op_options(name, op), i))
    return QGraph(p.stem, tensors, ops, inputs, outputs)
