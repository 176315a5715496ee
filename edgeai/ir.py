"""The graph IR every front end produces: a quantized int8 graph with real-valued scales.

Front ends (TFLite, later ONNX + the quantizer) fill it; ``edgeai.lower`` turns it into
blob ops with integer requantization parameters.
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
    type: str  # operator name as in TFLite's BuiltinOperator (CONV_2D, ...)
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
