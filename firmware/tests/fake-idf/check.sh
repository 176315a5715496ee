#!/usr/bin/env bash
# `make esp-idf-check`: build the ESP-IDF port as ESP-IDF and PlatformIO would, with the fake
# ESP-IDF beside this script (tools/cmake/project.cmake, stub components in components/):
#
#   1. firmware/ports/esp-idf as `idf.py build` configures it (main/ and components/ found by
#      ESP-IDF itself), for each RISC-V target;
#   2. the same project as `pio run` configures it: PlatformIO passes its src_dir
#      (platformio.ini) to ESP-IDF as EXTRA_COMPONENT_DIRS unless it is main/;
#   3. the example app (examples/run_model), which uses the runtime component alone;
#   4. the app's project components compile every portable source the Makefile builds
#      (firmware/sources.mk), no fewer, no more.
#
# Each build compiles with Debian's riscv64-unknown-elf-gcc under ESP-IDF's flags
# (-march=rv32imc/rv32imac, -std=gnu17, its warning set, plus -Werror) and links the project's
# components whole against the fake ESP-IDF, so a missing source file, a missing include
# folder, a warning or an undefined symbol fails. Usage: check.sh [BUILD_DIR]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
firmware="$(cd "$here/../.." && pwd)"
port="$firmware/ports/esp-idf"
out="${1:-$firmware/../build/esp-idf-check}"
targets="${EAI_IDF_TARGETS:-esp32c3 esp32c6}"
export IDF_PATH="$here"
mkdir -p "$out"

failures=0
fail() {
    echo "esp-idf-check: FAILED: $*" >&2
    failures=$((failures + 1))
}

# build NAME SOURCE_DIR TARGET [CMAKE ARGS...]: configure and build one project, showing the
# log only when it fails.
build() {
    local name="$1" src="$2" target="$3"
    shift 3
    local dir="$out/$name"
    rm -rf "$dir"
    if ! cmake -S "$src" -B "$dir" -DIDF_TARGET="$target" "$@" >"$dir.log" 2>&1; then
        sed -n '/CMake Error/,$p' "$dir.log" | head -40 >&2
        fail "$name: configuring $src for $target (log: $dir.log)"
        return 1
    fi
    if ! cmake --build "$dir" -j "$(nproc)" >>"$dir.log" 2>&1; then
        grep -E "error|undefined reference|No such file|Error [0-9]" "$dir.log" | head -40 >&2
        fail "$name: building $src for $target (log: $dir.log)"
        return 1
    fi
    echo "esp-idf-check: $name: built for $target: $(grep -c '^' "$dir/project_sources.txt") sources of the project's components, linked"
}

# PlatformIO's src_dir: [platformio] src_dir in platformio.ini, else src.
src_dir="$(awk -F'=' '
    /^\[/ { section = $0 }
    section == "[platformio]" && $1 ~ /^[ \t]*src_dir[ \t]*$/ { gsub(/[ \t]/, "", $2); print $2 }
' "$port/platformio.ini")"
src_dir="${src_dir:-src}"
pio_args=()
if [ "$port/$src_dir" != "$port/main" ]; then
    pio_args=("-DEXTRA_COMPONENT_DIRS=$port/$src_dir")
fi

for target in $targets; do
    build "app-idf-$target" "$port" "$target" || true
    build "app-pio-$target" "$port" "$target" "${pio_args[@]}" || true
    build "example-$target" "$port/examples/run_model" "$target" || true
done

# What the Makefile builds for a board (the runtime, text, link, app: sources.mk) must be
# exactly the portable part of what the app's components compile.
first="$(echo "$targets" | awk '{print $1}')"
listing="$out/app-idf-$first/project_sources.txt"
if [ -f "$listing" ]; then
    make -s --no-print-directory -C "$firmware" print-portable-sources | tr ' ' '\n' | sed '/^$/d' | sort -u >"$out/makefile_sources.txt"
    awk '{print $2}' "$listing" | grep -v "^$port/" | sort -u >"$out/component_sources.txt"
    if ! diff -u --label "the Makefile (sources.mk)" --label "the ESP-IDF components" \
            "$out/makefile_sources.txt" "$out/component_sources.txt" >&2; then
        fail "the ESP-IDF components and the Makefile compile different portable sources"
    else
        echo "esp-idf-check: the components compile all $(grep -c '^' "$out/makefile_sources.txt") portable sources the Makefile builds"
    fi
fi

if [ "$failures" -gt 0 ]; then
    echo "esp-idf-check: $failures check(s) failed" >&2
    exit 1
fi
echo "esp-idf-check: passed (targets: $targets; ESP-IDF view, PlatformIO view, example)"
