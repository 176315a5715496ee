# The firmware's portable sources and include folders: the one list every build reads.
#
#   firmware/Makefile                  the host library, the simulator, the tests, qemu-rv32
#   firmware/edgeai.cmake              the ESP-IDF components (ports/esp-idf/main, the edgeai
#                                      runtime component) and any CMake build
#
# Paths are relative to firmware/. Syntax: make's, kept to `NAME := words` lines with `\`
# continuations and `#` comments, which edgeai.cmake parses too; no other make features.
# Add a source here and every build compiles it.

# The runtime: the blob loader, the interpreter, and one kernel per operator.
EAI_RUNTIME_SRCS := \
    runtime/crc32.c \
    runtime/loader.c \
    runtime/interp.c \
    kernels/conv.c \
    kernels/depthwise_conv.c \
    kernels/fully_connected.c \
    kernels/pooling.c \
    kernels/add.c \
    kernels/softmax.c \
    kernels/reshape.c \
    kernels/embedding_bag.c

# The hashed n-gram text features a text model's EMBEDDING_BAG op reads (text.h).
EAI_TEXT_SRCS := \
    text/text.c

# The serial link's framing (COBS frames with a CRC).
EAI_LINK_SRCS := \
    link/cobs.c \
    link/frame.c

# The protocol server that a board's main runs (docs/protocol.md).
EAI_APP_SRCS := \
    app/app.c

# Include folders: the public API (edgeai.h, the port seam edgeai_port.h, text.h), and the
# private ones the sources above include each other by.
EAI_PUBLIC_INCLUDES := \
    include \
    text
EAI_PRIVATE_INCLUDES := \
    runtime \
    kernels
EAI_LINK_INCLUDES := \
    link
EAI_APP_INCLUDES := \
    app
