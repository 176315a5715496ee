/* Fake esp_cpu: the 32-bit cycle counter of the fake clock (see fake_idf.h). */
#include "esp_cpu.h"
#include "fake_idf_priv.h"

static uint32_t s_set_delta; /* esp_cpu_set_cycle_count() moves the counter */

esp_cpu_cycle_count_t esp_cpu_get_cycle_count(void)
{
    fidf_note_call(FIDF_CALL_CLOCK);
    if (fidf_read_cost() > 0)
        fidf_advance(fidf_read_cost());
    return (esp_cpu_cycle_count_t)((uint32_t)fidf_since_boot() + fidf_ccount_offset() + s_set_delta);
}

void esp_cpu_set_cycle_count(esp_cpu_cycle_count_t cycle_count)
{
    fidf_note_call(FIDF_CALL_OTHER);
    s_set_delta = (uint32_t)(cycle_count - ((uint32_t)fidf_since_boot() + fidf_ccount_offset()));
}

int esp_cpu_get_core_id(void) { return 0; }
