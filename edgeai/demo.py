"""``edgeai demo``: the main job end to end on the simulated board with the project's own
example model: compile (calibrate and quantize), flash, run the held-out samples on the board,
and report accuracy, latency and per-layer timing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .compiler import compile_onnx
from .device import Device
from .errors import EdgeAIError
from .evaluate import quantize_input
from .float_ref import FloatInterpreter
from .samples import load_samples

DIGITS = Path(__file__).resolve().parent.parent / "models" / "digits"


@dataclass
class DemoResult:
    board: str
    samples: int
    blob_bytes: int
    arena_bytes: int
    uploaded: bool
    float_accuracy: float
    board_accuracy: float
    mean_cycles: float
    clock_hz: int
    layers: list[tuple[str, int]]  # (operator, cycles)
    laptop_accuracy: float | None = None  # the larger example model, on the laptop
    cascade_accuracy: float | None = None  # board first, laptop below the threshold
    board_share: float | None = None
    threshold: float | None = None


def run_demo(
    board: str = "sim",
    port: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    fallback: bool = True,
    threshold: float = 0.9,
) -> DemoResult:
    model, calib = DIGITS / "digits_small.onnx", DIGITS / "calib.npy"
    if not model.exists():
        raise EdgeAIError(f"{model} is missing: edgeai demo runs from the source tree")

    def step(label: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, total: progress(label, done, total))

    compiled, graph = compile_onnx(model, calib, progress=step("calibrating"))
    samples = load_samples(DIGITS / "test_x.npy", graph)
    labels = np.load(DIGITS / "test_y.npy")
    fi = FloatInterpreter(graph)
    blob = compiled.blob
    t_in = blob.tensors[blob.inputs[0]]
    with Device.open(board=board, port=port) as dev:
        uploaded = not dev.has_model(compiled.data)
        if uploaded:
            dev.upload(compiled.data, progress=step("flashing"))
        right_float = right_board = 0
        cycles: list[int] = []
        report = step("running on the board")
        for k, ((x,), y) in enumerate(zip(samples, labels, strict=True)):
            (out,), c = dev.run(blob, [quantize_input(x, t_in)])
            cycles.append(c)
            right_board += int(np.argmax(out) == y)
            right_float += int(np.argmax(fi.run([x])[0]) == y)
            if report is not None:
                report(k + 1, len(samples))
        layer_cycles = dev.time_layers()
        clock = dev.board.clock_hz if dev.board else 0
        name = dev.info.board
        extra: dict[str, float] = {}
        if fallback:
            extra = _fallback(dev, compiled.data, [quantize_input(x, t_in) for (x,) in samples], labels, threshold,
                              step("cascade"))  # fmt: skip
    return DemoResult(
        board=name,
        samples=len(samples),
        blob_bytes=compiled.blob_bytes,
        arena_bytes=compiled.arena_bytes,
        uploaded=uploaded,
        float_accuracy=right_float / len(samples),
        board_accuracy=right_board / len(samples),
        mean_cycles=float(np.mean(cycles)),
        clock_hz=clock,
        layers=[(op.opname, c) for op, c in zip(blob.ops, layer_cycles, strict=True)],
        **extra,  # type: ignore[arg-type]
    )


def _fallback(dev: Device, data: bytes, board_inputs: list[npt.NDArray[np.int8]], labels: npt.NDArray[np.int64],
              threshold: float, progress: Callable[[int, int], None] | None) -> dict[str, float]:  # fmt: skip
    """The cascade: the small model on the board, the larger example model on the laptop for the
    digits the board is less than ``threshold`` sure of."""
    from .cascade import BoardClassifier, Cascade
    from .teachers import OnnxTeacher

    names = [str(i) for i in range(10)]
    laptop_x = np.load(DIGITS / "test_x.npy")
    teacher = OnnxTeacher(DIGITS / "digits_large.onnx", names)
    cascade = Cascade(BoardClassifier(dev, data, names), teacher, threshold)
    answers = cascade.classify_many(board_inputs, progress=progress, laptop_items=list(laptop_x))
    truth = [str(int(t)) for t in labels]
    return {
        "laptop_accuracy": float((teacher.predict_proba(laptop_x).argmax(1) == labels).mean()),
        "cascade_accuracy": float(np.mean([a.label == t for a, t in zip(answers, truth, strict=True)])),
        "board_share": float(np.mean([a.side == "board" for a in answers])),
        "threshold": threshold,
    }
