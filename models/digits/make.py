#!/usr/bin/env python3
"""Train the digits example models and write them as ONNX, with their calibration and test samples.

    python models/digits/make.py [--out DIR]

Data: scikit-learn's bundled 8x8 digits (1797 images, no download), pixels scaled to [0, 1] (pixel / 16), split per
class with a seeded permutation into train 60 % / calibration 10 % / test 30 %.

Writes into DIR (default: this file's folder):
  digits_small.onnx  tiny CNN for any ESP32 (BatchNormalization, ReLU6 as Clip, depthwise conv, residual Add)
  digits_large.onnx  wider float CNN of the same task, the laptop-side model
  calib.npy          float32 [N,1,8,8], the calibration split
  test_x.npy         float32 [N,1,8,8], the held-out split
  test_y.npy         int64 [N], its labels
  metrics.json       test accuracies, parameter counts, seeds, versions

Both models take "input" float32 [1,1,8,8] and return "logits" float32 [1,10] (no Softmax: apply it yourself).

Everything is seeded and runs on one thread with deterministic kernels that do not depend on the CPU's vector
instructions (the optimizer's square root included: see AdamW), so a rerun writes the same bytes, on this machine
and (checked under QEMU's Haswell CPU, without AVX-512) on another x86-64 one.

The ONNX graphs are written node by node from the trained weights (onnx.helper), not by torch.onnx.export: that
keeps BatchNormalization as its own node (the TorchScript exporter folds it into the Conv in eval mode), fixes
opset, IR version, names and producer fields, and needs no exporter dependency. onnxruntime, when installed, checks
that each file computes what the trained torch model computes.
"""

from __future__ import annotations

import os

# Before torch loads: one thread, and CPU code paths that do not depend on the vector instructions the CPU offers
# (ATen's plain kernels, MKL's conditional numerical reproducibility mode). Set, not defaulted: the bytes depend on
# them.
os.environ["ATEN_CPU_CAPABILITY"] = "default"
os.environ["MKL_CBWR"] = "COMPATIBLE"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from torch import nn

HERE = Path(__file__).resolve().parent
SPLIT_SEED = 0
TRAIN_SEED = 0
OPSET = 13
IR_VERSION = 7  # the IR version of opset 13; read by every onnxruntime since 1.6
PRODUCER = "edgeai models/digits/make.py"
PRODUCER_VERSION = "1"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
INPUT_SHAPE = (1, 1, 8, 8)
NUM_CLASSES = 10
SPLIT = (0.6, 0.1, 0.3)  # train, calibration, test


# ---------------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Splits:
    train_x: NDArray[np.float32]
    train_y: NDArray[np.int64]
    calib_x: NDArray[np.float32]
    calib_y: NDArray[np.int64]
    test_x: NDArray[np.float32]
    test_y: NDArray[np.int64]


def load_splits(seed: int = SPLIT_SEED) -> Splits:
    """Stratified train/calibration/test split with numpy's legacy RandomState (its stream never changes)."""
    digits = load_digits()
    x = (np.asarray(digits.data, dtype=np.float64) / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = np.asarray(digits.target, dtype=np.int64)
    rng = np.random.RandomState(seed)
    parts: list[list[NDArray[np.intp]]] = [[], [], []]
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        n_train = round(len(idx) * SPLIT[0])
        n_calib = round(len(idx) * SPLIT[1])
        parts[0].append(idx[:n_train])
        parts[1].append(idx[n_train : n_train + n_calib])
        parts[2].append(idx[n_train + n_calib :])
    # Sorted indices: the files list samples in the dataset's own order.
    train, calib, test = (np.sort(np.concatenate(p)) for p in parts)
    return Splits(x[train], y[train], x[calib], y[calib], x[test], y[test])


# ---------------------------------------------------------------------------------------------------- models


class DigitsSmall(nn.Module):
    """Tiny CNN: conv-bn-relu, strided conv-bn-relu6, depthwise residual block, flatten, gemm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.bn3 = nn.BatchNorm2d(16)
        self.pw = nn.Conv2d(16, 16, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16 * 4 * 4, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))  # 8x8x8
        y = torch.clamp(self.bn2(self.conv2(x)), 0.0, 6.0)  # 16x4x4, ReLU6
        z = torch.relu(self.bn3(self.dw(y)))
        z = self.bn4(self.pw(z))
        x = torch.relu(y + z)
        out: torch.Tensor = self.fc(torch.flatten(x, 1))
        return out


class DigitsLarge(nn.Module):
    """Wider float CNN: two conv-bn-relu, maxpool, conv-bn-relu, maxpool, gemm-relu, dropout, gemm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.pool1 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(64)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 2 * 2, 64)
        self.drop = nn.Dropout(0.25)
        self.fc2 = nn.Linear(64, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))  # 32x8x8
        x = self.pool1(torch.relu(self.bn2(self.conv2(x))))  # 32x4x4
        x = self.pool2(torch.relu(self.bn3(self.conv3(x))))  # 64x2x2
        x = self.drop(torch.relu(self.fc1(torch.flatten(x, 1))))
        out: torch.Tensor = self.fc2(x)
        return out


# ---------------------------------------------------------------------------------------------------- ONNX


def _array(t: torch.Tensor) -> NDArray[np.float32]:
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


class GraphBuilder:
    """Writes ONNX nodes and initializers from torch modules, with stable names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def _init(self, name: str, value: NDArray[Any]) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def _node(self, op: str, inputs: list[str], name: str, out: str | None = None, **attrs: Any) -> str:
        output = out or name
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def conv(self, x: str, m: nn.Conv2d, name: str) -> str:
        inputs = [x, self._init(f"{name}.weight", _array(m.weight))]
        if m.bias is not None:
            inputs.append(self._init(f"{name}.bias", _array(m.bias)))
        kh, kw = m.kernel_size
        assert not isinstance(m.padding, str)
        ph, pw = m.padding
        return self._node(
            "Conv",
            inputs,
            name,
            kernel_shape=[kh, kw],
            strides=list(m.stride),
            pads=[ph, pw, ph, pw],
            dilations=list(m.dilation),
            group=m.groups,
        )

    def batchnorm(self, x: str, m: nn.BatchNorm2d, name: str) -> str:
        assert m.running_mean is not None and m.running_var is not None
        inputs = [
            x,
            self._init(f"{name}.scale", _array(m.weight)),
            self._init(f"{name}.bias", _array(m.bias)),
            self._init(f"{name}.mean", _array(m.running_mean)),
            self._init(f"{name}.var", _array(m.running_var)),
        ]
        return self._node("BatchNormalization", inputs, name, epsilon=float(m.eps))

    def relu(self, x: str, name: str) -> str:
        return self._node("Relu", [x], name)

    def relu6(self, x: str, name: str) -> str:
        lo = self._init(f"{name}.min", np.array(0.0, dtype=np.float32))
        hi = self._init(f"{name}.max", np.array(6.0, dtype=np.float32))
        return self._node("Clip", [x, lo, hi], name)

    def add(self, a: str, b: str, name: str) -> str:
        return self._node("Add", [a, b], name)

    def maxpool(self, x: str, m: nn.MaxPool2d, name: str) -> str:
        assert isinstance(m.kernel_size, int) and isinstance(m.stride, int) and m.padding == 0
        k, s = m.kernel_size, m.stride
        return self._node("MaxPool", [x], name, kernel_shape=[k, k], strides=[s, s])

    def flatten(self, x: str, name: str) -> str:
        return self._node("Flatten", [x], name, axis=1)

    def dropout(self, x: str, name: str) -> str:
        return self._node("Dropout", [x], name)

    def gemm(self, x: str, m: nn.Linear, name: str, out: str | None = None) -> str:
        w = self._init(f"{name}.weight", _array(m.weight))
        assert m.bias is not None
        b = self._init(f"{name}.bias", _array(m.bias))
        return self._node("Gemm", [x, w, b], name, out=out, transB=1)

    def model(self, graph_name: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            graph_name,
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, list(INPUT_SHAPE))],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, NUM_CLASSES])],
            self.initializers,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name=PRODUCER,
            producer_version=PRODUCER_VERSION,
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        # Record every intermediate tensor's shape (value_info) so readers need no shape inference of their own.
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)


def small_to_onnx(m: DigitsSmall) -> onnx.ModelProto:
    g = GraphBuilder()
    x = g.relu(g.batchnorm(g.conv(INPUT_NAME, m.conv1, "conv1"), m.bn1, "bn1"), "relu1")
    y = g.relu6(g.batchnorm(g.conv(x, m.conv2, "conv2"), m.bn2, "bn2"), "relu6_2")
    z = g.relu(g.batchnorm(g.conv(y, m.dw, "dw3"), m.bn3, "bn3"), "relu3")
    z = g.batchnorm(g.conv(z, m.pw, "pw4"), m.bn4, "bn4")
    x = g.relu(g.add(y, z, "add4"), "relu4")
    g.gemm(g.flatten(x, "flatten"), m.fc, "fc", out=OUTPUT_NAME)
    return g.model("digits_small")


def large_to_onnx(m: DigitsLarge) -> onnx.ModelProto:
    g = GraphBuilder()
    x = g.relu(g.batchnorm(g.conv(INPUT_NAME, m.conv1, "conv1"), m.bn1, "bn1"), "relu1")
    x = g.relu(g.batchnorm(g.conv(x, m.conv2, "conv2"), m.bn2, "bn2"), "relu2")
    x = g.maxpool(x, m.pool1, "pool1")
    x = g.relu(g.batchnorm(g.conv(x, m.conv3, "conv3"), m.bn3, "bn3"), "relu3")
    x = g.maxpool(x, m.pool2, "pool2")
    x = g.dropout(g.relu(g.gemm(g.flatten(x, "flatten"), m.fc1, "fc1"), "relu_fc1"), "dropout")
    g.gemm(x, m.fc2, "fc2", out=OUTPUT_NAME)
    return g.model("digits_large")


# ---------------------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float


SMALL_CONFIG = TrainConfig(epochs=60, batch_size=32, lr=0.01, weight_decay=1e-4)
LARGE_CONFIG = TrainConfig(epochs=40, batch_size=32, lr=0.003, weight_decay=1e-4)


def _shift(x: torch.Tensor, rng: np.random.RandomState) -> torch.Tensor:
    """Augmentation: shift each image by -1..1 pixels in each direction (zero fill)."""
    out = torch.zeros_like(x)
    shifts = rng.randint(-1, 2, size=(x.shape[0], 2))
    for i, (dy, dx) in enumerate(shifts):
        src = x[i, :, max(0, -dy) : 8 - max(0, dy), max(0, -dx) : 8 - max(0, dx)]
        out[i, :, max(0, dy) : 8 - max(0, -dy), max(0, dx) : 8 - max(0, -dx)] = src
    return out


class AdamW(torch.optim.Optimizer):
    """torch.optim.AdamW's update (decoupled weight decay, the same operations in the same order), with the square
    root of the second moment taken by numpy.

    On the CPU, torch.sqrt goes through MKL's vector math, whose results differ in the last bit from one CPU to the
    next (seen here: a machine with AVX-512 and one without, MKL_CBWR set or not); one such bit in the update's
    denominator changes every later step, and so the trained bytes. numpy's square root is IEEE 754's, exact on
    every CPU."""

    def __init__(
        self,
        params: Any,
        lr: float,
        weight_decay: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()  # type: ignore[untyped-decorator]
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                p.mul_(1 - lr * weight_decay)
                m.lerp_(p.grad, 1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = torch.from_numpy(np.sqrt(v.numpy())).div_(math.sqrt(1 - beta2**t)).add_(eps)
                p.addcdiv_(m, denom, value=-lr / (1 - beta1**t))


def train(model: nn.Module, cfg: TrainConfig, splits: Splits, seed: int, log: Callable[[str], None]) -> None:
    rng = np.random.RandomState(seed)
    x = torch.from_numpy(splits.train_x)
    y = torch.from_numpy(splits.train_y)
    opt = AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = (len(x) + cfg.batch_size - 1) // cfg.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        total = 0.0
        for start in range(0, len(x), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            xb = _shift(x[idx], rng) if rng.rand() < 0.5 else x[idx]
            loss = loss_fn(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if (epoch + 1) % 10 == 0 or epoch == 0:
            acc = accuracy(model, splits.test_x, splits.test_y)
            log(f"  epoch {epoch + 1:3d}/{cfg.epochs}  loss {total / len(x):.4f}  test acc {acc:.4f}")
    model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: NDArray[np.float32]) -> NDArray[np.float32]:
    model.eval()
    out: NDArray[np.float32] = model(torch.from_numpy(x)).numpy()
    return out


def accuracy(model: nn.Module, x: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    return float((predict(model, x).argmax(1) == y).mean())


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def int8_weight_bytes(model: nn.Module) -> int:
    """Bytes of an int8 build: int8 weights and an int32 bias per output channel, batch norm folded into convs."""
    total = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            total += m.weight.numel() + 4 * m.weight.shape[0]
    return total


def check_onnxruntime(path: Path, model: nn.Module, x: NDArray[np.float32], log: Callable[[str], None]) -> None:
    """When onnxruntime is installed: the ONNX file must compute what the torch model computes."""
    try:
        import onnxruntime as ort
    except ImportError:
        log(f"  (onnxruntime absent: {path.name} not cross-checked)")
        return
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run([OUTPUT_NAME], {INPUT_NAME: x[i : i + 1]})[0] for i in range(len(x))])
    want = predict(model, x)
    diff = float(np.abs(got - want).max())
    if diff > 1e-3 or not np.array_equal(got.argmax(1), want.argmax(1)):
        raise SystemExit(f"{path.name}: onnxruntime differs from torch (max abs diff {diff:g})")
    log(f"  onnxruntime agrees with torch on {len(x)} test images (max abs diff {diff:.2e})")


# ---------------------------------------------------------------------------------------------------- main


def _save_npy(path: Path, a: NDArray[Any]) -> None:
    with path.open("wb") as f:
        np.save(f, a, allow_pickle=False)


def build(out: Path, log: Callable[[str], None] = print) -> dict[str, object]:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.backends.mkldnn.enabled = False  # type: ignore[assignment]
    torch.backends.nnpack.set_flags(False)  # type: ignore[no-untyped-call]
    out.mkdir(parents=True, exist_ok=True)

    splits = load_splits()
    log(f"digits: train {len(splits.train_y)}, calibration {len(splits.calib_y)}, test {len(splits.test_y)}")
    _save_npy(out / "calib.npy", splits.calib_x)
    _save_npy(out / "test_x.npy", splits.test_x)
    _save_npy(out / "test_y.npy", splits.test_y)

    metrics: dict[str, object] = {
        "dataset": "sklearn.datasets.load_digits, pixel / 16, stratified 60/10/30",
        "split_seed": SPLIT_SEED,
        "train_seed": TRAIN_SEED,
        "n_train": len(splits.train_y),
        "n_calib": len(splits.calib_y),
        "n_test": len(splits.test_y),
        "torch": torch.__version__,
        "opset": OPSET,
        "input": {"name": INPUT_NAME, "shape": list(INPUT_SHAPE), "dtype": "float32", "range": [0.0, 1.0]},
        "output": {"name": OUTPUT_NAME, "shape": [1, NUM_CLASSES], "dtype": "float32", "kind": "logits"},
        "models": {},
    }
    models: list[tuple[str, Callable[[], nn.Module], TrainConfig, Callable[[nn.Module], onnx.ModelProto]]] = [
        ("digits_small", DigitsSmall, SMALL_CONFIG, lambda m: small_to_onnx(m)),  # type: ignore[arg-type]
        ("digits_large", DigitsLarge, LARGE_CONFIG, lambda m: large_to_onnx(m)),  # type: ignore[arg-type]
    ]
    for name, make_model, cfg, export in models:
        torch.manual_seed(TRAIN_SEED)
        model = make_model()
        log(f"{name}: {count_params(model)} parameters, {cfg.epochs} epochs")
        t0 = time.perf_counter()
        train(model, cfg, splits, TRAIN_SEED, log)
        log(f"  trained in {time.perf_counter() - t0:.1f} s")
        proto = export(model)
        path = out / f"{name}.onnx"
        path.write_bytes(proto.SerializeToString(deterministic=True))
        check_onnxruntime(path, model, splits.test_x, log)
        correct = int((predict(model, splits.test_x).argmax(1) == splits.test_y).sum())
        acc = correct / len(splits.test_y)
        metrics["models"][name] = {  # type: ignore[index]
            "file": path.name,
            "test_accuracy": acc,
            "test_correct": correct,
            "params": count_params(model),
            "int8_weight_bytes": int8_weight_bytes(model),
            "ops": sorted({n.op_type for n in proto.graph.node}),
            "train": {
                "epochs": cfg.epochs,
                "batch_size": cfg.batch_size,
                "lr": cfg.lr,
                "weight_decay": cfg.weight_decay,
            },
        }
        log(f"  {name}: test accuracy {acc:.4f} ({correct}/{len(splits.test_y)}), {path.stat().st_size} bytes")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: %(default)s)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    metrics = build(args.out)
    for name, m in metrics["models"].items():  # type: ignore[attr-defined]
        print(f"{name}: test accuracy {m['test_accuracy']:.4f}")
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
