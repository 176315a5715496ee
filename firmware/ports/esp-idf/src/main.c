/* The esp-idf board's main: serve docs/protocol.md on UART0 forever.
 *
 * app_main() runs in ESP-IDF's main task (16 KiB stack, core 0, sdkconfig.defaults). Waiting
 * for bytes blocks in the UART driver, so the idle task runs between requests; a long
 * inference does not yield, which is why the task watchdog is not started (sdkconfig.defaults).
 */
#include "esp_err.h"

#include "app.h"
#include "eai_esp.h"

#define POLL_MS 100u

void app_main(void)
{
    /* Before the first byte is sent: eai_app_init() logs the boot line the host waits for.
     * The UART failing to start is a build or memory bug: abort, and the chip restarts. */
    ESP_ERROR_CHECK(eai_esp_link_init());
    (void)eai_app_init(); /* -1 if the partitions are missing: HELLO then reports slot size 0 */
    for (;;)
        (void)eai_app_poll(POLL_MS);
}
