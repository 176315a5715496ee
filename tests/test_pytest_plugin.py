"""The pytest plugin (``edgeai.pytest_plugin``), as a user's project sees it: a throwaway project
made by pytester, run in a pytest subprocess on the simulated board, without a board, and with
bad settings."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from edgeai.boards import board_names
from edgeai.harness import BoardRun, LayerDiff, VectorResult
from edgeai.pytest_plugin import NO_BOARD, failure_message

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "digits" / "digits_small.onnx"
CALIB = ROOT / "models" / "digits" / "calib.npy"
ENV = ("EDGEAI_BOARD", "EDGEAI_PORT", "EDGEAI_SIM_FLASH", "XDG_CACHE_HOME", "PYTEST_ADDOPTS")

# -p edgeai loads the plugin by its entry point name: a no-op when pytest autoloads it, needed when
# autoloading is off. (-p edgeai.pytest_plugin beside the autoloaded entry point would register
# the module twice.)
LOAD = ("-p", "edgeai", "-p", "no:cacheprovider", "-rfs")

CONFTEST = """
import pytest
from edgeai.compiler import compile_onnx

@pytest.fixture(scope="session")
def model():
    compiled, _ = compile_onnx({model!r}, {calib!r})
    return compiled.data
"""

TESTS = """
import numpy as np
import pytest

import edgeai.ref
from edgeai.blob import read_blob
from edgeai.pytest_plugin import check_model
from edgeai.vectors import make_vectors, write_vectors


def test_model_matches_the_reference(board, model):
    run = check_model(board, model)
    assert run.ok and len(run.vectors) == 8 and run.uploaded
    blob = read_blob(model)
    shape = blob.tensors[blob.inputs[0]].shape
    x = np.random.default_rng(7).integers(-128, 128, size=shape, dtype=np.int8)
    (y,), cycles = board.run(blob, [x])
    assert np.array_equal(y, edgeai.ref.run(model, [x])[0]) and cycles > 0


def test_check_fixture_and_description(edgeai_check, edgeai_board, board, model):
    run = edgeai_check(model, samples=2, seed=3)
    assert run.ok and not run.uploaded and [v.source for v in run.vectors] == ["random seed 3 #0", "random seed 3 #1"]
    assert edgeai_board.name == board.info.board == "sim" and edgeai_board.emulated


@pytest.mark.edgeai_board("sim", "qemu-rv32")
def test_on_the_emulated_boards(board):
    assert board.info.board == "sim"


@pytest.mark.hardware
def test_on_real_hardware(board):
    raise AssertionError("ran on an emulated board")


@pytest.mark.edgeai_board("qemu-rv32")
def test_on_qemu_only(board):
    raise AssertionError("ran on another board than qemu-rv32")


def test_wrong_expected_outputs(board, model, tmp_path):
    folder = tmp_path / "vectors"
    write_vectors(folder, model, make_vectors(model, samples=3))
    out = folder / "0001" / "out0.bin"
    raw = bytearray(out.read_bytes())
    raw[0] ^= 0x40
    out.write_bytes(bytes(raw))
    check_model(board, model, folder)


def test_without_a_board():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(CONFTEST.format(model=str(MODEL), calib=str(CALIB)))
    pytester.makepyfile(test_user=TESTS)
    return pytester


def test_entry_point_is_registered() -> None:
    eps = [ep for ep in entry_points(group="pytest11") if ep.name == "edgeai"]
    assert [ep.value for ep in eps] == ["edgeai.pytest_plugin"], "pip install -e . to register the pytest11 entry point"


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = "import sys, edgeai.pytest_plugin; print(sorted(m for m in ('edgeai.device', 'edgeai.harness', "
    code += "'edgeai.transport', 'serial', 'onnx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_on_the_simulated_board(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--edgeai-board", "sim", *LOAD, timeout=60)
    result.assert_outcomes(passed=4, skipped=2, failed=1)
    result.stdout.fnmatch_lines(
        ["edgeai: board sim (emulated, from --edgeai-board), flash: a fresh file for this session"]
    )
    result.stdout.fnmatch_lines_random([
        "SKIPPED [[]1[]] test_user.py:*: needs real hardware; this run uses the emulated board sim",
        "SKIPPED [[]1[]] test_user.py:*: runs only on qemu-rv32; this run uses the board sim",
    ])  # fmt: skip
    # the failure: one paragraph naming the board, the vector, and why (every layer matches edgeai.ref)
    result.stdout.fnmatch_lines([
        "E * AssertionError: board sim (firmware *) disagrees with edgeai.ref on 1 of 3 vectors; the first failing "
        "vector is 0001 (random seed 0 #1), where 1 of * output values differ (max |diff| 64). Yet every one of its "
        "* layers matches edgeai.ref bit for bit on this vector's inputs, so the vector's expected outputs are wrong*",
        "FAILED test_user.py::test_wrong_expected_outputs*",
    ])  # fmt: skip
    # the board's flash was a fresh file in the run's tmp dir, not the user's ~/.cache one
    assert list(project.path.glob("runpytest-*/**/sim-flash.bin"))
    assert not (project.path / ".cache" / "edgeai").exists()


def test_board_from_the_environment_with_a_flash_file(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setenv("EDGEAI_BOARD", "sim")
    flash = tmp_path / "mine.bin"
    result = project.runpytest_subprocess("--edgeai-flash", str(flash), *LOAD, "-k", "emulated_boards or qemu_only")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines([f"edgeai: board sim (emulated, from EDGEAI_BOARD), flash {flash}"])
    assert flash.stat().st_size == 4 * 1024 * 1024


def test_without_a_board_everything_skips(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(*LOAD)
    result.assert_outcomes(passed=1, skipped=6)
    assert result.stdout.str().count(f": {NO_BOARD}\n") == 3  # the board fixture: two tests and the wrong vectors'
    result.stdout.fnmatch_lines_random([
        "SKIPPED [[]1[]] test_user.py:*: no board: pass --edgeai-board sim (this test runs only on sim or qemu-rv32)",
        "SKIPPED [[]1[]] test_user.py:*: needs real hardware; no board: pass --edgeai-port PORT*",
        "SKIPPED [[]1[]] test_user.py:*: no board: pass --edgeai-board qemu-rv32 (this test runs only on qemu-rv32)",
    ])  # fmt: skip
    result.stdout.no_fnmatch_line("edgeai:*")  # no report header line without a board
    assert "compile" not in result.stdout.str()  # the skips come before the model fixture


def test_a_port_that_is_absent(project: pytest.Pytester, tmp_path: Path) -> None:
    port = tmp_path / "ttyNOPE"
    result = project.runpytest_subprocess("--edgeai-port", str(port), *LOAD, "-k", "not wrong")
    result.assert_outcomes(passed=1, skipped=5)
    result.stdout.fnmatch_lines([f"edgeai: port {port} (from --edgeai-port)"])
    # the board fixture and the edgeai_board marker (which asks the board its name) skip with edgeai's error; the
    # hardware marker lets its test through (a port was given) and the fixture skips it
    reason = f"cannot open the board on port {port}: {port}: no such port; check the cable and the port name"
    assert result.stdout.str().count(reason) == 5


def test_unknown_board_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--edgeai-board", "nonsense", *LOAD)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    known = ", ".join(board_names())
    result.stderr.fnmatch_lines([f"ERROR: --edgeai-board nonsense: unknown board 'nonsense'; known boards: {known}"])


@pytest.mark.parametrize(
    ("cli", "env", "ini", "named"),
    [
        ("fromcli", "fromenv", "fromini", "--edgeai-board fromcli"),
        (None, "fromenv", "fromini", "EDGEAI_BOARD fromenv"),
        (None, None, "fromini", "ini edgeai_board fromini"),
    ],
)
def test_settings_precedence(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, cli: str | None,
                             env: str | None, ini: str, named: str) -> None:  # fmt: skip
    """Command line over environment over ini file, shown by which unknown board is refused."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    if env:
        monkeypatch.setenv("EDGEAI_BOARD", env)
    pytester.makeini(f"[pytest]\nedgeai_board = {ini}\n")
    result = pytester.runpytest_inprocess(*(["--edgeai-board", cli] if cli else []), *LOAD)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {named}: unknown board*; known boards: *"])


def test_unknown_board_in_the_marker_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.edgeai_board('sim', 'esp99')\ndef test_x(board):\n    pass\n")
    result = pytester.runpytest_inprocess("--edgeai-board", "sim", *LOAD)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.edgeai_board: unknown board 'esp99'; known boards: *"])


def test_the_failure_names_the_first_differing_layer() -> None:
    def vector(name: str, ok: bool) -> VectorResult:
        return VectorResult(name, f"random seed 0 #{name[-1]}", ok, 10, 0 if ok else 3, 0 if ok else 5, 1000, None,
                            1e-6, 4096)  # fmt: skip

    def layer(i: int, op: str, bad: int) -> LayerDiff:
        return LayerDiff(i, op, f"layer{i}", {}, (1, 10), 10, bad, 5 if bad else 0, 1.5 if bad else 0.0)

    run = BoardRun("esp32c3", "esp32c3", "0.1.0", 160_000_000, "", 200_000, vectors=[
        vector("0000", True), vector("0001", False), vector("0002", False)], diff_vector="0001",
        diff=[layer(0, "CONV_2D", 0), layer(1, "FULLY_CONNECTED", 3), layer(2, "SOFTMAX", 3)])  # fmt: skip
    msg = failure_message(run)
    assert "\n" not in msg
    assert msg == (
        "board esp32c3 (firmware 0.1.0) disagrees with edgeai.ref on 2 of 3 vectors; the first failing vector is "
        "0001 (random seed 0 #1), where 3 of 10 output values differ (max |diff| 5). The first differing layer is "
        "#1 FULLY_CONNECTED 'layer1' (output 1x10), where 3 of 10 values differ (max |diff| 5, mean 1.5); every "
        "layer before it matches bit for bit."
    )
