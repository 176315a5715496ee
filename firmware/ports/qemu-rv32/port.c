/* The port seam (include/edgeai_port.h) for the qemu-rv32 board: bare metal on QEMU's
 * `virt` machine, RV32IMC like the ESP32-C3.
 *
 *   UART      the 16550 at 0x10000000, polled (QEMU connects it to a TCP socket)
 *   flash     the CFI flash at 0x20000000 (layout.h), read in place, programmed with the
 *             Intel command set by functions that run from RAM
 *   counters  mcycle and minstret; under `qemu -icount shift=0` both count retired
 *             instructions exactly, so runs repeat to the instruction
 *   time      the CLINT's mtime (10 MHz), for the UART's timeouts
 */
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "edgeai_port.h"
#include "layout.h"
#include "qemu_rv32.h"

#define REG8(addr) (*(volatile uint8_t *)(uintptr_t)(addr))
#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* ---- UART: NS16550A ------------------------------------------------------------------------ */

#define UART_BASE 0x10000000u
#define UART_RBR (UART_BASE + 0u) /* read: receive buffer; write: THR */
#define UART_IER (UART_BASE + 1u)
#define UART_FCR (UART_BASE + 2u)
#define UART_LCR (UART_BASE + 3u)
#define UART_MCR (UART_BASE + 4u)
#define UART_LSR (UART_BASE + 5u)
#define LSR_DATA_READY 0x01u
#define LSR_THR_EMPTY 0x20u

#define MTIME_LO 0x0200BFF8u
#define MTIME_HI 0x0200BFFCu
#define MTIME_PER_MS 10000u   /* the CLINT timer runs at 10 MHz */
#define WRITE_STALL_MS 1000u /* give up on a write nobody takes for this long */

#define TEST_FINISHER 0x00100000u

static uint64_t mtime(void)
{
    uint32_t hi, lo;
    do {
        hi = REG32(MTIME_HI);
        lo = REG32(MTIME_LO);
    } while (hi != REG32(MTIME_HI));
    return ((uint64_t)hi << 32) | lo;
}

void qemu_rv32_uart_init(void)
{
    REG8(UART_IER) = 0x00u;  /* no interrupts: the firmware polls */
    REG8(UART_LCR) = 0x03u;  /* 8 data bits, no parity, 1 stop bit */
    /* Enable and clear the FIFOs (bytes received so far are gone), trigger level 14: QEMU
     * hands the UART as many bytes at a time as the level allows, so with level 1 it moves
     * one byte per turn of its main loop (18 KB/s) and with 14 about fourteen. */
    REG8(UART_FCR) = 0xC7u;
    REG8(UART_MCR) = 0x03u;  /* DTR, RTS */
}

size_t eai_port_uart_read(uint8_t *buf, size_t max, uint32_t timeout_ms)
{
    size_t n = 0;
    if (max == 0)
        return 0;
    if (!(REG8(UART_LSR) & LSR_DATA_READY)) {
        const uint64_t end = mtime() + (uint64_t)timeout_ms * MTIME_PER_MS;
        while (!(REG8(UART_LSR) & LSR_DATA_READY))
            if (mtime() >= end)
                return 0;
    }
    while (n < max && (REG8(UART_LSR) & LSR_DATA_READY))
        buf[n++] = REG8(UART_RBR);
    return n;
}

/* QEMU's chardev reads the socket only as the UART's FIFO empties: the host's writes wait,
 * nothing is dropped however long the app is busy. */
uint32_t eai_port_uart_rx_bytes(void) { return UINT32_MAX; }

int eai_port_uart_write(const uint8_t *buf, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (!(REG8(UART_LSR) & LSR_THR_EMPTY)) {
            const uint64_t end = mtime() + (uint64_t)WRITE_STALL_MS * MTIME_PER_MS;
            while (!(REG8(UART_LSR) & LSR_THR_EMPTY))
                if (mtime() >= end)
                    return EAI_PORT_ERR_IO;
        }
        REG8(UART_RBR) = buf[i];
    }
    return EAI_PORT_OK;
}

/* ---- flash: CFI, Intel command set ----------------------------------------------------------- */

#define CMD_WRITE_BUFFER 0xE8u
#define LINE_BYTES 2048u /* one buffered write: the size of the CFI write buffer QEMU models */
#define CMD_ERASE 0x20u
#define CMD_CONFIRM 0xD0u
#define CMD_READ_ARRAY 0xFFu
#define CMD_CLEAR_STATUS 0x50u
#define STATUS_READY 0x80u
#define STATUS_ERRORS 0x3Au /* erase, program, voltage and lock errors */

/* The app sees one logical flash: two slot-table sectors, then slot A, then slot B. */
#define SECTOR EAI_PORT_SECTOR_BYTES
#define LOGICAL_BYTES (2u * SECTOR + 2u * QEMU_SLOT_BYTES)

#define RAMFUNC __attribute__((noinline, section(".ramfunc")))

/* Map logical [off, off + n) into one region; its physical start and the region's
 * physical end. 0 if the range is empty, out of bounds or crosses a region. */
static int translate(uint32_t off, size_t n, uint32_t *phys, uint32_t *region_end)
{
    uint32_t base, size, start;
    if (n == 0 || off >= LOGICAL_BYTES || n > LOGICAL_BYTES - off)
        return 0;
    if (off < 2u * SECTOR) {
        start = off / SECTOR * SECTOR;
        base = QEMU_TABLE_OFF + (off / SECTOR) * QEMU_FLASH_BLOCK;
        size = SECTOR;
    } else if (off < 2u * SECTOR + QEMU_SLOT_BYTES) {
        start = 2u * SECTOR;
        base = QEMU_SLOT_A_OFF;
        size = QEMU_SLOT_BYTES;
    } else {
        start = 2u * SECTOR + QEMU_SLOT_BYTES;
        base = QEMU_SLOT_B_OFF;
        size = QEMU_SLOT_BYTES;
    }
    if (n > size - (off - start))
        return 0;
    *phys = base + (off - start);
    *region_end = base + (off < 2u * SECTOR ? QEMU_FLASH_BLOCK : size);
    return 1;
}

/* While the flash runs a command it answers reads with its status, so nothing below may
 * execute from (or read constants from) flash: RAM functions, no calls, no tables. */
static RAMFUNC uint32_t wait_ready(volatile uint32_t *p)
{
    uint32_t status;
    do {
        status = *p;
    } while (!(status & STATUS_READY));
    *p = CMD_CLEAR_STATUS;
    *p = CMD_READ_ARRAY;
    return status & STATUS_ERRORS;
}

static RAMFUNC uint32_t erase_blocks(uint32_t first, uint32_t last)
{
    uint32_t b, errors = 0;
    for (b = first; b < last; b += QEMU_FLASH_BLOCK) {
        volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)(QEMU_FLASH_BASE + b);
        *p = CMD_ERASE;
        *p = CMD_CONFIRM;
        errors |= wait_ready(p);
    }
    return errors;
}

/* Program the words at [phys, phys + 4 * n), physical, 4-aligned and inside one 2048-byte
 * line, with old & new, in one buffered write (Intel's "write to buffer", command 0xE8): the
 * flash leaves read mode once per line rather than once per word, which in QEMU is the cost
 * that counts. */
static RAMFUNC uint32_t program_line(uint32_t phys, uint32_t *words, size_t n)
{
    volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)(QEMU_FLASH_BASE + phys);
    size_t i, changed = 0;
    for (i = 0; i < n; i++) {
        const uint32_t old = p[i];
        words[i] &= old;
        changed |= words[i] != old;
    }
    if (!changed)
        return 0;
    *p = CMD_WRITE_BUFFER;
    while (!(*p & STATUS_READY))
        ;
    *p = (uint32_t)(n - 1u); /* the number of writes that follow, minus one */
    for (i = 0; i < n; i++)
        p[i] = words[i];
    *p = CMD_CONFIRM;
    return wait_ready(p);
}

uint32_t eai_port_flash_size(void) { return LOGICAL_BYTES; }

const uint8_t *eai_port_flash_map(uint32_t off, size_t n)
{
    uint32_t phys, end;
    return translate(off, n, &phys, &end) ? (const uint8_t *)(uintptr_t)(QEMU_FLASH_BASE + phys) : NULL;
}

int eai_port_flash_read(uint32_t off, void *dst, size_t n)
{
    const uint8_t *src = eai_port_flash_map(off, n);
    size_t i;
    if (!src)
        return EAI_PORT_ERR_ARG;
    for (i = 0; i < n; i++)
        ((uint8_t *)dst)[i] = src[i];
    return EAI_PORT_OK;
}

static int is_erased(uint32_t phys, uint32_t end)
{
    const volatile uint32_t *p = (const volatile uint32_t *)(uintptr_t)(QEMU_FLASH_BASE + phys);
    uint32_t i;
    for (i = 0; i < (end - phys) / 4u; i++)
        if (p[i] != 0xFFFFFFFFu)
            return 0;
    return 1;
}

/* Erases whole 256 KiB blocks: from the one holding `off` to the end of the one holding
 * off + n - 1, which stays inside the region (edgeai_port.h allows it). */
int eai_port_flash_erase(uint32_t off, size_t n)
{
    uint32_t phys, region_end, first, last, b;
    if (off % SECTOR || n % SECTOR || !translate(off, n, &phys, &region_end))
        return EAI_PORT_ERR_ARG;
    first = phys / QEMU_FLASH_BLOCK * QEMU_FLASH_BLOCK;
    last = (uint32_t)((phys + n + QEMU_FLASH_BLOCK - 1u) / QEMU_FLASH_BLOCK * QEMU_FLASH_BLOCK);
    for (b = first; b < last; b += QEMU_FLASH_BLOCK)
        if (!is_erased(b, b + QEMU_FLASH_BLOCK) && erase_blocks(b, b + QEMU_FLASH_BLOCK) != 0)
            return EAI_PORT_ERR_IO;
    return EAI_PORT_OK;
}

int eai_port_flash_write(uint32_t off, const void *src, size_t n)
{
    static uint32_t words[LINE_BYTES / 4u];
    const uint8_t *s = (const uint8_t *)src;
    uint32_t phys, end, w, stop;
    size_t nw = 0;
    if (!translate(off, n, &phys, &end))
        return EAI_PORT_ERR_ARG;
    /* Whole words, a 2048-byte line at a time; the bytes of a word outside [phys, phys + n) are
     * 0xFF, so programming (old & new) leaves them as they are. */
    stop = phys + (uint32_t)n;
    for (w = phys / 4u * 4u; w < stop; w += 4u) {
        uint32_t v = 0xFFFFFFFFu, b;
        for (b = 0; b < 4u; b++)
            if (w + b >= phys && w + b < stop)
                v &= ~(0xFFu << (8u * b)) | ((uint32_t)s[w + b - phys] << (8u * b));
        words[nw++] = v;
        if ((w + 4u) % LINE_BYTES == 0 || w + 4u >= stop) {
            if (program_line(w + 4u - 4u * (uint32_t)nw, words, nw) != 0)
                return EAI_PORT_ERR_IO;
            nw = 0;
        }
    }
    return EAI_PORT_OK;
}

/* ---- counters, name, exit -------------------------------------------------------------------- */

static uint32_t csr_mcycleh(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, mcycleh" : "=r"(v));
    return v;
}

static uint32_t csr_minstreth(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, minstreth" : "=r"(v));
    return v;
}

uint64_t eai_port_cycles(void)
{
    uint32_t hi, lo;
    do {
        hi = csr_mcycleh();
        __asm__ volatile("csrr %0, mcycle" : "=r"(lo));
    } while (csr_mcycleh() != hi);
    return ((uint64_t)hi << 32) | lo;
}

uint64_t eai_port_instret(void)
{
    uint32_t hi, lo;
    do {
        hi = csr_minstreth();
        __asm__ volatile("csrr %0, minstret" : "=r"(lo));
    } while (csr_minstreth() != hi);
    return ((uint64_t)hi << 32) | lo;
}

/* The whole flash is in the address space: any model in a slot maps. */
uint32_t eai_port_flash_map_bytes(void) { return UINT32_MAX; }

/* No watchdog on QEMU's virt machine. */
void eai_port_watchdog_feed(void) {}

const char *eai_port_board_name(void) { return "qemu-rv32"; }

void qemu_rv32_exit(uint32_t code)
{
    /* QEMU's test device: 0x5555 ends with status 0, (code << 16) | 0x3333 with `code`. */
    REG32(TEST_FINISHER) = code ? (code << 16) | 0x3333u : 0x5555u;
    for (;;)
        ;
}
