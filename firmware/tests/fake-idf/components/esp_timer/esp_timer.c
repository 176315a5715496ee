/* Fake esp_timer: microseconds since boot, 64 bits, from the fake clock (see fake_idf.h). */
#include "esp_timer.h"
#include "fake_idf_priv.h"

int64_t esp_timer_get_time(void)
{
    fidf_note_call(FIDF_CALL_CLOCK);
    if (fidf_read_cost() > 0)
        fidf_advance(fidf_read_cost());
    return (int64_t)(fidf_since_boot() / fidf_mhz());
}
