"""The cascade on real labelled text: the SMS Spam Collection (../shared/data, read in place).

    python benchmarks/sms_cascade.py [--board sim] [--json FILE]

1. De-duplicate the messages, split them seeded: train 60 % / validation 20 % / test 20 %.
2. Teacher (the laptop side): all-MiniLM-L6-v2 sentence embeddings (onnxruntime) with a
   logistic-regression head trained on the train split.
3. Student (the board side): a hashed n-gram embedding bag + MLP distilled from the teacher's soft
   outputs on the train split (hard labels mixed in), compiled to int8 and uploaded to the board,
   which computes the text features itself from the raw UTF-8.
4. The threshold: calibrated on the validation split for the teacher's validation accuracy minus
   0.25 points (or at least 80 % on the board, whichever keeps more on the board while within the
   accuracy target).
5. On the test split: teacher accuracy, the int8 student's accuracy on the board, the cascade's
   accuracy, the share answered on the board, and mails per minute through the whole cascade.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "sms-spam-collection" / "SMSSpamCollection.tsv"
LABELS = ["ham", "spam"]


def load_sms(path: Path = DATA) -> tuple[list[str], np.ndarray]:
    """Messages and labels (0 ham, 1 spam), de-duplicated, in file order. Split on the first tab:
    the file has unbalanced quotes, so no CSV quoting."""
    seen: set[str] = set()
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        label, _, text = line.partition("\t")
        if label not in LABELS or text in seen:
            continue
        seen.add(text)
        texts.append(text)
        labels.append(LABELS.index(label))
    return texts, np.asarray(labels, dtype=np.int64)


@dataclass
class Result:
    messages: dict[str, int]
    teacher_accuracy: float
    student_float_accuracy: float
    student_board_accuracy: float
    cascade_accuracy: float
    board_share: float
    threshold: float
    mails_per_minute: float
    seconds: dict[str, float]
    blob_bytes: int
    arena_bytes: int
    board: str


def run(board: str = "sim", seed: int = 0, log=print, flash: Path | None = None) -> Result:  # type: ignore[no-untyped-def]
    from edgeai.cascade import BoardClassifier, Cascade, calibrate_threshold, cascade_outcome
    from edgeai.device import Device
    from edgeai.distill import DistillConfig, compile_student, distill
    from edgeai.teachers import MiniLMEmbedder, TextTeacher

    t_all = time.perf_counter()
    texts, y = load_sms()
    order = np.random.default_rng(seed).permutation(len(texts))
    n_tr, n_va = int(0.6 * len(texts)), int(0.2 * len(texts))
    split = {"train": order[:n_tr], "validation": order[n_tr : n_tr + n_va], "test": order[n_tr + n_va :]}
    part = {k: ([texts[i] for i in v], y[v]) for k, v in split.items()}
    log(f"{len(texts)} unique messages: " + ", ".join(f"{k} {len(v)}" for k, v in split.items()))
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    teacher = TextTeacher.fit(part["train"][0], [LABELS[i] for i in part["train"][1]], embedder=MiniLMEmbedder(),
                              classes=LABELS, seed=seed)  # fmt: skip
    soft_train = teacher.predict_proba(part["train"][0])
    seconds["teacher training"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cfg = DistillConfig(family="text", buckets=4096, embed_dim=32, hidden=32, epochs=40, alpha=0.5, temperature=1.0,
                        seed=seed)  # fmt: skip
    student = distill(part["train"][0], soft_train, LABELS, cfg, hard_labels=part["train"][1])
    student_float = float((student.predict_proba(part["test"][0]).argmax(1) == part["test"][1]).mean())
    with tempfile.TemporaryDirectory() as tmp:
        compiled = compile_student(student, part["train"][0][:1000], tmp)
        seconds["distillation and int8 compile"] = time.perf_counter() - t0
        flash_file = flash or Path(tmp) / "flash.bin"
        with Device.open(board=board, flash=flash_file) as dev:
            on_board = BoardClassifier(dev, compiled.data, LABELS)
            t0 = time.perf_counter()
            val_board = on_board.predict_proba(part["validation"][0])
            val_teacher = teacher.predict_proba(part["validation"][0])
            seconds["validation (board + laptop)"] = time.perf_counter() - t0
            teacher_val_acc, _ = cascade_outcome(val_teacher, val_teacher, part["validation"][1], 2.0)
            choice = calibrate_threshold(val_board, val_teacher, part["validation"][1],
                                         target_accuracy=teacher_val_acc - 0.0025)  # fmt: skip
            log(f"threshold {choice.threshold:.4f}: validation accuracy {100 * choice.accuracy:.2f} % "
                f"(teacher {100 * teacher_val_acc:.2f} %), {100 * choice.board_share:.1f} % on the board")  # fmt: skip
            cascade = Cascade(on_board, teacher, choice.threshold)
            test_x, test_y = part["test"]
            t0 = time.perf_counter()
            answers = cascade.classify_many(test_x)
            elapsed = time.perf_counter() - t0
            seconds["test cascade"] = elapsed
            board_only = on_board.predict_proba(test_x)
        teacher_test = teacher.predict_proba(test_x)
    pred = np.array([LABELS.index(a.label) for a in answers])
    seconds["total"] = time.perf_counter() - t_all
    return Result(
        messages={k: len(v) for k, v in split.items()},
        teacher_accuracy=float((teacher_test.argmax(1) == test_y).mean()),
        student_float_accuracy=student_float,
        student_board_accuracy=float((board_only.argmax(1) == test_y).mean()),
        cascade_accuracy=float((pred == test_y).mean()),
        board_share=float(np.mean([a.side == "board" for a in answers])),
        threshold=choice.threshold,
        mails_per_minute=60.0 * len(test_x) / elapsed,
        seconds=seconds,
        blob_bytes=compiled.blob_bytes,
        arena_bytes=compiled.arena_bytes,
        board=board,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default="sim", help="sim or qemu-rv32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the results as JSON")
    args = ap.parse_args()
    if not DATA.exists():
        print(f"{DATA} is absent: the data set is read from ../shared beside the project", file=sys.stderr)
        return 1
    r = run(args.board, args.seed, log=lambda s: print(s, file=sys.stderr))
    print(f"SMS Spam Collection, test split of {r.messages['test']} messages; student int8 on the {r.board} board "
          f"(blob {r.blob_bytes:,} bytes, arena {r.arena_bytes:,})")  # fmt: skip
    print()
    print(f"| {'':<34} | {'value':>10} |")
    print(f"|{'-' * 36}|{'-' * 12}|")
    for name, value in (
        ("teacher (MiniLM + head, laptop)", f"{100 * r.teacher_accuracy:.2f} %"),
        ("student, float", f"{100 * r.student_float_accuracy:.2f} %"),
        ("student, int8 on the board", f"{100 * r.student_board_accuracy:.2f} %"),
        ("cascade", f"{100 * r.cascade_accuracy:.2f} %"),
        ("answered on the board", f"{100 * r.board_share:.1f} %"),
        ("threshold (board confidence)", f"{r.threshold:.4f}"),
        ("mails per minute (cascade)", f"{r.mails_per_minute:,.0f}"),
    ):
        print(f"| {name:<34} | {value:>10} |")
    print()
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(r), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
