/* Fake esp_common: error names and ESP_ERROR_CHECK's failure path. */
#include <stdio.h>

#include "esp_err.h"
#include "fake_idf_priv.h"

typedef struct {
    esp_err_t code;
    const char *name;
} err_name;

static const err_name k_names[] = {
    {ESP_OK, "ESP_OK"},
    {ESP_FAIL, "ESP_FAIL"},
    {ESP_ERR_NO_MEM, "ESP_ERR_NO_MEM"},
    {ESP_ERR_INVALID_ARG, "ESP_ERR_INVALID_ARG"},
    {ESP_ERR_INVALID_STATE, "ESP_ERR_INVALID_STATE"},
    {ESP_ERR_INVALID_SIZE, "ESP_ERR_INVALID_SIZE"},
    {ESP_ERR_NOT_FOUND, "ESP_ERR_NOT_FOUND"},
    {ESP_ERR_NOT_SUPPORTED, "ESP_ERR_NOT_SUPPORTED"},
    {ESP_ERR_TIMEOUT, "ESP_ERR_TIMEOUT"},
    {ESP_ERR_INVALID_RESPONSE, "ESP_ERR_INVALID_RESPONSE"},
    {ESP_ERR_INVALID_CRC, "ESP_ERR_INVALID_CRC"},
    {ESP_ERR_INVALID_VERSION, "ESP_ERR_INVALID_VERSION"},
    {ESP_ERR_INVALID_MAC, "ESP_ERR_INVALID_MAC"},
    {ESP_ERR_NOT_FINISHED, "ESP_ERR_NOT_FINISHED"},
    {ESP_ERR_NOT_ALLOWED, "ESP_ERR_NOT_ALLOWED"},
    {ESP_ERR_FLASH_BASE + 1, "ESP_ERR_FLASH_OP_FAIL"},
    {ESP_ERR_FLASH_BASE + 2, "ESP_ERR_FLASH_OP_TIMEOUT"},
};

const char *esp_err_to_name(esp_err_t code)
{
    size_t i;
    for (i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
        if (k_names[i].code == code)
            return k_names[i].name;
    return "UNKNOWN ERROR";
}

const char *esp_err_to_name_r(esp_err_t code, char *buf, size_t buflen)
{
    if (buf != NULL && buflen > 0)
        (void)snprintf(buf, buflen, "%s", esp_err_to_name(code));
    return buf;
}

void _esp_error_check_failed(esp_err_t rc, const char *file, int line, const char *function,
                             const char *expression)
{
    char text[160];
    (void)snprintf(text, sizeof text, "ESP_ERROR_CHECK failed: esp_err_t 0x%x (%s) at %s:%d (%s): %s",
                   (unsigned)rc, esp_err_to_name(rc), file, line, function, expression);
    fidf_log(1, "esp_err", text);
    fidf_restart(ESP_RST_PANIC); /* abort() -> panic -> restart */
}
