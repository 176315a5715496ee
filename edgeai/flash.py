"""``edgeai flash``: put the firmware and, optionally, a model into a board's flash.

ESP32 boards are flashed through esptool's Python API (bootloader, partition table, app, and
the model in its partitions, at the board file's offsets), or their merged image is written
offline with esptool's merge_bin. The emulated boards' flash is a file: flashing writes it, and
``--output`` writes the same image elsewhere (the qemu-rv32 board boots from it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .boards import Board
from .build import build_firmware
from .errors import EdgeAIError
from .flashimage import Progress, Region, merge_image, model_regions, write_flash_file
from .transport import default_flash


@dataclass(frozen=True)
class FlashResult:
    board: str
    target: str  # the port, the flash file or the output image
    regions: list[tuple[str, int, int]]  # (what, offset, bytes)


def plan_regions(board: Board, blob: bytes | None, model_only: bool, firmware_dir: Path | None) -> list[Region]:
    """What ``edgeai flash`` writes where, for any board."""
    if model_only and blob is None:
        raise EdgeAIError("--model-only needs --model MODEL.eai")
    if board.upload.get("tool") == "esptool":
        from .esp import esp_regions, find_firmware

        fw = None if model_only else find_firmware(board, firmware_dir)
        return esp_regions(board, fw, blob)
    regions: list[Region] = []
    if board.port == "qemu-rv32" and not model_only:
        app = (firmware_dir / "edgeai.bin").read_bytes() if firmware_dir else build_firmware(board).read_bytes()
        app_size = board.flash.get("app_bytes", board.partition("eai_table").offset - int(board.flash.get("app", 0)))
        if len(app) > app_size:
            raise EdgeAIError(f"the firmware is {len(app):,} bytes, the app region holds {app_size:,} "
                              f"({len(app) - app_size:,} bytes too many)")  # fmt: skip
        regions.append(Region("app", int(board.flash.get("app", 0)), app))
    if blob is not None:
        regions += model_regions(board, blob)
    if not regions:
        raise EdgeAIError(f"nothing to flash: the {board.name} board's firmware is not in its flash; give --model")
    return regions


def flash(board: Board, blob: bytes | None = None, *, port: str | None = None, output: Path | None = None,
          flash_file: Path | None = None, model_only: bool = False, firmware_dir: Path | None = None,
          baud: int | None = None, progress: Progress | None = None) -> FlashResult:  # fmt: skip
    regions = plan_regions(board, blob, model_only, firmware_dir)
    summary = [(r.name, r.offset, len(r.data)) for r in regions]
    esp = board.upload.get("tool") == "esptool"
    if output is not None:
        if esp:
            from .esp import merge_esp

            image = merge_esp(board, regions)
        else:
            image = merge_image(board.flash_bytes, regions)
        try:
            output.write_bytes(image)
        except OSError as e:
            raise EdgeAIError(f"{output}: cannot write the image ({e.strerror})") from None
        return FlashResult(board.name, str(output), summary)
    if esp:
        if not port:
            raise EdgeAIError(f"flashing {board.name} needs --port PORT (e.g. /dev/ttyUSB0) or --output FILE")
        from .esp import flash_esp

        flash_esp(board, port, regions, baud=baud or 460800, progress=progress)
        return FlashResult(board.name, port, summary)
    if port:
        raise EdgeAIError(f"the {board.name} board's flash is a file: leave out --port (or give --flash FILE)")
    target = flash_file or default_flash(board)
    write_flash_file(target, board.flash_bytes, regions, progress)
    return FlashResult(board.name, str(target), summary)
