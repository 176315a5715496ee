/* The esp-idf board's main: serve docs/protocol.md on UART0 forever.
 *
 * app_main() runs in ESP-IDF's main task (16 KiB stack, core 0, sdkconfig.defaults). Waiting
 * for bytes blocks in the UART driver, so the idle task runs between requests, but a long
 * inference does not yield: the task watchdog therefore watches this task, not the idle tasks
 * (sdkconfig.defaults), and the app feeds it between layers, between flash steps and at every
 * poll (eai_port_watchdog_feed). A layer or anything else that hangs for longer than the timeout
 * panics the chip, which restarts and boots into the slot table's model again.
 */
#include <stdbool.h>

#include "esp_err.h"
#include "esp_system.h"
#include "esp_task_wdt.h"
#include "sdkconfig.h"

#include "app.h"
#include "eai_esp.h"

#define POLL_MS 100u

#ifdef CONFIG_ESP_TASK_WDT_TIMEOUT_S
#define WDT_TIMEOUT_MS ((uint32_t)CONFIG_ESP_TASK_WDT_TIMEOUT_S * 1000u)
#else
#define WDT_TIMEOUT_MS 20000u /* sdkconfig.defaults' value, if a build turned the startup init off */
#endif

/* Subscribe this task to the task watchdog that ESP-IDF's startup started
 * (CONFIG_ESP_TASK_WDT_INIT); start it here, with a panic on timeout, if a build did not. */
static esp_err_t watchdog_start(void)
{
#if CONFIG_ESP_TASK_WDT_EN
    esp_err_t err = esp_task_wdt_add(NULL);
    if (err == ESP_ERR_INVALID_STATE) {
        const esp_task_wdt_config_t cfg = {
            .timeout_ms = WDT_TIMEOUT_MS,
            .idle_core_mask = 0, /* an inference starves the idle task: do not watch it */
            .trigger_panic = true,
        };
        err = esp_task_wdt_init(&cfg);
        if (err == ESP_OK)
            err = esp_task_wdt_add(NULL);
    }
    return err;
#else
    return ESP_OK; /* no task watchdog in this build: a hung board stays hung */
#endif
}

void eai_esp_boot(void)
{
    eai_esp_port_init();
    /* Before the first byte is sent: eai_app_init() logs the boot line the host waits for.
     * The UART or the watchdog failing to start is a build or memory bug: abort, and the chip
     * restarts. */
    ESP_ERROR_CHECK(eai_esp_link_init());
    ESP_ERROR_CHECK(watchdog_start());
    (void)eai_app_init(); /* -1 if the partitions are missing: HELLO then reports slot size 0 */
    if (esp_reset_reason() == ESP_RST_TASK_WDT)
        eai_app_log(1, "restarted by the task watchdog: a request hung");
}

void eai_esp_serve(void)
{
    for (;;)
        (void)eai_app_poll(POLL_MS);
}

void app_main(void)
{
    eai_esp_boot();
    eai_esp_serve();
}
