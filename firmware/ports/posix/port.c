/* The port seam (include/edgeai_port.h) for the posix simulated board: the UART is the
 * master side of a pseudo-terminal, the flash a file mapped MAP_SHARED, and "cycles" are
 * host CLOCK_MONOTONIC nanoseconds. */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edgeai_port.h"
#include "sim.h"

#define WRITE_STALL_MS 1000 /* give up on a write nobody reads for this long */

static uint8_t *g_flash;
static uint32_t g_flash_size;
static int g_uart = -1;
static const char *g_board = "sim";

int sim_flash_open(const char *path, uint32_t size, char *err, size_t err_len)
{
    struct stat st;
    int fd = open(path, O_RDWR | O_CREAT, 0644), fresh;
    void *p;
    if (fd < 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    fresh = st.st_size == 0;
    if (!fresh && (uint64_t)st.st_size != size) {
        snprintf(err, err_len, "%s holds %lld bytes of flash, not the %lu asked for (--flash-size)",
                 path, (long long)st.st_size, (unsigned long)size);
        close(fd);
        return -1;
    }
    if (fresh && ftruncate(fd, (off_t)size) != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, err_len, "%s: mmap: %s", path, strerror(errno));
        return -1;
    }
    g_flash = (uint8_t *)p;
    g_flash_size = size;
    if (fresh)
        memset(g_flash, 0xFF, size); /* erased flash */
    return 0;
}

void sim_flash_close(void)
{
    if (g_flash) {
        msync(g_flash, g_flash_size, MS_SYNC);
        munmap(g_flash, g_flash_size);
    }
    g_flash = NULL;
    g_flash_size = 0;
}

void sim_set_uart(int fd) { g_uart = fd; }

void sim_set_board(const char *name) { g_board = name; }

size_t eai_port_uart_read(uint8_t *buf, size_t max, uint32_t timeout_ms)
{
    struct pollfd pfd;
    ssize_t n;
    int r;
    pfd.fd = g_uart;
    pfd.events = POLLIN;
    pfd.revents = 0;
    r = poll(&pfd, 1, (int)timeout_ms);
    if (r <= 0)
        return 0; /* timeout, or a signal */
    if (!(pfd.revents & POLLIN)) {
        poll(NULL, 0, (int)timeout_ms); /* hung up: do not spin */
        return 0;
    }
    n = read(g_uart, buf, max);
    return n > 0 ? (size_t)n : 0;
}

int eai_port_uart_write(const uint8_t *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(g_uart, buf, n);
        if (w > 0) {
            buf += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd;
            pfd.fd = g_uart;
            pfd.events = POLLOUT;
            pfd.revents = 0;
            if (poll(&pfd, 1, WRITE_STALL_MS) <= 0)
                return EAI_PORT_ERR_IO;
        } else if (!(w < 0 && errno == EINTR)) {
            return EAI_PORT_ERR_IO;
        }
    }
    return EAI_PORT_OK;
}

uint32_t eai_port_flash_size(void) { return g_flash_size; }

static int in_flash(uint32_t off, size_t n)
{
    return g_flash != NULL && off <= g_flash_size && n <= (size_t)(g_flash_size - off);
}

int eai_port_flash_read(uint32_t off, void *dst, size_t n)
{
    if (!dst || !in_flash(off, n))
        return EAI_PORT_ERR_ARG;
    memcpy(dst, g_flash + off, n);
    return EAI_PORT_OK;
}

int eai_port_flash_write(uint32_t off, const void *src, size_t n)
{
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d;
    size_t i;
    if (!src || !in_flash(off, n))
        return EAI_PORT_ERR_ARG;
    d = g_flash + off;
    for (i = 0; i < n; i++)
        d[i] &= s[i]; /* NOR flash: programming clears bits only */
    return EAI_PORT_OK;
}

int eai_port_flash_erase(uint32_t off, size_t n)
{
    if (!in_flash(off, n) || off % EAI_PORT_SECTOR_BYTES || n % EAI_PORT_SECTOR_BYTES)
        return EAI_PORT_ERR_ARG;
    memset(g_flash + off, 0xFF, n);
    return EAI_PORT_OK;
}

const uint8_t *eai_port_flash_map(uint32_t off, size_t n)
{
    return in_flash(off, n) ? g_flash + off : NULL;
}

uint64_t eai_port_cycles(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A host process cannot count its own instructions cheaply: none. */
uint64_t eai_port_instret(void) { return EAI_PORT_NO_COUNT; }

const char *eai_port_board_name(void) { return g_board; }
