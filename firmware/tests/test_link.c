/* Unit tests of the link layer (link/cobs.c, link/frame.c): COBS round trips and edge
 * cases, frames byte for byte against edgeai/link.py, and the incremental receiver's
 * resynchronisation after garbage, truncated, corrupted and oversize input; then a fuzz
 * loop of random bytes mixed with valid frames.
 *
 * Usage: test_link [--fuzz-bytes N]     the last line reads "test_link: N passed, M failed"
 * Exit status 0 only when every check passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cobs.h"
#include "edgeai.h"
#include "frame.h"

#include "check.h"

/* A small deterministic generator (xorshift32), so failures reproduce. */
static uint32_t g_rng = 0x2545F491u;

static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}

static int hex_bytes(const char *hex, uint8_t *out)
{
    int n = 0;
    while (hex[0] && hex[1]) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

/* ---- COBS ------------------------------------------------------------------------------- */

#define BIG (EAI_FRAME_MAX_BYTES + 64u)

static uint8_t g_src[BIG], g_enc[EAI_COBS_ENCODED_MAX(BIG)], g_dec[BIG];

/* Encode, check the bound and the absence of 0x00, decode (copying and in place). */
static void round_trip(const uint8_t *src, size_t n)
{
    size_t elen = 0, dlen = 0, i;
    int zero = 0;
    CHECK_EQ(eai_cobs_encode(src, n, g_enc, sizeof g_enc, &elen), EAI_LINK_OK);
    CHECK(elen >= 1 && elen <= EAI_COBS_ENCODED_MAX(n));
    for (i = 0; i < elen; i++)
        zero |= g_enc[i] == 0;
    CHECK(!zero);
    CHECK_EQ(eai_cobs_decode(g_enc, elen, g_dec, sizeof g_dec, &dlen), EAI_LINK_OK);
    CHECK_EQ(dlen, n);
    CHECK(n == 0 || memcmp(g_dec, src, n) == 0);
    /* the output buffer may be exactly as large as the decoded data */
    CHECK_EQ(eai_cobs_decode(g_enc, elen, g_dec, n, &dlen), EAI_LINK_OK);
    /* encoding into the exact size works, one byte less fails */
    CHECK_EQ(eai_cobs_encode(src, n, g_enc, elen, &dlen), EAI_LINK_OK);
    CHECK_EQ(eai_cobs_encode(src, n, g_enc, elen - 1, &dlen), EAI_LINK_ERR_SPACE);
    CHECK_EQ(eai_cobs_encode(src, n, g_enc, elen, &elen), EAI_LINK_OK);
    /* in place */
    CHECK_EQ(eai_cobs_decode(g_enc, elen, g_enc, elen, &dlen), EAI_LINK_OK);
    CHECK_EQ(dlen, n);
    CHECK(n == 0 || memcmp(g_enc, src, n) == 0);
}

static void test_cobs_vectors(void)
{
    static const struct {
        const char *plain, *encoded;
    } v[] = {
        {"", "01"},
        {"00", "0101"},
        {"0000", "010101"},
        {"11220033", "0311220233"},
        {"11223344", "0511223344"},
        {"1100", "021101"},
    };
    size_t i;
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t p[16], e[16], out[32];
        const int np = hex_bytes(v[i].plain, p), ne = hex_bytes(v[i].encoded, e);
        size_t len = 0;
        CHECK_EQ(eai_cobs_encode(p, (size_t)np, out, sizeof out, &len), EAI_LINK_OK);
        CHECK_EQ(len, ne);
        CHECK(memcmp(out, e, (size_t)ne) == 0);
        round_trip(p, (size_t)np);
    }
}

static void test_cobs_runs(void)
{
    static const size_t sizes[] = {1, 2, 253, 254, 255, 256, 507, 508, 509, 1000, 4106, BIG};
    size_t i, j, len;
    /* non-zero runs at the 254-byte block boundary: the Python encoding */
    for (j = 0; j < 255; j++)
        g_src[j] = (uint8_t)(j % 255 + 1);
    CHECK_EQ(eai_cobs_encode(g_src, 254, g_enc, sizeof g_enc, &len), EAI_LINK_OK);
    CHECK_EQ(len, 256);
    CHECK_EQ(g_enc[0], 0xFF);
    CHECK_EQ(g_enc[255], 0x01);
    CHECK_EQ(eai_cobs_encode(g_src, 255, g_enc, sizeof g_enc, &len), EAI_LINK_OK);
    CHECK_EQ(len, 257);
    CHECK_EQ(g_enc[255], 0x02);
    CHECK_EQ(g_enc[256], g_src[254]);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const size_t n = sizes[i];
        memset(g_src, 0, n); /* all zeros */
        round_trip(g_src, n);
        for (j = 0; j < n; j++) /* no zeros: the worst case */
            g_src[j] = (uint8_t)(j % 255 + 1);
        round_trip(g_src, n);
        CHECK_EQ(eai_cobs_encode(g_src, n, g_enc, sizeof g_enc, &len), EAI_LINK_OK);
        CHECK_EQ(len, EAI_COBS_ENCODED_MAX(n));
        for (j = 0; j < n; j++) /* random, some zeros */
            g_src[j] = (uint8_t)(rnd() % 4 == 0 ? 0 : rnd());
        round_trip(g_src, n);
        for (j = 0; j < n; j++) /* a zero every 254 */
            g_src[j] = (uint8_t)(j % 255 == 254 ? 0 : 1);
        round_trip(g_src, n);
    }
    for (i = 0; i < 300; i++) { /* every small size */
        for (j = 0; j < i; j++)
            g_src[j] = (uint8_t)(rnd() % 8 == 0 ? 0 : rnd() | 1u);
        round_trip(g_src, i);
    }
}

static void test_cobs_invalid(void)
{
    uint8_t out[64];
    size_t len;
    static const uint8_t code0[] = {0x02, 0x11, 0x00, 0x01};
    static const uint8_t overrun[] = {0x05, 0x11, 0x22};
    static const uint8_t inner0[] = {0x03, 0x00, 0x11};
    static const uint8_t ok[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    CHECK_EQ(eai_cobs_decode(code0, sizeof code0, out, sizeof out, &len), EAI_LINK_ERR_COBS);
    CHECK_EQ(eai_cobs_decode(overrun, sizeof overrun, out, sizeof out, &len), EAI_LINK_ERR_COBS);
    CHECK_EQ(eai_cobs_decode(inner0, sizeof inner0, out, sizeof out, &len), EAI_LINK_ERR_COBS);
    CHECK_EQ(eai_cobs_decode(ok, sizeof ok, out, 3, &len), EAI_LINK_ERR_SPACE);
    CHECK_EQ(eai_cobs_decode(ok, sizeof ok, out, 2, &len), EAI_LINK_ERR_SPACE);
    CHECK_EQ(eai_cobs_decode(ok, sizeof ok, out, 4, &len), EAI_LINK_OK);
    CHECK_EQ(len, 4);
    CHECK_EQ(eai_cobs_decode(NULL, 1, out, sizeof out, &len), EAI_LINK_ERR_ARG);
    CHECK_EQ(eai_cobs_encode(ok, sizeof ok, NULL, 10, &len), EAI_LINK_ERR_ARG);
    CHECK_EQ(eai_cobs_encode(ok, sizeof ok, out, 0, &len), EAI_LINK_ERR_SPACE);
    CHECK_EQ(eai_cobs_decode(ok, 0, out, 0, &len), EAI_LINK_OK); /* empty input: empty output */
    CHECK_EQ(len, 0);
}

/* ---- frames ------------------------------------------------------------------------------ */

static uint8_t g_wire[EAI_FRAME_WIRE_MAX(EAI_FRAME_MAX_PAYLOAD) + 16];

static void test_frame_vectors(void)
{
    /* encode_frame(Frame(1, 0, 1, b"\x01\x00")) and Frame(0x81, 0, 0x1234, b"") from
     * edgeai/link.py */
    static const char *const want[] = {"02010201020202010598f5c6d100", "02810334120105367ec50400"};
    static const uint8_t payload[] = {0x01, 0x00};
    uint8_t w[32];
    size_t len;
    eai_frame f;
    int n = hex_bytes(want[0], w);
    CHECK_EQ(eai_frame_encode(1, 0, 1, payload, 2, g_wire, sizeof g_wire, &len), EAI_LINK_OK);
    CHECK_EQ(len, n);
    CHECK(memcmp(g_wire, w, (size_t)n) == 0);
    CHECK_EQ(eai_frame_decode(g_wire, len - 1, &f), EAI_LINK_OK);
    CHECK_EQ(f.kind, 1);
    CHECK_EQ(f.status, 0);
    CHECK_EQ(f.seq, 1);
    CHECK_EQ(f.length, 2);
    CHECK(f.payload[0] == 1 && f.payload[1] == 0);
    n = hex_bytes(want[1], w);
    CHECK_EQ(eai_frame_encode(0x81, 0, 0x1234, NULL, 0, g_wire, sizeof g_wire, &len), EAI_LINK_OK);
    CHECK_EQ(len, n);
    CHECK(memcmp(g_wire, w, (size_t)n) == 0);
    CHECK_EQ(eai_frame_decode(w, (size_t)n - 1, &f), EAI_LINK_OK);
    CHECK_EQ(f.kind, 0x81);
    CHECK_EQ(f.seq, 0x1234);
    CHECK_EQ(f.length, 0);
}

static void test_frame_round_trip(void)
{
    static const size_t sizes[] = {0, 1, 244, 245, 250, 1000, 4095, EAI_FRAME_MAX_PAYLOAD};
    size_t i, j, len;
    eai_frame f;
    CHECK(EAI_FRAME_WIRE_MAX(EAI_FRAME_MAX_PAYLOAD) - 1u <= EAI_FRAME_MAX_WIRE);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const size_t n = sizes[i];
        int pattern;
        for (pattern = 0; pattern < 3; pattern++) {
            for (j = 0; j < n; j++)
                g_src[j] = pattern == 0 ? 0 : pattern == 1 ? 0xAB : (uint8_t)rnd();
            CHECK_EQ(eai_frame_encode(0x86, 3, (uint16_t)(i + 7), g_src, n, g_wire, sizeof g_wire,
                                      &len), EAI_LINK_OK);
            CHECK(len <= EAI_FRAME_WIRE_MAX(n));
            CHECK_EQ(g_wire[len - 1], 0);
            CHECK(memchr(g_wire, 0, len - 1) == NULL);
            CHECK_EQ(eai_frame_decode(g_wire, len - 1, &f), EAI_LINK_OK);
            CHECK_EQ(f.kind, 0x86);
            CHECK_EQ(f.status, 3);
            CHECK_EQ(f.seq, i + 7);
            CHECK_EQ(f.length, n);
            CHECK(n == 0 || memcmp(f.payload, g_src, n) == 0);
        }
    }
    CHECK_EQ(eai_frame_encode(1, 0, 1, g_src, EAI_FRAME_MAX_PAYLOAD + 1, g_wire, sizeof g_wire, &len),
             EAI_LINK_ERR_LENGTH);
    CHECK_EQ(eai_frame_encode(1, 0, 1, g_src, 10, g_wire, 12, &len), EAI_LINK_ERR_SPACE);
    CHECK_EQ(eai_frame_encode(1, 0, 1, g_src, 10, g_wire, 0, &len), EAI_LINK_ERR_SPACE);
}

/* Encode a frame whose body is given raw (header fields chosen by the test). */
static size_t raw_wire(const uint8_t *body, size_t n, int fix_crc, uint8_t *out, size_t cap)
{
    uint8_t buf[BIG];
    size_t len = 0;
    memcpy(buf, body, n);
    if (fix_crc && n >= 4) {
        const uint32_t crc = eai_crc32(0, buf, n - 4);
        buf[n - 4] = (uint8_t)crc;
        buf[n - 3] = (uint8_t)(crc >> 8);
        buf[n - 2] = (uint8_t)(crc >> 16);
        buf[n - 1] = (uint8_t)(crc >> 24);
    }
    if (eai_cobs_encode(buf, n, out, cap, &len) != EAI_LINK_OK)
        return 0;
    return len;
}

static void test_frame_rejects(void)
{
    uint8_t body[32], w[64];
    size_t len, i;
    eai_frame f;
    /* kind 1, status 0, seq 5, length 2, payload 2 bytes, crc */
    static const uint8_t good[] = {1, 0, 5, 0, 2, 0, 0xAA, 0xBB, 0, 0, 0, 0};
    memcpy(body, good, sizeof good);
    len = raw_wire(body, sizeof good, 1, w, sizeof w);
    CHECK_EQ(eai_frame_decode(w, len, &f), EAI_LINK_OK);
    /* every single-byte corruption of the encoded frame is refused */
    for (i = 0; i < len; i++) {
        uint8_t c[64];
        memcpy(c, body, sizeof good);
        len = raw_wire(c, sizeof good, 1, w, sizeof w);
        w[i] ^= 0x40;
        if (w[i] == 0)
            w[i] = 0x41;
        CHECK(eai_frame_decode(w, len, &f) != EAI_LINK_OK);
    }
    body[4] = 3; /* length field too large */
    len = raw_wire(body, sizeof good, 1, w, sizeof w);
    CHECK_EQ(eai_frame_decode(w, len, &f), EAI_LINK_ERR_LENGTH);
    body[4] = 1; /* too small */
    len = raw_wire(body, sizeof good, 1, w, sizeof w);
    CHECK_EQ(eai_frame_decode(w, len, &f), EAI_LINK_ERR_LENGTH);
    len = raw_wire(body, 9, 1, w, sizeof w); /* shorter than a header and a CRC */
    CHECK_EQ(eai_frame_decode(w, len, &f), EAI_LINK_ERR_LENGTH);
    body[4] = 2;
    len = raw_wire(body, sizeof good, 0, w, sizeof w); /* the CRC left as zeros */
    CHECK_EQ(eai_frame_decode(w, len, &f), EAI_LINK_ERR_CRC);
    /* a body longer than the largest frame */
    memset(g_src, 1, EAI_FRAME_MAX_BYTES + 1);
    g_src[4] = (uint8_t)((EAI_FRAME_MAX_PAYLOAD + 1) & 0xFF);
    g_src[5] = (uint8_t)((EAI_FRAME_MAX_PAYLOAD + 1) >> 8);
    len = raw_wire(g_src, EAI_FRAME_MAX_BYTES + 1, 1, g_enc, sizeof g_enc);
    CHECK(len > 0);
    CHECK(eai_frame_decode(g_enc, len, &f) != EAI_LINK_OK);
}

/* ---- the receiver ------------------------------------------------------------------------ */

static eai_frame_rx g_rx;

/* Feed `n` bytes in pieces of `step` (0: all at once); count the frames, keep the seqs. */
static int feed_all(const uint8_t *data, size_t n, size_t step, uint16_t *seqs, int max)
{
    int count = 0;
    size_t pos = 0;
    while (pos < n) {
        size_t piece = step ? step : n - pos, i = 0;
        if (piece > n - pos)
            piece = n - pos;
        while (i < piece) {
            eai_frame f;
            int got;
            i += eai_frame_rx_feed(&g_rx, data + pos + i, piece - i, &f, &got);
            if (got) {
                if (count < max)
                    seqs[count] = f.seq;
                count++;
            }
        }
        pos += piece;
    }
    return count;
}

static uint8_t g_stream[4 * EAI_FRAME_MAX_WIRE + 20000];

static size_t put_frame(size_t at, uint16_t seq, size_t payload)
{
    size_t len, j;
    for (j = 0; j < payload; j++)
        g_src[j] = (uint8_t)(seq + j);
    if (eai_frame_encode(0x05, 0, seq, g_src, payload, g_stream + at, sizeof g_stream - at, &len) !=
        EAI_LINK_OK)
        return at;
    return at + len;
}

static void test_receiver(void)
{
    static const size_t steps[] = {0, 1, 3, 255, 4096};
    uint16_t seqs[16];
    size_t s;
    for (s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        size_t at = 0, mark, j;
        int n;
        eai_frame_rx_init(&g_rx);
        g_stream[at++] = 0; /* leading delimiters are ignored */
        g_stream[at++] = 0;
        at = put_frame(at, 1, 10); /* 1: fine */
        for (j = 0; j < 100; j++) /* garbage without zeros, then a delimiter */
            g_stream[at++] = (uint8_t)(rnd() | 1u);
        g_stream[at++] = 0;
        at = put_frame(at, 2, 4096); /* 2: the largest */
        mark = at;
        at = put_frame(at, 99, 300); /* truncated: its end is cut off */
        at = mark + 100;
        g_stream[at++] = 0;
        at = put_frame(at, 3, 0); /* 3: empty payload */
        mark = at;
        at = put_frame(at, 98, 50); /* corrupted: a byte changed */
        g_stream[mark + 20] = (uint8_t)(g_stream[mark + 20] == 0x55 ? 0x56 : 0x55);
        for (j = 0; j < EAI_FRAME_MAX_WIRE + 500; j++) /* oversize: dropped to the next 0 */
            g_stream[at++] = 0x42;
        g_stream[at++] = 0;
        at = put_frame(at, 4, 7); /* 4 */
        at = put_frame(at, 5, 1); /* 5: right behind the previous one */
        n = feed_all(g_stream, at, steps[s], seqs, 16);
        CHECK_EQ(n, 5);
        CHECK(seqs[0] == 1 && seqs[1] == 2 && seqs[2] == 3 && seqs[3] == 4 && seqs[4] == 5);
        CHECK_EQ(g_rx.frames, 5);
        CHECK_EQ(g_rx.dropped, 4); /* garbage, truncated, corrupted, oversize */
        CHECK_EQ(g_rx.len, 0);
        CHECK_EQ(g_rx.overflow, 0);
    }
    /* exactly MAX_WIRE bytes are held; one more byte starts dropping */
    eai_frame_rx_init(&g_rx);
    memset(g_stream, 0x11, EAI_FRAME_MAX_WIRE);
    CHECK_EQ(feed_all(g_stream, EAI_FRAME_MAX_WIRE, 0, seqs, 16), 0);
    CHECK_EQ(g_rx.len, EAI_FRAME_MAX_WIRE);
    CHECK_EQ(g_rx.overflow, 0);
    CHECK_EQ(feed_all(g_stream, 1, 0, seqs, 16), 0);
    CHECK_EQ(g_rx.overflow, 1);
    g_stream[0] = 0;
    CHECK_EQ(feed_all(g_stream, 1, 0, seqs, 16), 0);
    CHECK_EQ(g_rx.overflow, 0);
    CHECK_EQ(g_rx.dropped, 1);
    /* a frame without its delimiter is not yielded until the delimiter comes */
    eai_frame_rx_init(&g_rx);
    {
        const size_t end = put_frame(0, 77, 33);
        CHECK_EQ(feed_all(g_stream, end - 1, 1, seqs, 16), 0);
        CHECK_EQ(feed_all(g_stream + end - 1, 1, 1, seqs, 16), 1);
        CHECK_EQ(seqs[0], 77);
    }
}

/* Random bytes, with valid frames spliced in: never crash; a valid frame that follows a
 * delimiter and is not cut by the garbage is received. */
static void fuzz_receiver(long total)
{
    long done = 0;
    uint32_t want = 0, got_frames = 0;
    uint16_t seqs[1];
    eai_frame_rx_init(&g_rx);
    while (done < total) {
        size_t at = 0, n = rnd() % 600, j;
        const uint32_t mode = rnd() % 4;
        for (j = 0; j < n; j++) {
            const uint32_t r = rnd();
            g_stream[at++] = (uint8_t)(mode == 0 ? r : (r % 16 == 0 ? 0 : r));
        }
        if (rnd() % 2) {
            g_stream[at++] = 0;
            at = put_frame(at, (uint16_t)(rnd() | 1u), rnd() % 200);
            want++;
        }
        got_frames += (uint32_t)feed_all(g_stream, at, 1 + rnd() % 64, seqs, 1);
        done += (long)at;
    }
    CHECK(got_frames >= want); /* garbage may, by chance, hold a valid frame: never fewer */
    CHECK(g_rx.len <= EAI_FRAME_MAX_WIRE);
}

int main(int argc, char **argv)
{
    long fuzz_bytes = 2000000;
    if (argc == 3 && strcmp(argv[1], "--fuzz-bytes") == 0)
        fuzz_bytes = strtol(argv[2], NULL, 10);
    test_cobs_vectors();
    test_cobs_runs();
    test_cobs_invalid();
    test_frame_vectors();
    test_frame_round_trip();
    test_frame_rejects();
    test_receiver();
    fuzz_receiver(fuzz_bytes);
    printf("test_link: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
