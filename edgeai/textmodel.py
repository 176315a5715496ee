"""Text classifiers on the board: an EMBEDDING_BAG of hashed n-grams in front of a float ONNX head.

The model takes a text's feature ids (``edgeai.text``: hashed unigrams and bigrams, -1 padded),
averages the int8 embedding rows they name (the EMBEDDING_BAG op, docs/model-format.md) and runs
the head on that mean. On a board the ids never cross the wire: ``Device.write_text`` sends the
raw text and the firmware hashes it, with the buckets, n-grams and length the model records.

    compiled = compile_text_classifier(table, "head.onnx", calib_texts)
    ids = text_features(compiled, ["great film", "dull"])       # [2, max_ids] int32
    probs = edgeai.ref.run(compiled.data, [ids[0]])

Calibration sees what the board computes: the head's activation ranges are observed on the mean
bags of the de-quantized int8 table (not the float one), so the head's input grid covers the
values the EMBEDDING_BAG op actually produces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .blob import INT32, KIND_ARENA, MAX_BAG_IDS, MAX_BAG_ROWS, OPCODES, Blob, named_params, read_blob
from .compiler import Compiled, compile_graph
from .errors import EdgeAIError
from .ir import QGraph, QOp, QTensor
from .text import MAX_BUCKETS, text_ids_batch

F32 = npt.NDArray[np.float32]
I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]
IDS_NAME = "text_ids"
TABLE_NAME = "embedding"


@dataclass(frozen=True)
class TextInput:
    """A model's text input: the ids tensor an EMBEDDING_BAG op reads, and how to fill it."""

    tensor: int  # blob tensor index of the ids [1, max_ids] (int32)
    op: int  # index of the EMBEDDING_BAG op
    buckets: int  # rows of its table: every id is in [0, buckets)
    ngrams: int  # 1 or 2
    max_ids: int


def quantize_table(table: npt.ArrayLike) -> tuple[I8, float]:
    """Per-tensor symmetric int8 of an embedding table: ``scale = max|table| / 127`` (1.0 for an
    all-zero table), values ``clip(round(table / scale), -127, 127)``."""
    t = np.asarray(table, dtype=np.float32)
    peak = float(np.max(np.abs(t))) if t.size else 0.0
    scale = float(np.float32(peak / 127.0)) if peak > 0 else 1.0
    q = np.clip(np.round(t.astype(np.float64) / scale), -127, 127).astype(np.int8)
    return q, scale


def mean_bags(table: npt.ArrayLike, ids: npt.ArrayLike) -> F32:
    """The float mean of the table rows each row of ``ids`` names ([N, L] -> [N, D]), skipping
    -1 and any id outside the table as the EMBEDDING_BAG op does; zeros for a text without one."""
    t = np.asarray(table, dtype=np.float64)
    rows = np.atleast_2d(np.asarray(ids, dtype=np.int64))
    valid = (rows >= 0) & (rows < len(t))
    summed = (t[np.where(valid, rows, 0)] * valid[..., None]).sum(axis=1)
    return (summed / np.maximum(valid.sum(axis=1, keepdims=True), 1)).astype(np.float32)


def _check_args(table: F32, ngrams: int, max_ids: int) -> None:
    if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] < 1:
        raise EdgeAIError(f"the embedding table must be a 2-D array [buckets, dim], not {list(table.shape)}")
    if not np.all(np.isfinite(table)):
        raise EdgeAIError("the embedding table holds NaN or infinite values")
    if table.shape[0] > min(MAX_BUCKETS, MAX_BAG_ROWS):
        raise EdgeAIError(f"the embedding table has {table.shape[0]} rows; at most {MAX_BAG_ROWS} are supported")
    if ngrams not in (1, 2):
        raise EdgeAIError(f"ngrams must be 1 or 2, not {ngrams}")
    if not 1 <= max_ids <= MAX_BAG_IDS:
        raise EdgeAIError(f"max_ids must be 1 .. {MAX_BAG_IDS}, not {max_ids}")


def _head_input(graph: QGraph, dim: int) -> int:
    if len(graph.inputs) != 1:
        raise EdgeAIError(f"{graph.name}: the head must take one input (the mean bag), not {len(graph.inputs)}")
    t = graph.tensors[graph.inputs[0]]
    if int(np.prod(t.shape)) != dim or (t.shape and t.shape[-1] != dim):
        raise EdgeAIError(f"{graph.name}: the head's input {t.shape} is not one row of the table's {dim} values")
    return graph.inputs[0]


def with_embedding_bag(head: QGraph, table: I8, table_scale: float, ngrams: int, max_ids: int) -> QGraph:
    """Put an EMBEDDING_BAG op in front of a quantized head: its output is the head's input
    tensor (so its quantization, and no requantizing op), and the model's only input becomes
    the ids [1, max_ids] (int32)."""
    rows, dim = table.shape
    h_in = _head_input(head, dim)
    tensors = list(head.tensors)
    hq = tensors[h_in]
    ids = len(tensors)
    tensors.append(QTensor(IDS_NAME, (1, max_ids), "int32"))
    tab = len(tensors)
    tensors.append(QTensor(TABLE_NAME, (rows, dim), "int8", np.array([table_scale], np.float32),
                           np.zeros(1, np.int64), table))  # fmt: skip
    front: list[QOp] = []
    bag_out = h_in
    if tuple(hq.shape) != (1, dim):  # e.g. a head taking [dim] or [1, 1, dim]: the bag is [1, dim]
        bag_out = len(tensors)
        tensors.append(QTensor(f"{hq.name}/bag", (1, dim), "int8", hq.scale.copy(), hq.zero_point.copy()))
        front.append(QOp("RESHAPE", [bag_out], [h_in], index=-1))
    front.insert(0, QOp("EMBEDDING_BAG", [ids, tab], [bag_out], {"ngrams": ngrams}, index=-1))
    return QGraph(head.name, tensors, front + list(head.ops), [ids], list(head.outputs), [None],
                  list(head.output_perm))  # fmt: skip


def compile_text_classifier(
    table: npt.ArrayLike,
    head_onnx: str | Path,
    calib_texts: Sequence[str | bytes],
    ngrams: int = 2,
    max_ids: int = 512,
    method: str = "minmax",
    progress: Callable[[int, int], None] | None = None,
) -> Compiled:
    """Compile a text classifier: the float embedding table [buckets, dim] (quantized per tensor,
    symmetric), then the float ONNX head that takes the mean bag [1, dim] (calibrated with
    ``method`` on the bags of ``calib_texts``), as one ``.eai`` model whose input is the text's
    feature ids [1, max_ids] (int32)."""
    from .frontends.onnx import load_onnx
    from .quantize import calibrate, quantize_graph

    t = np.asarray(table, dtype=np.float32)
    _check_args(t, ngrams, max_ids)
    texts = list(calib_texts)
    if not texts:
        raise EdgeAIError("the calibration set is empty: give at least one text")
    q, scale = quantize_table(t)
    graph = load_onnx(head_onnx)
    h_in = _head_input(graph, t.shape[1])
    shape = graph.tensors[h_in].shape
    ids = text_ids_batch(texts, t.shape[0], ngrams, max_ids)
    bags = mean_bags(q.astype(np.float32) * np.float32(scale), ids)
    params = calibrate(graph, [[b.reshape(shape)] for b in bags], method, progress)
    return compile_graph(with_embedding_bag(quantize_graph(graph, params), q, scale, ngrams, max_ids))


def _blob_of(model: Compiled | Blob | bytes) -> Blob:
    if isinstance(model, Compiled):
        return model.blob
    if isinstance(model, Blob):
        return model
    return read_blob(bytes(model))


def text_input(model: Compiled | Blob | bytes) -> TextInput:
    """The text input of a model: its first input that an EMBEDDING_BAG op reads as ids."""
    blob = _blob_of(model)
    for idx in blob.inputs:
        t = blob.tensors[idx]
        if t.dtype != INT32 or t.kind != KIND_ARENA or len(t.shape) != 2:
            continue
        for k, op in enumerate(blob.ops):
            if op.opcode == OPCODES["EMBEDDING_BAG"] and op.inputs[0] == idx:
                rows = blob.tensors[op.inputs[1]].shape[0]
                return TextInput(idx, k, rows, named_params(op)["ngrams"], t.shape[1])
    raise EdgeAIError("the model takes no text: none of its inputs is the ids of an EMBEDDING_BAG op")


def text_features(model: Compiled | Blob | bytes, texts: Sequence[str | bytes]) -> I32:
    """The feature ids of each text, [N, max_ids] int32, with the model's own buckets, n-grams and
    length: the input ``edgeai.ref`` and ``NativeModel`` take (one row per run)."""
    ti = text_input(model)
    return text_ids_batch(texts, ti.buckets, ti.ngrams, ti.max_ids)


__all__ = [
    "TextInput",
    "compile_text_classifier",
    "mean_bags",
    "quantize_table",
    "text_features",
    "text_input",
    "with_embedding_bag",
]
