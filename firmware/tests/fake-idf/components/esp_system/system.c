/* Fake esp_system: restart and reset reason. */
#include "esp_system.h"
#include "fake_idf_priv.h"

void esp_restart(void)
{
    fidf_note_call(FIDF_CALL_OTHER);
    fidf_restart(ESP_RST_SW);
}

esp_reset_reason_t esp_reset_reason(void) { return fidf_reset_reason(); }
