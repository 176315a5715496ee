"""The ``.eai`` model blob: the structures, the writer and a validating reader.

The byte layout is documented in docs/model-format.md; this module and the C loader
(firmware/runtime/loader.c) are its two implementations.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ModelFormatError

MAGIC = b"EDAI"
VERSION_MAJOR = 1
VERSION_MINOR = 0
HEADER_BYTES = 64
TENSOR_BYTES = 32
OP_BYTES = 68
NUM_PARAMS = 12
MAX_OP_INPUTS = 6
NO_TENSOR = 0xFFFF
MAX_TENSORS = 4096
MAX_OPS = 4096
MAX_IO = 16
MAX_TENSOR_BYTES = 1 << 28
MAX_BAG_IDS = 4096  # EMBEDDING_BAG ids per bag (firmware EAI_MAX_BAG_IDS): 256 x the sum stays int32
MAX_BAG_ROWS = 1 << 24  # EMBEDDING_BAG table rows (firmware EAI_MAX_BAG_ROWS)
SECTION_ALIGN = 16
CONST_ALIGN = 16

INT8 = 1
INT32 = 2
KIND_ARENA = 0
KIND_CONST = 1

OPCODES: dict[str, int] = {
    "CONV_2D": 1,
    "DEPTHWISE_CONV_2D": 2,
    "FULLY_CONNECTED": 3,
    "AVERAGE_POOL_2D": 4,
    "MAX_POOL_2D": 5,
    "ADD": 6,
    "SOFTMAX": 7,
    "RESHAPE": 8,
    "EMBEDDING_BAG": 9,
}
OPNAMES: dict[int, str] = {v: k for k, v in OPCODES.items()}

_CONV_PARAMS = (
    "stride_h",
    "stride_w",
    "dilation_h",
    "dilation_w",
    "pad_h",
    "pad_w",
    "input_offset",
    "output_offset",
    "act_min",
    "act_max",
)
_POOL_PARAMS = ("stride_h", "stride_w", "filter_h", "filter_w", "pad_h", "pad_w", "", "", "act_min", "act_max")
# The name of each int32 param slot, per opcode (docs/model-format.md); "" marks an unused slot.
PARAM_LAYOUT: dict[str, tuple[str, ...]] = {
    "CONV_2D": _CONV_PARAMS,
    "DEPTHWISE_CONV_2D": (*_CONV_PARAMS, "depth_multiplier"),
    "FULLY_CONNECTED": ("filter_offset", "", "", "", "", "", "input_offset", "output_offset", "act_min", "act_max"),
    "AVERAGE_POOL_2D": _POOL_PARAMS,
    "MAX_POOL_2D": _POOL_PARAMS,
    "ADD": (
        "input1_offset",
        "input1_multiplier",
        "input1_shift",
        "input2_offset",
        "input2_multiplier",
        "input2_shift",
        "left_shift",
        "output_offset",
        "act_min",
        "act_max",
        "output_multiplier",
        "output_shift",
    ),
    "SOFTMAX": ("input_multiplier", "input_left_shift", "diff_min"),
    "RESHAPE": (),
    "EMBEDDING_BAG": ("ngrams", "output_offset", "output_multiplier", "output_shift", "act_min", "act_max"),
}


_HEADER = struct.Struct("<4sHHIIIIIHHHHIIIIIII")
_TENSOR = struct.Struct("<BBBB4IIfi")
_OP_HEAD = struct.Struct("<BBBB6HHH12i")
assert _HEADER.size == HEADER_BYTES
assert _TENSOR.size == TENSOR_BYTES
assert _OP_HEAD.size == OP_BYTES

_DTYPE_NP: dict[int, np.dtype[Any]] = {INT8: np.dtype(np.int8), INT32: np.dtype("<i4")}


def np_dtype(dtype: int) -> np.dtype[Any]:
    """The numpy dtype of a blob dtype code (INT8, INT32), little-endian as the blob stores it."""
    return _DTYPE_NP[dtype]


def random_inputs(blob: Blob, rng: np.random.Generator) -> list[npt.NDArray[Any]]:
    """Random values for each model input: int8 over its whole range; int32 ids (an embedding
    bag's input) from -1 (padding) to the table's last row."""
    out: list[npt.NDArray[Any]] = []
    for i in blob.inputs:
        t = blob.tensors[i]
        if t.dtype == INT32:
            rows = next((blob.tensors[op.inputs[1]].shape[0] for op in blob.ops if op.inputs[0] == i), 1)
            out.append(rng.integers(-1, rows, size=t.shape, dtype=np.int32))
        else:
            out.append(rng.integers(-128, 128, size=t.shape, dtype=np.int8))
    return out


@dataclass
class BlobTensor:
    """One tensor record. ``data`` is set for constants; ``offset`` is arena or data offset."""

    name: str
    dtype: int
    kind: int
    shape: tuple[int, ...]
    scale: float = 0.0
    zero_point: int = 0
    offset: int = 0
    data: npt.NDArray[np.generic] | None = None

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.elements * (1 if self.dtype == INT8 else 4)


@dataclass
class BlobOp:
    """One op record: opcode, input tensor indices (-1 absent), output, 12 int32 params."""

    opcode: int
    inputs: list[int]
    output: int
    params: list[int] = field(default_factory=lambda: [0] * NUM_PARAMS)
    layout: int = 0
    name: str = ""

    @property
    def opname(self) -> str:
        return OPNAMES.get(self.opcode, f"OP{self.opcode}")


def pack_params(opname: str, **values: int) -> list[int]:
    """The 12 param slots of an op record from named values (unnamed slots stay 0)."""
    layout = PARAM_LAYOUT[opname]
    unknown = set(values) - set(layout)
    if unknown:
        raise ValueError(f"{opname} has no params {sorted(unknown)}")
    return [int(values.get(name, 0)) if name else 0 for name in layout] + [0] * (NUM_PARAMS - len(layout))


def named_params(op: BlobOp) -> dict[str, int]:
    """An op record's params by name."""
    return {name: op.params[k] for k, name in enumerate(PARAM_LAYOUT.get(op.opname, ())) if name}


@dataclass
class Blob:
    """A whole model, as the blob holds it."""

    tensors: list[BlobTensor]
    ops: list[BlobOp]
    inputs: list[int]
    outputs: list[int]
    arena_bytes: int = 0

    @property
    def weights_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors if t.kind == KIND_CONST)


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def write_blob(blob: Blob) -> bytes:
    """Serialize ``blob`` (arena offsets already planned) to bytes."""
    if not 1 <= len(blob.tensors) <= MAX_TENSORS:
        raise ModelFormatError(f"model has {len(blob.tensors)} tensors; the blob holds 1..{MAX_TENSORS}")
    if not 1 <= len(blob.ops) <= MAX_OPS:
        raise ModelFormatError(f"model has {len(blob.ops)} operators; the blob holds 1..{MAX_OPS}")
    if not (1 <= len(blob.inputs) <= MAX_IO and 1 <= len(blob.outputs) <= MAX_IO):
        raise ModelFormatError(
            f"model has {len(blob.inputs)} inputs and {len(blob.outputs)} outputs; at most {MAX_IO} each"
        )
    # data section: every constant 16-byte aligned
    data = bytearray()
    for t in blob.tensors:
        if t.kind != KIND_CONST:
            continue
        assert t.data is not None
        data.extend(b"\0" * (_align(len(data), CONST_ALIGN) - len(data)))
        t.offset = len(data)
        raw = np.ascontiguousarray(t.data, dtype=_DTYPE_NP[t.dtype]).tobytes()
        if len(raw) != t.nbytes:
            raise ModelFormatError(f"constant tensor {t.name!r} holds {len(raw)} bytes, its shape says {t.nbytes}")
        data.extend(raw)
    data.extend(b"\0" * (_align(len(data), SECTION_ALIGN) - len(data)))

    tensors = b"".join(
        _TENSOR.pack(
            t.dtype,
            t.kind,
            len(t.shape),
            0,
            *(list(t.shape) + [1] * (4 - len(t.shape))),
            t.offset,
            t.scale,
            t.zero_point,
        )
        for t in blob.tensors
    )
    ops = b""
    for op in blob.ops:
        ins = [NO_TENSOR if i < 0 else i for i in op.inputs]
        ins += [NO_TENSOR] * (MAX_OP_INPUTS - len(ins))
        ops += _OP_HEAD.pack(op.opcode, op.layout, len(op.inputs), 1, *ins, op.output, 0, *op.params)
    io = struct.pack(f"<{len(blob.inputs) + len(blob.outputs)}H", *blob.inputs, *blob.outputs)
    names = b"".join(t.name.encode("utf-8", "replace")[-255:] + b"\0" for t in blob.tensors)

    sections: list[bytes] = [tensors, ops, io, names]
    offsets: list[int] = []
    pos = HEADER_BYTES
    for s in sections:
        offsets.append(pos)
        pos = _align(pos + len(s), SECTION_ALIGN)
    data_off = pos
    total = data_off + len(data)

    body = bytearray(total - HEADER_BYTES)
    for s, off in zip(sections, offsets, strict=True):
        body[off - HEADER_BYTES : off - HEADER_BYTES + len(s)] = s
    body[data_off - HEADER_BYTES :] = data

    header_tail = struct.pack(
        "<IIHHHHIIIIIII",
        0,
        blob.arena_bytes,
        len(blob.tensors),
        len(blob.ops),
        len(blob.inputs),
        len(blob.outputs),
        offsets[0],
        offsets[1],
        offsets[2],
        data_off,
        len(data),
        offsets[3],
        len(names),
    )
    crc = zlib.crc32(header_tail + bytes(body)) & 0xFFFFFFFF
    head = MAGIC + struct.pack("<HHIII", VERSION_MAJOR, VERSION_MINOR, HEADER_BYTES, total, crc)
    out = head + header_tail + bytes(body)
    assert len(out) == total
    return out


def read_blob(buf: bytes) -> Blob:
    """Parse and validate a blob's structure. Raises ModelFormatError on any defect.

    The C loader is the authority on what a device accepts; this reader checks the
    container (sizes, bounds, CRC, records) so host tools never index out of range.
    """
    n = len(buf)
    if n < HEADER_BYTES:
        raise ModelFormatError(f"blob is truncated: {n} bytes, shorter than its {HEADER_BYTES}-byte header")
    (
        magic,
        vmaj,
        _vmin,
        hbytes,
        total,
        crc,
        _flags,
        arena,
        nt,
        nops,
        nin,
        nout,
        t_off,
        o_off,
        io_off,
        d_off,
        d_bytes,
        names_off,
        names_bytes,
    ) = _HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        raise ModelFormatError("not an .eai model blob (bad magic); compile one with `edgeai compile`")
    if vmaj != VERSION_MAJOR:
        raise ModelFormatError(
            f"blob format version {vmaj} is not supported (this edgeai reads version {VERSION_MAJOR}); "
            "recompile the model"
        )
    if hbytes != HEADER_BYTES:
        raise ModelFormatError(f"blob header says {hbytes} header bytes, expected {HEADER_BYTES}")
    if total > n:
        raise ModelFormatError(f"blob is truncated: {n} bytes of {total}")
    if zlib.crc32(buf[20:total]) & 0xFFFFFFFF != crc:
        raise ModelFormatError("blob is corrupt: CRC32 of its body does not match; recompile or re-copy it")
    if not (1 <= nt <= MAX_TENSORS and 1 <= nops <= MAX_OPS and 1 <= nin <= MAX_IO and 1 <= nout <= MAX_IO):
        raise ModelFormatError("blob header has counts out of range")

    def section(off: int, size: int, what: str) -> None:
        if off < HEADER_BYTES or off + size > total:
            raise ModelFormatError(f"blob {what} section [{off}, {off + size}) lies outside the blob")

    section(t_off, nt * TENSOR_BYTES, "tensor")
    section(o_off, nops * OP_BYTES, "op")
    section(io_off, (nin + nout) * 2, "io")
    section(d_off, d_bytes, "data")
    if names_bytes:
        section(names_off, names_bytes, "names")
    names = bytes(buf[names_off : names_off + names_bytes]).split(b"\0") if names_bytes else []

    tensors: list[BlobTensor] = []
    for i in range(nt):
        dt, kind, rank, _r, d0, d1, d2, d3, off, scale, zp = _TENSOR.unpack_from(buf, t_off + i * TENSOR_BYTES)
        dims = (d0, d1, d2, d3)
        if dt not in _DTYPE_NP or kind not in (KIND_ARENA, KIND_CONST) or not 1 <= rank <= 4:
            raise ModelFormatError(f"blob tensor {i} has an invalid dtype, kind or rank")
        if any(d < 1 for d in dims) or any(d != 1 for d in dims[rank:]):
            raise ModelFormatError(f"blob tensor {i} has invalid dims {dims}")
        name = names[i].decode("utf-8", "replace") if i < len(names) else f"t{i}"
        t = BlobTensor(name, dt, kind, tuple(dims[:rank]), scale, zp, off)
        if t.nbytes > MAX_TENSOR_BYTES:
            raise ModelFormatError(f"blob tensor {i} is too large ({t.nbytes} bytes)")
        if kind == KIND_CONST:
            if off + t.nbytes > d_bytes:
                raise ModelFormatError(f"blob constant tensor {i} lies outside the data section")
            t.data = np.frombuffer(buf, dtype=_DTYPE_NP[dt], count=t.elements, offset=d_off + off).reshape(t.shape)
        elif off + t.nbytes > arena:
            raise ModelFormatError(f"blob tensor {i} lies outside the {arena}-byte arena")
        tensors.append(t)

    ops: list[BlobOp] = []
    for i in range(nops):
        f = _OP_HEAD.unpack_from(buf, o_off + i * OP_BYTES)
        opcode, layout, n_in, _n_out = f[0:4]
        if opcode not in OPNAMES or n_in > MAX_OP_INPUTS:
            raise ModelFormatError(f"blob op {i} has unknown opcode {opcode}")
        ins = [-1 if x == NO_TENSOR else x for x in f[4 : 4 + n_in]]
        out = f[10]
        if any(x >= nt for x in ins) or out >= nt:
            raise ModelFormatError(f"blob op {i} refers to a tensor that does not exist")
        ops.append(BlobOp(opcode, ins, out, list(f[12:24]), layout))
    io = struct.unpack_from(f"<{nin + nout}H", buf, io_off)
    if any(x >= nt for x in io):
        raise ModelFormatError("blob input/output list refers to a tensor that does not exist")
    return Blob(tensors, ops, list(io[:nin]), list(io[nin:]), arena)
