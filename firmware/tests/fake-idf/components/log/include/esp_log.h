/* Fake ESP-IDF v5.5: log/include/esp_log.h. The ESP_LOGx macros take (tag, format, ...) as the
 * real ones do and end in esp_log_write(), printf-checked. (The real macros also prepend a level
 * letter and a timestamp; the fake keeps the text so tests can read what was logged.) */
#ifndef FAKE_IDF_ESP_LOG_H
#define FAKE_IDF_ESP_LOG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ESP_LOG_NONE = 0,
    ESP_LOG_ERROR = 1,
    ESP_LOG_WARN = 2,
    ESP_LOG_INFO = 3,
    ESP_LOG_DEBUG = 4,
    ESP_LOG_VERBOSE = 5,
    ESP_LOG_MAX = 6
} esp_log_level_t;

void esp_log_write(esp_log_level_t level, const char *tag, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

void esp_log_level_set(const char *tag, esp_log_level_t level);

/* C99 without GNU's ", ##__VA_ARGS__": the format is the first variadic argument. */
#define ESP_LOGE(tag, ...) esp_log_write(ESP_LOG_ERROR, (tag), __VA_ARGS__)
#define ESP_LOGW(tag, ...) esp_log_write(ESP_LOG_WARN, (tag), __VA_ARGS__)
#define ESP_LOGI(tag, ...) esp_log_write(ESP_LOG_INFO, (tag), __VA_ARGS__)
#define ESP_LOGD(tag, ...) esp_log_write(ESP_LOG_DEBUG, (tag), __VA_ARGS__)
#define ESP_LOGV(tag, ...) esp_log_write(ESP_LOG_VERBOSE, (tag), __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* FAKE_IDF_ESP_LOG_H */
