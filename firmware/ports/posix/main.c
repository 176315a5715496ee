/* edgeai-sim: the edgeai firmware as a host process, a simulated board.
 *
 *   edgeai-sim --flash PATH [--flash-size BYTES] [--board NAME] [--lifeline-fd FD]
 *              [--rx-bytes N] [--erase-ms-per-sector MS] [--write-ms-per-page MS]
 *              [--map-bytes N]
 *
 * The flash is the file PATH (created filled with 0xFF if absent or empty; default size
 * 4 MiB, a multiple of 4096; an existing file of another size is an error), locked while
 * the simulator runs; every write reaches the file at once, so its contents survive a
 * kill -9 (port.c). The UART is a new pseudo-terminal; the one line
 *
 *   edgeai-sim: port /dev/pts/N
 *
 * on stdout names it. The simulator then serves docs/protocol.md until SIGTERM or SIGINT or,
 * with --lifeline-fd FD, until FD (the read end of a pipe whose write end the host keeps)
 * reaches its end: the host has gone, however it ended (exit status 0). Errors go to stderr:
 * exit status 2 for bad arguments, 3 when another process holds PATH's lock (another board
 * uses that flash), 1 otherwise. Cycle counts are host nanoseconds (CLOCK_MONOTONIC).
 *
 * By default the board is ideal. The other options make it behave like a real chip (port.c):
 * --rx-bytes N keeps at most N received bytes that the app has not read yet, dropping the
 * rest (an ESP32's UART ring); --erase-ms-per-sector and --write-ms-per-page make flash
 * erases (per 4 KiB) and writes (per 256-byte page) take time; --map-bytes N maps no model
 * larger than N (so UPLOAD_BEGIN refuses one). With --rx-bytes, the simulator says on
 * stderr, when it stops,
 *
 *   edgeai-sim: received R bytes from the host, dropped D (receive buffer N bytes)
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "app.h"
#include "edgeai_port.h"
#include "sim.h"

#define DEFAULT_FLASH_BYTES (4u * 1024u * 1024u)
#define POLL_MS 100u                       /* also how often the lifeline is looked at */
#define MIN_RX_BYTES 64u                   /* --rx-bytes: fewer would not hold a request */
#define MAX_RX_BYTES (16u * 1024u * 1024u)

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "edgeai-sim: %s\n", msg);
    fprintf(stderr, "usage: edgeai-sim --flash PATH [--flash-size BYTES (default %u)] "
                    "[--board NAME (default sim)] [--lifeline-fd FD] [--rx-bytes N] "
                    "[--erase-ms-per-sector MS] [--write-ms-per-page MS] [--map-bytes N]\n",
            DEFAULT_FLASH_BYTES);
    return 2;
}

/* A whole number in [lo, hi], or -1. */
static int parse_u32(const char *s, unsigned long long lo, unsigned long long hi, uint32_t *out)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno || *end || end == s || *s == '-' || v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Milliseconds: a number from 0 to 60000, or -1. */
static int parse_ms(const char *s, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= 0.0 && v <= 60000.0))
        return -1;
    *out = v;
    return 0;
}

/* Whether the host has gone: its end of the lifeline pipe is closed (end of file). A byte the
 * host writes is read and ignored. */
static int host_gone(int fd)
{
    struct pollfd pfd;
    char c;
    ssize_t n;
    if (fd < 0)
        return 0;
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) <= 0)
        return 0;
    n = read(fd, &c, 1);
    return n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
}

/* Raw bytes: no echo, no line editing, no CR/LF translation, no signals, 8 bits. */
static int set_raw(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0)
        return -1;
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    return tcsetattr(fd, TCSANOW, &t);
}

/* A pseudo-terminal: returns the master fd (non-blocking) and keeps the slave open in
 * *slave, so the master never reads EIO while the host closes and reopens the port. */
static int open_pty(int *slave, const char **name)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY), flags;
    if (m < 0)
        return -1;
    if (grantpt(m) != 0 || unlockpt(m) != 0 || (*name = ptsname(m)) == NULL)
        goto fail;
    *slave = open(*name, O_RDWR | O_NOCTTY);
    if (*slave < 0)
        goto fail;
    if (set_raw(*slave) != 0) {
        close(*slave);
        goto fail;
    }
    flags = fcntl(m, F_GETFL);
    if (flags < 0 || fcntl(m, F_SETFL, flags | O_NONBLOCK) != 0) {
        close(*slave);
        goto fail;
    }
    return m;
fail:
    close(m);
    return -1;
}

int main(int argc, char **argv)
{
    const char *flash = NULL, *board = "sim", *port;
    unsigned long long flash_size = DEFAULT_FLASH_BYTES;
    uint32_t rx_bytes = UINT32_MAX, map_bytes = UINT32_MAX, lifeline_arg;
    int lifeline = -1, opened;
    double erase_ms = 0.0, write_ms = 0.0;
    char err[512];
    struct sigaction sa;
    int i, master, slave;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(NULL);
            return 0;
        }
        if (i + 1 >= argc)
            return usage("missing value after an option, or unknown argument");
        if (strcmp(a, "--flash") == 0) {
            flash = argv[++i];
        } else if (strcmp(a, "--board") == 0) {
            board = argv[++i];
        } else if (strcmp(a, "--flash-size") == 0) {
            char *end;
            errno = 0;
            flash_size = strtoull(argv[++i], &end, 0);
            if (errno || *end || end == argv[i])
                return usage("--flash-size takes a number of bytes");
        } else if (strcmp(a, "--lifeline-fd") == 0) {
            if (parse_u32(argv[++i], 0u, 65535u, &lifeline_arg) != 0 ||
                fcntl((int)lifeline_arg, F_GETFD) < 0)
                return usage("--lifeline-fd takes an open file descriptor");
            lifeline = (int)lifeline_arg;
        } else if (strcmp(a, "--rx-bytes") == 0) {
            if (parse_u32(argv[++i], MIN_RX_BYTES, MAX_RX_BYTES, &rx_bytes) != 0)
                return usage("--rx-bytes takes a number of bytes from 64 to 16 MiB");
        } else if (strcmp(a, "--map-bytes") == 0) {
            if (parse_u32(argv[++i], EAI_PORT_SECTOR_BYTES, UINT32_MAX - 1u, &map_bytes) != 0)
                return usage("--map-bytes takes a number of bytes of at least 4096");
        } else if (strcmp(a, "--erase-ms-per-sector") == 0) {
            if (parse_ms(argv[++i], &erase_ms) != 0)
                return usage("--erase-ms-per-sector takes milliseconds from 0 to 60000");
        } else if (strcmp(a, "--write-ms-per-page") == 0) {
            if (parse_ms(argv[++i], &write_ms) != 0)
                return usage("--write-ms-per-page takes milliseconds from 0 to 60000");
        } else {
            return usage("unknown argument");
        }
    }
    if (!flash)
        return usage("--flash PATH is required");
    if (flash_size < 4u * EAI_PORT_SECTOR_BYTES || flash_size > 0x80000000ull ||
        flash_size % EAI_PORT_SECTOR_BYTES)
        return usage("--flash-size must be a multiple of 4096 from 16384 to 2 GiB");
    if (*board == 0 || strlen(board) > 64)
        return usage("--board takes a name of 1 to 64 characters");
    opened = sim_flash_open(flash, (uint32_t)flash_size, err, sizeof err);
    if (opened != 0) {
        fprintf(stderr, "edgeai-sim: %s\n", err);
        return opened == SIM_FLASH_IN_USE ? 3 : 1;
    }
    master = open_pty(&slave, &port);
    if (master < 0) {
        fprintf(stderr, "edgeai-sim: cannot open a pseudo-terminal: %s\n", strerror(errno));
        sim_flash_close();
        return 1;
    }
    sim_set_uart(master);
    sim_set_board(board);
    sim_set_flash_timing(erase_ms, write_ms);
    sim_set_map_bytes(map_bytes);
    if (sim_set_rx_bytes(rx_bytes) != 0) {
        fprintf(stderr, "edgeai-sim: cannot allocate a receive buffer of %lu bytes\n", (unsigned long)rx_bytes);
        close(slave);
        close(master);
        sim_flash_close();
        return 1;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    printf("edgeai-sim: port %s\n", port);
    fflush(stdout);
    (void)eai_app_init();
    while (!g_stop && !host_gone(lifeline))
        (void)eai_app_poll(POLL_MS);
    if (rx_bytes != UINT32_MAX) {
        uint64_t received, dropped;
        sim_rx_stats(&received, &dropped);
        fprintf(stderr, "edgeai-sim: received %llu bytes from the host, dropped %llu (receive buffer %lu bytes)\n",
                (unsigned long long)received, (unsigned long long)dropped, (unsigned long)rx_bytes);
    }
    close(slave);
    close(master);
    sim_flash_close();
    (void)sim_set_rx_bytes(UINT32_MAX);
    return 0;
}
