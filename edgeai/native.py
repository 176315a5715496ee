"""The C runtime, built for the host and driven through ctypes.

The shared library is built from firmware/ with ``make`` on first use (and rebuilt when a
source is newer), so Python always runs the same C code the boards run.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .blob import np_dtype
from .errors import EdgeAIError

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
BUILD = ROOT / "build" / "host"
LIBRARY = BUILD / "libedgeai.so"


class _Model(ctypes.Structure):
    _fields_ = [
        ("blob", ctypes.c_void_p),
        ("blob_bytes", ctypes.c_uint32),
        ("arena_bytes", ctypes.c_uint32),
        ("n_tensors", ctypes.c_uint32),
        ("n_ops", ctypes.c_uint32),
        ("n_inputs", ctypes.c_uint32),
        ("n_outputs", ctypes.c_uint32),
        ("tensors", ctypes.c_void_p),
        ("ops", ctypes.c_void_p),
        ("io", ctypes.c_void_p),
        ("data", ctypes.c_void_p),
        ("data_bytes", ctypes.c_uint32),
        ("err_index", ctypes.c_int32),
    ]


class _Tensor(ctypes.Structure):
    _fields_ = [
        ("dtype", ctypes.c_uint8),
        ("kind", ctypes.c_uint8),
        ("rank", ctypes.c_uint8),
        ("dims", ctypes.c_uint32 * 4),
        ("offset", ctypes.c_uint32),
        ("bytes", ctypes.c_uint32),
        ("scale", ctypes.c_float),
        ("zero_point", ctypes.c_int32),
    ]


def _sources_newer_than(target: Path) -> bool:
    if not target.exists():
        return True
    stamp = target.stat().st_mtime
    for d in ("include", "runtime", "kernels", "text"):
        for f in (FIRMWARE / d).rglob("*"):
            if f.suffix in (".c", ".h") and f.stat().st_mtime > stamp:
                return True
    return (FIRMWARE / "Makefile").stat().st_mtime > stamp


def build_library() -> Path:
    """Build (if needed) and return the path of the host shared library."""
    if _sources_newer_than(LIBRARY):
        if not (FIRMWARE / "Makefile").exists():
            raise EdgeAIError(f"the C runtime sources are not at {FIRMWARE}; use edgeai from its source tree")
        proc = subprocess.run(["make", "-s", "-C", str(FIRMWARE), "lib"], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise EdgeAIError(f"building the C runtime failed: {tail[0]}; run `make -C firmware lib` to see why")
    return LIBRARY


_lib: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(os.fspath(build_library()))
        lib.eai_load.argtypes = [ctypes.POINTER(_Model), ctypes.c_void_p, ctypes.c_size_t]
        lib.eai_tensor_info.argtypes = [ctypes.POINTER(_Model), ctypes.c_uint32, ctypes.POINTER(_Tensor)]
        lib.eai_input_index.argtypes = [ctypes.POINTER(_Model), ctypes.c_uint32]
        lib.eai_output_index.argtypes = [ctypes.POINTER(_Model), ctypes.c_uint32]
        lib.eai_invoke_range.argtypes = [
            ctypes.POINTER(_Model),
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint32,
            ctypes.c_uint32,
        ]
        lib.eai_strerror.restype = ctypes.c_char_p
        lib.eai_strerror.argtypes = [ctypes.c_int]
        _lib = lib
    return _lib


def strerror(status: int) -> str:
    return (library().eai_strerror(status) or b"?").decode()


class LoadError(EdgeAIError):
    """The C loader refused a blob."""

    def __init__(self, status: int, index: int) -> None:
        self.status = status
        self.index = index
        where = f" (at record {index})" if index >= 0 else ""
        super().__init__(f"the C runtime refused the model: {strerror(status)}{where}")


class NativeModel:
    """A blob loaded by the C runtime, with its own arena."""

    def __init__(self, blob: bytes) -> None:
        lib = library()
        words = (len(blob) + 3) // 4
        self._buf = (ctypes.c_uint32 * max(words, 1))()  # 4-byte aligned, as on a board
        ctypes.memmove(self._buf, blob, len(blob))
        self._m = _Model()
        status = lib.eai_load(ctypes.byref(self._m), self._buf, len(blob))
        if status != 0:
            raise LoadError(status, self._m.err_index)
        self.arena_bytes = int(self._m.arena_bytes)
        self._arena = (ctypes.c_uint32 * max((self.arena_bytes + 3) // 4, 1))()
        self.n_ops = int(self._m.n_ops)
        self.inputs = [lib.eai_input_index(ctypes.byref(self._m), i) for i in range(self._m.n_inputs)]
        self.outputs = [lib.eai_output_index(ctypes.byref(self._m), i) for i in range(self._m.n_outputs)]

    def tensor(self, index: int) -> _Tensor:
        t = _Tensor()
        status = library().eai_tensor_info(ctypes.byref(self._m), index, ctypes.byref(t))
        if status != 0:
            raise EdgeAIError(f"tensor {index}: {strerror(status)}")
        return t

    def _read(self, index: int) -> npt.NDArray[np.int8]:
        t = self.tensor(index)
        shape = tuple(int(d) for d in t.dims[: t.rank])
        raw = ctypes.string_at(ctypes.addressof(self._arena) + t.offset, t.bytes)
        return np.frombuffer(raw, dtype=np_dtype(t.dtype)).reshape(shape).copy()

    def _write_inputs(self, inputs: Sequence[npt.ArrayLike]) -> None:
        """Copy int8 inputs (int32 where the input tensor is int32: EMBEDDING_BAG ids) into the arena."""
        if len(inputs) != len(self.inputs):
            raise EdgeAIError(f"the model takes {len(self.inputs)} input(s), {len(inputs)} given")
        for k, (idx, x) in enumerate(zip(self.inputs, inputs, strict=True)):
            t = self.tensor(idx)
            dtype = np_dtype(t.dtype)
            raw = np.ascontiguousarray(np.asarray(x).astype(dtype)).tobytes()
            if len(raw) != t.bytes:
                n, got = t.bytes // dtype.itemsize, len(raw) // dtype.itemsize
                raise EdgeAIError(f"input {k} needs {n} {dtype} values, got {got}")
            ctypes.memmove(ctypes.addressof(self._arena) + t.offset, raw, len(raw))

    def _invoke(self, first: int, last: int) -> None:
        status = library().eai_invoke_range(ctypes.byref(self._m), self._arena, ctypes.sizeof(self._arena), first, last)
        if status != 0:
            raise EdgeAIError(f"the C runtime failed to run ops {first}..{last - 1}: {strerror(status)}")

    def run(self, inputs: Sequence[npt.ArrayLike]) -> list[npt.NDArray[np.int8]]:
        """Run the whole model; returns the outputs."""
        self._write_inputs(inputs)
        self._invoke(0, self.n_ops)
        return [self._read(i) for i in self.outputs]

    def run_layers(self, inputs: Sequence[npt.ArrayLike], output_of: Sequence[int]) -> list[npt.NDArray[np.int8]]:
        """Run op by op and return the output tensor of each op (indices into the blob)."""
        self._write_inputs(inputs)
        result = []
        for i in range(self.n_ops):
            self._invoke(i, i + 1)
            result.append(self._read(output_of[i]))
        return result
