"""The quantization report: one HTML page with PNG plots, written to a folder."""

from __future__ import annotations

import html
import math
from pathlib import Path

from .compiler import Compiled
from .errors import EdgeAIError
from .evaluate import Evaluation

GOOD_DB = 30.0  # at or above: int8 noise is negligible for classification
FAIR_DB = 20.0  # below: look at this layer


def _plot_layers(ev: Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"#{layer.index} {layer.op}" for layer in ev.layers]
    finite = [layer.sqnr_db for layer in ev.layers if math.isfinite(layer.sqnr_db)]
    cap = max(finite, default=60.0) + 5.0
    values = [layer.sqnr_db if math.isfinite(layer.sqnr_db) else cap for layer in ev.layers]
    colors = ["#2e7d32" if v >= GOOD_DB else "#ef6c00" if v >= FAIR_DB else "#c62828" for v in values]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.5))
    ax.barh(range(len(values)), values, color=colors)
    ax.set_yticks(range(len(values)), labels)
    ax.invert_yaxis()
    ax.axvline(GOOD_DB, color="#888", linestyle="--", linewidth=1)
    ax.axvline(FAIR_DB, color="#888", linestyle=":", linewidth=1)
    ax.set_xlabel("SQNR of int8 against float (dB, higher is better)")
    ax.set_title("Quantization error per layer")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f} %"


def _db(x: float) -> str:
    return "exact" if math.isinf(x) and x > 0 else f"{x:.1f} dB"


def write_report(directory: str | Path, model: str, compiled: Compiled, ev: Evaluation, method: str) -> Path:
    """Write ``index.html`` and its plots into ``directory``; returns the page's path."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
        _plot_layers(ev, d / "sqnr_per_layer.png")
    except OSError as e:
        raise EdgeAIError(f"{d}: cannot write the report ({e.strerror})") from None
    rows = "\n".join(
        f"<tr class='{'good' if layer.sqnr_db >= GOOD_DB else 'fair' if layer.sqnr_db >= FAIR_DB else 'bad'}'>"
        f"<td>{layer.index}</td><td>{html.escape(layer.op)}</td><td>{html.escape(layer.name)}</td>"
        f"<td>{_db(layer.sqnr_db)}</td></tr>"
        for layer in ev.layers
    )
    summary = [
        ("model", html.escape(model)),
        ("calibration method", method),
        ("evaluation samples", str(ev.samples)),
        ("float reference", ev.float_backend),
        ("top-1 agreement, int8 vs float", _pct(ev.top1_agreement)),
        ("accuracy, float", _pct(ev.float_accuracy)),
        ("accuracy, int8", _pct(ev.int8_accuracy)),
        ("output SQNR", _db(ev.sqnr_db)),
        ("blob", f"{compiled.blob_bytes:,} bytes (weights {compiled.weights_bytes:,})"),
        ("arena", f"{compiled.arena_bytes:,} bytes (lower bound {compiled.arena_lower_bound_bytes:,})"),
    ]
    table = "\n".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in summary)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgeai quantization report: {html.escape(model)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 60em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }}
tr.good td:last-child {{ color: #2e7d32; }} tr.fair td:last-child {{ color: #ef6c00; }}
tr.bad td:last-child {{ color: #c62828; font-weight: bold; }}
</style></head><body>
<h1>Quantization report</h1>
<table>{table}</table>
<h2>Error per layer</h2>
<p>Signal-to-quantization-noise ratio of each layer's int8 output (dequantized) against the float
model's, summed over the evaluation samples. Green is {GOOD_DB:.0f} dB or more; red is below
{FAIR_DB:.0f} dB.</p>
<img src="sqnr_per_layer.png" alt="SQNR per layer">
<table><tr><th>#</th><th>operator</th><th>output tensor</th><th>SQNR</th></tr>
{rows}
</table>
</body></html>
"""
    out = d / "index.html"
    out.write_text(page, encoding="utf-8")
    return out
