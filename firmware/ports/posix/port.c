/* The port seam (include/edgeai_port.h) for the posix simulated board: the UART is the
 * master side of a pseudo-terminal, the flash a file, and "cycles" are host CLOCK_MONOTONIC
 * nanoseconds.
 *
 * The flash file is the board's flash chip, and the board's alone: it is locked (flock,
 * exclusive) while the simulator runs, so a second board on the same file is refused. The
 * board works on its own copy of the flash, read from the file at start and written through
 * to it on every write and erase (so the file holds every write even after a kill -9): what
 * the app maps, checks and runs is that copy, and nothing written to the file underneath
 * (by a process that ignores the lock) can change a model the app has validated. The next
 * start reads the file again, and the app checks what it reads.
 *
 * By default the simulated board is ideal: the kernel's pty buffer holds whatever the host
 * writes, flash operations take no time, and any model maps. main.c's options make it behave
 * like a real chip instead (sim.h):
 *   - a receive ring of N bytes, as the ESP32's UART driver has: the pty is drained into the
 *     ring whenever the port runs (a read, a flash operation's wait), and what does not fit is
 *     dropped. A pty delivers the host's bytes at once (a line of unbounded speed), so the
 *     board keeps at most N bytes it has not processed, busy or not: exactly the window HELLO
 *     announces and the host must respect;
 *   - erases and writes that take time per 4 KiB sector and per 256-byte page, during which
 *     the ring keeps filling (and overflowing) as the UART interrupt would fill it;
 *   - a map limit: the largest model eai_port_flash_map() maps. */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edgeai_port.h"
#include "sim.h"

#define WRITE_STALL_MS 1000 /* give up on a write nobody reads for this long */
#define PAGE_BYTES 256u      /* the NOR flash's program page */
#define DRAIN_BYTES 4096u    /* bytes taken from the pty per read() */
#define LOCK_TRIES 10        /* opens of a flash file that keeps being replaced under us */

static uint8_t *g_flash; /* the board's copy of its flash */
static uint32_t g_flash_size;
static int g_flash_fd = -1; /* the flash file, open and locked */
static int g_uart = -1;
static const char *g_board = "sim";

/* The receive ring (g_ring NULL: none, read the pty directly). */
static uint8_t *g_ring;
static uint32_t g_ring_cap = UINT32_MAX, g_ring_head, g_ring_len;
static uint64_t g_rx_total, g_rx_dropped;

static double g_erase_ms_per_sector, g_write_ms_per_page;
static uint32_t g_map_bytes = UINT32_MAX;

/* Write the copy's bytes [off, off + n) to the file. 0, or -1 (errno set). */
static int write_through(uint32_t off, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(g_flash_fd, g_flash + off + done, n - done, (off_t)off + (off_t)done);
        if (w > 0)
            done += (size_t)w;
        else if (!(w < 0 && errno == EINTR))
            return -1;
    }
    return 0;
}

/* Read the file's first `size` bytes into the copy. 0, or -1 (errno set, or 0 if the file
 * is shorter). */
static int read_all(uint32_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t r = pread(g_flash_fd, g_flash + done, size - done, (off_t)done);
        if (r > 0) {
            done += (size_t)r;
        } else if (r == 0) {
            errno = 0;
            return -1;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

/* Open `path` (creating it) and lock it, exclusively and without waiting. A writer that
 * replaces the file (edgeai flash writes a copy and renames it over the old one) locks the
 * copy before the rename, so the file locked here must still be the one at `path`, or it
 * is opened again. The fd, or -1 with a message in `err` and, if another process holds the
 * lock, SIM_FLASH_IN_USE in *why (else -1). */
static int open_locked(const char *path, char *err, size_t err_len, int *why)
{
    int tries;
    *why = -1;
    for (tries = 0; tries < LOCK_TRIES; tries++) {
        struct stat held, named;
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            snprintf(err, err_len, "%s: %s", path, strerror(errno));
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int e = errno;
            close(fd);
            if (e == EWOULDBLOCK) {
                snprintf(err, err_len, "%s is in use by another board (it holds the file's lock): "
                         "wait for it to stop, or give this board another --flash file", path);
                *why = SIM_FLASH_IN_USE;
            } else {
                snprintf(err, err_len, "%s: cannot lock it: %s", path, strerror(e));
            }
            return -1;
        }
        if (fstat(fd, &held) == 0 && stat(path, &named) == 0 && held.st_dev == named.st_dev &&
            held.st_ino == named.st_ino)
            return fd;
        close(fd); /* replaced (or removed) between the open and the lock */
    }
    snprintf(err, err_len, "%s keeps being replaced by another process; stop it and retry", path);
    return -1;
}

int sim_flash_open(const char *path, uint32_t size, char *err, size_t err_len)
{
    struct stat st;
    int fresh, why;
    void *p;
    g_flash_fd = open_locked(path, err, err_len, &why);
    if (g_flash_fd < 0)
        return why;
    if (fstat(g_flash_fd, &st) != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        goto fail;
    }
    fresh = st.st_size == 0;
    if (!fresh && (uint64_t)st.st_size != size) {
        snprintf(err, err_len, "%s holds %lld bytes of flash, not the %lu asked for (--flash-size)",
                 path, (long long)st.st_size, (unsigned long)size);
        goto fail;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, err_len, "cannot allocate %lu bytes of flash: %s", (unsigned long)size,
                 strerror(errno));
        goto fail;
    }
    g_flash = (uint8_t *)p;
    g_flash_size = size;
    if (fresh) {
        memset(g_flash, 0xFF, size); /* erased flash */
        if (write_through(0, size) != 0) {
            snprintf(err, err_len, "%s: %s", path, strerror(errno));
            goto fail;
        }
    } else if (read_all(size) != 0) {
        snprintf(err, err_len, "%s: %s", path,
                 errno ? strerror(errno) : "shorter than it was a moment ago");
        goto fail;
    }
    return 0;
fail:
    sim_flash_close();
    return -1;
}

void sim_flash_close(void)
{
    if (g_flash) {
        (void)fsync(g_flash_fd);
        munmap(g_flash, g_flash_size);
    }
    if (g_flash_fd >= 0)
        close(g_flash_fd); /* which releases the lock */
    g_flash = NULL;
    g_flash_size = 0;
    g_flash_fd = -1;
}

void sim_set_uart(int fd) { g_uart = fd; }

void sim_set_board(const char *name) { g_board = name; }

int sim_set_rx_bytes(uint32_t n)
{
    free(g_ring);
    g_ring = NULL;
    g_ring_cap = UINT32_MAX;
    g_ring_head = g_ring_len = 0;
    if (n == UINT32_MAX)
        return 0;
    g_ring = (uint8_t *)malloc(n);
    if (!g_ring)
        return -1;
    g_ring_cap = n;
    return 0;
}

void sim_set_flash_timing(double erase_ms_per_sector, double write_ms_per_page)
{
    g_erase_ms_per_sector = erase_ms_per_sector;
    g_write_ms_per_page = write_ms_per_page;
}

void sim_set_map_bytes(uint32_t n) { g_map_bytes = n; }

void sim_rx_stats(uint64_t *received, uint64_t *dropped)
{
    *received = g_rx_total;
    *dropped = g_rx_dropped;
}

/* What the UART interrupt does: move every byte the pty holds into the ring; a byte that
 * finds the ring full is lost. */
static void rx_drain(void)
{
    uint8_t tmp[DRAIN_BYTES];
    for (;;) {
        ssize_t n = read(g_uart, tmp, sizeof tmp);
        size_t i;
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return; /* EAGAIN: the pty is empty */
        }
        g_rx_total += (uint64_t)n;
        for (i = 0; i < (size_t)n; i++) {
            if (g_ring_len < g_ring_cap) {
                g_ring[(g_ring_head + g_ring_len) % g_ring_cap] = tmp[i];
                g_ring_len++;
            } else {
                g_rx_dropped++;
            }
        }
    }
}

static size_t ring_read(uint8_t *buf, size_t max)
{
    size_t n = g_ring_len < max ? g_ring_len : max, i;
    for (i = 0; i < n; i++)
        buf[i] = g_ring[(g_ring_head + i) % g_ring_cap];
    g_ring_head = (uint32_t)((g_ring_head + n) % g_ring_cap);
    g_ring_len -= (uint32_t)n;
    return n;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The flash chip is busy for `ms`: the app waits, while the UART keeps receiving into the
 * ring (and dropping what overflows it). Without a ring the pty holds what arrives. */
static void chip_busy(double ms)
{
    const double end = now_ms() + ms;
    double left;
    while ((left = end - now_ms()) > 0) {
        if (g_ring) {
            struct pollfd pfd;
            pfd.fd = g_uart;
            pfd.events = POLLIN;
            pfd.revents = 0;
            if (poll(&pfd, 1, (int)left + 1) > 0 && (pfd.revents & POLLIN))
                rx_drain();
        } else {
            struct timespec ts;
            ts.tv_sec = (time_t)(left / 1e3);
            ts.tv_nsec = (long)((left - (double)ts.tv_sec * 1e3) * 1e6);
            nanosleep(&ts, NULL);
        }
    }
}

size_t eai_port_uart_read(uint8_t *buf, size_t max, uint32_t timeout_ms)
{
    struct pollfd pfd;
    ssize_t n;
    int r;
    if (g_ring) {
        rx_drain(); /* what arrived while the app was busy: at most the ring's worth survives */
        if (g_ring_len == 0) {
            pfd.fd = g_uart;
            pfd.events = POLLIN;
            pfd.revents = 0;
            r = poll(&pfd, 1, (int)timeout_ms);
            if (r <= 0)
                return 0;
            if (!(pfd.revents & POLLIN)) {
                poll(NULL, 0, (int)timeout_ms);
                return 0;
            }
            rx_drain();
        }
        return ring_read(buf, max);
    }
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

/* Without a ring, a pseudo-terminal holds what the host writes until the simulator reads it. */
uint32_t eai_port_uart_rx_bytes(void) { return g_ring_cap; }

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
    if (write_through(off, n) != 0)
        return EAI_PORT_ERR_IO;
    if (n > 0 && g_write_ms_per_page > 0)
        chip_busy(g_write_ms_per_page * (double)((off + n - 1u) / PAGE_BYTES - off / PAGE_BYTES + 1u));
    return EAI_PORT_OK;
}

int eai_port_flash_erase(uint32_t off, size_t n)
{
    if (!in_flash(off, n) || off % EAI_PORT_SECTOR_BYTES || n % EAI_PORT_SECTOR_BYTES)
        return EAI_PORT_ERR_ARG;
    memset(g_flash + off, 0xFF, n);
    if (write_through(off, n) != 0)
        return EAI_PORT_ERR_IO;
    if (n > 0 && g_erase_ms_per_sector > 0)
        chip_busy(g_erase_ms_per_sector * (double)(n / EAI_PORT_SECTOR_BYTES));
    return EAI_PORT_OK;
}

/* With a map limit, a longer range does not map (as an ESP32 short of MMU pages). */
const uint8_t *eai_port_flash_map(uint32_t off, size_t n)
{
    return in_flash(off, n) && n <= g_map_bytes ? g_flash + off : NULL;
}

uint64_t eai_port_cycles(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A host process cannot count its own instructions cheaply: none. */
uint64_t eai_port_instret(void) { return EAI_PORT_NO_COUNT; }

/* The flash is mapped whole, unless --map-bytes says otherwise. */
uint32_t eai_port_flash_map_bytes(void) { return g_map_bytes; }

/* No watchdog in a host process. */
void eai_port_watchdog_feed(void) {}

const char *eai_port_board_name(void) { return g_board; }
