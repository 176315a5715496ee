/* Fake ESP-IDF v5.5: esp_hw_support/include/esp_cpu.h. The real esp_cpu_get_cycle_count() is an
 * inline read of the CPU's 32-bit cycle counter (CCOUNT on Xtensa, the machine performance
 * counter on the RISC-V chips); the fake is a function returning the low 32 bits of the fake
 * clock's cycle count, so it wraps every 2^32 cycles as the real one does. */
#ifndef FAKE_IDF_ESP_CPU_H
#define FAKE_IDF_ESP_CPU_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t esp_cpu_cycle_count_t;

esp_cpu_cycle_count_t esp_cpu_get_cycle_count(void);
void esp_cpu_set_cycle_count(esp_cpu_cycle_count_t cycle_count);
int esp_cpu_get_core_id(void);

#ifdef __cplusplus
}
#endif

#endif /* FAKE_IDF_ESP_CPU_H */
