"""edgeai: compile int8 models, run them on ESP32-class boards, bit-exact with the host."""

from __future__ import annotations

__version__ = "0.1.0"

from .cascade import Answer, BoardClassifier, Cascade, calibrate_threshold
from .compiler import Compiled, compile_model
from .errors import EdgeAIError, ModelFormatError, UnsupportedModelError

__all__ = [
    "Answer",
    "BoardClassifier",
    "Cascade",
    "Compiled",
    "EdgeAIError",
    "ModelFormatError",
    "UnsupportedModelError",
    "__version__",
    "calibrate_threshold",
    "compile_model",
]
