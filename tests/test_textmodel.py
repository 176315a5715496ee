"""Text classifiers: a float embedding table and a float ONNX head compile to one int8 model whose
input is the text's feature ids. edgeai.ref, the C runtime and the simulated board (which hashes
the raw text itself, WRITE_TEXT) agree bit for bit on every text, and the int8 model picks the
class the float pipeline picks."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgeai.blob import INT32, KIND_ARENA, read_blob  # noqa: E402
from edgeai.compiler import Compiled, compile_graph  # noqa: E402
from edgeai.device import Device  # noqa: E402
from edgeai.errors import EdgeAIError  # noqa: E402
from edgeai.float_ref import FloatInterpreter  # noqa: E402
from edgeai.frontends.onnx import load_onnx  # noqa: E402
from edgeai.ir import QGraph, QOp, QTensor  # noqa: E402
from edgeai.link import CMD_WRITE_TEXT, DeviceError  # noqa: E402
from edgeai.native import NativeModel  # noqa: E402
from edgeai.ref import Interpreter  # noqa: E402
from edgeai.text import MAX_TEXT_BYTES, text_ids  # noqa: E402
from edgeai.textmodel import (  # noqa: E402
    compile_text_classifier,
    mean_bags,
    quantize_table,
    text_features,
    text_input,
)

BUCKETS, DIM, HIDDEN, CLASSES, MAX_IDS = 997, 16, 24, 4, 64
WORDS = (
    "the a film movie great dull plot actor scene music bad good love hate slow fast story end "
    "café naïve über straße 日本語 映画 très bien 😀 🎬 Ünïcödé ÅNGSTRÖM crème brûlée señor"
).split()


def make_texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = [str(rng.choice(WORDS)) for _ in range(int(rng.integers(1, 30)))]
        words = [w.upper() if rng.random() < 0.2 else w for w in words]
        seps = [str(rng.choice([" ", ", ", "! ", "  ", "\t", "-", "...", "\n"])) for _ in words]
        out.append("".join(w + s for w, s in zip(words, seps, strict=True)))
    return out


def head_onnx(path: Path, seed: int = 11) -> Path:
    """Gemm(DIM -> HIDDEN) / Relu / Gemm(HIDDEN -> CLASSES) / Softmax on the input "bag" [1, DIM]."""
    rng = np.random.default_rng(seed)

    def init(name: str, arr: np.ndarray) -> object:
        return numpy_helper.from_array(arr.astype(np.float32), name)

    inits = [
        init("w1", rng.standard_normal((HIDDEN, DIM)) * 1.5),
        init("b1", rng.standard_normal(HIDDEN) * 0.1),
        init("w2", rng.standard_normal((CLASSES, HIDDEN)) * 0.8),
        init("b2", rng.standard_normal(CLASSES) * 0.1),
    ]
    nodes = [
        helper.make_node("Gemm", ["bag", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"], name="fc2", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    g = helper.make_graph(
        nodes, "text_head", [helper.make_tensor_value_info("bag", TensorProto.FLOAT, [1, DIM])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, CLASSES])], inits,
    )  # fmt: skip
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture(scope="module")
def table() -> np.ndarray:
    return (np.random.default_rng(5).standard_normal((BUCKETS, DIM)) * 0.7).astype(np.float32)


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return head_onnx(tmp_path_factory.mktemp("head") / "head.onnx")


@pytest.fixture(scope="module")
def compiled(table: np.ndarray, head: Path) -> Compiled:
    return compile_text_classifier(table, head, make_texts(300, seed=1), ngrams=2, max_ids=MAX_IDS)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    long = " ".join(WORDS) * 20  # past MAX_TEXT_BYTES and past MAX_IDS features
    assert len(long.encode()) > MAX_TEXT_BYTES
    return [*make_texts(45, seed=2), "", " ,.!? ", "café", "日本語 映画", long]


def test_model_structure(compiled: Compiled) -> None:
    blob = read_blob(compiled.data)
    assert [op.opname for op in blob.ops] == ["EMBEDDING_BAG", "FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"]
    ti = text_input(compiled)
    assert (ti.tensor, ti.op, ti.buckets, ti.ngrams, ti.max_ids) == (blob.inputs[0], 0, BUCKETS, 2, MAX_IDS)
    ids = blob.tensors[ti.tensor]
    assert (ids.dtype, ids.kind, ids.shape) == (INT32, KIND_ARENA, (1, MAX_IDS))
    # the bag's output is the head's input, with the head's calibrated quantization
    bag = blob.tensors[blob.ops[0].output]
    assert blob.ops[1].inputs[0] == blob.ops[0].output and bag.scale > 0
    table = blob.tensors[blob.ops[0].inputs[1]]
    assert table.shape == (BUCKETS, DIM) and table.zero_point == 0
    assert text_input(compiled.data) == ti == text_input(blob)


def test_quantize_table(table: np.ndarray) -> None:
    q, scale = quantize_table(table)
    assert scale == pytest.approx(np.abs(table).max() / 127)
    assert q.dtype == np.int8 and np.abs(q).max() == 127
    assert np.abs(q * scale - table).max() <= scale / 2 + 1e-6
    zq, zs = quantize_table(np.zeros((3, 2)))
    assert zs == 1.0 and not zq.any()


def test_ref_equals_c_runtime(compiled: Compiled, texts: list[str]) -> None:
    feats = text_features(compiled, texts)
    assert feats.shape == (len(texts), MAX_IDS) and feats.dtype == np.int32
    assert np.array_equal(feats[-3], text_ids("café", BUCKETS, 2, MAX_IDS))
    assert (feats[-5] == -1).all() and (feats[-4] == -1).all() and (feats[-1] != -1).all()
    ref, native = Interpreter(compiled.data), NativeModel(compiled.data)
    for x in feats:
        (want,) = ref.run([x])
        (got,) = native.run([x])
        assert np.array_equal(want, got)


def test_int8_agrees_with_float(compiled: Compiled, table: np.ndarray, head: Path) -> None:
    texts = make_texts(400, seed=3)
    ids = text_features(compiled, texts)
    fi = FloatInterpreter(load_onnx(head))
    ref = Interpreter(compiled.data)
    agree = 0
    for bag, x in zip(mean_bags(table, ids), ids, strict=True):
        (p_float,) = fi.run([bag.reshape(1, DIM)])
        (p_int8,) = ref.run([x])
        agree += int(np.argmax(p_float) == np.argmax(p_int8))
    assert agree / len(texts) >= 0.95, agree


HAVE_QEMU = all(shutil.which(t) for t in ("riscv64-unknown-elf-gcc", "qemu-system-riscv32"))


@pytest.mark.parametrize(
    "board",
    ["sim", pytest.param("qemu-rv32", marks=pytest.mark.skipif(not HAVE_QEMU, reason="no RV32 toolchain or QEMU"))],
)
def test_board_hashes_the_text(tmp_path: Path, compiled: Compiled, texts: list[str], board: str) -> None:
    ref = Interpreter(compiled.data)
    blob = ref.blob
    ti = text_input(compiled)
    feats = text_features(compiled, texts)
    out = blob.tensors[blob.outputs[0]]
    with Device.open(board=board, flash=tmp_path / "f.bin") as dev:
        dev.upload(compiled.data)
        for text, x in zip(texts, feats, strict=True):
            count = dev.write_text(ti.tensor, text)
            assert count == int((x != -1).sum())
            board_ids = np.frombuffer(dev.read_tensor(ti.tensor, 4 * MAX_IDS), "<i4")
            assert np.array_equal(board_ids, x)
            dev.invoke(0, len(blob.ops))
            got = np.frombuffer(dev.read_tensor(blob.outputs[0], out.nbytes), np.int8)
            (want,) = ref.run([x])
            assert np.array_equal(got, want.reshape(-1)), text
        # bytes go as they are, invalid UTF-8 too
        raw = b"caf\xe9 \xff\xfe na\xc3\xafve"
        assert dev.write_text(ti.tensor, raw) == int((text_ids(raw, BUCKETS, 2, MAX_IDS) != -1).sum())
        # Device.run takes the ids as an int32 input as well
        (y,), _ = dev.run(blob, [feats[0]])
        assert np.array_equal(y, ref.run([feats[0]])[0])
        with pytest.raises(EdgeAIError, match="not the ids input"):
            dev.write_text(blob.outputs[0], "hello")


def test_old_firmware_is_named(tmp_path: Path, compiled: Compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    with Device.open(board="sim", flash=tmp_path / "f.bin") as dev:

        def refuse(command: int, payload: bytes = b"", **_: object) -> None:
            assert command == CMD_WRITE_TEXT and struct.unpack_from("<H", payload)[0] == 3
            raise DeviceError(command, 1, b"")  # an old board: BAD_FRAME for an unknown command

        monkeypatch.setattr(dev.link, "request", refuse)
        with pytest.raises(EdgeAIError, match="no text support: update it"):
            dev.write_text(3, "hello")


def test_refusals(table: np.ndarray, head: Path) -> None:
    calib = ["a b c"]
    with pytest.raises(EdgeAIError, match="2-D"):
        compile_text_classifier(table[0], head, calib)
    with pytest.raises(EdgeAIError, match="ngrams"):
        compile_text_classifier(table, head, calib, ngrams=3)
    with pytest.raises(EdgeAIError, match="max_ids"):
        compile_text_classifier(table, head, calib, max_ids=5000)
    with pytest.raises(EdgeAIError, match="empty"):
        compile_text_classifier(table, head, [])
    with pytest.raises(EdgeAIError, match="one row"):
        compile_text_classifier(table[:, :8], head, calib)
    q = (np.array([0.1], np.float32), np.zeros(1, np.int64))
    plain = QGraph("plain", [QTensor("x", (1, 4), "int8", *q), QTensor("y", (4,), "int8", *q)],
                   [QOp("RESHAPE", [0], [1])], [0], [1])  # fmt: skip
    with pytest.raises(EdgeAIError, match="takes no text"):
        text_features(compile_graph(plain), ["x"])
