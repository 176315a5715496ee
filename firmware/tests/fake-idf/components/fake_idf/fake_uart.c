/* The fake UART0: the host's wire, the 128-byte hardware FIFO, the driver's interrupt and RX ring
 * buffer, and the bytes the board sends (see fake_idf.h).
 *
 * The driver's interrupt (uart_rx_intr_handler_default in esp_driver_uart/src/uart.c) reads the
 * FIFO into a stash and pushes the stash into the ring buffer; when the ring has no room for
 * the whole stash it keeps the stash, disables the RX interrupts and waits for the app to read
 * (uart_read_bytes then pushes the stash and re-enables them). Meanwhile the FIFO fills; on
 * overflow the driver resets it, losing its bytes. The fake runs that interrupt as each byte
 * arrives (the real one runs at 120 bytes or a short idle), so a stash holds what the FIFO held.
 */
#include <stdlib.h>
#include <string.h>

#include "fake_idf_priv.h"
#include "esp_intr_alloc.h"
#include "soc/soc_caps.h"

#define FIFO SOC_UART_FIFO_LEN
#define WIRE_MAX (1u << 17)   /* host bytes on the way */
#define RING_MAX (1u << 16)   /* largest rx_buffer_size the fake accepts */
#define TX_MAX (1u << 18)     /* board output the test has not taken yet */

/* the wire: a train of bytes sent back to back; byte k of the train (counting from the train's
 * start at s_t0) arrives at s_t0 + (k + 1) * 10 * Hz / baud */
static uint8_t *s_wire; /* WIRE_MAX bytes; these buffers are on the heap (see fake_flash.c) */
static size_t s_wire_head, s_wire_len;
static uint64_t s_t0, s_k; /* train start and index of the head byte in it */
static uint32_t s_baud = 115200;

static uint8_t s_fifo[FIFO];
static size_t s_fifo_n;
static uint8_t s_stash[FIFO];
static size_t s_stash_n;
static uint8_t *s_ring; /* RING_MAX */
static size_t s_ring_cap, s_ring_head, s_ring_n, s_tx_cap;
static int s_installed, s_iram, s_flash_busy;
static uint64_t s_dropped;

static uint8_t *s_tx; /* TX_MAX */
static size_t s_tx_len;

static uint64_t byte_arrival(uint64_t k)
{
    const uint64_t hz = (uint64_t)fidf_mhz() * 1000000u;
    return s_t0 + ((k + 1u) * 10u * hz + s_baud - 1u) / s_baud;
}

uint64_t fidf_uart_next_arrival(void) { return s_wire_len ? byte_arrival(s_k) : UINT64_MAX; }

static size_t ring_free(void) { return s_ring_cap - s_ring_n; }

static void ring_push(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        s_ring[(s_ring_head + s_ring_n + i) % s_ring_cap] = p[i];
    s_ring_n += n;
}

/* The driver's RX interrupt: FIFO -> stash -> ring. */
static void rx_isr(void)
{
    if (!s_installed || (s_flash_busy && !s_iram) || s_stash_n > 0 || s_fifo_n == 0)
        return;
    memcpy(s_stash, s_fifo, s_fifo_n);
    s_stash_n = s_fifo_n;
    s_fifo_n = 0;
    if (ring_free() >= s_stash_n) {
        ring_push(s_stash, s_stash_n);
        s_stash_n = 0;
    } /* else: the stash waits, the RX interrupts are off until the app reads */
}

static void arrive(uint8_t b)
{
    if (!s_installed) {
        s_dropped++; /* nothing services the FIFO; the port flushes what is left at install */
        return;
    }
    if (s_fifo_n == FIFO) { /* overflow: the driver resets the FIFO */
        s_dropped += s_fifo_n + 1u;
        s_fifo_n = 0;
        return;
    }
    s_fifo[s_fifo_n++] = b;
    rx_isr();
}

void fidf_uart_deliver(uint64_t now)
{
    while (s_wire_len > 0 && byte_arrival(s_k) <= now) {
        const uint8_t b = s_wire[s_wire_head];
        s_wire_head = (s_wire_head + 1u) % WIRE_MAX;
        s_wire_len--;
        s_k++;
        arrive(b);
    }
}

void fidf_uart_flash_busy(int busy)
{
    s_flash_busy = busy;
    if (!busy)
        rx_isr(); /* the interrupt that was held off runs now */
}

/* ---- the driver's side ------------------------------------------------------------------------ */

esp_err_t fidf_uart_install(int port, int rx_size, int tx_size, int intr_flags)
{
    if (port != 0)
        return ESP_ERR_NOT_SUPPORTED; /* the fake models UART0, the link, only */
    if (s_installed)
        return ESP_FAIL; /* "UART driver already installed" */
    if (rx_size <= FIFO || (size_t)rx_size > RING_MAX || (tx_size != 0 && tx_size <= FIFO) || tx_size < 0)
        return ESP_FAIL; /* the real driver: "uart rx buffer length error" / tx likewise */
    s_ring_cap = (size_t)rx_size;
    s_tx_cap = (size_t)tx_size;
    s_ring_head = s_ring_n = 0;
    s_stash_n = 0;
    s_iram = (intr_flags & ESP_INTR_FLAG_IRAM) != 0;
    s_installed = 1;
    return ESP_OK;
}

esp_err_t fidf_uart_delete(int port)
{
    if (port != 0 || !s_installed)
        return ESP_OK; /* the real one logs and returns ESP_OK for a port with no driver */
    s_installed = 0;
    s_ring_cap = s_ring_n = s_stash_n = 0;
    return ESP_OK;
}

int fidf_uart_installed(int port) { return port == 0 && s_installed; }

esp_err_t fidf_uart_config(int port, int baud)
{
    if (port != 0)
        return ESP_ERR_NOT_SUPPORTED;
    if (baud <= 0 || baud > 5000000)
        return ESP_ERR_INVALID_ARG;
    fidf_uart_deliver(fidf_now()); /* bytes already arrived used the old rate */
    if (s_wire_len > 0) {           /* the rest of the train continues at the new rate */
        s_t0 = fidf_now();
        s_k = 0;
    }
    s_baud = (uint32_t)baud;
    return ESP_OK;
}

size_t fidf_uart_rx_take(uint8_t *buf, size_t max)
{
    size_t n = 0;
    while (n < max && s_ring_n > 0) {
        buf[n++] = s_ring[s_ring_head];
        s_ring_head = (s_ring_head + 1u) % s_ring_cap;
        s_ring_n--;
    }
    if (s_stash_n > 0 && ring_free() >= s_stash_n) { /* uart_check_buf_full() */
        ring_push(s_stash, s_stash_n);
        s_stash_n = 0;
        rx_isr();
    }
    return n;
}

size_t fidf_uart_rx_buffered(void) { return s_ring_n; }

void fidf_uart_rx_flush(void)
{
    s_ring_head = s_ring_n = 0;
    s_stash_n = 0;
    s_fifo_n = 0;
}

size_t fidf_uart_tx(const uint8_t *buf, size_t n)
{
    if (n > TX_MAX - s_tx_len)
        n = TX_MAX - s_tx_len; /* the test stopped taking the output: the rest is lost */
    memcpy(s_tx + s_tx_len, buf, n);
    s_tx_len += n;
    return n;
}

size_t fidf_uart_tx_free(void) { return s_tx_cap; }

int fidf_uart_wait(uint64_t cycles)
{
    const uint64_t now0 = fidf_now();
    const uint64_t deadline = cycles > UINT64_MAX - now0 ? UINT64_MAX : now0 + cycles;
    for (;;) {
        uint64_t next;
        if (s_ring_n > 0)
            return 1;
        fidf_wdt_idle_ran(); /* the main task blocks: the idle task runs */
        if (fidf_now() >= deadline)
            return 0;
        next = fidf_uart_next_arrival();
        if (next == UINT64_MAX) {
            fidf_idle(); /* nothing will come: the host's turn (returns outside fake_idf_run) */
            if (deadline == UINT64_MAX)
                return 0;
            fidf_advance(deadline - fidf_now());
            continue;
        }
        if (next > deadline)
            next = deadline;
        fidf_advance(next > fidf_now() ? next - fidf_now() : 0);
    }
}

/* ---- power ------------------------------------------------------------------------------------- */

void fidf_uart_power_on(void)
{
    if (s_wire == NULL)
        s_wire = (uint8_t *)malloc(WIRE_MAX);
    if (s_ring == NULL)
        s_ring = (uint8_t *)malloc(RING_MAX);
    if (s_tx == NULL)
        s_tx = (uint8_t *)malloc(TX_MAX);
    if (s_wire == NULL || s_ring == NULL || s_tx == NULL)
        fidf_out_of_memory();
    s_wire_head = s_wire_len = 0;
    s_t0 = s_k = 0;
    s_tx_len = 0;
    s_dropped = 0;
    fidf_uart_boot();
}

void fidf_uart_boot(void)
{
    s_installed = 0;
    s_iram = 0;
    s_flash_busy = 0;
    s_ring_cap = s_ring_head = s_ring_n = s_tx_cap = 0;
    s_stash_n = s_fifo_n = 0;
    s_baud = 115200; /* the ROM's rate until the app configures the UART */
}

/* ---- the host's side --------------------------------------------------------------------------- */

void fake_idf_uart_send(const uint8_t *bytes, size_t n)
{
    size_t i;
    if (bytes == NULL)
        return;
    if (s_wire_len == 0) { /* a new train starts now */
        s_t0 = fidf_now();
        s_k = 0;
    }
    for (i = 0; i < n && s_wire_len < WIRE_MAX; i++) {
        s_wire[(s_wire_head + s_wire_len) % WIRE_MAX] = bytes[i];
        s_wire_len++;
    }
}

size_t fake_idf_uart_in_flight(void) { return s_wire_len; }
size_t fake_idf_uart_rx_buffered(void) { return s_ring_n + s_stash_n + s_fifo_n; }
uint64_t fake_idf_uart_dropped(void) { return s_dropped; }
uint32_t fake_idf_uart_rx_ring_size(void) { return s_installed ? (uint32_t)s_ring_cap : 0u; }
uint32_t fake_idf_uart_baud(void) { return s_baud; }
size_t fake_idf_uart_sent_pending(void) { return s_tx_len; }

size_t fake_idf_uart_take(uint8_t *buf, size_t max)
{
    size_t n = s_tx_len < max ? s_tx_len : max;
    if (buf == NULL)
        return 0;
    memcpy(buf, s_tx, n);
    memmove(s_tx, s_tx + n, s_tx_len - n);
    s_tx_len -= n;
    return n;
}
