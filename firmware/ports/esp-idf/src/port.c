/* The port seam (include/edgeai_port.h) for ESP32, ESP32-S3, ESP32-C3 and ESP32-C6 on
 * ESP-IDF v5 (5.1 or later: ESP_PARTITION_MMAP_DATA and the ESP32-C6 need it).
 *
 *   UART      UART0 at 921600 8N1 through the ESP-IDF UART driver; on all four devkits it is
 *             the USB-UART bridge. The console is off (sdkconfig.defaults), so no log text
 *             ever lands in the protocol stream.
 *   flash     three data partitions (partitions.csv) seen as one logical flash:
 *               [0, 8192)            eai_table  the two slot-table sectors
 *               [8192, 8192 + S)     model_a    slot A
 *               [8192 + S, 8192+2S)  model_b    slot B
 *             S = the smaller of model_a and model_b, rounded down to 4096. A range must lie
 *             in one of the three; one that crosses a boundary is refused. The flash erases
 *             4 KiB sectors, so an erase is exactly the range asked for.
 *   map       each region is mapped whole (esp_partition_mmap, data space) on the first
 *             eai_port_flash_map() into it and stays mapped: every pointer into it stays
 *             valid, whatever ranges are mapped after, until the next erase or write of that
 *             region, which unmaps it first. At most one live mapping per region: 39 of the
 *             MMU's 64 KiB pages for all three with the stock layout (1 + 19 + 19).
 *   cycles    esp_cpu_get_cycle_count(), 32 bits, widened to 64 by adding the wrapped
 *             difference at each call (see eai_port_cycles).
 *   instret   none (EAI_PORT_NO_COUNT).
 *
 * Everything here runs in the one task that calls app_main(); nothing locks.
 */
#include <stddef.h>
#include <stdint.h>

#include "driver/uart.h"
#include "esp_cpu.h"
#include "esp_err.h"
#include "esp_intr_alloc.h"
#include "esp_log.h"
#include "esp_partition.h"
#include "freertos/FreeRTOS.h"
#include "sdkconfig.h"
#include "soc/uart_pins.h"

#include "eai_esp.h"
#include "edgeai_port.h"

static const char *const TAG = "edgeai"; /* ESP_LOG text goes nowhere unless a console is set */

/* ---- UART ---------------------------------------------------------------------------------- */

#define LINK_UART UART_NUM_0
#define LINK_BAUD 921600
/* Ring buffers of the UART driver (heap, allocated once by uart_driver_install): room for a
 * whole frame of the largest size (4096-byte payload, COBS-framed: under 4200 bytes) and the
 * start of the next, so bytes that arrive while a request runs are kept. */
#define LINK_RX_RING 8192
#define LINK_TX_RING 8192
#define LINK_MAX_WAIT_MS 60000u /* longest single wait; the caller polls again (pdMS_TO_TICKS
                                   multiplies in TickType_t, 32 bits) */

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
    TickType_t wait;
    size_t more = 0;
    int got;
    if (buf == NULL || max == 0)
        return 0;
    if (timeout_ms > LINK_MAX_WAIT_MS)
        timeout_ms = LINK_MAX_WAIT_MS;
    wait = pdMS_TO_TICKS(timeout_ms);
    if (wait == 0 && timeout_ms > 0)
        wait = 1; /* under one tick: wait one, not zero */
    got = uart_read_bytes(LINK_UART, buf, 1, wait);
    if (got <= 0)
        return 0; /* timeout (or the driver is not installed) */
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

/* ---- flash --------------------------------------------------------------------------------- */

#define SECTOR EAI_PORT_SECTOR_BYTES
#define TABLE_BYTES (2u * SECTOR) /* two slot-table sectors */
#define REGIONS 3

typedef struct {
    const char *label;                   /* partition label in partitions.csv */
    const esp_partition_t *part;         /* NULL until found */
    uint32_t base;                       /* logical offset of the region */
    uint32_t size;                       /* logical bytes (<= the partition's size) */
    const uint8_t *map;                  /* start of the live mapping of [0, size), or NULL */
    esp_partition_mmap_handle_t handle;  /* its handle, for esp_partition_munmap() */
} region;

static region g_regions[REGIONS] = {
    {"eai_table", NULL, 0, 0, NULL, 0},
    {"model_a", NULL, 0, 0, NULL, 0},
    {"model_b", NULL, 0, 0, NULL, 0},
};
static uint32_t g_flash_size; /* logical bytes; 0 when the layout is unusable */
static int g_flash_looked;    /* the partitions were looked up (once) */

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

/* Find the three partitions and lay out the logical flash, once. */
static void flash_setup(void)
{
    uint32_t slot;
    int i;
    if (g_flash_looked)
        return;
    g_flash_looked = 1;
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

/* Drop a region's mapping: before it is erased or written, so no pointer into it survives. */
static void unmap(region *r)
{
    if (r->map != NULL) {
        esp_partition_munmap(r->handle);
        r->map = NULL;
        r->handle = 0;
    }
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

/* SPI NOR programming only clears bits, as the seam asks: no read-modify-write here. */
int eai_port_flash_write(uint32_t off, const void *src, size_t n)
{
    uint32_t rel;
    region *r;
    if (n == 0)
        return off <= eai_port_flash_size() ? EAI_PORT_OK : EAI_PORT_ERR_ARG;
    if (src == NULL || (r = locate(off, n, &rel)) == NULL)
        return EAI_PORT_ERR_ARG;
    unmap(r);
    return esp_partition_write(r->part, rel, src, n) == ESP_OK ? EAI_PORT_OK : EAI_PORT_ERR_IO;
}

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
    unmap(r);
    return esp_partition_erase_range(r->part, rel, n) == ESP_OK ? EAI_PORT_OK : EAI_PORT_ERR_IO;
}

/* The partitions start on 4 KiB boundaries and the MMU maps whole 64 KiB pages with the
 * partition's own offset inside the page, so the pointer is 4-byte aligned whenever off is. */
const uint8_t *eai_port_flash_map(uint32_t off, size_t n)
{
    uint32_t rel;
    region *r = locate(off, n, &rel);
    if (r == NULL)
        return NULL;
    if (r->map == NULL) {
        const void *p = NULL;
        esp_partition_mmap_handle_t h = 0;
        const esp_err_t err = esp_partition_mmap(r->part, 0, r->size, ESP_PARTITION_MMAP_DATA, &p, &h);
        if (err != ESP_OK || p == NULL) {
            ESP_LOGE(TAG, "mmap '%s': %s", r->label, esp_err_to_name(err));
            return NULL;
        }
        r->map = (const uint8_t *)p;
        r->handle = h;
    }
    return r->map + rel;
}

/* ---- counters and name --------------------------------------------------------------------- */

/* The CPU's cycle counter is 32 bits: it wraps every 2^32 cycles, 17.9 s at 240 MHz and 26.8 s
 * at 160 MHz. Each call adds the cycles since the previous call, modulo 2^32, so the count is
 * monotonic and the difference of two calls is exact as long as they are less than one wrap
 * apart: the app reads the counter around each layer and each inference, so a single layer
 * (or an INVOKE, for its total) must take less than that. Idle time longer than a wrap only
 * loses whole wraps from the absolute value, which nothing uses. The counter is per core; the
 * main task is pinned to core 0 (CONFIG_ESP_MAIN_TASK_AFFINITY_CPU0, ESP-IDF's default). */
uint64_t eai_port_cycles(void)
{
    static uint64_t total;
    static uint32_t last;
    const uint32_t now = (uint32_t)esp_cpu_get_cycle_count();
    total += (uint32_t)(now - last);
    last = now;
    return total;
}

/* ESP-IDF v5 has no retired-instruction counter that works on all four chips: its perfmon
 * component counts instructions on the Xtensa ESP32 and ESP32-S3 only, and on the RISC-V C3
 * and C6 the one performance counter is the cycle counter esp_cpu_get_cycle_count() reads.
 * So: none, on all four alike. */
uint64_t eai_port_instret(void) { return EAI_PORT_NO_COUNT; }

/* "esp32", "esp32s3", "esp32c3" or "esp32c6", as the board files in boards/ name them. */
const char *eai_port_board_name(void) { return CONFIG_IDF_TARGET; }
