/* The posix simulated board: what main.c sets up for port.c. */
#ifndef EAI_POSIX_SIM_H
#define EAI_POSIX_SIM_H

#include <stddef.h>
#include <stdint.h>

/* Open (or create, filled with 0xFF) the flash file of `size` bytes, lock it (flock,
 * exclusive, no waiting) and read it into the board's own copy of its flash, which every
 * write and erase then writes through to the file (so the file holds it even if the process
 * is killed). 0; SIM_FLASH_IN_USE if another process holds the file's lock; -1 otherwise;
 * with a message in `err` (of `err_len` bytes) when not 0. */
#define SIM_FLASH_IN_USE (-2)
int sim_flash_open(const char *path, uint32_t size, char *err, size_t err_len);

/* Write the flash file out to its disk, drop the copy and release the lock. */
void sim_flash_close(void);

/* The master side of the pseudo-terminal that is the board's UART. */
void sim_set_uart(int fd);

/* The name HELLO reports. */
void sim_set_board(const char *name);

/* A receive ring of `n` bytes (UINT32_MAX: none, the default): the bytes from the host that
 * the board keeps before the app reads them; more are dropped, as a UART driver's ring drops
 * them. HELLO announces `n`. 0, or -1 if the ring cannot be allocated. */
int sim_set_rx_bytes(uint32_t n);

/* Flash that takes time, as a real chip's: each 4 KiB sector erased and each 256-byte page
 * programmed keeps the app busy this long (the UART keeps receiving). 0: instant. */
void sim_set_flash_timing(double erase_ms_per_sector, double write_ms_per_page);

/* The largest range eai_port_flash_map() maps, and so the map limit HELLO announces
 * (UINT32_MAX: any, the default). */
void sim_set_map_bytes(uint32_t n);

/* Bytes received from the host so far, and of them the bytes the ring dropped. */
void sim_rx_stats(uint64_t *received, uint64_t *dropped);

#endif /* EAI_POSIX_SIM_H */
