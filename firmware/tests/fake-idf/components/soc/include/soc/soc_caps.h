/* Fake ESP-IDF v5.5: soc/<target>/include/soc/soc_caps.h, the few capabilities the fakes use,
 * per target (CONFIG_IDF_TARGET_<CHIP> from sdkconfig.h). */
#ifndef FAKE_IDF_SOC_CAPS_H
#define FAKE_IDF_SOC_CAPS_H

#include "sdkconfig.h"

#define SOC_UART_FIFO_LEN (128) /* the UART's hardware RX/TX FIFO, all four chips */

#if CONFIG_IDF_TARGET_ESP32 || CONFIG_IDF_TARGET_ESP32S3
#define SOC_UART_HP_NUM (3)
#else
#define SOC_UART_HP_NUM (2)
#endif
#if CONFIG_IDF_TARGET_ESP32C6
#define SOC_UART_LP_NUM (1)
#else
#define SOC_UART_LP_NUM (0)
#endif
#define SOC_UART_NUM (SOC_UART_HP_NUM + SOC_UART_LP_NUM)

#endif /* FAKE_IDF_SOC_CAPS_H */
