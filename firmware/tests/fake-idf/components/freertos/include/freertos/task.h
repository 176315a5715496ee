/* Fake ESP-IDF v5.5: freertos/task.h (the subset the port uses). As in the real kernel,
 * FreeRTOS.h must be included first. */
#ifndef INC_TASK_H
#define INC_TASK_H

#ifndef INC_FREERTOS_H
#error "include FreeRTOS.h must appear in source files before include task.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct tskTaskControlBlock;
typedef struct tskTaskControlBlock *TaskHandle_t;

/* The fake board runs one task, the main task (app_main's). */
TaskHandle_t xTaskGetCurrentTaskHandle(void);
TickType_t xTaskGetTickCount(void);
/* Blocks: the fake clock advances by the ticks (the idle task would run meanwhile). */
void vTaskDelay(const TickType_t xTicksToDelay);

#ifdef __cplusplus
}
#endif

#endif /* INC_TASK_H */
