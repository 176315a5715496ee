"""``edgeai inspect``: what an ``.eai`` blob holds, as a dictionary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .blob import INT8, KIND_CONST, Blob, read_blob
from .errors import EdgeAIError
from .planner import plan_arena

_PARAM_NAMES: dict[str, dict[int, str]] = {
    "CONV_2D": {
        0: "stride_h",
        1: "stride_w",
        2: "dilation_h",
        3: "dilation_w",
        4: "pad_h",
        5: "pad_w",
        6: "input_offset",
        7: "output_offset",
        8: "act_min",
        9: "act_max",
    },
    "DEPTHWISE_CONV_2D": {
        0: "stride_h",
        1: "stride_w",
        2: "dilation_h",
        3: "dilation_w",
        4: "pad_h",
        5: "pad_w",
        6: "input_offset",
        7: "output_offset",
        8: "act_min",
        9: "act_max",
        10: "depth_multiplier",
    },
    "FULLY_CONNECTED": {0: "filter_offset", 6: "input_offset", 7: "output_offset", 8: "act_min", 9: "act_max"},
    "AVERAGE_POOL_2D": {
        0: "stride_h",
        1: "stride_w",
        2: "filter_h",
        3: "filter_w",
        4: "pad_h",
        5: "pad_w",
        8: "act_min",
        9: "act_max",
    },
    "MAX_POOL_2D": {
        0: "stride_h",
        1: "stride_w",
        2: "filter_h",
        3: "filter_w",
        4: "pad_h",
        5: "pad_w",
        8: "act_min",
        9: "act_max",
    },
    "ADD": {
        0: "input1_offset",
        1: "input1_multiplier",
        2: "input1_shift",
        3: "input2_offset",
        4: "input2_multiplier",
        5: "input2_shift",
        6: "left_shift",
        7: "output_offset",
        8: "act_min",
        9: "act_max",
        10: "output_multiplier",
        11: "output_shift",
    },
    "SOFTMAX": {0: "input_multiplier", 1: "input_left_shift", 2: "diff_min"},
    "RESHAPE": {},
}


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
            "params": {n: op.params[k] for k, n in _PARAM_NAMES.get(op.opname, {}).items()},
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
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise EdgeAIError(f"{p}: no such file") from None
    except OSError as e:
        raise EdgeAIError(f"{p}: cannot read it ({e.strerror})") from None
    try:
        blob = read_blob(data)
    except EdgeAIError as e:
        raise type(e)(f"{p}: {e}") from None
    return describe(blob, len(data))
