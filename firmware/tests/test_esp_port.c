/* Host tests of the esp-idf port (ports/esp-idf/main: port.c, main.c) with the app and the
 * runtime, on the fake ESP-IDF (tests/fake-idf, see fake_idf.h): the real boot path (app_main)
 * runs as the fake board's main task; the test is the host on the other end of UART0, sending
 * request frames on the fake wire and decoding what the board sends back.
 *
 *   usage: test_esp_port [path/to/ports/esp-idf/sdkconfig.defaults]
 * With the path, the CONFIG_ values the host build takes from tests/fake-idf/host/sdkconfig.h
 * are checked against the file ESP-IDF builds from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "blob_writer.h"
#include "check.h"
#include "eai_esp.h"
#include "edgeai.h"
#include "edgeai_port.h"
#include "esp_partition.h"
#include "esp_system.h"
#include "esp_task_wdt.h"
#include "fake_idf.h"
#include "frame.h"
#include "sdkconfig.h"
#include "spi_flash_mmap.h"

#define MHZ ((uint64_t)CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ)
#define SEC 1000000ull /* µs */
#define SLOT_BYTES 0x130000u  /* partitions.csv: model_a and model_b */
#define WDT_US ((uint64_t)CONFIG_ESP_TASK_WDT_TIMEOUT_S * SEC)
#define WRAP_US 26843545ull   /* 2^32 cycles at 160 MHz, in whole µs */

/* ---- the host ------------------------------------------------------------------------------- */

static eai_frame_rx g_host_rx;
static uint16_t g_seq;
static uint8_t g_wire[EAI_FRAME_WIRE_MAX(EAI_FRAME_MAX_PAYLOAD)];
static uint8_t g_resp[EAI_FRAME_MAX_PAYLOAD]; /* payload of the last response */
static size_t g_resp_len;

typedef struct {
    uint8_t kind, status;
    uint16_t seq;
} resp_t;
static resp_t g_resps[64]; /* responses since the last clear */
static size_t g_nresps;
static char g_logs[32][EAI_APP_LOG_MAX + 1]; /* log frames since the last clear */
static size_t g_nlogs;

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32); }

static void clear(void)
{
    g_nresps = 0;
    g_nlogs = 0;
}

/* Decode everything the board sent. */
static void drain(void)
{
    static uint8_t buf[8192];
    size_t n;
    while ((n = fake_idf_uart_take(buf, sizeof buf)) > 0) {
        size_t i = 0;
        while (i < n) {
            eai_frame f;
            int got = 0;
            i += eai_frame_rx_feed(&g_host_rx, buf + i, n - i, &f, &got);
            if (!got)
                continue;
            if (f.kind == EAI_KIND_LOG) {
                if (g_nlogs < sizeof g_logs / sizeof g_logs[0]) {
                    const size_t k = f.length < EAI_APP_LOG_MAX ? f.length : EAI_APP_LOG_MAX;
                    memcpy(g_logs[g_nlogs], f.payload, k);
                    g_logs[g_nlogs++][k] = 0;
                }
            } else if (f.kind & EAI_KIND_RESPONSE) {
                if (g_nresps < sizeof g_resps / sizeof g_resps[0]) {
                    g_resps[g_nresps].kind = f.kind;
                    g_resps[g_nresps].status = f.status;
                    g_resps[g_nresps++].seq = f.seq;
                }
                memcpy(g_resp, f.payload, f.length);
                g_resp_len = f.length;
            }
        }
    }
}

static int logged(const char *text)
{
    size_t i;
    for (i = 0; i < g_nlogs; i++)
        if (strstr(g_logs[i], text) != NULL)
            return 1;
    return 0;
}

/* The status of the response to (kind, seq) among those received, or -1. */
static int response(uint8_t kind, uint16_t seq)
{
    size_t i;
    for (i = 0; i < g_nresps; i++)
        if (g_resps[i].kind == (kind | EAI_KIND_RESPONSE) && g_resps[i].seq == seq)
            return g_resps[i].status;
    return -1;
}

/* Put a request on the wire (not waiting); its seq, and its wire length in *wire_len. */
static uint16_t send(uint8_t kind, const uint8_t *payload, size_t len, size_t *wire_len)
{
    size_t wire = 0;
    if (++g_seq == 0)
        g_seq = 1;
    if (eai_frame_encode(kind, 0, g_seq, payload, len, g_wire, sizeof g_wire, &wire) != EAI_LINK_OK)
        return 0;
    fake_idf_uart_send(g_wire, wire);
    if (wire_len)
        *wire_len = wire;
    return g_seq;
}

/* The board: boot (app_main) or go on serving, until it waits for the host or restarts. */
static fake_idf_exit boot(void)
{
    const fake_idf_exit e = fake_idf_run(app_main);
    drain();
    return e;
}

static fake_idf_exit serve(void)
{
    const fake_idf_exit e = fake_idf_run(eai_esp_serve);
    drain();
    return e;
}

static fake_idf_exit g_exit;

/* One request, answered: its status (payload in g_resp), or -1 (then g_exit says why). */
static int request(uint8_t kind, const uint8_t *payload, size_t len, size_t *n)
{
    uint16_t seq;
    int st;
    clear();
    seq = send(kind, payload, len, NULL);
    g_exit = serve();
    st = response(kind, seq);
    if (n)
        *n = g_resp_len;
    return st;
}

typedef struct {
    uint32_t slot_size, model_size, crc, rx_bytes, map_bytes;
    int active;
    char board[65];
} hello_t;

static int hello(hello_t *h)
{
    const uint8_t v[2] = {EAI_APP_PROTOCOL_VERSION, 0};
    size_t n = 0, at;
    memset(h, 0, sizeof *h);
    if (request(EAI_CMD_HELLO, v, 2, &n) != EAI_ST_OK || n < 37)
        return -1;
    h->slot_size = get32(g_resp + 4);
    h->active = g_resp[12];
    h->model_size = get32(g_resp + 13);
    h->crc = get32(g_resp + 17);
    h->rx_bytes = get32(g_resp + 25);
    h->map_bytes = get32(g_resp + 29);
    at = 33u + 2u + (size_t)(g_resp[33] | (g_resp[34] << 8));
    if (at + 2 <= n) {
        const size_t k = (size_t)(g_resp[at] | (g_resp[at + 1] << 8));
        if (k <= 64 && at + 2 + k <= n) {
            memcpy(h->board, g_resp + at + 2, k);
            h->board[k] = 0;
        }
    }
    return 0;
}

#define CHUNK 4000u

static int upload_begin(uint32_t size, uint32_t crc)
{
    uint8_t p[8];
    bw_put32(p, size);
    bw_put32(p + 4, crc);
    return request(EAI_CMD_UPLOAD_BEGIN, p, 8, NULL);
}

/* Encode an UPLOAD_CHUNK request payload of blob[off, off + len) into p; its length. */
static size_t chunk_payload(uint8_t *p, const uint8_t *blob, uint32_t off, uint32_t len)
{
    bw_put32(p, off);
    memcpy(p + 4, blob + off, len);
    return 4u + len;
}

static int upload(const uint8_t *blob, uint32_t len)
{
    static uint8_t p[EAI_FRAME_MAX_PAYLOAD];
    uint32_t off;
    int st = upload_begin(len, eai_crc32(0, blob, len));
    if (st != EAI_ST_OK)
        return st;
    for (off = 0; off < len; off += CHUNK) {
        const uint32_t k = len - off < CHUNK ? len - off : CHUNK;
        st = request(EAI_CMD_UPLOAD_CHUNK, p, chunk_payload(p, blob, off, k), NULL);
        if (st != EAI_ST_OK)
            return st;
    }
    return request(EAI_CMD_UPLOAD_COMMIT, NULL, 0, NULL);
}

static int invoke(uint16_t first, uint16_t last, uint64_t *cycles)
{
    uint8_t p[4];
    size_t n = 0;
    int st;
    p[0] = (uint8_t)first;
    p[1] = (uint8_t)(first >> 8);
    p[2] = (uint8_t)last;
    p[3] = (uint8_t)(last >> 8);
    st = request(EAI_CMD_INVOKE, p, 4, &n);
    if (st == EAI_ST_OK && n == 16 && cycles)
        *cycles = get64(g_resp);
    return st;
}

/* A fresh board: power on, boot, wait for the host. */
static void power_on(void)
{
    fake_idf_reset();
    eai_frame_rx_init(&g_host_rx);
    clear();
    g_exit = boot();
}

/* ---- models ----------------------------------------------------------------------------------- */

static uint32_t g_blob_words[(1u << 20) / 4u + 4096u];
static uint8_t *const g_blob = (uint8_t *)g_blob_words;

#define CHAIN_OPS 12u

/* CHAIN_OPS fully connected layers [1,4] -> [1,4], ping-ponging between two activations. */
static uint32_t build_chain(int32_t k)
{
    static const int8_t w[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    const int32_t bias[4] = {k, 0, -k, 1};
    static const int32_t mult[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
    static const int32_t shift[4] = {0, 0, 0, 0};
    bw_model m;
    uint16_t in, a, b, wt, bt, mu, sh;
    int32_t p[12] = {0};
    uint32_t i;
    memset(&m, 0, sizeof m);
    in = bw_act(&m, 2, 1, 4, 1, 1, 0);
    a = bw_act(&m, 2, 1, 4, 1, 1, 16);
    b = bw_act(&m, 2, 1, 4, 1, 1, 32);
    wt = bw_const_i8(&m, 2, 4, 4, 1, 1, w);
    bt = bw_const_i32(&m, 4, bias);
    mu = bw_const_i32(&m, 4, mult);
    sh = bw_const_i32(&m, 4, shift);
    p[8] = -128;
    p[9] = 127;
    for (i = 0; i < CHAIN_OPS; i++) {
        const uint16_t src = i == 0 ? in : (i % 2 ? a : b);
        const uint16_t ins[5] = {src, wt, bt, mu, sh};
        bw_op_add(&m, EAI_OP_FULLY_CONNECTED, 5, ins, i % 2 ? b : a, p);
    }
    m.io[0] = in;
    m.io[1] = CHAIN_OPS % 2 ? a : b;
    m.n_inputs = m.n_outputs = 1;
    m.arena_bytes = 48;
    return (uint32_t)bw_build(&m, g_blob, sizeof g_blob_words);
}

#define BIG_IN 1024u
#define BIG_OUT 1000u
static int8_t g_big_w[BIG_OUT * BIG_IN];

/* One fully connected layer with a 1000 x 1024 weight matrix (about 1 MB), padded with an unused
 * constant to exactly `size` bytes. */
static uint32_t build_big(uint32_t size, int seed)
{
    static int32_t bias[BIG_OUT], mult[BIG_OUT], shift[BIG_OUT];
    static int8_t pad[1u << 16];
    uint32_t pad_bytes = 16, i, total = 0;
    int pass;
    for (i = 0; i < BIG_OUT * BIG_IN; i++)
        g_big_w[i] = (int8_t)((int)((i * 2654435761u + (uint32_t)seed * 97u) >> 27) - 8);
    for (i = 0; i < BIG_OUT; i++) {
        bias[i] = (int32_t)i - 500 + seed;
        mult[i] = 1 << 30;
        shift[i] = -4;
    }
    for (pass = 0; pass < 2; pass++) {
        bw_model m;
        uint16_t in, w, b, mu, sh, o;
        int32_t p[12] = {0};
        memset(&m, 0, sizeof m);
        in = bw_act(&m, 2, 1, BIG_IN, 1, 1, 0);
        w = bw_const_i8(&m, 2, BIG_OUT, BIG_IN, 1, 1, g_big_w);
        b = bw_const_i32(&m, BIG_OUT, bias);
        mu = bw_const_i32(&m, BIG_OUT, mult);
        sh = bw_const_i32(&m, BIG_OUT, shift);
        o = bw_act(&m, 2, 1, BIG_OUT, 1, 1, BIG_IN);
        (void)bw_const_i8(&m, 1, pad_bytes, 1, 1, 1, pad);
        p[8] = -128;
        p[9] = 127;
        {
            const uint16_t ins[5] = {in, w, b, mu, sh};
            bw_op_add(&m, EAI_OP_FULLY_CONNECTED, 5, ins, o, p);
        }
        m.io[0] = in;
        m.io[1] = o;
        m.n_inputs = m.n_outputs = 1;
        m.arena_bytes = BIG_IN + BIG_OUT;
        total = (uint32_t)bw_build(&m, g_blob, sizeof g_blob_words);
        if (total == 0 || total > size || size - total + pad_bytes > sizeof pad)
            return 0;
        pad_bytes += size - total; /* both multiples of 16: exact on the second pass */
    }
    return total;
}

/* ---- sdkconfig.defaults against the host's sdkconfig.h ----------------------------------------- */

static char g_defaults[16384];

static int has_line(const char *line)
{
    const char *p = g_defaults;
    const size_t n = strlen(line);
    while ((p = strstr(p, line)) != NULL) {
        if ((p == g_defaults || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\r' || p[n] == 0))
            return 1;
        p += n;
    }
    return 0;
}

static void test_sdkconfig(const char *path)
{
    char line[80];
    FILE *f = path != NULL ? fopen(path, "rb") : NULL;
    size_t n;
    if (f == NULL) {
        if (path != NULL)
            fprintf(stderr, "test_esp_port: cannot read %s\n", path);
        CHECK(path == NULL);
        return;
    }
    n = fread(g_defaults, 1, sizeof g_defaults - 1, f);
    g_defaults[n] = 0;
    fclose(f);
    CHECK(has_line("CONFIG_ESP_TASK_WDT_EN=y"));
    CHECK(has_line("CONFIG_ESP_TASK_WDT_INIT=y"));
    CHECK(has_line("CONFIG_ESP_TASK_WDT_PANIC=y"));
    snprintf(line, sizeof line, "CONFIG_ESP_TASK_WDT_TIMEOUT_S=%d", CONFIG_ESP_TASK_WDT_TIMEOUT_S);
    CHECK(has_line(line));
    CHECK(has_line("# CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0 is not set"));
    CHECK(has_line("# CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU1 is not set"));
    CHECK(has_line("CONFIG_ESP_SYSTEM_PANIC_PRINT_REBOOT=y"));
    CHECK(has_line("CONFIG_UART_ISR_IN_IRAM=y"));
    CHECK(has_line("CONFIG_ESP_MAIN_TASK_AFFINITY_CPU0=y"));
}

/* ---- tests ------------------------------------------------------------------------------------------ */

/* Boot through app_main: the watchdog as configured, the UART, HELLO's limits. */
static void test_boot(void)
{
    hello_t h;
    power_on();
    CHECK_EQ(g_exit, FAKE_IDF_IDLE);
    CHECK(logged("edgeai ") && logged(" on esp32c3, no model"));
    CHECK_EQ(fake_idf_wdt_timeout_ms(), CONFIG_ESP_TASK_WDT_TIMEOUT_S * 1000);
    CHECK_EQ(fake_idf_wdt_panics(), 1);
    CHECK_EQ(fake_idf_wdt_idle_mask(), 0);
    CHECK_EQ(fake_idf_wdt_task_subscribed(), 1);
    CHECK_EQ(fake_idf_uart_baud(), 921600);
    CHECK_EQ(fake_idf_uart_rx_ring_size(), 8192);
    CHECK_EQ(hello(&h), 0);
    CHECK_EQ(h.slot_size, SLOT_BYTES);
    CHECK_EQ(h.active, EAI_APP_NO_SLOT);
    CHECK_EQ(h.rx_bytes, 8192);
    CHECK_EQ(h.map_bytes, UINT32_MAX); /* C3: 124 free pages, the stock layout needs 39 */
    CHECK(strcmp(h.board, "esp32c3") == 0);
    CHECK_EQ(fake_idf_mmu_mapped_pages(), 1); /* the slot table's page, no slot yet */
    /* the stock layout fits an ESP32 with a small app too: 62 free pages */
    fake_idf_reset();
    fake_idf_set_target(FAKE_IDF_ESP32);
    fake_idf_set_app_pages(2);
    eai_esp_port_init();
    CHECK_EQ(eai_port_flash_map_bytes(), UINT32_MAX);
}

/* An INVOKE of 12 layers of 5 s each: 60 s, three times the watchdog's timeout and more than
 * two wraps of the 32-bit counter. Fed between layers, the watchdog never trips, and the
 * cycles are exact. */
static void test_long_inference(void)
{
    uint64_t script[CHAIN_OPS], cycles = 0, gap;
    uint32_t i, trips;
    size_t n = 0;
    power_on();
    CHECK_EQ(upload(g_blob, build_chain(3)), EAI_ST_OK);
    for (i = 0; i < CHAIN_OPS; i++)
        script[i] = 5 * SEC;
    fake_idf_set_ccount_offset(0xFFFFF000u); /* the counter about to wrap, too */
    (void)fake_idf_wdt_take_max_gap_us();
    trips = fake_idf_wdt_trips();
    fake_idf_script_work(script, CHAIN_OPS);
    CHECK_EQ(invoke(0, CHAIN_OPS, &cycles), EAI_ST_OK);
    CHECK_EQ(g_exit, FAKE_IDF_IDLE);
    CHECK_EQ(fake_idf_script_left(), 0);
    CHECK_EQ(cycles, 60ull * SEC * MHZ); /* 9 600 000 000 */
    CHECK_EQ(fake_idf_wdt_trips(), trips);
    CHECK_EQ(fake_idf_restarts(), 0);
    gap = fake_idf_wdt_take_max_gap_us();
    CHECK(gap >= 5 * SEC && gap < 5 * SEC + 1000); /* a layer, not the inference */
    CHECK(60 * SEC >= 3 * WDT_US);

    /* TIME_LAYERS: layers of 1..12 s (78 s), each timed exactly */
    for (i = 0; i < CHAIN_OPS; i++)
        script[i] = (i + 1u) * SEC;
    fake_idf_script_work(script, CHAIN_OPS);
    CHECK_EQ(request(EAI_CMD_TIME_LAYERS, NULL, 0, &n), EAI_ST_OK);
    CHECK_EQ(n, 2 + 16 * CHAIN_OPS);
    for (i = 0; i < CHAIN_OPS && n == 2 + 16 * CHAIN_OPS; i++) {
        CHECK_EQ(get64(g_resp + 2 + 16 * i), (uint64_t)(i + 1u) * SEC * MHZ);
        CHECK_EQ(get64(g_resp + 10 + 16 * i), EAI_PORT_NO_COUNT);
    }
    CHECK_EQ(fake_idf_wdt_trips(), trips);
}

static const esp_task_wdt_config_t k_idle_watch = {CONFIG_ESP_TASK_WDT_TIMEOUT_S * 1000, 1, true};

/* A layer that hangs for longer than the timeout trips the watchdog; the board restarts, boots
 * into its model again and answers. (And why the idle task is not watched.) */
static void test_hung_layer(void)
{
    const uint64_t script[4] = {1 * SEC, 1 * SEC, 10 * WDT_US, 1 * SEC};
    uint64_t t0, cycles = 0, script_ok[CHAIN_OPS];
    uint32_t crc, len, i;
    hello_t h;
    power_on();
    len = build_chain(7);
    crc = eai_crc32(0, g_blob, len);
    CHECK_EQ(upload(g_blob, len), EAI_ST_OK);
    t0 = fake_idf_now_us();
    fake_idf_script_work(script, 4);
    CHECK_EQ(invoke(0, CHAIN_OPS, &cycles), -1); /* no answer: it restarted */
    CHECK_EQ(g_exit, FAKE_IDF_RESTARTED);
    CHECK_EQ(fake_idf_last_restart_reason(), ESP_RST_TASK_WDT);
    CHECK_EQ(fake_idf_wdt_trips(), 1);
    CHECK_EQ(fake_idf_restarts(), 1);
    /* it tripped WDT_US after the last feed, 2 s (two layers) in */
    CHECK(fake_idf_now_us() - t0 >= 2 * SEC + WDT_US);
    CHECK(fake_idf_now_us() - t0 < 2 * SEC + WDT_US + 1000);
    CHECK_EQ(fake_idf_uart_rx_ring_size(), 0); /* the restart took the driver away */
    clear();
    CHECK_EQ(boot(), FAKE_IDF_IDLE);
    CHECK(logged("restarted by the task watchdog"));
    CHECK(logged(" on esp32c3, model "));
    CHECK_EQ(fake_idf_wdt_task_subscribed(), 1);
    CHECK_EQ(hello(&h), 0);
    CHECK_EQ(h.active, 0);
    CHECK_EQ(h.crc, crc);
    CHECK_EQ(h.model_size, len);
    for (i = 0; i < CHAIN_OPS; i++)
        script_ok[i] = 2 * SEC;
    fake_idf_script_work(script_ok, CHAIN_OPS);
    CHECK_EQ(invoke(0, CHAIN_OPS, &cycles), EAI_ST_OK);
    CHECK_EQ(cycles, 24ull * SEC * MHZ);

    /* Were the idle task watched too, the same 60 s inference would trip the watchdog at 20 s
     * although the app feeds it: the inference never lets the idle task run. */
    CHECK_EQ(esp_task_wdt_reconfigure(&k_idle_watch), ESP_OK);
    for (i = 0; i < CHAIN_OPS; i++)
        script_ok[i] = 5 * SEC;
    fake_idf_script_work(script_ok, CHAIN_OPS);
    t0 = fake_idf_now_us();
    CHECK_EQ(invoke(0, CHAIN_OPS, &cycles), -1);
    CHECK_EQ(g_exit, FAKE_IDF_RESTARTED);
    CHECK_EQ(fake_idf_last_restart_reason(), ESP_RST_TASK_WDT);
    CHECK(fake_idf_now_us() - t0 >= WDT_US && fake_idf_now_us() - t0 < WDT_US + 1000);
    clear();
    CHECK_EQ(boot(), FAKE_IDF_IDLE);
    CHECK_EQ(fake_idf_wdt_idle_mask(), 0); /* sdkconfig's configuration again */
}

static void erase_slot_b_at_once(void)
{
    const esp_partition_t *p = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, "model_b");
    if (p != NULL)
        (void)esp_partition_erase_range(p, 0, p->size);
}

/* A slot erase longer than the timeout is done in 64 KiB steps with the watchdog fed between:
 * no trip. The same erase in one call would trip it. */
static void test_erase_steps(void)
{
    uint32_t calls;
    uint64_t t0, longest, gap;
    power_on();
    fake_idf_set_flash_times(100000, 400); /* a slow chip: 100 ms a sector, 30.4 s a slot */
    calls = fake_idf_flash_erase_calls();
    (void)fake_idf_flash_take_longest_op_us();
    (void)fake_idf_wdt_take_max_gap_us();
    t0 = fake_idf_now_us();
    CHECK_EQ(upload_begin(SLOT_BYTES, 0), EAI_ST_OK);
    CHECK_EQ(g_exit, FAKE_IDF_IDLE);
    CHECK(fake_idf_now_us() - t0 >= 304 * 100000ull); /* 304 sectors */
    CHECK(fake_idf_now_us() - t0 > WDT_US);
    CHECK_EQ(fake_idf_flash_erase_calls() - calls, SLOT_BYTES / 65536u); /* 19 blocks, 19 steps */
    longest = fake_idf_flash_take_longest_op_us();
    CHECK_EQ(longest, 16 * 100000ull); /* one 64 KiB block */
    gap = fake_idf_wdt_take_max_gap_us();
    CHECK(gap >= longest && gap < longest + 1000);
    CHECK_EQ(fake_idf_wdt_trips(), 0);
    /* unstepped, by the board's main task: the watchdog trips */
    CHECK_EQ(fake_idf_run(erase_slot_b_at_once), FAKE_IDF_RESTARTED);
    CHECK_EQ(fake_idf_last_restart_reason(), ESP_RST_TASK_WDT);
    CHECK_EQ(fake_idf_wdt_trips(), 1);
}

/* eai_port_cycles() is exact over any gap between two readings, however many wraps. */
static void test_cycles(void)
{
    uint64_t c0, n0;
    uint32_t i;
    power_on();
    fake_idf_set_ccount_offset(0xFFFFFF00u);
    fake_idf_set_read_cost(37); /* time passes between reading the timer and the counter */
    c0 = eai_port_cycles();
    n0 = fake_idf_now_cycles();
    for (i = 0; i < 40; i++) {
        /* gaps from nothing to 5 wraps and a bit, some close to whole wraps */
        const uint64_t us = i % 4 == 3 ? (i / 4u) * WRAP_US : ((uint64_t)i * 7919u * 1000003u) % (5 * WRAP_US + 7777u);
        uint64_t c1, n1;
        fake_idf_advance_us(us);
        c1 = eai_port_cycles();
        n1 = fake_idf_now_cycles();
        CHECK_EQ(c1 - c0, n1 - n0);
        c0 = c1;
        n0 = n1;
    }
    /* one gap of 5 wraps: the 32-bit difference alone would be 5 x 2^32 short */
    fake_idf_advance_us(5 * WRAP_US + 1234);
    {
        const uint64_t c1 = eai_port_cycles(), n1 = fake_idf_now_cycles();
        CHECK_EQ(c1 - c0, n1 - n0);
        CHECK_EQ((n1 - n0) >> 32, 5);
        CHECK((uint32_t)(n1 - n0) != n1 - n0);
    }
}

/* Flow control: HELLO announces the RX ring; bytes sent while the board erases are kept up to
 * it, and lost beyond it. */
static void test_flow_control(void)
{
    static uint8_t p[3][EAI_FRAME_MAX_PAYLOAD];
    size_t plen[3], wire[4], i, in_flight;
    uint16_t seq[4];
    uint64_t dropped;
    hello_t h;
    const uint32_t size = 1000000; /* a 245-sector erase: 11 s */
    memset(g_blob, 0x5A, size);
    for (i = 0; i < 3; i++)
        plen[i] = chunk_payload(p[i], g_blob, (uint32_t)(i * CHUNK), CHUNK);

    /* within: BEGIN and then two chunks right behind it, as a host keeping to HELLO's limit */
    power_on();
    CHECK_EQ(hello(&h), 0);
    CHECK_EQ(h.rx_bytes, 8192);
    clear();
    seq[0] = send(EAI_CMD_UPLOAD_BEGIN, (const uint8_t[8]){0x40, 0x42, 0x0F, 0, 1, 2, 3, 4}, 8, &wire[0]);
    seq[1] = send(EAI_CMD_UPLOAD_CHUNK, p[0], plen[0], &wire[1]);
    seq[2] = send(EAI_CMD_UPLOAD_CHUNK, p[1], plen[1], &wire[2]);
    in_flight = wire[0] + wire[1] + wire[2];
    CHECK(in_flight <= h.rx_bytes);
    g_exit = serve();
    CHECK_EQ(g_exit, FAKE_IDF_IDLE);
    CHECK_EQ(response(EAI_CMD_UPLOAD_BEGIN, seq[0]), EAI_ST_OK);
    CHECK_EQ(response(EAI_CMD_UPLOAD_CHUNK, seq[1]), EAI_ST_OK);
    CHECK_EQ(response(EAI_CMD_UPLOAD_CHUNK, seq[2]), EAI_ST_OK);
    CHECK_EQ(fake_idf_uart_dropped(), 0);

    /* beyond: three chunks behind BEGIN arrive during the erase; the ring keeps 8192 bytes */
    clear();
    seq[0] = send(EAI_CMD_UPLOAD_BEGIN, (const uint8_t[8]){0x40, 0x42, 0x0F, 0, 1, 2, 3, 4}, 8, &wire[0]);
    for (i = 0; i < 3; i++)
        seq[i + 1] = send(EAI_CMD_UPLOAD_CHUNK, p[i], plen[i], &wire[i + 1]);
    in_flight = wire[1] + wire[2] + wire[3];
    CHECK(in_flight > h.rx_bytes);
    g_exit = serve();
    CHECK_EQ(g_exit, FAKE_IDF_IDLE);
    dropped = fake_idf_uart_dropped();
    CHECK(dropped > 0);
    CHECK(dropped >= in_flight - h.rx_bytes - 129u); /* at most the stash and a FIFO more kept */
    CHECK_EQ(response(EAI_CMD_UPLOAD_BEGIN, seq[0]), EAI_ST_OK);
    CHECK_EQ(response(EAI_CMD_UPLOAD_CHUNK, seq[1]), EAI_ST_OK);
    CHECK_EQ(response(EAI_CMD_UPLOAD_CHUNK, seq[2]), EAI_ST_OK);
    CHECK_EQ(response(EAI_CMD_UPLOAD_CHUNK, seq[3]), -1); /* lost: the host's retry resends it */
    CHECK_EQ(request(EAI_CMD_UPLOAD_CHUNK, p[2], plen[2], NULL), EAI_ST_OK);

    /* the same three chunks while the board is free to read: nothing lost */
    clear();
    for (i = 0; i < 3; i++)
        seq[i + 1] = send(EAI_CMD_UPLOAD_CHUNK, p[i], plen[i], NULL);
    g_exit = serve();
    for (i = 0; i < 3; i++)
        CHECK_EQ(response(EAI_CMD_UPLOAD_CHUNK, seq[i + 1]), EAI_ST_OK);
    CHECK_EQ(fake_idf_uart_dropped(), dropped);
}

static void do_restart(void) { esp_restart(); }

static int read_weights(uint32_t off, uint16_t len)
{
    uint8_t p[8];
    size_t n = 0;
    p[0] = 1; /* tensor 1: the weights */
    p[1] = 0;
    bw_put32(p + 2, off);
    p[6] = (uint8_t)len;
    p[7] = (uint8_t)(len >> 8);
    if (request(EAI_CMD_READ_TENSOR, p, 8, &n) != EAI_ST_OK || n != len)
        return -1;
    return memcmp(g_resp, g_big_w + off, len) == 0 ? 0 : 1;
}

/* The MMU budget of an ESP32 whose app holds 30 of the 64 data pages: 34 free, 1 for the slot
 * table, 16 for each slot: HELLO's map limit is 16 x 64 KiB = 1 MiB; a model one byte over is
 * TOO_BIG at UPLOAD_BEGIN; one of exactly 1 MiB uploads and runs, in either slot, with the
 * other slot's model mapped. */
static void test_map_limit(void)
{
    const uint32_t limit = 16u * 65536u;
    uint32_t len, calls, crc;
    uint64_t cycles;
    hello_t h;
    fake_idf_reset();
    fake_idf_set_target(FAKE_IDF_ESP32);
    fake_idf_set_app_pages(30);
    eai_frame_rx_init(&g_host_rx);
    clear();
    CHECK_EQ(boot(), FAKE_IDF_IDLE);
    CHECK_EQ(fake_idf_mmu_pages(), 64);
    CHECK_EQ(hello(&h), 0);
    CHECK_EQ(h.slot_size, SLOT_BYTES);
    CHECK_EQ(h.map_bytes, limit);
    CHECK(limit < SLOT_BYTES);

    calls = fake_idf_flash_erase_calls();
    CHECK_EQ(upload_begin(limit + 1u, 0), EAI_ST_TOO_BIG);
    CHECK_EQ(fake_idf_flash_erase_calls(), calls); /* refused before erasing */

    len = build_big(limit, 1);
    CHECK_EQ(len, limit);
    CHECK_EQ(upload(g_blob, len), EAI_ST_OK);
    CHECK_EQ(g_resp[4], 0); /* slot A */
    CHECK_EQ(invoke(0, 1, &cycles), EAI_ST_OK);
    CHECK_EQ(read_weights(limit / 2u, 64), 0);
    CHECK_EQ(fake_idf_mmu_mapped_pages(), 1 + 16);
    CHECK_EQ(spi_flash_mmap_get_free_pages(SPI_FLASH_MMAP_DATA), 34 - 17);

    len = build_big(limit, 2); /* slot B, slot A's model still mapped */
    CHECK_EQ(upload(g_blob, len), EAI_ST_OK);
    CHECK_EQ(g_resp[4], 1);
    CHECK_EQ(invoke(0, 1, &cycles), EAI_ST_OK);
    CHECK_EQ(read_weights(1000, 256), 0);
    CHECK_EQ(fake_idf_mmu_mapped_pages(), 1 + 16 + 16);
    CHECK_EQ(spi_flash_mmap_get_free_pages(SPI_FLASH_MMAP_DATA), 1);

    len = build_big(limit, 3); /* back to slot A: its window is reused */
    crc = eai_crc32(0, g_blob, len);
    CHECK_EQ(upload(g_blob, len), EAI_ST_OK);
    CHECK_EQ(g_resp[4], 0);
    CHECK_EQ(invoke(0, 1, &cycles), EAI_ST_OK);
    CHECK_EQ(read_weights(limit - 70000u, 512), 0);
    CHECK_EQ(fake_idf_mmu_mapped_pages(), 33);

    /* after a restart: the same limit, the model still there */
    CHECK_EQ(fake_idf_run(do_restart), FAKE_IDF_RESTARTED);
    CHECK_EQ(fake_idf_last_restart_reason(), ESP_RST_SW);
    clear();
    CHECK_EQ(boot(), FAKE_IDF_IDLE);
    CHECK_EQ(hello(&h), 0);
    CHECK_EQ(h.active, 0);
    CHECK_EQ(h.crc, crc);
    CHECK_EQ(h.map_bytes, limit);
    CHECK_EQ(invoke(0, 1, &cycles), EAI_ST_OK);
    CHECK_EQ(read_weights(0, 64), 0);
}

/* The fake MMU fails like ESP-IDF's: first fit, ESP_ERR_NOT_FOUND without a long enough run of
 * free pages even when enough are free in all. (Why the port maps fixed windows: mapping each
 * model's exact pages and unmapping them at its slot's erase can strand free pages so.) */
static void test_mmu_first_fit(void)
{
    const void *p[4];
    spi_flash_mmap_handle_t hd[4];
    fake_idf_reset();
    fake_idf_set_target(FAKE_IDF_ESP32);
    fake_idf_set_app_pages(30);
    CHECK_EQ(spi_flash_mmap_get_free_pages(SPI_FLASH_MMAP_DATA), 34);
    CHECK_EQ(spi_flash_mmap(0x190000, 0x2000, SPI_FLASH_MMAP_DATA, &p[0], &hd[0]), ESP_OK);   /* table: 1 */
    CHECK_EQ(spi_flash_mmap(0x1a0000, 0x20000, SPI_FLASH_MMAP_DATA, &p[1], &hd[1]), ESP_OK);  /* A: 2 */
    CHECK_EQ(spi_flash_mmap(0x2d0000, 0x100000, SPI_FLASH_MMAP_DATA, &p[2], &hd[2]), ESP_OK); /* B: 16 */
    CHECK_EQ(spi_flash_mmap(0x1b0000, 0x1000, SPI_FLASH_MMAP_DATA, &p[3], &hd[3]), ESP_OK);   /* inside A */
    CHECK(p[3] == (const uint8_t *)p[1] + 0x10000);
    CHECK_EQ(fake_idf_mmu_mapped_pages(), 19);
    spi_flash_munmap(hd[3]);
    spi_flash_munmap(hd[1]); /* A erased: 17 pages free, in runs of 2 and 15 */
    CHECK_EQ(spi_flash_mmap_get_free_pages(SPI_FLASH_MMAP_DATA), 15);
    CHECK_EQ(spi_flash_mmap(0x1a0000, 0x100000, SPI_FLASH_MMAP_DATA, &p[1], &hd[1]), ESP_ERR_NOT_FOUND);
    CHECK_EQ(spi_flash_mmap(0x1a8000, 0x1000, SPI_FLASH_MMAP_DATA, &p[1], &hd[1]), ESP_ERR_INVALID_ARG);
    spi_flash_munmap(hd[2]);
    spi_flash_munmap(hd[0]);
    CHECK_EQ(fake_idf_mmu_mapped_pages(), 0);
}

int main(int argc, char **argv)
{
    test_sdkconfig(argc > 1 ? argv[1] : NULL);
    test_boot();
    test_long_inference();
    test_hung_layer();
    test_erase_steps();
    test_cycles();
    test_flow_control();
    test_map_limit();
    test_mmu_first_fit();
    printf("test_esp_port: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
