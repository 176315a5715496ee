/* eai_run: run a .eai model on raw int8 input files (host tool).
 *
 * Usage: eai_run [--repeat N] MODEL.eai OUT_DIR IN0.bin [IN1.bin ...]
 *
 * Loads MODEL.eai, copies IN<i>.bin (raw int8 bytes, exactly the size of model input i)
 * into the arena, runs the model (N times, default 1, re-copying the inputs each time)
 * and writes model output i as raw int8 bytes to OUT_DIR/output<i>.bin.
 *
 * On failure prints one line to stderr, "eai_run: <what>: <eai_strerror> (status S,
 * index I)" for runtime errors, and exits 1 (2 for usage errors). With --repeat N > 1 it
 * also prints the mean time per invoke to stderr. */
#define _POSIX_C_SOURCE 199309L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgeai.h"

static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0, got;
    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            uint8_t *nb;
            cap = cap ? 2 * cap : 65536;
            nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = n;
    return buf ? buf : malloc(1);
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f)
        return 0;
    ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static int usage(void)
{
    fprintf(stderr, "usage: eai_run [--repeat N] MODEL.eai OUT_DIR IN0.bin [IN1.bin ...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    long repeat = 1, r;
    int a = 1, rc, status = 1;
    uint32_t i;
    size_t blob_len = 0;
    void *blob = NULL;
    uint8_t *arena = NULL;
    uint8_t *inputs[EAI_MAX_IO] = {NULL};
    eai_model m;
    eai_tensor t;
    const char *model_path, *out_dir;
    struct timespec t0, t1;

    if (a < argc && strcmp(argv[a], "--repeat") == 0) {
        char *end;
        if (a + 1 >= argc)
            return usage();
        repeat = strtol(argv[a + 1], &end, 10);
        if (*end != '\0' || repeat < 1)
            return usage();
        a += 2;
    }
    if (argc - a < 3)
        return usage();
    model_path = argv[a];
    out_dir = argv[a + 1];
    a += 2;

    /* malloc returns memory aligned for any type, so at least 4-byte aligned */
    blob = read_file(model_path, &blob_len);
    if (!blob) {
        fprintf(stderr, "eai_run: cannot read %s: %s\n", model_path, strerror(errno));
        goto done;
    }
    rc = eai_load(&m, blob, blob_len);
    if (rc != EAI_OK) {
        fprintf(stderr, "eai_run: load %s: %s (status %d, index %d)\n", model_path,
                eai_strerror(rc), rc, (int)m.err_index);
        goto done;
    }
    if ((uint32_t)(argc - a) != m.n_inputs) {
        fprintf(stderr, "eai_run: the model has %u inputs, %d input files given\n",
                (unsigned)m.n_inputs, argc - a);
        goto done;
    }
    arena = calloc(m.arena_bytes ? m.arena_bytes : 1, 1);
    if (!arena) {
        fprintf(stderr, "eai_run: cannot allocate a %u-byte arena\n", (unsigned)m.arena_bytes);
        goto done;
    }
    for (i = 0; i < m.n_inputs; i++) {
        size_t len = 0;
        eai_tensor_info(&m, (uint32_t)eai_input_index(&m, i), &t);
        inputs[i] = read_file(argv[a + (int)i], &len);
        if (!inputs[i]) {
            fprintf(stderr, "eai_run: cannot read %s: %s\n", argv[a + (int)i], strerror(errno));
            goto done;
        }
        if (len != t.bytes) {
            fprintf(stderr, "eai_run: %s has %lu bytes, input %u needs %u\n", argv[a + (int)i],
                    (unsigned long)len, (unsigned)i, (unsigned)t.bytes);
            goto done;
        }
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (r = 0; r < repeat; r++) {
        for (i = 0; i < m.n_inputs; i++) {
            eai_tensor_info(&m, (uint32_t)eai_input_index(&m, i), &t);
            memcpy(arena + t.offset, inputs[i], t.bytes);
        }
        rc = eai_invoke(&m, arena, m.arena_bytes);
        if (rc != EAI_OK) {
            fprintf(stderr, "eai_run: invoke: %s (status %d, index -1)\n", eai_strerror(rc), rc);
            goto done;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (repeat > 1) {
        const double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
                           (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / (double)repeat;
        fprintf(stderr, "eai_run: %ld invokes, %.1f us per invoke\n", repeat, us);
    }

    for (i = 0; i < m.n_outputs; i++) {
        char path[4096];
        eai_tensor_info(&m, (uint32_t)eai_output_index(&m, i), &t);
        snprintf(path, sizeof path, "%s/output%u.bin", out_dir, (unsigned)i);
        if (!write_file(path, arena + t.offset, t.bytes)) {
            fprintf(stderr, "eai_run: cannot write %s: %s\n", path, strerror(errno));
            goto done;
        }
    }
    status = 0;
done:
    for (i = 0; i < EAI_MAX_IO; i++)
        free(inputs[i]);
    free(arena);
    free(blob);
    return status;
}
