"""The test oracle: TFLite 2.14's reference kernels (tflite-runtime, BUILTIN_REF resolver).

tflite-runtime is an optional, test-only dependency (it needs numpy < 2 and Python <= 3.11);
``available()`` says whether it can be used here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

PINNED = "2.14.0"


def available() -> str | None:
    """None when the oracle can run; otherwise the reason it cannot."""
    try:
        import tflite_runtime
        from tflite_runtime.interpreter import Interpreter, OpResolverType  # noqa: F401
    except ImportError:
        return f"tflite-runtime is not installed (pip install tflite-runtime=={PINNED}, Python <= 3.11)"
    version = getattr(tflite_runtime, "__version__", "?")
    if version != PINNED:
        return f"tflite-runtime {version} is installed; the oracle needs {PINNED} (later releases round differently)"
    return None


class TFLiteReference:
    """A TFLite interpreter with the reference op resolver."""

    def __init__(self, path: str | Path) -> None:
        from tflite_runtime.interpreter import Interpreter, OpResolverType

        self._it: Any = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        self._it.allocate_tensors()
        self._inputs = self._it.get_input_details()
        self._outputs = self._it.get_output_details()

    def run(self, inputs: Sequence[npt.ArrayLike]) -> list[npt.NDArray[np.int8]]:
        for d, x in zip(self._inputs, inputs, strict=True):
            self._it.set_tensor(d["index"], np.asarray(x, dtype=d["dtype"]).reshape(d["shape"]))
        self._it.invoke()
        return [np.array(self._it.get_tensor(d["index"])) for d in self._outputs]
