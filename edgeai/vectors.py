"""Golden test vectors: inputs and the outputs ``edgeai.ref`` gives for them, in a folder bound
to one model by its SHA-256 (docs/vectors.md).

    DIR/vectors.json        the manifest
    DIR/NNNN/in0.bin ...    raw inputs of vector NNNN (int8; int32 little-endian for ids), in input order
    DIR/NNNN/out0.bin ...   the expected int8 outputs
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .blob import Blob, np_dtype, random_inputs, read_blob
from .errors import EdgeAIError
from .ref import Interpreter

FORMAT = "edgeai-vectors"
VERSION = 1
MANIFEST = "vectors.json"
I8 = npt.NDArray[Any]  # int8, or int32 ids for an embedding bag's input


def model_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Vector:
    name: str
    source: str  # "random seed S #k" or the input file it came from
    inputs: list[I8]
    outputs: list[I8]


@dataclass(frozen=True)
class VectorSet:
    folder: Path
    model_sha256: str
    model_bytes: int
    vectors: list[Vector]


def _shapes(blob: Blob, indices: Sequence[int]) -> list[list[int]]:
    return [list(blob.tensors[i].shape) for i in indices]


def make_vectors(data: bytes, samples: int = 10, input_files: Sequence[str | Path] = (), seed: int = 0,
                 progress: Callable[[int, int], None] | None = None) -> list[Vector]:  # fmt: skip
    """Vectors for a model: every sample of the input files (single-input models), then
    ``samples`` seeded random inputs; the expected outputs come from ``edgeai.ref``."""
    from .verify import load_samples

    interp = Interpreter(data)
    blob = interp.blob
    cases: list[tuple[str, list[I8]]] = []
    for f in input_files:
        if len(blob.inputs) != 1:
            raise EdgeAIError(f"--input takes single-input models; this one has {len(blob.inputs)} inputs")
        for k, x in enumerate(load_samples(f, blob.tensors[blob.inputs[0]])):
            cases.append(
                (f"{Path(f).name} #{k}", [np.asarray(x, dtype=np.int8).reshape(blob.tensors[blob.inputs[0]].shape)])
            )
    rng = np.random.default_rng(seed)
    for k in range(samples):
        xs = random_inputs(blob, rng)
        cases.append((f"random seed {seed} #{k}", xs))
    if not cases:
        raise EdgeAIError("no vectors to make: give --samples N (N > 0) or --input FILE")
    out = []
    for k, (source, xs) in enumerate(cases):
        ys = [np.asarray(y, dtype=np.int8) for y in interp.run(xs)]
        out.append(Vector(f"{k:04d}", source, xs, ys))
        if progress:
            progress(k + 1, len(cases))
    return out


def write_vectors(folder: Path, data: bytes, vectors: Sequence[Vector], model_name: str = "") -> Path:
    """Write the folder (replacing a previous vector set there) and return its manifest."""
    blob = read_blob(data)
    folder = Path(folder)
    if folder.exists() and not (folder / MANIFEST).exists() and any(folder.iterdir()):
        raise EdgeAIError(f"{folder} exists and is not a vector folder: choose an empty or new folder")
    try:
        for old in folder.glob("[0-9][0-9][0-9][0-9]"):
            shutil.rmtree(old)
        folder.mkdir(parents=True, exist_ok=True)
        entries = []
        for v in vectors:
            d = folder / v.name
            d.mkdir()
            for i, x in enumerate(v.inputs):
                dt = np_dtype(blob.tensors[blob.inputs[i]].dtype)
                (d / f"in{i}.bin").write_bytes(np.ascontiguousarray(x, dtype=dt).tobytes())
            for i, y in enumerate(v.outputs):
                (d / f"out{i}.bin").write_bytes(np.ascontiguousarray(y, dtype=np.int8).tobytes())
            entries.append({"name": v.name, "source": v.source})
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "model": model_name,
            "model_sha256": model_sha256(data),
            "model_bytes": len(data),
            "inputs": _shapes(blob, blob.inputs),
            "outputs": _shapes(blob, blob.outputs),
            "dtype": "int8",
            "input_dtypes": [np_dtype(blob.tensors[i].dtype).name for i in blob.inputs],
            "expected_by": "edgeai.ref",
            "vectors": entries,
        }
        path = folder / MANIFEST
        path.write_text(json.dumps(manifest, indent=2) + "\n")
    except OSError as e:
        raise EdgeAIError(f"{folder}: cannot write the vectors ({e.strerror})") from None
    return path


def read_vectors(folder: str | Path, data: bytes | None = None) -> VectorSet:
    """Read a vector folder; with ``data``, refuse it unless it was made for that very model."""
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError:
        raise EdgeAIError(
            f"{folder}: no {MANIFEST}; make vectors with `edgeai vectors MODEL.eai -o {folder}`"
        ) from None
    except (OSError, ValueError) as e:
        raise EdgeAIError(f"{path}: not a readable vector manifest ({e})") from None
    if m.get("format") != FORMAT or m.get("version") != VERSION:
        raise EdgeAIError(f"{path}: not an {FORMAT} v{VERSION} manifest")
    if data is not None and m.get("model_sha256") != model_sha256(data):
        raise EdgeAIError(
            f"{folder}: these vectors were made for another model (sha256 {str(m.get('model_sha256'))[:12]}…, "
            f"this model {model_sha256(data)[:12]}…); make them anew with `edgeai vectors`"
        )
    vectors = []
    for entry in m["vectors"]:
        d = folder / entry["name"]
        try:
            dts = m.get("input_dtypes", ["int8"] * len(m["inputs"]))
            xs = [np.fromfile(d / f"in{i}.bin", dtype=np.dtype(dt).newbyteorder("<")) for i, dt in enumerate(dts)]
            ys = [np.fromfile(d / f"out{i}.bin", dtype=np.int8) for i in range(len(m["outputs"]))]
        except OSError as err:
            raise EdgeAIError(f"{d}: a vector file is missing ({err.strerror})") from None
        for arr, shape, what in [*zip(xs, m["inputs"], ["input"] * len(xs), strict=True),
                                 *zip(ys, m["outputs"], ["output"] * len(ys), strict=True)]:  # fmt: skip
            if arr.size != int(np.prod(shape)):  # counts values, whatever their width
                raise EdgeAIError(
                    f"{d}: an {what} file holds {arr.size} bytes, the model's {what} needs {np.prod(shape)}"
                )
        vectors.append(Vector(
            entry["name"], entry.get("source", ""),
            [x.reshape(s) for x, s in zip(xs, m["inputs"], strict=True)],
            [y.reshape(s) for y, s in zip(ys, m["outputs"], strict=True)],
        ))  # fmt: skip
    return VectorSet(folder, m["model_sha256"], int(m["model_bytes"]), vectors)
