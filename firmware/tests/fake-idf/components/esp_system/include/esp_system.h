/* Fake ESP-IDF v5.5: esp_system/include/esp_system.h (restart and reset reason). */
#ifndef FAKE_IDF_ESP_SYSTEM_H
#define FAKE_IDF_ESP_SYSTEM_H

#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ESP_RST_UNKNOWN,
    ESP_RST_POWERON,
    ESP_RST_EXT,
    ESP_RST_SW,
    ESP_RST_PANIC,
    ESP_RST_INT_WDT,
    ESP_RST_TASK_WDT,
    ESP_RST_WDT,
    ESP_RST_DEEPSLEEP,
    ESP_RST_BROWNOUT,
    ESP_RST_SDIO,
    ESP_RST_USB,
    ESP_RST_JTAG,
    ESP_RST_EFUSE,
    ESP_RST_PWR_GLITCH,
    ESP_RST_CPU_LOCKUP
} esp_reset_reason_t;

/* Restart the chip. The fake restarts the fake board: see fake_idf_run() in fake_idf.h. */
void esp_restart(void)
#if defined(__GNUC__)
    __attribute__((__noreturn__))
#endif
    ;

esp_reset_reason_t esp_reset_reason(void);

#ifdef __cplusplus
}
#endif

#endif /* FAKE_IDF_ESP_SYSTEM_H */
