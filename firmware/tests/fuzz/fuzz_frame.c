/* libFuzzer target: the link's frame receiver, decoder and encoder (link/frame.c, cobs.c).
 *
 * The input builds a byte stream, so that valid frames (with their CRC) stay reachable to
 * mutation: byte 0 seeds how the stream is later split, then records follow:
 *   u8 t, t even:  t / 2 < 124: t / 2 raw bytes (noise, 0x00 delimiters, hand-made COBS);
 *                  else u16 n, u8 b: n % 8401 bytes b (runs around EAI_FRAME_MAX_WIRE)
 *   u8 t, t odd:   u8 kind, u8 status, u16 seq, u16 n, n payload bytes (n % 4097, cut at the
 *                  end of the input): the harness encodes that frame with its delimiter;
 *                  flags t >> 1: 1 leave the delimiter off, 2 flip bit (u8 b % 8) of byte
 *                  (u16 i % wire length) of the encoded frame, 4 insert a 0x00 at such i
 *
 * A reference model cuts the stream at each 0x00 and decodes each piece with
 * eai_frame_decode (a piece longer than EAI_FRAME_MAX_WIRE is dropped, an empty one
 * ignored). The incremental receiver, fed the same stream in pieces of arbitrary sizes (each
 * in a heap buffer of exactly its size), must yield the same frames in the same order, count
 * the same frames and drops, and end holding the same partial frame. Each frame must be
 * well-formed (length within MAX_PAYLOAD, payload inside the receiver's buffer, CRC of its
 * header and payload), must encode again within EAI_FRAME_WIRE_MAX and decode to itself, and
 * encoding it into any smaller buffer must fail without writing past it. The stream itself
 * must COBS-encode and decode back to itself. Every frame the harness encoded whole right
 * after a delimiter must be among those received. Any failed check aborts. */
#include <string.h>

#include "frame.h"
#include "fuzz_common.h"

typedef struct {
    uint8_t kind, status;
    uint16_t seq, length;
    uint32_t crc;
    size_t at; /* payload offset in the reference's payload store */
} ref_frame;

static uint64_t g_rng;

static uint32_t rnd(void)
{
    g_rng ^= g_rng >> 12; /* xorshift64* */
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 2685821657736338717ull) >> 32);
}

/* A piece size: mostly small, sometimes a whole frame's worth or more. */
static size_t piece_size(void)
{
    switch (rnd() % 4u) {
    case 0: return 1;
    case 1: return 1u + rnd() % 16u;
    case 2: return 1u + rnd() % 300u;
    default: return 1u + rnd() % (2u * EAI_FRAME_MAX_WIRE);
    }
}

/* The frame's own consistency: its CRC covers its header and payload. */
static void check_frame(const eai_frame *f)
{
    uint8_t head[EAI_FRAME_HEADER_BYTES];
    uint32_t crc;
    REQUIRE(f->length <= EAI_FRAME_MAX_PAYLOAD);
    head[0] = f->kind;
    head[1] = f->status;
    head[2] = (uint8_t)f->seq;
    head[3] = (uint8_t)(f->seq >> 8);
    head[4] = (uint8_t)f->length;
    head[5] = (uint8_t)(f->length >> 8);
    crc = eai_crc32(eai_crc32(0, head, sizeof head), f->payload, f->length);
    REQUIRE(crc == f->crc);
}

/* Encode the frame again: it fits EAI_FRAME_WIRE_MAX, holds no 0x00 but its delimiter and
 * decodes to itself; a buffer one byte (or more) too small is refused untouched past its end. */
static void check_roundtrip(const eai_frame *f, uint32_t shrink)
{
    const size_t cap = EAI_FRAME_WIRE_MAX(f->length);
    uint8_t *out = (uint8_t *)malloc(cap);
    size_t len = 0, i, small;
    eai_frame g;
    REQUIRE(out != NULL);
    REQUIRE(eai_frame_encode(f->kind, f->status, f->seq, f->payload, f->length, out, cap, &len) ==
            EAI_LINK_OK);
    REQUIRE(len >= 2 && len <= cap && out[len - 1] == 0);
    for (i = 0; i + 1 < len; i++)
        REQUIRE(out[i] != 0);
    REQUIRE(eai_frame_decode(out, len - 1, &g) == EAI_LINK_OK);
    REQUIRE(g.kind == f->kind && g.status == f->status && g.seq == f->seq &&
            g.length == f->length && g.crc == f->crc);
    REQUIRE(memcmp(g.payload, f->payload, f->length) == 0);
    free(out);

    small = (len - 1u) - shrink % len; /* 0 .. len - 1 */
    out = (uint8_t *)malloc(small ? small : 1);
    REQUIRE(out != NULL);
    REQUIRE(eai_frame_encode(f->kind, f->status, f->seq, f->payload, f->length, out,
                             small, &len) == EAI_LINK_ERR_SPACE);
    free(out);
}

/* COBS: the stream encodes within EAI_COBS_ENCODED_MAX, without 0x00, and decodes back; a
 * decode into one byte less than it needs is refused. */
static void check_cobs(const uint8_t *s, size_t n)
{
    const size_t cap = EAI_COBS_ENCODED_MAX(n);
    uint8_t *enc = (uint8_t *)malloc(cap), *dec = (uint8_t *)malloc(n ? n : 1);
    size_t len = 0, back = 0, i;
    REQUIRE(enc != NULL && dec != NULL);
    REQUIRE(eai_cobs_encode(s, n, enc, cap, &len) == EAI_LINK_OK);
    REQUIRE(len >= 1 && len <= cap);
    for (i = 0; i < len; i++)
        REQUIRE(enc[i] != 0);
    REQUIRE(eai_cobs_decode(enc, len, dec, n, &back) == EAI_LINK_OK);
    REQUIRE(back == n && memcmp(dec, s, n) == 0);
    if (n > 0)
        REQUIRE(eai_cobs_decode(enc, len, dec, n - 1u, &back) == EAI_LINK_ERR_SPACE);
    free(enc);
    free(dec);
}

/* Build the stream the input describes (see the top); *intact gets the number of frames
 * encoded whole, with their delimiter, and not touched after. */
#define RUN 124u /* raw records of t / 2 >= RUN are runs */

/* Room for `more` bytes after s[0..n). */
static uint8_t *reserve(uint8_t *s, size_t *cap, size_t n, size_t more)
{
    if (n + more > *cap) {
        *cap = 2u * (n + more);
        s = (uint8_t *)realloc(s, *cap);
        REQUIRE(s != NULL);
    }
    return s;
}

static uint8_t *build_stream(const uint8_t *d, size_t size, size_t *n, size_t *intact)
{
    static uint8_t wire[EAI_FRAME_WIRE_MAX(EAI_FRAME_MAX_PAYLOAD)];
    size_t cap = size + 64u;
    uint8_t *s = (uint8_t *)malloc(cap);
    size_t i = 0;
    REQUIRE(s != NULL);
    *n = 0;
    *intact = 0;
    while (i < size) {
        const uint8_t t = d[i++];
        if (!(t & 1u) && t / 2u < RUN) {
            size_t len = t / 2u;
            if (len > size - i)
                len = size - i;
            s = reserve(s, &cap, *n, len);
            memcpy(s + *n, d + i, len);
            *n += len;
            i += len;
        } else if (!(t & 1u)) {
            size_t len;
            if (size - i < 3)
                break;
            len = ((size_t)d[i] | ((size_t)d[i + 1] << 8)) % (2u * EAI_FRAME_MAX_WIRE + 1u);
            s = reserve(s, &cap, *n, len);
            memset(s + *n, d[i + 2], len);
            *n += len;
            i += 3;
        } else {
            const uint8_t flags = (uint8_t)(t >> 1);
            size_t len, wlen = 0;
            uint8_t kind, status;
            uint16_t seq;
            if (size - i < 6)
                break;
            kind = d[i];
            status = d[i + 1];
            seq = (uint16_t)(d[i + 2] | (d[i + 3] << 8));
            len = ((size_t)d[i + 4] | ((size_t)d[i + 5] << 8)) % (EAI_FRAME_MAX_PAYLOAD + 1u);
            i += 6;
            if (len > size - i)
                len = size - i;
            REQUIRE(eai_frame_encode(kind, status, seq, d + i, len, wire, sizeof wire, &wlen) ==
                    EAI_LINK_OK);
            REQUIRE(wlen <= EAI_FRAME_WIRE_MAX(len) && wire[wlen - 1u] == 0);
            i += len;
            if (flags & 1u)
                wlen--; /* no delimiter */
            if ((flags & 6u) && size - i >= 3) {
                const size_t at = ((size_t)d[i] | ((size_t)d[i + 1] << 8)) % wlen;
                if (flags & 2u)
                    wire[at] = (uint8_t)(wire[at] ^ (1u << (d[i + 2] % 8u)));
                else
                    wire[at] = 0;
                i += 3;
            } else if (!(flags & 1u) && (*n == 0 || s[*n - 1u] == 0)) {
                (*intact)++; /* after a delimiter, whole: it must be received */
            }
            s = reserve(s, &cap, *n, wlen);
            memcpy(s + *n, wire, wlen);
            *n += wlen;
        }
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *s;
    size_t n, i, start, n_ref = 0, store_len = 0, k = 0, tail, intact;
    uint32_t dropped = 0;
    ref_frame *ref;
    uint8_t *store;
    eai_frame_rx *rx;
    if (size < 1)
        return 0;
    g_rng = 0x9E3779B97F4A7C15ull ^ data[0];
    s = build_stream(data + 1, size - 1, &n, &intact);
    ref = (ref_frame *)malloc((n / 2u + 1u) * sizeof *ref);
    store = (uint8_t *)malloc(n + 1u);
    rx = (eai_frame_rx *)malloc(sizeof *rx);
    REQUIRE(ref != NULL && store != NULL && rx != NULL);

    /* the reference: cut at each 0x00 */
    for (start = 0, i = 0; i < n; i++) {
        size_t len = i - start;
        if (s[i] != 0)
            continue;
        if (len > EAI_FRAME_MAX_WIRE) {
            dropped++;
        } else if (len > 0) {
            uint8_t *piece = (uint8_t *)malloc(len);
            eai_frame f;
            REQUIRE(piece != NULL);
            memcpy(piece, s + start, len);
            if (eai_frame_decode(piece, len, &f) == EAI_LINK_OK) {
                REQUIRE(f.payload == piece + EAI_FRAME_HEADER_BYTES);
                REQUIRE(len >= EAI_FRAME_MIN_BYTES + f.length);
                check_frame(&f);
                check_roundtrip(&f, rnd());
                ref[n_ref].kind = f.kind;
                ref[n_ref].status = f.status;
                ref[n_ref].seq = f.seq;
                ref[n_ref].length = f.length;
                ref[n_ref].crc = f.crc;
                ref[n_ref].at = store_len;
                memcpy(store + store_len, f.payload, f.length);
                store_len += f.length;
                n_ref++;
            } else {
                dropped++;
            }
            free(piece);
        }
        start = i + 1;
    }
    tail = n - start;

    /* the receiver, fed in pieces */
    eai_frame_rx_init(rx);
    for (i = 0; i < n;) {
        size_t len = piece_size(), at = 0;
        uint8_t *piece;
        if (len > n - i)
            len = n - i;
        piece = (uint8_t *)malloc(len);
        REQUIRE(piece != NULL);
        memcpy(piece, s + i, len);
        while (at < len) {
            eai_frame f;
            int got = -1;
            const size_t used = eai_frame_rx_feed(rx, piece + at, len - at, &f, &got);
            REQUIRE(used <= len - at);
            REQUIRE(got == 0 || got == 1);
            if (!got) {
                REQUIRE(used == len - at);
            } else {
                REQUIRE(used >= 1 && piece[at + used - 1u] == 0);
                REQUIRE(f.payload >= rx->buf && f.length <= sizeof rx->buf &&
                        (size_t)(f.payload - rx->buf) <= sizeof rx->buf - f.length);
                check_frame(&f);
                REQUIRE(k < n_ref);
                REQUIRE(f.kind == ref[k].kind && f.status == ref[k].status &&
                        f.seq == ref[k].seq && f.length == ref[k].length && f.crc == ref[k].crc);
                REQUIRE(memcmp(f.payload, store + ref[k].at, f.length) == 0);
                k++;
            }
            at += used;
        }
        free(piece);
        i += len;
    }
    REQUIRE(k == n_ref && rx->frames == n_ref && rx->dropped == dropped);
    REQUIRE(n_ref >= intact); /* nothing before a frame's delimiter can spoil it */
    REQUIRE(rx->len <= EAI_FRAME_MAX_WIRE);
    if (tail > EAI_FRAME_MAX_WIRE)
        REQUIRE(rx->overflow == 1 && rx->len == 0);
    else
        REQUIRE(rx->overflow == 0 && rx->len == tail && memcmp(rx->buf, s + start, tail) == 0);

    check_cobs(s, n < 1024u ? n : 1024u); /* past several 254-byte blocks: enough */
    free(ref);
    free(store);
    free(rx);
    free(s);
    return 0;
}
