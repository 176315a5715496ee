/* Fake ESP-IDF v5.5: hal/include/hal/uart_types.h (the types driver/uart.h takes). */
#ifndef FAKE_IDF_HAL_UART_TYPES_H
#define FAKE_IDF_HAL_UART_TYPES_H

#include <stdint.h>

#include "soc/clk_tree_defs.h"
#include "soc/soc_caps.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    UART_NUM_0,
    UART_NUM_1,
#if SOC_UART_HP_NUM > 2
    UART_NUM_2,
#endif
#if SOC_UART_LP_NUM >= 1
    LP_UART_NUM_0,
#endif
    UART_NUM_MAX
} uart_port_t;

typedef enum {
    UART_DATA_5_BITS = 0x0,
    UART_DATA_6_BITS = 0x1,
    UART_DATA_7_BITS = 0x2,
    UART_DATA_8_BITS = 0x3,
    UART_DATA_BITS_MAX = 0x4
} uart_word_length_t;

typedef enum {
    UART_STOP_BITS_1 = 0x1,
    UART_STOP_BITS_1_5 = 0x2,
    UART_STOP_BITS_2 = 0x3,
    UART_STOP_BITS_MAX = 0x4
} uart_stop_bits_t;

typedef enum {
    UART_PARITY_DISABLE = 0x0,
    UART_PARITY_EVEN = 0x2,
    UART_PARITY_ODD = 0x3
} uart_parity_t;

typedef enum {
    UART_HW_FLOWCTRL_DISABLE = 0x0,
    UART_HW_FLOWCTRL_RTS = 0x1,
    UART_HW_FLOWCTRL_CTS = 0x2,
    UART_HW_FLOWCTRL_CTS_RTS = 0x3,
    UART_HW_FLOWCTRL_MAX = 0x4
} uart_hw_flowcontrol_t;

typedef soc_periph_uart_clk_src_legacy_t uart_sclk_t;

#ifdef __cplusplus
}
#endif

#endif /* FAKE_IDF_HAL_UART_TYPES_H */
