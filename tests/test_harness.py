"""The on-device test harness: vectors, `edgeai test` on the emulated boards, JUnit, the layer
diff against a firmware with a planted fault, and several boards in parallel."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgeai.blob import read_blob
from edgeai.compiler import compile_model
from edgeai.errors import EdgeAIError
from edgeai.harness import Target, arena_timeline, run_tests, size_breakdown, write_junit
from edgeai.vectors import make_vectors, read_vectors, write_vectors

from .conftest import MODELS, mlperf_path

ROOT = Path(__file__).resolve().parent.parent
HAVE_QEMU = shutil.which("qemu-system-riscv32") is not None and shutil.which("riscv64-unknown-elf-gcc") is not None


def _compiled(name: str) -> bytes:
    return compile_model(mlperf_path(MODELS[name])).data


@pytest.fixture(scope="module")
def kws() -> bytes:
    return _compiled("kws01")


def test_vectors_round_trip_and_bind_to_the_model(tmp_path: Path, kws: bytes) -> None:
    sample = mlperf_path("samples/kws01_sample0_mfcc_int8.bin")
    vs = make_vectors(kws, samples=3, input_files=[sample], seed=7)
    assert [v.source for v in vs][:2] == ["kws01_sample0_mfcc_int8.bin #0", "random seed 7 #0"]
    assert vs[0].outputs[0].reshape(-1)[5] == 127  # "on": the real sample's answer
    write_vectors(tmp_path / "v", kws, vs, "kws.eai")
    manifest = json.loads((tmp_path / "v/vectors.json").read_text())
    assert manifest["format"] == "edgeai-vectors" and manifest["model_bytes"] == len(kws)
    back = read_vectors(tmp_path / "v", kws)
    assert [v.name for v in back.vectors] == ["0000", "0001", "0002", "0003"]
    for a, b in zip(vs, back.vectors, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(a.inputs + a.outputs, b.inputs + b.outputs, strict=True))
    other = _compiled("ad01")
    with pytest.raises(EdgeAIError, match="made for another model"):
        read_vectors(tmp_path / "v", other)
    (tmp_path / "v/0001/out0.bin").write_bytes(b"\x00")
    with pytest.raises(EdgeAIError, match="holds 1 bytes"):
        read_vectors(tmp_path / "v", kws)
    with pytest.raises(EdgeAIError, match=r"no vectors\.json"):
        read_vectors(tmp_path, kws)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "edgeai", *args], capture_output=True, text=True, env=full)


@pytest.mark.parametrize("board", ["sim", "qemu-rv32"])
def test_edgeai_test_on_mlperf(tmp_path: Path, board: str) -> None:
    """All four MLPerf Tiny models: vectors written by `edgeai vectors`, run by `edgeai test`
    on the board, all bit-exact, JUnit with one passing testcase per vector."""
    if board == "qemu-rv32" and not HAVE_QEMU:
        if os.environ.get("CI"):
            raise RuntimeError("CI must run the qemu-rv32 harness tests: install qemu-system-misc")
        pytest.skip("qemu-system-riscv32 or riscv64-unknown-elf-gcc absent")
    flash = tmp_path / "flash.bin"
    for name in sorted(MODELS):
        model = tmp_path / f"{name}.eai"
        model.write_bytes(_compiled(name))
        extra = ["--input", str(mlperf_path("samples/kws01_sample0_mfcc_int8.bin"))] if name == "kws01" else []
        proc = _cli("vectors", str(model), "-o", str(tmp_path / f"{name}-vectors"), "--samples", "3", *extra)
        assert proc.returncode == 0, proc.stderr
        junit = tmp_path / f"{name}.xml"
        proc = _cli("test", str(model), "--board", board, "--flash", str(flash), "--vectors",
                    str(tmp_path / f"{name}-vectors"), "--junit", str(junit))  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.rstrip().endswith("PASS") and "vectors bit-exact" in proc.stdout
        suite = ET.parse(junit).getroot().find("testsuite")
        assert suite is not None and suite.get("failures") == "0" and suite.get("errors") == "0"
        cases = suite.findall("testcase")
        assert len(cases) == 3 + len(extra) // 2 and all(c.find("failure") is None for c in cases)
        if board == "qemu-rv32":
            assert all("instructions=None" not in (c.findtext("system-out") or "") for c in cases)


def _start_sim(binary: Path, flash: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([str(binary), "--flash", str(flash)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline() if ready else ""
    assert line.startswith("edgeai-sim: port "), line
    return proc, line.split("port ", 1)[1].strip()


@pytest.fixture
def sims(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Simulated boards started by hand from a given binary; yields their ports."""
    binary, count = request.param
    procs = []
    try:
        for k in range(count):
            proc, port = _start_sim(ROOT / binary if not Path(binary).is_absolute() else Path(binary),
                                    tmp_path / f"flash{k}.bin")  # fmt: skip
            procs.append((proc, port))
        yield [p for _, p in procs]
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(5)
            for s in (proc.stdout, proc.stderr):
                if s is not None:
                    s.close()


FAULTS = {
    # an off-by-one in the requantized output of channel 0, in one kernel only
    "depthwise": ("kernels/depthwise_conv.c", "v = eai_add_wrap(v, p->output_offset);",
                  "v = eai_add_wrap(v, p->output_offset + (co == 0));", "kws01", "DEPTHWISE_CONV_2D"),
    "add": ("kernels/add.c", "v = eai_add_wrap(v, p->output_offset);",
            "v = eai_add_wrap(v, p->output_offset + (i3 == 0));", "ic01", "ADD"),
}  # fmt: skip


def _faulty_sim(tmp_path: Path, fault: str) -> Path:
    """A test build of the simulator with one planted fault."""
    src, old, new, _, _ = FAULTS[fault]
    tree = tmp_path / "firmware"
    shutil.copytree(ROOT / "firmware", tree)
    path = tree / src
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    build = tmp_path / "build"
    proc = subprocess.run(["make", "-s", "-C", str(tree), "sim", f"BUILD={build}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return build / "edgeai-sim"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_layer_diff_names_the_faulty_layer(tmp_path: Path, fault: str) -> None:
    """A test build of the firmware with a planted fault: the layer diff names the first layer
    run by the broken kernel, with the size of the error (off by one), and no layer before it.
    The depthwise fault changes kws01's outputs (the vectors fail, and the diff runs on the
    failing vector); the ADD fault is hidden by ic01's softmax (the vectors pass), and only
    the diff (--layers) finds it: the run still fails."""
    _, _, _, model_name, op = FAULTS[fault]
    data = _compiled(model_name)
    blob = read_blob(data)
    expected = next(i for i, o in enumerate(blob.ops) if o.opname == op)
    binary = _faulty_sim(tmp_path, fault)
    proc, port = _start_sim(binary, tmp_path / "flash.bin")
    try:
        vectors = make_vectors(data, samples=2)
        run = run_tests(data, vectors, [Target(port=port)], model_name, layers=fault == "add")
    finally:
        proc.terminate()
        proc.wait(5)
    (r,) = run.runs
    assert not run.ok and r.error is None
    assert any(not v.passed for v in r.vectors) if fault == "depthwise" else all(v.passed for v in r.vectors)
    bad = r.first_bad_layer
    assert bad is not None and bad.index == expected and bad.op == op, bad
    assert all(d.identical for d in r.diff[:expected])
    assert bad.max_abs_diff == 1 and 0 < bad.mismatched < bad.compared
    assert "output_offset" in bad.params
    junit = tmp_path / "j.xml"
    write_junit(junit, run)
    messages = [f.get("message") or "" for f in ET.parse(junit).getroot().iter("failure")]
    assert any(f"first differing layer #{expected} {op}" in m for m in messages), messages


@pytest.mark.parametrize("sims", [("build/host/edgeai-sim", 3)], indirect=True)
def test_device_farm_in_parallel(tmp_path: Path, kws: bytes, sims: list[str]) -> None:
    """Three boards at once, one thread each; results merge into one run and one JUnit file.
    A port that is gone makes its own run fail with a reason, and the others still pass."""
    model = tmp_path / "kws.eai"
    model.write_bytes(kws)
    ports = [*sims, "/dev/pts/edgeai-none"]
    args = [x for p in ports for x in ("--port", p)]
    junit = tmp_path / "farm.xml"
    proc = _cli("test", str(model), *args, "--samples", "2", "--junit", str(junit))
    assert proc.returncode == 1
    for p in sims:
        assert f"{p} (sim, firmware" in proc.stdout and "2/2 vectors bit-exact" in proc.stdout
    assert "/dev/pts/edgeai-none: ERROR" in proc.stdout
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert len(suites) == 4 and sum(s.get("errors") == "1" for s in suites) == 1
    proc = _cli("test", str(model), *[x for p in sims for x in ("--port", p)], "--samples", "2", "--layers")
    assert proc.returncode == 0 and proc.stdout.count("every layer identical") == 3, proc.stdout


def test_arena_timeline_and_size_breakdown(kws: bytes) -> None:
    blob = read_blob(kws)
    tl = arena_timeline(blob)
    assert len(tl) == len(blob.ops)
    assert max(high for _, _, high in tl) == blob.arena_bytes  # the plan's high-water mark is its size
    assert all(live <= high <= blob.arena_bytes for _, live, high in tl)
    sizes = size_breakdown(blob, len(kws))
    assert sum(sizes.values()) == len(kws) and sizes["CONV_2D constants"] > 0
