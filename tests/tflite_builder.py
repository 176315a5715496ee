"""Writes small TFLite flatbuffers (schema v3, ``TFL3``) for tests, with the ``tflite`` package's
generated builder functions and ``flatbuffers.Builder``.

    mb = ModelBuilder()
    x = mb.add_tensor("x", [1, 4], "int8", 0.05, 3)
    y = mb.add_tensor("y", [1, 4], "int8", 1 / 256, -128)
    mb.add_op("SOFTMAX", [x], [y], beta=1.0)
    data = mb.finish([x], [y])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import numpy.typing as npt
import tflite

_DTYPES: dict[str, tuple[int, str]] = {
    "int8": (tflite.TensorType.INT8, "<i1"),
    "int32": (tflite.TensorType.INT32, "<i4"),
    "float32": (tflite.TensorType.FLOAT32, "<f4"),
    "uint8": (tflite.TensorType.UINT8, "<u1"),
    "int16": (tflite.TensorType.INT16, "<i2"),
}

# builtin -> (options table, defaults); option names are snake_case of the schema's fields,
# with the short aliases below
_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "CONV_2D": ("Conv2DOptions", {"padding": "VALID", "stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1}),
    "DEPTHWISE_CONV_2D": (
        "DepthwiseConv2DOptions",
        {"padding": "VALID", "stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1, "depth_multiplier": 1},
    ),
    "FULLY_CONNECTED": ("FullyConnectedOptions", {}),
    "AVERAGE_POOL_2D": ("Pool2DOptions", {"padding": "VALID", "stride_h": 1, "stride_w": 1}),
    "MAX_POOL_2D": ("Pool2DOptions", {"padding": "VALID", "stride_h": 1, "stride_w": 1}),
    "ADD": ("AddOptions", {}),
    "SOFTMAX": ("SoftmaxOptions", {"beta": 1.0}),
    "RESHAPE": ("ReshapeOptions", {}),
}
_ALIASES = {
    "activation": "FusedActivationFunction",
    "dilation_h": "DilationHFactor",
    "dilation_w": "DilationWFactor",
    "filter_h": "FilterHeight",
    "filter_w": "FilterWidth",
}
# the versions TFLite's converter writes for int8 kernels (the resolver accepts them)
_VERSIONS = {
    "CONV_2D": 3,
    "DEPTHWISE_CONV_2D": 3,
    "FULLY_CONNECTED": 4,
    "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2,
    "ADD": 2,
    "SOFTMAX": 2,
    "LOGISTIC": 2,
    "TANH": 2,
    "CONCATENATION": 2,
    "QUANTIZE": 2,
}


def _camel(name: str) -> str:
    return _ALIASES.get(name) or "".join(part.capitalize() for part in name.split("_"))


def _enum_value(field_name: str, value: Any) -> Any:
    if isinstance(value, str):
        enum = tflite.Padding if field_name == "Padding" else tflite.ActivationFunctionType
        return getattr(enum, value)
    return value


@dataclass
class _Tensor:
    name: str
    shape: list[int]
    dtype: str
    scale: list[float] | None
    zero_point: list[int] | None
    buffer: int
    quantized_dimension: int


@dataclass
class _Op:
    opcode: int
    builtin: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


class ModelBuilder:
    """Collects tensors and operators of one subgraph, then serializes the model."""

    def __init__(self) -> None:
        self.tensors: list[_Tensor] = []
        self.buffers: list[bytes] = [b""]  # buffer 0: the empty sentinel
        self.opcodes: list[str] = []
        self.ops: list[_Op] = []

    def add_tensor(
        self,
        name: str,
        shape: Sequence[int],
        dtype: str = "int8",
        scale: npt.ArrayLike | None = None,
        zero_point: npt.ArrayLike | None = None,
        data: npt.ArrayLike | None = None,
        quantized_dimension: int = 0,
    ) -> int:
        """Add a tensor (a constant when ``data`` is given); returns its index."""
        buffer = 0
        if data is not None:
            arr = np.asarray(data).astype(_DTYPES[dtype][1]).reshape(tuple(shape))
            self.buffers.append(arr.tobytes())
            buffer = len(self.buffers) - 1
        scales = None if scale is None else [float(s) for s in np.atleast_1d(np.asarray(scale, np.float64))]
        zps = None
        if scales is not None:
            zp = 0 if zero_point is None else zero_point
            zps = [int(z) for z in np.broadcast_to(np.asarray(zp, np.int64), (len(scales),))]
        self.tensors.append(_Tensor(name, [int(d) for d in shape], dtype, scales, zps, buffer, quantized_dimension))
        return len(self.tensors) - 1

    def add_opcode(self, builtin: str) -> int:
        """Index of ``builtin`` in the operator-code table (added once; may stay unused)."""
        if builtin not in self.opcodes:
            self.opcodes.append(builtin)
        return self.opcodes.index(builtin)

    def add_op(self, builtin: str, inputs: Sequence[int], outputs: Sequence[int], **options: Any) -> int:
        """Add an operator; ``options`` are its options-table fields (``padding="SAME"``,
        ``stride_h=2``, ``activation="RELU"``, ``beta=0.5``, ``new_shape=[1, 8]``...)."""
        if builtin in _OPTIONS:
            options = {**_OPTIONS[builtin][1], **options}
        elif options:
            raise ValueError(f"{builtin}: the builder writes no options for it")
        self.ops.append(_Op(self.add_opcode(builtin), builtin, list(inputs), list(outputs), options))
        return len(self.ops) - 1

    # -- serialization ---------------------------------------------------------------------------
    @staticmethod
    def _vector(b: flatbuffers.Builder, values: Sequence[Any], kind: str) -> int:
        return b.CreateNumpyVector(np.asarray(values, dtype=kind))

    def _options(self, b: flatbuffers.Builder, op: _Op) -> tuple[int, int]:
        table = _OPTIONS[op.builtin][0]
        vectors = {k: self._vector(b, v, "<i4") for k, v in op.options.items() if isinstance(v, (list, tuple))}
        getattr(tflite, f"{table}Start")(b)
        for key, value in op.options.items():
            fname = _camel(key)
            adder = getattr(tflite, f"{table}Add{fname}")
            adder(b, vectors[key] if key in vectors else _enum_value(fname, value))
        return getattr(tflite.BuiltinOptions, table), getattr(tflite, f"{table}End")(b)

    def _tensor(self, b: flatbuffers.Builder, t: _Tensor) -> int:
        name = b.CreateString(t.name)
        shape = self._vector(b, t.shape, "<i4")
        quant = None
        if t.scale is not None and t.zero_point is not None:
            scale = self._vector(b, t.scale, "<f4")
            zp = self._vector(b, t.zero_point, "<i8")
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scale)
            tflite.QuantizationParametersAddZeroPoint(b, zp)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.quantized_dimension)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _DTYPES[t.dtype][0])
        tflite.TensorAddBuffer(b, t.buffer)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        return tflite.TensorEnd(b)

    def _op(self, b: flatbuffers.Builder, op: _Op) -> int:
        ins = self._vector(b, op.inputs, "<i4")
        outs = self._vector(b, op.outputs, "<i4")
        opts = self._options(b, op) if op.builtin in _OPTIONS else None
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, op.opcode)
        tflite.OperatorAddInputs(b, ins)
        tflite.OperatorAddOutputs(b, outs)
        if opts is not None:
            tflite.OperatorAddBuiltinOptionsType(b, opts[0])
            tflite.OperatorAddBuiltinOptions(b, opts[1])
        return tflite.OperatorEnd(b)

    def _buffer(self, b: flatbuffers.Builder, data: bytes) -> int:
        vec = None
        if data:
            b.StartVector(1, len(data), 16)  # constants 16-byte aligned, as the converter writes them
            b.head -= len(data)
            b.Bytes[b.head : b.head + len(data)] = data
            vec = b.EndVector()
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        return tflite.BufferEnd(b)

    def _table_vector(self, b: flatbuffers.Builder, offsets: Sequence[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    def finish(self, inputs: Sequence[int], outputs: Sequence[int]) -> bytes:
        """Serialize the model with the given subgraph inputs and outputs."""
        b = flatbuffers.Builder(1024)
        tensors = [self._tensor(b, t) for t in self.tensors]
        ops = [self._op(b, op) for op in self.ops]
        t_vec, o_vec = self._table_vector(b, tensors), self._table_vector(b, ops)
        in_vec, out_vec = self._vector(b, list(inputs), "<i4"), self._vector(b, list(outputs), "<i4")
        sg_name = b.CreateString("main")
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, t_vec)
        tflite.SubGraphAddOperators(b, o_vec)
        tflite.SubGraphAddInputs(b, in_vec)
        tflite.SubGraphAddOutputs(b, out_vec)
        tflite.SubGraphAddName(b, sg_name)
        subgraph = tflite.SubGraphEnd(b)

        codes = []
        for name in self.opcodes:
            code = getattr(tflite.BuiltinOperator, name)
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, _VERSIONS.get(name, 1))
            codes.append(tflite.OperatorCodeEnd(b))
        buffers = [self._buffer(b, data) for data in self.buffers]
        codes_vec, sg_vec, buf_vec = (self._table_vector(b, x) for x in (codes, [subgraph], buffers))
        desc = b.CreateString("edgeai tests")
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, codes_vec)
        tflite.ModelAddSubgraphs(b, sg_vec)
        tflite.ModelAddDescription(b, desc)
        tflite.ModelAddBuffers(b, buf_vec)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    def save(self, path: str | Path, inputs: Sequence[int], outputs: Sequence[int]) -> Path:
        """``finish`` and write the model to ``path``."""
        p = Path(path)
        p.write_bytes(self.finish(inputs, outputs))
        return p
