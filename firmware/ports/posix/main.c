/* edgeai-sim: the edgeai firmware as a host process, a simulated board.
 *
 *   edgeai-sim --flash PATH [--flash-size BYTES] [--board NAME]
 *
 * The flash is the file PATH (created filled with 0xFF if absent or empty; default size
 * 4 MiB, a multiple of 4096; an existing file of another size is an error), mapped shared
 * so that its contents survive a kill -9. The UART is a new pseudo-terminal; the one line
 *
 *   edgeai-sim: port /dev/pts/N
 *
 * on stdout names it. The simulator then serves docs/protocol.md until SIGTERM or SIGINT
 * (exit status 0). Errors go to stderr: exit status 2 for bad arguments, 1 otherwise.
 * Cycle counts are host nanoseconds (CLOCK_MONOTONIC). */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
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
#define POLL_MS 100u

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
                    "[--board NAME (default sim)]\n", DEFAULT_FLASH_BYTES);
    return 2;
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
    if (sim_flash_open(flash, (uint32_t)flash_size, err, sizeof err) != 0) {
        fprintf(stderr, "edgeai-sim: %s\n", err);
        return 1;
    }
    master = open_pty(&slave, &port);
    if (master < 0) {
        fprintf(stderr, "edgeai-sim: cannot open a pseudo-terminal: %s\n", strerror(errno));
        sim_flash_close();
        return 1;
    }
    sim_set_uart(master);
    sim_set_board(board);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    printf("edgeai-sim: port %s\n", port);
    fflush(stdout);
    (void)eai_app_init();
    while (!g_stop)
        (void)eai_app_poll(POLL_MS);
    close(slave);
    close(master);
    sim_flash_close();
    return 0;
}
