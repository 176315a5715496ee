"""``edgeai distill``: train a small student from a larger teacher's soft outputs, then hand it to the
int8 compiler for a board.

Students: an MLP for feature vectors, a small CNN for images (NCHW), and for text a hashed n-gram
embedding bag (the ids ``edgeai.text`` and the board compute alike) followed by an MLP. Training uses
PyTorch on the CPU (the ``models`` extra pins torch 2.13.0), seeded and single-threaded with
deterministic kernels, so a rerun gives the same student. The loss mixes the KL divergence to the
teacher's temperature-softened outputs (scaled by T^2, Hinton et al.) with cross-entropy on hard
labels when given: ``(1 - alpha) * T^2 * KL + alpha * CE``.

The students end in Softmax, so on the board their int8 output is a probability (scale 1/256): the
cascade reads the board's confidence straight from it. Their ONNX files are written node by node
with onnx.helper (no exporter dependency)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import EdgeAIError

F32 = npt.NDArray[np.float32]
FAMILIES = ("mlp", "cnn", "text")
OPSET = 13


@dataclass
class DistillConfig:
    family: str = "mlp"
    hidden: int = 64
    channels: int = 16  # cnn: the first conv's channels (the second has twice as many)
    embed_dim: int = 32  # text: the embedding width
    buckets: int = 4096  # text: hashed n-gram buckets (the table's rows)
    ngrams: int = 2
    max_ids: int = 512
    temperature: float = 2.0
    alpha: float = 0.3  # weight of the hard labels (0 = teacher only)
    epochs: int = 30
    batch_size: int = 64
    lr: float | None = None  # default: 3e-2 for text (sparse embedding rows), 3e-3 otherwise
    weight_decay: float = 1e-4
    seed: int = 0


@dataclass
class Student:
    """A distilled student, float, ready for the int8 compiler."""

    family: str
    labels: list[str]
    config: DistillConfig
    onnx: bytes  # mlp / cnn: the whole model; text: the head after the embedding bag
    table: F32 | None = None  # text: the embedding table [buckets, embed_dim]
    history: list[dict[str, float]] = field(default_factory=list)

    def predict_proba(self, inputs: Any) -> F32:
        """The float student's probabilities (numpy, through onnxruntime or the float reference)."""
        x = self._head_inputs(inputs)
        import onnxruntime as ort

        sess = ort.InferenceSession(self.onnx, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        out = [sess.run(None, {name: x[i : i + 1]})[0][0] for i in range(len(x))]
        return np.asarray(out, dtype=np.float32)

    def _head_inputs(self, inputs: Any) -> F32:
        if self.family != "text":
            return np.asarray(inputs, dtype=np.float32)
        from .text import text_ids_batch
        from .textmodel import mean_bags

        assert self.table is not None
        ids = text_ids_batch(list(inputs), self.config.buckets, self.config.ngrams, self.config.max_ids)
        return mean_bags(self.table, ids)

    def save(self, out: str | Path) -> list[Path]:
        """Write the student: OUT.onnx (and for text OUT.table.npy beside it)."""
        base = Path(out)
        onnx_path = base.with_suffix(".onnx")
        onnx_path.write_bytes(self.onnx)
        paths = [onnx_path]
        if self.table is not None:
            table_path = base.with_suffix(".table.npy")
            np.save(table_path, self.table)
            paths.append(table_path)
        return paths


def soften(probs: F32, temperature: float) -> F32:
    """Teacher probabilities at temperature T: softmax(log p / T)."""
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _torch() -> Any:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch
    except ImportError:
        raise EdgeAIError("edgeai distill trains with PyTorch: pip install -e '.[models]' (torch 2.13.0)") from None
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    return torch


def _build(torch: Any, cfg: DistillConfig, in_shape: tuple[int, ...], classes: int) -> Any:
    nn = torch.nn
    if cfg.family == "mlp":
        (features,) = in_shape
        return nn.Sequential(nn.Linear(features, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(),
                             nn.Linear(cfg.hidden, classes))  # fmt: skip
    if cfg.family == "cnn":
        c, _, _ = in_shape
        k = cfg.channels
        return nn.Sequential(
            nn.Conv2d(c, k, 3, padding=1), nn.ReLU(),
            nn.Conv2d(k, 2 * k, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * k, classes),
        )  # fmt: skip

    class TextStudent(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(cfg.buckets + 1, cfg.embed_dim, padding_idx=cfg.buckets)
            self.head = nn.Sequential(nn.Linear(cfg.embed_dim, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, classes))

        def forward(self, ids: Any) -> Any:
            valid = ids >= 0
            e = self.embed(torch.where(valid, ids, torch.full_like(ids, cfg.buckets)))
            n = valid.sum(dim=1, keepdim=True).clamp(min=1)
            return self.head(e.sum(dim=1) / n)

    return TextStudent()


def distill(
    inputs: Any,
    teacher_probs: F32,
    labels: Sequence[str],
    config: DistillConfig | None = None,
    hard_labels: npt.NDArray[np.int64] | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Student:
    """Train a student on ``inputs`` (feature vectors [N, F], images [N, C, H, W], or texts) to match
    ``teacher_probs`` [N, classes] (and ``hard_labels`` with weight ``alpha``)."""
    cfg = config or DistillConfig()
    if cfg.family not in FAMILIES:
        raise EdgeAIError(f"unknown student family {cfg.family!r}; choose one of {', '.join(FAMILIES)}")
    probs = np.asarray(teacher_probs, dtype=np.float32)
    classes = len(labels)
    if probs.ndim != 2 or probs.shape[1] != classes:
        raise EdgeAIError(f"the teacher gave outputs of shape {probs.shape}, expected [N, {classes}]")
    torch = _torch()
    torch.manual_seed(cfg.seed)
    if cfg.family == "text":
        from .text import text_ids_batch

        x_np: Any = text_ids_batch(list(inputs), cfg.buckets, cfg.ngrams, cfg.max_ids).astype(np.int64)
        in_shape: tuple[int, ...] = (cfg.max_ids,)
    else:
        x_np = np.asarray(inputs, dtype=np.float32)
        in_shape = tuple(x_np.shape[1:])
        want = 1 if cfg.family == "mlp" else 3
        if len(in_shape) != want:
            raise EdgeAIError(f"a {cfg.family} student takes inputs of {want + 1} dimensions, got {x_np.shape}")
    if len(x_np) != len(probs):
        raise EdgeAIError(f"{len(x_np)} inputs but {len(probs)} teacher outputs")
    model = _build(torch, cfg, in_shape, classes)
    x = torch.from_numpy(x_np)
    soft = torch.from_numpy(soften(probs, cfg.temperature))
    hard = torch.from_numpy(np.asarray(hard_labels, dtype=np.int64)) if hard_labels is not None else None
    lr = cfg.lr if cfg.lr is not None else (3e-2 if cfg.family == "text" else 3e-3)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * ((len(x) + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    rng = np.random.RandomState(cfg.seed)
    t = cfg.temperature
    history: list[dict[str, float]] = []
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        total = 0.0
        for start in range(0, len(x), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            logits = model(x[idx])
            kl = torch.nn.functional.kl_div(
                torch.log_softmax(logits / t, dim=1), soft[idx], reduction="batchmean"
            ) * (t * t)
            loss = (1 - cfg.alpha) * kl if hard is not None else kl
            if hard is not None and cfg.alpha > 0:
                loss = loss + cfg.alpha * torch.nn.functional.cross_entropy(logits, hard[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.item()) * len(idx)
        model.eval()
        with torch.no_grad():
            agree = float((model(x).argmax(1).numpy() == probs.argmax(1)).mean())
        history.append({"epoch": epoch + 1, "loss": total / len(x), "teacher_agreement": agree})
        if log and ((epoch + 1) % 10 == 0 or epoch == 0):
            log(f"epoch {epoch + 1}/{cfg.epochs}: loss {total / len(x):.4f}, teacher agreement {100 * agree:.2f} %")
        if progress:
            progress(epoch + 1, cfg.epochs)
    return _to_student(torch, model, cfg, in_shape, list(labels), history)


# -- ONNX, node by node ---------------------------------------------------------------------------
class _Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.n = 0

    def const(self, name: str, value: npt.NDArray[Any]) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        self.n += 1
        out = f"{op.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op}_{self.n}", **attrs))
        return out

    def model(self, x: str, in_shape: list[int], y: str, classes: int) -> bytes:
        from onnx import TensorProto, helper

        self.nodes.append(helper.make_node("Identity", [y], ["probs"], name="output"))
        graph = helper.make_graph(self.nodes, "edgeai_student",
                                  [helper.make_tensor_value_info(x, TensorProto.FLOAT, in_shape)],
                                  [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, classes])],
                                  self.inits)  # fmt: skip
        m = helper.make_model(graph, producer_name="edgeai distill", opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 8
        return bytes(m.SerializeToString())


def _arr(t: Any) -> npt.NDArray[np.float32]:
    return np.asarray(t.detach().numpy(), dtype=np.float32)


def _linears(g: _Graph, x: str, layers: Sequence[Any], prefix: str) -> str:
    """Gemm (+ Relu between) for a run of Linear layers."""
    for k, lin in enumerate(layers):
        x = g.node("Gemm", [x, g.const(f"{prefix}{k}.w", _arr(lin.weight)), g.const(f"{prefix}{k}.b", _arr(lin.bias))],
                   transB=1)  # fmt: skip
        if k < len(layers) - 1:
            x = g.node("Relu", [x])
    return x


def _to_student(torch: Any, model: Any, cfg: DistillConfig, in_shape: tuple[int, ...], labels: list[str],
                history: list[dict[str, float]]) -> Student:  # fmt: skip
    nn = torch.nn
    g = _Graph()
    classes = len(labels)
    table = None
    if cfg.family == "mlp":
        lin = [m for m in model if isinstance(m, nn.Linear)]
        y = g.node("Softmax", [_linears(g, "input", lin, "fc")], axis=1)
        onnx_bytes = g.model("input", [1, *in_shape], y, classes)
    elif cfg.family == "cnn":
        convs = [m for m in model if isinstance(m, nn.Conv2d)]
        x = "input"
        for k, c in enumerate(convs):
            x = g.node("Conv", [x, g.const(f"conv{k}.w", _arr(c.weight)), g.const(f"conv{k}.b", _arr(c.bias))],
                       kernel_shape=list(c.kernel_size), strides=list(c.stride),
                       pads=[c.padding[0], c.padding[1], c.padding[0], c.padding[1]])  # fmt: skip
            x = g.node("Relu", [x])
        x = g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1)
        lin = [m for m in model if isinstance(m, nn.Linear)]
        y = g.node("Softmax", [_linears(g, x, lin, "fc")], axis=1)
        onnx_bytes = g.model("input", [1, *in_shape], y, classes)
    else:
        lin = [m for m in model.head if isinstance(m, nn.Linear)]
        y = g.node("Softmax", [_linears(g, "bag", lin, "fc")], axis=1)
        onnx_bytes = g.model("bag", [1, cfg.embed_dim], y, classes)
        table = _arr(model.embed.weight)[: cfg.buckets].copy()
    return Student(cfg.family, labels, cfg, onnx_bytes, table, history)


def compile_student(student: Student, calib: Any, tmp_dir: str | Path, method: str = "minmax",
                    progress: Callable[[int, int], None] | None = None) -> Any:  # fmt: skip
    """The int8 blob of a student (``edgeai.compiler.Compiled``), calibrated on ``calib``: inputs of
    the student's kind (feature vectors, images, or texts)."""
    d = Path(tmp_dir)
    d.mkdir(parents=True, exist_ok=True)
    if student.family == "text":
        from .textmodel import compile_text_classifier

        assert student.table is not None
        head = d / "student_head.onnx"
        head.write_bytes(student.onnx)
        cfg = student.config
        return compile_text_classifier(student.table, head, list(calib), cfg.ngrams, cfg.max_ids, method)
    from .compiler import compile_onnx

    path = d / "student.onnx"
    path.write_bytes(student.onnx)
    samples = d / "student_calib.npy"
    np.save(samples, np.asarray(calib, dtype=np.float32))
    compiled, _ = compile_onnx(path, samples, method, progress)
    return compiled


# -- the whole job behind `edgeai distill` ---------------------------------------------------------
STUDENT_FORMAT = "edgeai-student"


@dataclass
class DistillReport:
    blob_path: Path
    info_path: Path
    labels: list[str]
    teacher: str  # the teacher spec the cascade uses (a saved head for a MiniLM teacher fitted here)
    train: int
    validation: int
    teacher_accuracy: float | None  # on the validation split, when the data is labelled
    student_accuracy: float | None  # the int8 student (edgeai.ref: what the board computes)
    agreement: float  # int8 student vs teacher on the validation split
    threshold: float
    cascade_accuracy: float  # at that threshold (agreement with the teacher without labels)
    board_share: float
    blob_bytes: int
    arena_bytes: int


def read_text_data(path: str | Path) -> tuple[list[str], list[str] | None]:
    """Texts, and labels when labelled: a .tsv of ``label<TAB>text`` lines (split on the first tab,
    no quoting), or a text file of one unlabelled text per line."""
    p = Path(path)
    try:
        lines = [line for line in p.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError as e:
        raise EdgeAIError(f"{p}: cannot read the data ({e.strerror})") from None
    if not lines:
        raise EdgeAIError(f"{p}: no texts in it")
    if p.suffix.lower() == ".tsv":
        pairs = [line.partition("\t") for line in lines]
        bad = next((k for k, (_, sep, _) in enumerate(pairs) if not sep), None)
        if bad is not None:
            raise EdgeAIError(f"{p}:{bad + 1}: a .tsv line is label<TAB>text")
        return [t for _, _, t in pairs], [lab.strip() for lab, _, _ in pairs]
    return lines, None


def int8_probs(data: bytes, inputs: Any, family: str) -> F32:
    """The int8 student's outputs through edgeai.ref (bit-exact with the board), as probabilities."""
    from .ref import Interpreter

    interp = Interpreter(data)
    blob = interp.blob
    out_t = blob.tensors[blob.outputs[0]]
    if family == "text":
        from .textmodel import text_features

        xs: Any = [[ids[None, :]] for ids in text_features(data, list(inputs))]
    else:
        t = blob.tensors[blob.inputs[0]]
        arr = np.asarray(inputs, dtype=np.float32)
        if arr.ndim == 4:  # NCHW images to the blob's NHWC
            arr = arr.transpose(0, 2, 3, 1)
        from .evaluate import quantize_input

        q = quantize_input(arr, t)
        xs = [[q[i : i + 1].reshape(t.shape)] for i in range(len(q))]
    rows = [(interp.run(x)[0].astype(np.float32).reshape(-1) - out_t.zero_point) * out_t.scale for x in xs]
    return np.asarray(rows, dtype=np.float32)


def run_distill(data_path: str | Path, teacher_spec: str, out: str | Path, config: DistillConfig,
                labels: Sequence[str] | None = None, targets_path: str | Path | None = None,
                describe: dict[str, str] | None = None, board: str | None = None,
                target_accuracy: float | None = None, target_board_share: float | None = None,
                allow_remote: bool = False, log: Callable[[str], None] | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> DistillReport:  # fmt: skip
    """Teacher → soft labels → student → int8 blob for a board, with the cascade threshold
    calibrated on a held-out fifth of the data through edgeai.ref (what the board computes).
    Writes OUT.eai, OUT.json (labels, teacher, threshold) and the float student beside them."""
    from .cascade import calibrate_threshold
    from .teachers import MiniLMEmbedder, TextTeacher, load_teacher

    outp = Path(out).with_suffix("")
    outp.parent.mkdir(parents=True, exist_ok=True)
    truth_names: list[str] | None
    if config.family == "text":
        inputs, truth_names = read_text_data(data_path)
    else:
        try:
            inputs = np.load(data_path)
        except (OSError, ValueError) as e:
            raise EdgeAIError(f"{data_path}: not a readable .npy of inputs ({e})") from None
        truth_names = None
    teacher: Any
    spec = teacher_spec
    if teacher_spec == "minilm":
        if config.family != "text":
            raise EdgeAIError("the minilm teacher is for text: use --family text")
        if describe:
            teacher = TextTeacher.zero_shot(describe, embedder=MiniLMEmbedder())
        elif truth_names is not None:
            classes = list(labels) if labels else sorted(set(truth_names))
            teacher = TextTeacher.fit(inputs, truth_names, embedder=MiniLMEmbedder(), classes=classes, seed=config.seed)
        else:
            raise EdgeAIError("a minilm teacher learns from labelled data (a .tsv) or --describe LABEL=TEXT each")
        head = teacher.save(outp.with_suffix(".teacher.npz"))
        spec = f"minilm:{head}"
    else:
        teacher = load_teacher(teacher_spec, list(labels) if labels else None, allow_remote)
    names = list(teacher.labels)
    truth: npt.NDArray[np.int64] | None = None
    if truth_names is not None:
        unknown = sorted(set(truth_names) - set(names))
        if unknown:
            raise EdgeAIError(f"{data_path}: labels {unknown} are not the teacher's {names}")
        truth = np.array([names.index(n) for n in truth_names], dtype=np.int64)
    elif targets_path is not None:
        truth = np.asarray(np.load(targets_path), dtype=np.int64).reshape(-1)
        if len(truth) != len(inputs):
            raise EdgeAIError(f"{targets_path}: {len(truth)} labels for {len(inputs)} inputs")
    n = len(inputs)
    order = np.random.default_rng(config.seed).permutation(n)
    cut = max(1, int(0.8 * n))
    tr, va = order[:cut], order[cut:]
    if len(va) == 0:
        raise EdgeAIError(f"{data_path}: too few examples to hold out a validation fifth ({n})")

    def pick(idx: npt.NDArray[np.int64]) -> Any:
        return [inputs[i] for i in idx] if config.family == "text" else np.asarray(inputs)[idx]

    step = (lambda label: (lambda d, t: progress(label, d, t))) if progress else (lambda label: None)
    if log:
        log(f"teacher {spec}: labelling {len(tr)} training examples")
    soft = teacher.predict_proba(pick(tr))
    student = distill(pick(tr), soft, names, config, truth[tr] if truth is not None else None, log,
                      step("distilling"))  # fmt: skip
    student.save(outp)
    calib = pick(tr[: min(len(tr), 1000)])
    compiled = compile_student(student, calib, outp.parent / f".{outp.name}.build", progress=step("calibrating"))
    if board:
        from .boards import load_board

        b = load_board(board)
        misfit = b.misfits(compiled.blob_bytes, compiled.arena_bytes)
        if misfit:
            raise EdgeAIError(f"the student does not fit {b.name}: {'; '.join(misfit)}; try fewer --buckets")
    blob_path = outp.with_suffix(".eai")
    blob_path.write_bytes(compiled.data)
    board_p = int8_probs(compiled.data, pick(va), config.family)
    teacher_p = teacher.predict_proba(pick(va))
    y = truth[va] if truth is not None else None
    t_acc = float((teacher_p.argmax(1) == y).mean()) if y is not None else None
    if target_accuracy is None and target_board_share is None:
        if t_acc is not None:
            target_accuracy = t_acc - 0.0025
        else:
            target_board_share = 0.8
    choice = calibrate_threshold(board_p, teacher_p, y, target_accuracy, target_board_share)
    info = {
        "format": STUDENT_FORMAT, "version": 1, "labels": names, "family": config.family, "teacher": spec,
        "threshold": choice.threshold, "input": "text" if config.family == "text" else "tensor",
        "calibrated_on": {"examples": len(va), "cascade_accuracy": choice.accuracy,
                          "board_share": choice.board_share, "labelled": y is not None},
    }  # fmt: skip
    info_path = outp.with_suffix(".json")
    import json

    info_path.write_text(json.dumps(info, indent=2) + "\n")
    return DistillReport(
        blob_path=blob_path, info_path=info_path, labels=names, teacher=spec, train=len(tr), validation=len(va),
        teacher_accuracy=t_acc,
        student_accuracy=float((board_p.argmax(1) == y).mean()) if y is not None else None,
        agreement=float((board_p.argmax(1) == teacher_p.argmax(1)).mean()),
        threshold=choice.threshold, cascade_accuracy=choice.accuracy, board_share=choice.board_share,
        blob_bytes=compiled.blob_bytes, arena_bytes=compiled.arena_bytes,
    )  # fmt: skip


def read_student_info(blob_path: str | Path) -> dict[str, Any]:
    """OUT.json beside OUT.eai, written by edgeai distill ({} when absent)."""
    import json

    p = Path(blob_path).with_suffix(".json")
    if not p.exists():
        return {}
    try:
        info = json.loads(p.read_text())
    except ValueError as e:
        raise EdgeAIError(f"{p}: not readable JSON ({e})") from None
    if info.get("format") != STUDENT_FORMAT:
        raise EdgeAIError(f"{p}: not an edgeai distill student file")
    return dict(info)
