/* fuzz_seeds: write the seed inputs of the frame and app fuzz targets (host tool).
 *
 * Usage: fuzz_seeds OUT_DIR BLOB.eai...
 *
 * OUT_DIR/frame/: byte streams of valid frames (requests, responses, logs, an empty and a
 * full payload) mixed with what a receiver must drop (garbage, a bad CRC, a wrong length, an
 * oversize run). OUT_DIR/app/: for each BLOB that fits a slot of the fake board, a valid
 * session in fuzz_app.c's script format: upload it, HELLO, write its inputs, INVOKE, read
 * its output, a retry, TIME_LAYERS, WRITE_TEXT (text models), a reboot, a partial INVOKE,
 * RESET, an upload under a power failure and a slot switch; and a few sessions of raw bytes.
 * The loader target's seeds are the BLOBs themselves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "edgeai.h"
#include "frame.h"

#define SLOT_LIMIT (28u * 1024u) /* fake_port.h: (64 KiB - 8 KiB) / 2 */

typedef struct {
    uint8_t *b;
    size_t n, cap;
} buf;

static void put(buf *o, const void *p, size_t n)
{
    if (o->n + n > o->cap) {
        o->cap = 2u * (o->n + n);
        o->b = (uint8_t *)realloc(o->b, o->cap);
        if (!o->b) {
            fprintf(stderr, "fuzz_seeds: out of memory\n");
            exit(1);
        }
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put8(buf *o, uint32_t v)
{
    const uint8_t b = (uint8_t)v;
    put(o, &b, 1);
}

static void put16(buf *o, uint32_t v)
{
    put8(o, v & 0xFFu);
    put8(o, v >> 8);
}

static void save(const char *dir, const char *sub, const char *name, const buf *o)
{
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    f = fopen(path, "wb");
    if (!f || fwrite(o->b, 1, o->n, f) != o->n || fclose(f) != 0) {
        fprintf(stderr, "fuzz_seeds: cannot write %s\n", path);
        exit(1);
    }
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;
    uint8_t *b;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "fuzz_seeds: cannot read %s\n", path);
        exit(1);
    }
    b = (uint8_t *)malloc((size_t)n + 1u);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "fuzz_seeds: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* ---- frame seeds (fuzz_frame.c's records) ------------------------------------------------- */

static void raw(buf *o, const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    while (n > 0) {
        const size_t k = n < 123u ? n : 123u;
        put8(o, (uint32_t)(2u * k));
        put(o, b, k);
        b += k;
        n -= k;
    }
}

/* A frame record; flags 1: no delimiter, 2: flip bit `bit` of byte `at`. */
static void frame(buf *o, uint8_t flags, uint8_t kind, uint8_t status, uint16_t seq,
                  const uint8_t *p, size_t n, uint16_t at, uint8_t bit)
{
    put8(o, 1u | (uint32_t)(flags << 1));
    put8(o, kind);
    put8(o, status);
    put16(o, seq);
    put16(o, (uint32_t)n);
    put(o, p, n);
    if (flags & 6u) {
        put16(o, at);
        put8(o, bit);
    }
}

static void frame_seeds(const char *dir)
{
    static uint8_t big[EAI_FRAME_MAX_PAYLOAD], run[EAI_FRAME_MAX_WIRE + 10u];
    const uint8_t hello[2] = {EAI_APP_PROTOCOL_VERSION, 0}, text[] = "edgeai 0.1.0 on sim, no model";
    buf o = {NULL, 0, 0};
    size_t i;
    for (i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7u); /* zeros every 256 bytes: COBS blocks of every length */

    put8(&o, 1); /* the split seed */
    frame(&o, 0, 0x01, 0, 1, hello, 2, 0, 0);
    frame(&o, 0, 0x7F, 2, 0, text, sizeof text - 1u, 0, 0);
    frame(&o, 0, 0x81, 0, 1, big, 40, 0, 0);
    frame(&o, 0, 0x04, 0, 2, NULL, 0, 0, 0);
    save(dir, "frame", "requests.bin", &o);

    o.n = 0;
    put8(&o, 2);
    frame(&o, 0, 0x86, 0, 9, big, sizeof big, 0, 0); /* the largest payload */
    for (i = 0; i < 254; i++)
        big[i] = 0x55;
    frame(&o, 0, 0x03, 0, 10, big, 254, 0, 0); /* a run of exactly 254 non-zero bytes */
    save(dir, "frame", "large.bin", &o);

    o.n = 0;
    put8(&o, 3);
    raw(&o, "\x00\x00garbage\x00", 10);
    frame(&o, 2, 0x01, 0, 3, hello, 2, 9, 6); /* a flipped bit: bad CRC */
    frame(&o, 0, 0x07, 0, 4, hello, 2, 0, 0);
    raw(&o, "\x03\x01\x00", 3);         /* COBS that decodes to too few bytes */
    raw(&o, "\x05\x01\x02\x03\x00", 5); /* a code past the end */
    memset(run, 0x11, sizeof run);
    raw(&o, run, sizeof run); /* oversize: dropped up to the next 0x00 */
    raw(&o, "", 1);
    for (i = EAI_FRAME_MAX_WIRE - 1u; i <= EAI_FRAME_MAX_WIRE + 1u; i++) {
        put8(&o, 2u * 124u); /* a run of i bytes 0x22 around the limit, then a delimiter */
        put16(&o, (uint32_t)i);
        put8(&o, 0x22);
        raw(&o, "", 1);
    }
    frame(&o, 0, 0x09, 0, 5, NULL, 0, 0, 0);
    frame(&o, 1, 0x05, 0, 6, big, 3, 0, 0); /* a partial frame at the end */
    save(dir, "frame", "noise.bin", &o);
    free(o.b);
}

/* ---- app seeds ------------------------------------------------------------------------------ */

enum { A_REQ = 0, A_UPLOAD = 1, A_RAW = 2, A_REPEAT = 3, A_REBOOT = 4, A_POWER = 5, A_PIECE = 6,
       A_CHECK = 7 };

static void req(buf *o, uint8_t kind, const uint8_t *p, size_t n)
{
    put8(o, A_REQ);
    put8(o, kind);
    put16(o, (uint32_t)n);
    put(o, p, n);
}

static void upload(buf *o, const uint8_t *blob, size_t n, uint32_t chunk, uint8_t flags)
{
    put8(o, (uint8_t)(A_UPLOAD | (flags << 3)));
    put16(o, (uint32_t)n);
    put(o, blob, n);
    put16(o, chunk - 1u); /* fuzz_app.c reads 1 + this */
}

static void app_session(const char *dir, const char *name, const uint8_t *blob, size_t n,
                        const eai_model *m)
{
    static uint8_t p[EAI_FRAME_MAX_PAYLOAD];
    const uint8_t hello[2] = {EAI_APP_PROTOCOL_VERSION, 0};
    buf o = {NULL, 0, 0};
    uint32_t i, k;
    eai_tensor t;
    put8(&o, A_CHECK);
    upload(&o, blob, n, 1000, 0);
    req(&o, 0x01, hello, 2);
    for (i = 0; i < m->n_inputs; i++) {
        const uint32_t idx = (uint32_t)eai_input_index(m, i);
        uint32_t len;
        eai_tensor_info(m, idx, &t);
        len = t.bytes < EAI_FRAME_MAX_PAYLOAD - 6u ? t.bytes : 64u;
        p[0] = (uint8_t)idx;
        p[1] = (uint8_t)(idx >> 8);
        memset(p + 2, 0, 4);
        for (k = 0; k < len; k++)
            p[6 + k] = (uint8_t)(k * 37u + 11u);
        req(&o, 0x05, p, 6u + len);
    }
    p[0] = 0;
    p[1] = 0;
    p[2] = (uint8_t)m->n_ops;
    p[3] = (uint8_t)(m->n_ops >> 8);
    req(&o, 0x07, p, 4); /* INVOKE all */
    {
        const uint32_t idx = (uint32_t)eai_output_index(m, 0);
        eai_tensor_info(m, idx, &t);
        p[0] = (uint8_t)idx;
        p[1] = (uint8_t)(idx >> 8);
        memset(p + 2, 0, 4);
        p[6] = (uint8_t)(t.bytes < 4096u ? t.bytes : 4096u);
        p[7] = (uint8_t)((t.bytes < 4096u ? t.bytes : 4096u) >> 8);
        req(&o, 0x06, p, 8); /* READ_TENSOR the output */
    }
    put8(&o, A_REPEAT);
    req(&o, 0x08, NULL, 0); /* TIME_LAYERS */
    for (i = 0; i < m->n_tensors; i++) {
        eai_bag_info bag;
        if (eai_embedding_bag_info(m, i, &bag) == EAI_OK) {
            p[0] = (uint8_t)i;
            p[1] = (uint8_t)(i >> 8);
            memcpy(p + 2, "hello wide world", 16);
            req(&o, 0x0A, p, 18); /* WRITE_TEXT */
        }
    }
    put8(&o, A_REBOOT);
    put8(&o, A_PIECE | (2u << 3));
    p[0] = 0;
    p[1] = 0;
    p[2] = 1;
    p[3] = 0;
    req(&o, 0x07, p, 4); /* INVOKE [0, 1) */
    req(&o, 0x09, NULL, 0); /* RESET */
    put8(&o, A_POWER | (1u << 3)); /* torn */
    put8(&o, 3);
    upload(&o, blob, n, 512, 0);
    upload(&o, blob, n, 4092, 8); /* to the other slot, chunks last to first */
    put8(&o, A_CHECK);
    save(dir, "app", name, &o);
    free(o.b);
}

static void app_raw_seeds(const char *dir)
{
    static uint8_t wire[64];
    const uint8_t hello[2] = {EAI_APP_PROTOCOL_VERSION, 0};
    buf o = {NULL, 0, 0}, r = {NULL, 0, 0};
    size_t len;
    /* garbage, then a HELLO and a RESET inside raw bytes, cut in pieces of 5 */
    put(&r, "\x01\x02\x03", 3);
    eai_frame_encode(0x01, 0, 77, hello, 2, wire, sizeof wire, &len);
    put(&r, wire, len);
    eai_frame_encode(0x09, 0, 78, NULL, 0, wire, sizeof wire, &len);
    put(&r, wire, len);
    put(&r, "\x02\xFF", 2);
    put8(&o, A_PIECE | (1u << 3));
    put8(&o, A_RAW);
    put16(&o, (uint32_t)r.n);
    put(&o, r.b, r.n);
    req(&o, 0x03, (const uint8_t *)"\0\0\0\0abcd", 8); /* CHUNK without BEGIN */
    req(&o, 0x04, NULL, 0);                             /* COMMIT without BEGIN */
    req(&o, 0x07, (const uint8_t *)"\0\0\1\0", 4);      /* INVOKE without a model */
    req(&o, 0x01, (const uint8_t *)"\2\0", 2);          /* HELLO of an older protocol */
    req(&o, 0x7F, (const uint8_t *)"log", 3);           /* not a request */
    req(&o, 0x0B, NULL, 0);                             /* unknown */
    save(dir, "app", "raw.bin", &o);
    free(o.b);
    free(r.b);
}

int main(int argc, char **argv)
{
    int a, sessions = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_seeds OUT_DIR BLOB.eai...\n");
        return 2;
    }
    frame_seeds(argv[1]);
    app_raw_seeds(argv[1]);
    for (a = 2; a < argc; a++) {
        size_t n;
        uint8_t *blob = read_all(argv[a], &n);
        const char *base = strrchr(argv[a], '/');
        char name[256];
        eai_model m;
        if (eai_load(&m, blob, n) != EAI_OK) {
            fprintf(stderr, "fuzz_seeds: %s does not load\n", argv[a]);
            return 1;
        }
        if (n <= SLOT_LIMIT) {
            snprintf(name, sizeof name, "%s.bin", base ? base + 1 : argv[a]);
            app_session(argv[1], name, blob, n, &m);
            sessions++;
        }
        free(blob);
    }
    printf("fuzz_seeds: 3 frame streams, %d app sessions\n", sessions + 1);
    return 0;
}
