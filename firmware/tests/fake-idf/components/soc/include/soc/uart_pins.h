/* Fake ESP-IDF v5.5: soc/<target>/include/soc/uart_pins.h, UART0's IO_MUX pins per target
 * (esp32: TX 1 / RX 3, esp32s3: 43 / 44, esp32c3: 21 / 20, esp32c6: 16 / 17). */
#ifndef FAKE_IDF_SOC_UART_PINS_H
#define FAKE_IDF_SOC_UART_PINS_H

#include "sdkconfig.h"

#if CONFIG_IDF_TARGET_ESP32
#define U0TXD_GPIO_NUM (1)
#define U0RXD_GPIO_NUM (3)
#elif CONFIG_IDF_TARGET_ESP32S3
#define U0TXD_GPIO_NUM (43)
#define U0RXD_GPIO_NUM (44)
#elif CONFIG_IDF_TARGET_ESP32C3
#define U0TXD_GPIO_NUM (21)
#define U0RXD_GPIO_NUM (20)
#elif CONFIG_IDF_TARGET_ESP32C6
#define U0TXD_GPIO_NUM (16)
#define U0RXD_GPIO_NUM (17)
#else
#error "fake soc/uart_pins.h: CONFIG_IDF_TARGET_ESP32, _ESP32S3, _ESP32C3 or _ESP32C6 must be set"
#endif
#define U0RTS_GPIO_NUM (-1) /* not an IO_MUX function on these devkits' UART0 */
#define U0CTS_GPIO_NUM (-1)

#endif /* FAKE_IDF_SOC_UART_PINS_H */
