/* Fake ESP-IDF v5.5: esp_system/include/esp_task_wdt.h (same types and signatures). The fake
 * TWDT checks its subscribers whenever the fake clock advances: a subscriber not reset for
 * timeout_ms trips it at that instant, and with trigger_panic the fake board restarts with
 * reason ESP_RST_TASK_WDT (see fake_idf.h). */
#ifndef FAKE_IDF_ESP_TASK_WDT_H
#define FAKE_IDF_ESP_TASK_WDT_H

#include <stdbool.h>
#include <stdint.h>

#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t timeout_ms;     /* TWDT timeout duration in milliseconds */
    uint32_t idle_core_mask; /* bitmask of the cores whose idle task is subscribed at init */
    bool trigger_panic;      /* trigger panic when timeout occurs */
} esp_task_wdt_config_t;

typedef struct esp_task_wdt_user_handle_s *esp_task_wdt_user_handle_t;

esp_err_t esp_task_wdt_init(const esp_task_wdt_config_t *config);
esp_err_t esp_task_wdt_reconfigure(const esp_task_wdt_config_t *config);
esp_err_t esp_task_wdt_deinit(void);
esp_err_t esp_task_wdt_add(TaskHandle_t task_handle);
esp_err_t esp_task_wdt_add_user(const char *user_name, esp_task_wdt_user_handle_t *user_handle_ret);
esp_err_t esp_task_wdt_reset(void);
esp_err_t esp_task_wdt_reset_user(esp_task_wdt_user_handle_t user_handle);
esp_err_t esp_task_wdt_delete(TaskHandle_t task_handle);
esp_err_t esp_task_wdt_delete_user(esp_task_wdt_user_handle_t user_handle);
esp_err_t esp_task_wdt_status(TaskHandle_t task_handle);

#ifdef __cplusplus
}
#endif

#endif /* FAKE_IDF_ESP_TASK_WDT_H */
