/* Fake FreeRTOS: one task (the main task), the tick count, vTaskDelay. */
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "fake_idf_priv.h"

struct tskTaskControlBlock {
    int id;
};

static struct tskTaskControlBlock s_main_task = {1};

TaskHandle_t xTaskGetCurrentTaskHandle(void) { return &s_main_task; }

TickType_t xTaskGetTickCount(void)
{
    fidf_note_call(FIDF_CALL_OTHER);
    return (TickType_t)(fidf_since_boot() / fidf_mhz() / (1000000u / (uint32_t)configTICK_RATE_HZ));
}

void vTaskDelay(const TickType_t xTicksToDelay)
{
    fidf_note_call(FIDF_CALL_OTHER);
    fidf_wdt_idle_ran();
    fidf_advance_us((uint64_t)xTicksToDelay * (1000000u / (uint32_t)configTICK_RATE_HZ));
    fidf_wdt_idle_ran();
}
