/* Run the .eai model in the "model" partition once a second and log its answer.
 *
 * The model runs in place from flash (eai_esp_model_open maps it); the only RAM it needs is
 * the arena below. The input here is the model's zero point everywhere (a "blank" input):
 * replace fill_input() with your sensor's data, quantized with the input's scale and zero
 * point (eai_tensor_info), as `edgeai inspect MODEL.eai` prints them. */
#include <inttypes.h>
#include <string.h>

#include "edgeai.h"
#include "edgeai_esp.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#define ARENA_BYTES (64u * 1024u) /* at least the model's arena_bytes */

static const char *const TAG = "run_model";
static uint32_t s_arena[ARENA_BYTES / 4u]; /* 4-byte aligned, as eai_invoke needs */

static void fill_input(const eai_model *m, uint8_t *arena)
{
    uint32_t i;
    for (i = 0; i < m->n_inputs; i++) {
        eai_tensor t;
        void *data;
        size_t n;
        if (eai_input_buffer(m, arena, i, &data, &n) != EAI_OK ||
            eai_tensor_info(m, (uint32_t)eai_input_index(m, i), &t) != EAI_OK)
            continue;
        if (t.dtype == EAI_INT8)
            memset(data, (int)(int8_t)t.zero_point, n);
        else
            memset(data, 0xFF, n); /* int32 ids of a text model: -1 is padding */
    }
}

/* The index of the largest int8 value of output 0. */
static int top_class(const eai_model *m, const uint8_t *arena, int8_t *best)
{
    const void *data;
    const int8_t *v;
    size_t n, i;
    int top = -1;
    if (eai_output_buffer(m, arena, 0, &data, &n) != EAI_OK || n == 0)
        return -1;
    v = (const int8_t *)data;
    for (i = 0; i < n; i++) {
        if (top < 0 || v[i] > v[top])
            top = (int)i;
    }
    *best = v[top];
    return top;
}

void app_main(void)
{
    eai_esp_model model;
    uint8_t *const arena = (uint8_t *)s_arena;
    int status = EAI_OK;
    const esp_err_t err = eai_esp_model_open(&model, "model", &status);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "no model in partition 'model': %s (%s); write one with parttool.py",
                 esp_err_to_name(err), eai_strerror(status));
        return;
    }
    if (model.model.arena_bytes > ARENA_BYTES) {
        ESP_LOGE(TAG, "the model needs %" PRIu32 " bytes of arena, ARENA_BYTES is %u",
                 model.model.arena_bytes, ARENA_BYTES);
        eai_esp_model_close(&model);
        return;
    }
    ESP_LOGI(TAG, "model: %" PRIu32 " bytes, %" PRIu32 " ops, arena %" PRIu32 " bytes",
             model.model.blob_bytes, model.model.n_ops, model.model.arena_bytes);
    for (;;) {
        int64_t t0, t1;
        int8_t score = 0;
        int cls;
        fill_input(&model.model, arena);
        t0 = esp_timer_get_time();
        status = eai_invoke(&model.model, arena, ARENA_BYTES);
        t1 = esp_timer_get_time();
        if (status != EAI_OK) {
            ESP_LOGE(TAG, "invoke: %s", eai_strerror(status));
            break;
        }
        cls = top_class(&model.model, arena, &score);
        ESP_LOGI(TAG, "class %d (score %d) in %" PRId64 " us", cls, (int)score, t1 - t0);
        vTaskDelay(pdMS_TO_TICKS(1000));
    }
    eai_esp_model_close(&model);
}
