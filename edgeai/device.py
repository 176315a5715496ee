"""``edgeai.Device``: a board running edgeai firmware, reached over the serial protocol."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .blob import KIND_ARENA, Blob, np_dtype, read_blob
from .boards import Board, FlashTiming, known_board, load_board
from .errors import EdgeAIError
from .link import (
    CMD_HELLO,
    CMD_INVOKE,
    CMD_READ_TENSOR,
    CMD_RESET,
    CMD_TIME_LAYERS,
    CMD_UPLOAD_BEGIN,
    CMD_UPLOAD_CHUNK,
    CMD_UPLOAD_COMMIT,
    CMD_WRITE_TENSOR,
    CMD_WRITE_TEXT,
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    DeviceError,
    Link,
    wire_bytes,
)
from .transport import Emulator, SimOptions, emulator_for, open_port

I8 = npt.NDArray[np.int8]
COMMIT_WORK = 2.0  # seconds a board may take to read back, check and load an uploaded blob (plus CHECK_RATE)
CHECK_RATE = 1e6  # bytes per second a board reads back and checks (CRC) at the least
RECORD_BYTES = 32  # one slot-table record: the commit's one write (docs/protocol.md)
TABLE_SECTOR_BYTES = 4096  # a full table sector makes the commit erase the other one first
UPLOAD_HEADER = 4  # UPLOAD_CHUNK: u32 offset, then the data
TENSOR_HEADER = 6  # WRITE_TENSOR: u16 tensor, u32 offset, then the data
TEXT_HEADER = 2  # WRITE_TEXT: u16 tensor, then the text
INVOKE_WORK = 30.0  # default seconds an inference may take
NO_COUNT = 0xFFFF_FFFF_FFFF_FFFF  # the instruction count of a board that cannot count


@dataclass(frozen=True)
class Counts:
    """What the board's counters saw around a run: cycles (host nanoseconds on the posix
    simulator) and retired instructions, ``None`` where the board cannot count them."""

    cycles: int
    instructions: int | None

    @classmethod
    def unpack(cls, payload: bytes, offset: int = 0) -> Counts:
        cycles, instructions = struct.unpack_from("<QQ", payload, offset)
        return cls(int(cycles), None if instructions == NO_COUNT else int(instructions))


@dataclass(frozen=True)
class DeviceInfo:
    protocol: int
    max_payload: int
    slot_bytes: int
    arena_bytes: int
    active_slot: int | None
    model_bytes: int
    model_crc: int
    model_arena_bytes: int
    firmware: str
    board: str
    rx_buffer_bytes: int | None = None  # None: the link never drops (the board said 0xFFFFFFFF)
    map_bytes: int | None = None  # None: any model that fits a slot maps

    @classmethod
    def parse(cls, payload: bytes) -> DeviceInfo:
        try:
            (proto,) = struct.unpack_from("<H", payload)
            if proto != PROTOCOL_VERSION:  # another layout: only the version is read
                return cls(proto, 0, 0, 0, None, 0, 0, 0, "", "")
            head = "<HHIIBIIIII"
            fields = struct.unpack_from(head, payload)
            proto, max_payload, slot, arena, active, size, crc, model_arena, rx, mapped = fields
            pos = struct.calcsize(head)
            strings = []
            for _ in range(2):
                (n,) = struct.unpack_from("<H", payload, pos)
                strings.append(payload[pos + 2 : pos + 2 + n].decode("utf-8", "replace"))
                pos += 2 + n
        except struct.error:
            raise EdgeAIError("the board's HELLO answer is malformed: is its firmware up to date?") from None
        return cls(proto, max_payload, slot, arena, None if active == 0xFF else active, size, crc, model_arena,
                   strings[0], strings[1], None if rx == 0xFFFFFFFF else rx,
                   None if mapped == 0xFFFFFFFF else mapped)  # fmt: skip


class Device:
    """A connected board. Open with ``Device.open(board="sim")`` or ``Device.open(port=...)``.

    The board file (given, or found from the name the board's HELLO says) supplies the flash
    timing the upload's timeouts follow; a board without one gets conservative figures
    (``edgeai.boards.FlashTiming()``). ``timing`` overrides both."""

    def __init__(self, link: Link, closer: Callable[[], None] | None = None, board: Board | None = None,
                 timing: FlashTiming | None = None) -> None:  # fmt: skip
        self.link = link
        self.board = board
        self._closer = closer
        self.info = self.hello()
        if self.board is None:
            self.board = known_board(self.info.board)
        self.timing = timing or (self.board.flash_timing if self.board is not None else FlashTiming())

    @classmethod
    def open(cls, board: str | None = None, port: str | None = None, baud: int | None = None,
             flash: Path | None = None, sim_options: SimOptions | None = None) -> Device:  # fmt: skip
        """Connect to a board: a port (device path or URL), or an emulated board (``sim_options``
        for the simulated board's; default: from EDGEAI_SIM_ARGS)."""
        b = load_board(board) if board else None
        rate = baud or (b.baud if b else 115200)
        sim: Emulator | None = None
        if port is None:
            if b is None:
                raise EdgeAIError("give --port PORT (or --board sim for the simulated board)")
            sim = emulator_for(b, flash, sim_options)
            port = sim.start()
        try:
            serial_port = open_port(port, rate)
            if sim is not None:
                sim.ready(serial_port)
        except BaseException:
            if sim is not None:
                sim.stop()
            raise

        def close() -> None:
            serial_port.close()
            if sim is not None:
                sim.stop()

        try:
            return cls(Link(serial_port, baud=rate), close, b)
        except BaseException:
            close()
            raise

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands ---------------------------------------------------------------------------------
    def hello(self) -> DeviceInfo:
        frame = self.link.request(CMD_HELLO, struct.pack("<H", PROTOCOL_VERSION), check=False, expect_bytes=128)
        info = DeviceInfo.parse(frame.payload)
        if frame.status == 2 or info.protocol != PROTOCOL_VERSION:
            side = "the host (pip install -U edgeai)" if info.protocol > PROTOCOL_VERSION else "the board's firmware"
            raise EdgeAIError(
                f"the board speaks protocol {info.protocol}, this edgeai speaks {PROTOCOL_VERSION}: update {side}"
            )
        if frame.status != 0:
            raise DeviceError(CMD_HELLO, frame.status, frame.payload)
        self.info = info
        self.link.window = info.rx_buffer_bytes
        return info

    def has_model(self, blob: bytes) -> bool:
        """Whether the board's active model is ``blob``."""
        return self.info.model_bytes == len(blob) and self.info.model_crc == zlib.crc32(blob) & 0xFFFFFFFF

    def misfits(self, blob: bytes) -> list[str]:
        """Why this board cannot hold the model ([] if it can): its arena, its slot, then the
        flash it can map beside the active model."""
        model = read_blob(blob)
        out = []
        if model.arena_bytes > self.info.arena_bytes:
            out.append(
                f"the model needs {model.arena_bytes:,} bytes of arena; this board has {self.info.arena_bytes:,} "
                f"({model.arena_bytes - self.info.arena_bytes:,} bytes too many)"
            )
        if len(blob) > self.info.slot_bytes:
            out.append(
                f"the model is {len(blob):,} bytes; a slot on this board holds {self.info.slot_bytes:,} "
                f"({len(blob) - self.info.slot_bytes:,} bytes too many)"
            )
        limit = self.info.map_bytes
        if limit is not None and len(blob) > limit:
            out.append(
                f"the model is {len(blob):,} bytes; this board maps at most {limit:,} bytes of a model beside "
                f"its active one ({len(blob) - limit:,} bytes too many)"
            )
        return out

    def upload(self, blob: bytes, progress: Callable[[int, int], None] | None = None) -> DeviceInfo:
        """Write ``blob`` to the inactive slot and switch to it; the old model stays active until
        the new one has been checked on the board. The chunks shrink on a noisy line and grow
        back when it clears (Link.send_chunks); ``progress(done, total)`` follows them."""
        misfit = self.misfits(blob)  # refuses a corrupt blob before touching the board
        if misfit:
            raise EdgeAIError(misfit[0])
        crc = zlib.crc32(blob) & 0xFFFFFFFF
        t = self.timing
        self.link.request(CMD_UPLOAD_BEGIN, struct.pack("<II", len(blob), crc), work=t.erase_seconds(len(blob)))
        self.link.send_chunks(CMD_UPLOAD_CHUNK, blob, lambda off: struct.pack("<I", off), self.upload_chunk_bytes(),
                              work=t.program_seconds, progress=progress)  # fmt: skip
        self.link.request(CMD_UPLOAD_COMMIT, work=self._commit_work(len(blob)))
        return self.hello()

    def upload_chunk_bytes(self) -> int:
        """The most bytes of blob per UPLOAD_CHUNK: a frame, or less when the board's receive
        buffer must hold the chunk and all its retries (Link.payload_for). Uploads start there
        and send less on a noisy line."""
        return self.link.payload_for(UPLOAD_HEADER, self.info.max_payload)

    def upload_timeouts(self, nbytes: int) -> tuple[float, float, float]:
        """Seconds the host waits for UPLOAD_BEGIN, for one full UPLOAD_CHUNK and for
        UPLOAD_COMMIT of an ``nbytes`` upload, from this board's flash timing and link."""
        t = self.timing
        chunk = min(self.upload_chunk_bytes(), nbytes)
        begin = self.link.timeout_for(wire_bytes(8) + 32, t.erase_seconds(nbytes))
        one = self.link.timeout_for(wire_bytes(UPLOAD_HEADER + chunk) + 32, t.program_seconds(chunk))
        commit = self.link.timeout_for(wire_bytes(0) + 32, self._commit_work(nbytes))
        return begin, one, commit

    def _commit_work(self, nbytes: int) -> float:
        """UPLOAD_COMMIT reads the blob back and loads it, then writes a slot-table record, which
        may first erase the other table sector."""
        t = self.timing
        return COMMIT_WORK + nbytes / CHECK_RATE + t.erase_seconds(TABLE_SECTOR_BYTES) + t.program_seconds(RECORD_BYTES)

    def write_tensor(self, index: int, data: bytes) -> None:
        step = self.link.payload_for(TENSOR_HEADER, self.info.max_payload)
        for off in range(0, len(data), step):
            self.link.request(CMD_WRITE_TENSOR, struct.pack("<HI", index, off) + data[off : off + step])

    def write_text(self, tensor_index: int, text: str | bytes) -> int:
        """Have the board hash ``text`` into the ids tensor ``tensor_index`` of its model (the
        int32 input of an EMBEDDING_BAG op), as ``edgeai.text.text_ids`` does with that op's
        buckets, n-grams and length; returns the number of features (the rest is padding).
        The text is encoded as ``edgeai.text.text_bytes`` does, so cut at 2048 bytes."""
        from .text import text_bytes

        data = text_bytes(text)[: min(self.info.max_payload, MAX_PAYLOAD) - TEXT_HEADER]
        window = self.link.window
        if window is not None and wire_bytes(TEXT_HEADER + len(data)) > window:
            fit = len(data)
            while fit > 0 and wire_bytes(TEXT_HEADER + fit) > window:
                fit -= 1
            raise EdgeAIError(
                f"the text is {len(data):,} bytes; this board keeps only {window:,} bytes from the host while busy, "
                f"a text of at most {fit:,}: shorten it"
            )
        try:
            frame = self.link.request(CMD_WRITE_TEXT, struct.pack("<H", tensor_index) + data, expect_bytes=2)
        except DeviceError as e:
            if e.status == 1:  # BAD_FRAME: a firmware that does not know the command
                raise EdgeAIError("the board's firmware has no text support: update it") from None
            if e.status == 6:  # BAD_RANGE
                raise EdgeAIError(
                    f"tensor {tensor_index} of the board's model is not the ids input of an EMBEDDING_BAG op"
                ) from None
            raise
        if len(frame.payload) != 2:
            raise EdgeAIError(f"the board's WRITE_TEXT answer is {len(frame.payload)} bytes, not 2")
        return int(struct.unpack("<H", frame.payload)[0])

    def read_tensor(self, index: int, nbytes: int) -> bytes:
        out = bytearray()
        step = min(self.info.max_payload, MAX_PAYLOAD)
        for off in range(0, nbytes, step):
            n = min(step, nbytes - off)
            frame = self.link.request(CMD_READ_TENSOR, struct.pack("<HIH", index, off, n), expect_bytes=n)
            if len(frame.payload) != n:
                raise EdgeAIError(f"the board sent {len(frame.payload)} bytes of tensor {index}, not {n}")
            out += frame.payload
        return bytes(out)

    def invoke(self, first: int, last: int, work: float = INVOKE_WORK) -> int:
        """Run ops [first, last) of the active model; returns the cycles they took."""
        return self.invoke_counts(first, last, work).cycles

    def invoke_counts(self, first: int, last: int, work: float = INVOKE_WORK) -> Counts:
        """Run ops [first, last) of the active model; returns the cycles and instructions."""
        frame = self.link.request(CMD_INVOKE, struct.pack("<HH", first, last), work=work)
        if len(frame.payload) != 16:
            raise EdgeAIError(f"the board's INVOKE answer is {len(frame.payload)} bytes, not 16")
        return Counts.unpack(frame.payload)

    def time_layers(self, work: float = INVOKE_WORK) -> list[int]:
        """Run the whole model once, op by op; returns each op's cycles."""
        return [c.cycles for c in self.time_layers_counts(work)]

    def time_layers_counts(self, work: float = INVOKE_WORK) -> list[Counts]:
        """Run the whole model once, op by op; returns each op's cycles and instructions."""
        frame = self.link.request(CMD_TIME_LAYERS, work=work, expect_bytes=16 * 256)
        (n,) = struct.unpack_from("<H", frame.payload)
        if len(frame.payload) != 2 + 16 * n:
            raise EdgeAIError(f"the board's TIME_LAYERS answer is {len(frame.payload)} bytes, not {2 + 16 * n}")
        return [Counts.unpack(frame.payload, 2 + 16 * i) for i in range(n)]

    def reset(self) -> DeviceInfo:
        self.link.request(CMD_RESET)
        return self.hello()

    # -- models -------------------------------------------------------------------------------------
    def run(self, model: Blob, inputs: Sequence[Any], work: float = INVOKE_WORK) -> tuple[list[I8], int]:
        """Run the active model (whose structure is ``model``) on int8 inputs; returns the
        outputs and the cycles the inference took."""
        if len(inputs) != len(model.inputs):
            raise EdgeAIError(f"the model takes {len(model.inputs)} input(s), {len(inputs)} given")
        for k, (idx, x) in enumerate(zip(model.inputs, inputs, strict=True)):
            t = model.tensors[idx]
            dtype = np_dtype(t.dtype)  # int8, or int32 for EMBEDDING_BAG ids
            a = np.asarray(x)
            if a.size != t.elements:
                raise EdgeAIError(f"input {k} needs {t.elements} {dtype} values {t.shape}, got {a.size}")
            self.write_tensor(idx, np.ascontiguousarray(a.astype(dtype)).tobytes())
        cycles = self.invoke(0, len(model.ops), work)
        outs = []
        for idx in model.outputs:
            t = model.tensors[idx]
            outs.append(np.frombuffer(self.read_tensor(idx, t.nbytes), dtype=np.int8).reshape(t.shape).copy())
        return outs, cycles

    def run_layers(self, model: Blob, inputs: Sequence[Any], work: float = INVOKE_WORK) -> list[I8]:
        """Run op by op and read every op's output tensor (for a layer-by-layer diff)."""
        for idx, x in zip(model.inputs, inputs, strict=True):
            dtype = np_dtype(model.tensors[idx].dtype)
            self.write_tensor(idx, np.ascontiguousarray(np.asarray(x).astype(dtype)).tobytes())
        outs = []
        for i, op in enumerate(model.ops):
            self.invoke(i, i + 1, work)
            t = model.tensors[op.output]
            assert t.kind == KIND_ARENA
            outs.append(np.frombuffer(self.read_tensor(op.output, t.nbytes), dtype=np.int8).reshape(t.shape).copy())
        return outs
