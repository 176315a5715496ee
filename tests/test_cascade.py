"""The cascade (board first, laptop when unsure), edgeai distill, edgeai run --fallback and edgeai
triage, end to end on the simulated board."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeai.cascade import BoardClassifier, Cascade, calibrate_threshold, cascade_outcome
from edgeai.compiler import compile_onnx
from edgeai.device import Device
from edgeai.distill import int8_probs
from edgeai.evaluate import quantize_input
from edgeai.teachers import OnnxTeacher

from .conftest import SHARED

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "models" / "digits"
SMS = SHARED / "data" / "sms-spam-collection" / "SMSSpamCollection.tsv"
LABELS = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def digits() -> tuple[bytes, np.ndarray, np.ndarray]:
    compiled, _ = compile_onnx(DIGITS / "digits_small.onnx", DIGITS / "calib.npy")
    return compiled.data, np.load(DIGITS / "test_x.npy"), np.load(DIGITS / "test_y.npy")


def test_calibrated_threshold_meets_its_target(digits: tuple[bytes, np.ndarray, np.ndarray]) -> None:
    data, x, y = digits
    half = len(x) // 2
    board = int8_probs(data, x, "cnn")
    board = np.exp(board - board.max(1, keepdims=True))
    board /= board.sum(1, keepdims=True)  # digits_small ends in logits: softmax, as BoardClassifier does
    teacher = OnnxTeacher(DIGITS / "digits_large.onnx", LABELS).predict_proba(x)
    share = calibrate_threshold(board[:half], teacher[:half], y[:half], target_board_share=0.9)
    assert share.met and share.board_share >= 0.9
    assert cascade_outcome(board[:half], teacher[:half], y[:half], share.threshold)[1] == share.board_share
    teacher_acc = float((teacher[:half].argmax(1) == y[:half]).mean())
    acc = calibrate_threshold(board[:half], teacher[:half], y[:half], target_accuracy=teacher_acc)
    assert acc.met and acc.accuracy >= teacher_acc and acc.board_share > 0.5
    lower = calibrate_threshold(board[:half], teacher[:half], None, target_accuracy=0.98)  # no labels: agreement
    assert lower.threshold <= acc.threshold


def test_cascade_on_the_board(tmp_path: Path, digits: tuple[bytes, np.ndarray, np.ndarray]) -> None:
    """digits_small on the simulated board, digits_large on the laptop: every answer says which
    side gave it; the laptop answers exactly the unsure ones; with no board, the laptop all."""
    data, x, y = digits
    compiled, _ = compile_onnx(DIGITS / "digits_small.onnx", DIGITS / "calib.npy")
    t_in = compiled.blob.tensors[compiled.blob.inputs[0]]
    q = [quantize_input(x[i : i + 1].transpose(0, 2, 3, 1), t_in) for i in range(len(x))]
    teacher = OnnxTeacher(DIGITS / "digits_large.onnx", LABELS)
    with Device.open(board="sim", flash=tmp_path / "flash.bin") as dev:
        board = BoardClassifier(dev, data, LABELS)
        probs = board.predict_proba(q)
        cascade = Cascade(board, teacher, threshold=0.95)
        answers = cascade.classify_many(q, laptop_items=list(x))
    unsure = probs.max(1) < 0.95
    assert [a.side == "laptop" for a in answers] == list(unsure)
    assert all(a.board_label == LABELS[int(p.argmax())] for a, p in zip(answers, probs, strict=True))
    acc = np.mean([a.label == LABELS[t] for a, t in zip(answers, y, strict=True)])
    assert acc >= (probs.argmax(1) == y).mean() and 0 < unsure.sum() < len(x)
    alone = Cascade(None, teacher).classify_many(list(x[:20]))
    assert all(a.side == "laptop" and a.board_label is None for a in alone)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "edgeai", *args], capture_output=True, text=True, env=full)


@pytest.fixture(scope="module")
def text_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`edgeai distill` on 900 SMS messages with a MiniLM teacher fitted on their labels."""
    if not SMS.exists():
        pytest.skip(f"{SMS} is absent: the data set is read from ../shared beside the project")
    d = tmp_path_factory.mktemp("student")
    lines = SMS.read_text(encoding="utf-8").splitlines()
    rng = np.random.default_rng(1)
    (d / "sms.tsv").write_text("\n".join(lines[i] for i in rng.permutation(len(lines))[:900]) + "\n")
    proc = _cli("distill", str(d / "sms.tsv"), "--teacher", "minilm", "--family", "text", "-o", str(d / "sms"),
                "--board", "esp32c3", "--epochs", "20")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "cascade threshold" in proc.stdout and (d / "sms.json").exists() and (d / "sms.teacher.npz").exists()
    return d / "sms.eai"


def test_run_with_fallback(tmp_path: Path, text_student: Path) -> None:
    env = {"EDGEAI_SIM_FLASH": str(tmp_path / "flash.bin")}
    texts = ["WINNER!! You have won a £1000 prize. Call 09061701461 now to claim", "ok see you at 7 then, love"]
    args = ["run", str(text_student), "--board", "sim", "--text", texts[0], "--text", texts[1]]
    proc = _cli(*args, "--fallback", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()[:2]]
    assert [r[0] for r in rows] == ["spam", "ham"] and all(r[2].split()[0] in ("board", "laptop") for r in rows)
    proc = _cli(*args, "--fallback", "--threshold", "1.01", env=env)  # nothing is sure enough: all on the laptop
    assert proc.returncode == 0 and "0 on the board" in proc.stdout, proc.stdout + proc.stderr


def test_remote_endpoint_refused(tmp_path: Path, text_student: Path) -> None:
    """A laptop model that is not on this machine is refused before anything is sent."""
    env = {"EDGEAI_SIM_FLASH": str(tmp_path / "flash.bin")}
    for url in ("http://10.1.2.3:8080/v1#r1", "http://example.com/v1#r1"):
        proc = _cli("run", str(text_student), "--board", "sim", "--text", "hello", "--fallback", url, env=env)
        assert proc.returncode == 1 and "--allow-remote" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_triage_generated_mailbox(tmp_path: Path, text_student: Path) -> None:
    """A few hundred generated mails with malformed ones: every mail gets a row, with a label and
    a side, or the reason it could not be read; none is lost."""
    from .mailgen import make_mbox

    box = tmp_path / "mail.mbox"
    made = make_mbox(box, n=300, seed=3)
    out = tmp_path / "triage.csv"
    proc = _cli("triage", str(box), "--model", str(text_student), "--board", "sim", "-o", str(out),
                env={"EDGEAI_SIM_FLASH": str(tmp_path / "flash.bin")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "mails per minute" in proc.stdout and "spam" in proc.stdout and "ham" in proc.stdout
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == made["n"] and len({r["key"] for r in rows}) == made["n"]
    for r in rows:
        assert (r["label"] in ("spam", "ham") and r["side"] in ("board", "laptop")) or r["error"], r
    malformed = made["malformed"]
    by_key = {r["key"]: r for r in rows}
    benign = {"no_content_type", "from_escaped", "from_unescaped"}  # valid mail: read as is, nothing to note
    assert all(by_key[k]["problems"] or by_key[k]["error"] for k, kind in malformed.items() if kind not in benign)
    assert sum(bool(r["error"]) for r in rows) == made["unreadable"]
    truth = made["truth"]
    right = np.mean([by_key[k]["label"] == t for k, t in truth.items() if by_key[k]["label"]])
    assert right > 0.8  # generated mails, a student trained on SMS: a sanity floor, not a benchmark


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_distill_feature_and_image_students(tmp_path: Path, family: str) -> None:
    """The MLP and CNN students learn from digits_large's soft outputs, compile to int8, and the
    int8 model (what the board runs) keeps the float student's answers."""
    from edgeai.distill import DistillConfig, compile_student, distill

    x, y = np.load(DIGITS / "test_x.npy"), np.load(DIGITS / "test_y.npy")
    teacher = OnnxTeacher(DIGITS / "digits_large.onnx", LABELS)
    probs = teacher.predict_proba(x)
    inputs = x.reshape(len(x), -1) if family == "mlp" else x
    cfg = DistillConfig(family=family, epochs=60, hidden=64, lr=1e-2, seed=0)
    student = distill(inputs[:400], probs[:400], LABELS, cfg, hard_labels=y[:400])
    again = distill(inputs[:400], probs[:400], LABELS, cfg, hard_labels=y[:400])
    assert student.onnx == again.onnx  # seeded: the same student twice
    held = inputs[400:]
    float_pred = student.predict_proba(held).argmax(1)
    assert (float_pred == y[400:]).mean() > 0.85
    compiled = compile_student(student, inputs[:200], tmp_path)
    int8_pred = int8_probs(compiled.data, held, family).argmax(1)
    assert (int8_pred == float_pred).mean() > 0.95


def test_run_with_fallback_on_image_inputs(tmp_path: Path, digits: tuple[bytes, np.ndarray, np.ndarray]) -> None:
    """`edgeai run --fallback model.onnx` on float NCHW samples: the board gets them quantized
    to its NHWC int8 input, the laptop model the floats as they are."""
    data, _, y = digits
    model = tmp_path / "ds.eai"
    model.write_bytes(data)
    labels = ",".join(LABELS)
    proc = _cli("run", str(model), "--board", "sim", "--input", str(DIGITS / "test_x.npy"), "--fallback",
                str(DIGITS / "digits_large.onnx"), "--labels", labels, "--threshold", "0.9",
                env={"EDGEAI_SIM_FLASH": str(tmp_path / "flash.bin")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()[: len(y)]]
    assert np.mean([int(r[0]) == t for r, t in zip(rows, y, strict=True)]) > 0.99
    assert {r[2].split()[0] for r in rows} == {"board", "laptop"}
    proc = _cli("run", str(model), "--board", "sim", "--input", str(DIGITS / "test_x.npy"), "--fallback",
                str(DIGITS / "digits_large.onnx"), env={"EDGEAI_SIM_FLASH": str(tmp_path / "flash.bin")})  # fmt: skip
    assert proc.returncode == 0 and "%" in proc.stdout.splitlines()[-1], proc.stderr  # labels from the teacher
