"""The EMBEDDING_BAG operator: edgeai.ref and the C runtime agree bit for bit on random tables,
ids (padding, ids outside the table, empty bags, the longest bags) and requantization params;
the lowering checks what the loader checks; ``edgeai inspect`` names its params."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeai.blob import (
    INT8,
    INT32,
    KIND_ARENA,
    KIND_CONST,
    MAX_BAG_IDS,
    OPCODES,
    Blob,
    BlobOp,
    BlobTensor,
    named_params,
    pack_params,
    read_blob,
    write_blob,
)
from edgeai.compiler import compile_graph
from edgeai.errors import UnsupportedModelError
from edgeai.inspect import describe
from edgeai.ir import QGraph, QOp, QTensor
from edgeai.native import LoadError, NativeModel
from edgeai.quant import quantize_multiplier
from edgeai.ref import Interpreter, embedding_bag

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def bag_blob(table: np.ndarray, n_ids: int, params: dict[str, int]) -> bytes:
    """A one-op model: ids [1, n_ids] int32 -> EMBEDDING_BAG over ``table`` -> [1, D] int8."""
    rows, depth = table.shape
    out_off = (4 * n_ids + 15) // 16 * 16
    tensors = [
        BlobTensor("ids", INT32, KIND_ARENA, (1, n_ids), offset=0),
        BlobTensor("table", INT8, KIND_CONST, (rows, depth), 0.02, 0, data=table.astype(np.int8)),
        BlobTensor("bag", INT8, KIND_ARENA, (1, depth), 0.05, params.get("output_offset", 0), offset=out_off),
    ]
    op = BlobOp(OPCODES["EMBEDDING_BAG"], [0, 1], 2, pack_params("EMBEDDING_BAG", **params))
    return write_blob(Blob(tensors, [op], [0], [2], arena_bytes=out_off + (depth + 15) // 16 * 16))


def both(data: bytes, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (want,) = Interpreter(data).run([ids])
    (got,) = NativeModel(data).run([ids])
    return want, got


@st.composite
def cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    rows = draw(st.integers(1, 300))
    depth = draw(st.sampled_from([1, 2, 3, 31, 32, 33, 64, 70]))
    n_ids = draw(st.one_of(st.integers(1, 40), st.integers(1, MAX_BAG_IDS), st.just(MAX_BAG_IDS)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["uniform", "extreme", "negative"]))
    if kind == "uniform":
        table = rng.integers(-128, 128, size=(rows, depth))
    elif kind == "extreme":
        table = rng.choice([-128, 127], size=(rows, depth))
    else:
        table = rng.integers(-128, 0, size=(rows, depth))
    # ids: valid, padding, past the table, negative, the int32 extremes
    pad = draw(st.floats(0.0, 1.0))
    ids = rng.integers(0, rows, size=n_ids).astype(np.int64)
    r = rng.random(n_ids)
    ids[r < pad] = -1
    junk = rng.random(n_ids) < draw(st.sampled_from([0.0, 0.1, 0.5]))
    ids[junk] = rng.choice([rows, rows + 1, 2**24, INT32_MAX, -2, INT32_MIN], size=int(junk.sum()))
    lo = draw(st.integers(-128, 127))
    hi = draw(st.integers(lo, 127))
    params = {
        "ngrams": draw(st.sampled_from([1, 2])),
        "output_offset": draw(st.integers(-128, 127)),
        "output_multiplier": draw(st.one_of(st.integers(0, INT32_MAX), st.integers(1 << 30, INT32_MAX))),
        "output_shift": draw(st.one_of(st.integers(-31, 30), st.integers(-12, -4))),
        "act_min": lo,
        "act_max": hi,
    }
    return table.astype(np.int8), ids.astype(np.int32).reshape(1, n_ids), params


@settings(derandomize=True, max_examples=300, deadline=None)
@given(cases())
def test_ref_equals_c_runtime(case: tuple[np.ndarray, np.ndarray, dict[str, int]]) -> None:
    table, ids, params = case
    want, got = both(bag_blob(table, ids.shape[1], params), ids)
    assert want.shape == got.shape == (1, table.shape[1])
    assert np.array_equal(want, got)


def _mean_out(table: np.ndarray, ids: list[int]) -> np.ndarray:
    """out = round(mean) with multiplier 0.5, shift -7 (scale 1/256) and double rounding avoided
    by choosing sums that divide exactly."""
    data = bag_blob(table, len(ids), {"ngrams": 2, "output_multiplier": 1 << 30, "output_shift": -7,
                                      "act_min": -128, "act_max": 127})  # fmt: skip
    want, got = both(data, np.array([ids], np.int32))
    assert np.array_equal(want, got)
    return want.reshape(-1)


def test_semantics_by_hand() -> None:
    table = np.array([[10, -20], [-128, 6], [4, 4], [127, -128]], np.int8)
    # padding and every kind of out-of-range id are skipped; repeats count
    assert _mean_out(table, [0, 2, -1, 4, INT32_MIN, INT32_MAX, -7]).tolist() == [7, -8]
    assert _mean_out(table, [1, 1, 2, 2]).tolist() == [-62, 5]
    # no valid id: the output zero point (0 here)
    assert _mean_out(table, [-1, -1, 4, 99]).tolist() == [0, 0]
    # the longest bag: 4096 x 127 and 4096 x -128 (256 x the sum is exactly +-2^27 at most)
    assert _mean_out(table, [3] * MAX_BAG_IDS).tolist() == [127, -128]
    assert _mean_out(table, [1] * MAX_BAG_IDS).tolist() == [-128, 6]


@pytest.mark.parametrize(
    ("ids", "m"),
    [
        ([0, 1, 1], -85),  # -256 / 3 = -85.3
        ([2, 1, 1], 85),
        ([0] + [1] * 511, -1),  # -0.5: away from zero
        ([2] + [1] * 511, 1),  # 0.5
        ([0] + [1] * 1023, 0),  # -0.25
        ([0, 0] + [1] * 1022, -1),  # -0.5
        ([0] * 5 + [1], -128),  # -213.3, clamped
    ],
)
def test_mean_rounds_half_away_from_zero(ids: list[int], m: int) -> None:
    table = np.array([[-1], [0], [1]], np.int8)
    # multiplier 0.5 x 2^1 is the identity: out = m = round(256 x sum / n)
    params = {"ngrams": 2, "output_multiplier": 1 << 30, "output_shift": 1, "act_min": -128, "act_max": 127}
    x = np.array([ids], np.int32)
    assert int(embedding_bag(x, table, pack_params("EMBEDDING_BAG", **params), (1, 1))[0, 0]) == m
    _want, got = both(bag_blob(table, len(ids), params), x)
    assert int(got[0, 0]) == m


def test_loader_refuses_bad_bags() -> None:
    table = np.zeros((5, 3), np.int8)
    ok = {"ngrams": 2, "output_multiplier": 1 << 30, "act_min": -128, "act_max": 127}
    NativeModel(bag_blob(table, 8, ok))
    for bad in ({"ngrams": 3}, {"ngrams": 0}, {"output_shift": 31}, {"output_multiplier": -1},
                {"act_min": 5, "act_max": 4}, {"output_offset": 128}):  # fmt: skip
        with pytest.raises(LoadError) as e:
            NativeModel(bag_blob(table, 8, {**ok, **bad}))
        assert e.value.status == -10  # EAI_ERR_PARAM
    with pytest.raises(LoadError) as e:
        NativeModel(bag_blob(table, MAX_BAG_IDS + 1, ok))
    assert e.value.status == -9  # EAI_ERR_SHAPE


# ---- lowering ----------------------------------------------------------------------------------


def bag_graph(rows: int = 50, depth: int = 6, n_ids: int = 16, **change: object) -> QGraph:
    rng = np.random.default_rng(3)
    table = rng.integers(-127, 128, size=(rows, depth)).astype(np.int8)
    tensors = [
        QTensor("ids", (1, n_ids), "int32"),
        QTensor("table", (rows, depth), "int8", np.array([0.01], np.float32), np.zeros(1, np.int64), table),
        QTensor("bag", (1, depth), "int8", np.array([0.004], np.float32), np.array([-3], np.int64)),
    ]
    for k, v in change.items():
        if k == "table_zp":
            tensors[1].zero_point = np.array([v], np.int64)
        elif k == "table_dtype":
            tensors[1].dtype = str(v)
        elif k == "out_shape":
            tensors[2].shape = v  # type: ignore[assignment]
    ops = [QOp("EMBEDDING_BAG", [0, 1], [2], {"ngrams": change.get("ngrams", 2)})]
    return QGraph("bag", tensors, ops, [0], [2])


def test_lowering() -> None:
    c = compile_graph(bag_graph())
    blob = read_blob(c.data)
    (op,) = blob.ops
    assert op.opname == "EMBEDDING_BAG"
    m, s = quantize_multiplier(float(np.float32(0.01)) / (256 * float(np.float32(0.004))))  # the scales are float32
    assert named_params(op) == {"ngrams": 2, "output_offset": -3, "output_multiplier": m, "output_shift": s,
                                "act_min": -128, "act_max": 127}  # fmt: skip
    ids_t = blob.tensors[blob.inputs[0]]
    assert (ids_t.dtype, ids_t.kind, ids_t.shape) == (INT32, KIND_ARENA, (1, 16))
    ids = np.array([[3, 3, -1, 49, 50, 0, -1, -1, 7, 7, 7, 7, 1, 2, 3, 4]], np.int32)
    want, got = both(c.data, ids)
    assert np.array_equal(want, got)
    d = describe(blob, len(c.data))
    assert d["operators"][0]["op"] == "EMBEDDING_BAG" and d["operators"][0]["params"]["ngrams"] == 2
    assert d["tensors"][blob.inputs[0]]["dtype"] == "int32"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_ids": MAX_BAG_IDS + 1}, "at most 4096"),
        ({"table_zp": 4}, "symmetric"),
        ({"table_dtype": "int32"}, "constant int8"),
        ({"out_shape": (1, 5)}, "must be [1, 6]"),
        ({"ngrams": 3}, "ngrams"),
    ],
)
def test_lowering_refuses(change: dict[str, object], message: str) -> None:
    with pytest.raises(UnsupportedModelError, match=message.replace("[", r"\[")):
        compile_graph(bag_graph(**change))  # type: ignore[arg-type]


def test_int32_ids_feed_only_a_bag() -> None:
    g = bag_graph()
    g.tensors.append(QTensor("y", (1, 16), "int8", np.array([0.1], np.float32), np.zeros(1, np.int64)))
    g.ops.append(QOp("RESHAPE", [0], [3], index=1))
    g.outputs.append(3)
    with pytest.raises(UnsupportedModelError, match="int32"):
        compile_graph(g)
