/* libFuzzer target: the blob loader and the interpreter (eai_load, eai_invoke_range).
 *
 * The input is a blob, copied into a heap buffer of exactly its length (4-byte aligned, so
 * AddressSanitizer catches any read past it). Before loading, the harness seals the blob's
 * CRC (the bytes [20, blob_bytes)) so that mutations reach the structural checks, except when
 * the stored CRC's low 4 bits are all 1 (1 input in 16 keeps a wrong CRC for the CRC check).
 *
 * When eai_load accepts it, the harness checks what the loader promises (every section,
 * tensor and io entry inside the blob and the arena) and, if the model's arena fits a fixed
 * FUZZ_ARENA_BYTES arena and its work is small, runs it op by op. Before each op every byte
 * of the arena and of the data section is poisoned (ASan) except the op's own tensors (and
 * the header and tables, which the loader lets the data section overlap), so a kernel that
 * reads or writes anything else stops the run; after it, the op's activation inputs must be
 * unchanged. The arena starts filled from a generator seeded with the input's CRC, and the
 * bytes after blob_bytes (the fuzzer may append some) fill the model's inputs: the same input
 * always runs the same way.
 *
 * Any failed check calls abort(), which libFuzzer reports as a crash. */
#include <sanitizer/asan_interface.h>
#include <string.h>

#include "fuzz_common.h"

#define FUZZ_ARENA_BYTES (256u * 1024u) /* as the app's default arena */
#define FUZZ_MAX_WORK (1u << 21)       /* multiply-accumulates and similar per run */

static uint32_t *g_arena_words;
static uint8_t *g_arena;
static uint64_t g_rng;

static uint8_t rnd8(void)
{
    g_rng ^= g_rng >> 12; /* xorshift64* */
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint8_t)((g_rng * 2685821657736338717ull) >> 56);
}

static int inside(const uint8_t *p, uint64_t n, const uint8_t *base, uint64_t len)
{
    return p >= base && (uint64_t)(p - base) <= len && n <= len - (uint64_t)(p - base);
}

/* What eai_load promises about a model it accepted. */
static void check_model(const eai_model *m, const uint8_t *blob, size_t len)
{
    uint32_t i, size = 0;
    REQUIRE(m->blob == blob && m->blob_bytes <= len && m->err_index == -1);
    REQUIRE(eai_blob_size(blob, len, &size) == EAI_OK && size == m->blob_bytes);
    REQUIRE(m->n_tensors >= 1 && m->n_tensors <= EAI_MAX_TENSORS);
    REQUIRE(m->n_ops >= 1 && m->n_ops <= EAI_MAX_OPS);
    REQUIRE(m->n_inputs >= 1 && m->n_inputs <= EAI_MAX_IO);
    REQUIRE(m->n_outputs >= 1 && m->n_outputs <= EAI_MAX_IO);
    REQUIRE(inside(m->tensors, (uint64_t)m->n_tensors * EAI_TENSOR_BYTES, blob, m->blob_bytes));
    REQUIRE(inside(m->ops, (uint64_t)m->n_ops * EAI_OP_BYTES, blob, m->blob_bytes));
    REQUIRE(inside(m->io, 2u * (uint64_t)(m->n_inputs + m->n_outputs), blob, m->blob_bytes));
    REQUIRE(inside(m->data, m->data_bytes, blob, m->blob_bytes));
    for (i = 0; i < m->n_tensors; i++) {
        eai_tensor t;
        REQUIRE(eai_tensor_info(m, i, &t) == EAI_OK);
        REQUIRE(t.rank >= 1 && t.rank <= 4 && t.bytes >= 1 && t.bytes <= EAI_MAX_TENSOR_BYTES);
        if (t.kind == EAI_KIND_ARENA)
            REQUIRE((t.offset & 3u) == 0 && (uint64_t)t.offset + t.bytes <= m->arena_bytes);
        else
            REQUIRE(t.kind == EAI_KIND_CONST && (t.offset & 15u) == 0 &&
                    (uint64_t)t.offset + t.bytes <= m->data_bytes);
    }
    {
        eai_tensor t;
        REQUIRE(eai_tensor_info(m, m->n_tensors, &t) == EAI_ERR_ARG);
    }
    for (i = 0; i < m->n_inputs + m->n_outputs; i++) {
        const int idx = i < m->n_inputs ? eai_input_index(m, i) : eai_output_index(m, i - m->n_inputs);
        eai_tensor t;
        REQUIRE(idx >= 0 && (uint32_t)idx < m->n_tensors);
        REQUIRE(eai_tensor_info(m, (uint32_t)idx, &t) == EAI_OK && t.kind == EAI_KIND_ARENA);
    }
    REQUIRE(eai_input_index(m, m->n_inputs) == EAI_ERR_ARG);
    REQUIRE(eai_output_index(m, m->n_outputs) == EAI_ERR_ARG);
}

/* Unpoison the bytes of tensor `index` of the op (arena or data section). */
static void expose(const eai_model *m, uint32_t index)
{
    eai_tensor t;
    if (index == EAI_NO_TENSOR)
        return;
    REQUIRE(eai_tensor_info(m, index, &t) == EAI_OK);
    if (t.kind == EAI_KIND_ARENA)
        ASAN_UNPOISON_MEMORY_REGION(g_arena + t.offset, t.bytes);
    else
        ASAN_UNPOISON_MEMORY_REGION(m->data + t.offset, t.bytes);
}

/* Run op i alone with only its own tensors addressable; its activation inputs must not
 * change (an exact RESHAPE alias of the output aside). */
static void run_op_fenced(const eai_model *m, uint32_t i)
{
    static uint8_t saved[EAI_MAX_OP_INPUTS][FUZZ_ARENA_BYTES];
    eai_op op;
    eai_tensor out, t;
    uint32_t k;
    eai_decode_op(m->ops + (size_t)i * EAI_OP_BYTES, &op);
    REQUIRE(eai_tensor_info(m, op.output, &out) == EAI_OK);
    ASAN_POISON_MEMORY_REGION(g_arena, m->arena_bytes);
    ASAN_POISON_MEMORY_REGION(m->data, m->data_bytes);
    /* the loader lets sections overlap: the records the interpreter reads stay readable */
    ASAN_UNPOISON_MEMORY_REGION(m->blob, EAI_HEADER_BYTES);
    ASAN_UNPOISON_MEMORY_REGION(m->tensors, (size_t)m->n_tensors * EAI_TENSOR_BYTES);
    ASAN_UNPOISON_MEMORY_REGION(m->ops, (size_t)m->n_ops * EAI_OP_BYTES);
    ASAN_UNPOISON_MEMORY_REGION(m->io, 2u * (size_t)(m->n_inputs + m->n_outputs));
    expose(m, op.output);
    for (k = 0; k < EAI_MAX_OP_INPUTS; k++) {
        expose(m, op.inputs[k]);
        if (op.inputs[k] != EAI_NO_TENSOR) {
            REQUIRE(eai_tensor_info(m, op.inputs[k], &t) == EAI_OK);
            if (t.kind == EAI_KIND_ARENA)
                memcpy(saved[k], g_arena + t.offset, t.bytes);
        }
    }
    REQUIRE(eai_invoke_range(m, g_arena, m->arena_bytes, i, i + 1u) == EAI_OK);
    for (k = 0; k < EAI_MAX_OP_INPUTS; k++) {
        if (op.inputs[k] == EAI_NO_TENSOR)
            continue;
        REQUIRE(eai_tensor_info(m, op.inputs[k], &t) == EAI_OK);
        if (t.kind == EAI_KIND_ARENA && !(op.opcode == EAI_OP_RESHAPE && t.offset == out.offset))
            REQUIRE(memcmp(saved[k], g_arena + t.offset, t.bytes) == 0);
    }
    ASAN_UNPOISON_MEMORY_REGION(g_arena, m->arena_bytes);
    ASAN_UNPOISON_MEMORY_REGION(m->data, m->data_bytes);
}

static void run_model(const eai_model *m, const uint8_t *tail, size_t tail_len, uint32_t seed)
{
    uint32_t i, j = 0;
    /* the argument checks */
    if (m->arena_bytes > 0)
        REQUIRE(eai_invoke(m, g_arena, m->arena_bytes - 1u) == EAI_ERR_ARENA);
    REQUIRE(eai_invoke(m, g_arena + 1, FUZZ_ARENA_BYTES - 4u) == EAI_ERR_ALIGN);
    REQUIRE(eai_invoke_range(m, g_arena, m->arena_bytes, 1, 0) == EAI_ERR_ARG);
    REQUIRE(eai_invoke_range(m, g_arena, m->arena_bytes, 0, m->n_ops + 1u) == EAI_ERR_ARG);
    REQUIRE(eai_invoke_range(m, g_arena, m->arena_bytes, m->n_ops, m->n_ops) == EAI_OK);

    g_rng = 0x9E3779B97F4A7C15ull ^ seed;
    for (i = 0; i < m->arena_bytes; i++)
        g_arena[i] = rnd8();
    for (i = 0; i < m->n_inputs && tail_len > 0; i++) {
        void *in;
        size_t n, b;
        REQUIRE(eai_input_buffer(m, g_arena, i, &in, &n) == EAI_OK);
        REQUIRE((uint8_t *)in >= g_arena && n <= m->arena_bytes &&
                (size_t)((uint8_t *)in - g_arena) <= m->arena_bytes - n);
        for (b = 0; b < n; b++, j++)
            ((uint8_t *)in)[b] = tail[j % tail_len];
    }
    for (i = 0; i < m->n_ops; i++)
        run_op_fenced(m, i);
    for (i = 0; i < m->n_outputs; i++) {
        const void *out;
        size_t n;
        REQUIRE(eai_output_buffer(m, g_arena, i, &out, &n) == EAI_OK);
        REQUIRE((const uint8_t *)out >= g_arena && n <= m->arena_bytes &&
                (size_t)((const uint8_t *)out - g_arena) <= m->arena_bytes - n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *blob;
    eai_model m;
    int rc;
    uint32_t blob_bytes = 0;
    if (!g_arena) {
        /* FUZZ_ARENA_BYTES, 4-byte aligned; never freed */
        g_arena_words = (uint32_t *)malloc(FUZZ_ARENA_BYTES);
        REQUIRE(g_arena_words != NULL);
        g_arena = (uint8_t *)g_arena_words;
    }
    blob = (uint8_t *)malloc(size ? size : 1);
    REQUIRE(blob != NULL);
    memcpy(blob, data, size);
    if (eai_blob_size(blob, size, &blob_bytes) == EAI_OK && blob_bytes <= size) {
        const uint32_t crc = eai_crc32(0, blob + EAI_CRC_START, blob_bytes - EAI_CRC_START);
        if ((eai_rd32(blob + EAI_H_CRC32) & 15u) != 15u) {
            blob[EAI_H_CRC32] = (uint8_t)crc;
            blob[EAI_H_CRC32 + 1] = (uint8_t)(crc >> 8);
            blob[EAI_H_CRC32 + 2] = (uint8_t)(crc >> 16);
            blob[EAI_H_CRC32 + 3] = (uint8_t)(crc >> 24);
        }
    }
    rc = eai_load(&m, blob, size);
    REQUIRE(rc <= 0 && rc >= EAI_ERR_IO);
    REQUIRE(eai_strerror(rc) != NULL);
    if (rc != EAI_OK) {
        REQUIRE(m.err_index >= -1);
        REQUIRE(m.n_ops == 0 && m.blob == NULL); /* nothing of a refused blob is kept */
    } else {
        check_model(&m, blob, size);
        if (m.arena_bytes <= FUZZ_ARENA_BYTES && fuzz_model_work(&m) <= FUZZ_MAX_WORK)
            run_model(&m, blob + m.blob_bytes, size - m.blob_bytes, eai_crc32(0, data, size));
    }
    free(blob);
    return 0;
}
