"""The simulated board over the real link: pyserial on the simulator's pseudo-terminal."""

from __future__ import annotations

import os
import random
import re
import select
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from edgeai.boards import load_board
from edgeai.compiler import compile_model
from edgeai.device import Device
from edgeai.errors import EdgeAIError
from edgeai.link import Link
from edgeai.ref import Interpreter
from edgeai.transport import Simulator, open_port

from .conftest import MLPerfModel, mlperf_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def kws() -> bytes:
    return compile_model(mlperf_path("kws01/kws_ref_model.tflite")).data


@pytest.fixture(scope="module")
def ic01() -> bytes:
    return compile_model(mlperf_path("ic01/pretrainedResnet_quant.tflite")).data


def test_upload_run_and_layers(tmp_path: Path, kws: bytes) -> None:
    with Device.open(board="sim", flash=tmp_path / "flash.bin") as dev:
        assert dev.info.board == "sim" and dev.info.active_slot is None
        assert not dev.has_model(kws)
        info = dev.upload(kws)
        assert info.active_slot is not None and dev.has_model(kws)
        blob = Interpreter(kws).blob
        x = np.fromfile(mlperf_path("samples/kws01_sample0_mfcc_int8.bin"), dtype=np.int8)
        (y,), cycles = dev.run(blob, [x])
        assert y.reshape(-1)[5] == 127 and cycles > 0
        ref_layers: list[np.ndarray] = []
        Interpreter(blob).run([x], on_op=lambda _i, _op, out, acc=ref_layers: acc.append(out))
        for got, want in zip(dev.run_layers(blob, [x]), ref_layers, strict=True):
            assert np.array_equal(got, want)
        times = dev.time_layers()
        assert len(times) == len(blob.ops) and all(t >= 0 for t in times)


def test_flash_survives_a_kill(tmp_path: Path, kws: bytes) -> None:
    board = load_board("sim")
    sim = Simulator(board, tmp_path / "flash.bin")
    with Device.open(board="sim", flash=sim.flash) as dev:
        dev.upload(kws)
    with Device.open(board="sim", flash=sim.flash) as dev:
        assert dev.has_model(kws)


def test_interrupted_uploads_keep_the_old_model(tmp_path: Path, kws: bytes, ic01: bytes) -> None:
    """Kill the simulator during an upload, 100 times: after a chunk at a random offset, or
    racing the final commit. After each restart the previous model is active and right (or, if
    the kill lost the race to the switch, the new model is whole)."""
    flash = tmp_path / "flash.bin"
    board = load_board("sim")
    blob = Interpreter(kws).blob
    x = np.fromfile(mlperf_path("samples/kws01_sample0_mfcc_int8.bin"), dtype=np.int8)
    (want,) = Interpreter(blob).run([x])
    with Device.open(board="sim", flash=flash) as dev:
        dev.upload(kws)
    rng = random.Random(1)
    interrupted = 0
    for _trial in range(100):
        sim = Simulator(board, flash)
        ser = open_port(sim.start(), board.baud)
        stop_at = rng.randrange(1, len(ic01) + 1)
        race = rng.random() < 0.2
        timers: list[threading.Timer] = []

        def cut(done: int, total: int, sim: Simulator = sim, stop_at: int = stop_at, race: bool = race,
                timers: list[threading.Timer] = timers) -> None:  # fmt: skip
            if race and done == total:
                timers.append(threading.Timer(rng.uniform(0, 0.002), sim.kill))
                timers[-1].start()
            elif not race and done >= stop_at:
                sim.kill()

        try:
            dev = Device(Link(ser, baud=board.baud, retries=0))
            try:
                dev.upload(ic01, progress=cut)
            except EdgeAIError:
                interrupted += 1
        finally:
            for t in timers:
                t.join()
            ser.close()
            sim.stop()
        with Device.open(board="sim", flash=flash) as dev:
            if dev.has_model(ic01):  # the kill lost the race to the switch: the new model is whole
                dev.upload(kws)
            assert dev.has_model(kws)
            (y,), _ = dev.run(blob, [x])
            assert np.array_equal(y, want)
    assert interrupted >= 80


def test_cli_info_upload_run(tmp_path: Path, kws: bytes) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEAI_SIM_FLASH": str(tmp_path / "flash.bin")}
    model = tmp_path / "kws.eai"
    model.write_bytes(kws)

    def edgeai(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edgeai", *args], capture_output=True, text=True, env=env)

    proc = edgeai("info", "--board", "sim")
    assert proc.returncode == 0 and "model: none" in proc.stdout, proc.stderr
    out = tmp_path / "y.npy"
    sample = str(mlperf_path("samples/kws01_sample0_mfcc_int8.bin"))
    proc = edgeai("run", str(model), "--board", "sim", "--input", sample, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert np.load(out).reshape(-1)[5] == 127
    proc = edgeai("info", "--board", "sim")
    assert f"{len(kws):,} bytes" in proc.stdout
    proc = edgeai("info", "--port", str(tmp_path / "no-such-port"))
    assert proc.returncode == 1 and "no such port" in proc.stderr and "Traceback" not in proc.stderr


def test_verify_on_the_simulated_board(tmp_path: Path, mlperf_model: MLPerfModel) -> None:
    from edgeai import oracle
    from edgeai.verify import verify

    inputs = [mlperf_path("samples/kws01_sample0_mfcc_int8.bin")] if mlperf_model.name == "kws01" else []
    with Device.open(board="sim", flash=tmp_path / "flash.bin") as dev:
        report = verify(mlperf_model.path, samples=50, input_files=inputs, device=dev)
        assert dev.has_model(report.compiled.data)
    assert "board:sim" in report.backends
    board_pairs = [p for p in report.pairs if "board:sim" in (p.a, p.b)]
    assert len(board_pairs) == (3 if oracle.available() is None else 2)
    for pair in report.pairs:
        assert pair.compared_elements > 0 and pair.mismatched_elements == 0, pair


def test_demo(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEAI_SIM_FLASH": str(tmp_path / "flash.bin")}
    proc = subprocess.run([sys.executable, "-m", "edgeai", "demo"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("accuracy on 540 held-out digits"))
    float_acc, board_acc = (float(v) for v in re.findall(r"([\d.]+) %", line))
    assert board_acc >= float_acc - 1.0 and board_acc > 98.0
    assert "uploaded the model" in proc.stdout and "FULLY_CONNECTED" in proc.stdout
    fb = next(x for x in proc.stdout.splitlines() if x.startswith("fallback:"))
    laptop_acc, cascade_acc, share = (float(v) for v in re.findall(r"([\d.]+) %", fb))
    assert cascade_acc >= board_acc and laptop_acc > 99.0 and 80.0 < share < 100.0
    again = subprocess.run([sys.executable, "-m", "edgeai", "demo"], capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "already held the model" in again.stdout


def test_model_whose_arena_does_not_fit(tmp_path: Path) -> None:
    from edgeai.compiler import compile_onnx

    from .test_onnx_frontend import Net

    net = Net([1, 3, 160, 160])
    x = net.node("Conv", ["input", net.w(16, 3, 3, 3)], pads=[1, 1, 1, 1])
    model = net.save(tmp_path / "big.onnx", net.node("GlobalAveragePool", [x]))
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).standard_normal((2, 1, 3, 160, 160)).astype(np.float32))
    compiled, _ = compile_onnx(model, tmp_path / "calib.npy")
    with Device.open(board="sim", flash=tmp_path / "flash.bin") as dev:
        with pytest.raises(
            EdgeAIError, match=r"needs [\d,]+ bytes of arena; this board has 262,144 \([\d,]+ bytes too many"
        ):
            dev.upload(compiled.data)
        assert dev.hello().active_slot is None


def test_a_device_that_is_not_edgeai(tmp_path: Path) -> None:
    """Something answers on the port, but not with edgeai frames."""
    master, slave = os.openpty()
    stop = threading.Event()

    def chatter() -> None:
        while not stop.is_set():
            ready = select.select([master], [], [], 0.05)[0]
            if ready:
                os.read(master, 4096)
                os.write(master, b"AT OK\r\nready> \r\n")

    t = threading.Thread(target=chatter, daemon=True)
    t.start()
    try:
        port = open_port(os.ttyname(slave), 115200)
        with pytest.raises(EdgeAIError, match="not with edgeai frames"):
            Device(Link(port, baud=115200, retries=1, base_timeout=0.2))
        port.close()
    finally:
        stop.set()
        t.join()
        os.close(master)
        os.close(slave)


def test_socket_url_transport(tmp_path: Path, kws: bytes) -> None:
    """The same board through pyserial's socket:// transport (a TCP bridge to the simulator's
    pseudo-terminal on loopback, as QEMU's UART will be reached)."""
    import socket

    board = load_board("sim")
    sim = Simulator(board, tmp_path / "flash.bin")
    pty = os.open(sim.start(), os.O_RDWR | os.O_NOCTTY)
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def bridge() -> None:
        conn, _ = server.accept()
        with conn:
            while not stop.is_set():
                for fd in select.select([conn, pty], [], [], 0.05)[0]:
                    if fd is conn:
                        data = conn.recv(65536)
                        if not data:
                            return
                        os.write(pty, data)
                    else:
                        conn.sendall(os.read(pty, 65536))

    t = threading.Thread(target=bridge, daemon=True)
    t.start()
    try:
        url = f"socket://127.0.0.1:{server.getsockname()[1]}"
        with Device.open(port=url, baud=board.baud) as dev:
            assert dev.info.board == "sim"
            dev.upload(kws)
            x = np.fromfile(mlperf_path("samples/kws01_sample0_mfcc_int8.bin"), dtype=np.int8)
            (y,), _ = dev.run(Interpreter(kws).blob, [x])
            assert y.reshape(-1)[5] == 127
    finally:
        stop.set()
        t.join()
        server.close()
        os.close(pty)
        sim.stop()


def test_busy_port(tmp_path: Path) -> None:
    board = load_board("sim")
    sim = Simulator(board, tmp_path / "flash.bin")
    path = sim.start()
    try:
        first = open_port(path, board.baud)
        with pytest.raises(EdgeAIError, match="busy"):
            open_port(path, board.baud)
        first.close()
        open_port(path, board.baud).close()  # free again
    finally:
        sim.stop()


def test_upload_refused_beyond_the_map_limit(tmp_path: Path, kws: bytes) -> None:
    """A simulated board that maps at most 40,960 bytes (--map-bytes, as an ESP32 short of MMU
    pages): HELLO says so, the host refuses the 41,552-byte kws model before touching the board,
    and the board itself answers UPLOAD_BEGIN with TOO_BIG."""
    import struct
    import zlib

    from edgeai.link import CMD_UPLOAD_BEGIN, DeviceError
    from edgeai.transport import SimOptions

    assert len(kws) == 41_552
    with Device.open(board="sim", flash=tmp_path / "flash.bin", sim_options=SimOptions(map_bytes=40_960)) as dev:
        assert dev.info.map_bytes == 40_960
        with pytest.raises(EdgeAIError) as e:
            dev.upload(kws)
        assert str(e.value) == (
            "the model is 41,552 bytes; this board maps at most 40,960 bytes of a model beside its active one "
            "(592 bytes too many)"
        )
        with pytest.raises(DeviceError, match="TOO_BIG"):
            dev.link.request(CMD_UPLOAD_BEGIN, struct.pack("<II", len(kws), zlib.crc32(kws)))
        assert dev.hello().active_slot is None
