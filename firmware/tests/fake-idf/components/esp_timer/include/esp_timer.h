/* Fake ESP-IDF v5.5: esp_timer/include/esp_timer.h. esp_timer_get_time(): microseconds since
 * boot, 64 bits (the fake clock's cycles divided by the CPU's MHz, rounded down). */
#ifndef FAKE_IDF_ESP_TIMER_H
#define FAKE_IDF_ESP_TIMER_H

#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

int64_t esp_timer_get_time(void);

#ifdef __cplusplus
}
#endif

#endif /* FAKE_IDF_ESP_TIMER_H */
