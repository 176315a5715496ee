"""Retired RV32IMC instructions per inference of the four MLPerf Tiny models on the qemu-rv32
board (QEMU -icount shift=0: exact, the same on every run), and instructions per MAC per layer
type.

    python benchmarks/rv32.py [--json FILE]

Each model is compiled, flashed into a fresh flash file with the firmware (edgeai flash), and
benched twice (edgeai bench); the script fails if two runs disagree.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeai.bench import BenchResult, bench  # noqa: E402
from edgeai.boards import load_board  # noqa: E402
from edgeai.compiler import compile_model  # noqa: E402
from edgeai.device import Device  # noqa: E402
from edgeai.flash import flash  # noqa: E402

MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"
MODELS = {
    "kws01": "kws01/kws_ref_model.tflite",
    "vww01": "vww01/vww_96_int8.tflite",
    "ic01": "ic01/pretrainedResnet_quant.tflite",
    "ad01": "ad01/ad01_int8.tflite",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write all results as JSON")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    if not MLPERF.exists():
        print(f"{MLPERF} is absent: the MLPerf Tiny models are read from ../shared", file=sys.stderr)
        return 1
    board = load_board("qemu-rv32")
    results: dict[str, BenchResult] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, rel in MODELS.items():
            data = compile_model(MLPERF / rel).data
            flash_file = Path(tmp) / f"{name}.bin"
            flash(board, data, flash_file=flash_file)
            with Device.open(board="qemu-rv32", flash=flash_file) as dev:
                results[name] = bench(dev, data, board, name=name, runs=args.runs)
            if results[name].repeatable is False:
                print(f"{name}: instruction counts differ between runs", file=sys.stderr)
                return 1
    print(f"qemu-rv32 (RV32IMC, -icount shift=0), {args.runs} runs per model: every run gave the same counts")
    print()
    print(f"{'model':<7} {'ops':>4} {'MACs':>12} {'instructions':>14} {'instr/MAC':>9} {'ms at 160 MHz':>14}")
    for name, r in results.items():
        print(f"{name:<7} {len(r.layers):>4} {r.macs:>12,} {r.total_instructions or 0:>14,} "
              f"{r.instructions_per_mac or 0:>9.2f} {1e3 * r.seconds:>14.1f}")  # fmt: skip
    print()
    print("instructions per MAC by layer type (summed over the model's layers of that type)")
    types = sorted({t.op for r in results.values() for t in r.by_type if t.macs})
    print(f"{'operator':<20}" + "".join(f" {n:>9}" for n in results))
    for op in types:
        cells = []
        for r in results.values():
            t = next((t for t in r.by_type if t.op == op), None)
            ipm = t.instructions_per_mac if t else None
            cells.append(f"{ipm:>9.2f}" if ipm is not None else f"{'-':>9}")
        print(f"{op:<20}" + "".join(f" {c}" for c in cells))
    print()
    print("instructions of the layers without MACs, per output element")
    others = sorted({t.op for r in results.values() for t in r.by_type if not t.macs})
    print(f"{'operator':<20}" + "".join(f" {n:>9}" for n in results))
    for op in others:
        cells = []
        for r in results.values():
            layers = [x for x in r.layers if x.op == op]
            elems = sum(1 if not x.output_shape else math.prod(x.output_shape) for x in layers)
            instr = sum(x.instructions or 0 for x in layers)
            cells.append(f"{instr / elems:>9.1f}" if layers else f"{'-':>9}")
        print(f"{op:<20}" + "".join(f" {c}" for c in cells))
    if args.json:
        Path(args.json).write_text(json.dumps({k: r.to_dict() for k, r in results.items()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
