/* Fake ESP-IDF v5.5: freertos/queue.h (the handle type only; driver/uart.h names it). */
#ifndef INC_QUEUE_H
#define INC_QUEUE_H

#ifndef INC_FREERTOS_H
#error "include FreeRTOS.h must appear in source files before include queue.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct QueueDefinition;
typedef struct QueueDefinition *QueueHandle_t;

#ifdef __cplusplus
}
#endif

#endif /* INC_QUEUE_H */
