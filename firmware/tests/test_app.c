/* Unit tests of the protocol server (app/) through its port seam: an in-memory NOR flash
 * (writes clear bits, erases set them) that can lose power at any flash operation, possibly
 * tearing it, and a UART that is a pair of buffers (fake_port.c, shared with the fuzz target
 * fuzz/fuzz_app.c). The power-cut test commits 300 models in a row and, before each
 * successful commit, cuts the power at every flash operation of the upload and commit in
 * turn (whole or torn), reboots and checks that HELLO names a valid model that is the
 * previous or the new one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "blob_writer.h"
#include "edgeai.h"
#include "edgeai_port.h"
#include "fake_port.h"
#include "fixedpoint.h"
#include "frame.h"
#include "text.h"

#include "check.h"

/* ---- requests ----------------------------------------------------------------------------- */

static uint16_t g_seq;
static uint8_t g_resp[EAI_FRAME_MAX_PAYLOAD];

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Send one request; the response's status (its payload in g_resp, *n bytes), or -1. */
static int request(uint8_t kind, const uint8_t *payload, size_t len, size_t *n)
{
    eai_frame_rx rx;
    size_t wire, i = 0;
    int status = -1;
    g_out_len = 0;
    if (eai_frame_encode(kind, 0, ++g_seq, payload, len, g_in, sizeof g_in, &wire) != EAI_LINK_OK)
        return -1;
    g_in_len = wire;
    while (g_in_len)
        (void)eai_app_poll(0);
    eai_frame_rx_init(&rx);
    while (i < g_out_len) {
        eai_frame f;
        int got;
        i += eai_frame_rx_feed(&rx, g_out + i, g_out_len - i, &f, &got);
        if (got && f.kind == (kind | EAI_KIND_RESPONSE)) {
            memcpy(g_resp, f.payload, f.length);
            if (n)
                *n = f.length;
            status = f.status;
        }
    }
    return status;
}

/* HELLO: the active slot, and the model's CRC in *crc. */
static int hello(uint32_t *crc, uint32_t *slot_size)
{
    const uint8_t v[2] = {EAI_APP_PROTOCOL_VERSION, 0};
    size_t n = 0;
    if (request(EAI_CMD_HELLO, v, 2, &n) != EAI_ST_OK || n < 25)
        return -1;
    *crc = get32(g_resp + 17);
    if (slot_size)
        *slot_size = get32(g_resp + 4);
    return g_resp[12];
}

static int upload(const uint8_t *blob, uint32_t len)
{
    static uint8_t p[EAI_FRAME_MAX_PAYLOAD];
    int st;
    bw_put32(p, len);
    bw_put32(p + 4, eai_crc32(0, blob, len));
    st = request(EAI_CMD_UPLOAD_BEGIN, p, 8, NULL);
    if (st != EAI_ST_OK)
        return st;
    bw_put32(p, 0);
    memcpy(p + 4, blob, len);
    st = request(EAI_CMD_UPLOAD_CHUNK, p, 4 + len, NULL);
    if (st != EAI_ST_OK)
        return st;
    return request(EAI_CMD_UPLOAD_COMMIT, NULL, 0, NULL);
}

/* A small valid model; k varies its bias (and so its CRC). */
static uint32_t g_blob_words[1024];
static uint8_t *const g_blob = (uint8_t *)g_blob_words;

static uint32_t build_model(int32_t k)
{
    static const int8_t w[6] = {1, -1, 2, 3, 0, -2};
    const int32_t bias[2] = {k, -k};
    static const int32_t mult[2] = {1 << 30, 1 << 30};
    static const int32_t shift[2] = {0, 1};
    bw_model m;
    uint16_t in, f, b, mu, sh, o;
    int32_t p[12] = {0};
    memset(&m, 0, sizeof m);
    in = bw_act(&m, 2, 1, 3, 1, 1, 0);
    f = bw_const_i8(&m, 2, 2, 3, 1, 1, w);
    b = bw_const_i32(&m, 2, bias);
    mu = bw_const_i32(&m, 2, mult);
    sh = bw_const_i32(&m, 2, shift);
    o = bw_act(&m, 2, 1, 2, 1, 1, 4);
    {
        const uint16_t ins[5] = {in, f, b, mu, sh};
        p[8] = -128;
        p[9] = 127;
        bw_op_add(&m, EAI_OP_FULLY_CONNECTED, 5, ins, o, p);
    }
    m.io[0] = in;
    m.io[1] = o;
    m.n_inputs = m.n_outputs = 1;
    m.arena_bytes = 8;
    return (uint32_t)bw_build(&m, g_blob, sizeof g_blob_words);
}

static void reboot(void)
{
    g_power = UNLIMITED;
    g_torn = 0;
    g_in_len = 0;
    (void)eai_app_init();
}

/* The highest generation in the two table sectors, and how many valid records they hold. */
static uint32_t max_generation(uint32_t *valid)
{
    uint32_t i, best = 0;
    *valid = 0;
    for (i = 0; i < 2u * EAI_APP_SLOT_TABLE_BYTES; i += EAI_APP_RECORD_BYTES) {
        const uint8_t *r = g_flash + i;
        if (get32(r) != 0x544F4C53u || get32(r + 28) != eai_crc32(0, r, 28))
            continue;
        (*valid)++;
        if (get32(r + 4) > best)
            best = get32(r + 4);
    }
    return best;
}

static void test_layout(void)
{
    uint32_t crc, slot_size = 0;
    memset(g_flash, 0xFF, sizeof g_flash);
    reboot();
    CHECK(hello(&crc, &slot_size) == EAI_APP_NO_SLOT);
    CHECK(slot_size == (FLASH_BYTES - 8192u) / 2u / 4096u * 4096u);
}

static void test_power_cuts(void)
{
    uint32_t prev_crc = 0, crc, valid, commits = 0, trials = 0, kept_old = 0, wraps = 0;
    int prev_slot = EAI_APP_NO_SLOT;
    int32_t k;
    memset(g_flash, 0xFF, sizeof g_flash);
    reboot();
    for (k = 1; commits < 300; k++) {
        const uint32_t len = build_model(k), want = eai_crc32(0, g_blob, len);
        long cut;
        int torn;
        for (cut = 1;; cut++) {
            for (torn = 0; torn <= 1; torn++) {
                int slot, st;
                long ops0 = g_ops;
                g_power = cut;
                g_torn = torn;
                st = upload(g_blob, len);
                trials++;
                reboot();
                slot = hello(&crc, NULL);
                if (slot == EAI_APP_NO_SLOT) {
                    CHECK(prev_slot == EAI_APP_NO_SLOT);
                } else if (crc == want && slot != prev_slot) {
                    prev_slot = slot;
                    prev_crc = crc;
                    commits++;
                    if (g_ops - ops0 == 4)
                        wraps++; /* slot erase, chunk, table erase, record */
                    goto next;
                } else {
                    CHECK(slot == prev_slot && crc == prev_crc);
                    CHECK(st != EAI_ST_OK);
                    kept_old++;
                }
                CHECK(slot == (int)EAI_APP_NO_SLOT || slot == 0 || slot == 1);
            }
            CHECK(cut < 10);
            if (cut >= 10)
                return;
        }
    next:;
    }
    CHECK(max_generation(&valid) == 300u);
    CHECK(valid >= 1u && valid <= 256u);
    CHECK(wraps >= 2u);
    printf("test_app: %u commits, %u power-cut trials (%u kept the old model), %u table wraps\n",
           commits, trials, kept_old, wraps);
}

/* A text model: ids [1,16] int32 at 0 -> EMBEDDING_BAG over a [13,2] table -> [1,2] at 64;
 * tensor 3 is an int32 activation that no bag reads. */
static uint32_t build_text_model(void)
{
    static int8_t table[13 * 2];
    bw_model m;
    uint16_t ids, t, o;
    int32_t p[12] = {0};
    int i;
    for (i = 0; i < 26; i++)
        table[i] = (int8_t)(i * 9 - 100);
    memset(&m, 0, sizeof m);
    ids = bw_tensor_add(&m, EAI_INT32, EAI_KIND_ARENA, 2, 1, 16, 1, 1, 0, NULL);
    t = bw_const_i8(&m, 2, 13, 2, 1, 1, table);
    o = bw_act(&m, 2, 1, 2, 1, 1, 64);
    (void)bw_tensor_add(&m, EAI_INT32, EAI_KIND_ARENA, 2, 1, 4, 1, 1, 80, NULL);
    {
        const uint16_t ins[2] = {ids, t};
        p[0] = 2;
        p[2] = 1 << 30;
        p[3] = -7; /* 0.5 x 2^-7: out = the mean, rounded */
        p[4] = -128;
        p[5] = 127;
        bw_op_add(&m, EAI_OP_EMBEDDING_BAG, 2, ins, o, p);
    }
    m.io[0] = ids;
    m.io[1] = o;
    m.n_inputs = m.n_outputs = 1;
    m.arena_bytes = 96;
    return (uint32_t)bw_build(&m, g_blob, sizeof g_blob_words);
}

static int write_text(uint16_t tensor, const char *text, size_t len, size_t *n)
{
    static uint8_t p[EAI_FRAME_MAX_PAYLOAD];
    p[0] = (uint8_t)tensor;
    p[1] = (uint8_t)(tensor >> 8);
    memcpy(p + 2, text, len);
    return request(EAI_CMD_WRITE_TEXT, p, 2 + len, n);
}

static void test_write_text(void)
{
    static char long_text[EAI_FRAME_MAX_PAYLOAD - 2];
    const char *text = "Hello, wide World! caf\xc3\xa9";
    const uint8_t read_ids[8] = {0, 0, 0, 0, 0, 0, 64, 0};   /* tensor 0, offset 0, 64 bytes */
    const uint8_t read_out[8] = {2, 0, 0, 0, 0, 0, 2, 0};    /* tensor 2, 2 bytes */
    const uint8_t invoke[4] = {0, 0, 1, 0};
    int32_t want[16];
    uint32_t crc, count, i;
    size_t n = 0;
    int sum[2] = {0, 0}, valid = 0;

    memset(g_flash, 0xFF, sizeof g_flash);
    reboot();
    CHECK_EQ(write_text(0, "hi", 2, NULL), EAI_ST_NO_MODEL);
    CHECK_EQ(upload(g_blob, build_text_model()), EAI_ST_OK);
    CHECK(hello(&crc, NULL) != EAI_APP_NO_SLOT);

    count = eai_text_features((const uint8_t *)text, strlen(text), 13, 2, want, 16);
    CHECK_EQ(count, 7); /* 4 words, 3 bigrams */
    CHECK_EQ(write_text(0, text, strlen(text), &n), EAI_ST_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(g_resp[0] | (g_resp[1] << 8), count);
    CHECK_EQ(request(EAI_CMD_READ_TENSOR, read_ids, 8, &n), EAI_ST_OK);
    CHECK_EQ(n, 64);
    for (i = 0; i < 16; i++)
        CHECK_EQ((int32_t)get32(g_resp + 4 * i), want[i]);
    /* the board computes the bag of those ids */
    for (i = 0; i < count; i++) {
        sum[0] += (int)want[i] * 18 - 100;
        sum[1] += (int)want[i] * 18 - 91;
        valid++;
    }
    CHECK_EQ(request(EAI_CMD_INVOKE, invoke, 4, &n), EAI_ST_OK);
    CHECK_EQ(request(EAI_CMD_READ_TENSOR, read_out, 8, &n), EAI_ST_OK);
    for (i = 0; i < 2; i++) { /* docs/model-format.md: m = round(256 x sum / n), then MBQM */
        const int q = (2 * 256 * abs(sum[i]) + valid) / (2 * valid);
        CHECK_EQ((int8_t)g_resp[i], eai_mbqm(sum[i] < 0 ? -q : q, 1 << 30, -7));
    }

    /* an empty text pads everything; a long one is cut at EAI_TEXT_MAX_BYTES and at L ids */
    CHECK_EQ(write_text(0, "", 0, &n), EAI_ST_OK);
    CHECK_EQ(g_resp[0] | (g_resp[1] << 8), 0);
    CHECK_EQ(request(EAI_CMD_READ_TENSOR, read_ids, 8, &n), EAI_ST_OK);
    for (i = 0; i < 16; i++)
        CHECK_EQ((int32_t)get32(g_resp + 4 * i), -1);
    memset(long_text, 'a', sizeof long_text);
    for (i = 3; i < sizeof long_text; i += 4)
        long_text[i] = ' ';
    CHECK_EQ(write_text(0, long_text, sizeof long_text, &n), EAI_ST_OK);
    CHECK_EQ(g_resp[0] | (g_resp[1] << 8), 16);

    /* not the ids of a bag: the table, the output, an int32 activation no bag reads, none */
    CHECK_EQ(write_text(1, "hi", 2, NULL), EAI_ST_BAD_RANGE);
    CHECK_EQ(write_text(2, "hi", 2, NULL), EAI_ST_BAD_RANGE);
    CHECK_EQ(write_text(3, "hi", 2, NULL), EAI_ST_BAD_RANGE);
    CHECK_EQ(write_text(4, "hi", 2, NULL), EAI_ST_BAD_RANGE);
    CHECK_EQ(write_text(0xFFFF, "hi", 2, NULL), EAI_ST_BAD_RANGE);
    CHECK_EQ(request(EAI_CMD_WRITE_TEXT, read_ids, 1, NULL), EAI_ST_BAD_FRAME);

    /* a model without a bag */
    CHECK_EQ(upload(g_blob, build_model(5)), EAI_ST_OK);
    CHECK_EQ(write_text(0, "hi", 2, NULL), EAI_ST_BAD_RANGE);
}

/* The kinds of the frames the board sent for the last request, in order (at most max); an
 * ACCEPTED frame must carry the request's seq and kind. */
static size_t sent_kinds(uint8_t kind, uint8_t *kinds, size_t max)
{
    eai_frame_rx rx;
    size_t i = 0, n = 0;
    eai_frame_rx_init(&rx);
    while (i < g_out_len) {
        eai_frame f;
        int got;
        i += eai_frame_rx_feed(&rx, g_out + i, g_out_len - i, &f, &got);
        if (!got)
            continue;
        if (f.kind == EAI_KIND_ACCEPTED)
            CHECK(f.seq == g_seq && f.length == 1 && f.payload[0] == kind && f.status == 0);
        if (n < max)
            kinds[n++] = f.kind;
    }
    return n;
}

/* Protocol 4: a long request (UPLOAD_BEGIN, UPLOAD_COMMIT, INVOKE, TIME_LAYERS), once checked,
 * is acknowledged by an ACCEPTED frame before its work and its response; one refused at once, a
 * repeat answered from memory and every other command get only their response; the board
 * ignores an ACCEPTED frame sent to it. */
static void test_accepted(void)
{
    static uint8_t p[EAI_FRAME_MAX_PAYLOAD];
    const uint8_t invoke[4] = {0, 0, 1, 0}, bad_invoke[4] = {0, 0, 2, 0};
    const uint8_t v[2] = {EAI_APP_PROTOCOL_VERSION, 0};
    const uint32_t len = build_model(9);
    uint8_t k[4];
    memset(g_flash, 0xFF, sizeof g_flash);
    reboot();
    CHECK_EQ(request(EAI_CMD_INVOKE, invoke, 4, NULL), EAI_ST_NO_MODEL);
    CHECK_EQ(sent_kinds(EAI_CMD_INVOKE, k, 4), 1);

    bw_put32(p, len);
    bw_put32(p + 4, eai_crc32(0, g_blob, len));
    CHECK_EQ(request(EAI_CMD_UPLOAD_BEGIN, p, 8, NULL), EAI_ST_OK);
    CHECK_EQ(sent_kinds(EAI_CMD_UPLOAD_BEGIN, k, 4), 2);
    CHECK(k[0] == EAI_KIND_ACCEPTED && k[1] == (EAI_CMD_UPLOAD_BEGIN | EAI_KIND_RESPONSE));
    bw_put32(p, 0);
    memcpy(p + 4, g_blob, len);
    CHECK_EQ(request(EAI_CMD_UPLOAD_CHUNK, p, 4 + len, NULL), EAI_ST_OK);
    CHECK_EQ(sent_kinds(EAI_CMD_UPLOAD_CHUNK, k, 4), 1);
    CHECK_EQ(request(EAI_CMD_UPLOAD_COMMIT, NULL, 0, NULL), EAI_ST_OK);
    CHECK_EQ(sent_kinds(EAI_CMD_UPLOAD_COMMIT, k, 4), 2);
    CHECK(k[0] == EAI_KIND_ACCEPTED && k[1] == (EAI_CMD_UPLOAD_COMMIT | EAI_KIND_RESPONSE));

    CHECK_EQ(request(EAI_CMD_INVOKE, invoke, 4, NULL), EAI_ST_OK);
    CHECK_EQ(sent_kinds(EAI_CMD_INVOKE, k, 4), 2);
    CHECK(k[0] == EAI_KIND_ACCEPTED && k[1] == (EAI_CMD_INVOKE | EAI_KIND_RESPONSE));
    g_seq--; /* the same request again: a retry, answered from memory */
    CHECK_EQ(request(EAI_CMD_INVOKE, invoke, 4, NULL), EAI_ST_OK);
    CHECK_EQ(sent_kinds(EAI_CMD_INVOKE, k, 4), 1);
    CHECK_EQ(k[0], EAI_CMD_INVOKE | EAI_KIND_RESPONSE);
    CHECK_EQ(request(EAI_CMD_INVOKE, bad_invoke, 4, NULL), EAI_ST_BAD_RANGE);
    CHECK_EQ(sent_kinds(EAI_CMD_INVOKE, k, 4), 1);
    CHECK_EQ(request(EAI_CMD_TIME_LAYERS, NULL, 0, NULL), EAI_ST_OK);
    CHECK_EQ(sent_kinds(EAI_CMD_TIME_LAYERS, k, 4), 2);
    CHECK(k[0] == EAI_KIND_ACCEPTED && k[1] == (EAI_CMD_TIME_LAYERS | EAI_KIND_RESPONSE));
    CHECK_EQ(request(EAI_CMD_HELLO, v, 2, NULL), EAI_ST_OK);
    CHECK_EQ(sent_kinds(EAI_CMD_HELLO, k, 4), 1);
    CHECK_EQ(request(EAI_KIND_ACCEPTED, invoke, 1, NULL), -1);
    CHECK_EQ(g_out_len, 0);
}

int main(void)
{
    test_layout();
    test_power_cuts();
    test_write_text();
    test_accepted();
    printf("test_app: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
