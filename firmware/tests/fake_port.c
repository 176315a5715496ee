/* The in-memory board of the app's host tests (see fake_port.h). */
#include "fake_port.h"

#include <string.h>

uint8_t g_flash[FLASH_BYTES];
long g_power = UNLIMITED;
int g_torn;
long g_ops;

uint8_t g_in[EAI_FRAME_MAX_WIRE + 16];
size_t g_in_len;
uint8_t g_out[1u << 16];
size_t g_out_len;

uint64_t g_cycles, g_instret;
unsigned g_feeds;

size_t eai_port_uart_read(uint8_t *buf, size_t max, uint32_t timeout_ms)
{
    size_t n = g_in_len < max ? g_in_len : max;
    (void)timeout_ms;
    memcpy(buf, g_in, n);
    memmove(g_in, g_in + n, g_in_len - n);
    g_in_len -= n;
    return n;
}

int eai_port_uart_write(const uint8_t *buf, size_t n)
{
    if (n > sizeof g_out - g_out_len)
        return EAI_PORT_ERR_IO;
    memcpy(g_out + g_out_len, buf, n);
    g_out_len += n;
    return EAI_PORT_OK;
}

uint32_t eai_port_flash_size(void) { return FLASH_BYTES; }

static int in_flash(uint32_t off, size_t n) { return off <= FLASH_BYTES && n <= FLASH_BYTES - off; }

/* 1 if the power is on for this operation; on the dying one, a torn op does half. */
static int power(size_t *n)
{
    if (g_power <= 0)
        return 0;
    if (--g_power == 0) {
        if (!g_torn)
            return 0;
        *n /= 2;
    }
    g_ops++;
    return 1;
}

int eai_port_flash_read(uint32_t off, void *dst, size_t n)
{
    if (!in_flash(off, n))
        return EAI_PORT_ERR_ARG;
    memcpy(dst, g_flash + off, n);
    return EAI_PORT_OK;
}

int eai_port_flash_write(uint32_t off, const void *src, size_t n)
{
    const uint8_t *s = (const uint8_t *)src;
    size_t i;
    if (!in_flash(off, n))
        return EAI_PORT_ERR_ARG;
    if (!power(&n))
        return EAI_PORT_ERR_IO;
    for (i = 0; i < n; i++)
        g_flash[off + i] &= s[i]; /* NOR: a write only clears bits */
    return g_power == 0 ? EAI_PORT_ERR_IO : EAI_PORT_OK;
}

int eai_port_flash_erase(uint32_t off, size_t n)
{
    if (!in_flash(off, n) || off % EAI_PORT_SECTOR_BYTES || n % EAI_PORT_SECTOR_BYTES)
        return EAI_PORT_ERR_ARG;
    if (!power(&n))
        return EAI_PORT_ERR_IO;
    memset(g_flash + off, 0xFF, n);
    return g_power == 0 ? EAI_PORT_ERR_IO : EAI_PORT_OK;
}

const uint8_t *eai_port_flash_map(uint32_t off, size_t n)
{
    return in_flash(off, n) ? g_flash + off : NULL;
}

uint64_t eai_port_cycles(void) { return g_cycles += 7u; }
uint64_t eai_port_instret(void) { return g_instret += 5u; }

const char *eai_port_board_name(void) { return "test"; }
uint32_t eai_port_uart_rx_bytes(void) { return 8192u; }
uint32_t eai_port_flash_map_bytes(void) { return UINT32_MAX; }
void eai_port_watchdog_feed(void) { g_feeds++; }
