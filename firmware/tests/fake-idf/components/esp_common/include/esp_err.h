/* Fake ESP-IDF v5.5: esp_common/include/esp_err.h (the subset the edgeai port uses, same names,
 * values and signatures as the real header). */
#ifndef FAKE_IDF_ESP_ERR_H
#define FAKE_IDF_ESP_ERR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int esp_err_t;

#define ESP_OK 0
#define ESP_FAIL -1
#define ESP_ERR_NO_MEM 0x101
#define ESP_ERR_INVALID_ARG 0x102
#define ESP_ERR_INVALID_STATE 0x103
#define ESP_ERR_INVALID_SIZE 0x104
#define ESP_ERR_NOT_FOUND 0x105
#define ESP_ERR_NOT_SUPPORTED 0x106
#define ESP_ERR_TIMEOUT 0x107
#define ESP_ERR_INVALID_RESPONSE 0x108
#define ESP_ERR_INVALID_CRC 0x109
#define ESP_ERR_INVALID_VERSION 0x10A
#define ESP_ERR_INVALID_MAC 0x10B
#define ESP_ERR_NOT_FINISHED 0x10C
#define ESP_ERR_NOT_ALLOWED 0x10D
#define ESP_ERR_WIFI_BASE 0x3000
#define ESP_ERR_MESH_BASE 0x4000
#define ESP_ERR_FLASH_BASE 0x6000
#define ESP_ERR_HW_CRYPTO_BASE 0xc000
#define ESP_ERR_MEMPROT_BASE 0xd000

/* The name of an error code ("ESP_ERR_NO_MEM"), or "UNKNOWN ERROR". */
const char *esp_err_to_name(esp_err_t code);
const char *esp_err_to_name_r(esp_err_t code, char *buf, size_t buflen);

/* What ESP_ERROR_CHECK calls on an error: the real one prints and aborts (a panic, then a
 * restart); the fake restarts the fake board with reason ESP_RST_PANIC (see fake_idf.h). */
void _esp_error_check_failed(esp_err_t rc, const char *file, int line, const char *function,
                             const char *expression)
#if defined(__GNUC__)
    __attribute__((__noreturn__))
#endif
    ;

#define ESP_ERROR_CHECK(x)                                                             \
    do {                                                                               \
        esp_err_t err_rc_ = (x);                                                       \
        if (err_rc_ != ESP_OK) {                                                       \
            _esp_error_check_failed(err_rc_, __FILE__, __LINE__, __func__, #x);        \
        }                                                                              \
    } while (0)

#define ESP_ERROR_CHECK_WITHOUT_ABORT(x) ((esp_err_t)(x))

#ifdef __cplusplus
}
#endif

#endif /* FAKE_IDF_ESP_ERR_H */
