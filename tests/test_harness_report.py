"""The harness report on real runs: the digits example model compiled, vectors made by
edgeai.ref, run on the simulated board with per-layer timing and the layer diff."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgeai.blob import read_blob
from edgeai.compiler import compile_onnx
from edgeai.harness import HarnessRun, Target, run_tests
from edgeai.harness_report import write_test_report
from edgeai.vectors import Vector, make_vectors

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "models" / "digits"


@pytest.fixture(scope="module")
def model() -> bytes:
    compiled, _ = compile_onnx(DIGITS / "digits_small.onnx", DIGITS / "calib.npy")
    return compiled.data


def _run(data: bytes, vectors: list[Vector], flash: Path) -> HarnessRun:
    return run_tests(data, vectors, [Target(board="sim", flash=flash)], model="digits_small", layers=True)


def _check_page(page: Path) -> str:
    assert page.name == "index.html" and page.exists()
    text = page.read_text(encoding="utf-8")
    pngs = sorted(p.name for p in page.parent.glob("*.png"))
    assert pngs, "the report has no plots"
    for name in pngs:
        assert f"src='{name}'" in text, f"{name} is written but not on the page"
        assert (page.parent / name).read_bytes().startswith(b"\x89PNG")
    for src in re.findall(r"src='([^']+)'", text):
        assert (page.parent / src).exists(), f"the page shows {src}, which was not written"
    return text


def test_report_of_a_passing_run(model: bytes, tmp_path: Path) -> None:
    vectors = make_vectors(model, samples=3)
    run = _run(model, vectors, tmp_path / "flash.bin")
    assert run.ok and run.runs[0].layers and run.runs[0].diff
    page = write_test_report(tmp_path / "report", run, model)
    text = _check_page(page)
    assert {"latency_0.png", "arena.png", "size.png"} <= {p.name for p in page.parent.glob("*.png")}
    assert "PASS" in text and "FAIL" not in text
    assert "<td>sim</td>" in text and "digits_small" in text
    assert run.model_sha256[:12] in text
    for i, op in enumerate(read_blob(model).ops):  # one row per layer in the latency table
        assert f"<tr><td>{i}</td><td>{op.opname}</td>" in text
    assert "found no differing layer" in text  # the diff ran with --layers and all layers agree
    for v in vectors:
        assert f"<td>{v.name} " in text or f"<td>{v.name}<" in text


def test_report_of_a_failing_vector(model: bytes, tmp_path: Path) -> None:
    vectors = make_vectors(model, samples=3)
    bad = vectors[1]
    vectors[1] = replace(bad, outputs=[np.bitwise_xor(y, np.int8(1)) for y in bad.outputs])  # every value off
    run = _run(model, vectors, tmp_path / "flash.bin")
    board = run.runs[0]
    assert not run.ok and board.diff_vector == bad.name and board.first_bad_layer is None
    page = write_test_report(tmp_path / "report", run, model)
    text = _check_page(page)
    assert "FAIL" in text and f"differ on {board.target}" in text
    assert "found no differing layer" in text  # the board is right, the vector is wrong
    row = re.search(rf"<tr class='failed'><td>{bad.name}\b.*?</tr>", text)
    assert row is not None and "FAIL" in row.group(0)
    assert not list(page.parent.glob("diff_*.png"))  # no plot of a diff without a difference
