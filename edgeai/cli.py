"""The ``edgeai`` command: parses arguments, calls the API, prints. Nothing else lives here."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import EdgeAIError


def _progress(label: str) -> Any:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""
    tty = sys.stderr.isatty()

    def show(done: int, total: int) -> None:
        if not tty:
            return
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def cmd_compile(args: argparse.Namespace) -> int:
    from .compiler import compile_model, compile_onnx

    out = Path(args.output) if args.output else Path(args.model).with_suffix(".eai")
    is_onnx = Path(args.model).suffix.lower() == ".onnx"
    if (args.eval or args.report or args.labels) and not (is_onnx and args.calib):
        raise EdgeAIError("--eval, --labels and --report measure a float ONNX model against its int8 blob: "
                          "give MODEL.onnx with --calib")  # fmt: skip
    if args.report and not args.eval:
        raise EdgeAIError("--report needs --eval SAMPLES to measure on")
    progress = _progress("calibrating")
    if is_onnx and args.calib:
        c, float_graph = compile_onnx(args.model, args.calib, args.method, progress)
    else:
        c, float_graph = compile_model(args.model, args.calib, args.method, progress), None
    if args.board:
        from .boards import load_board

        board = load_board(args.board)
        misfits = board.misfits(c.blob_bytes, c.arena_bytes)
        if misfits:
            raise EdgeAIError(f"{args.model} does not fit {board.name}: {'; '.join(misfits)}")
    try:
        out.write_bytes(c.data)
    except OSError as e:
        raise EdgeAIError(f"{out}: cannot write the blob ({e.strerror})") from None
    print(
        f"{out}: {len(c.blob.ops)} ops, blob {c.blob_bytes} bytes (weights {c.weights_bytes}), "
        f"arena {c.arena_bytes} bytes (lower bound {c.arena_lower_bound_bytes})"
    )
    if args.board:
        print(f"fits {board.name}: slot {100 * c.blob_bytes / board.slot_bytes:.1f} % used, "
              f"arena {100 * c.arena_bytes / board.arena_bytes:.1f} % used")  # fmt: skip
    if args.eval and float_graph is not None:
        from .evaluate import evaluate, load_labels
        from .samples import load_samples

        samples = load_samples(args.eval, float_graph)
        labels = load_labels(args.labels, len(samples)) if args.labels else None
        ev = evaluate(c, float_graph, samples, labels, onnx_path=args.model, progress=_progress("evaluating"))
        print(f"top-1 agreement int8 vs float ({ev.float_backend}): {100 * ev.top1_agreement:.2f} % "
              f"on {ev.samples} samples; output SQNR {ev.sqnr_db:.1f} dB")  # fmt: skip
        if ev.float_accuracy is not None and ev.int8_accuracy is not None:
            print(f"accuracy: float {100 * ev.float_accuracy:.2f} %, int8 {100 * ev.int8_accuracy:.2f} %")
        worst = min(ev.layers, key=lambda layer: layer.sqnr_db)
        print(f"lowest layer SQNR: #{worst.index} {worst.op} {worst.sqnr_db:.1f} dB")
        if args.report:
            from .report import write_report

            page = write_report(args.report, str(args.model), c, ev, args.method)
            print(f"report: {page}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .inspect import inspect_file

    info = inspect_file(args.blob)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{'#':>3}  {'operator':<18} {'output shape':<18} params")
    for op in info["operators"]:
        params = " ".join(f"{k}={v}" for k, v in op["params"].items())
        print(f"{op['index']:>3}  {op['op']:<18} {tuple(op['output_shape'])!s:<18} {params}")
    print()
    print(f"{'#':>3}  {'tensor':<40} {'kind':<5} {'dtype':<5} {'shape':<18} {'offset':>8} {'bytes':>8}")
    for t in info["tensors"]:
        name = t["name"] if len(t["name"]) <= 40 else "…" + t["name"][-39:]
        print(
            f"{t['index']:>3}  {name:<40} {t['kind']:<5} {t['dtype']:<5} {tuple(t['shape'])!s:<18} "
            f"{t['offset']:>8} {t['bytes']:>8}"
        )
    print()
    for k in ("arena_bytes", "arena_lower_bound_bytes", "weights_bytes", "blob_bytes"):
        print(f"{k}: {info[k]}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify

    device = _open_device(args) if (args.board or args.port) else None
    try:
        report = verify(
            args.model,
            samples=args.samples,
            input_files=args.input or (),
            seed=args.seed,
            progress=_progress("verify"),
            calib=args.calib,
            method=args.method,
            device=device,
            upload_progress=_progress("upload"),
        )
    finally:
        if device is not None:
            device.close()
    for s in report.skipped:
        print(f"skipped {s}")
    print(f"{report.model}: {report.samples} samples, backends {', '.join(report.backends)}")
    print(f"  {'pair':<30} {'compared':>10} {'mismatched':>10} {'max |diff|':>10}")
    for p in report.pairs:
        print(f"  {p.a + ' vs ' + p.b:<30} {p.compared_elements:>10} {p.mismatched_elements:>10} {p.max_abs_diff:>10}")
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        except OSError as e:
            raise EdgeAIError(f"{args.json}: cannot write the report ({e.strerror})") from None
    if report.top1_agreement is not None and report.sqnr_db is not None:
        print(
            f"int8 vs float: top-1 agreement {100 * report.top1_agreement:.2f} %, output SQNR {report.sqnr_db:.1f} dB"
        )
    print("identical" if report.ok else "MISMATCH: the backends disagree")
    return 0 if report.ok else 1


def _open_device(args: argparse.Namespace) -> Any:
    from .device import Device

    if not args.board and not args.port:
        raise EdgeAIError("say which board: --board sim (the simulated board) or --port PORT")
    return Device.open(board=args.board, port=args.port, baud=args.baud)


def _read_blob_file(path: str) -> bytes:
    from .blob import read_blob
    from .files import read_model_bytes

    data = read_model_bytes(Path(path))
    try:
        read_blob(data)
    except EdgeAIError as e:
        raise type(e)(f"{path}: {e}") from None
    return data


def cmd_sim(args: argparse.Namespace) -> int:
    import time

    from .boards import load_board
    from .transport import Simulator

    sim = Simulator(load_board("sim"), Path(args.flash) if args.flash else None)
    port = sim.start()
    print(f"simulated board on {port} (flash {sim.flash}); Ctrl-C stops it", flush=True)
    try:
        while sim.proc is not None and sim.proc.poll() is None:
            time.sleep(0.2)
    finally:
        sim.stop()
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with _open_device(args) as dev:
        i = dev.info
        print(f"board: {i.board}, firmware {i.firmware}, protocol {i.protocol}")
        print(f"slot: {i.slot_bytes:,} bytes, arena: {i.arena_bytes:,} bytes, frame payload: {i.max_payload}")
        rx = "unlimited" if i.rx_buffer_bytes is None else f"{i.rx_buffer_bytes:,} bytes"
        mapped = "any model that fits a slot" if i.map_bytes is None else f"{i.map_bytes:,} bytes"
        print(f"receive buffer: {rx} (upload chunks of {dev.upload_chunk_bytes():,} bytes), "
              f"map limit: {mapped}")  # fmt: skip
        if i.active_slot is None:
            print("model: none")
        else:
            print(f"model: slot {'AB'[i.active_slot]}, {i.model_bytes:,} bytes, crc32 {i.model_crc:08x}, "
                  f"arena {i.model_arena_bytes:,} bytes")  # fmt: skip
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    data = _read_blob_file(args.model)
    with _open_device(args) as dev:
        info = dev.upload(data, progress=_progress("upload"))
        print(f"uploaded {len(data):,} bytes to slot {'AB'[info.active_slot or 0]}; "
              f"{dev.link.stats.retries} retries")  # fmt: skip
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from .blob import INT32, read_blob
    from .verify import load_samples

    data = _read_blob_file(args.model)
    blob = read_blob(data)
    if len(blob.inputs) != 1:
        raise EdgeAIError(f"{args.model}: edgeai run takes single-input models; this one has {len(blob.inputs)}")
    text_model = blob.tensors[blob.inputs[0]].dtype == INT32
    texts = list(args.text or [])
    if args.texts:
        from .distill import read_text_data

        texts += read_text_data(args.texts)[0]
    if text_model and not texts:
        raise EdgeAIError(f"{args.model} reads text: give --text TEXT or --texts FILE")
    if not text_model and not args.input:
        raise EdgeAIError("give --input FILE (int8 .bin or .npy)")
    if args.fallback:
        if text_model:
            return _run_cascade(args, data, texts)
        from .cascade import board_and_laptop_inputs

        board_items, laptop_items = board_and_laptop_inputs(args.input, blob.tensors[blob.inputs[0]])
        return _run_cascade(args, data, board_items, laptop_items)
    if text_model:
        from .cascade import BoardClassifier

        with _open_device(args) as dev:
            out_t = blob.tensors[blob.outputs[0]]
            labels = _labels_for(args) or [str(i) for i in range(int(np.prod(out_t.shape)))]
            clf = BoardClassifier(dev, data, labels)
            for text in texts:
                p = clf.predict_one(text)
                print(f"{labels[int(p.argmax())]}\t{float(p.max()):.4f}\t{text[:60]}")
        return 0
    samples = load_samples(args.input, blob.tensors[blob.inputs[0]])
    with _open_device(args) as dev:
        if not dev.has_model(data):
            dev.upload(data, progress=_progress("upload"))
        outputs = []
        for x in samples:
            (y, *_), cycles = dev.run(blob, [x])
            outputs.append(y)
            print(f"cycles: {cycles}")
    result = np.stack(outputs)
    if args.output:
        out = Path(args.output)
        try:
            np.save(out, result) if out.suffix == ".npy" else result.tofile(out)
        except OSError as e:
            raise EdgeAIError(f"{out}: cannot write the outputs ({e.strerror})") from None
    else:
        for y in result:
            print(" ".join(str(int(v)) for v in y.reshape(-1)))
    return 0


def _labels_for(args: argparse.Namespace) -> list[str] | None:
    """--labels a,b,c, else the labels edgeai distill wrote beside the model."""
    if getattr(args, "labels", None):
        return [x.strip() for x in args.labels.split(",") if x.strip()]
    from .distill import read_student_info

    info = read_student_info(args.model)
    return list(info["labels"]) if "labels" in info else None


def _cascade(args: argparse.Namespace, data: bytes, dev: Any) -> Any:
    """The cascade of a model on a board and its laptop fallback (from --fallback or the model's
    edgeai distill file), or the laptop alone when the model does not fit the board."""
    from .cascade import BoardClassifier, Cascade
    from .distill import read_student_info
    from .teachers import load_teacher

    info = read_student_info(args.model)
    labels = _labels_for(args)
    spec = args.fallback if args.fallback not in (None, "auto") else info.get("teacher")
    if not spec:
        raise EdgeAIError("say which laptop model answers when the board is unsure: --fallback model.onnx, "
                          "minilm:head.npz or http://127.0.0.1:PORT/v1#model")  # fmt: skip
    teacher = load_teacher(spec, labels, allow_remote=args.allow_remote)
    labels = labels or list(teacher.labels)
    threshold = args.threshold if args.threshold is not None else float(info.get("threshold", 0.9))
    board = None
    if dev is not None:
        misfit = dev.misfits(data)
        if misfit:
            print(f"edgeai: the model does not fit {dev.info.board} ({'; '.join(misfit)}): the laptop answers all",
                  file=sys.stderr)  # fmt: skip
        else:
            board = BoardClassifier(dev, data, labels)
    return Cascade(board, teacher, threshold)


def _run_cascade(args: argparse.Namespace, data: bytes, items: list[Any], laptop_items: list[Any] | None = None) -> int:
    with _open_device(args) as dev:
        cascade = _cascade(args, data, dev)
        answers = cascade.classify_many(items, progress=_progress("classifying"), laptop_items=laptop_items)
    for k, a in enumerate(answers):
        shown = items[k][:60] if isinstance(items[k], str) else f"#{k}"
        said = a.side == "laptop" and a.board_label
        board = f" (board said {a.board_label} {a.board_confidence:.3f})" if said else ""
        print(f"{a.label}\t{a.confidence:.4f}\t{a.side}{board}\t{shown}")
    on_board = sum(a.side == "board" for a in answers)
    print(f"{len(answers)} answers, {on_board} on the board ({100 * on_board / max(len(answers), 1):.1f} %), "
          f"threshold {cascade.threshold:.4f}")  # fmt: skip
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from .distill import DistillConfig, run_distill

    describe = {}
    for d in args.describe or []:
        label, sep, text = d.partition("=")
        if not sep or not label.strip() or not text.strip():
            raise EdgeAIError(f"--describe takes LABEL=DESCRIPTION, not {d!r}")
        describe[label.strip()] = text.strip()
    cfg = DistillConfig(family=args.family, hidden=args.hidden, buckets=args.buckets, embed_dim=args.embed_dim,
                        lr=args.lr,
                        temperature=args.temperature, alpha=args.alpha, epochs=args.epochs, seed=args.seed)  # fmt: skip
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bars.setdefault(stage, _progress(stage))(done, total)

    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    r = run_distill(args.data, args.teacher, args.output, cfg, labels, args.targets, describe or None, args.board,
                    args.target_accuracy, args.target_board_share, args.allow_remote,
                    log=lambda m: print(m, file=sys.stderr), progress=progress)  # fmt: skip
    print(f"{r.blob_path}: int8 student, blob {r.blob_bytes:,} bytes, arena {r.arena_bytes:,} bytes; "
          f"labels {', '.join(r.labels)}; teacher {r.teacher}")  # fmt: skip
    print(f"trained on {r.train}, checked on {r.validation} held out:")
    if r.teacher_accuracy is not None and r.student_accuracy is not None:
        print(f"  accuracy: teacher {100 * r.teacher_accuracy:.2f} %, int8 student {100 * r.student_accuracy:.2f} %")
    print(f"  int8 student agrees with the teacher on {100 * r.agreement:.2f} %")
    what = "accuracy" if r.teacher_accuracy is not None else "agreement"
    print(f"  cascade threshold {r.threshold:.4f}: {100 * r.board_share:.1f} % on the board, "
          f"{what} {100 * r.cascade_accuracy:.2f} %")  # fmt: skip
    print(f"written: {r.blob_path}, {r.info_path} (labels, teacher, threshold for edgeai run --fallback and triage)")
    return 0


def cmd_triage(args: argparse.Namespace) -> int:
    from collections import Counter

    from .mail import write_results
    from .triage import triage

    data = _read_blob_file(args.model)
    with _open_device(args) as dev:
        cascade = _cascade(args, data, dev)
        r = triage(args.mailbox, cascade, progress=_progress("triage"))
    print(f"{'category':<14} {'mails':>7} {'on the board':>13} {'mean confidence':>16}")
    for c in r.categories:
        print(f"{c.label:<14} {c.count:>7} {100 * c.board_share:>12.1f}% {c.mean_confidence:>16.3f}")
    if r.unreadable:
        reasons = Counter(row["error"].split(":")[0] for row in r.rows if row["error"])
        print(f"{'unreadable':<14} {r.unreadable:>7}   ({', '.join(f'{k}: {v}' for k, v in reasons.items())})")
    print(f"{r.mails} mails ({r.with_problems} with problems noted, {r.unreadable} unreadable), "
          f"{100 * r.board_share:.1f} % answered on the board; {r.mails_per_minute:,.0f} mails per minute")  # fmt: skip
    if args.output:
        write_results(args.output, r.rows)
        print(f"results: {args.output}")
    return 0


def cmd_repl(args: argparse.Namespace) -> int:
    from .repl import open_device, run_repl

    with open_device(args.board, args.port, args.baud) as dev:
        return run_repl(dev)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    bars: dict[str, Any] = {}

    def progress(label: str, done: int, total: int) -> None:
        bars.setdefault(label, _progress(label))(done, total)

    r = run_demo(board=args.board or "sim", port=args.port, progress=progress, fallback=not args.no_fallback,
                 threshold=args.threshold)  # fmt: skip
    print(f"model: digits_small (models/digits), int8 blob {r.blob_bytes:,} bytes, arena {r.arena_bytes:,} bytes")
    print(f"board: {r.board} ({'uploaded the model' if r.uploaded else 'already held the model'})")
    print(f"accuracy on {r.samples} held-out digits: float {100 * r.float_accuracy:.2f} %, "
          f"int8 on the board {100 * r.board_accuracy:.2f} %")  # fmt: skip
    unit = "ns (host clock)" if r.board == "sim" else "cycles"
    print(f"latency: {r.mean_cycles:,.0f} {unit} per inference on average")
    total = sum(c for _, c in r.layers) or 1
    print(f"{'#':>3}  {'operator':<20} {'time':>12} {'share':>7}")
    for i, (op, c) in enumerate(r.layers):
        print(f"{i:>3}  {op:<20} {c:>12,} {100 * c / total:>6.1f}%")
    if r.cascade_accuracy is not None and r.laptop_accuracy is not None and r.board_share is not None:
        print(f"fallback: the larger model on the laptop alone {100 * r.laptop_accuracy:.2f} %; the cascade (board "
              f"first, laptop below confidence {r.threshold}) {100 * r.cascade_accuracy:.2f} % with "
              f"{100 * r.board_share:.1f} % answered on the board")  # fmt: skip
    return 0


def cmd_boards(args: argparse.Namespace) -> int:
    from .boards import board_names, load_board

    boards = [load_board(n) for n in board_names()]
    if args.json:
        print(json.dumps([{
            "name": b.name, "description": b.description, "chip": b.chip, "arch": b.arch, "port": b.port,
            "clock_hz": b.clock_hz, "counters": b.counters, "ram_bytes": b.ram_bytes, "arena_bytes": b.arena_bytes,
            "flash_bytes": b.flash_bytes, "slot_bytes": b.slot_bytes, "baud": b.baud,
            "build": b.build.get("tool"), "flash_with": b.upload.get("tool"),
            "partitions": [{"name": p.name, "offset": p.offset, "size": p.size} for p in b.partitions],
        } for b in boards], indent=2))  # fmt: skip
        return 0
    print(f"{'board':<10} {'arch':<11} {'port':<9} {'clock':>8} {'arena':>9} {'slot':>10} {'flash':>6}  build / flash")
    for b in boards:
        print(f"{b.name:<10} {b.arch:<11} {b.port:<9} {b.clock_hz / 1e6:>5.0f}MHz {b.arena_bytes // 1024:>6}KiB "
              f"{b.slot_bytes // 1024:>7}KiB {b.flash_bytes // (1 << 20):>4}MB  "
              f"{b.build.get('tool')} / {b.upload.get('tool')}")  # fmt: skip
    if args.verbose:
        for b in boards:
            print(f"\n{b.name}: {b.description}\n  counters: {b.counters}")
            for p in b.partitions:
                print(f"  {p.name:<10} {p.offset:#010x} {p.size:>9,} bytes")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from .boards import load_board
    from .build import build_firmware

    board = load_board(args.board)
    lines = [0]

    def on_line(line: str) -> None:
        lines[0] += 1
        if args.verbose:
            print(line)
        elif sys.stderr.isatty():
            sys.stderr.write(f"\rbuilding {board.name}: {lines[0]} lines of output")
            sys.stderr.flush()

    out = build_firmware(board, on_line=on_line, force=True)
    if sys.stderr.isatty() and not args.verbose:
        sys.stderr.write("\n")
    if board.port == "esp-idf":
        from .esp import find_firmware

        fw = find_firmware(board, out)
        print(f"{board.name}: firmware in {out}")
        for what, path in (("bootloader", fw.bootloader), ("partition table", fw.partitions), ("app", fw.app)):
            if path is not None:
                print(f"  {what:<16} {path.relative_to(out)} ({path.stat().st_size:,} bytes)")
        print(f"flash it with: edgeai flash --board {board.name} --port PORT")
        return 0
    print(f"{board.name}: {out}" + (f" ({out.stat().st_size:,} bytes)" if out.is_file() else ""))
    return 0


def cmd_flash(args: argparse.Namespace) -> int:
    from .boards import load_board
    from .flash import flash

    board = load_board(args.board)
    blob = _read_blob_file(args.model) if args.model else None
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bars.setdefault(stage, _progress(stage))(done, total)

    r = flash(board, blob, port=args.port, output=Path(args.output) if args.output else None,
              flash_file=Path(args.flash) if args.flash else None, model_only=args.model_only,
              firmware_dir=Path(args.firmware) if args.firmware else None, baud=args.baud,
              progress=progress)  # fmt: skip
    for what, off, n in r.regions:
        print(f"  {off:#010x}  {n:>10,} bytes  {what}")
    print(f"{'wrote' if args.output else 'flashed'} {r.target} for {r.board}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench
    from .boards import load_board
    from .device import Device

    data = _read_blob_file(args.model)
    board = load_board(args.board) if args.board else None
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bars.setdefault(stage, _progress(stage))(done, total)

    with Device.open(board=args.board, port=args.port, baud=args.baud) as dev:
        if board is None:
            from .boards import board_names

            name = dev.info.board if dev.info.board in board_names() else "sim"
            board = load_board(name)
        r = bench(dev, data, board, name=Path(args.model).name, runs=args.runs, progress=progress)
    has_instr = r.total_instructions is not None
    print(f"{r.model} on {r.board} ({r.counters}); time at {r.clock_hz / 1e6:.0f} MHz")
    head = f"{'#':>3}  {'operator':<18} {'output':<16} {'MACs':>11} {'cycles':>12}"
    head += f" {'instructions':>13} {'instr/MAC':>9}" if has_instr else ""
    print(head + f" {'time ms':>9} {'share':>6}")
    total_layers = sum(layer.cycles for layer in r.layers) or 1
    for x in r.layers:
        row = f"{x.index:>3}  {x.op:<18} {'x'.join(map(str, x.output_shape)):<16} {x.macs:>11,} {x.cycles:>12,}"
        if has_instr:
            ipm = f"{x.instructions_per_mac:.2f}" if x.instructions_per_mac is not None else "-"
            row += f" {x.instructions or 0:>13,} {ipm:>9}"
        print(row + f" {1e3 * x.seconds:>9.3f} {100 * x.cycles / total_layers:>5.1f}%")
    print()
    print(f"{'per operator':<22} {'layers':>6} {'MACs':>12} {'cycles':>13}" + (f" {'instructions':>14} {'instr/MAC':>9}"
          if has_instr else ""))  # fmt: skip
    for t in r.by_type:
        row = f"{t.op:<22} {t.layers:>6} {t.macs:>12,} {t.cycles:>13,}"
        if has_instr:
            ipm = f"{t.instructions_per_mac:.2f}" if t.instructions_per_mac is not None else "-"
            row += f" {t.instructions or 0:>14,} {ipm:>9}"
        print(row)
    print()
    line = f"total: {r.macs:,} MACs, {r.total_cycles:,} cycles"
    if has_instr:
        line += f", {r.total_instructions:,} instructions ({r.instructions_per_mac:.2f} per MAC)"
    print(line + f", {1e3 * r.seconds:.2f} ms at {r.clock_hz / 1e6:.0f} MHz")
    if r.repeatable is not None:
        print(f"{r.runs} runs: " + ("the same counts every run" if r.repeatable else "counts differ between runs"))
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(r.to_dict(), indent=2) + "\n")
        except OSError as e:
            raise EdgeAIError(f"{args.json}: cannot write the report ({e.strerror})") from None
    return 0


def cmd_vectors(args: argparse.Namespace) -> int:
    from .vectors import make_vectors, write_vectors

    data = _read_blob_file(args.model)
    vectors = make_vectors(data, args.samples, args.input or (), args.seed, _progress("vectors"))
    path = write_vectors(Path(args.output), data, vectors, Path(args.model).name)
    print(f"{path}: {len(vectors)} vectors for {args.model} (expected outputs from edgeai.ref)")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from .harness import Target, run_tests
    from .vectors import make_vectors, read_vectors

    data = _read_blob_file(args.model)
    if args.vectors:
        vectors = read_vectors(args.vectors, data).vectors
    else:
        vectors = make_vectors(data, args.samples, (), args.seed)
    if args.port:
        targets = [Target(board=args.board, port=p) for p in args.port]
    elif args.board:
        targets = [Target(board=args.board, flash=Path(args.flash) if args.flash else None)]
    else:
        raise EdgeAIError("say which board: --board sim (or qemu-rv32), or one or more --port PORT")
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bars.setdefault(stage, _progress(stage))(done, total)

    run = run_tests(data, vectors, targets, Path(args.model).name, args.layers, progress)
    for r in run.runs:
        if r.error is not None:
            print(f"{r.target}: ERROR {r.error}")
            continue
        instr = [v.instructions for v in r.vectors if v.instructions is not None]
        cost = f"mean {sum(v.cycles for v in r.vectors) / len(r.vectors):,.0f} cycles"
        if instr:
            cost += f", {sum(instr) / len(instr):,.0f} instructions"
        print(f"{r.target} ({r.board}, firmware {r.firmware}): {r.passed}/{len(r.vectors)} vectors bit-exact; "
              f"{cost}; arena {run.arena_bytes:,} of {r.arena_capacity:,} bytes")  # fmt: skip
        for v in r.vectors:
            if not v.passed:
                print(f"  FAIL vector {v.name} ({v.source}): {v.mismatched} of {v.compared} values differ, "
                      f"max |diff| {v.max_abs_diff}")  # fmt: skip
        if r.diff:
            bad = r.first_bad_layer
            if bad is None:
                print(f"  layer diff (vector {r.diff_vector}): every layer identical to edgeai.ref")
            else:
                params = " ".join(f"{k}={v}" for k, v in bad.params.items())
                print(f"  first layer that differs (vector {r.diff_vector}): #{bad.index} {bad.op} "
                      f"{'x'.join(map(str, bad.output_shape))} [{params}]: {bad.mismatched} of {bad.compared} values "
                      f"differ, max |diff| {bad.max_abs_diff}, mean |diff| {bad.mean_abs_diff:.3f}")  # fmt: skip
    if args.junit:
        from .harness import write_junit

        write_junit(args.junit, run)
        print(f"junit: {args.junit}")
    if args.report:
        from .harness_report import write_test_report

        print(f"report: {write_test_report(args.report, run, data)}")
    print("PASS" if run.ok else "FAIL")
    return 0 if run.ok else 1


def _device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", help="board name (edgeai boards); sim and qemu-rv32 start the emulated board")
    p.add_argument("--port", help="serial port: a device path, socket://HOST:PORT or rfc2217://HOST:PORT")
    p.add_argument("--baud", type=int, help="baud rate (default: the board's)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="edgeai", description="Run int8 models on ESP32-class boards.")
    ap.add_argument("--version", action="version", version=f"edgeai {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("compile", help="compile a model (int8 .tflite, or float .onnx with --calib) to an .eai blob")
    p.add_argument("model", help="model file (.tflite or .onnx)")
    p.add_argument("-o", "--output", help="output .eai file (default: MODEL with .eai)")
    p.add_argument("--calib", metavar="SAMPLES", help="calibration samples for a float model: .npy, .npz or a folder")
    p.add_argument(
        "--method",
        choices=("minmax", "percentile", "mse"),
        default="minmax",
        help="how activation ranges are chosen from the calibration samples (default minmax)",
    )
    p.add_argument("--eval", metavar="SAMPLES", help="float samples to measure int8 against float on")
    p.add_argument("--labels", metavar="FILE", help="class labels of the --eval samples (.npy or one per line)")
    p.add_argument("--report", metavar="DIR", help="write an HTML report with plots into DIR")
    p.add_argument("--board", help="refuse the model unless its blob and arena fit this board (edgeai boards)")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("inspect", help="show what an .eai blob holds")
    p.add_argument("blob", help=".eai file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("verify", help="compare TFLite reference kernels, edgeai.ref and the C runtime")
    p.add_argument("model", help="model file (.tflite, or .onnx with --calib)")
    p.add_argument("--calib", metavar="SAMPLES", help="calibration samples for a float ONNX model")
    p.add_argument("--method", choices=("minmax", "percentile", "mse"), default="minmax", help="calibration method")
    _device_args(p)
    p.add_argument("--samples", type=int, default=50, help="random inputs (default 50)")
    p.add_argument(
        "--input",
        action="append",
        metavar="FILE",
        help="real inputs: raw int8 .bin or .npy (float is quantized); repeatable",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("demo", help="the main job end to end on the simulated board, with the example model")
    p.add_argument("--board", help="board (default: sim)")
    p.add_argument("--port", help="serial port of a real board")
    p.add_argument("--threshold", type=float, default=0.9, help="the board's confidence below which the laptop answers")
    p.add_argument("--no-fallback", action="store_true", help="the board alone, no laptop model")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sim", help="start the simulated board in the foreground and print its port")
    p.add_argument("--flash", help="its flash file (default: ~/.cache/edgeai/sim-flash.bin)")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("info", help="what a board runs: firmware, model, memory")
    _device_args(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("upload", help="upload an .eai model to a board's inactive slot and switch to it")
    p.add_argument("model", help=".eai file")
    _device_args(p)
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("run", help="run an .eai model on a board (uploading it first if the board holds another)")
    p.add_argument("model", help=".eai file")
    p.add_argument("--input", help="int8 inputs: raw .bin or .npy, one sample or several")
    p.add_argument("--text", action="append", help="a text for a text model (repeatable)")
    p.add_argument("--texts", help="a file of texts for a text model, one per line (or label<TAB>text)")
    p.add_argument("-o", "--output", help="write the outputs (.npy, or raw int8 otherwise)")
    p.add_argument("--fallback", nargs="?", const="auto", metavar="TEACHER",
                   help="answer on the laptop when the board is unsure: model.onnx, minilm:head.npz or "
                        "http://127.0.0.1:PORT/v1#model (default: the teacher edgeai distill recorded)")  # fmt: skip
    p.add_argument("--threshold", type=float, help="the board's confidence below which the laptop answers")
    p.add_argument("--labels", help="class names, comma-separated (default: from MODEL.json)")
    p.add_argument("--allow-remote", action="store_true", help="allow a laptop model endpoint not on this machine")
    _device_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("boards", help="list the boards edgeai knows (boards/*.toml)")
    p.add_argument("-v", "--verbose", action="store_true", help="also each board's counters and flash partitions")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_boards)

    p = sub.add_parser("build", help="build a board's firmware (make; idf.py or PlatformIO for ESP32 boards)")
    p.add_argument("--board", required=True, help="board name (edgeai boards)")
    p.add_argument("-v", "--verbose", action="store_true", help="show the build's output")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("flash", help="flash a board's firmware and optionally a model (esptool for ESP32 boards)")
    p.add_argument("--board", required=True, help="board name (edgeai boards)")
    p.add_argument("--port", help="serial port of an ESP32 board")
    p.add_argument("--baud", type=int, help="flashing baud rate (default 460800)")
    p.add_argument("--model", help="an .eai model to put in slot A, active at boot")
    p.add_argument("--model-only", action="store_true", help="write only the model (and slot table), not the firmware")
    p.add_argument("--output", help="write the merged flash image to this file instead of flashing (offline)")
    p.add_argument("--flash", help="the emulated board's flash file (default: ~/.cache/edgeai/BOARD-flash.bin)")
    p.add_argument("--firmware", metavar="DIR", help="a firmware build folder (default: the board's build output)")
    p.set_defaults(func=cmd_flash)

    p = sub.add_parser("bench", help="cycles, instructions and MACs per layer of a model on a board")
    p.add_argument("model", help=".eai file")
    _device_args(p)
    p.add_argument("--runs", type=int, default=2, help="runs to compare (default 2: the counts must repeat)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("vectors", help="golden test vectors: inputs and edgeai.ref's outputs, bound to the model")
    p.add_argument("model", help=".eai file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="the vector folder to write")
    p.add_argument("--samples", type=int, default=10, help="seeded random inputs (default 10)")
    p.add_argument("--input", action="append", metavar="FILE", help="real inputs (.bin or .npy); repeatable")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.set_defaults(func=cmd_vectors)

    p = sub.add_parser("test", help="run a model's vectors on boards, bit-exact, with a layer diff on mismatch")
    p.add_argument("model", help=".eai file")
    p.add_argument("--board", help="board name (edgeai boards); sim and qemu-rv32 start the emulated board")
    p.add_argument("--port", action="append", help="a board's serial port; repeat to test several boards in parallel")
    p.add_argument("--baud", type=int, help="baud rate (default: the board's)")
    p.add_argument("--flash", help="the emulated board's flash file")
    p.add_argument("--vectors", metavar="DIR", help="a vector folder (edgeai vectors); default: --samples random ones")
    p.add_argument("--samples", type=int, default=10, help="random vectors when no --vectors (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random vectors")
    p.add_argument("--layers", action="store_true", help="diff every layer against edgeai.ref even when all pass")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testcase per vector and board)")
    p.add_argument("--report", metavar="DIR", help="write an HTML report with plots into DIR")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("distill", help="train a small student from a teacher's soft outputs, int8 for a board")
    p.add_argument("data", help="texts (.tsv label<TAB>text, or .txt one per line) or inputs (.npy)")
    p.add_argument("--teacher", required=True,
                   help="minilm (fit here from labelled data or --describe), minilm:head.npz, model.onnx, "
                        "or http://127.0.0.1:PORT/v1#model")  # fmt: skip
    p.add_argument("--family", choices=("text", "mlp", "cnn"), required=True, help="the student's kind")
    p.add_argument("-o", "--output", required=True, help="OUT: writes OUT.eai, OUT.json and the float student")
    p.add_argument("--labels", help="class names, comma-separated (the teacher's order)")
    p.add_argument("--targets", help="hard labels for .npy inputs (.npy of class indices)")
    p.add_argument("--describe", action="append", metavar="LABEL=TEXT", help="zero-shot: describe each category")
    p.add_argument("--board", help="refuse a student that does not fit this board")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--alpha", type=float, default=0.5, help="weight of the hard labels (0: the teacher only)")
    p.add_argument("--lr", type=float, help="learning rate (default 3e-2 for text, 3e-3 otherwise)")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--buckets", type=int, default=4096, help="text: hashed n-gram buckets")
    p.add_argument("--embed-dim", type=int, default=32, help="text: embedding width")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-accuracy", type=float, help="calibrate the cascade threshold for this accuracy")
    p.add_argument("--target-board-share", type=float, help="... or for this share answered on the board")
    p.add_argument("--allow-remote", action="store_true", help="allow a teacher endpoint not on this machine")
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("triage", help="sort a mailbox locally: the board first, the laptop when it is unsure")
    p.add_argument("mailbox", help="an mbox file, a Maildir, a folder of .eml files, or one .eml")
    p.add_argument("--model", required=True, help="the board's text model (.eai from edgeai distill)")
    p.add_argument("--fallback", default="auto", metavar="TEACHER", help="the laptop model (default: from MODEL.json)")
    p.add_argument("--threshold", type=float, help="the board's confidence below which the laptop answers")
    p.add_argument("--labels", help="class names, comma-separated (default: from MODEL.json)")
    p.add_argument("--allow-remote", action="store_true", help="allow a laptop model endpoint not on this machine")
    p.add_argument("-o", "--output", help="write one row per mail: .csv, .json or .jsonl")
    _device_args(p)
    p.set_defaults(func=cmd_triage)

    p = sub.add_parser("repl", help="an interactive console on a board: load, run, layers, tensor, logs")
    _device_args(p)
    p.set_defaults(func=cmd_repl)
    return ap


class _Terminated(BaseException):
    """SIGTERM, raised where the command is, so that it unwinds: boards stop, flash locks free."""


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the unwinding short
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    in_main = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        return int(args.func(args))
    except EdgeAIError as e:
        print(f"edgeai: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("edgeai: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print("edgeai: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
