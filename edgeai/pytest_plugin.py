"""A pytest plugin: test your own models on a board (the simulator, QEMU, or real hardware) from
your project's test suite, bit for bit against ``edgeai.ref``.

Installing edgeai registers the plugin (the ``pytest11`` entry point ``edgeai``); it does nothing
until a board is requested, so projects that do not use it see no change. ``-p no:edgeai``
disables it; with plugin autoloading off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), load it by its
entry point name, ``-p edgeai`` (not ``-p edgeai.pytest_plugin``, which pytest would register a
second time beside the autoloaded entry point). One session holds one board: with pytest-xdist,
every worker opens its own (fine for the emulated boards; a real board's port is busy for all
but one worker, whose tests then skip).

Usage::

    pip install edgeai
    pytest --edgeai-board sim                         # the simulated board (built and started for you)
    pytest --edgeai-board qemu-rv32                   # the RV32 firmware under QEMU
    pytest --edgeai-board esp32c3 --edgeai-port /dev/ttyUSB0
    pytest --edgeai-port socket://192.168.1.20:3333   # a board behind a network serial bridge

A test in your project::

    import numpy as np
    import pytest
    import edgeai.ref
    from edgeai.blob import read_blob
    from edgeai.compiler import compile_onnx
    from edgeai.pytest_plugin import check_model

    @pytest.fixture(scope="session")
    def model() -> bytes:
        compiled, _ = compile_onnx("model.onnx", "calib.npy")
        return compiled.data

    def test_board_matches_the_reference(board, model):
        run = check_model(board, model)            # 8 seeded random vectors; or a vector folder
        assert run.vectors[0].cycles > 0            # the BoardRun also has latencies and layer timings

    def test_one_inference(board, model):
        check_model(board, model, samples=1)        # uploads the model if the board holds another
        x = np.zeros((1, 8, 8, 1), np.int8)
        (y,), _cycles = board.run(read_blob(model), [x])
        assert np.array_equal(y, edgeai.ref.run(model, [x])[0])

    @pytest.mark.hardware                           # skipped on the emulated boards
    def test_latency_on_the_real_board(board, model): ...

    @pytest.mark.edgeai_board("esp32s3", "esp32")   # only on these boards
    def test_uses_the_psram(board, edgeai_board, model): ...

Options (each also settable where noted; the command line wins over the environment, which wins
over the ini file, e.g. ``[tool.pytest.ini_options] edgeai_board = "sim"``):

``--edgeai-board NAME``   a board file name (``edgeai boards`` lists them); env ``EDGEAI_BOARD``,
                          ini ``edgeai_board``. An unknown name is a usage error.
``--edgeai-port PORT``    a serial device or a ``socket://`` / ``rfc2217://`` URL; env
                          ``EDGEAI_PORT``, ini ``edgeai_port``.
``--edgeai-baud N``       the link's baud rate (default: the board file's, else 115200).
``--edgeai-flash PATH``   the flash file of an emulated board (default: a fresh file in pytest's
                          temporary directory, so tests start from an empty board and never touch
                          the one in ``~/.cache/edgeai``).

Fixtures:

``board``           (session) a connected :class:`edgeai.device.Device`, closed (and an emulated
                    board stopped) at the end of the session. Skips when no board was requested,
                    or when the board cannot be opened (the reason carries edgeai's error).
``edgeai_board``    (session) the :class:`edgeai.boards.Board` description (of a named board,
                    without connecting to it: ``edgeai_board.misfits(...)`` needs no hardware),
                    or ``None`` when only a port was given and the board's HELLO names no known
                    board file.
``edgeai_check``    (function) ``check_model`` bound to ``board``.

``check_model(device, data, vectors=None, samples=8, seed=0)`` uploads the model if the board
holds another, runs the vectors (a folder made by ``edgeai vectors``, a list of
:class:`edgeai.vectors.Vector`, or ``samples`` seeded random inputs) and returns the
:class:`edgeai.harness.BoardRun`. If the board disagrees with ``edgeai.ref`` it raises
AssertionError: one paragraph naming the first failing vector and the first layer that differs.

Markers:

``@pytest.mark.hardware``                 needs a real board: skipped on an emulated board (and
                                          when no board was requested).
``@pytest.mark.edgeai_board(NAME, ...)``  runs only on the named boards, skipped on any other
                                          (with only a port, the board's HELLO gives its name).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .boards import Board
    from .compiler import Compiled
    from .device import Device
    from .harness import BoardRun
    from .vectors import Vector

NO_BOARD = "no board: pass --edgeai-board sim (or qemu-rv32) or --edgeai-port PORT"
NO_HARDWARE = "no board: pass --edgeai-port PORT (and --edgeai-board NAME for its board file)"
ENV_BOARD = "EDGEAI_BOARD"
ENV_PORT = "EDGEAI_PORT"
INI_BOARD = "edgeai_board"
INI_PORT = "edgeai_port"
MARKERS = (
    "hardware: needs a real board (edgeai): skipped on the emulated boards sim and qemu-rv32, and without a board",
    "edgeai_board(*names): run only on these edgeai boards (board file names), skip on any other",
)


# -- settings -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """What the run asked for, and where each setting came from."""

    board: str | None = None
    port: str | None = None
    baud: int | None = None
    flash: Path | None = None
    board_from: str = ""  # "--edgeai-board", "EDGEAI_BOARD" or "ini edgeai_board"
    port_from: str = ""

    @property
    def requested(self) -> bool:
        return bool(self.board or self.port)


def _setting(config: pytest.Config, option: str, env: str, ini: str) -> tuple[str | None, str]:
    """The first non-empty of the command line option, the environment variable and the ini value."""
    value = config.getoption(option.lstrip("-").replace("-", "_"), None)
    if value:
        return str(value), option
    value = os.environ.get(env, "").strip()
    if value:
        return value, env
    value = str(config.getini(ini) or "").strip()
    if value:
        return value, f"ini {ini}"
    return None, ""


def read_settings(config: pytest.Config) -> Settings:
    board, board_from = _setting(config, "--edgeai-board", ENV_BOARD, INI_BOARD)
    port, port_from = _setting(config, "--edgeai-port", ENV_PORT, INI_PORT)
    baud = config.getoption("edgeai_baud", None)
    flash = config.getoption("edgeai_flash", None)
    return Settings(board, port, int(baud) if baud else None, Path(flash) if flash else None, board_from, port_from)


# -- the session's board --------------------------------------------------------------------------
class BoardSession:
    """The one connection a test session shares: opened on first use, closed at the end. A failure
    to open is remembered, so every test that needs the board skips with the same reason."""

    def __init__(self, settings: Settings, description: Board | None) -> None:
        self.settings = settings
        self.description = description  # from the board name, if one was given
        self.device: Device | None = None
        self.failure: str | None = None

    @property
    def label(self) -> str:
        s = self.settings
        if s.board and s.port:
            return f"board {s.board} on port {s.port}"
        return f"board {s.board}" if s.board else f"board on port {s.port}"

    def connect(self, flash: Callable[[], Path] | None = None) -> Device | None:
        """The connected device, opening it the first time (``flash`` gives an emulated board's
        flash file when none was set); None, with ``failure`` set, if the board cannot be opened."""
        if self.device is not None or self.failure is not None:
            return self.device
        from .device import Device
        from .errors import EdgeAIError

        s = self.settings
        if s.port is None and self.description is not None and not self.description.emulated:
            self.failure = (
                f"cannot open the {self.label}: it is real hardware: pass --edgeai-port PORT (/dev/ttyUSB0...)"
            )
            return None
        emulated = s.port is None and self.description is not None and self.description.emulated
        path = s.flash or (flash() if emulated and flash is not None else None)
        try:
            self.device = Device.open(board=s.board, port=s.port, baud=s.baud, flash=path)
        except (EdgeAIError, OSError) as e:
            self.failure = f"cannot open the {self.label}: {e}"
        return self.device

    def open(self, flash: Callable[[], Path] | None = None) -> Device:
        """The connected device; skips the calling test if the board cannot be opened."""
        device = self.connect(flash)
        if device is None:
            pytest.skip(self.failure or f"cannot open the {self.label}")
        return device

    def board_name(self) -> str | None:
        """The board's name: the one requested, else the one its HELLO answer gives (None if the
        board cannot be opened)."""
        if self.settings.board:
            return self.settings.board
        device = self.connect()
        return device.info.board if device is not None else None

    def close(self) -> None:
        if self.device is not None:
            device, self.device = self.device, None
            device.close()


SESSION = pytest.StashKey[BoardSession]()


def _session(config: pytest.Config) -> BoardSession:
    try:
        return config.stash[SESSION]
    except KeyError:  # the plugin was registered after pytest_configure ran
        config.stash[SESSION] = BoardSession(read_settings(config), None)
        return config.stash[SESSION]


# -- hooks ----------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("edgeai", "edgeai: test models on a board (fixtures board, edgeai_board, edgeai_check)")
    group.addoption(
        "--edgeai-board",
        dest="edgeai_board",
        metavar="NAME",
        default=None,
        help=f"the board to test on, a board file name (sim, qemu-rv32, esp32c3...); env {ENV_BOARD}, ini {INI_BOARD}",
    )
    group.addoption(
        "--edgeai-port",
        dest="edgeai_port",
        metavar="PORT",
        default=None,
        help=f"the board's serial port, or a socket:// or rfc2217:// URL; env {ENV_PORT}, ini {INI_PORT}",
    )
    group.addoption(
        "--edgeai-baud",
        dest="edgeai_baud",
        metavar="N",
        type=int,
        default=None,
        help="the link's baud rate (default: the board file's)",
    )
    group.addoption(
        "--edgeai-flash",
        dest="edgeai_flash",
        metavar="PATH",
        default=None,
        help="an emulated board's flash file (default: a fresh one for the session in pytest's tmp dir)",
    )
    parser.addini(INI_BOARD, f"the edgeai board to test on (below --edgeai-board and {ENV_BOARD})", default="")
    parser.addini(INI_PORT, f"the edgeai board's port (below --edgeai-port and {ENV_PORT})", default="")


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    settings = read_settings(config)
    description: Board | None = None
    if settings.board and not config.getoption("help", False):
        from .boards import load_board
        from .errors import EdgeAIError

        try:
            description = load_board(settings.board)
        except EdgeAIError as e:
            raise pytest.UsageError(f"{settings.board_from} {settings.board}: {e}") from None
    config.stash[SESSION] = BoardSession(settings, description)


def pytest_unconfigure(config: pytest.Config) -> None:
    if SESSION in config.stash:
        config.stash[SESSION].close()


def pytest_report_header(config: pytest.Config) -> str | None:
    session = _session(config)
    s = session.settings
    if not s.requested:
        return None
    parts = []
    if s.board:
        kind = "emulated" if session.description is not None and session.description.emulated else "real hardware"
        parts.append(f"board {s.board} ({kind}, from {s.board_from})")
    if s.port:
        parts.append(f"port {s.port} (from {s.port_from})")
    if s.baud:
        parts.append(f"{s.baud} baud")
    if not s.port and session.description is not None and session.description.emulated:
        parts.append(f"flash {s.flash}" if s.flash else "flash: a fresh file for this session")
    return "edgeai: " + ", ".join(parts)


def _skip_at_item(item: pytest.Item, reason: str) -> None:
    """Skip ``item`` before its fixtures are set up, reported at the test's own line."""
    item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Apply the markers: runs before pytest's own setup, which then honours the skip mark."""
    hardware = item.get_closest_marker("hardware")
    only = item.get_closest_marker("edgeai_board")
    if hardware is None and only is None:
        return
    session = _session(item.config)
    s = session.settings
    if only is not None:
        from .boards import board_names

        names = [str(n) for n in only.args]
        known = board_names()
        unknown = [n for n in names if n not in known]
        if not names or unknown:
            what = f"unknown board {unknown[0]!r}" if unknown else "no board named"
            pytest.fail(f"@pytest.mark.edgeai_board: {what}; known boards: {', '.join(known)}", pytrace=False)
        if not s.requested:
            return _skip_at_item(
                item, f"no board: pass --edgeai-board {names[0]} (this test runs only on {' or '.join(names)})"
            )
        current = session.board_name()  # a port alone: ask the board its name
        if current is None:
            return _skip_at_item(item, session.failure or f"cannot open the {session.label}")
        if current not in names:
            return _skip_at_item(item, f"runs only on {' or '.join(names)}; this run uses the board {current}")
    if hardware is not None:
        if not s.requested:
            return _skip_at_item(item, f"needs real hardware; {NO_HARDWARE}")
        if s.port is None and session.description is not None and session.description.emulated:
            return _skip_at_item(item, f"needs real hardware; this run uses the emulated board {s.board}")
    return None


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def board(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Generator[Device, None, None]:
    """The board under test, connected (an emulated board started, with a fresh flash file unless
    --edgeai-flash names one); closed at the end of the session."""
    session = _session(request.config)
    if not session.settings.requested:
        pytest.skip(NO_BOARD)
    name = session.settings.board or "board"
    device = session.open(lambda: tmp_path_factory.mktemp("edgeai") / f"{name}-flash.bin")
    try:
        yield device
    finally:
        session.close()


@pytest.fixture(scope="session")
def edgeai_board(request: pytest.FixtureRequest) -> Board | None:
    """The board's description (its board file): the requested one, without connecting; with only
    a port, the board file its HELLO names (None if there is none)."""
    session = _session(request.config)
    if not session.settings.requested:
        pytest.skip(NO_BOARD)
    if session.description is not None:
        return session.description
    from .boards import board_names, load_board

    name = session.open().info.board  # a port alone: the board file its HELLO names
    return load_board(name) if name in board_names() else None


@pytest.fixture
def edgeai_check(board: Device) -> Callable[..., BoardRun]:
    """``check_model`` bound to the session's board: ``edgeai_check(data, vectors=None, samples=8)``."""
    return functools.partial(check_model, board)


# -- checking a model -----------------------------------------------------------------------------
def _model_bytes(data: bytes | bytearray | memoryview | Compiled | str | os.PathLike[str]) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        return Path(data).read_bytes()
    return bytes(data.data)  # a Compiled


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape) or "scalar"


def failure_message(run: BoardRun) -> str:
    """One paragraph on why ``run`` failed: the first failing vector and the first layer that
    differs from ``edgeai.ref``."""
    bad = [v for v in run.vectors if not v.passed]
    if not bad:
        return f"board {run.board} ran no vectors" if not run.vectors else f"board {run.board} passed every vector"
    v = bad[0]
    source = f" ({v.source})" if v.source else ""
    msg = (
        f"board {run.board} (firmware {run.firmware}) disagrees with edgeai.ref on {len(bad)} of {len(run.vectors)} "
        f"vectors; the first failing vector is {v.name}{source}, where {v.mismatched} of {v.compared} output values "
        f"differ (max |diff| {v.max_abs_diff})."
    )
    if run.diff_vector != v.name or not run.diff:
        return msg
    layer = run.first_bad_layer
    if layer is None:
        return msg + (
            f" Yet every one of its {len(run.diff)} layers matches edgeai.ref bit for bit on this vector's inputs, "
            "so the vector's expected outputs are wrong: were the vectors made for another model or another edgeai? "
            "Make them anew with `edgeai vectors`."
        )
    name = f" {layer.name!r}" if layer.name else ""
    return msg + (
        f" The first differing layer is #{layer.index} {layer.op}{name} (output {_shape(layer.output_shape)}), "
        f"where {layer.mismatched} of {layer.compared} values differ (max |diff| {layer.max_abs_diff}, "
        f"mean {layer.mean_abs_diff:.3g}); every layer before it matches bit for bit."
    )


def check_model(
    device: Device,
    data: bytes | bytearray | memoryview | Compiled | str | os.PathLike[str],
    vectors: str | os.PathLike[str] | Sequence[Vector] | None = None,
    samples: int = 8,
    seed: int = 0,
) -> BoardRun:
    """Check that ``device`` runs the model bit for bit like ``edgeai.ref``.

    ``data`` is the compiled model: its ``.eai`` bytes, a :class:`edgeai.compiler.Compiled`, or an
    ``.eai`` file. It is uploaded if the board holds another model. ``vectors`` is a vector folder
    (``edgeai vectors``, checked to be made for this model), a list of :class:`edgeai.vectors.Vector`,
    or None for ``samples`` random inputs from ``seed``, their expected outputs from ``edgeai.ref``.

    Returns the :class:`edgeai.harness.BoardRun` (latency per vector, per-layer timing); raises
    AssertionError naming the first failing vector and the first layer that differs."""
    __tracebackhide__ = True  # a failure points at the test's line, not in here
    from .errors import EdgeAIError
    from .harness import Target, run_on_device
    from .vectors import make_vectors, read_vectors

    model = _model_bytes(data)
    chosen: Sequence[Vector]
    if vectors is None:
        chosen = make_vectors(model, samples=samples, seed=seed)
    elif isinstance(vectors, (str, os.PathLike)):
        chosen = read_vectors(Path(vectors), model).vectors
    else:
        chosen = vectors
    if not chosen:
        raise EdgeAIError("no vectors to check the model with")
    target = Target(board=device.board.name if device.board is not None else None)
    run = run_on_device(device, model, chosen, target)
    if not run.ok:
        raise AssertionError(failure_message(run))
    return run


__all__ = ["NO_BOARD", "BoardSession", "Settings", "check_model", "failure_message", "read_settings"]
