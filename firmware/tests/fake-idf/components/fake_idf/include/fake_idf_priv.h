/* The fake ESP-IDF's internals: the models (clock, UART wire, flash and MMU, task watchdog) live
 * in the fake_idf component; the other fake components implement the real APIs on top of these
 * functions. Dependencies only point here (no component is needed by fake_idf), so the fakes
 * link in any order as long as fake_idf comes after the others. Not for tests: see fake_idf.h. */
#ifndef FAKE_IDF_PRIV_H
#define FAKE_IDF_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "esp_system.h"
#include "fake_idf.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FAKE_IDF_NORETURN __attribute__((__noreturn__))
#else
#define FAKE_IDF_NORETURN
#endif

/* ---- calls into the fake IDF, for the work script -------------------------------------------- */
enum { FIDF_CALL_OTHER = 0, FIDF_CALL_CLOCK = 1, FIDF_CALL_FEED = 2 };
void fidf_note_call(int kind); /* every fake API entry point says what it is */

/* ---- clock --------------------------------------------------------------------------------------- */
uint64_t fidf_now(void);         /* cycles since fake_idf_reset() */
uint64_t fidf_since_boot(void);  /* cycles since the last boot */
uint32_t fidf_mhz(void);
uint32_t fidf_ccount_offset(void);
uint32_t fidf_read_cost(void);
void fidf_advance(uint64_t cycles); /* deliver host bytes, check the watchdog */
void fidf_advance_us(uint64_t us);
/* The scripted time of the stretch of computation an esp_task_wdt_reset() closes (0 if none). */
uint64_t fidf_take_work_us(void);

/* ---- running and restarting ------------------------------------------------------------------------ */
/* Leave fake_idf_run() with FAKE_IDF_IDLE; returns only outside fake_idf_run() (then the caller
 * goes on as if the wait timed out). */
void fidf_idle(void);
FAKE_IDF_NORETURN void fidf_restart(esp_reset_reason_t reason);
esp_reset_reason_t fidf_reset_reason(void);
FAKE_IDF_NORETURN void fidf_out_of_memory(void); /* the host could not allocate the fake flash */
void fidf_log(int level, const char *tag, const char *text);

/* ---- UART ------------------------------------------------------------------------------------------- */
esp_err_t fidf_uart_install(int port, int rx_size, int tx_size, int intr_flags);
esp_err_t fidf_uart_delete(int port);
int fidf_uart_installed(int port);
esp_err_t fidf_uart_config(int port, int baud);
size_t fidf_uart_rx_take(uint8_t *buf, size_t max); /* from the ring; refills it */
size_t fidf_uart_rx_buffered(void);                 /* in the ring */
void fidf_uart_rx_flush(void);
size_t fidf_uart_tx(const uint8_t *buf, size_t n);  /* to the host; returns bytes queued */
size_t fidf_uart_tx_free(void);
/* Wait for a byte (up to cycles): 1 if one is in the ring, 0 at the deadline. Idles out of
 * fake_idf_run() when nothing is on the way. */
int fidf_uart_wait(uint64_t cycles);

/* ---- flash and MMU ------------------------------------------------------------------------------------ */
size_t fidf_partition_count(void);
const fake_idf_partition *fidf_partition(size_t i);
esp_err_t fidf_flash_read(uint32_t addr, void *dst, size_t n);
esp_err_t fidf_flash_write(uint32_t addr, const void *src, size_t n);
esp_err_t fidf_flash_erase(uint32_t addr, size_t n);
esp_err_t fidf_mmap(size_t src_addr, size_t size, int inst, const void **out_ptr, uint32_t *out_handle);
void fidf_munmap(uint32_t handle);
uint32_t fidf_mmap_free_pages(int inst);
size_t fidf_cache2phys(const void *p);

/* ---- the models' power-on (fake_idf_reset) and boot (each restart) ------------------------------- */
void fidf_uart_power_on(void);
void fidf_uart_boot(void);
void fidf_flash_power_on(void);
void fidf_flash_boot(void);
void fidf_wdt_power_on(void);
void fidf_wdt_boot(void);

/* ---- what the clock drives ----------------------------------------------------------------------------- */
uint64_t fidf_uart_next_arrival(void); /* cycles; UINT64_MAX when nothing is on the way */
void fidf_uart_deliver(uint64_t now);  /* the bytes that have arrived by now */
void fidf_uart_flash_busy(int busy);   /* caches off: a non-IRAM UART interrupt cannot run */
uint64_t fidf_wdt_deadline(void);      /* cycles; UINT64_MAX when nothing is watched */
void fidf_wdt_expire(void);            /* the deadline passed */

/* ---- task watchdog --------------------------------------------------------------------------------------- */
esp_err_t fidf_wdt_init(uint32_t timeout_ms, uint32_t idle_mask, int panic, int reconfigure);
esp_err_t fidf_wdt_deinit(void);
esp_err_t fidf_wdt_add_task(void);
esp_err_t fidf_wdt_delete_task(void);
esp_err_t fidf_wdt_reset_task(void);
esp_err_t fidf_wdt_status_task(void);
void fidf_wdt_idle_ran(void); /* the main task blocked: the idle tasks ran and reset */
void fidf_wdt_board_idle(void); /* the board idled polling (and feeding) while the test waited */
int fidf_wdt_checked(void);     /* 0 while the test lets time pass outside fake_idf_run() */

#ifdef __cplusplus
}
#endif

#endif /* FAKE_IDF_PRIV_H */
