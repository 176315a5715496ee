/* edgeai port seam: the only platform code the firmware needs.
 *
 * A port (firmware/ports/<name>/) implements these functions; the app (firmware/app/)
 * calls them and nothing else of the platform. Nothing in the portable code includes a
 * port's files. Functions that can fail return EAI_PORT_OK or a negative code.
 *
 * Flash behaves like NOR flash: an erase sets whole sectors of EAI_PORT_SECTOR_BYTES to
 * 0xFF, and a write can only clear bits (it stores old & new), so a region must be erased
 * before it is written with arbitrary data. Writing the same bytes twice is harmless.
 */
#ifndef EDGEAI_PORT_H
#define EDGEAI_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EAI_PORT_SECTOR_BYTES 4096u /* flash erase unit */

enum eai_port_status {
    EAI_PORT_OK = 0,
    EAI_PORT_ERR_ARG = -1, /* out of bounds or misaligned */
    EAI_PORT_ERR_IO = -2   /* the device or the OS refused */
};

/* Read up to `max` bytes from the host link, waiting at most `timeout_ms` for the first
 * byte. Returns the number of bytes read; 0 on timeout (or when the link is down). */
size_t eai_port_uart_read(uint8_t *buf, size_t max, uint32_t timeout_ms);

/* Bytes from the host that the port keeps while the app is busy and not reading (a request
 * running, a flash erase): what arrives beyond them is lost. HELLO announces it, and the host
 * never has more bytes in flight than this. UINT32_MAX for a link that never drops (a
 * transport with flow control of its own). */
uint32_t eai_port_uart_rx_bytes(void);

/* Write `n` bytes to the host link. May drop bytes when nobody reads for a long time
 * (then returns EAI_PORT_ERR_IO); the protocol's retries recover. */
int eai_port_uart_write(const uint8_t *buf, size_t n);

/* Bytes of flash the firmware may use for its slot table and model slots (from offset 0),
 * a multiple of EAI_PORT_SECTOR_BYTES. */
uint32_t eai_port_flash_size(void);

/* Copy `n` bytes at flash offset `off` to `dst`. */
int eai_port_flash_read(uint32_t off, void *dst, size_t n);

/* Program `n` bytes at `off` (NOR semantics: clears bits only; erase first). */
int eai_port_flash_write(uint32_t off, const void *src, size_t n);

/* Erase [off, off + n) to 0xFF; `off` and `n` must be multiples of EAI_PORT_SECTOR_BYTES.
 * A port whose flash erases in larger blocks may erase past off + n, to the end of its erase
 * block, but never past the end of the region holding `off`: one slot-table sector (the
 * sectors at 0 and 4096 are two regions) or one model slot. The app never keeps data after
 * the erased range in a slot it erases, so such a port lays each region out on its own
 * erase blocks instead of reading, erasing and rewriting a block. */
int eai_port_flash_erase(uint32_t off, size_t n);

/* A read-only pointer to flash [off, off + n), mapped in place (a model runs from it).
 * 4-byte aligned whenever `off` is. NULL if the range is out of bounds or not mappable.
 * The mapping stays valid until the next erase or write of that range. */
const uint8_t *eai_port_flash_map(uint32_t off, size_t n);

/* The largest model (bytes at the start of a slot) that eai_port_flash_map() can map in
 * place while the other slot's model stays mapped: a port whose map window is smaller than
 * its slots (the ESP32 maps at most 64 pages of 64 KiB as data, shared with the app) says so
 * here; HELLO announces it and the host refuses a bigger model. Else UINT32_MAX. */
uint32_t eai_port_flash_map_bytes(void);

/* Called by the app between layers of an inference, between flash operations of an upload
 * and while it waits for the host: the work is making progress. A port with a watchdog feeds
 * it here, so a board hung anywhere else resets by itself. It must be cheap. */
void eai_port_watchdog_feed(void);

/* A free-running cycle counter (the posix simulator: host CLOCK_MONOTONIC nanoseconds) that
 * never wraps in practice: 64 bits, exact however long apart two readings are. */
uint64_t eai_port_cycles(void);

#define EAI_PORT_NO_COUNT UINT64_MAX /* eai_port_instret() of a board that cannot count */

/* A free-running count of retired instructions, or EAI_PORT_NO_COUNT on boards whose CPU has
 * no such counter (the app then reports none). */
uint64_t eai_port_instret(void);

/* The board's name, e.g. "sim" or "esp32-s3-devkitc"; a static string. */
const char *eai_port_board_name(void);

#ifdef __cplusplus
}
#endif

#endif /* EDGEAI_PORT_H */
