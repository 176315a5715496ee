/* Fake esp_partition API (esp_partition.h) over the fake_idf flash; argument checks and return
 * values follow esp_partition/partition_target.c of v5.5. */
#include <string.h>

#include "esp_partition.h"
#include "fake_idf_priv.h"
#include "spi_flash_mmap.h"

#define MAX_PARTS 16u

static esp_partition_t s_parts[MAX_PARTS];

static const esp_partition_t *load(size_t i)
{
    const fake_idf_partition *f = fidf_partition(i);
    esp_partition_t *p = &s_parts[i];
    size_t k;
    memset(p, 0, sizeof *p);
    p->flash_chip = NULL; /* the default chip */
    p->type = (esp_partition_type_t)f->type;
    p->subtype = (esp_partition_subtype_t)f->subtype;
    p->address = f->address;
    p->size = f->size;
    p->erase_size = SPI_FLASH_SEC_SIZE;
    for (k = 0; k < 16 && f->label[k]; k++)
        p->label[k] = f->label[k];
    p->encrypted = false;
    p->readonly = false;
    return p;
}

const esp_partition_t *esp_partition_find_first(esp_partition_type_t type,
                                                esp_partition_subtype_t subtype, const char *label)
{
    size_t i;
    fidf_note_call(FIDF_CALL_OTHER);
    for (i = 0; i < fidf_partition_count() && i < MAX_PARTS; i++) {
        const fake_idf_partition *f = fidf_partition(i);
        if (type != ESP_PARTITION_TYPE_ANY && f->type != (uint8_t)type)
            continue;
        if (subtype != ESP_PARTITION_SUBTYPE_ANY && f->subtype != (uint8_t)subtype)
            continue;
        if (label != NULL && strncmp(label, f->label, 16) != 0)
            continue;
        return load(i);
    }
    return NULL;
}

static esp_err_t check(const esp_partition_t *p, size_t offset, size_t size)
{
    if (p == NULL)
        return ESP_ERR_INVALID_ARG;
    if (offset > p->size)
        return ESP_ERR_INVALID_ARG;
    if (size > p->size - offset)
        return ESP_ERR_INVALID_SIZE;
    return ESP_OK;
}

esp_err_t esp_partition_read(const esp_partition_t *partition, size_t src_offset, void *dst,
                             size_t size)
{
    esp_err_t err;
    fidf_note_call(FIDF_CALL_OTHER);
    if ((err = check(partition, src_offset, size)) != ESP_OK)
        return err;
    if (dst == NULL)
        return ESP_ERR_INVALID_ARG;
    return fidf_flash_read(partition->address + (uint32_t)src_offset, dst, size);
}

esp_err_t esp_partition_write(const esp_partition_t *partition, size_t dst_offset, const void *src,
                              size_t size)
{
    esp_err_t err;
    fidf_note_call(FIDF_CALL_OTHER);
    if ((err = check(partition, dst_offset, size)) != ESP_OK)
        return err;
    if (src == NULL)
        return ESP_ERR_INVALID_ARG;
    if (partition->readonly)
        return ESP_ERR_NOT_ALLOWED;
    return fidf_flash_write(partition->address + (uint32_t)dst_offset, src, size);
}

esp_err_t esp_partition_erase_range(const esp_partition_t *partition, size_t offset, size_t size)
{
    esp_err_t err;
    fidf_note_call(FIDF_CALL_OTHER);
    if ((err = check(partition, offset, size)) != ESP_OK)
        return err;
    if (partition->readonly)
        return ESP_ERR_NOT_ALLOWED;
    if (size % partition->erase_size != 0 || offset % partition->erase_size != 0)
        return ESP_ERR_INVALID_ARG;
    return fidf_flash_erase(partition->address + (uint32_t)offset, size);
}

esp_err_t esp_partition_mmap(const esp_partition_t *partition, size_t offset, size_t size,
                             esp_partition_mmap_memory_t memory, const void **out_ptr,
                             esp_partition_mmap_handle_t *out_handle)
{
    const size_t page = SPI_FLASH_MMU_PAGE_SIZE;
    size_t phys, region_offset;
    esp_err_t err;
    fidf_note_call(FIDF_CALL_OTHER);
    if (partition == NULL || out_ptr == NULL || out_handle == NULL)
        return ESP_ERR_INVALID_ARG;
    if (offset > partition->size)
        return ESP_ERR_INVALID_ARG;
    if (size > partition->size - offset)
        return ESP_ERR_INVALID_SIZE;
    phys = partition->address + offset;
    region_offset = phys & (page - 1u);
    err = spi_flash_mmap(phys & ~(page - 1u), size + region_offset, (spi_flash_mmap_memory_t)memory,
                         out_ptr, (spi_flash_mmap_handle_t *)out_handle);
    if (err == ESP_OK)
        *out_ptr = (const uint8_t *)*out_ptr + region_offset;
    return err;
}

void esp_partition_munmap(esp_partition_mmap_handle_t handle)
{
    spi_flash_munmap((spi_flash_mmap_handle_t)handle);
}
