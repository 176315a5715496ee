"""The RV32IMC firmware's size (qemu-rv32 build), split into core, kernels, port and libc.

    python benchmarks/codesize.py [--json FILE]

Builds the firmware with `make -C firmware qemu`, prints `size` on the ELF, then splits every
input section the linker kept (from the link map) by the source folder it came from:
core = runtime/ + link/ + app/ + text/, kernels = kernels/, port = ports/qemu-rv32/, libc = picolibc
and libgcc. Flash = text + rodata + data (the load image); RAM = data + bss (the activation
arena is most of bss: EAI_APP_ARENA_BYTES).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeai.boards import load_board  # noqa: E402
from edgeai.build import build_firmware  # noqa: E402

GROUPS = ("core", "kernels", "port", "libc")
KINDS = ("text", "rodata", "data", "bss")
# an input section line of a GNU ld map: " .text.name  0xADDR  0xSIZE file" (the name may sit alone
# on the line before when it is long)
_LINE = re.compile(r"^ (\.[\w.$]+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$")


def group_of(path: str) -> str | None:
    if "/obj/kernels/" in path:
        return "kernels"
    if any(f"/obj/{d}/" in path for d in ("runtime", "link", "app", "text")):
        return "core"
    if "/obj/ports/" in path:
        return "port"
    if "libc.a" in path or "libgcc.a" in path:
        return "libc"
    return None


def kind_of(section: str) -> str | None:
    if section.startswith(".text"):
        return "text"
    if section.startswith((".rodata", ".srodata")):
        return "rodata"
    if section.startswith((".data", ".sdata", ".ramfunc")):
        return "data"
    if section.startswith((".bss", ".sbss")) or section == "COMMON":
        return "bss"
    return None


def split(map_text: str) -> dict[str, dict[str, int]]:
    out = {g: dict.fromkeys(KINDS, 0) for g in GROUPS}
    body = map_text.split("Linker script and memory map", 1)[1]
    pending = None
    for line in body.splitlines():
        m = _LINE.match(line)
        if m is None:
            alone = re.match(r"^ (\.[\w.$]+|COMMON)\s*$", line)
            pending = alone.group(1) if alone else None
            continue
        section = m.group(1) or pending
        pending = None
        if section is None or int(m.group(2), 16) == 0:
            continue
        group, kind = group_of(m.group(4)), kind_of(section)
        if group and kind:
            out[group][kind] += int(m.group(3), 16)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the table as JSON")
    args = ap.parse_args()
    board = load_board("qemu-rv32")
    build_firmware(board)
    elf = ROOT / str(board.build["elf"])
    size = subprocess.run(["riscv64-unknown-elf-size", str(elf)], capture_output=True, text=True, check=True)
    print(f"$ riscv64-unknown-elf-size {elf.relative_to(ROOT)}")
    print(size.stdout.rstrip())
    print()
    table = split((elf.parent / "edgeai.map").read_text())
    print(f"{'part':<8} {'text':>8} {'rodata':>8} {'data':>6} {'bss':>8} {'flash':>8} {'RAM':>8}")
    totals = dict.fromkeys(KINDS, 0)
    for g in GROUPS:
        row = table[g]
        for k in KINDS:
            totals[k] += row[k]
        flash = row["text"] + row["rodata"] + row["data"]
        print(f"{g:<8} {row['text']:>8,} {row['rodata']:>8,} {row['data']:>6,} {row['bss']:>8,} {flash:>8,} "
              f"{row['data'] + row['bss']:>8,}")  # fmt: skip
    flash = totals["text"] + totals["rodata"] + totals["data"]
    print(f"{'total':<8} {totals['text']:>8,} {totals['rodata']:>8,} {totals['data']:>6,} {totals['bss']:>8,} "
          f"{flash:>8,} {totals['data'] + totals['bss']:>8,}")  # fmt: skip
    print(f"(bss includes the {board.arena_bytes:,}-byte activation arena; the ELF adds a 16 KiB stack; flash "
          "excludes the model, which lives in a slot)")
    if args.json:
        Path(args.json).write_text(json.dumps({"parts": table, "total": totals}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
