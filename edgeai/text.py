"""Text features: raw UTF-8 bytes to hashed unigram and bigram ids, exactly as the board computes
them (firmware/text/text.c). Specification with worked examples: docs/text-features.md.

    >>> tokens("Hi, Bob! it's £5")
    [b'hi', b'bob', b'it', b's', b'\\xc2\\xa35']
    >>> text_ids("hello world", buckets=1000, max_ids=5).tolist()
    [723, 787, 807, -1, -1]

A token is a maximal run of token bytes (ASCII letters and digits, lowered, and every byte
>= 0x80 as is), cut to its first 32 bytes. Each token gives its unigram id and, with
``ngrams=2``, from the second token on, the id of the bigram ``previous + b" " + token``.
An id is the 32-bit FNV-1a hash of the bytes modulo ``buckets``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from .errors import EdgeAIError

MAX_TEXT_BYTES = 2048
"""Bytes of a text that are read; the rest is ignored (cut at a byte, even inside a character)."""
MAX_TOKEN_BYTES = 32
"""Bytes of a token that are hashed; the rest of its run is skipped."""
MAX_BUCKETS = 1 << 24
"""The largest ``buckets``: ids stay below 2^24, exact in float32 and int32."""
MAX_IDS = 2 * (MAX_TEXT_BYTES // 2) - 1
"""The most features one text can give (1024 tokens, 1023 bigrams): ``max_ids`` this large never truncates."""
FNV_OFFSET = 2166136261
FNV_PRIME = 16777619

I32 = npt.NDArray[np.int32]

# Per byte: A-Z lowered, a-z 0-9 and >= 0x80 kept, every other byte (a separator) to a space.
_TABLE = bytes(
    c + 32 if 0x41 <= c <= 0x5A else c if (c >= 0x80 or 0x61 <= c <= 0x7A or 0x30 <= c <= 0x39) else 0x20
    for c in range(256)
)


def text_bytes(text: str | bytes) -> bytes:
    """The bytes the features are computed from: ``text`` encoded as UTF-8 (lone surrogates
    passed through as their 3-byte forms) or taken as is, cut to ``MAX_TEXT_BYTES``."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    return data[:MAX_TEXT_BYTES]


def tokens(text: str | bytes) -> list[bytes]:
    """The tokens of ``text`` in order: lowered runs of token bytes, each cut to ``MAX_TOKEN_BYTES``."""
    # bytes.split() splits on ASCII whitespace only, and the table leaves none but 0x20.
    return [t[:MAX_TOKEN_BYTES] for t in text_bytes(text).translate(_TABLE).split()]


def fnv1a(data: bytes, h: int = FNV_OFFSET) -> int:
    """32-bit FNV-1a of ``data``, continuing from the state ``h`` (the offset basis to start)."""
    for c in data:
        h = ((h ^ c) * FNV_PRIME) & 0xFFFFFFFF
    return h


def _check(buckets: int, ngrams: int, max_ids: int) -> None:
    if not 1 <= buckets <= MAX_BUCKETS:
        raise EdgeAIError(f"text features: buckets must be 1 .. {MAX_BUCKETS}, not {buckets}")
    if ngrams not in (1, 2):
        raise EdgeAIError(f"text features: ngrams must be 1 or 2, not {ngrams}")
    if max_ids < 0:
        raise EdgeAIError(f"text features: max_ids must be >= 0, not {max_ids}")


def _fill(
    out: I32, text: str | bytes, buckets: int, ngrams: int, cache: dict[bytes, int], bigrams: dict[bytes, int]
) -> int:
    """Write the ids of ``text`` into ``out`` (already -1) and return their count. ``cache`` maps
    tokens to their hashes and ``bigrams`` maps ``prev + b" " + token`` to theirs across calls."""
    max_ids = len(out)
    ids: list[int] = []
    prev = b""
    for i, tok in enumerate(tokens(text)):
        if len(ids) >= max_ids:
            break
        h = cache.get(tok)
        if h is None:
            h = cache[tok] = fnv1a(tok)
        ids.append(h % buckets)
        if ngrams == 2 and i > 0:
            pair = prev + b" " + tok
            hb = bigrams.get(pair)
            if hb is None:
                # FNV-1a runs left to right: continue the previous token's hash over " " + token.
                hb = bigrams[pair] = fnv1a(b" " + tok, cache[prev])
            ids.append(hb % buckets)
        prev = tok
    n = min(len(ids), max_ids)
    out[:n] = ids[:n]
    return n


def text_ids(text: str | bytes, buckets: int, ngrams: int = 2, max_ids: int = 512) -> I32:
    """The feature ids of one text: int32, length ``max_ids``, the first ``max_ids`` features in
    text order, then -1 padding. Raises EdgeAIError for buckets outside 1 .. 2^24, ngrams other
    than 1 or 2, or a negative max_ids (the C function returns all padding instead)."""
    _check(buckets, ngrams, max_ids)
    out = np.full(max_ids, -1, dtype=np.int32)
    _fill(out, text, buckets, ngrams, {}, {})
    return out


def text_ids_batch(texts: Iterable[str | bytes], buckets: int, ngrams: int = 2, max_ids: int = 512) -> I32:
    """``text_ids`` of each text, stacked: int32 [N, max_ids]. Hashes of repeated tokens and
    bigrams are computed once per batch."""
    _check(buckets, ngrams, max_ids)
    items = list(texts)
    out = np.full((len(items), max_ids), -1, dtype=np.int32)
    cache: dict[bytes, int] = {}
    bigrams: dict[bytes, int] = {}
    for row, text in zip(out, items, strict=True):
        _fill(row, text, buckets, ngrams, cache, bigrams)
    return out
