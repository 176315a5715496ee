"""The MLPerf Tiny models as fuzzing seeds for the C blob loader.

Usage:
  make fuzz  (writes the seeds, then runs the libFuzzer targets: firmware/tests/fuzz/README.md)
  python benchmarks/fuzz_loader.py --write-seeds DIR
      compile the four models to DIR/<name>.eai, the loader target's extra seeds; without the
      models (../shared/models/mlperf-tiny) it writes nothing and says so
  python benchmarks/fuzz_loader.py --iterations 200000 [--seed S]
      the blind mutation fuzzer (eai_fuzz, ASan + UBSan build) on the four models
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


def write_blobs(models: Path, out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    blobs = []
    for model in sorted(models.glob("*/*.tflite")):
        p = out / f"{model.stem}.eai"
        p.write_bytes(compile_model(model).data)
        blobs.append(str(p))
    return blobs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-seeds", metavar="DIR", help="write the models as .eai seeds to DIR and exit")
    ap.add_argument("--iterations", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--models", default=str(ROOT.parent / "shared/models/mlperf-tiny"))
    args = ap.parse_args()
    if args.write_seeds:
        blobs = write_blobs(Path(args.models), Path(args.write_seeds))
        print(f"fuzz_loader: {len(blobs)} MLPerf Tiny seeds in {args.write_seeds}"
              + ("" if blobs else f" (no .tflite models under {args.models})"))
        return 0
    fuzz = ROOT / "build" / "host-san" / "eai_fuzz"
    if not fuzz.exists():
        print(f"{fuzz} is missing: run `make -C firmware SAN=1 tools`", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        blobs = write_blobs(Path(args.models), Path(tmp))
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
