/* An in-memory board behind the port seam (include/edgeai_port.h), for the host tests of the
 * app (test_app.c) and its fuzz target (fuzz/fuzz_app.c): a NOR flash of FLASH_BYTES (writes
 * clear bits, erases set them) that can lose power at any flash operation, possibly tearing
 * it, and a UART that is a pair of buffers. The state is these globals; a test sets them. */
#ifndef EDGEAI_TESTS_FAKE_PORT_H
#define EDGEAI_TESTS_FAKE_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "edgeai_port.h"
#include "frame.h"

#define FLASH_BYTES (64u * 1024u)
#define UNLIMITED 0x7FFFFFFFL

extern uint8_t g_flash[FLASH_BYTES];
extern long g_power; /* flash operations left before the power dies (UNLIMITED: never) */
extern int g_torn;   /* the operation the power dies in does half its work */
extern long g_ops;   /* flash operations done (erase + write) */

/* Host to board: eai_port_uart_read() takes bytes from the front of g_in. */
extern uint8_t g_in[EAI_FRAME_MAX_WIRE + 16];
extern size_t g_in_len;
/* Board to host: eai_port_uart_write() appends to g_out (and fails once it is full). */
extern uint8_t g_out[1u << 16];
extern size_t g_out_len;

extern uint64_t g_cycles, g_instret;
extern unsigned g_feeds; /* eai_port_watchdog_feed() calls */

#endif /* EDGEAI_TESTS_FAKE_PORT_H */
