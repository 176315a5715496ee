"""The test harness report (``edgeai test --report DIR``): one HTML page with PNG plots beside it,
for deciding whether a board agrees with the host and where its time goes. It shows the verdict
per board, each layer's cost and share, the first layer that differs (when a layer diff ran),
the arena's use over the op sequence, the model's bytes by what they hold, and every vector."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .bench import LayerCost
from .blob import read_blob
from .errors import EdgeAIError
from .harness import BoardRun, HarnessRun, VectorResult, arena_timeline, size_breakdown

MAX_TIMED_OPS = 255  # the firmware times at most this many layers

GREEN = "#2e7d32"
ORANGE = "#ef6c00"
RED = "#c62828"
BLUE = "#1565c0"
GREY = "#9e9e9e"
PALETTE = ("#6a1b9a", "#00838f", "#ad1457", "#4e342e", "#283593")  # board capacity lines

OUR_PNGS = ("latency_*.png", "diff_*.png", "arena.png", "size.png")


# -- formatting -------------------------------------------------------------------------------------
def _e(x: object) -> str:
    return html.escape(str(x))


def _int(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def _bytes(n: int) -> str:
    if n >= 1 << 20:
        return f"{n:,} bytes ({n / (1 << 20):.1f} MiB)"
    if n >= 1 << 10:
        return f"{n:,} bytes ({n / (1 << 10):.1f} KiB)"
    return f"{n:,} bytes"


def _time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:,.2f} ms"
    return f"{seconds:,.2f} s"


def _hz(hz: int) -> str:
    if hz >= 1_000_000_000 and hz % 1_000_000 == 0:
        return f"{hz / 1e9:g} GHz"
    if hz >= 1_000_000:
        return f"{hz / 1e6:g} MHz"
    return f"{hz:,} Hz"


def _pct(x: float) -> str:
    return "<0.1 %" if 0 < x < 0.0005 else f"{100 * x:.1f} %"


def _shape(shape: Sequence[int]) -> str:
    return "×".join(str(s) for s in shape)


def _params(params: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "no params"


def _name(name: str, width: int = 40) -> str:
    """A tensor name for a table cell: converted TFLite names run to hundreds of characters, so
    long ones show their end (the op that made them), the whole name in a tooltip."""
    short = name if len(name) <= width else "…" + name[-(width - 1) :]
    return f"<span class='name' title='{_e(name)}'>{_e(short)}</span>"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _mean_instructions(vectors: Sequence[VectorResult]) -> float | None:
    counts = [v.instructions for v in vectors]
    if not counts or any(c is None for c in counts):
        return None
    return sum(c for c in counts if c is not None) / len(counts)


def _layer_values(layers: Sequence[LayerCost]) -> tuple[list[int], str]:
    """What a layer's cost is measured in: retired instructions when the board counts them
    for every layer, else cycles."""
    if layers and all(layer.instructions is not None for layer in layers):
        return [layer.instructions or 0 for layer in layers], "instructions"
    return [layer.cycles for layer in layers], "cycles"


def _board_title(r: BoardRun) -> str:
    return r.target if r.board in (r.target, "?") else f"{r.target} ({r.board})"


# -- plots ------------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bar_height(n: int) -> float:
    return 0.32 * n + 1.6 if n <= 60 else 0.22 * n + 1.6


def _plot_latency(r: BoardRun, path: Path) -> None:
    plt = _pyplot()
    values, unit = _layer_values(r.layers)
    total = sum(values) or 1
    labels = [f"#{layer.index} {layer.op}" for layer in r.layers]
    fig, ax = plt.subplots(figsize=(9, _bar_height(len(values))))
    ax.barh(range(len(values)), values, color=BLUE)
    ax.set_yticks(range(len(values)), labels)
    ax.set_ylim(len(values) - 0.4, -0.6)
    top = max(values, default=0) or 1
    ax.set_xlim(0, top * 1.18)
    for k, v in enumerate(values):
        ax.text(v + top * 0.01, k, _pct(v / total), va="center", fontsize=8, color="#333")
    counted = f" ({r.counters})" if r.counters and unit == "cycles" else ""
    ax.set_xlabel(f"{unit} per layer{counted}")
    ax.set_title(f"Cost per layer on {_board_title(r)}: {unit}, share of the layers' sum")
    ax.ticklabel_format(axis="x", style="plain")
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _p: f"{x:,.0f}"))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_diff(r: BoardRun, path: Path) -> None:
    """Share of each layer's values that differ, on a log scale so that one value in thousands
    still shows; the first differing layer in red, the later ones (which may only inherit its
    error) in orange."""
    plt = _pyplot()
    first = r.first_bad_layer
    pcts = [100 * d.mismatched / d.compared if d.compared else 0.0 for d in r.diff]
    lo = 10 ** math.floor(math.log10(min((p for p in pcts if p > 0), default=1.0))) / 2
    colors = [RED if first is not None and d.index == first.index else ORANGE for d in r.diff]
    fig, ax = plt.subplots(figsize=(9, _bar_height(len(r.diff))))
    ax.set_xscale("log")
    ax.barh(range(len(pcts)), [p - lo if p > 0 else 0 for p in pcts], left=lo, color=colors)
    ax.set_yticks(range(len(pcts)), [f"#{d.index} {d.op}" for d in r.diff])
    ax.set_ylim(len(pcts) - 0.4, -0.6)
    ax.set_xlim(lo, 100 * 40)  # room right of 100 % for the notes
    decades = [10.0**e for e in range(math.ceil(math.log10(lo)), 3)]
    ax.set_xticks(decades, [f"{x:g} %" for x in decades])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.axvline(100, color="#bbb", linewidth=1)
    for k, (d, p) in enumerate(zip(r.diff, pcts, strict=True)):
        if d.identical:
            ax.text(lo * 1.15, k, "identical", va="center", fontsize=8, color=GREY)
        else:
            note = f"{d.mismatched:,}/{d.compared:,}, max |diff| {d.max_abs_diff}"
            ax.text(p * 1.12, k, note, va="center", fontsize=8, color="#333")
    for label, d in zip(ax.get_yticklabels(), r.diff, strict=True):
        if first is not None and d.index == first.index:
            label.set_color(RED)
            label.set_fontweight("bold")
    ax.set_xlabel("share of the layer's output values that differ from edgeai.ref (log scale)")
    ax.set_title(f"Layer diff on {_board_title(r)}, vector {r.diff_vector}: first differing layer in red")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_arena(
    timeline: Sequence[tuple[int, int, int]], ops: Sequence[str], planned: int, runs: Sequence[BoardRun], path: Path
) -> None:
    """The arena over the op sequence, with each board's capacity where the scale allows."""
    plt = _pyplot()
    xs = [k for k, _, _ in timeline]
    live = [v for _, v, _ in timeline]
    high = [h for _, _, h in timeline]
    caps: dict[int, list[str]] = {}
    for r in runs:
        if r.error is None and r.arena_capacity > 0:
            caps.setdefault(r.arena_capacity, []).append(r.target)
    scale = max(planned, *high, *live, 1)
    shown = {c: names for c, names in caps.items() if c <= 3 * scale}
    off = [f"{', '.join(names)}: {c:,} bytes" for c, names in sorted(caps.items()) if c not in shown]
    fig, ax = plt.subplots(figsize=(10.4, 4.6))
    edges = [*xs, len(xs)]
    ax.stairs(live, edges, baseline=None, color=BLUE, linewidth=2, label="live activations")
    ax.stairs(high, edges, baseline=None, color=ORANGE, linewidth=2, linestyle="--", label="highest arena byte in use")
    ax.axhline(planned, color=GREEN, linewidth=1.5, label=f"planned arena: {planned:,} bytes")
    for k, (c, names) in enumerate(sorted(shown.items())):
        color = RED if c < planned else PALETTE[k % len(PALETTE)]
        ax.axhline(
            c,
            color=color,
            linewidth=1.5,
            linestyle=":",
            label=f"capacity of {', '.join(names)}: {c:,} bytes{' (too small)' if c < planned else ''}",
        )
    top = max(scale, *shown) if shown else scale
    ax.set_ylim(0, top * 1.15)
    ax.set_xlim(0, len(xs))
    if len(ops) <= 40:
        ticks = [k + 0.5 for k in xs]
        ax.set_xticks(
            ticks,
            [f"#{k} {op}" for k, op in zip(xs, ops, strict=True)],
            rotation=45,
            ha="right",
            rotation_mode="anchor",
            fontsize=8,
        )
    else:
        ax.set_xlabel("op index")
    ax.set_ylabel("bytes")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _p: f"{y:,.0f}"))
    title = "Arena use over the op sequence"
    if off:
        title += f"\n(capacity above this scale: {'; '.join(off)})"
    ax.set_title(title, fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(axis="y", color="#eee")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_size(sizes: dict[str, int], total: int, path: Path) -> None:
    plt = _pyplot()
    items = sorted(sizes.items(), key=lambda kv: -kv[1])
    values = [v for _, v in items]
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(items) + 1.4))
    colors = [GREY if k == "records, names, alignment" else BLUE for k, _ in items]
    ax.barh(range(len(items)), values, color=colors)
    ax.set_yticks(range(len(items)), [k for k, _ in items])
    ax.set_ylim(len(items) - 0.4, -0.6)
    top = max(values, default=0) or 1
    ax.set_xlim(0, top * 1.3)
    for k, v in enumerate(values):
        ax.text(v + top * 0.01, k, f"{v:,} B, {_pct(v / (total or 1))}", va="center", fontsize=8, color="#333")
    ax.set_xlabel("bytes")
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _p: f"{x:,.0f}"))
    ax.set_title(f"Model blob: {total:,} bytes by what they hold")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- page sections ------------------------------------------------------------------------------------
def _verdict(run: HarnessRun) -> str:
    if not run.runs:
        return "<p class='banner fail'>FAIL: no board was tested</p>"
    if run.ok:
        total = sum(len(r.vectors) for r in run.runs)
        boards = ", ".join(r.target for r in run.runs)
        return f"<p class='banner pass'>PASS: all {total} vector runs bit-exact with the host on {_e(boards)}</p>"
    why = []
    for r in run.runs:
        if r.error is not None:
            why.append(f"{r.target} could not be tested")
        elif not r.vectors:
            why.append(f"{r.target} ran no vectors")
        elif r.passed < len(r.vectors):
            why.append(f"{len(r.vectors) - r.passed} of {len(r.vectors)} vectors differ on {r.target}")
    return f"<p class='banner fail'>FAIL: {_e('; '.join(why))}</p>"


def _capacity(r: BoardRun, arena: int) -> str:
    if r.arena_capacity <= 0:
        return "—"
    fits = "fits" if arena <= r.arena_capacity else "<b class='bad'>does not fit</b>"
    return f"{r.arena_capacity:,} bytes ({fits}, {_e(_pct(arena / r.arena_capacity))} used)"


def _boards_table(run: HarnessRun) -> str:
    counts_instr = any(_mean_instructions(r.vectors) is not None for r in run.runs)
    head = ["target", "board", "firmware", "vectors passed", "mean cycles / inference"]
    if counts_instr:
        head.append("mean instructions / inference")
    head += ["time / inference", "model", "wall time"]
    rows = []
    for r in run.runs:
        cells = [_e(r.target), _e(r.board)]
        if r.error is not None:
            rows.append(
                f"<tr class='bad'><td>{cells[0]}</td><td>{cells[1]}</td><td colspan='{len(head) - 2}'>"
                f"could not be tested: {_e(r.error)}</td></tr>"
            )
            continue
        status = "good" if r.ok else "bad"
        cycles = _mean([v.cycles for v in r.vectors])
        seconds = _mean([v.seconds for v in r.vectors])
        at = f" at {_hz(r.clock_hz)}" if r.clock_hz > 0 and seconds is not None and math.isfinite(seconds) else ""
        time_cell = _time(seconds) + at if seconds is not None and r.clock_hz > 0 else "— (clock unknown)"
        cells += [
            _e(r.firmware),
            f"<span class='{status}'>{r.passed} / {len(r.vectors)}</span>",
            f"<span title='{_e(r.counters)}'>{_num(cycles, 0)}</span>",
        ]
        if counts_instr:
            cells.append(_num(_mean_instructions(r.vectors), 0))
        cells += [
            _e(time_cell),
            "uploaded" if r.uploaded else "already held",
            f"{r.wall_seconds:.2f} s",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table class='boards'><tr>{header}</tr>\n" + "\n".join(rows) + "\n</table>"


def _summary(run: HarnessRun, timed: bool) -> str:
    caps = [f"{_e(r.target)}: {_capacity(r, run.arena_bytes)}" for r in run.runs if r.arena_capacity > 0]
    rows = [
        ("model", _e(run.model)),
        ("sha256", f"<code title='{_e(run.model_sha256)}'>{_e(run.model_sha256[:12])}…</code>"),
        ("blob", _e(_bytes(run.blob_bytes))),
        ("arena (planned)", _e(_bytes(run.arena_bytes))),
        ("arena capacity", "<br>".join(caps) or "— (no board answered)"),
    ]
    if not timed:
        rows.append(("per-layer timing", "not run: the model has more than 255 ops"))
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] = ()) -> str:
    """A table of already escaped cells; ``classes`` gives each row's class."""
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = []
    for k, cells in enumerate(rows):
        cls = classes[k] if k < len(classes) and classes[k] else ""
        attr = f" class='{cls}'" if cls else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table class='num'><tr>{header}</tr>\n" + "\n".join(body) + "\n</table>"


def _not_tested(r: BoardRun) -> str:
    return f"<p class='muted'>Not tested: {_e(r.error)}</p>"


def _latency_section(r: BoardRun, img: str | None, n_ops: int) -> str:
    title = f"<h3>{_e(_board_title(r))}</h3>"
    if r.error is not None:
        return title + _not_tested(r)
    if not r.layers:
        if n_ops > MAX_TIMED_OPS:
            why = f"the model has {n_ops} ops; the firmware times at most {MAX_TIMED_OPS}"
        else:
            why = "the board returned no per-layer timing"
        return f"{title}<p class='muted'>No per-layer timing: {_e(why)}.</p>"
    values, unit = _layer_values(r.layers)
    total = sum(values) or 1
    clock = f"clock {_hz(r.clock_hz)}" if r.clock_hz > 0 else "clock unknown, so no time estimate"
    top = max(range(len(values)), key=lambda k: values[k])
    note = (
        f"<p>Measured in {_e(unit)} ({_e(r.counters or 'counters not described')}; {_e(clock)}). "
        f"The costliest layer is #{r.layers[top].index} {_e(r.layers[top].op)}, "
        f"{_e(_pct(values[top] / total))} of the layers' sum of {sum(values):,} {_e(unit)}. "
        "Shares are of that sum; a whole inference also pays a little per-call overhead.</p>"
    )
    counted = any(layer.instructions is not None for layer in r.layers)
    timed = r.clock_hz > 0
    head = ["#", "op", "output shape", "MACs", "cycles"]
    head += ["instructions", "instr/MAC"] if counted else []
    head += ["time"] if timed else []
    head.append("share")
    rows = []
    for layer, v in zip(r.layers, values, strict=True):
        cells = [str(layer.index), _e(layer.op), _e(_shape(layer.output_shape)), _int(layer.macs), _int(layer.cycles)]
        if counted:
            cells += [_int(layer.instructions), _num(layer.instructions_per_mac, 2)]
        if timed:
            cells.append(_time(layer.seconds))
        cells.append(_e(_pct(v / total)))
        rows.append(cells)
    picture = f"<img src='{_e(img)}' alt='cost per layer on {_e(r.target)}'>" if img else ""
    return title + note + picture + _table(head, rows)


def first_difference(r: BoardRun) -> str | None:
    """The sentence naming the first layer that differs, or None when none does."""
    d = r.first_bad_layer
    if d is None:
        return None
    return (
        f"First layer that differs on {r.target}: #{d.index} {d.op} ({_params(d.params)}): "
        f"{d.mismatched:,} of {d.compared:,} values differ, max |diff| {d.max_abs_diff}, "
        f"mean |diff| {d.mean_abs_diff:.3g} (vector {r.diff_vector})"
    )


def _diff_section(r: BoardRun, img: str | None) -> str:
    title = f"<h3>{_e(_board_title(r))}</h3>"
    if r.error is not None:
        return title + _not_tested(r)
    if not r.diff:
        return f"{title}<p class='muted'>No layer diff ran: every vector passed and none was asked for.</p>"
    sentence = first_difference(r)
    first = r.first_bad_layer
    if sentence is None or first is None:
        failed = any(v.name == r.diff_vector and not v.passed for v in r.vectors)
        text = (
            f"The layer diff on vector {r.diff_vector} found no differing layer: all {len(r.diff)} layers' "
            f"outputs on {r.target} are identical to edgeai.ref's."
        )
        if not failed:
            return f"{title}<p class='callout good'>{_e(text)}</p>"
        return (
            f"{title}<p class='callout warn'>{_e(text)}</p><p>Yet that vector failed: the board agrees with "
            "edgeai.ref layer by layer, so the vector's expected outputs are not what edgeai.ref gives for this "
            "model. Make the vectors anew with <code>edgeai vectors</code>.</p>"
        )
    later = sum(not d.identical for d in r.diff) - 1
    if later:
        after = f" {later} later layer{'s differ' if later > 1 else ' differs'} too, perhaps only inheriting its error."
    else:
        after = " Every later layer is identical."
    text = (
        f"<p class='callout bad'>{_e(sentence)}</p><p>Output tensor {_name(first.name, 80)}, "
        f"shape {_e(_shape(first.output_shape))}.{_e(after)}</p>"
    )
    picture = f"<img src='{_e(img)}' alt='layer diff on {_e(r.target)}'>" if img else ""
    head = ["#", "op", "output tensor", "shape", "differ / compared", "max |diff|", "mean |diff|"]
    rows = [
        [
            str(d.index),
            _e(d.op),
            _name(d.name),
            _e(_shape(d.output_shape)),
            f"{d.mismatched:,} / {d.compared:,}",
            str(d.max_abs_diff),
            f"{d.mean_abs_diff:.3g}",
        ]
        for d in r.diff
    ]
    classes = ["first" if d.index == first.index else "later" if not d.identical else "" for d in r.diff]
    return title + text + picture + _table(head, rows, classes)


def _vectors_section(r: BoardRun) -> str:
    title = f"<h3>{_e(_board_title(r))}</h3>"
    if r.error is not None:
        return title + _not_tested(r)
    if not r.vectors:
        return f"{title}<p class='muted'>No vectors ran.</p>"
    counted = any(v.instructions is not None for v in r.vectors)
    timed = r.clock_hz > 0
    head = ["vector", "source", "result", "differ / compared", "max |diff|", "cycles"]
    head += ["instructions"] if counted else []
    head += ["time"] if timed else []
    rows = []
    for v in r.vectors:
        mark = " <span class='muted'>(layer diff)</span>" if v.name == r.diff_vector else ""
        verdict = "<span class='good'>pass</span>" if v.passed else "<b class='bad'>FAIL</b>"
        cells = [
            _e(v.name) + mark,
            _e(v.source),
            verdict,
            f"{v.mismatched:,} / {v.compared:,}",
            str(v.max_abs_diff),
            _int(v.cycles),
        ]
        if counted:
            cells.append(_int(v.instructions))
        if timed:
            cells.append(_time(v.seconds))
        rows.append(cells)
    return title + _table(head, rows, ["" if v.passed else "failed" for v in r.vectors])


def _arena_section(planned: int, img: str, timeline: Sequence[tuple[int, int, int]]) -> str:
    peak_live = max((v for _, v, _ in timeline), default=0)
    peak_high = max((h for _, _, h in timeline), default=0)
    text = (
        f"<p>Bytes of activations live while each op runs (blue) and the highest arena byte they reach "
        f"(orange), against the planned arena of {planned:,} bytes (green). Peak live: {peak_live:,} bytes; "
        f"highest byte used: {peak_high:,}. A board's capacity far above that is named in the title, not drawn.</p>"
    )
    return text + f"<img src='{_e(img)}' alt='arena use over the op sequence'>"


def _size_section(sizes: dict[str, int], total: int, img: str) -> str:
    rows = "\n".join(
        f"<tr><td>{_e(k)}</td><td>{v:,}</td><td>{_e(_pct(v / (total or 1)))}</td></tr>"
        for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])
    )
    return (
        f"<img src='{_e(img)}' alt='model size breakdown'><table class='num'><tr><th>part</th><th>bytes</th>"
        f"<th>share</th></tr>\n{rows}\n<tr><th>total</th><th>{total:,}</th><th>100.0 %</th></tr></table>"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
table.num td, table.boards td { font-variant-numeric: tabular-nums; }
img { max-width: 100%; display: block; margin: 1em 0; }
.banner { font-size: 1.5em; font-weight: bold; padding: 0.6em 1em; border-radius: 6px; color: #fff; }
.banner.pass { background: #2e7d32; } .banner.fail { background: #c62828; }
.callout { font-size: 1.1em; padding: 0.6em 1em; border-left: 6px solid; background: #fafafa; }
.callout.bad { border-color: #c62828; color: #8e0000; font-weight: bold; }
.callout.good { border-color: #2e7d32; color: #1b5e20; }
.callout.warn { border-color: #ef6c00; color: #bf360c; }
.good { color: #2e7d32; } .bad, b.bad { color: #c62828; } .muted { color: #777; }
tr.failed td { background: #ffebee; }
code { font-family: ui-monospace, monospace; font-size: 0.95em; }
tr.first td { background: #ffebee; color: #c62828; font-weight: bold; } tr.later td { color: #e65100; }
.name { font-family: ui-monospace, monospace; font-size: 0.9em; white-space: nowrap; }
h3 { margin-top: 1.6em; }
"""


def write_test_report(directory: str | Path, run: HarnessRun, data: bytes) -> Path:
    """Write ``index.html`` and its plots for one harness run of the model ``data`` into
    ``directory``; returns the page's path."""
    blob = read_blob(data)
    d = Path(directory)
    timeline = arena_timeline(blob)
    sizes = size_breakdown(blob, len(data))
    latency: list[str | None] = []
    diffs: list[str | None] = []
    try:
        d.mkdir(parents=True, exist_ok=True)
        for pattern in OUR_PNGS:  # plots of an earlier report in the same folder
            for old in d.glob(pattern):
                old.unlink()
        for k, r in enumerate(run.runs):
            lat = diff = None
            if r.error is None and r.layers:
                lat = f"latency_{k}.png"
                _plot_latency(r, d / lat)
            if r.error is None and r.first_bad_layer is not None:
                diff = f"diff_{k}.png"
                _plot_diff(r, d / diff)
            latency.append(lat)
            diffs.append(diff)
        _plot_arena(timeline, [op.opname for op in blob.ops], blob.arena_bytes, run.runs, d / "arena.png")
        _plot_size(sizes, len(data), d / "size.png")
    except OSError as e:
        raise EdgeAIError(f"{d}: cannot write the report ({e.strerror})") from None

    timed = len(blob.ops) <= MAX_TIMED_OPS
    several = len(run.runs) > 1
    lat_html = "\n".join(_latency_section(r, img, len(blob.ops)) for r, img in zip(run.runs, latency, strict=True))
    diff_html = "\n".join(_diff_section(r, img) for r, img in zip(run.runs, diffs, strict=True))
    vec_html = "\n".join(_vectors_section(r) for r in run.runs)
    boards = ", ".join(r.target for r in run.runs) or "no board"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgeai test report: {_e(run.model)} on {_e(boards)}</title>
<style>{STYLE}</style></head><body>
<h1>Test report: {_e(run.model)}</h1>
{_verdict(run)}
{_summary(run, timed)}
<h2>Board{"s" if several else ""}</h2>
{_boards_table(run)}
<p class="muted">Cycles, instructions and time are means over the vectors of one whole inference each.
Time is cycles at the board's clock; "already held" means the board had this model in flash and it was not
uploaded again.</p>
<h2>Where the time goes, per layer</h2>
<p>One inference timed layer by layer: each bar is one op, in {
        "retired instructions where the board counts them, else cycles" if several else "the board's own unit"
    }, annotated with its share of the layers' sum.</p>
{lat_html}
<h2>Layer diff against the host</h2>
<p>The board runs the model op by op on one vector, each op's output is read back and compared with
edgeai.ref's on the same input; the first layer that differs is where to look.</p>
{diff_html}
<h2>Arena use over the op sequence</h2>
{_arena_section(blob.arena_bytes, "arena.png", timeline)}
<h2>Model size</h2>
{_size_section(sizes, len(data), "size.png")}
<h2>Vectors</h2>
{vec_html}
</body></html>
"""
    out = d / "index.html"
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as e:
        raise EdgeAIError(f"{out}: cannot write the report ({e.strerror})") from None
    return out
