# edgeai: top-level tasks. `make test` is what CI runs (after .ci/run installs what it needs).
PYTHON ?= python3
FUZZ_SECONDS ?= 900
FUZZ_RUNS ?= 1000000
FUZZ_SMOKE_SECONDS ?= 15

.PHONY: all firmware firmware-rv32 firmware-test esp-idf-check lint pytest test fuzz fuzz-smoke bench \
        clean

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

test: firmware-test fuzz-smoke esp-idf-check lint pytest

# Coverage-guided fuzzing (libFuzzer, ASan + UBSan; firmware/tests/fuzz/README.md) of the loader
# and interpreter, the frame receiver and the protocol server, one after another: each for
# FUZZ_RUNS executions or FUZZ_SECONDS, whichever comes first. The loader's seeds include the
# four MLPerf Tiny models when ../shared has them. The corpus grows in build/fuzz/corpus.
fuzz:
	$(PYTHON) benchmarks/fuzz_loader.py --write-seeds build/fuzz/mlperf
	$(MAKE) -C firmware fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) \
		FUZZ_SEEDS_EXTRA=$(CURDIR)/build/fuzz/mlperf

# CI's short run of each fuzz target from its seeds (FUZZ_SMOKE_SECONDS each).
fuzz-smoke:
	$(MAKE) -C firmware fuzz-smoke FUZZ_SMOKE_SECONDS=$(FUZZ_SMOKE_SECONDS)

bench:
	$(PYTHON) benchmarks/models.py
	$(PYTHON) benchmarks/codesize.py
	$(PYTHON) benchmarks/rv32.py
	$(PYTHON) benchmarks/sms_cascade.py
	$(PYTHON) benchmarks/quant_peer.py
	$(PYTHON) benchmarks/link.py

clean:
	rm -rf build
