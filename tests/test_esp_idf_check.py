"""`make esp-idf-check` (firmware/tests/fake-idf/check.sh) fails when the ESP-IDF component
drifts from the firmware's source list: each test copies firmware/ aside, breaks the component
the way the issue found it broken, and runs the check on the copy (ESP32-C3 only, to be quick).
The check passing on the real tree is `make esp-idf-check` itself, run by `make test`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("cmake", "riscv64-unknown-elf-gcc", "make")
_missing = [t for t in TOOLS if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"needs {', '.join(_missing)} (bash .ci/run installs them)")

COMPONENT = "ports/esp-idf/components/edgeai/CMakeLists.txt"
APP = "ports/esp-idf/main/CMakeLists.txt"


def _firmware_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "firmware"
    shutil.copytree(ROOT / "firmware", dst, ignore=shutil.ignore_patterns("build", ".pio", "sdkconfig*"))
    # the check reads sdkconfig.defaults back; keep them
    for f in (ROOT / "firmware/ports/esp-idf").glob("sdkconfig.defaults*"):
        shutil.copy(f, dst / "ports/esp-idf" / f.name)
    return dst


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer holds {old!r}: update this test"
    path.write_text(text.replace(old, new, 1))


def _check(firmware: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(firmware / "tests/fake-idf/check.sh"), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, env={**_env(), "EAI_IDF_TARGETS": "esp32c3"},
    )  # fmt: skip


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "IDF_PATH"}


def test_a_source_missing_from_the_component_fails(tmp_path: Path) -> None:
    """The runtime component without the text features (as src/CMakeLists.txt lacked
    text/text.c): app.c's call to eai_text_features is undefined at the link, and the
    component no longer compiles what the Makefile builds."""
    fw = _firmware_copy(tmp_path)
    _edit(fw / COMPONENT, "${EAI_TEXT_SRCS} ", "")
    r = _check(fw, tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "undefined reference to `eai_text_features'" in r.stderr
    assert "compile different portable sources" in r.stderr and "text/text.c" in r.stderr


def test_an_include_folder_missing_from_the_component_fails(tmp_path: Path) -> None:
    """The component exporting include/ but not text/ (as src/CMakeLists.txt did): app.c
    stops at `#include "text.h"`."""
    fw = _firmware_copy(tmp_path)
    only_include = 'INCLUDE_DIRS "${EAI_FIRMWARE_DIR}/include" "include"'
    _edit(fw / COMPONENT, 'INCLUDE_DIRS ${EAI_PUBLIC_INCLUDES} "include"', only_include)
    r = _check(fw, tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "text.h: No such file or directory" in r.stderr


def test_an_include_folder_that_does_not_exist_fails(tmp_path: Path) -> None:
    fw = _firmware_copy(tmp_path)
    _edit(fw / APP, 'INCLUDE_DIRS "."', 'INCLUDE_DIRS "." "../../../nowhere"')
    r = _check(fw, tmp_path)
    assert r.returncode != 0
    assert "nowhere' is not a" in " ".join(r.stderr.split())  # CMake wraps its messages


def test_the_layout_platformio_alone_used_to_find_fails_for_esp_idf(tmp_path: Path) -> None:
    """The app component back in src/ (today's main/ renamed, platformio.ini's src_dir
    dropped): PlatformIO would still add src/ as a component, but plain ESP-IDF finds no
    main component, so nothing defines app_main."""
    fw = _firmware_copy(tmp_path)
    (fw / "ports/esp-idf/main").rename(fw / "ports/esp-idf/src")
    _edit(fw / "ports/esp-idf/platformio.ini", "src_dir = main\n", "")
    r = _check(fw, tmp_path)
    assert r.returncode != 0
    assert "undefined reference to `app_main'" in r.stderr
    assert "app-idf-esp32c3: building" in r.stderr and "app-pio-esp32c3: building" not in r.stderr
