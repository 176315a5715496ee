"""The cascade: the board answers first; when its confidence is below a threshold (or the model does
not fit the board), the larger model on the person's own laptop answers. Every answer records which
side gave it. Nothing leaves the person's machines: the laptop side is onnxruntime, or an
OpenAI-compatible server on this machine (remote endpoints are refused unless allowed).

    cascade = edgeai.Cascade(board=BoardClassifier(device, blob, labels), teacher=teacher, threshold=0.9)
    answers = cascade.classify_many(texts)

The threshold can be calibrated on a validation set for a target accuracy or a target share of
answers given on the board (``calibrate_threshold``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .blob import INT32, read_blob
from .errors import EdgeAIError
from .evaluate import quantize_input
from .teachers import softmax

F32 = npt.NDArray[np.float32]
BOARD, LAPTOP = "board", "laptop"


class Classifier(Protocol):
    labels: list[str]

    def predict_proba(self, inputs: Sequence[Any]) -> F32: ...


@dataclass(frozen=True)
class Answer:
    label: str
    confidence: float
    side: str  # "board" or "laptop"
    board_label: str | None  # what the board said (None when it did not answer)
    board_confidence: float | None


class BoardClassifier:
    """A classifier running on a board: uploads the model if the board holds another, then per
    input writes it (raw text for text models: the board computes the features itself; int8 or
    float tensors otherwise), runs it and reads the output back as probabilities."""

    def __init__(self, device: Any, data: bytes, labels: Sequence[str]) -> None:
        self.device = device
        self.data = data
        self.blob = read_blob(data)
        self.labels = list(labels)
        if len(self.blob.inputs) != 1 or len(self.blob.outputs) != 1:
            raise EdgeAIError("the cascade takes a model with one input and one output")
        out = self.blob.tensors[self.blob.outputs[0]]
        if int(np.prod(out.shape)) != len(self.labels):
            n = int(np.prod(out.shape))
            raise EdgeAIError(f"the model has {n} outputs but {len(self.labels)} labels were given")
        self.text = self.blob.tensors[self.blob.inputs[0]].dtype == INT32
        self.is_softmax = self.blob.ops[-1].opname == "SOFTMAX"
        if not device.has_model(data):
            device.upload(data)
        self.cycles = 0

    def predict_one(self, item: Any) -> F32:
        dev, blob = self.device, self.blob
        idx = blob.inputs[0]
        if self.text:
            dev.write_text(idx, item)
        else:
            t = blob.tensors[idx]
            x = np.asarray(item)
            if x.dtype != np.int8:
                x = quantize_input(x, t)
            dev.write_tensor(idx, np.ascontiguousarray(x).tobytes())
        self.cycles += dev.invoke(0, len(blob.ops))
        out = blob.tensors[blob.outputs[0]]
        q = np.frombuffer(dev.read_tensor(blob.outputs[0], out.nbytes), dtype=np.int8).astype(np.float32)
        y = (q - out.zero_point) * out.scale
        return y if self.is_softmax else softmax(y)

    def predict_proba(self, inputs: Sequence[Any]) -> F32:
        return np.stack([self.predict_one(x) for x in inputs]).astype(np.float32)


class Cascade:
    """Board first, laptop below ``threshold`` (the board's top probability). ``board`` None means
    the model does not fit (or there is no board): the laptop answers everything."""

    def __init__(self, board: Classifier | None, teacher: Classifier | None, threshold: float = 0.9) -> None:
        if board is None and teacher is None:
            raise EdgeAIError("the cascade needs a board model, a laptop model, or both")
        if not threshold >= 0.0:
            raise EdgeAIError(f"the threshold is a probability from 0 (all on the board) up, not {threshold}")
        self.board = board
        self.teacher = teacher
        self.threshold = threshold
        labels = (board or teacher).labels  # type: ignore[union-attr]
        if board is not None and teacher is not None and list(board.labels) != list(teacher.labels):
            raise EdgeAIError(f"the board's labels {board.labels} and the laptop's {teacher.labels} differ")
        self.labels = list(labels)
        self.seconds = {BOARD: 0.0, LAPTOP: 0.0}

    def classify_many(self, items: Sequence[Any], progress: Callable[[int, int], None] | None = None,
                      batch: int = 64, laptop_items: Sequence[Any] | None = None) -> list[Answer]:  # fmt: skip
        """Answer every item: the board first, one by one; the unsure ones then go to the laptop in
        batches. ``laptop_items`` gives the laptop model the same inputs in its own form, when it
        differs from the board's (e.g. float NCHW images vs the board's int8 NHWC)."""
        if laptop_items is not None and len(laptop_items) != len(items):
            raise EdgeAIError(f"{len(items)} inputs for the board but {len(laptop_items)} for the laptop")
        laptop = items if laptop_items is None else laptop_items
        answers: list[Answer | None] = [None] * len(items)
        unsure: list[int] = []
        board_said: dict[int, tuple[str, float]] = {}
        done = 0
        for k, item in enumerate(items):
            if self.board is None:
                unsure.append(k)
                continue
            t0 = time.perf_counter()
            p = self.board.predict_proba([item])[0]
            self.seconds[BOARD] += time.perf_counter() - t0
            i = int(p.argmax())
            conf = float(p[i])
            board_said[k] = (self.labels[i], conf)
            if conf >= self.threshold or self.teacher is None:
                answers[k] = Answer(self.labels[i], conf, BOARD, self.labels[i], conf)
                done += 1
                if progress:
                    progress(done, len(items))
            else:
                unsure.append(k)
        for start in range(0, len(unsure), batch):
            chunk = unsure[start : start + batch]
            assert self.teacher is not None
            t0 = time.perf_counter()
            probs = self.teacher.predict_proba([laptop[k] for k in chunk])
            self.seconds[LAPTOP] += time.perf_counter() - t0
            for k, p in zip(chunk, probs, strict=True):
                i = int(np.argmax(p))
                said = board_said.get(k)
                answers[k] = Answer(self.labels[i], float(p[i]), LAPTOP, said[0] if said else None,
                                    said[1] if said else None)  # fmt: skip
                done += 1
                if progress:
                    progress(done, len(items))
        return [a for a in answers if a is not None]

    def classify(self, item: Any) -> Answer:
        return self.classify_many([item])[0]


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    accuracy: float  # of the cascade on the validation set (agreement with the laptop without labels)
    board_share: float
    met: bool  # whether the target could be met


def cascade_outcome(board_probs: F32, teacher_probs: F32, truth: npt.NDArray[np.int64],
                    threshold: float) -> tuple[float, float]:  # fmt: skip
    """(accuracy, share answered on the board) of the cascade at ``threshold``."""
    on_board = board_probs.max(axis=1) >= threshold
    pred = np.where(on_board, board_probs.argmax(axis=1), teacher_probs.argmax(axis=1))
    return float((pred == truth).mean()), float(on_board.mean())


def calibrate_threshold(board_probs: F32, teacher_probs: F32, truth: npt.NDArray[np.int64] | None = None,
                        target_accuracy: float | None = None,
                        target_board_share: float | None = None) -> ThresholdChoice:  # fmt: skip
    """The threshold for a target: the lowest threshold (most answers on the board) whose cascade
    accuracy reaches ``target_accuracy``, or the highest threshold (best accuracy) that still keeps
    ``target_board_share`` of the answers on the board. Without labels (``truth`` None), accuracy
    is agreement with the laptop model."""
    if (target_accuracy is None) == (target_board_share is None):
        raise EdgeAIError("give one target: an accuracy or a share of answers on the board")
    if len(board_probs) == 0:
        raise EdgeAIError("the validation set is empty")
    y = teacher_probs.argmax(axis=1) if truth is None else np.asarray(truth)
    conf = board_probs.max(axis=1)
    candidates = sorted({0.0, *[float(c) for c in conf], math.nextafter(1.0, 2.0)})
    rows = [(t, *cascade_outcome(board_probs, teacher_probs, y, t)) for t in candidates]
    if target_accuracy is not None:
        ok = [r for r in rows if r[1] >= target_accuracy]
        best = min(ok, key=lambda r: r[0]) if ok else max(rows, key=lambda r: (r[1], -r[0]))
        return ThresholdChoice(best[0], best[1], best[2], bool(ok))
    assert target_board_share is not None
    ok = [r for r in rows if r[2] >= target_board_share]
    best = max(ok, key=lambda r: r[0]) if ok else min(rows, key=lambda r: r[0])
    return ThresholdChoice(best[0], best[1], best[2], bool(ok))


def board_and_laptop_inputs(path: str | Any, t: Any) -> tuple[list[npt.NDArray[np.int8]], list[F32]]:
    """From a float .npy of samples: the board's int8 inputs (quantized with the input tensor's
    scale and zero point, NCHW images turned to the blob's NHWC) and the laptop model's float
    inputs as they are."""
    from pathlib import Path

    p = Path(path)
    try:
        raw = np.load(p, allow_pickle=False) if p.suffix == ".npy" else None
    except (OSError, ValueError) as e:
        raise EdgeAIError(f"{p}: not a readable .npy file ({e})") from None
    if raw is None or raw.dtype.kind != "f":
        raise EdgeAIError(f"{p}: the laptop model needs the float inputs: give --input as a float .npy")
    shape = tuple(t.shape)
    x = raw.astype(np.float32)
    if x.ndim == len(shape) - 1 or x.shape == shape:
        x = x.reshape((1, *x.shape[-(len(shape) - 1) :]))
    nhwc = x
    if x.ndim == 4 and len(shape) == 4 and x.shape[1:] == (shape[3], shape[1], shape[2]) and shape[3] != shape[2]:
        nhwc = x.transpose(0, 2, 3, 1)
    if int(np.prod(nhwc.shape[1:])) != int(np.prod(shape[1:])):
        raise EdgeAIError(f"{p}: samples of shape {list(x.shape[1:])}, the model's input is {list(shape)}")
    board = [s.reshape(shape) for s in quantize_input(nhwc, t)]
    return board, [s for s in x]
