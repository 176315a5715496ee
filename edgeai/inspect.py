"""``edgeai inspect``: what an ``.eai`` blob holds, as a dictionary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .blob import INT8, KIND_CONST, Blob, named_params, read_blob
from .errors import EdgeAIError
from .files import read_model_bytes
from .planner import plan_arena


def describe(blob: Blob, blob_bytes: int) -> dict[str, Any]:
    """A JSON-ready description of a parsed blob."""
    plan = plan_arena(blob)
    tensors = [
        {
            "index": i,
            "name": t.name,
            "kind": "const" if t.kind == KIND_CONST else "arena",
            "dtype": "int8" if t.dtype == INT8 else "int32",
            "shape": list(t.shape),
            "offset": t.offset,
            "bytes": t.nbytes,
            "scale": t.scale,
            "zero_point": t.zero_point,
        }
        for i, t in enumerate(blob.tensors)
    ]
    ops = [
        {
            "index": i,
            "op": op.opname,
            "inputs": op.inputs,
            "output": op.output,
            "output_shape": list(blob.tensors[op.output].shape),
            "params": named_params(op),
        }
        for i, op in enumerate(blob.ops)
    ]
    return {
        "operators": ops,
        "tensors": tensors,
        "inputs": blob.inputs,
        "outputs": blob.outputs,
        "arena_bytes": blob.arena_bytes,
        "arena_lower_bound_bytes": plan.lower_bound_bytes,
        "weights_bytes": blob.weights_bytes,
        "blob_bytes": blob_bytes,
    }


def inspect_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    data = read_model_bytes(p)
    try:
        blob = read_blob(data)
    except EdgeAIError as e:
        raise type(e)(f"{p}: {e}") from None
    return describe(blob, len(data))
