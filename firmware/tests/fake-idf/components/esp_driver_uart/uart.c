/* Fake UART driver API (driver/uart.h) over the fake_idf UART model (see fake_idf.h). Argument
 * checks and return values follow esp_driver_uart/src/uart.c of v5.5; UART0 is the only port
 * with a wire (others answer ESP_ERR_NOT_SUPPORTED). */
#include <string.h>

#include "driver/uart.h"
#include "esp_intr_alloc.h"
#include "esp_log.h"
#include "fake_idf_priv.h"
#include "sdkconfig.h"

static const char *const TAG = "uart";

static int valid_port(uart_port_t n) { return (int)n >= 0 && n < UART_NUM_MAX; }

/* Ticks to cycles; portMAX_DELAY waits for ever. */
static uint64_t ticks_to_cycles(TickType_t ticks)
{
    if (ticks == portMAX_DELAY)
        return UINT64_MAX;
    return (uint64_t)ticks * (1000000u / (uint32_t)configTICK_RATE_HZ) * fidf_mhz();
}

esp_err_t uart_driver_install(uart_port_t uart_num, int rx_buffer_size, int tx_buffer_size,
                              int queue_size, QueueHandle_t *uart_queue, int intr_alloc_flags)
{
    fidf_note_call(FIDF_CALL_OTHER);
    if (!valid_port(uart_num))
        return ESP_FAIL;
    if (queue_size != 0 || uart_queue != NULL)
        return ESP_ERR_NOT_SUPPORTED; /* the fake has no event queue */
#if CONFIG_UART_ISR_IN_IRAM
    if ((intr_alloc_flags & ESP_INTR_FLAG_IRAM) == 0) {
        ESP_LOGI(TAG, "ESP_INTR_FLAG_IRAM flag not set while CONFIG_UART_ISR_IN_IRAM is enabled, flag updated");
        intr_alloc_flags |= ESP_INTR_FLAG_IRAM;
    }
#else
    if ((intr_alloc_flags & ESP_INTR_FLAG_IRAM) != 0) {
        ESP_LOGW(TAG, "ESP_INTR_FLAG_IRAM flag is set while CONFIG_UART_ISR_IN_IRAM is not enabled, flag updated");
        intr_alloc_flags &= ~ESP_INTR_FLAG_IRAM;
    }
#endif
    return fidf_uart_install((int)uart_num, rx_buffer_size, tx_buffer_size, intr_alloc_flags);
}

esp_err_t uart_driver_delete(uart_port_t uart_num)
{
    fidf_note_call(FIDF_CALL_OTHER);
    if (!valid_port(uart_num))
        return ESP_FAIL;
    return fidf_uart_delete((int)uart_num);
}

bool uart_is_driver_installed(uart_port_t uart_num)
{
    return valid_port(uart_num) && fidf_uart_installed((int)uart_num);
}

esp_err_t uart_param_config(uart_port_t uart_num, const uart_config_t *uart_config)
{
    fidf_note_call(FIDF_CALL_OTHER);
    if (!valid_port(uart_num) || uart_config == NULL)
        return ESP_ERR_INVALID_ARG;
    if (uart_config->data_bits >= UART_DATA_BITS_MAX || uart_config->stop_bits >= UART_STOP_BITS_MAX ||
        uart_config->flow_ctrl >= UART_HW_FLOWCTRL_MAX)
        return ESP_ERR_INVALID_ARG;
    if (uart_config->data_bits != UART_DATA_8_BITS || uart_config->stop_bits != UART_STOP_BITS_1 ||
        uart_config->parity != UART_PARITY_DISABLE || uart_config->flow_ctrl != UART_HW_FLOWCTRL_DISABLE)
        return ESP_ERR_NOT_SUPPORTED; /* the fake wire is 8N1 without flow control */
    return fidf_uart_config((int)uart_num, uart_config->baud_rate);
}

esp_err_t uart_set_pin(uart_port_t uart_num, int tx_io_num, int rx_io_num, int rts_io_num,
                       int cts_io_num)
{
    fidf_note_call(FIDF_CALL_OTHER);
    if (!valid_port(uart_num))
        return ESP_FAIL;
    if (tx_io_num < -1 || tx_io_num > 48 || rx_io_num < -1 || rx_io_num > 48 || rts_io_num < -1 ||
        rts_io_num > 48 || cts_io_num < -1 || cts_io_num > 48)
        return ESP_FAIL; /* "tx_io_num error" and the like */
    return ESP_OK;
}

int uart_write_bytes(uart_port_t uart_num, const void *src, size_t size)
{
    fidf_note_call(FIDF_CALL_OTHER);
    if (!valid_port(uart_num) || !fidf_uart_installed((int)uart_num) || src == NULL)
        return -1;
    return (int)fidf_uart_tx((const uint8_t *)src, size);
}

int uart_read_bytes(uart_port_t uart_num, void *buf, uint32_t length, TickType_t ticks_to_wait)
{
    uint8_t *p = (uint8_t *)buf;
    size_t got = 0;
    fidf_note_call(FIDF_CALL_OTHER);
    if (!valid_port(uart_num) || !fidf_uart_installed((int)uart_num) || buf == NULL) {
        /* -1 at once, as the real driver; a board polling a missing driver spins without time
         * passing, so the fake hands over to the host instead of hanging the test */
        if (ticks_to_wait > 0)
            fidf_idle();
        return -1;
    }
    while (got < length) {
        got += fidf_uart_rx_take(p + got, (size_t)length - got);
        if (got == length || ticks_to_wait == 0)
            break;
        /* each wait for more data may take ticks_to_wait, as xRingbufferReceive() in the real one */
        if (!fidf_uart_wait(ticks_to_cycles(ticks_to_wait)))
            break;
    }
    return (int)got;
}

esp_err_t uart_flush(uart_port_t uart_num) { return uart_flush_input(uart_num); }

esp_err_t uart_flush_input(uart_port_t uart_num)
{
    fidf_note_call(FIDF_CALL_OTHER);
    if (!valid_port(uart_num) || !fidf_uart_installed((int)uart_num))
        return ESP_FAIL;
    fidf_uart_rx_flush();
    return ESP_OK;
}

esp_err_t uart_get_buffered_data_len(uart_port_t uart_num, size_t *size)
{
    fidf_note_call(FIDF_CALL_OTHER);
    if (!valid_port(uart_num) || !fidf_uart_installed((int)uart_num) || size == NULL)
        return ESP_FAIL;
    *size = fidf_uart_rx_buffered();
    return ESP_OK;
}

esp_err_t uart_get_tx_buffer_free_size(uart_port_t uart_num, size_t *size)
{
    fidf_note_call(FIDF_CALL_OTHER);
    if (!valid_port(uart_num) || !fidf_uart_installed((int)uart_num) || size == NULL)
        return ESP_ERR_INVALID_ARG;
    *size = fidf_uart_tx_free();
    return ESP_OK;
}

esp_err_t uart_wait_tx_done(uart_port_t uart_num, TickType_t ticks_to_wait)
{
    (void)ticks_to_wait;
    fidf_note_call(FIDF_CALL_OTHER);
    if (!valid_port(uart_num) || !fidf_uart_installed((int)uart_num))
        return ESP_FAIL;
    return ESP_OK; /* the fake's output reaches the host at once */
}
