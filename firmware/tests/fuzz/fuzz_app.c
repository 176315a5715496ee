/* libFuzzer target: the protocol server (app/) with the link and the runtime, over the
 * in-memory board of the app's tests (tests/fake_port.c: a 64 KiB NOR flash that can lose
 * power, a UART that is a pair of buffers).
 *
 * Each input starts from blank flash and a fresh boot. It is read as a script of actions, so
 * the fuzzer explores the request handlers rather than COBS and the CRC (which fuzz_frame
 * covers); integers are little-endian, and reading past the end ends the script:
 *
 *   u8 a    action a % 8, flags a >> 3:
 *   0 REQ     u8 kind, u16 length, payload: a request the harness frames (flag 1: reuse
 *             the last seq, flag 2: a u8 status follows the kind)
 *   1 UPLOAD  u16 length, blob, u16 chunk: UPLOAD_BEGIN (size, CRC of the blob), the
 *             chunks, UPLOAD_COMMIT (flag 1: keep the blob's own CRC field as it is, else
 *             it is sealed; flag 2: a u32 CRC for BEGIN follows the chunk size; flag 4: no
 *             COMMIT; flag 8: the chunks last to first)
 *   2 RAW     u16 length, bytes: straight onto the line, then a 0x00
 *   3 REPEAT  the last request's frame again (a retry)
 *   4 REBOOT  reboot the board
 *   5 POWER   u8 n, then one more action with the power failing at its (n % 16 + 1)-th
 *             flash operation (flag 1: that operation tears), then a reboot
 *   6 PIECE   bytes go onto the line in pieces of 1 + (a >> 3) x 4 (default 64)
 *   7 CHECK   HELLO, and the check of the active model below
 *
 * Checks (each failure aborts):
 *  - everything the board sends is valid frames: logs, or responses to requests;
 *  - each request the harness frames gets exactly one response, with its kind and seq, a
 *    known status, and no payload with an error but BAD_VERSION, LOAD_FAILED, RUN_FAILED;
 *    the payload sizes of docs/protocol.md for the others; never FLASH unless the power
 *    fails, never RUN_FAILED;
 *  - a retry of the request just answered gets the same response again;
 *  - the active model (HELLO) is always one that validated: its slot's bytes have its CRC,
 *    eai_load accepts them and its arena fits; after a successful UPLOAD_COMMIT, the model it
 *    names is the uploaded one and validates;
 *  - a reboot or RESET keeps the active model; a power failure leaves the previous model
 *    active or the one being uploaded.
 * INVOKE and TIME_LAYERS (harness-framed, repeated or in RAW bytes) are skipped once the
 * active model's work (fuzz_model_work) would take an input past MAX_INPUT_WORK, so that
 * every input runs in a few milliseconds. */
#include <string.h>

#include "app.h"
#include "fake_port.h"
#include "frame.h"
#include "fuzz_common.h"

#define MAX_INPUT_WORK (1u << 22) /* multiply-accumulates and similar, per input */
#ifdef EAI_KIND_ACCEPTED
#define FIRST_NOT_REQUEST EAI_KIND_ACCEPTED /* protocol 4: the board says it began the work */
#else
#define FIRST_NOT_REQUEST EAI_KIND_LOG
#endif
#define SLOT_SIZE ((FLASH_BYTES - 2u * EAI_APP_SLOT_TABLE_BYTES) / 2u / EAI_PORT_SECTOR_BYTES * \
                   EAI_PORT_SECTOR_BYTES)
#define N_STATUS (EAI_ST_RUN_FAILED + 1)

typedef struct {
    uint8_t slot;
    uint32_t size, crc, arena;
} active_model;

typedef struct {
    int accepted;      /* ACCEPTED frames in the step (protocol 4) */
    uint16_t accepted_seq;
    uint8_t accepted_kind;
    int count;         /* responses in the step */
    eai_frame f;       /* the last one; f.payload points to payload */
    uint8_t payload[EAI_FRAME_MAX_PAYLOAD];
} responses;

static const uint8_t *g_data; /* the script */
static size_t g_left;

static size_t g_piece;
static uint16_t g_seq;
static eai_frame_rx g_check;   /* decodes what the board sends */
static responses g_resp;

static uint8_t g_wire[EAI_FRAME_WIRE_MAX(EAI_FRAME_MAX_PAYLOAD)]; /* the last request */
static size_t g_wire_len;
static uint8_t g_wire_kind;
static int g_last_valid;       /* the board remembers g_wire's request and answer */
static responses g_last;       /* that answer */

static int g_trace;            /* EAI_FUZZ_TRACE set: print each request and its status */
static active_model g_cur;     /* the active model, as the board reported it */
static uint64_t g_work;        /* its work (fuzz_model_work) */
static uint64_t g_spent;       /* work of the runs of this input */
static int g_begin_known;      /* an upload the harness began is in progress: */
static uint32_t g_begin_size, g_begin_crc;
static int g_power_on;         /* no power failure is armed */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static int take8(uint8_t *v)
{
    if (g_left < 1)
        return 0;
    *v = g_data[0];
    g_data++;
    g_left--;
    return 1;
}

static int take16(uint32_t *v)
{
    if (g_left < 2)
        return 0;
    *v = (uint32_t)g_data[0] | ((uint32_t)g_data[1] << 8);
    g_data += 2;
    g_left -= 2;
    return 1;
}

static int take32(uint32_t *v)
{
    if (g_left < 4)
        return 0;
    *v = rd32(g_data);
    g_data += 4;
    g_left -= 4;
    return 1;
}

/* Up to n bytes of the script. */
static const uint8_t *take(size_t *n)
{
    const uint8_t *p = g_data;
    if (*n > g_left)
        *n = g_left;
    g_data += *n;
    g_left -= *n;
    return p;
}

/* ---- what the board sends ------------------------------------------------------------- */

static int known_status(uint8_t st) { return st < N_STATUS; }

/* A response (any request's, even one the harness did not frame): well-formed. */
static void check_response(const eai_frame *f)
{
    const uint8_t cmd = (uint8_t)(f->kind & 0x7Fu);
    REQUIRE((f->kind & EAI_KIND_RESPONSE) && cmd < FIRST_NOT_REQUEST);
    REQUIRE(known_status(f->status));
    REQUIRE(f->status != EAI_ST_RUN_FAILED); /* a model that loaded always runs */
    REQUIRE(f->status != EAI_ST_FLASH || !g_power_on);
    switch (f->status) {
    case EAI_ST_OK:
        break;
    case EAI_ST_BAD_VERSION:
        REQUIRE(cmd == EAI_CMD_HELLO && f->length >= 25);
        return;
    case EAI_ST_LOAD_FAILED:
        REQUIRE(cmd == EAI_CMD_UPLOAD_COMMIT && f->length == 8);
        REQUIRE((int32_t)rd32(f->payload) < 0 && (int32_t)rd32(f->payload) >= EAI_ERR_IO);
        REQUIRE((int32_t)rd32(f->payload + 4) >= -1);
        return;
    default:
        REQUIRE(f->length == 0); /* errors carry no payload */
        return;
    }
    switch (cmd) {
    case EAI_CMD_HELLO: REQUIRE(f->length >= 25); break;
    case EAI_CMD_UPLOAD_BEGIN:
    case EAI_CMD_UPLOAD_CHUNK:
    case EAI_CMD_WRITE_TENSOR:
    case EAI_CMD_RESET: REQUIRE(f->length == 0); break;
    case EAI_CMD_UPLOAD_COMMIT: REQUIRE(f->length == 5 && f->payload[4] <= 1); break;
    case EAI_CMD_INVOKE: REQUIRE(f->length == 16); break;
    case EAI_CMD_TIME_LAYERS:
        REQUIRE(f->length >= 2 && f->length == 2u + 16u * ((uint32_t)f->payload[0] | ((uint32_t)f->payload[1] << 8)));
        break;
    case EAI_CMD_WRITE_TEXT: REQUIRE(f->length == 2); break;
    default: break; /* READ_TENSOR: any length the request asked; commands added later */
    }
}

/* Decode what the board sent since the last call: only whole, valid frames. */
static void drain(void)
{
    size_t i = 0;
    while (i < g_out_len) {
        eai_frame f;
        int got;
        i += eai_frame_rx_feed(&g_check, g_out + i, g_out_len - i, &f, &got);
        if (!got)
            continue;
        if (f.kind == EAI_KIND_LOG) {
            REQUIRE(f.seq == 0 && f.length <= EAI_APP_LOG_MAX && f.status <= 2);
            continue;
        }
#ifdef EAI_KIND_ACCEPTED
        if (f.kind == EAI_KIND_ACCEPTED) {
            REQUIRE(f.status == 0 && f.length == 1 && f.payload[0] < FIRST_NOT_REQUEST);
            g_resp.accepted++;
            g_resp.accepted_seq = f.seq;
            g_resp.accepted_kind = f.payload[0];
            continue;
        }
#endif
        check_response(&f);
        g_resp.count++;
        g_resp.f = f;
        memcpy(g_resp.payload, f.payload, f.length);
        g_resp.f.payload = g_resp.payload;
    }
    REQUIRE(g_check.dropped == 0 && g_check.len == 0);
    g_out_len = 0;
}

/* Put bytes on the line in pieces of g_piece and let the board handle them. */
static void send(const uint8_t *p, size_t n)
{
    while (n > 0) {
        const size_t k = n < g_piece ? n : g_piece;
        REQUIRE(g_in_len == 0);
        memcpy(g_in, p, k);
        g_in_len = k;
        while (g_in_len > 0) {
            (void)eai_app_poll(0);
            drain();
        }
        p += k;
        n -= k;
    }
}

static void reboot(void)
{
    g_in_len = 0;
    g_out_len = 0;
    eai_frame_rx_init(&g_check);
    (void)eai_app_init();
    drain();
    g_last_valid = 0;
    g_begin_known = 0;
}

/* Frame a request and send it after a 0x00 (which ends anything left on the line). Returns
 * its response's status, or -1 when none came (a kind the board does not answer). */
static int request(uint8_t kind, uint8_t status, int reuse_seq, const uint8_t *payload,
                   size_t n)
{
    static const uint8_t zero = 0;
    if (!reuse_seq || g_seq == 0)
        g_seq = (uint16_t)(g_seq == 0xFFFFu ? 1u : g_seq + 1u);
    REQUIRE(eai_frame_encode(kind, status, g_seq, payload, n, g_wire, sizeof g_wire,
                             &g_wire_len) == EAI_LINK_OK);
    g_wire_kind = kind;
    send(&zero, 1);
    g_resp.count = 0;
    g_resp.accepted = 0;
    send(g_wire, g_wire_len);
    if (kind >= FIRST_NOT_REQUEST) {
        REQUIRE(g_resp.count == 0 && g_resp.accepted == 0);
        return -1;
    }
    REQUIRE(g_resp.count == 1);
    if (g_trace)
        fprintf(stderr, "request kind 0x%02x seq %u, %u bytes: status %u, %u bytes\n", kind,
                (unsigned)g_seq, (unsigned)n, g_resp.f.status, g_resp.f.length);
    REQUIRE(g_resp.f.kind == (kind | EAI_KIND_RESPONSE) && g_resp.f.seq == g_seq);
    REQUIRE(g_resp.accepted <= 1); /* at most one ACCEPTED, for this request */
    REQUIRE(!g_resp.accepted || (g_resp.accepted_seq == g_seq && g_resp.accepted_kind == kind));
    g_last = g_resp;
    g_last.f.payload = g_last.payload;
    g_last_valid = 1;
    return g_resp.f.status;
}

/* ---- the active model ------------------------------------------------------------------ */

/* The model in `slot` (size bytes, crc) validates: its bytes have the CRC, eai_load accepts
 * them (from an exact-size copy) and its arena fits. Returns its arena bytes; sets g_work. */
static uint32_t validate(uint8_t slot, uint32_t size, uint32_t crc, uint32_t arena_cap)
{
    const uint8_t *blob = g_flash + 2u * EAI_APP_SLOT_TABLE_BYTES + (uint32_t)slot * SLOT_SIZE;
    uint8_t *copy;
    eai_model m;
    uint32_t arena;
    REQUIRE(slot <= 1 && size >= 1 && size <= SLOT_SIZE);
    REQUIRE(eai_crc32(0, blob, size) == crc);
    copy = (uint8_t *)malloc(size);
    REQUIRE(copy != NULL);
    memcpy(copy, blob, size);
    REQUIRE(eai_load(&m, copy, size) == EAI_OK);
    REQUIRE(m.arena_bytes <= arena_cap);
    arena = m.arena_bytes;
    g_work = fuzz_model_work(&m);
    free(copy);
    return arena;
}

/* HELLO: the active model, checked. */
static active_model check_active(void)
{
    const uint8_t v[2] = {EAI_APP_PROTOCOL_VERSION, 0};
    const uint8_t *p;
    active_model a;
    REQUIRE(request(EAI_CMD_HELLO, 0, 0, v, 2) == EAI_ST_OK);
    p = g_resp.payload;
    REQUIRE(rd32(p + 4) == SLOT_SIZE && rd32(p + 8) == EAI_APP_ARENA_BYTES);
    a.slot = p[12];
    a.size = rd32(p + 13);
    a.crc = rd32(p + 17);
    a.arena = rd32(p + 21);
    g_work = 0;
    if (a.slot == EAI_APP_NO_SLOT)
        REQUIRE(a.size == 0 && a.crc == 0 && a.arena == 0);
    else
        REQUIRE(validate(a.slot, a.size, a.crc, rd32(p + 8)) == a.arena);
    g_cur = a;
    return a;
}

static int same_model(const active_model *a, const active_model *b)
{
    return a->slot == b->slot && a->size == b->size && a->crc == b->crc && a->arena == b->arena;
}

/* The side effects the harness tracks, after a fresh (not replayed) response. */
static void after(uint8_t kind, const uint8_t *payload, size_t n, int status)
{
    if (kind == EAI_CMD_HELLO && (status == EAI_ST_OK || status == EAI_ST_BAD_VERSION)) {
        const uint8_t *p = g_resp.payload; /* the model the harness knows of */
        REQUIRE(p[12] == g_cur.slot && rd32(p + 13) == g_cur.size && rd32(p + 17) == g_cur.crc &&
                rd32(p + 21) == g_cur.arena);
    }
    if (kind == EAI_CMD_UPLOAD_BEGIN && status == EAI_ST_OK) {
        REQUIRE(n == 8);
        g_begin_known = 1;
        g_begin_size = rd32(payload);
        g_begin_crc = rd32(payload + 4);
    } else if (kind == EAI_CMD_UPLOAD_BEGIN && status == EAI_ST_FLASH) {
        g_begin_known = 0;
    } else if (kind == EAI_CMD_UPLOAD_COMMIT && status == EAI_ST_OK) {
        const uint32_t crc = rd32(g_resp.payload);
        const uint8_t slot = g_resp.payload[4];
        if (g_begin_known) {
            REQUIRE(crc == g_begin_crc);
            g_cur.slot = slot;
            g_cur.size = g_begin_size;
            g_cur.crc = crc;
            g_cur.arena = validate(slot, g_begin_size, crc, EAI_APP_ARENA_BYTES);
            g_begin_known = 0;
        } else {
            (void)check_active(); /* begun by RAW bytes: ask */
        }
    } else if (kind == EAI_CMD_RESET && status == EAI_ST_OK) {
        const active_model before = g_cur;
        active_model now;
        g_last_valid = 0;
        g_begin_known = 0;
        now = check_active();
        REQUIRE(same_model(&before, &now));
    }
}

static int runs_model(uint8_t kind)
{
    return kind == EAI_CMD_INVOKE || kind == EAI_CMD_TIME_LAYERS;
}

/* Whether `runs` runs of the active model fit the input's budget (and if so, spend it). */
static int may_run(uint32_t runs)
{
    if (g_spent + (uint64_t)runs * g_work > MAX_INPUT_WORK)
        return 0;
    g_spent += (uint64_t)runs * g_work;
    return 1;
}

/* ---- actions ------------------------------------------------------------------------------ */

static void act_request(uint8_t flags)
{
    uint8_t kind, status = 0;
    uint32_t len;
    const uint8_t *payload;
    size_t n;
    int st;
    if (!take8(&kind))
        return;
    if ((flags & 2) && !take8(&status))
        return;
    if (!take16(&len))
        return;
    n = len % (EAI_FRAME_MAX_PAYLOAD + 1u);
    payload = take(&n);
    if (runs_model(kind) && !may_run(1))
        return;
    st = request(kind, status, flags & 1, payload, n);
    after(kind, payload, n, st);
}

static void act_upload(uint8_t flags)
{
    static uint8_t p[EAI_FRAME_MAX_PAYLOAD];
    uint32_t len, chunk, crc, off, blob_bytes;
    const uint8_t *src;
    uint8_t *blob;
    size_t n;
    int st;
    if (!take16(&len))
        return;
    n = len;
    src = take(&n);
    if (!take16(&chunk))
        return;
    chunk = 1u + chunk % (EAI_FRAME_MAX_PAYLOAD - 4u);
    blob = (uint8_t *)malloc(n ? n : 1);
    REQUIRE(blob != NULL);
    memcpy(blob, src, n);
    if (!(flags & 1) && eai_blob_size(blob, n, &blob_bytes) == EAI_OK && blob_bytes <= n)
        wr32(blob + 16, eai_crc32(0, blob + 20, blob_bytes - 20u));
    crc = eai_crc32(0, blob, n);
    if ((flags & 2) && !take32(&crc)) {
        free(blob);
        return;
    }
    wr32(p, (uint32_t)n);
    wr32(p + 4, crc);
    st = request(EAI_CMD_UPLOAD_BEGIN, 0, 0, p, 8);
    after(EAI_CMD_UPLOAD_BEGIN, p, 8, st);
    if (st == EAI_ST_OK) {
        const uint32_t count = ((uint32_t)n + chunk - 1u) / chunk;
        uint32_t i;
        for (i = 0; i < count; i++) {
            const uint32_t k = (flags & 8) ? count - 1u - i : i;
            uint32_t m;
            off = k * chunk;
            m = (uint32_t)n - off < chunk ? (uint32_t)n - off : chunk;
            wr32(p, off);
            memcpy(p + 4, blob + off, m);
            st = request(EAI_CMD_UPLOAD_CHUNK, 0, 0, p, 4u + m);
            REQUIRE(st == EAI_ST_OK || st == EAI_ST_FLASH);
        }
        if (!(flags & 4)) {
            st = request(EAI_CMD_UPLOAD_COMMIT, 0, 0, NULL, 0);
            after(EAI_CMD_UPLOAD_COMMIT, NULL, 0, st);
        }
    }
    free(blob);
}

static void act_raw(void)
{
    static const uint8_t zero = 0;
    uint32_t len;
    const uint8_t *bytes;
    size_t n;
    if (!take16(&len))
        return;
    n = len;
    bytes = take(&n);
    {
        /* the INVOKEs and TIME_LAYERS hidden in the bytes count too */
        static eai_frame_rx rx;
        size_t i = 0;
        uint32_t runs = 0;
        eai_frame_rx_init(&rx);
        while (i < n) {
            eai_frame f;
            int got;
            i += eai_frame_rx_feed(&rx, bytes + i, n - i, &f, &got);
            runs += got && runs_model(f.kind);
        }
        if (!may_run(runs))
            return;
    }
    g_resp.count = 0;
    g_resp.accepted = 0;
    send(bytes, n);
    send(&zero, 1);
    if (g_resp.count > 0) {
        /* requests in the bytes: the board's state is theirs now */
        g_last_valid = 0;
        g_begin_known = 0;
        (void)check_active();
    }
}

static void act_repeat(void)
{
    static const uint8_t zero = 0;
    static uint8_t payload[EAI_FRAME_MAX_PAYLOAD];
    eai_frame f;
    int replay = g_last_valid;
    if (g_wire_len == 0)
        return;
    if (runs_model(g_wire_kind) && !may_run(1))
        return;
    {
        uint8_t copy[sizeof g_wire];
        memcpy(copy, g_wire, g_wire_len);
        REQUIRE(eai_frame_decode(copy, g_wire_len - 1u, &f) == EAI_LINK_OK);
        memcpy(payload, f.payload, f.length);
        f.payload = payload;
    }
    send(&zero, 1);
    g_resp.count = 0;
    g_resp.accepted = 0;
    send(g_wire, g_wire_len);
    if (g_wire_kind >= FIRST_NOT_REQUEST) {
        REQUIRE(g_resp.count == 0 && g_resp.accepted == 0);
        return;
    }
    REQUIRE(g_resp.count == 1);
    if (replay) {
        /* the same answer, not done again */
        REQUIRE(g_resp.f.kind == g_last.f.kind && g_resp.f.status == g_last.f.status &&
                g_resp.f.seq == g_last.f.seq && g_resp.f.length == g_last.f.length &&
                memcmp(g_resp.payload, g_last.payload, g_last.f.length) == 0);
        return;
    }
    g_last = g_resp;
    g_last.f.payload = g_last.payload;
    g_last_valid = 1;
    after(f.kind, f.payload, f.length, g_resp.f.status);
}

static void act_reboot(void)
{
    const active_model before = check_active();
    active_model now;
    reboot();
    now = check_active();
    REQUIRE(same_model(&before, &now));
}

static void act(uint8_t a, int nested);

static void act_power(uint8_t flags)
{
    uint8_t n, a;
    active_model before, committed, now;
    int cand;
    if (!take8(&n) || !take8(&a))
        return;
    before = check_active();
    g_power = n % 16 + 1;
    g_torn = flags & 1;
    g_power_on = 0;
    act(a, 1);
    committed = g_cur; /* an UPLOAD_COMMIT answered OK changed it */
    cand = g_begin_known;
    g_power = UNLIMITED;
    g_torn = 0;
    g_power_on = 1;
    reboot();
    now = check_active();
    if (!same_model(&committed, &before) && a % 8u != 2u)
        REQUIRE(same_model(&now, &committed)); /* a commit answered OK survives */
    else
        REQUIRE(same_model(&now, &before) || same_model(&now, &committed) ||
                (cand && now.size == g_begin_size && now.crc == g_begin_crc));
}

static void act(uint8_t a, int nested)
{
    const uint8_t flags = (uint8_t)(a >> 3);
    switch (a % 8u) {
    case 0: act_request(flags); break;
    case 1: act_upload(flags); break;
    case 2: act_raw(); break;
    case 3: act_repeat(); break;
    case 4:
        if (!nested)
            act_reboot();
        break;
    case 5:
        if (!nested)
            act_power(flags);
        break;
    case 6: g_piece = 1u + (size_t)flags * 4u; break;
    default: (void)check_active(); break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t a;
    g_trace = getenv("EAI_FUZZ_TRACE") != NULL;
    g_data = data;
    g_left = size;
    memset(g_flash, 0xFF, sizeof g_flash);
    g_power = UNLIMITED;
    g_torn = 0;
    g_power_on = 1;
    g_piece = 64;
    g_seq = 0;
    g_wire_len = 0;
    g_work = 0;
    g_spent = 0;
    memset(&g_cur, 0, sizeof g_cur);
    g_cur.slot = EAI_APP_NO_SLOT;
    reboot();
    while (take8(&a))
        act(a, 0);
    (void)check_active();
    return 0;
}
