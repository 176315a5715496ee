"""Reading a user's file, with a one-line error when it cannot be read."""

from __future__ import annotations

from pathlib import Path

from .errors import ModelFormatError


def read_model_bytes(path: Path) -> bytes:
    """The bytes of a model file, or ModelFormatError naming what is wrong with the path."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelFormatError(f"{path}: is a directory, not a model file") from None
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot read it ({e.strerror})") from None
