# edgeai: top-level tasks. `make test` is what CI runs (after .ci/run installs what it needs).
PYTHON ?= python3
FUZZ_ITERATIONS ?= 200000

.PHONY: all firmware firmware-rv32 firmware-test esp-idf-check lint pytest test fuzz bench clean

all: firmware

firmware:
	$(MAKE) -C firmware all

# The RV32IMC firmware of the qemu-rv32 board (needs gcc-riscv64-unknown-elf and picolibc).
firmware-rv32:
	$(MAKE) -C firmware qemu

# The C tests, plain and under AddressSanitizer + UndefinedBehaviorSanitizer; and the RV32 build.
firmware-test: firmware-rv32
	$(MAKE) -C firmware all test
	$(MAKE) -C firmware SAN=1 all test

# The ESP-IDF port (firmware/ports/esp-idf: the serial app, the runtime component, the example)
# configured as ESP-IDF and PlatformIO configure it, compiled for RISC-V (ESP32-C3, C6) and
# linked against a fake ESP-IDF: a missing source, include folder or symbol fails.
esp-idf-check:
	$(MAKE) -C firmware esp-idf-check

lint:
	$(PYTHON) -m ruff check edgeai tests benchmarks models
	$(PYTHON) -m mypy

pytest: firmware
	$(MAKE) -C firmware SAN=1 tools
	$(PYTHON) -m pytest -q

test: firmware-test esp-idf-check lint pytest

# Long fuzzing of the blob loader (sanitized build) on the four MLPerf Tiny models.
fuzz:
	$(MAKE) -C firmware SAN=1 tools
	$(PYTHON) benchmarks/fuzz_loader.py --iterations $(FUZZ_ITERATIONS)

bench:
	$(PYTHON) benchmarks/models.py
	$(PYTHON) benchmarks/codesize.py
	$(PYTHON) benchmarks/rv32.py
	$(PYTHON) benchmarks/sms_cascade.py
	$(PYTHON) benchmarks/quant_peer.py
	$(PYTHON) benchmarks/link.py

clean:
	rm -rf build
