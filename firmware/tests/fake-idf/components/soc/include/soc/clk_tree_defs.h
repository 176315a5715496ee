/* Fake ESP-IDF v5.5: soc/<target>/include/soc/clk_tree_defs.h, the UART clock sources. The
 * values are the fake's own; UART_SCLK_DEFAULT is APB on esp32/s3/c3, PLL_F80M on the c6. */
#ifndef FAKE_IDF_SOC_CLK_TREE_DEFS_H
#define FAKE_IDF_SOC_CLK_TREE_DEFS_H

#include "sdkconfig.h"

typedef enum {
    UART_SCLK_APB = 1,
    UART_SCLK_REF_TICK = 2, /* esp32 */
    UART_SCLK_RTC = 3,      /* esp32s3, esp32c3, esp32c6 */
    UART_SCLK_XTAL = 4,     /* esp32s3, esp32c3, esp32c6 */
    UART_SCLK_PLL_F80M = 5, /* esp32c6 */
#if CONFIG_IDF_TARGET_ESP32C6
    UART_SCLK_DEFAULT = UART_SCLK_PLL_F80M
#else
    UART_SCLK_DEFAULT = UART_SCLK_APB
#endif
} soc_periph_uart_clk_src_legacy_t;

#endif /* FAKE_IDF_SOC_CLK_TREE_DEFS_H */
