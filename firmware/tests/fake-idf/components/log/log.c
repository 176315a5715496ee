/* Fake log: ESP_LOGx formats the line and keeps the last one for the tests (no console). */
#include <stdarg.h>
#include <stdio.h>

#include "esp_log.h"
#include "fake_idf_priv.h"

void esp_log_write(esp_log_level_t level, const char *tag, const char *format, ...)
{
    char text[160];
    va_list ap;
    fidf_note_call(FIDF_CALL_OTHER);
    va_start(ap, format);
    (void)vsnprintf(text, sizeof text, format, ap);
    va_end(ap);
    fidf_log((int)level, tag, text);
}

void esp_log_level_set(const char *tag, esp_log_level_t level)
{
    (void)tag;
    (void)level;
}
