/* The posix simulated board: what main.c sets up for port.c. */
#ifndef EAI_POSIX_SIM_H
#define EAI_POSIX_SIM_H

#include <stdint.h>

/* Open (or create, filled with 0xFF) the flash file of `size` bytes and map it shared, so
 * every write reaches the file even if the process is killed. 0, or -1 with a message in
 * `err` (of `err_len` bytes). */
int sim_flash_open(const char *path, uint32_t size, char *err, size_t err_len);
void sim_flash_close(void);

/* The master side of the pseudo-terminal that is the board's UART. */
void sim_set_uart(int fd);

/* The name HELLO reports. */
void sim_set_board(const char *name);

#endif /* EAI_POSIX_SIM_H */
