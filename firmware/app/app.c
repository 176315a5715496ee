/* The protocol server (see app.h and docs/protocol.md).
 *
 * Flash layout: sectors 0 and 1 hold the slot table (two sectors, A and B, written
 * alternately), then slot A, then slot B, each slot_size bytes: (flash_size - 8192) / 2
 * rounded down to a sector. Each table sector is an append-only log of 32-byte records;
 * the valid record with the highest generation names the active slot. A commit writes the
 * new record, in one flash write, as the very last step, and never erases the table sector
 * that holds the active model's record.
 */
#include "app.h"

#include <string.h>

#include "edgeai.h"
#include "edgeai_port.h"
#include "frame.h"
#include "text.h"

#define SECTOR EAI_PORT_SECTOR_BYTES
#define RECORDS (EAI_APP_SLOT_TABLE_BYTES / EAI_APP_RECORD_BYTES) /* per table sector */
#define TABLES EAI_APP_SLOT_TABLES
#define TABLE_BYTES (TABLES * EAI_APP_SLOT_TABLE_BYTES)
#define RECORD_MAGIC 0x544F4C53u /* "SLOT" little-endian */
#define MAX_TIMED_OPS ((EAI_FRAME_MAX_PAYLOAD - 2u) / 16u)

typedef struct {
    uint32_t generation;
    uint8_t slot;
    uint32_t size;
    uint32_t crc;
} slot_record;

/* The arena, 4-byte aligned without C11's _Alignas. */
static uint32_t g_arena_words[(EAI_APP_ARENA_BYTES + 3u) / 4u];
#define ARENA ((uint8_t *)g_arena_words)
#define ARENA_BYTES ((size_t)EAI_APP_ARENA_BYTES)

static struct {
    uint32_t flash_size;
    uint32_t slot_size;
    /* the active model */
    uint8_t active_slot; /* EAI_APP_NO_SLOT when none */
    uint32_t model_size;
    uint32_t model_crc;
    eai_model model;
    uint32_t max_generation; /* highest generation of any valid record */
    uint8_t table_sector;    /* the table sector a commit appends to (see write_record) */
    /* an upload in progress */
    uint8_t uploading;
    uint8_t upload_slot;
    uint32_t upload_size;
    uint32_t upload_crc;
    /* the last request answered, and its encoded response */
    uint8_t have_last;
    uint16_t last_seq;
    uint32_t last_crc;
    size_t tx_len;
} g;

static eai_frame_rx g_rx;
static uint8_t g_tx[EAI_FRAME_WIRE_MAX(EAI_FRAME_MAX_PAYLOAD)];
static uint8_t g_resp[EAI_FRAME_MAX_PAYLOAD];
static uint8_t g_log_tx[EAI_FRAME_WIRE_MAX(EAI_APP_LOG_MAX)];
static uint8_t g_ack_tx[EAI_FRAME_WIRE_MAX(1u)];
static uint8_t g_rx_chunk[512];

typedef char check_wire_fits[EAI_FRAME_WIRE_MAX(EAI_FRAME_MAX_PAYLOAD) <= EAI_FRAME_MAX_WIRE + 1u ? 1 : -1];

/* ---- little-endian helpers ------------------------------------------------------------ */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void wr16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, v & 0xFFFFu);
    wr16(p + 2, v >> 16);
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)(v & 0xFFFFFFFFu));
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* ---- text for logs, without printf ------------------------------------------------------ */

typedef struct {
    char buf[EAI_APP_LOG_MAX + 1];
    size_t len;
} text;

static void put_str(text *t, const char *s)
{
    while (*s && t->len < EAI_APP_LOG_MAX)
        t->buf[t->len++] = *s++;
    t->buf[t->len] = 0;
}

static void put_u32(text *t, uint32_t v)
{
    char d[11];
    size_t n = 0;
    do {
        d[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n && t->len < EAI_APP_LOG_MAX)
        t->buf[t->len++] = d[--n];
    t->buf[t->len] = 0;
}

static void put_hex32(text *t, uint32_t v)
{
    static const char hex[] = "0123456789abcdef";
    int shift;
    for (shift = 28; shift >= 0 && t->len < EAI_APP_LOG_MAX; shift -= 4)
        t->buf[t->len++] = hex[(v >> shift) & 0xFu];
    t->buf[t->len] = 0;
}

void eai_app_log(uint8_t level, const char *msg)
{
    size_t n = strlen(msg), len;
    if (n > EAI_APP_LOG_MAX)
        n = EAI_APP_LOG_MAX;
    if (eai_frame_encode(EAI_KIND_LOG, level, 0, (const uint8_t *)msg, n, g_log_tx,
                         sizeof g_log_tx, &len) == EAI_LINK_OK)
        (void)eai_port_uart_write(g_log_tx, len);
}

/* Tell the host that request `f` has been received and checked and that its work begins
 * (an ACCEPTED frame: docs/protocol.md). The host waits only a round trip for this, so a lost
 * request costs a short wait, not the whole work allowance; after it, the work has its time. */
static void accepted(const eai_frame *f)
{
    const uint8_t kind = f->kind;
    size_t len;
    if (eai_frame_encode(EAI_KIND_ACCEPTED, 0, f->seq, &kind, 1, g_ack_tx, sizeof g_ack_tx, &len) ==
        EAI_LINK_OK)
        (void)eai_port_uart_write(g_ack_tx, len);
}

/* ---- the slot table --------------------------------------------------------------------- */

static uint32_t slot_offset(uint8_t slot) { return TABLE_BYTES + (uint32_t)slot * g.slot_size; }

static int record_decode(const uint8_t *p, slot_record *r)
{
    if (rd32(p) != RECORD_MAGIC || rd32(p + 28) != eai_crc32(0, p, 28))
        return 0;
    r->generation = rd32(p + 4);
    r->slot = p[8];
    r->size = rd32(p + 12);
    r->crc = rd32(p + 16);
    return r->slot <= 1 && r->size > 0 && r->size <= g.slot_size;
}

static void record_encode(const slot_record *r, uint8_t *p)
{
    memset(p, 0, EAI_APP_RECORD_BYTES);
    wr32(p, RECORD_MAGIC);
    wr32(p + 4, r->generation);
    p[8] = r->slot;
    wr32(p + 12, r->size);
    wr32(p + 16, r->crc);
    wr32(p + 28, eai_crc32(0, p, 28));
}

static int is_blank(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != 0xFFu)
            return 0;
    return 1;
}

/* Check a slot's blob and load it; EAI_ST_OK or the status that refuses it (and for
 * EAI_ST_LOAD_FAILED, the loader's status in *load_err). */
static int check_slot(uint8_t slot, uint32_t size, uint32_t crc, eai_model *m, int *load_err)
{
    const uint8_t *blob = eai_port_flash_map(slot_offset(slot), size);
    if (!blob)
        return EAI_ST_FLASH;
    if (eai_crc32(0, blob, size) != crc)
        return EAI_ST_BAD_CRC;
    *load_err = eai_load(m, blob, size);
    if (*load_err != EAI_OK)
        return EAI_ST_LOAD_FAILED;
    if (m->arena_bytes > ARENA_BYTES)
        return EAI_ST_ARENA;
    return EAI_ST_OK;
}

/* Pick the valid record (of both table sectors) with the highest generation whose slot
 * checks out; fall back to older records if a slot does not (it should not happen: commits
 * check first). Sets g.table_sector to the sector of the record chosen or, with no model,
 * of the highest valid record (sector 0 when there is none). */
static void load_active(void)
{
    const uint8_t *tables[TABLES];
    uint64_t bound = (uint64_t)UINT32_MAX + 1u;
    uint32_t tries, i;
    g.active_slot = EAI_APP_NO_SLOT;
    g.model_size = 0;
    g.model_crc = 0;
    g.max_generation = 0;
    g.table_sector = 0;
    memset(&g.model, 0, sizeof g.model);
    if (g.slot_size == 0)
        return;
    /* Each table sector is mapped on its own: a port may keep them apart in flash. */
    for (i = 0; i < TABLES; i++)
        if ((tables[i] = eai_port_flash_map(i * EAI_APP_SLOT_TABLE_BYTES, EAI_APP_SLOT_TABLE_BYTES)) == NULL)
            return;
    for (tries = 0; tries < TABLES * RECORDS; tries++) {
        slot_record best, r;
        int found = 0, err;
        uint32_t best_pos = 0;
        memset(&best, 0, sizeof best);
        for (i = 0; i < TABLES * RECORDS; i++) {
            if (!record_decode(tables[i / RECORDS] + (i % RECORDS) * EAI_APP_RECORD_BYTES, &r))
                continue;
            if (r.generation > g.max_generation)
                g.max_generation = r.generation;
            if ((uint64_t)r.generation < bound && (!found || r.generation > best.generation)) {
                best = r;
                best_pos = i;
                found = 1;
            }
        }
        if (!found)
            return;
        if (tries == 0)
            g.table_sector = (uint8_t)(best_pos / RECORDS);
        if (check_slot(best.slot, best.size, best.crc, &g.model, &err) == EAI_ST_OK) {
            g.active_slot = best.slot;
            g.model_size = best.size;
            g.model_crc = best.crc;
            g.table_sector = (uint8_t)(best_pos / RECORDS);
            return;
        }
        {
            text t = {{0}, 0};
            put_str(&t, "slot ");
            put_str(&t, best.slot ? "B" : "A");
            put_str(&t, ": the model of generation ");
            put_u32(&t, best.generation);
            put_str(&t, " does not check out; ignored");
            eai_app_log(1, t.buf);
        }
        bound = best.generation;
    }
}

/* Append a record naming `slot`: the single write that switches models. Each table sector
 * is a log of RECORDS positions. The record goes to the first blank position of
 * g.table_sector (the sector of the active model's record, or else of the highest record);
 * when that sector is full, the other sector, which holds only older records, is erased and
 * the record goes to its position 0. So the sector holding the record in force is never
 * erased, and a power cut at any point leaves it (and its model) in force. */
static int write_record(uint8_t slot, uint32_t size, uint32_t crc)
{
    const uint8_t *table;
    uint8_t rec[EAI_APP_RECORD_BYTES];
    slot_record r;
    uint32_t sector = g.table_sector, base, pos = RECORDS, i;
    if (sector >= TABLES)
        sector = 0;
    base = sector * EAI_APP_SLOT_TABLE_BYTES;
    table = eai_port_flash_map(base, EAI_APP_SLOT_TABLE_BYTES);
    if (!table)
        return EAI_ST_FLASH;
    for (i = 0; i < RECORDS; i++) {
        if (is_blank(table + i * EAI_APP_RECORD_BYTES, EAI_APP_RECORD_BYTES)) {
            pos = i;
            break;
        }
    }
    if (pos == RECORDS) {
        sector = (sector + 1u) % TABLES;
        base = sector * EAI_APP_SLOT_TABLE_BYTES;
        if (eai_port_flash_erase(base, EAI_APP_SLOT_TABLE_BYTES) != EAI_PORT_OK)
            return EAI_ST_FLASH;
        pos = 0;
    }
    r.generation = g.max_generation + 1u;
    r.slot = slot;
    r.size = size;
    r.crc = crc;
    record_encode(&r, rec);
    if (eai_port_flash_write(base + pos * EAI_APP_RECORD_BYTES, rec, sizeof rec) != EAI_PORT_OK)
        return EAI_ST_FLASH;
    table = eai_port_flash_map(base, EAI_APP_SLOT_TABLE_BYTES);
    if (!table || memcmp(table + pos * EAI_APP_RECORD_BYTES, rec, sizeof rec) != 0)
        return EAI_ST_FLASH;
    g.max_generation = r.generation;
    g.table_sector = (uint8_t)sector;
    return EAI_ST_OK;
}

/* ---- init --------------------------------------------------------------------------------- */

int eai_app_init(void)
{
    text t = {{0}, 0};
    uint32_t fs = eai_port_flash_size();
    int ok = 1;
    memset(&g, 0, sizeof g);
    eai_frame_rx_init(&g_rx);
    g.flash_size = fs;
    g.slot_size = fs > TABLE_BYTES ? (fs - TABLE_BYTES) / 2u / SECTOR * SECTOR : 0u;
    if (g.slot_size == 0)
        ok = 0;
    load_active();
    put_str(&t, "edgeai ");
    put_str(&t, EAI_APP_VERSION);
    put_str(&t, " on ");
    put_str(&t, eai_port_board_name());
    if (g.active_slot == EAI_APP_NO_SLOT) {
        put_str(&t, ", no model");
    } else {
        put_str(&t, ", model ");
        put_hex32(&t, g.model_crc);
        put_str(&t, " (");
        put_u32(&t, g.model_size);
        put_str(&t, " bytes)");
    }
    if (!ok)
        put_str(&t, "; flash too small for two model slots");
    eai_app_log(2, t.buf);
    return ok ? 0 : -1;
}

/* ---- requests ---------------------------------------------------------------------------- */

/* A handler fills g_resp and returns a status; *n gets the payload length. */

static size_t put_lstr(uint8_t *p, const char *s)
{
    size_t n = strlen(s);
    if (n > 64)
        n = 64;
    wr16(p, (uint32_t)n);
    memcpy(p + 2, s, n);
    return 2 + n;
}

static int cmd_hello(const eai_frame *f, size_t *n)
{
    uint8_t *p = g_resp;
    if (f->length != 2)
        return EAI_ST_BAD_FRAME;
    wr16(p, EAI_APP_PROTOCOL_VERSION);
    wr16(p + 2, EAI_FRAME_MAX_PAYLOAD);
    wr32(p + 4, g.slot_size);
    wr32(p + 8, (uint32_t)ARENA_BYTES);
    p[12] = g.active_slot;
    wr32(p + 13, g.model_size);
    wr32(p + 17, g.model_crc);
    wr32(p + 21, g.active_slot == EAI_APP_NO_SLOT ? 0u : g.model.arena_bytes);
    wr32(p + 25, eai_port_uart_rx_bytes());
    wr32(p + 29, eai_port_flash_map_bytes());
    *n = 33;
    *n += put_lstr(p + *n, EAI_APP_VERSION);
    *n += put_lstr(p + *n, eai_port_board_name());
    return rd16(f->payload) == EAI_APP_PROTOCOL_VERSION ? EAI_ST_OK : EAI_ST_BAD_VERSION;
}

static int cmd_upload_begin(const eai_frame *f)
{
    uint32_t size, erase;
    uint8_t slot;
    if (f->length != 8)
        return EAI_ST_BAD_FRAME;
    size = rd32(f->payload);
    if (size == 0)
        return EAI_ST_BAD_RANGE;
    if (size > g.slot_size || size > eai_port_flash_map_bytes())
        return EAI_ST_TOO_BIG; /* HELLO's slot size and map limit say by how much */
    slot = g.active_slot == 0 ? 1 : 0;
    g.uploading = 0;
    accepted(f);
    erase = (size + SECTOR - 1u) / SECTOR * SECTOR;
    if (eai_port_flash_erase(slot_offset(slot), erase) != EAI_PORT_OK)
        return EAI_ST_FLASH;
    g.uploading = 1;
    g.upload_slot = slot;
    g.upload_size = size;
    g.upload_crc = rd32(f->payload + 4);
    return EAI_ST_OK;
}

static int cmd_upload_chunk(const eai_frame *f)
{
    uint32_t off, len;
    if (f->length < 4)
        return EAI_ST_BAD_FRAME;
    if (!g.uploading)
        return EAI_ST_BAD_STATE;
    off = rd32(f->payload);
    len = (uint32_t)f->length - 4u;
    if (off > g.upload_size || len > g.upload_size - off)
        return EAI_ST_BAD_RANGE;
    if (len && eai_port_flash_write(slot_offset(g.upload_slot) + off, f->payload + 4, len) !=
                   EAI_PORT_OK)
        return EAI_ST_FLASH;
    return EAI_ST_OK;
}

static int cmd_upload_commit(const eai_frame *f, size_t *n)
{
    eai_model m;
    int st, err = EAI_OK;
    if (f->length != 0)
        return EAI_ST_BAD_FRAME;
    if (!g.uploading)
        return EAI_ST_BAD_STATE;
    accepted(f);
    memset(&m, 0, sizeof m);
    st = check_slot(g.upload_slot, g.upload_size, g.upload_crc, &m, &err);
    if (st == EAI_ST_LOAD_FAILED) {
        wr32(g_resp, (uint32_t)err);
        wr32(g_resp + 4, (uint32_t)m.err_index);
        *n = 8;
    }
    if (st != EAI_ST_OK)
        return st;
    st = write_record(g.upload_slot, g.upload_size, g.upload_crc);
    if (st != EAI_ST_OK)
        return st;
    g.model = m;
    g.active_slot = g.upload_slot;
    g.model_size = g.upload_size;
    g.model_crc = g.upload_crc;
    g.uploading = 0;
    memset(ARENA, 0, ARENA_BYTES);
    wr32(g_resp, g.model_crc);
    g_resp[4] = g.active_slot;
    *n = 5;
    return EAI_ST_OK;
}

/* The tensor a WRITE/READ names, with [off, off + len) inside it. */
static int tensor_range(uint32_t index, uint32_t off, uint32_t len, eai_tensor *t)
{
    if (g.active_slot == EAI_APP_NO_SLOT)
        return EAI_ST_NO_MODEL;
    if (eai_tensor_info(&g.model, index, t) != EAI_OK)
        return EAI_ST_BAD_RANGE;
    if (off > t->bytes || len > t->bytes - off)
        return EAI_ST_BAD_RANGE;
    return EAI_ST_OK;
}

static int cmd_write_tensor(const eai_frame *f)
{
    eai_tensor t;
    uint32_t off, len;
    int st;
    if (f->length < 6)
        return EAI_ST_BAD_FRAME;
    off = rd32(f->payload + 2);
    len = (uint32_t)f->length - 6u;
    st = tensor_range(rd16(f->payload), off, len, &t);
    if (st != EAI_ST_OK)
        return st;
    if (t.kind != EAI_KIND_ARENA || t.offset > ARENA_BYTES || t.bytes > ARENA_BYTES - t.offset)
        return EAI_ST_BAD_RANGE; /* only activations are writable */
    memcpy(ARENA + t.offset + off, f->payload + 6, len);
    return EAI_ST_OK;
}

/* WRITE_TEXT: hash the text into the ids input (an int32 activation) of the EMBEDDING_BAG op
 * that reads it, with that op's buckets, n-grams and length; answers the feature count. */
static int cmd_write_text(const eai_frame *f, size_t *n)
{
    eai_tensor t;
    eai_bag_info bag;
    uint32_t index, count;
    if (f->length < 2)
        return EAI_ST_BAD_FRAME;
    if (g.active_slot == EAI_APP_NO_SLOT)
        return EAI_ST_NO_MODEL;
    index = rd16(f->payload);
    if (eai_tensor_info(&g.model, index, &t) != EAI_OK || t.kind != EAI_KIND_ARENA ||
        t.dtype != EAI_INT32 || eai_embedding_bag_info(&g.model, index, &bag) != EAI_OK)
        return EAI_ST_BAD_RANGE;
    if (t.offset > ARENA_BYTES || t.bytes > ARENA_BYTES - t.offset || bag.max_ids > t.bytes / 4u)
        return EAI_ST_BAD_RANGE;
    /* the loader keeps activations 4-byte aligned, and the arena is */
    count = eai_text_features(f->payload + 2, (size_t)f->length - 2u, bag.buckets, bag.ngrams,
                              (int32_t *)(void *)(ARENA + t.offset), bag.max_ids);
    wr16(g_resp, count);
    *n = 2;
    return EAI_ST_OK;
}

static int cmd_read_tensor(const eai_frame *f, size_t *n)
{
    eai_tensor t;
    uint32_t off, len;
    const uint8_t *src;
    int st;
    if (f->length != 8)
        return EAI_ST_BAD_FRAME;
    off = rd32(f->payload + 2);
    len = rd16(f->payload + 6);
    st = tensor_range(rd16(f->payload), off, len, &t);
    if (st != EAI_ST_OK)
        return st;
    if (len > EAI_FRAME_MAX_PAYLOAD)
        return EAI_ST_BAD_RANGE;
    if (t.kind == EAI_KIND_ARENA) {
        if (t.offset > ARENA_BYTES || t.bytes > ARENA_BYTES - t.offset)
            return EAI_ST_BAD_RANGE;
        src = ARENA + t.offset;
    } else {
        if (t.offset > g.model.data_bytes || t.bytes > g.model.data_bytes - t.offset)
            return EAI_ST_BAD_RANGE;
        src = g.model.data + t.offset;
    }
    memcpy(g_resp, src + off, len);
    *n = len;
    return EAI_ST_OK;
}

static int run_failed(int err, size_t *n)
{
    wr32(g_resp, (uint32_t)err);
    *n = 4;
    return EAI_ST_RUN_FAILED;
}

/* Run ops [first, last) one at a time, telling the port between them that the board is alive
 * (a port with a watchdog feeds it: a long model never trips it, a hung layer does). */
static int run_ops(uint32_t first, uint32_t last)
{
    uint32_t i;
    for (i = first; i < last; i++) {
        const int err = eai_invoke_range(&g.model, ARENA, ARENA_BYTES, i, i + 1u);
        if (err != EAI_OK)
            return err;
        eai_port_watchdog_feed();
    }
    return EAI_OK;
}

/* Instructions retired between two readings, or EAI_PORT_NO_COUNT if the board has no counter.
 * (The readings bracket the cycle counter's, so they include its few instructions.) */
static uint64_t count_between(uint64_t i0, uint64_t i1)
{
    return i0 == EAI_PORT_NO_COUNT || i1 == EAI_PORT_NO_COUNT ? EAI_PORT_NO_COUNT : i1 - i0;
}

static int cmd_invoke(const eai_frame *f, size_t *n)
{
    uint32_t first, last;
    uint64_t c0, c1, i0, i1;
    int err;
    if (f->length != 4)
        return EAI_ST_BAD_FRAME;
    if (g.active_slot == EAI_APP_NO_SLOT)
        return EAI_ST_NO_MODEL;
    first = rd16(f->payload);
    last = rd16(f->payload + 2);
    if (first > last || last > g.model.n_ops)
        return EAI_ST_BAD_RANGE;
    accepted(f);
    i0 = eai_port_instret();
    c0 = eai_port_cycles();
    err = run_ops(first, last);
    c1 = eai_port_cycles();
    i1 = eai_port_instret();
    if (err != EAI_OK)
        return run_failed(err, n);
    wr64(g_resp, c1 - c0);
    wr64(g_resp + 8, count_between(i0, i1));
    *n = 16;
    return EAI_ST_OK;
}

static int cmd_time_layers(const eai_frame *f, size_t *n)
{
    uint32_t i;
    if (f->length != 0)
        return EAI_ST_BAD_FRAME;
    if (g.active_slot == EAI_APP_NO_SLOT)
        return EAI_ST_NO_MODEL;
    if (g.model.n_ops > MAX_TIMED_OPS)
        return EAI_ST_BAD_RANGE; /* the answer would not fit a frame; time ops with INVOKE */
    accepted(f);
    wr16(g_resp, g.model.n_ops);
    for (i = 0; i < g.model.n_ops; i++) {
        const uint64_t i0 = eai_port_instret();
        const uint64_t c0 = eai_port_cycles();
        const int err = run_ops(i, i + 1u);
        const uint64_t c1 = eai_port_cycles();
        const uint64_t i1 = eai_port_instret();
        if (err != EAI_OK)
            return run_failed(err, n);
        wr64(g_resp + 2 + 16u * i, c1 - c0);
        wr64(g_resp + 10 + 16u * i, count_between(i0, i1));
    }
    *n = 2 + 16u * g.model.n_ops;
    return EAI_ST_OK;
}

static void handle(const eai_frame *f)
{
    size_t n = 0;
    int st, reset = 0;
    if (f->kind >= EAI_KIND_ACCEPTED)
        return; /* an acceptance, a log or a response (an echo?): not a request */
    if (g.have_last && f->seq == g.last_seq && f->crc == g.last_crc) {
        (void)eai_port_uart_write(g_tx, g.tx_len); /* a retry: answer again, do not redo */
        return;
    }
    switch (f->kind) {
    case EAI_CMD_HELLO: st = cmd_hello(f, &n); break;
    case EAI_CMD_UPLOAD_BEGIN: st = cmd_upload_begin(f); break;
    case EAI_CMD_UPLOAD_CHUNK: st = cmd_upload_chunk(f); break;
    case EAI_CMD_UPLOAD_COMMIT: st = cmd_upload_commit(f, &n); break;
    case EAI_CMD_WRITE_TENSOR: st = cmd_write_tensor(f); break;
    case EAI_CMD_READ_TENSOR: st = cmd_read_tensor(f, &n); break;
    case EAI_CMD_INVOKE: st = cmd_invoke(f, &n); break;
    case EAI_CMD_TIME_LAYERS: st = cmd_time_layers(f, &n); break;
    case EAI_CMD_WRITE_TEXT: st = cmd_write_text(f, &n); break;
    case EAI_CMD_RESET:
        st = f->length == 0 ? EAI_ST_OK : EAI_ST_BAD_FRAME;
        reset = st == EAI_ST_OK;
        break;
    default: st = EAI_ST_BAD_FRAME; break;
    }
    if (st != EAI_ST_OK && st != EAI_ST_BAD_VERSION && st != EAI_ST_LOAD_FAILED &&
        st != EAI_ST_RUN_FAILED)
        n = 0; /* errors carry no payload but these */
    if (eai_frame_encode((uint8_t)(f->kind | EAI_KIND_RESPONSE), (uint8_t)st, f->seq, g_resp, n,
                         g_tx, sizeof g_tx, &g.tx_len) != EAI_LINK_OK) {
        g.have_last = 0;
        return;
    }
    g.have_last = 1;
    g.last_seq = f->seq;
    g.last_crc = f->crc;
    (void)eai_port_uart_write(g_tx, g.tx_len);
    if (reset)
        (void)eai_app_init();
}

int eai_app_poll(uint32_t timeout_ms)
{
    size_t got, i = 0;
    int answered = 0;
    eai_port_watchdog_feed(); /* waiting for the host is progress too */
    got = eai_port_uart_read(g_rx_chunk, sizeof g_rx_chunk, timeout_ms);
    while (i < got) {
        eai_frame f;
        int have;
        i += eai_frame_rx_feed(&g_rx, g_rx_chunk + i, got - i, &f, &have);
        if (have) {
            handle(&f);
            answered++;
        }
    }
    return answered;
}
