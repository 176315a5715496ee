"""The host side of the serial protocol on its own: COBS, frames, resynchronisation."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from edgeai.link import (
    MAX_PAYLOAD,
    Frame,
    FrameReader,
    cobs_decode,
    cobs_encode,
    decode_frame,
    encode_frame,
)


@given(st.binary(max_size=2000))
def test_cobs_round_trip_has_no_zero(data: bytes) -> None:
    enc = cobs_encode(data)
    assert 0 not in enc
    assert cobs_decode(enc) == data
    assert len(enc) <= len(data) + len(data) // 254 + 1


def test_cobs_edge_cases() -> None:
    for data in (b"", b"\0", b"\0\0", b"\1" * 254, b"\1" * 255, b"\1" * 253 + b"\0", bytes(600)):
        assert cobs_decode(cobs_encode(data)) == data
    assert cobs_decode(b"\5\1\1") is None  # block runs past the end
    assert cobs_decode(b"\3\1\0") is None  # a zero inside


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=300))
def test_frame_round_trip(kind: int, status: int, seq: int, payload: bytes) -> None:
    f = Frame(kind, status, seq, payload)
    wire = encode_frame(f)
    assert wire.endswith(b"\0") and 0 not in wire[:-1]
    assert decode_frame(wire[:-1]) == f


def test_max_payload_and_crc() -> None:
    f = Frame(3, 0, 7, bytes(range(256)) * (MAX_PAYLOAD // 256))
    wire = encode_frame(f)
    assert decode_frame(wire[:-1]) == f
    assert len(f.payload) / len(wire) > 0.99
    body = bytearray(cobs_decode(wire[:-1]) or b"")
    body[10] ^= 1
    assert decode_frame(cobs_encode(bytes(body))) is None  # CRC catches it
    body[-4:] = (zlib.crc32(bytes(body[:-4])) & 0xFFFFFFFF).to_bytes(4, "little")
    assert decode_frame(cobs_encode(bytes(body))) is not None


@given(st.lists(st.binary(max_size=64), max_size=20), st.data())
def test_reader_resynchronises_after_damage(payloads: list[bytes], data: st.DataObject) -> None:
    frames = [Frame(0x81, 0, i + 1, p) for i, p in enumerate(payloads)]
    stream = bytearray()
    for f in frames:
        wire = bytearray(encode_frame(f))
        if data.draw(st.booleans()):
            stream += data.draw(st.binary(max_size=20)) + b"\0"  # garbage between frames
        stream += wire
    reader = FrameReader()
    got: list[Frame] = []
    cut = data.draw(st.integers(1, 50))
    for i in range(0, len(stream), cut):
        got += reader.feed(bytes(stream[i : i + cut]))
    assert [f for f in got if f in frames] == frames  # every real frame, in order
    assert all(f in frames for f in got)  # garbage never decodes into a valid frame (CRC)


def test_reader_drops_oversize_input() -> None:
    reader = FrameReader()
    good = Frame(1, 0, 1, b"hello")
    assert reader.feed(b"\1" * 10_000 + b"\0" + encode_frame(good)) == [good]
    assert reader.dropped == 1
