"""Long fuzzing run of the C blob loader (ASan + UBSan build) on the four MLPerf Tiny models.

Usage: make fuzz  (or: python benchmarks/fuzz_loader.py --iterations 200000 [--seed S])
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgeai.compiler import compile_model
from edgeai.native import ROOT


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--iterations", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--models", default=str(ROOT.parent / "shared/models/mlperf-tiny"))
    args = ap.parse_args()
    fuzz = ROOT / "build" / "host-san" / "eai_fuzz"
    if not fuzz.exists():
        print(f"{fuzz} is missing: run `make -C firmware SAN=1 tools`", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        blobs = []
        for model in sorted(Path(args.models).glob("*/*.tflite")):
            p = Path(tmp) / f"{model.stem}.eai"
            p.write_bytes(compile_model(model).data)
            blobs.append(str(p))
        if not blobs:
            print(f"no .tflite models under {args.models}", file=sys.stderr)
            return 1
        print(f"seed {args.seed}, {args.iterations} mutants per model", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([str(fuzz), "--iterations", str(args.iterations), "--seed", str(args.seed), *blobs])
        print(f"{time.perf_counter() - t0:.0f} s")
        return rc


if __name__ == "__main__":
    sys.exit(main())
