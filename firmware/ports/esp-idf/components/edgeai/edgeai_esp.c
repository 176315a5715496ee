/* edgeai_esp.h: a model in a flash partition, mapped in place. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgeai_esp.h"

esp_err_t eai_esp_model_open(eai_esp_model *m, const char *label, int *load_status)
{
    uint32_t header_words[EAI_HEADER_BYTES / 4u]; /* 4-byte aligned for the loader's checks */
    uint32_t blob_bytes = 0;
    const void *p = NULL;
    esp_err_t err;
    int st;
    if (load_status != NULL)
        *load_status = EAI_OK;
    if (m == NULL || label == NULL)
        return ESP_ERR_INVALID_ARG;
    memset(m, 0, sizeof *m);
    m->partition = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, label);
    if (m->partition == NULL)
        return ESP_ERR_NOT_FOUND;
    if (m->partition->size < EAI_HEADER_BYTES) {
        if (load_status != NULL)
            *load_status = EAI_ERR_TRUNCATED;
        return ESP_ERR_INVALID_SIZE;
    }
    err = esp_partition_read(m->partition, 0, header_words, sizeof header_words);
    if (err != ESP_OK)
        return err;
    st = eai_blob_size(header_words, sizeof header_words, &blob_bytes);
    if (st == EAI_OK && blob_bytes > m->partition->size)
        st = EAI_ERR_TRUNCATED;
    if (st != EAI_OK) {
        if (load_status != NULL)
            *load_status = st;
        return ESP_ERR_INVALID_SIZE;
    }
    err = esp_partition_mmap(m->partition, 0, blob_bytes, ESP_PARTITION_MMAP_DATA, &p, &m->handle);
    if (err != ESP_OK)
        return err;
    m->mapped = 1;
    st = eai_load(&m->model, p, blob_bytes);
    if (st != EAI_OK) {
        const int32_t at = m->model.err_index;
        eai_esp_model_close(m);
        m->model.err_index = at;
        if (load_status != NULL)
            *load_status = st;
        return ESP_ERR_INVALID_STATE;
    }
    return ESP_OK;
}

void eai_esp_model_close(eai_esp_model *m)
{
    if (m == NULL)
        return;
    if (m->mapped)
        esp_partition_munmap(m->handle);
    memset(m, 0, sizeof *m);
    m->model.err_index = -1;
}
