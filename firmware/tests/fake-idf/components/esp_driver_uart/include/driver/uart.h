/* Fake ESP-IDF v5.5: esp_driver_uart/include/driver/uart.h (the subset the port uses, same
 * signatures). The fake driver models the real one's receive path: the 128-byte hardware FIFO,
 * the interrupt that moves it in chunks into the driver's RX ring buffer (rx_buffer_size bytes),
 * and what is lost when the ring and then the FIFO are full (see fake_idf.h). */
#ifndef FAKE_IDF_DRIVER_UART_H
#define FAKE_IDF_DRIVER_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "hal/uart_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UART_PIN_NO_CHANGE (-1)
#define UART_FIFO_LEN SOC_UART_FIFO_LEN
#define UART_HW_FIFO_LEN(uart_num) SOC_UART_FIFO_LEN

/* The real struct puts source_clk in an anonymous union (with lp_source_clk) and has flags;
 * designated initialisers of these members work on both. */
typedef struct {
    int baud_rate;
    uart_word_length_t data_bits;
    uart_parity_t parity;
    uart_stop_bits_t stop_bits;
    uart_hw_flowcontrol_t flow_ctrl;
    uint8_t rx_flow_ctrl_thresh;
    uart_sclk_t source_clk;
} uart_config_t;

esp_err_t uart_driver_install(uart_port_t uart_num, int rx_buffer_size, int tx_buffer_size,
                              int queue_size, QueueHandle_t *uart_queue, int intr_alloc_flags);
esp_err_t uart_driver_delete(uart_port_t uart_num);
bool uart_is_driver_installed(uart_port_t uart_num);
esp_err_t uart_param_config(uart_port_t uart_num, const uart_config_t *uart_config);
esp_err_t uart_set_pin(uart_port_t uart_num, int tx_io_num, int rx_io_num, int rts_io_num,
                       int cts_io_num);
int uart_write_bytes(uart_port_t uart_num, const void *src, size_t size);
int uart_read_bytes(uart_port_t uart_num, void *buf, uint32_t length, TickType_t ticks_to_wait);
esp_err_t uart_flush(uart_port_t uart_num);
esp_err_t uart_flush_input(uart_port_t uart_num);
esp_err_t uart_get_buffered_data_len(uart_port_t uart_num, size_t *size);
esp_err_t uart_get_tx_buffer_free_size(uart_port_t uart_num, size_t *size);
esp_err_t uart_wait_tx_done(uart_port_t uart_num, TickType_t ticks_to_wait);

#ifdef __cplusplus
}
#endif

#endif /* FAKE_IDF_DRIVER_UART_H */
