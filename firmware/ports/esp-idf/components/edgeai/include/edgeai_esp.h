/* edgeai on ESP-IDF: run an .eai model from a flash partition in your own firmware.
 *
 * The model runs in place from flash: the partition is mapped into the data address space,
 * never copied to RAM. The runtime's own API is edgeai.h (eai_invoke, eai_input_buffer,
 * eai_output_buffer, ...); a model already in memory (a const array, say) needs only
 * eai_load() from there. You own the arena: a static, 4-byte aligned array of at least
 * model.arena_bytes (`edgeai inspect MODEL.eai` says how many).
 *
 *   static uint32_t arena[48 * 1024 / 4];
 *   eai_esp_model m;
 *   ESP_ERROR_CHECK(eai_esp_model_open(&m, "model", NULL));
 *   void *in; size_t n;
 *   eai_input_buffer(&m.model, (uint8_t *)arena, 0, &in, &n);   ... fill in[0..n) ...
 *   eai_invoke(&m.model, (uint8_t *)arena, sizeof arena);
 *   eai_output_buffer(&m.model, (uint8_t *)arena, 0, &out, &n);  ... read out[0..n) ...
 */
#ifndef EDGEAI_ESP_H
#define EDGEAI_ESP_H

#include "edgeai.h"
#include "esp_err.h"
#include "esp_partition.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    eai_model model;                    /* the loaded model (edgeai.h) */
    const esp_partition_t *partition;   /* where it lives */
    esp_partition_mmap_handle_t handle; /* its mapping, released by eai_esp_model_close() */
    int mapped;                         /* whether `handle` is live */
} eai_esp_model;

/* Find the data partition `label`, map the blob at its start (exactly the bytes its header
 * states) and validate it with eai_load(). Returns:
 *   ESP_OK                 *m holds the model
 *   ESP_ERR_INVALID_ARG    m or label is NULL
 *   ESP_ERR_NOT_FOUND      no data partition has that label
 *   ESP_ERR_INVALID_SIZE   the partition holds no whole blob (erased, truncated, or not an
 *                          .eai blob: *load_status says which)
 *   ESP_ERR_INVALID_STATE  eai_load() refused the blob (*load_status is its status,
 *                          eai_strerror() names it; m->model.err_index the record at fault)
 *   or the error of esp_partition_read / esp_partition_mmap (ESP_ERR_NO_MEM: no free MMU pages).
 * load_status may be NULL. On failure nothing stays mapped. */
esp_err_t eai_esp_model_open(eai_esp_model *m, const char *label, int *load_status);

/* Unmap the model; pointers into it (and m->model) are invalid afterwards. */
void eai_esp_model_close(eai_esp_model *m);

#ifdef __cplusplus
}
#endif

#endif /* EDGEAI_ESP_H */
