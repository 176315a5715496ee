"""Print a table of the MLPerf Tiny models as edgeai compiles them: ops, weights, blob size
against the .tflite, arena against its liveness lower bound, and compile time."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from edgeai.compiler import compile_model

MODELS = {
    "kws01": "kws01/kws_ref_model.tflite",
    "vww01": "vww01/vww_96_int8.tflite",
    "ic01": "ic01/pretrainedResnet_quant.tflite",
    "ad01": "ad01/ad01_int8.tflite",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "shared/models/mlperf-tiny"))
    args = ap.parse_args()
    root = Path(args.models)
    print(
        "| model | ops | weights B | blob B | .tflite B | blob/tflite | arena B | lower bound B "
        "| arena/bound | compile s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rel in MODELS.items():
        path = root / rel
        if not path.exists():
            print(f"| {name} | (absent: {path}) |||||||||")
            continue
        t0 = time.perf_counter()
        c = compile_model(path)
        dt = time.perf_counter() - t0
        size = path.stat().st_size
        print(
            f"| {name} | {len(c.blob.ops)} | {c.weights_bytes} | {c.blob_bytes} | {size} | {c.blob_bytes / size:.3f} "
            f"| {c.arena_bytes} | {c.arena_lower_bound_bytes} | {c.arena_bytes / c.arena_lower_bound_bytes:.3f} "
            f"| {dt:.2f} |"
        )


if __name__ == "__main__":
    main()
