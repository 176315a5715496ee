"""Text features (docs/text-features.md): the shared vectors in tests/data/text_vectors.json come from
the plain reference below, written from the specification and sharing no code with edgeai.text;
edgeai.text and the C implementation (firmware/text/text.c through the host tool eai_text, also
built with ASan + UBSan) must give exactly those ids, and must agree with each other on random
bytes and text.

Regenerate the vectors after a deliberate change of the specification:

    python3 -m tests.test_text --write
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeai.errors import EdgeAIError
from edgeai.native import FIRMWARE, ROOT
from edgeai.text import (
    MAX_BUCKETS,
    MAX_IDS,
    MAX_TEXT_BYTES,
    MAX_TOKEN_BYTES,
    text_bytes,
    text_ids,
    text_ids_batch,
    tokens,
)

VECTORS = Path(__file__).resolve().parent / "data" / "text_vectors.json"

# ---------------------------------------------------------------- the reference, from the spec


def ref_fnv1a(data: bytes) -> int:
    h = 2166136261
    for byte in data:
        h = h ^ byte
        h = (h * 16777619) % 2**32
    return h


def ref_tokens(data: bytes) -> list[bytes]:
    data = data[:2048]
    result: list[bytes] = []
    current = bytearray()
    for byte in data:
        if byte >= 0x80:
            current.append(byte)
        elif chr(byte) in "abcdefghijklmnopqrstuvwxyz0123456789":
            current.append(byte)
        elif chr(byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            current.append(ord(chr(byte).lower()))
        else:
            if len(current) > 0:
                result.append(bytes(current[:32]))
            current = bytearray()
    if len(current) > 0:
        result.append(bytes(current[:32]))
    return result


def ref_ids(data: bytes, buckets: int, ngrams: int, max_ids: int) -> list[int]:
    toks = ref_tokens(data)
    features: list[int] = []
    for i in range(len(toks)):
        features.append(ref_fnv1a(toks[i]) % buckets)
        if ngrams == 2 and i >= 1:
            features.append(ref_fnv1a(toks[i - 1] + b" " + toks[i]) % buckets)
    features = features[:max_ids]
    return features + [-1] * (max_ids - len(features))


def vector_bytes(v: dict[str, Any]) -> bytes:
    if "hex" in v:
        return bytes.fromhex(v["hex"])
    return str(v["text"]).encode("utf-8", "surrogatepass")


def vector_input(v: dict[str, Any]) -> str | bytes:
    """What edgeai.text is given: the str itself, or the bytes of a hex vector."""
    return bytes.fromhex(v["hex"]) if "hex" in v else str(v["text"])


# ---------------------------------------------------------------- the vectors

_LONG_PREFIX = "a " * 1022 + "bc"  # 2046 bytes: the 3-byte "€" after it straddles the 2048-byte cut

CASES: list[tuple[str, dict[str, Any], int, int, int]] = [
    # name, {"text": ...} or {"hex": ...}, buckets, ngrams, max_ids
    ("empty", {"text": ""}, 1000, 2, 8),
    ("only_separators", {"text": "  ,.;:!?\t\n\r-- ()[]{}<>/\\|@#$%^&*_+=~`\"' "}, 1000, 2, 8),
    ("mixed_case", {"text": "Hello WORLD hello World hElLo"}, 1000, 2, 12),
    ("mixed_case_ngrams1", {"text": "Hello WORLD hello World hElLo"}, 1000, 1, 8),
    ("digits", {"text": "Call 08452810075 now 2 win 1000 cash 4u"}, 4096, 2, 16),
    ("punctuation_runs", {"text": "wow!!!...???,,, ok --- fine;;;yes...no"}, 4096, 2, 16),
    ("ascii_borders", {"text": "/0 9: @A Z[ `a z{ \x7f"}, 65536, 2, 16),
    ("controls", {"text": "\x00a\x01b\x1fc\x7fd\te\nf"}, 65536, 1, 8),
    ("apostrophe", {"text": "don't it's O'Neil's"}, 65536, 2, 12),
    ("pound", {"text": "Price: £5.99 or £10 (was 20£)"}, 100003, 2, 16),
    ("umlaut_case", {"text": "Über über ÜBER ü Ü"}, 100003, 2, 12),
    ("umlaut_case_ngrams1", {"text": "Über über ÜBER ü Ü"}, 100003, 1, 8),
    ("emoji", {"text": "ok 👍🏽 great😂😂 :-) ❤️"}, 100003, 2, 12),
    ("cjk", {"text": "你好，世界 日本語 テキスト"}, 100003, 2, 8),
    ("c1_control", {"text": "it\u0092s fine\u0085ok"}, 100003, 2, 8),
    ("html_entities", {"text": "I &lt;3 u &amp; me &#39;k&#39;"}, 100003, 2, 16),
    ("lone_surrogate", {"text": "a\ud800b c\udfff"}, 100003, 2, 8),
    (
        "overlong_tokens",
        {"text": "a" * 40 + " b " + "x" * 32 + " " + "y" * 33 + " z " + "Q" * 31 + "RS"},
        1 << 20,
        2,
        16,
    ),
    ("overlong_multibyte", {"text": "é" * 20 + " a" + "é" * 20 + " end"}, 1 << 20, 2, 8),
    ("straddle_cut", {"text": _LONG_PREFIX + "€x tail words"}, 4093, 2, MAX_IDS),
    ("cut_in_token", {"text": "w" * 2040 + " abcdefghijk"}, 4093, 2, 8),
    ("exactly_2048", {"text": "a " * 1023 + "bc"}, 4093, 2, 16),
    ("most_features", {"text": "a " * 1024}, 997, 2, MAX_IDS),
    ("most_features_max_ids_plus_one", {"text": "ab " * 700}, 997, 2, MAX_IDS + 1),
    ("invalid_utf8", {"hex": "fffe4142c08020eda08020802d7f0061e28220f888808080"}, 1 << 24, 2, 12),
    ("invalid_utf8_truncated_end", {"hex": "48 69 20 e2 82"}, 1 << 24, 2, 4),
    ("max_ids_cuts_bigram", {"text": "one two three four five"}, 1000, 2, 4),
    ("max_ids_cuts_unigram", {"text": "one two three four five"}, 1000, 2, 5),
    ("max_ids_one", {"text": "one two three"}, 1000, 2, 1),
    ("max_ids_zero", {"text": "one two three"}, 1000, 2, 0),
    ("max_ids_ngrams1", {"text": "one two three four five"}, 1000, 1, 3),
    ("buckets_1", {"text": "anything at all"}, 1, 2, 8),
    ("buckets_2_24", {"text": "The quick brown fox jumps over the lazy dog"}, 1 << 24, 2, 20),
    ("buckets_2_24_ngrams1", {"text": "The quick brown fox jumps over the lazy dog"}, 1 << 24, 1, 12),
    (
        "sms_spam",
        {
            "text": "FREE entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005. Text FA to 87121 "
            "to receive entry question(std txt rate)T&C's apply 08452810075over18's"
        },
        4096,
        2,
        64,
    ),
]


def build_vectors() -> list[dict[str, Any]]:
    out = []
    for name, text, buckets, ngrams, max_ids in CASES:
        v: dict[str, Any] = {"name": name}
        if "hex" in text:
            v["hex"] = bytes.fromhex(text["hex"]).hex()
        else:
            v["text"] = text["text"]
        v.update(buckets=buckets, ngrams=ngrams, max_ids=max_ids)
        v["ids"] = ref_ids(vector_bytes(v), buckets, ngrams, max_ids)
        out.append(v)
    return out


def write_vectors(path: Path = VECTORS) -> None:
    lines = []
    for v in build_vectors():
        # readable UTF-8 where the text is valid Unicode, \u escapes for the lone surrogates
        ascii_only = "text" in v and any(0xD800 <= ord(c) <= 0xDFFF for c in v["text"])
        lines.append(json.dumps(v, ensure_ascii=ascii_only))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")


def load_vectors() -> list[dict[str, Any]]:
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


# ---------------------------------------------------------------- the C tool

SAN = ROOT / "build" / "host-san"


def _build(san: bool) -> Path:
    cmd = ["make", "-s", "-C", str(FIRMWARE), *(["SAN=1"] if san else []), "tools"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    tool = (SAN if san else ROOT / "build" / "host") / "eai_text"
    assert tool.exists()
    return tool


@pytest.fixture(scope="module")
def c_tool() -> Path:
    return _build(san=False)


@pytest.fixture(scope="module")
def san_tool() -> Path:
    return _build(san=True)


def run_c(tool: Path, cases: list[tuple[bytes, int, int, int]]) -> list[tuple[int, list[int]]]:
    """Run eai_text on (bytes, buckets, ngrams, max_ids) cases: (count, ids) for each."""
    stdin = "".join(f"{b} {n} {m} {data.hex()}\n" for data, b, n, m in cases)
    proc = subprocess.run([str(tool)], input=stdin, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(cases)
    out = []
    for line, (_, _, _, m) in zip(lines, cases, strict=True):
        values = [int(x) for x in line.split()]
        assert len(values) == 1 + m
        out.append((values[0], values[1:]))
    return out


def _count(ids: list[int]) -> int:
    return sum(1 for i in ids if i >= 0)


# ---------------------------------------------------------------- the vectors, three ways


def test_vector_file_is_the_reference() -> None:
    """The file holds what the reference gives for CASES (so it was not written by the code under test)."""
    assert load_vectors() == build_vectors()


def test_vectors_cover_the_spec() -> None:
    vs = load_vectors()
    assert len(vs) >= 30
    assert {v["ngrams"] for v in vs} == {1, 2}
    assert {1, MAX_BUCKETS} <= {v["buckets"] for v in vs}
    assert any(len(vector_bytes(v)) > MAX_TEXT_BYTES for v in vs)
    assert any("hex" in v for v in vs)
    assert any(_count(v["ids"]) == v["max_ids"] and v["max_ids"] > 0 for v in vs)
    # ids beyond the first max_ids exist for at least one vector: the cut is exercised
    assert any(len(ref_ids(vector_bytes(v), v["buckets"], v["ngrams"], 10**4)) > v["max_ids"] for v in vs)


@pytest.mark.parametrize("name", [case[0] for case in CASES])
def test_vectors_python(name: str) -> None:
    (v,) = [v for v in load_vectors() if v["name"] == name]
    got = text_ids(vector_input(v), v["buckets"], v["ngrams"], v["max_ids"])
    assert got.dtype == np.int32 and got.shape == (v["max_ids"],)
    assert got.tolist() == v["ids"]


def test_vectors_python_batch() -> None:
    vs = [v for v in load_vectors() if v["max_ids"] == 8 and v["buckets"] == 100003 and v["ngrams"] == 2]
    assert len(vs) >= 3
    got = text_ids_batch([vector_input(v) for v in vs], 100003, 2, 8)
    assert got.shape == (len(vs), 8) and got.dtype == np.int32
    assert got.tolist() == [v["ids"] for v in vs]


def test_vectors_c(c_tool: Path) -> None:
    vs = load_vectors()
    results = run_c(c_tool, [(vector_bytes(v), v["buckets"], v["ngrams"], v["max_ids"]) for v in vs])
    for v, (count, ids) in zip(vs, results, strict=True):
        assert ids == v["ids"], v["name"]
        assert count == _count(v["ids"]), v["name"]


# ---------------------------------------------------------------- fixed checks of the spec


def test_tokens_spec() -> None:
    assert tokens("Hi, Bob! it's £5") == [b"hi", b"bob", b"it", b"s", "£5".encode()]
    assert tokens("Über ÜBER über") == [b"\xc3\x9cber", b"\xc3\x9cber", b"\xc3\xbcber"]  # no Unicode case folding
    assert tokens("你好，世界") == ["你好，世界".encode()]  # non-ASCII punctuation is part of the token
    assert tokens("a" * 40) == [b"a" * MAX_TOKEN_BYTES]
    assert tokens("é" * 20) == [("é" * 20).encode()[:32]]
    assert tokens(b"\xff\x00\xfe") == [b"\xff", b"\xfe"]
    assert text_bytes("x" * 3000) == b"x" * MAX_TEXT_BYTES
    assert text_bytes("\ud800") == b"\xed\xa0\x80"


def test_bigram_is_hash_of_joined_tokens() -> None:
    ids = text_ids("Hello, World", buckets=MAX_BUCKETS, ngrams=2, max_ids=4).tolist()
    assert ids == [
        ref_fnv1a(b"hello") % MAX_BUCKETS,
        ref_fnv1a(b"world") % MAX_BUCKETS,
        ref_fnv1a(b"hello world") % MAX_BUCKETS,
        -1,
    ]
    # the FNV-1a test vectors of the reference itself
    assert ref_fnv1a(b"") == 0x811C9DC5 and ref_fnv1a(b"a") == 0xE40C292C and ref_fnv1a(b"foobar") == 0xBF9CF968


def test_max_ids_never_truncates() -> None:
    worst = "a " * (MAX_TEXT_BYTES // 2)
    ids = text_ids(worst, 997, 2, MAX_IDS + 5)
    assert _count(ids.tolist()) == MAX_IDS


@pytest.mark.parametrize(
    ("buckets", "ngrams", "max_ids"), [(0, 2, 4), (MAX_BUCKETS + 1, 2, 4), (10, 0, 4), (10, 3, 4), (10, 2, -1)]
)
def test_python_rejects_bad_arguments(buckets: int, ngrams: int, max_ids: int) -> None:
    with pytest.raises(EdgeAIError):
        text_ids("a b", buckets, ngrams, max_ids)
    with pytest.raises(EdgeAIError):
        text_ids_batch(["a b"], buckets, ngrams, max_ids)


def test_c_bad_arguments_give_padding(c_tool: Path) -> None:
    cases = [
        (b"a b", 0, 2, 4),
        (b"a b", MAX_BUCKETS + 1, 2, 4),
        (b"a b", 10, 0, 4),
        (b"a b", 10, 3, 4),
        (b"a b", 2**32 - 1, 2**32 - 1, 3),
        (b"", 10, 2, 0),
        (b"a b", 10, 2, 0),
    ]
    for count, ids in run_c(c_tool, cases):
        assert count == 0 and ids == [-1] * len(ids)


def test_c_tool_rejects_malformed_lines(c_tool: Path) -> None:
    for line in ["", "10 2", "10 2 4 abc", "10 2 4 zz", "x 2 4", "10 2 4294967296 ", "10 2 2000000 "]:
        proc = subprocess.run([str(c_tool)], input=line + "\n", capture_output=True, text=True)
        assert proc.returncode == 1, line
        assert proc.stderr.startswith("eai_text: line 1: "), (line, proc.stderr)


def test_batch_speed() -> None:
    """5,000 SMS-sized messages (about 80 bytes, a mixed vocabulary) well inside a second or two."""
    rng = np.random.default_rng(5)
    words = [
        "free",
        "call",
        "now",
        "txt",
        "win",
        "£1000",
        "ok",
        "lol",
        "see",
        "u",
        "later",
        "Love",
        "ü",
        "2nite",
        "prize",
        "claim",
        "urgent!",
        "WAT",
        "r",
        "u",
        "doing?",
        "😂",
        "home",
        "msg",
    ]
    vocab = np.array(words + [f"w{k}" for k in range(3000)])
    texts = [" ".join(rng.choice(vocab, size=int(rng.integers(3, 30)))) for _ in range(5000)]
    t0 = time.perf_counter()
    ids = text_ids_batch(texts, 1 << 14, 2, 128)
    elapsed = time.perf_counter() - t0
    assert ids.shape == (5000, 128)
    print(f"text_ids_batch: 5000 texts in {elapsed:.3f} s")
    assert elapsed < 2.0, f"{elapsed:.2f} s"


# ---------------------------------------------------------------- random agreement, C and Python

_SMS_ALPHABET = st.sampled_from([*"aZq9 0,.'!-\t\n", "£", "ü", "Ü", "😂", "\u0092", "你", "\x00", "\x7f"])
_TEXTS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=100),  # lone surrogates too
    st.text(alphabet=_SMS_ALPHABET, max_size=300),
    # long ones, over the 2048-byte cut
    st.builds(lambda s, k: s * k, st.text(alphabet=_SMS_ALPHABET, min_size=1, max_size=40), st.integers(1, 200)),
    st.builds(lambda s, k: s * k, st.binary(min_size=1, max_size=40), st.integers(1, 200)),
)
_BUCKETS = st.one_of(st.sampled_from([1, 2, 1000, 4096, MAX_BUCKETS]), st.integers(1, MAX_BUCKETS))


def _as_bytes(text: str | bytes) -> bytes:
    return text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(
        st.tuples(_TEXTS, _BUCKETS, st.sampled_from([1, 2]), st.integers(0, MAX_IDS + 2)), min_size=1, max_size=4
    )
)
def test_c_and_python_agree(c_tool: Path, items: list[tuple[str | bytes, int, int, int]]) -> None:
    results = run_c(c_tool, [(_as_bytes(t), b, n, m) for t, b, n, m in items])
    for (text, buckets, ngrams, max_ids), (count, c_ids) in zip(items, results, strict=True):
        py = text_ids(text, buckets, ngrams, max_ids).tolist()
        assert c_ids == py
        assert count == _count(py)
        assert py == ref_ids(_as_bytes(text)[:MAX_TEXT_BYTES], buckets, ngrams, max_ids)


def _random_cases(n: int, seed: int) -> list[tuple[bytes, int, int, int]]:
    rng = np.random.default_rng(seed)
    alphabet = [b"a", b"Z", b"9", b" ", b",", b"'", "£".encode(), "ü".encode(), "😂".encode(), b"\xff", b"\x00"]
    cases = []
    for k in range(n):
        if k % 2:
            data = rng.integers(0, 256, size=int(rng.integers(0, 3000)), dtype=np.uint8).tobytes()
        else:
            data = b"".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=int(rng.integers(0, 1500))))
        cases.append((data, int(rng.integers(1, MAX_BUCKETS + 1)), 1 + k % 2, int(rng.integers(0, MAX_IDS + 3))))
    return cases


def test_sanitized_c_matches(san_tool: Path) -> None:
    """ASan + UBSan build: the vectors and 400 random texts (up to 3000 bytes) run clean and give the same ids."""
    vs = load_vectors()
    cases = [(vector_bytes(v), v["buckets"], v["ngrams"], v["max_ids"]) for v in vs] + _random_cases(400, 11)
    cases += [(b"", 10, 2, 0), (b"a b", 0, 2, 3), (b"a b", 10, 7, 3)]
    results = run_c(san_tool, cases)
    for (data, buckets, ngrams, max_ids), (count, ids) in zip(cases, results, strict=True):
        if 1 <= buckets <= MAX_BUCKETS and ngrams in (1, 2):
            py = text_ids(data, buckets, ngrams, max_ids).tolist()
        else:
            py = [-1] * max_ids
        assert ids == py
        assert count == _count(py)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_vectors()
        print(f"wrote {VECTORS}")
    else:
        print(__doc__)
