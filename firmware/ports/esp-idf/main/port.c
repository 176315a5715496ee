/* The port seam (include/edgeai_port.h) for ESP32, ESP32-S3, ESP32-C3 and ESP32-C6 on
 * ESP-IDF v5 (5.1 or later: ESP_PARTITION_MMAP_DATA and the ESP32-C6 need it).
 *
 *   UART      UART0 at 921600 8N1 through the ESP-IDF UART driver; on all four devkits it is
 *             the USB-UART bridge. The console is off (sdkconfig.defaults), so no log text
 *             ever lands in the protocol stream. While the app is busy the driver keeps what
 *             arrives in its 8 KiB RX ring (eai_port_uart_rx_bytes).
 *   flash     three data partitions (partitions.csv) seen as one logical flash:
 *               [0, 8192)            eai_table  the two slot-table sectors
 *               [8192, 8192 + S)     model_a    slot A
 *               [8192 + S, 8192+2S)  model_b    slot B
 *             S = the smaller of model_a and model_b, rounded down to 4096. A range must lie
 *             in one of the three; one that crosses a boundary is refused. The flash erases
 *             4 KiB sectors, so an erase is exactly the range asked for; a long one is done
 *             64 KiB at a time with the task watchdog fed in between.
 *   map       see "mapping" below: each region has one window, mapped on first use and kept;
 *             eai_port_flash_map_bytes() is the window of a slot when the MMU cannot map
 *             whole slots.
 *   cycles    esp_cpu_get_cycle_count() (32 bits) made exact over any span with the 64-bit
 *             esp_timer_get_time() (see eai_port_cycles).
 *   instret   none (EAI_PORT_NO_COUNT).
 *   watchdog  the task watchdog (sdkconfig.defaults, main.c subscribes the main task);
 *             eai_port_watchdog_feed() resets it.
 *
 * Everything here runs in the one task that calls app_main(); nothing locks.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "driver/uart.h"
#include "esp_cpu.h"
#include "esp_err.h"
#include "esp_intr_alloc.h"
#include "esp_log.h"
#include "esp_partition.h"
#include "esp_task_wdt.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "sdkconfig.h"
#include "soc/uart_pins.h"
#include "spi_flash_mmap.h"

#include "eai_esp.h"
#include "edgeai_port.h"

static const char *const TAG = "edgeai"; /* ESP_LOG text goes nowhere unless a console is set */

/* ---- watchdog ------------------------------------------------------------------------------ */

/* esp_task_wdt_reset() answers ESP_ERR_NOT_FOUND when the calling task is not subscribed (main.c
 * subscribes app_main's task) and ESP_ERR_INVALID_STATE when the task watchdog is not running:
 * either way there is nothing to feed. A spinlock and a short list walk: cheap enough for every
 * layer. */
void eai_port_watchdog_feed(void)
{
#if CONFIG_ESP_TASK_WDT_EN
    (void)esp_task_wdt_reset();
#endif
}

/* ---- UART ---------------------------------------------------------------------------------- */

#define LINK_UART UART_NUM_0
#define LINK_BAUD 921600
/* Ring buffers of the UART driver (heap, allocated once by uart_driver_install): room for a
 * whole frame of the largest size (4096-byte payload, COBS-framed: under 4200 bytes) and the
 * start of the next, so bytes that arrive while a request runs are kept. */
#define LINK_RX_RING 8192
#define LINK_TX_RING 8192
/* A wait for the host is cut into slices of at most this, with the watchdog fed in between:
 * waiting is not hanging, however long the caller asks to wait. */
#define LINK_WAIT_SLICE_MS 1000u

#if CONFIG_UART_ISR_IN_IRAM
#define LINK_INTR_FLAGS ESP_INTR_FLAG_IRAM /* the driver wants the flag to match the option */
#else
#define LINK_INTR_FLAGS 0
#endif

int eai_esp_link_init(void)
{
    const uart_config_t cfg = {
        .baud_rate = LINK_BAUD,
        .data_bits = UART_DATA_8_BITS,
        .parity = UART_PARITY_DISABLE,
        .stop_bits = UART_STOP_BITS_1,
        .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
        .source_clk = UART_SCLK_DEFAULT,
    };
    esp_err_t err = uart_driver_install(LINK_UART, LINK_RX_RING, LINK_TX_RING, 0, NULL, LINK_INTR_FLAGS);
    if (err == ESP_OK)
        err = uart_param_config(LINK_UART, &cfg);
    if (err == ESP_OK) /* UART0's own IO_MUX pins, the ones the bridge is wired to */
        err = uart_set_pin(LINK_UART, U0TXD_GPIO_NUM, U0RXD_GPIO_NUM, UART_PIN_NO_CHANGE,
                           UART_PIN_NO_CHANGE);
    if (err == ESP_OK) /* bytes from before the driver ran are partial frames: drop them */
        err = uart_flush_input(LINK_UART);
    if (err != ESP_OK)
        ESP_LOGE(TAG, "UART%d: %s", (int)LINK_UART, esp_err_to_name(err));
    return err;
}

/* Wait for the first byte, then take what else the driver has buffered, without waiting. */
size_t eai_port_uart_read(uint8_t *buf, size_t max, uint32_t timeout_ms)
{
    size_t more = 0;
    int got;
    if (buf == NULL || max == 0)
        return 0;
    for (;;) {
        const uint32_t slice = timeout_ms < LINK_WAIT_SLICE_MS ? timeout_ms : LINK_WAIT_SLICE_MS;
        TickType_t wait = pdMS_TO_TICKS(slice);
        if (wait == 0 && slice > 0)
            wait = 1; /* under one tick: wait one, not zero */
        got = uart_read_bytes(LINK_UART, buf, 1, wait);
        if (got > 0)
            break;
        if (got < 0 || timeout_ms == slice)
            return 0; /* timeout (or the driver is not installed) */
        timeout_ms -= slice;
        eai_port_watchdog_feed();
    }
    if (max > 1 && uart_get_buffered_data_len(LINK_UART, &more) == ESP_OK && more > 0) {
        if (more > max - 1)
            more = max - 1;
        got = uart_read_bytes(LINK_UART, buf + 1, (uint32_t)more, 0);
        if (got > 0)
            return 1u + (size_t)got;
    }
    return 1;
}

/* With a TX ring buffer, uart_write_bytes() returns once the bytes are queued. Without flow
 * control the UART always drains, so it never blocks for long and never drops. */
int eai_port_uart_write(const uint8_t *buf, size_t n)
{
    int w;
    if (n == 0)
        return EAI_PORT_OK;
    if (buf == NULL)
        return EAI_PORT_ERR_ARG;
    w = uart_write_bytes(LINK_UART, buf, n);
    return w >= 0 && (size_t)w == n ? EAI_PORT_OK : EAI_PORT_ERR_IO;
}

/* What the board keeps while the app is busy: the driver's RX ring, and only that. Behind the
 * ring the driver's interrupt holds one more chunk (its "stash", up to the 128-byte hardware
 * FIFO's worth) when the ring has no room for it, and then the FIFO itself fills; but when the
 * FIFO overflows the driver resets it and loses all of it, so those bytes are not counted: the
 * host may rely on exactly the ring. (The ISR is in IRAM, CONFIG_UART_ISR_IN_IRAM, so it keeps
 * filling the ring while the flash is erased or written with the caches off.) */
uint32_t eai_port_uart_rx_bytes(void) { return LINK_RX_RING; }

/* ---- flash --------------------------------------------------------------------------------- */

#define SECTOR EAI_PORT_SECTOR_BYTES
#define TABLE_BYTES (2u * SECTOR) /* two slot-table sectors */
#define REGIONS 3
#define PAGE ((uint32_t)SPI_FLASH_MMU_PAGE_SIZE) /* the MMU's page, 64 KiB on all four chips */
/* An erase is done in steps of at most one 64 KiB block (aligned in the flash, so ESP-IDF erases
 * it with one block-erase command: 0.15 s typical, 2 s at most on the usual 4 MiB SPI NOR chips;
 * 1.2 MiB take about 14 s), the watchdog fed after each. */
#define ERASE_STEP (64u * 1024u)

/* Mapping. The MMU maps flash into the address space in 64 KiB pages, and there are few:
 *   esp32    64 pages of data space (DROM0, 0x3F400000-0x3F800000: 4 MiB), data only; the app's
 *            own rodata holds the first ones (soc/esp32/include/soc/ext_mem_defs.h and
 *            esp_mm/port/esp32/ext_mem_layout.c of ESP-IDF v5);
 *   esp32c3  128 pages (SOC_MMU_ENTRY_NUM, soc/esp32c3/include/soc/ext_mem_defs.h: 8 MiB),
 *   esp32c6  256 pages (MMU_ENTRY_NUM, soc/esp32c6/include/soc/ext_mem_defs.h: 16 MiB),
 *   esp32s3  512 pages (SOC_MMU_ENTRY_NUM, soc/esp32s3/include/soc/ext_mem_defs.h: 32 MiB),
 *            on these three shared by code and data; the app's code and rodata hold the first.
 * The stock layout needs 1 page for the slot table and 19 for each slot: 39, which fits all four
 * chips unless the app is large; a partitions.csv with bigger slots may not fit.
 *
 * So at setup the port asks how many pages are free (spi_flash_mmap_get_free_pages: in v5 the
 * longest run of free pages, each mapping needing consecutive pages) and gives each region one
 * window: the table's pages, and for each slot as many pages as half of what is left, capped at
 * the slot. A window is mapped (esp_partition_mmap, data space) on the first
 * eai_port_flash_map() into its region and then stays mapped until the next restart, so every
 * pointer stays valid for good (edgeai_port.h asks: until the next erase or write of the range);
 * the flash driver invalidates the cache over what it erases or writes, so the window always
 * reads the flash as it is. When the slot windows are smaller than the slots,
 * eai_port_flash_map_bytes() says so: the largest model a slot's window holds, which keeps
 * true while the other slot's model and the table stay mapped.
 * Why whole windows and not exactly the pages each request needs: ESP-IDF places mappings
 * first-fit (esp_mm/esp_mmu_map.c). Mapping each model's own pages, unmapping them when its slot
 * is erased and mapping a bigger model there later can find the freed run too short and the
 * other free pages cut in two by the other slot's mapping: exact mappings are only safe for
 * models up to a third of the free pages. Windows that are mapped once and never moved allow
 * half of them each, and the tests' fake MMU (tests/fake-idf) shows both. */

typedef struct {
    const char *label;                  /* partition label in partitions.csv */
    const esp_partition_t *part;        /* NULL until found */
    uint32_t base;                      /* logical offset of the region */
    uint32_t size;                      /* logical bytes (<= the partition's size) */
    uint32_t window;                    /* bytes from the region's start that this port maps */
    const uint8_t *map;                 /* the live mapping of [0, window), or NULL */
    esp_partition_mmap_handle_t handle; /* its handle */
} region;

static region g_regions[REGIONS];
static uint32_t g_flash_size; /* logical bytes; 0 when the layout is unusable */
static uint32_t g_map_bytes;  /* eai_port_flash_map_bytes() */
static int g_flash_looked;    /* the partitions were looked up (once) */

static struct {
    int started;
    uint64_t total;   /* cycles, 64 bits */
    uint32_t last_cc; /* the counter at the last reading */
    int64_t last_us;  /* esp_timer at the last reading */
} g_clock;

void eai_esp_port_init(void)
{
    static const char *const labels[REGIONS] = {"eai_table", "model_a", "model_b"};
    int i;
    memset(g_regions, 0, sizeof g_regions);
    for (i = 0; i < REGIONS; i++)
        g_regions[i].label = labels[i];
    g_flash_size = 0;
    g_map_bytes = 0;
    g_flash_looked = 0;
    memset(&g_clock, 0, sizeof g_clock);
}

/* A data partition by label that this port can use: in the chip's SPI flash (4 KiB erase
 * sectors), a whole number of sectors, not encrypted (encrypted writes need a 16-byte
 * alignment the app does not keep). NULL, logged, if not. */
static const esp_partition_t *find_partition(const char *label)
{
    const esp_partition_t *p = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, label);
    if (p == NULL) {
        ESP_LOGE(TAG, "no data partition '%s' (partitions.csv)", label);
        return NULL;
    }
    if (p->encrypted || p->address % SECTOR != 0 || p->size % SECTOR != 0) {
        ESP_LOGE(TAG, "partition '%s' is encrypted or not sector-aligned", label);
        return NULL;
    }
    return p;
}

/* MMU pages that bytes [0, n) of a partition take: esp_partition_mmap() maps from the page that
 * holds its first byte. */
static uint32_t pages_for(const esp_partition_t *p, uint32_t n)
{
    return (uint32_t)(((uint64_t)(p->address % PAGE) + n + PAGE - 1u) / PAGE);
}

/* Bytes from a partition's start that `pages` MMU pages map. */
static uint32_t bytes_in(const esp_partition_t *p, uint32_t pages)
{
    const uint64_t b = (uint64_t)pages * PAGE;
    return b > p->address % PAGE ? (uint32_t)(b - p->address % PAGE) : 0u;
}

/* Size the windows from the free MMU pages (see "Mapping" above). */
static void plan_windows(void)
{
    const uint32_t free_pages = spi_flash_mmap_get_free_pages(SPI_FLASH_MMAP_DATA);
    const uint32_t table_pages = pages_for(g_regions[0].part, TABLE_BYTES);
    const uint32_t slot = g_regions[1].size;
    const uint32_t each = free_pages > table_pages ? (free_pages - table_pages) / 2u : 0u;
    uint32_t limit = slot, i;
    for (i = 1; i < REGIONS; i++) {
        const uint32_t fits = bytes_in(g_regions[i].part, each);
        if (fits < limit)
            limit = fits;
    }
    g_regions[0].window = TABLE_BYTES;
    g_regions[1].window = limit;
    g_regions[2].window = limit;
    g_map_bytes = limit >= slot ? UINT32_MAX : limit;
    ESP_LOGI(TAG, "MMU: %lu free pages; table %lu, each slot %lu (%lu bytes of %lu)",
             (unsigned long)free_pages, (unsigned long)table_pages,
             (unsigned long)pages_for(g_regions[1].part, limit), (unsigned long)limit,
             (unsigned long)slot);
}

/* Find the three partitions and lay out the logical flash, once. */
static void flash_setup(void)
{
    uint32_t slot;
    int i;
    if (g_flash_looked)
        return;
    g_flash_looked = 1;
    if (g_regions[0].label == NULL)
        eai_esp_port_init(); /* a caller that skipped it: the statics are zero at boot */
    for (i = 0; i < REGIONS; i++) {
        g_regions[i].part = find_partition(g_regions[i].label);
        if (g_regions[i].part == NULL)
            return; /* g_flash_size stays 0: the app answers HELLO with slot size 0 */
    }
    if (g_regions[0].part->size < TABLE_BYTES) {
        ESP_LOGE(TAG, "partition 'eai_table' holds %lu bytes, needs %u",
                 (unsigned long)g_regions[0].part->size, TABLE_BYTES);
        return;
    }
    slot = g_regions[1].part->size < g_regions[2].part->size ? g_regions[1].part->size
                                                              : g_regions[2].part->size;
    slot = slot / SECTOR * SECTOR;
    if (slot == 0 || slot > (UINT32_MAX - TABLE_BYTES) / 2u) {
        ESP_LOGE(TAG, "model partitions of %lu bytes", (unsigned long)slot);
        return;
    }
    g_regions[0].base = 0;
    g_regions[0].size = TABLE_BYTES;
    g_regions[1].base = TABLE_BYTES;
    g_regions[1].size = slot;
    g_regions[2].base = TABLE_BYTES + slot;
    g_regions[2].size = slot;
    g_flash_size = TABLE_BYTES + 2u * slot;
    plan_windows();
}

/* The region holding all of [off, off + n) (n may be 0 if off is inside one) and off's offset
 * in it; NULL if the range is out of bounds or crosses a region boundary. */
static region *locate(uint32_t off, size_t n, uint32_t *rel)
{
    int i;
    flash_setup();
    for (i = 0; i < REGIONS && g_flash_size != 0; i++) {
        region *r = &g_regions[i];
        if (off >= r->base && off - r->base < r->size) {
            const uint32_t o = off - r->base;
            if (n > (size_t)(r->size - o))
                return NULL;
            *rel = o;
            return r;
        }
    }
    return NULL;
}

uint32_t eai_port_flash_size(void)
{
    flash_setup();
    return g_flash_size;
}

int eai_port_flash_read(uint32_t off, void *dst, size_t n)
{
    uint32_t rel;
    region *r;
    if (n == 0)
        return off <= eai_port_flash_size() ? EAI_PORT_OK : EAI_PORT_ERR_ARG;
    if (dst == NULL || (r = locate(off, n, &rel)) == NULL)
        return EAI_PORT_ERR_ARG;
    return esp_partition_read(r->part, rel, dst, n) == ESP_OK ? EAI_PORT_OK : EAI_PORT_ERR_IO;
}

/* SPI NOR programming only clears bits, as the seam asks: no read-modify-write here. A window
 * over the range stays mapped and reads the new bytes. */
int eai_port_flash_write(uint32_t off, const void *src, size_t n)
{
    uint32_t rel;
    region *r;
    if (n == 0)
        return off <= eai_port_flash_size() ? EAI_PORT_OK : EAI_PORT_ERR_ARG;
    if (src == NULL || (r = locate(off, n, &rel)) == NULL)
        return EAI_PORT_ERR_ARG;
    return esp_partition_write(r->part, rel, src, n) == ESP_OK ? EAI_PORT_OK : EAI_PORT_ERR_IO;
}

/* In steps of at most one 64 KiB block, feeding the watchdog after each: a slot's erase takes
 * longer than the watchdog's timeout. */
int eai_port_flash_erase(uint32_t off, size_t n)
{
    uint32_t rel;
    region *r;
    if (off % SECTOR != 0 || n % SECTOR != 0)
        return EAI_PORT_ERR_ARG;
    if (n == 0)
        return off <= eai_port_flash_size() ? EAI_PORT_OK : EAI_PORT_ERR_ARG;
    if ((r = locate(off, n, &rel)) == NULL)
        return EAI_PORT_ERR_ARG;
    while (n > 0) {
        const uint32_t addr = r->part->address + rel;
        size_t step = ERASE_STEP - addr % ERASE_STEP; /* to the next block boundary */
        if (step > n)
            step = n;
        if (esp_partition_erase_range(r->part, rel, step) != ESP_OK)
            return EAI_PORT_ERR_IO;
        eai_port_watchdog_feed();
        rel += (uint32_t)step;
        n -= step;
    }
    return EAI_PORT_OK;
}

/* The partitions start on 4 KiB boundaries and the MMU maps whole 64 KiB pages with the
 * partition's own offset inside the page, so the pointer is 4-byte aligned whenever off is. */
const uint8_t *eai_port_flash_map(uint32_t off, size_t n)
{
    uint32_t rel;
    region *r = locate(off, n, &rel);
    if (r == NULL || rel > r->window || n > (size_t)(r->window - rel))
        return NULL; /* out of bounds, or past the window: a model over eai_port_flash_map_bytes() */
    if (r->map == NULL) {
        const void *p = NULL;
        esp_partition_mmap_handle_t h = 0;
        const esp_err_t err = esp_partition_mmap(r->part, 0, r->window, ESP_PARTITION_MMAP_DATA, &p, &h);
        if (err != ESP_OK || p == NULL) {
            ESP_LOGE(TAG, "mmap '%s' (%lu bytes): %s", r->label, (unsigned long)r->window,
                     esp_err_to_name(err));
            return NULL;
        }
        r->map = (const uint8_t *)p;
        r->handle = h;
    }
    return r->map + rel;
}

uint32_t eai_port_flash_map_bytes(void)
{
    flash_setup();
    return g_flash_size != 0 ? g_map_bytes : 0u;
}

/* ---- counters and name --------------------------------------------------------------------- */

#define CPU_MHZ ((uint64_t)CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ)
#define WRAP ((uint64_t)1 << 32)

/* The CPU's cycle counter is 32 bits: it wraps every 2^32 cycles, 17.9 s at 240 MHz and 26.8 s
 * at 160 MHz. The 64-bit microsecond clock (esp_timer, from the same crystal) says how many
 * whole wraps passed between two readings: the cycles it counts, (t1 - t0) x MHz, differ from
 * the counter's wrapped difference by a multiple of 2^32 plus a few microseconds' worth (its
 * resolution and the few cycles between the two reads), so rounding to the nearest multiple
 * gives the exact count however long apart the readings are, as long as the CPU runs at
 * CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ (no dynamic frequency scaling: CONFIG_PM_ENABLE is off). The
 * counter is per core; the main task is pinned to core 0 (CONFIG_ESP_MAIN_TASK_AFFINITY_CPU0). */
uint64_t eai_port_cycles(void)
{
    const int64_t us = esp_timer_get_time();
    const uint32_t cc = (uint32_t)esp_cpu_get_cycle_count();
    if (!g_clock.started) {
        g_clock.started = 1;
        g_clock.total = cc;
    } else {
        const uint32_t wrapped = cc - g_clock.last_cc;
        const uint64_t elapsed = us > g_clock.last_us ? (uint64_t)(us - g_clock.last_us) * CPU_MHZ : 0u;
        const uint64_t wraps = elapsed + WRAP / 2u > wrapped ? (elapsed + WRAP / 2u - wrapped) / WRAP : 0u;
        g_clock.total += wraps * WRAP + wrapped;
    }
    g_clock.last_cc = cc;
    g_clock.last_us = us;
    return g_clock.total;
}

/* ESP-IDF v5 has no retired-instruction counter that works on all four chips: its perfmon
 * component counts instructions on the Xtensa ESP32 and ESP32-S3 only, and on the RISC-V C3
 * and C6 the one performance counter is the cycle counter esp_cpu_get_cycle_count() reads.
 * So: none, on all four alike. */
uint64_t eai_port_instret(void) { return EAI_PORT_NO_COUNT; }

/* "esp32", "esp32s3", "esp32c3" or "esp32c6", as the board files in boards/ name them. */
const char *eai_port_board_name(void) { return CONFIG_IDF_TARGET; }
