"""The graph IR every front end produces, in TFLite's operator vocabulary and NHWC layout.

A graph is either float (dtype "float32": what the ONNX front end reads, and what the
quantizer calibrates) or quantized int8 with real-valued scales (what the TFLite front end
reads, and what the quantizer makes); ``edgeai.lower`` turns the latter into blob ops with
integer requantization parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass
class QTensor:
    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8" or "int32"
    scale: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(1, np.float32))
    zero_point: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(1, np.int64))
    data: npt.NDArray[Any] | None = None  # set for constants

    @property
    def is_const(self) -> bool:
        return self.data is not None


@dataclass
class QOp:
    # operator name as in TFLite's BuiltinOperator (CONV_2D, ...), or EMBEDDING_BAG (edgeai's
    # own: inputs [ids int32 [1, L], table int8 const [B, D]], output int8 [1, D], the mean of
    # the rows the ids name; option "ngrams" (1 or 2) tells the text front end how to hash)
    type: str
    inputs: list[int]  # tensor indices, -1 where an optional input is absent
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)
    index: int = 0  # the operator's index in the source model, for messages

    @property
    def where(self) -> str:
        return f"operator #{self.index} ({self.type})"


@dataclass
class QGraph:
    name: str
    tensors: list[QTensor]
    ops: list[QOp]
    inputs: list[int]
    outputs: list[int]
    # For each input/output, the axis permutation from the source model's layout to the IR's
    # (NCHW -> NHWC is (0, 2, 3, 1)); None where the layouts agree.
    input_perm: list[tuple[int, ...] | None] = field(default_factory=list)
    output_perm: list[tuple[int, ...] | None] = field(default_factory=list)


def window_pads(op: QOp, in_hw: tuple[int, int], k: tuple[int, int], d: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of a conv or pool, from explicit pads or SAME/VALID."""
    o = op.options
    if o.get("padding") == "EXPLICIT":
        return o["pad_top"], o["pad_left"], o["pad_bottom"], o["pad_right"]
    if o.get("padding") == "VALID":
        return 0, 0, 0, 0
    out: list[int] = []
    for i, s in enumerate((o["stride_h"], o["stride_w"])):
        n = -(-in_hw[i] // s)
        total = max((n - 1) * s + (k[i] - 1) * d[i] + 1 - in_hw[i], 0)
        out += [total // 2, total - total // 2]
    return out[0], out[2], out[1], out[3]
