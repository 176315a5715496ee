"""The one error type of the edgeai API.

Every failure a user can cause (a bad file, an unsupported operator, a model that does not
fit) raises :class:`EdgeAIError` with a one-line message that names what is wrong and what
to do. The CLI turns it into that line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations


class EdgeAIError(Exception):
    """A failure with a message fit to show a user as is."""


class ModelFormatError(EdgeAIError):
    """A model file (.tflite, .onnx, .eai) that is truncated, corrupt or not what it claims."""


class UnsupportedModelError(EdgeAIError):
    """A well-formed model that edgeai cannot run (operators, types, shapes)."""


class FlashInUseError(EdgeAIError):
    """An emulated board's flash file that another board (or a writer) holds locked."""
