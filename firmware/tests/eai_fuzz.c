/* eai_fuzz: deterministic mutation fuzzer for eai_load and eai_invoke (host tool).
 *
 * Usage: eai_fuzz [--iterations N] [--seed S] BLOB.eai...
 *
 * Each BLOB must load. For each one the fuzzer then tries, in order:
 *   - N mutants (default 10000): random bit flips, bytes set to random or extreme values,
 *     random u16/u32 fields of the header, tensor table, op table and io list overwritten
 *     with random or boundary values, op params set to boundary values; in half of the
 *     cases the CRC is recomputed afterwards so the mutation reaches the structural checks;
 *   - truncations: every length below min(len, 4096), plus 4096 random lengths for larger
 *     blobs; each both as is and with blob_bytes and the CRC patched to the new length.
 * Every mutant sits in a malloc'ed buffer of exactly its length (so ASan catches any
 * over-read). When eai_load accepts a mutant, the model runs in a malloc'ed arena of
 * exactly arena_bytes filled with random bytes (models whose arena or work is too large
 * to run quickly are counted as skipped).
 *
 * Prints a status histogram, then "fuzz: N mutants, R rejected, A accepted and ran, 0
 * crashes" and exits 0; exits 1 if a valid blob fails to load or an invoke fails. A crash
 * or sanitizer report ends the process with its own non-zero status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeai.h"
#include "records.h"

#define MAX_RUN_ARENA (16u << 20) /* bytes */
#define MAX_RUN_WORK (1u << 26)   /* multiply-accumulates and similar */
#define N_STATUS 14 /* statuses 0 .. -13; one more bucket for anything else */

static uint64_t g_rng;
static unsigned long g_mutants, g_rejected, g_ran, g_skipped, g_invoke_failures;
static unsigned long g_status[N_STATUS + 1];

static uint64_t rnd(void)
{
    /* xorshift64* */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 2685821657736338717ull;
}

static uint32_t rnd_below(uint32_t n)
{
    return n ? (uint32_t)(rnd() >> 33) % n : 0;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;
    uint8_t *buf;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v);
    put16(p + 2, v >> 16);
}

/* A boundary or random value for a field. */
static uint32_t interesting(uint32_t len)
{
    static const uint32_t v[] = {0,          1,          2,          3,         4,
                                 15,         16,         17,         31,        32,
                                 63,         64,         65,         127,       128,
                                 255,        256,        4095,       4096,      4097,
                                 65535,      65536,      65537,      1u << 28,  (1u << 28) + 1,
                                 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFF0,
                                 0xFFFFFF80, 0xFFFFFFE1, 30,         0xFFFF,    0xFFFE};
    switch (rnd_below(4)) {
    case 0: return (uint32_t)rnd();
    case 1: return len + rnd_below(64) - 32u;
    default: return v[rnd_below((uint32_t)(sizeof v / sizeof v[0]))];
    }
}

/* Rough cost of running a loaded model, so huge accepted mutants are skipped. */
static uint64_t model_work(const eai_model *m)
{
    uint64_t work = 0;
    uint32_t i;
    for (i = 0; i < m->n_ops; i++) {
        eai_op op;
        eai_tensor out, f;
        uint64_t per = 1;
        eai_decode_op(m->ops + (size_t)i * EAI_OP_BYTES, &op);
        eai_tensor_info(m, op.output, &out);
        switch (op.opcode) {
        case EAI_OP_CONV_2D:
            eai_tensor_info(m, op.inputs[1], &f);
            per = (uint64_t)f.dims[1] * f.dims[2] * f.dims[3];
            break;
        case EAI_OP_DEPTHWISE_CONV_2D:
            eai_tensor_info(m, op.inputs[1], &f);
            per = (uint64_t)f.dims[1] * f.dims[2];
            break;
        case EAI_OP_FULLY_CONNECTED:
            eai_tensor_info(m, op.inputs[1], &f);
            per = f.dims[1];
            break;
        case EAI_OP_AVERAGE_POOL_2D:
        case EAI_OP_MAX_POOL_2D:
            per = (uint64_t)(uint32_t)op.params[2] * (uint32_t)op.params[3];
            break;
        case EAI_OP_SOFTMAX:
            per = 4;
            break;
        case EAI_OP_EMBEDDING_BAG:
            eai_tensor_info(m, op.inputs[0], &f);
            per = f.dims[1];
            break;
        default:
            break;
        }
        work += per * out.bytes + 1;
    }
    return work;
}

/* Load one mutant from an exact-size copy and, if accepted, run it. */
static void try_mutant(const uint8_t *data, size_t len)
{
    uint8_t *buf = malloc(len ? len : 1);
    eai_model m;
    int rc;
    if (!buf) {
        fprintf(stderr, "eai_fuzz: out of memory\n");
        exit(1);
    }
    memcpy(buf, data, len);
    g_mutants++;
    rc = eai_load(&m, buf, len);
    g_status[rc <= 0 && rc > -N_STATUS ? -rc : N_STATUS]++;
    if (rc != EAI_OK) {
        g_rejected++;
    } else {
        /* The arena buffer is exactly arena_bytes long, or, when a mutated arena_bytes is
         * huge, exactly as long as the end of the last activation (the runtime may touch
         * only activation bytes, so ASan still catches any stray access). */
        uint32_t need = m.arena_bytes, i;
        if (need > MAX_RUN_ARENA) {
            need = 0;
            for (i = 0; i < m.n_tensors; i++) {
                eai_tensor t;
                eai_tensor_info(&m, i, &t);
                if (t.kind == EAI_KIND_ARENA && t.offset + t.bytes > need)
                    need = t.offset + t.bytes;
            }
        }
        if (need > MAX_RUN_ARENA || model_work(&m) > MAX_RUN_WORK) {
            g_skipped++;
        } else {
            uint8_t *arena = malloc(need ? need : 1);
            if (!arena) {
                fprintf(stderr, "eai_fuzz: out of memory\n");
                exit(1);
            }
            for (i = 0; i < need; i++)
                arena[i] = (uint8_t)rnd();
            if (m.arena_bytes > 0 && eai_invoke(&m, arena, m.arena_bytes - 1u) != EAI_ERR_ARENA)
                g_invoke_failures++;
            rc = eai_invoke(&m, arena, m.arena_bytes);
            if (rc != EAI_OK) {
                fprintf(stderr, "eai_fuzz: accepted mutant failed to run: %s\n",
                        eai_strerror(rc));
                g_invoke_failures++;
            }
            g_ran++;
            free(arena);
        }
    }
    free(buf);
}

static void fix_crc(uint8_t *b, size_t len)
{
    uint32_t n;
    if (len < EAI_HEADER_BYTES)
        return;
    n = eai_rd32(b + EAI_H_BLOB_BYTES);
    if (n < EAI_CRC_START || n > len)
        return;
    put32(b + EAI_H_CRC32, eai_crc32(0, b + EAI_CRC_START, n - EAI_CRC_START));
}

/* Pick a random field position inside one of the tables (or the header). */
static size_t field_pos(const uint8_t *b, size_t len, unsigned width)
{
    uint32_t base = 0, size = EAI_HEADER_BYTES, count;
    switch (rnd_below(5)) {
    case 0:
        break;
    case 1:
        base = eai_rd32(b + EAI_H_TENSORS_OFF);
        count = eai_rd16(b + EAI_H_N_TENSORS);
        size = EAI_TENSOR_BYTES * count;
        break;
    case 2:
    case 3:
        base = eai_rd32(b + EAI_H_OPS_OFF);
        count = eai_rd16(b + EAI_H_N_OPS);
        size = EAI_OP_BYTES * count;
        break;
    default:
        base = eai_rd32(b + EAI_H_IO_OFF);
        size = 2u * (eai_rd16(b + EAI_H_N_INPUTS) + eai_rd16(b + EAI_H_N_OUTPUTS));
        break;
    }
    if (size < width || (uint64_t)base + size > len)
        return (size_t)rnd_below((uint32_t)(len - width + 1));
    return base + (rnd_below((size - width) / width + 1)) * width;
}

static void mutate(uint8_t *b, size_t len)
{
    const unsigned rounds = 1 + rnd_below(rnd_below(2) ? 1 : 4);
    unsigned r, k;
    for (r = 0; r < rounds; r++) {
        switch (rnd_below(5)) {
        case 0: /* flip bits */
            for (k = 1 + rnd_below(8); k > 0; k--) {
                const size_t i = rnd_below((uint32_t)len);
                b[i] = (uint8_t)(b[i] ^ (1u << rnd_below(8)));
            }
            break;
        case 1: { /* bytes to random or extreme values */
            static const uint8_t ext[] = {0x00, 0xFF, 0x7F, 0x80, 0x01};
            for (k = 1 + rnd_below(4); k > 0; k--) {
                const size_t i = rnd_below((uint32_t)len);
                b[i] = rnd_below(2) ? (uint8_t)rnd() : ext[rnd_below(5)];
            }
            break;
        }
        case 2: /* a u16 field */
            put16(b + field_pos(b, len, 2), interesting((uint32_t)len));
            break;
        case 3: /* a u32 field */
            put32(b + field_pos(b, len, 4), interesting((uint32_t)len));
            break;
        default: { /* an op param or tensor offset/dim to a boundary value */
            const uint32_t n_ops = eai_rd16(b + EAI_H_N_OPS);
            const uint32_t ops_off = eai_rd32(b + EAI_H_OPS_OFF);
            if (n_ops == 0 || (uint64_t)ops_off + (uint64_t)n_ops * EAI_OP_BYTES > len)
                break;
            put32(b + ops_off + EAI_OP_BYTES * rnd_below(n_ops) + 20u + 4u * rnd_below(12),
                  interesting((uint32_t)len));
            break;
        }
        }
    }
}

static int fuzz_blob(const char *path, unsigned long iterations)
{
    size_t len = 0, n;
    uint8_t *orig = read_file(path, &len), *work;
    eai_model m;
    unsigned long it;
    uint8_t *copy;
    int rc;
    if (!orig) {
        fprintf(stderr, "eai_fuzz: cannot read %s\n", path);
        return 0;
    }
    copy = malloc(len ? len : 1);
    work = malloc(len ? len : 1);
    if (!copy || !work) {
        fprintf(stderr, "eai_fuzz: out of memory\n");
        return 0;
    }
    memcpy(copy, orig, len);
    rc = eai_load(&m, copy, len);
    if (rc != EAI_OK) {
        fprintf(stderr, "eai_fuzz: %s does not load: %s (index %d)\n", path, eai_strerror(rc),
                (int)m.err_index);
        return 0;
    }
    try_mutant(orig, len);

    for (it = 0; it < iterations; it++) {
        memcpy(work, orig, len);
        mutate(work, len);
        if (rnd_below(2))
            fix_crc(work, len);
        try_mutant(work, len);
    }

    /* truncations, as is and with blob_bytes and the CRC patched to the new length */
    for (n = 0; n < len; n++) {
        size_t cut = n;
        if (n >= 4096) {
            if (n >= 4096 + 4096)
                break;
            cut = rnd_below((uint32_t)len);
        }
        try_mutant(orig, cut);
        if (cut >= EAI_HEADER_BYTES) {
            memcpy(work, orig, cut);
            put32(work + EAI_H_BLOB_BYTES, (uint32_t)cut);
            fix_crc(work, cut);
            try_mutant(work, cut);
        }
    }
    free(orig);
    free(copy);
    free(work);
    return 1;
}

int main(int argc, char **argv)
{
    unsigned long iterations = 10000, seed = 1;
    int a = 1, ok = 1, s;
    while (a < argc && strncmp(argv[a], "--", 2) == 0) {
        char *end;
        if (a + 1 >= argc)
            break;
        if (strcmp(argv[a], "--iterations") == 0)
            iterations = strtoul(argv[a + 1], &end, 10);
        else if (strcmp(argv[a], "--seed") == 0)
            seed = strtoul(argv[a + 1], &end, 10);
        else
            break;
        if (*end != '\0')
            break;
        a += 2;
    }
    if (a >= argc || strncmp(argv[a], "--", 2) == 0) {
        fprintf(stderr, "usage: eai_fuzz [--iterations N] [--seed S] BLOB.eai...\n");
        return 2;
    }
    for (; a < argc; a++) {
        g_rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed * 0xD1B54A32D192ED03ull) ^ (uint64_t)(unsigned)a;
        if (g_rng == 0)
            g_rng = 1;
        ok &= fuzz_blob(argv[a], iterations);
    }
    printf("fuzz: status histogram:");
    for (s = 0; s < N_STATUS; s++)
        printf(" %d=%lu", -s, g_status[s]);
    printf(" other=%lu", g_status[N_STATUS]);
    printf("\nfuzz: %lu accepted but too large to run\n", g_skipped);
    if (g_invoke_failures)
        printf("fuzz: %lu invoke failures\n", g_invoke_failures);
    printf("fuzz: %lu mutants, %lu rejected, %lu accepted and ran, 0 crashes\n", g_mutants,
           g_rejected, g_ran);
    return ok && g_invoke_failures == 0 ? 0 : 1;
}
