"""ESP boards: the ESP-IDF partition table, the firmware files a build leaves, the regions
``edgeai flash`` writes to an ESP chip, and the calls into esptool that write them.

The flash of an ESP-IDF board holds the second-stage bootloader, the binary partition table
(at ``[flash] partition_table``, 0x8000), the application in its ``factory`` partition, and the
firmware's slot table and model slots in the data partitions ``eai_table``, ``model_a`` and
``model_b`` (docs/protocol.md). esptool (``pip install 'esptool>=5,<6'``) does the talking; its
output is captured, never printed, and its failures become one-line :class:`EdgeAIError` s.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esp_pylib.logger import EspLog, EspLogBase

from .boards import Board, Partition
from .build import EspImages, esp_builds, idf_images, pio_images
from .errors import EdgeAIError
from .flashimage import Progress, Region, model_regions

# -- the binary partition table (ESP-IDF components/partition_table/gen_esp32part.py) -----------------
PARTITION_TABLE_BYTES = 0xC00  # the table and its MD5 entry; the rest of the 4 KiB sector is for a signature
ENTRY_BYTES = 32
ENTRY_FORMAT = "<2sBBII16sI"  # magic, type, subtype, offset, size, label, flags
ENTRY_MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
MD5_ENTRY_HEAD = MD5_MAGIC + b"\xff" * 14
MAX_ENTRIES = PARTITION_TABLE_BYTES // ENTRY_BYTES - 1  # one entry is the MD5 line

TYPES = {"app": 0x00, "data": 0x01}
SUBTYPES: dict[int, dict[str, int]] = {
    0x00: {"factory": 0x00, **{f"ota_{k}": 0x10 + k for k in range(16)}, "test": 0x20},
    0x01: {
        "ota": 0x00,
        "phy": 0x01,
        "nvs": 0x02,
        "coredump": 0x03,
        "nvs_keys": 0x04,
        "efuse": 0x05,
        "undefined": 0x06,
        "esphttpd": 0x80,
        "fat": 0x81,
        "spiffs": 0x82,
        "littlefs": 0x83,
    },
}
FLAGS = {"encrypted": 0, "readonly": 1}  # flag name -> bit

IMAGE_MAGIC = 0xE9  # an ESP application or bootloader image starts with this byte
IMAGE_CHIP_ID_AT = 12  # uint16 chip id in the extended header (8-byte header + 4)


def _number(text: str, what: str, bits: int) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise EdgeAIError(f"partition table: {what} {text!r} is neither a known name nor a number") from None
    if not 0 <= v < 1 << bits:
        raise EdgeAIError(f"partition table: {what} {text!r} does not fit {bits} bits")
    return v


def _type_int(p: Partition) -> int:
    t = p.type.strip()
    return TYPES[t] if t in TYPES else _number(t, f"partition {p.name}: type", 8)


def _subtype_int(p: Partition) -> int:
    st = p.subtype.strip()
    names = SUBTYPES.get(_type_int(p), {})
    if st in names:
        return names[st]
    if not st:
        if _type_int(p) == TYPES["app"]:
            raise EdgeAIError(f"partition {p.name}: an app partition needs a subtype (factory, ota_0, ...)")
        return SUBTYPES[TYPES["data"]]["undefined"]
    return _number(st, f"partition {p.name}: subtype", 8)


def _flags_int(p: Partition) -> int:
    out = 0
    for f in (f.strip() for f in p.flags.split(":")):
        if not f:
            continue
        if f in FLAGS:
            out |= 1 << FLAGS[f]
        else:
            out |= _number(f, f"partition {p.name}: flag", 32)
    return out


def _key(p: Partition) -> tuple[str, int, int, int, int, int]:
    """What the binary table says about a partition, whatever names the CSV used."""
    return (p.name, _type_int(p), _subtype_int(p), p.offset, p.size, _flags_int(p))


def _entry(p: Partition) -> bytes:
    label = p.name.encode()
    if not label or len(label) > 16:
        raise EdgeAIError(f"partition {p.name!r}: a partition name takes 1 to 16 bytes")
    if not (0 <= p.offset < 1 << 32 and 0 <= p.size < 1 << 32):
        raise EdgeAIError(f"partition {p.name}: offset and size must fit 32 bits")
    return struct.pack(ENTRY_FORMAT, ENTRY_MAGIC, _type_int(p), _subtype_int(p), p.offset, p.size, label, _flags_int(p))


def partition_table_bin(parts: tuple[Partition, ...] | list[Partition]) -> bytes:
    """The binary partition table ESP-IDF's gen_esp32part.py makes from the same CSV: one 32-byte
    entry per partition, an MD5 entry over them, 0xFF up to 0xC00 bytes."""
    if not parts:
        raise EdgeAIError("partition table: no partitions")
    if len(parts) > MAX_ENTRIES:
        raise EdgeAIError(f"partition table: {len(parts)} partitions, the table holds {MAX_ENTRIES}")
    names = [p.name for p in parts]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise EdgeAIError(f"partition table: the names {', '.join(dup)} are used twice")
    body = b"".join(_entry(p) for p in parts)
    body += MD5_ENTRY_HEAD + hashlib.md5(body).digest()
    return body + b"\xff" * (PARTITION_TABLE_BYTES - len(body))


def _name_of(value: int, names: dict[str, int]) -> str:
    for k, v in names.items():
        if v == value:
            return k
    return f"{value:#04x}"


def read_partition_table_bin(data: bytes) -> list[Partition]:
    """Parse a binary partition table (as :func:`partition_table_bin` or ESP-IDF writes it),
    checking its MD5 entry when it has one."""
    out: list[Partition] = []
    md5 = hashlib.md5()
    for at in range(0, min(len(data), PARTITION_TABLE_BYTES), ENTRY_BYTES):
        e = data[at : at + ENTRY_BYTES]
        if len(e) < ENTRY_BYTES:
            break
        if e == b"\xff" * ENTRY_BYTES:
            return out
        if e[:2] == MD5_MAGIC:
            if e[16:] != md5.digest():
                raise EdgeAIError(
                    f"partition table: the MD5 entry at {at:#x} does not match the entries before it "
                    "(the table is corrupt): rebuild the firmware"
                )
            continue
        if e[:2] != ENTRY_MAGIC:
            raise EdgeAIError(
                f"partition table: no entry magic AA 50 at {at:#x}: this is not an ESP-IDF partition table"
            )
        md5.update(e)
        _, ptype, subtype, offset, size, label, flags = struct.unpack(ENTRY_FORMAT, e)
        try:
            name = label.split(b"\0", 1)[0].decode()
        except UnicodeDecodeError:
            raise EdgeAIError(f"partition table: the name at {at:#x} is not text: the table is corrupt") from None
        flag_names = [n for n, bit in FLAGS.items() if flags >> bit & 1]
        rest = flags & ~sum(1 << bit for bit in FLAGS.values())
        if rest:
            flag_names.append(f"{rest:#x}")
        out.append(
            Partition(
                name,
                offset,
                size,
                _name_of(ptype, TYPES),
                _name_of(subtype, SUBTYPES.get(ptype, {})),
                ":".join(flag_names),
            )
        )
    raise EdgeAIError(f"partition table: no end marker within {PARTITION_TABLE_BYTES:#x} bytes: the table is corrupt")


def same_layout(a: tuple[Partition, ...] | list[Partition], b: tuple[Partition, ...] | list[Partition]) -> bool:
    """Whether two partition lists make the same binary table (names of types, subtypes and
    flags or their numbers alike)."""
    return [_key(p) for p in a] == [_key(p) for p in b]


# -- the firmware a build leaves --------------------------------------------------------------------
@dataclass(frozen=True)
class FirmwareFiles:
    """An ESP-IDF build's outputs: the bootloader, the partition table (optional) and the app
    (idf.py's or PlatformIO's names: edgeai.build.EspImages)."""

    bootloader: Path
    partitions: Path | None
    app: Path


def _check_esp(board: Board) -> None:
    if board.port != "esp-idf":
        raise EdgeAIError(
            f"board {board.name} is not an ESP-IDF board (port {board.port}): esptool flashes esp-idf boards"
        )


def default_firmware_dir(board: Board) -> Path:
    """Where `edgeai build` leaves the board's images: the newest complete build of idf.py's
    and PlatformIO's (idf.py's folder when neither has one)."""
    _check_esp(board)
    return _pick(board, esp_builds(board)).folder


def _pick(board: Board, builds: list[EspImages]) -> EspImages:
    """The newest complete build for the board's chip (a build whose chip is not known counts as
    one for it: the image header check catches another chip), else the first."""
    ok = [b for b in builds if b.complete and b.target in (None, board.chip)]
    return max(ok, key=lambda b: b.app.stat().st_mtime) if ok else builds[0]


def find_firmware(board: Board, firmware_dir: Path | None = None) -> FirmwareFiles:
    """The build's bootloader, partition table (optional) and app for ``board``: in
    ``firmware_dir`` if given (idf.py's or PlatformIO's layout), else where ``edgeai build``
    leaves them (idf.py: <project>/build/, PlatformIO: <project>/.pio/build/<env>/)."""
    _check_esp(board)
    if firmware_dir is not None:
        d = Path(firmware_dir)
        fw = _pick(board, [pio_images(d), idf_images(d)])
        searched = str(d)
    else:
        builds = esp_builds(board)
        fw = _pick(board, builds)
        searched = " or ".join(str(b.folder) for b in builds)
    if not fw.complete:
        if not any(b.folder.is_dir() for b in ([fw] if firmware_dir is not None else esp_builds(board))):
            what = "no such directory"
        else:
            missing = [p.name for p in (fw.bootloader, fw.app) if not p.is_file()]
            what = f"no {' or '.join(missing)}"
        raise EdgeAIError(
            f"{searched}: {what}: run `edgeai build --board {board.name}` (needs ESP-IDF or PlatformIO: "
            "pip install platformio) or pass --firmware DIR with the bootloader and the app "
            "(bootloader.bin and firmware.bin, or idf.py's build folder)"
        )
    return FirmwareFiles(fw.bootloader, fw.partitions if fw.partitions.is_file() else None, fw.app)


# -- esptool ------------------------------------------------------------------------------------------
def _esptool() -> Any:
    try:
        import esptool.cmds
    except ImportError:
        raise EdgeAIError("esptool is not installed: pip install 'esptool>=5,<6'") from None
    return esptool.cmds


def _norm_chip(name: str) -> str:
    """'ESP32-C3' and 'esp32c3' alike."""
    return re.sub(r"[-_()\s]", "", name.lower())


def _chip_class(board: Board) -> Any:
    _check_esp(board)
    cmds = _esptool()
    chip = _norm_chip(board.chip)
    if chip not in cmds.CHIP_DEFS:
        raise EdgeAIError(
            f"board {board.name}: esptool knows no chip {board.chip!r} (it knows {', '.join(cmds.CHIP_LIST)})"
        )
    return cmds.CHIP_DEFS[chip]


def _flash_size(board: Board) -> str:
    """board.flash['bytes'] as esptool names it ('4MB')."""
    n = board.flash_bytes
    arg = f"{n >> 20}MB" if n % (1 << 20) == 0 else f"{n >> 10}KB"
    if arg not in _chip_class(board).FLASH_SIZES:
        raise EdgeAIError(f"board {board.name}: {board.chip} has no {n:,}-byte flash size for esptool")
    return arg


def _flash_args(board: Board) -> dict[str, str]:
    return {
        "flash_mode": str(board.flash["mode"]),
        "flash_freq": str(board.flash["freq"]),
        "flash_size": _flash_size(board),
    }


class _Capture(EspLogBase):
    """esptool's logger for the length of one call: keeps its messages (so an error can cite
    them) and turns its progress bars into ``on_progress(done, total)``."""

    def __init__(self, on_progress: Callable[[int, int], None] | None = None) -> None:
        self.text: list[str] = []
        self.on_progress = on_progress
        self.on_line: Callable[[str], None] | None = None

    def _add(self, s: str) -> None:
        self.text.append(s)
        if self.on_line:
            for line in s.splitlines():
                self.on_line(line)

    def print(self, *args: Any, **kwargs: Any) -> None:
        sep, end = kwargs.get("sep", " "), kwargs.get("end", "\n")
        self._add(str(sep).join(str(a) for a in args) + str(end))

    def err(self, *args: Any, suggestion: str | None = None) -> None:
        self._add("Error: " + " ".join(str(a) for a in args) + "\n")

    def warn(self, *args: Any, suggestion: str | None = None) -> None:
        self._add("Warning: " + " ".join(str(a) for a in args) + "\n")

    def error(self, message: str, suggestion: str | None = None) -> None:
        self.err(message)

    def warning(self, message: str, suggestion: str | None = None) -> None:
        self.warn(message)

    def note(self, *args: Any) -> None:
        self._add("Note: " + " ".join(str(a) for a in args) + "\n")

    def hint(self, *args: Any) -> None:
        self._add("Hint: " + " ".join(str(a) for a in args) + "\n")

    def debug(self, *args: Any) -> None:
        pass

    def set_verbosity(self, mode: int | str) -> None:
        pass

    def progress_bar(
        self, cur_iter: int, total_iters: int, prefix: str = "", suffix: str = "", bar_length: int = 30
    ) -> None:
        if self.on_progress:
            self.on_progress(cur_iter, total_iters)

    def output(self) -> str:
        """What esptool said, as plain text (its Rich markup escapes undone)."""
        raw = "".join(self.text)
        try:
            from rich.text import Text

            return Text.from_markup(raw).plain
        except Exception:
            return raw

    def lines(self) -> list[str]:
        return [ln.strip() for ln in self.output().splitlines() if ln.strip()]


@contextmanager
def _captured(on_progress: Callable[[int, int], None] | None = None) -> Iterator[_Capture]:
    """Install a :class:`_Capture` as esptool's logger, and put the previous one back after."""
    _esptool()
    import esptool.reset
    import esptool.util

    cap = _Capture(on_progress)
    prev = EspLog.instance
    # The reset strategies' one-time warning ("Chip was NOT reset", on ports without RTS/DTR) is
    # bound to the logger esptool had when imported; point it at this one for the call too.
    strategy: Any = getattr(esptool.reset, "ResetStrategy", None)
    once = None if strategy is None else strategy.__dict__.get("print_once")
    EspLog.instance = cap
    if once is not None:
        strategy.print_once = esptool.util.PrintOnce(cap.warn)
    try:
        yield cap
    finally:
        EspLog.instance = prev
        if once is not None:
            strategy.print_once = once


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line.rstrip(".")
    return type(e).__name__


# -- the regions an ESP board's flash gets ------------------------------------------------------------
def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise EdgeAIError(f"{path}: cannot read the {what} ({e.strerror or e})") from None


def _check_image(board: Board, data: bytes, where: str, what: str) -> None:
    """An ESP image for this board's chip, whole (checksum and SHA-256 digest as esptool computes them)."""
    if not data or data[0] != IMAGE_MAGIC:
        got = f"{data[0]:#04x}" if data else "nothing"
        raise EdgeAIError(f"{where}: not an ESP {what} image (starts with {got}, not 0xe9): rebuild the firmware")
    cls = _chip_class(board)
    if len(data) < IMAGE_CHIP_ID_AT + 2:
        raise EdgeAIError(f"{where}: the {what} image is truncated ({len(data)} bytes): rebuild the firmware")
    chip_id = struct.unpack_from("<H", data, IMAGE_CHIP_ID_AT)[0]
    if chip_id != cls.IMAGE_CHIP_ID:
        cmds = _esptool()
        names = [c.CHIP_NAME for c in cmds.CHIP_DEFS.values() if getattr(c, "IMAGE_CHIP_ID", None) == chip_id]
        built = names[0] if names else f"chip id {chip_id}"
        raise EdgeAIError(
            f"{where}: the {what} is built for {built}, board {board.name} is an {cls.CHIP_NAME}: "
            f"build it with `edgeai build --board {board.name}`"
        )
    from esptool.bin_image import LoadFirmwareImage

    with _captured():
        try:
            image = LoadFirmwareImage(_norm_chip(board.chip), data)
        except Exception as e:
            raise EdgeAIError(f"{where}: esptool cannot read the {what} image ({_first_line(e)}): rebuild it") from None
    if image.checksum != image.calculate_checksum():
        raise EdgeAIError(f"{where}: the {what} image's checksum is wrong (the file is corrupt): rebuild it")
    if image.append_digest and image.stored_digest != image.calc_digest:
        raise EdgeAIError(f"{where}: the {what} image's SHA-256 digest is wrong (the file is corrupt): rebuild it")


def esp_regions(board: Board, fw: FirmwareFiles | None, blob: bytes | None) -> list[Region]:
    """What to write to an ESP board: bootloader, partition table and app from ``fw`` (None: leave
    the firmware as it is, write only the model), then the slot table and the model ``blob``."""
    _check_esp(board)
    if fw is None and blob is None:
        raise EdgeAIError("nothing to flash: give the firmware, a model, or both")
    out: list[Region] = []
    if fw is not None:
        boot_at, table_at, app_at = (int(board.flash[k]) for k in ("bootloader", "partition_table", "app"))
        boot = _read(fw.bootloader, "bootloader")
        _check_image(board, boot, str(fw.bootloader), "bootloader")
        if boot_at + len(boot) > table_at:
            raise EdgeAIError(
                f"{fw.bootloader}: the bootloader is {len(boot):,} bytes, {table_at - boot_at:,} fit before the "
                f"partition table at {table_at:#x} ({boot_at + len(boot) - table_at:,} bytes too many)"
            )
        out.append(Region("bootloader", boot_at, boot))

        if fw.partitions is not None:
            table = _read(fw.partitions, "partition table")
            theirs = read_partition_table_bin(table)
            if not same_layout(theirs, board.partitions):
                raise EdgeAIError(
                    f"{fw.partitions}: the firmware's partition table differs from board {board.name}'s "
                    f"({board.flash.get('partitions', 'boards/' + board.name + '.toml')}): the board file and the "
                    f"firmware disagree; rebuild with `edgeai build --board {board.name}`"
                )
        else:
            table = partition_table_bin(board.partitions)
        if len(table) > 0x1000:
            raise EdgeAIError(f"{fw.partitions}: a partition table takes at most 4096 bytes, this is {len(table):,}")
        out.append(Region("partition table", table_at, table))

        app = _read(fw.app, "app")
        factory = board.partition("factory")
        if factory.offset != app_at:
            raise EdgeAIError(
                f"board {board.name}: [flash] app is {app_at:#x} but the factory partition starts at "
                f"{factory.offset:#x}: fix the board file"
            )
        if len(app) > factory.size:
            raise EdgeAIError(
                f"{fw.app}: the app is {len(app):,} bytes, the factory partition holds {factory.size:,} "
                f"({len(app) - factory.size:,} bytes too many): make the firmware smaller or the partition bigger"
            )
        _check_image(board, app, str(fw.app), "app")
        out.append(Region("app", app_at, app))
    if blob is not None:
        out.extend(model_regions(board, blob))
    return out


def _check_regions(board: Board, regions: list[Region]) -> list[Region]:
    if not regions:
        raise EdgeAIError("nothing to flash")
    ordered = sorted(regions, key=lambda r: r.offset)
    for r in ordered:
        if r.offset < 0 or r.offset + len(r.data) > board.flash_bytes:
            raise EdgeAIError(
                f"{r.name} ({len(r.data):,} bytes at {r.offset:#x}) does not fit {board.name}'s "
                f"{board.flash_bytes:,}-byte flash"
            )
    for a, b in itertools.pairwise(ordered):
        if a.offset + len(a.data) > b.offset:
            raise EdgeAIError(f"{a.name} (up to {a.offset + len(a.data):#x}) overlaps {b.name} (at {b.offset:#x})")
    return ordered


def merge_esp(board: Board, regions: list[Region]) -> bytes:
    """One image of the board's whole flash (0xFF where nothing is written), as ``esptool
    merge-bin --format raw --pad-to-size`` makes it: esptool also sets the flash mode,
    frequency and size in the bootloader's header."""
    ordered = _check_regions(board, regions)
    cmds = _esptool()
    args = _flash_args(board)
    with _captured():
        try:
            data = cmds.merge_bin(
                [(r.offset, r.data) for r in ordered],
                chip=_norm_chip(board.chip),
                output=None,
                format="raw",
                pad_to_size=args["flash_size"],
                **args,
            )
        except Exception as e:
            raise EdgeAIError(f"esptool could not merge the image: {_first_line(e)}") from None
    if not isinstance(data, bytes) or len(data) != board.flash_bytes:
        raise EdgeAIError(f"esptool made a merged image of an unexpected size for {board.name}'s flash")
    return data


def app_image_info(data: bytes, chip: str | None = None) -> str:
    """What ``esptool image-info`` says about an application or bootloader image (header,
    segments, checksum, SHA-256 digest). ``chip`` None: read it from the image."""
    cmds = _esptool()
    if chip is not None and _norm_chip(chip) not in cmds.CHIP_DEFS:
        raise EdgeAIError(f"esptool knows no chip {chip!r} (it knows {', '.join(cmds.CHIP_LIST)})")
    with _captured() as cap:
        try:
            cmds.image_info(bytes(data), chip=None if chip is None else _norm_chip(chip))
        except Exception as e:
            raise EdgeAIError(f"not an ESP image esptool can read: {_first_line(e)}") from None
    return cap.output()


# -- writing a board's flash ----------------------------------------------------------------------------
def _port_error(port: str, e: BaseException) -> EdgeAIError:
    """A failure to open or talk to ``port``, as one line that says what to do."""
    text = str(e)
    if re.search(r"Errno 2\b|No such file|FileNotFoundError|could not find", text, re.I):
        return EdgeAIError(f"{port}: no such serial port: check the port name and that the board is plugged in")
    if re.search(r"Permission denied|Errno 13\b", text, re.I):
        return EdgeAIError(
            f"{port}: permission denied: add yourself to the dialout group (sudo usermod -aG dialout $USER), "
            "then log in again"
        )
    if re.search(r"exclusively lock|Errno 11\b|Errno 16\b|resource busy|Access is denied", text, re.I):
        return EdgeAIError(
            f"{port} is busy: close the program using it (a serial monitor, another flash) and try again"
        )
    if re.search(r"Failed to connect|No serial data received|Timed out waiting for packet", text, re.I):
        return EdgeAIError(f"{port}: no ESP chip answered: hold BOOT and press RESET, check the cable and the port")
    if re.search(r"Could not open", text, re.I):
        return EdgeAIError(f"{port}: could not open the port ({_first_line(e)})")
    return EdgeAIError(f"{port}: {_first_line(e)}")


def flash_esp(
    board: Board,
    port: str,
    regions: list[Region],
    baud: int = 460800,
    progress: Progress | None = None,
    verify: bool = True,
    connect_attempts: int | None = None,
) -> str:
    """Write ``regions`` to the ESP chip on ``port`` with esptool and reset it to run them.
    Returns the chip's name as esptool reports it (e.g. 'ESP32-C3')."""
    ordered = _check_regions(board, regions)
    cls = _chip_class(board)
    cmds = _esptool()
    import serial

    args = _flash_args(board)
    addr_data = [(r.offset, r.data) for r in ordered]
    names = {r.offset: r.name for r in ordered}
    stage = {"name": ordered[0].name}

    def report(done: int, total: int) -> None:
        if progress:
            progress(stage["name"], done, total)

    def follow(line: str) -> None:  # write_flash announces each region before writing it
        m = re.search(r"Writing .* at (0x[0-9a-fA-F]+)\.\.\.", line)
        if m and int(m.group(1), 16) in names:
            stage["name"] = names[int(m.group(1), 16)]

    esp: Any = None
    phase = "connect"
    with _captured(report) as cap:
        cap.on_line = follow
        try:
            if progress:
                progress("connect", 0, 1)
            initial = min(int(cmds.ESPLoader.ESP_ROM_BAUD), baud)
            attempts = cmds.DEFAULT_CONNECT_ATTEMPTS if connect_attempts is None else connect_attempts
            esp = cmds.detect_chip(port, initial, connect_attempts=attempts)
            if _norm_chip(esp.CHIP_NAME) != _norm_chip(cls.CHIP_NAME):
                raise EdgeAIError(
                    f"{port}: found an {esp.CHIP_NAME}, but board {board.name} is an {cls.CHIP_NAME}: "
                    "pass the --board of the chip on that port"
                )
            esp = cmds.run_stub(esp)
            if baud > initial:
                try:
                    esp.change_baud(baud)
                except cmds.NotImplementedInROMError:
                    pass  # the ROM loader keeps the initial baud rate
            cmds.attach_flash(esp)
            if progress:
                progress("connect", 1, 1)
            phase = "write"
            cmds.write_flash(esp, addr_data, **args)
            if verify:
                phase = "verify"
                if progress:
                    progress("verify", 0, 1)
                cmds.verify_flash(esp, addr_data, **args)
                if progress:
                    progress("verify", 1, 1)
            phase = "reset"
            cmds.reset_chip(esp, "hard-reset")
            return str(esp.CHIP_NAME)
        except EdgeAIError:
            raise
        except KeyboardInterrupt:
            raise
        except (cmds.FatalError, serial.SerialException, OSError) as e:
            raise _flash_error(port, phase, e, cap) from None
        except Exception as e:  # esptool has more error types than it documents
            raise EdgeAIError(f"{port}: esptool failed while {_PHASES[phase]}: {_first_line(e)}") from None
        finally:
            if esp is not None:
                try:
                    esp._port.close()
                except Exception:
                    pass


_PHASES = {
    "connect": "connecting",
    "write": "writing the flash",
    "verify": "verifying the flash",
    "reset": "resetting the chip",
}


def _flash_error(port: str, phase: str, e: BaseException, cap: _Capture) -> EdgeAIError:
    if phase == "connect":
        return _port_error(port, e)
    text = str(e)
    if "does not match data in flash" in text or "Verification failed" in text or "region is empty" in text:
        return EdgeAIError(
            f"{port}: the flash does not hold what was written ({_first_line(e)}): try again, at a lower --baud"
        )
    if isinstance(e, OSError) or "serial" in type(e).__module__:
        return EdgeAIError(
            f"{port}: the serial link failed while {_PHASES[phase]} ({_first_line(e)}): "
            "check the cable and try again, at a lower --baud"
        )
    said = [ln for ln in cap.lines() if ln.startswith(("Error:", "Warning:"))]
    extra = f" (esptool: {said[-1]})" if said else ""
    return EdgeAIError(f"{port}: esptool failed while {_PHASES[phase]}: {_first_line(e)}{extra}")
