/* The fake ESP-IDF's test-control API: the side of the fake board a test (the "host" and the
 * bench around the chip) sees. The fake IDF components under tests/fake-idf/components declare
 * the real ESP-IDF v5.5 APIs the esp-idf port uses and implement them in memory, without an OS
 * (they link bare-metal with picolibc; setjmp/longjmp is their only trick).
 *
 * The fake clock
 *   One 64-bit count of CPU cycles since fake_idf_reset() ("now"), at the CPU clock of
 *   CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ. esp_timer_get_time() is the microseconds since the last
 *   boot (cycles / MHz, rounded down); esp_cpu_get_cycle_count() is the low 32 bits of the
 *   cycles since the last boot plus an offset a test may set, so it wraps every 2^32 cycles
 *   (26.8 s at 160 MHz) exactly as the real counter does. Time passes only when something takes
 *   time:
 *     - flash: each erased 4 KiB sector and each programmed 256-byte page (fake_idf_set_flash_times);
 *     - waiting: uart_read_bytes() and vTaskDelay() advance to the next byte from the host or
 *       to the end of the wait;
 *     - computing: the board's own code (a layer of a model) runs between its calls into the
 *       fake IDF, which cannot see it. A test says how long that code takes with
 *       fake_idf_script_work(): the stretches of computation that end in an esp_task_wdt_reset()
 *       whose previous call into the fake IDF was a clock reading (esp_cpu_get_cycle_count,
 *       esp_timer_get_time) or another esp_task_wdt_reset() take the scripted times, in order.
 *       These are exactly the layers of an inference: the app reads the clock, runs a layer,
 *       feeds the watchdog, runs the next layer, feeds, ... A feed that follows anything else
 *       (a UART read or write, a flash operation) closes a stretch of no scripted work.
 *       The time is charged when the stretch ends, before the feed takes effect, so a stretch
 *       longer than the watchdog's timeout trips it at the instant it expires, as a hung layer
 *       would on the chip;
 *     - fake_idf_advance_us(): the test lets time pass (the board idle, or busy elsewhere).
 *   A clock reading itself takes no time unless a test sets fake_idf_set_read_cost().
 *   Whenever the clock advances, the bytes the host sent that have arrived by then reach the
 *   UART, and the task watchdog is checked.
 *
 * Running the board: fake_idf_run()
 *   Runs a function (app_main, or a loop of eai_app_poll) as the board's main task until it
 *   returns, until the board waits for the host with nothing received and nothing on the way
 *   (FAKE_IDF_IDLE: the host's turn), or until the board restarts (FAKE_IDF_RESTARTED):
 *   esp_restart(), a task-watchdog panic, an ESP_ERROR_CHECK failure. A restart resets the
 *   fake hardware as a real one does (UART driver gone, all flash mappings gone, the task
 *   watchdog started again as ESP-IDF's startup does from CONFIG_ESP_TASK_WDT_*), keeps the
 *   flash and the clock, and sets esp_reset_reason(); the test then runs the boot path again.
 *
 * The UART (UART0, the link)
 *   The host's bytes travel on the wire at the configured baud rate (10 bits a byte, 8N1) and
 *   arrive one at a time. An arriving byte enters the 128-byte hardware FIFO; the driver's
 *   interrupt moves it into the RX ring buffer (uart_driver_install's rx_buffer_size). When the
 *   ring has no room, the interrupt keeps the bytes it took (at most one FIFO's worth, the real
 *   driver's "stash") and stops; later bytes wait in the FIFO, and when the FIFO overflows the
 *   driver resets it: its bytes are lost (fake_idf_uart_dropped()). The app's reads make room
 *   and restart the flow. Without ESP_INTR_FLAG_IRAM the interrupt cannot run while the flash
 *   is being erased or written (the caches are off), so bytes then only pile up in the FIFO.
 *   Bytes that arrive with no driver installed are lost too.
 *
 * The flash and its MMU
 *   A 4 MiB NOR flash (erase sets 0xFF, programming ANDs) with partitions.csv's partitions
 *   unless a test sets others. The MMU has the target's data pages (fake_idf_set_target: esp32:
 *   64 DROM pages; esp32c3: 128, esp32c6: 256, esp32s3: 512, shared with code) of which the app
 *   image holds the first fake_idf_set_app_pages(); mappings are placed first-fit, as
 *   esp_mmu_map() does. A mapped pointer reads the flash as it is (the real flash driver
 *   invalidates the cache of what it writes); once the last mapping of a page is gone its bytes
 *   read 0xA5 (and under AddressSanitizer any access is reported), so a port that keeps a
 *   pointer past its mapping fails.
 */
#ifndef FAKE_IDF_H
#define FAKE_IDF_H

#include <stddef.h>
#include <stdint.h>

#include "esp_system.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the whole board ------------------------------------------------------------------------- */

/* Power on (call it first: the first call allocates the fake flash, 8 MiB with its mapped view,
 * and the UART's buffers on the heap): flash erased (all 0xFF), partitions.csv's table, the target of sdkconfig.h, the
 * clock at 0, no work scripted, the UART idle, the task watchdog as ESP-IDF's startup leaves
 * it, reset reason ESP_RST_POWERON. */
void fake_idf_reset(void);

typedef enum {
    FAKE_IDF_RETURNED = 0,  /* the function returned */
    FAKE_IDF_IDLE = 1,      /* the board waits for the host, who has nothing on the way */
    FAKE_IDF_RESTARTED = 2  /* the board restarted (esp_reset_reason() says why) */
} fake_idf_exit;

/* Run fn as the board's main task (see above). Not reentrant. */
fake_idf_exit fake_idf_run(void (*fn)(void));

/* Restarts since fake_idf_reset(), and the reason of the last one. */
uint32_t fake_idf_restarts(void);
esp_reset_reason_t fake_idf_last_restart_reason(void);

/* What the board logged (ESP_LOGx): how many lines, and the last line ("tag: text"). */
uint32_t fake_idf_log_lines(void);
const char *fake_idf_log_last(void);

/* ---- target and MMU ----------------------------------------------------------------------------- */

typedef enum { FAKE_IDF_ESP32, FAKE_IDF_ESP32S3, FAKE_IDF_ESP32C3, FAKE_IDF_ESP32C6 } fake_idf_target;

/* The MMU of a chip (its mappable data pages, and a typical count held by the app image): call
 * after fake_idf_reset() (which restores sdkconfig's target) and before the board maps anything,
 * else it takes effect at the next restart. The CPU clock stays sdkconfig's. */
void fake_idf_set_target(fake_idf_target target);
/* Pages of the MMU's region the app's own code and rodata hold (as fake_idf_set_target). */
void fake_idf_set_app_pages(uint32_t pages);
uint32_t fake_idf_mmu_pages(void);        /* the region's pages, the app's included */
uint32_t fake_idf_mmu_app_pages(void);    /* held by the app image */
uint32_t fake_idf_mmu_mapped_pages(void); /* held by spi_flash_mmap() mappings now */
uint32_t fake_idf_mmu_mappings(void);     /* live mapping blocks */

/* ---- clock ---------------------------------------------------------------------------------------- */

uint32_t fake_idf_cpu_mhz(void);
uint64_t fake_idf_now_cycles(void); /* since fake_idf_reset() */
uint64_t fake_idf_now_us(void);
/* Let time pass (deliver host bytes, check the watchdog; inside fake_idf_run it may restart). */
void fake_idf_advance_us(uint64_t us);
/* The next stretches of the board's computation take these times (see above); replaces what is
 * left of an earlier script. */
void fake_idf_script_work(const uint64_t *us, size_t n);
size_t fake_idf_script_left(void);
/* Cycles each clock reading takes (0 by default). */
void fake_idf_set_read_cost(uint32_t cycles);
/* Added to the cycle counter (its value at boot). */
void fake_idf_set_ccount_offset(uint32_t offset);

/* ---- task watchdog --------------------------------------------------------------------------------- */

uint32_t fake_idf_wdt_timeout_ms(void); /* 0 when not initialised */
int fake_idf_wdt_panics(void);          /* trigger_panic of the current configuration */
uint32_t fake_idf_wdt_idle_mask(void);  /* idle tasks watched (bit per core) */
int fake_idf_wdt_task_subscribed(void); /* the main task is subscribed */
uint32_t fake_idf_wdt_trips(void);      /* timeouts since fake_idf_reset() */
uint32_t fake_idf_wdt_feeds(void);      /* esp_task_wdt_reset() calls that reset it */
/* The longest time (µs) the main task went unfed while subscribed; cleared by the call. */
uint64_t fake_idf_wdt_take_max_gap_us(void);

/* ---- UART (the host's side) -------------------------------------------------------------------- */

/* Put bytes on the wire now; they arrive one byte time apart, after what is already on the way. */
void fake_idf_uart_send(const uint8_t *bytes, size_t n);
size_t fake_idf_uart_in_flight(void);    /* sent, not yet arrived */
size_t fake_idf_uart_rx_buffered(void);  /* arrived and kept: ring, stash and FIFO */
uint64_t fake_idf_uart_dropped(void);    /* arrived and lost */
uint32_t fake_idf_uart_rx_ring_size(void); /* of the installed driver, 0 without one */
uint32_t fake_idf_uart_baud(void);
/* Take up to max bytes the board sent (in order); returns how many. */
size_t fake_idf_uart_take(uint8_t *buf, size_t max);
size_t fake_idf_uart_sent_pending(void); /* sent by the board, not taken yet */

/* ---- flash ------------------------------------------------------------------------------------------- */

#define FAKE_IDF_FLASH_BYTES (4u * 1024u * 1024u)

typedef struct {
    const char *label;
    uint8_t type, subtype;
    uint32_t address, size;
} fake_idf_partition;

/* Replace the partition table (at most 16 entries); NULL, 0 restores partitions.csv's. */
void fake_idf_set_partitions(const fake_idf_partition *parts, size_t n);
/* The raw flash (a test may read or prepare it directly; no time passes). */
uint8_t *fake_idf_flash(void);
/* Time of an erase of one 4 KiB sector and of programming one 256-byte page, in µs (defaults:
 * 45000 and 400, typical of 4 MiB SPI NOR: a 1.2 MiB slot erases in about 14 s). */
void fake_idf_set_flash_times(uint32_t erase_sector_us, uint32_t program_page_us);
/* The longest single flash operation (µs) since the last call, and the erase calls made. */
uint64_t fake_idf_flash_take_longest_op_us(void);
uint32_t fake_idf_flash_erase_calls(void);

#ifdef __cplusplus
}
#endif

#endif /* FAKE_IDF_H */
