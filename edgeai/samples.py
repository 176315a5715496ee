"""Float samples for calibration and evaluation: ``.npy`` or ``.npz`` files, or a folder of
them, holding one input or a stack of inputs in the source model's layout (NCHW for images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from .errors import EdgeAIError
from .ir import QGraph

F32 = npt.NDArray[np.float32]


def _arrays(path: Path) -> list[tuple[str, npt.NDArray[np.generic]]]:
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix in (".npy", ".npz"))
        if not files:
            raise EdgeAIError(f"{path}: the folder holds no .npy or .npz files")
        return [a for f in files for a in _arrays(f)]
    if not path.exists():
        raise EdgeAIError(f"{path}: no such file or folder")
    try:
        if path.suffix == ".npy":
            return [(str(path), np.load(path, allow_pickle=False))]
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return [(f"{path}[{k}]", z[k]) for k in z.files]
    except (ValueError, OSError) as e:
        raise EdgeAIError(f"{path}: not a readable numpy file ({e})") from None
    raise EdgeAIError(f"{path}: samples must be .npy or .npz files (or a folder of them)")


def source_shape(graph: QGraph, k: int = 0) -> tuple[int, ...]:
    """Input ``k``'s shape in the source model's layout."""
    shape = graph.tensors[graph.inputs[k]].shape
    perm = graph.input_perm[k] if k < len(graph.input_perm) else None
    if perm is None:
        return shape
    inverse = np.argsort(perm)
    return tuple(shape[i] for i in inverse)


def load_samples(path: str | Path, graph: QGraph) -> list[list[F32]]:
    """Samples for a single-input float graph, each converted to the IR's layout."""
    if len(graph.inputs) != 1:
        raise EdgeAIError(f"{graph.name}: samples from files need a single-input model; it has {len(graph.inputs)}")
    want = source_shape(graph)
    perm = graph.input_perm[0] if graph.input_perm else None
    out: list[list[F32]] = []
    for where, a in _arrays(Path(path)):
        if a.dtype.kind != "f":
            raise EdgeAIError(f"{where}: holds {a.dtype} values; the model's input is float32")
        if a.shape == want:
            stack = a[None]
        elif a.shape[1:] == want:
            stack = a
        elif want[0] == 1 and a.shape[1:] == want[1:]:
            stack = a[:, None]
        else:
            raise EdgeAIError(
                f"{where}: shape {a.shape} does not match the model's input {want} (one sample, or a stack of them)"
            )
        for s in stack.astype(np.float32):
            x = s.reshape(want)
            out.append([x.transpose(perm) if perm is not None else x])
    if not out:
        raise EdgeAIError(f"{path}: holds no samples")
    return out
