/* Fake ESP-IDF v5.5: freertos (FreeRTOS-Kernel V10.5.1 as ESP-IDF ships it), the types and
 * macros the port uses. configTICK_RATE_HZ is CONFIG_FREERTOS_HZ (ESP-IDF's default: 100). */
#ifndef INC_FREERTOS_H
#define INC_FREERTOS_H

#include <stddef.h>
#include <stdint.h>

#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t TickType_t;
typedef int BaseType_t;
typedef unsigned int UBaseType_t;

#define configTICK_RATE_HZ CONFIG_FREERTOS_HZ
#define portMAX_DELAY ((TickType_t)0xffffffffUL)
#define portTICK_PERIOD_MS ((TickType_t)1000 / configTICK_RATE_HZ)
#define pdFALSE ((BaseType_t)0)
#define pdTRUE ((BaseType_t)1)
#define pdPASS (pdTRUE)
#define pdFAIL (pdFALSE)

/* projdefs.h of V10.5.1: the product is taken in TickType_t (32 bits). */
#define pdMS_TO_TICKS(xTimeInMs) \
    ((TickType_t)(((TickType_t)(xTimeInMs) * (TickType_t)configTICK_RATE_HZ) / (TickType_t)1000U))
#define pdTICKS_TO_MS(xTimeInTicks) \
    ((TickType_t)(((TickType_t)(xTimeInTicks) * (TickType_t)1000U) / (TickType_t)configTICK_RATE_HZ))

#ifdef __cplusplus
}
#endif

#endif /* INC_FREERTOS_H */
