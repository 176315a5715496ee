/* Fake task watchdog API (esp_task_wdt.h) over the fake_idf model. Only the main task exists,
 * so a NULL or current task handle is the main task; users (esp_task_wdt_add_user) are not
 * modelled. esp_task_wdt_reset() first charges the scripted work of the stretch it closes. */
#include "esp_task_wdt.h"
#include "fake_idf_priv.h"

static int is_main(TaskHandle_t t) { return t == NULL || t == xTaskGetCurrentTaskHandle(); }

esp_err_t esp_task_wdt_init(const esp_task_wdt_config_t *config)
{
    fidf_note_call(FIDF_CALL_OTHER);
    if (config == NULL)
        return ESP_ERR_INVALID_ARG;
    return fidf_wdt_init(config->timeout_ms, config->idle_core_mask, config->trigger_panic, 0);
}

esp_err_t esp_task_wdt_reconfigure(const esp_task_wdt_config_t *config)
{
    fidf_note_call(FIDF_CALL_OTHER);
    if (config == NULL)
        return ESP_ERR_INVALID_ARG;
    return fidf_wdt_init(config->timeout_ms, config->idle_core_mask, config->trigger_panic, 1);
}

esp_err_t esp_task_wdt_deinit(void)
{
    fidf_note_call(FIDF_CALL_OTHER);
    return fidf_wdt_deinit();
}

esp_err_t esp_task_wdt_add(TaskHandle_t task_handle)
{
    fidf_note_call(FIDF_CALL_OTHER);
    return is_main(task_handle) ? fidf_wdt_add_task() : ESP_ERR_INVALID_ARG;
}

esp_err_t esp_task_wdt_add_user(const char *user_name, esp_task_wdt_user_handle_t *user_handle_ret)
{
    (void)user_name;
    (void)user_handle_ret;
    fidf_note_call(FIDF_CALL_OTHER);
    return ESP_ERR_NOT_SUPPORTED;
}

esp_err_t esp_task_wdt_reset(void)
{
    const uint64_t work_us = fidf_take_work_us();
    fidf_note_call(FIDF_CALL_FEED);
    if (work_us > 0)
        fidf_advance_us(work_us); /* the layer that just ended; may trip the watchdog */
    return fidf_wdt_reset_task();
}

esp_err_t esp_task_wdt_reset_user(esp_task_wdt_user_handle_t user_handle)
{
    (void)user_handle;
    fidf_note_call(FIDF_CALL_OTHER);
    return ESP_ERR_INVALID_ARG;
}

esp_err_t esp_task_wdt_delete(TaskHandle_t task_handle)
{
    fidf_note_call(FIDF_CALL_OTHER);
    return is_main(task_handle) ? fidf_wdt_delete_task() : ESP_ERR_INVALID_ARG;
}

esp_err_t esp_task_wdt_delete_user(esp_task_wdt_user_handle_t user_handle)
{
    (void)user_handle;
    fidf_note_call(FIDF_CALL_OTHER);
    return ESP_ERR_INVALID_ARG;
}

esp_err_t esp_task_wdt_status(TaskHandle_t task_handle)
{
    fidf_note_call(FIDF_CALL_OTHER);
    return is_main(task_handle) ? fidf_wdt_status_task() : ESP_ERR_NOT_FOUND;
}
