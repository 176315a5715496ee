/* Fake spi_flash mmap API (spi_flash_mmap.h) over the fake_idf MMU model (see fake_idf.h). */
#include "esp_log.h"
#include "fake_idf_priv.h"
#include "spi_flash_mmap.h"

esp_err_t spi_flash_mmap(size_t src_addr, size_t size, spi_flash_mmap_memory_t memory,
                         const void **out_ptr, spi_flash_mmap_handle_t *out_handle)
{
    uint32_t h = 0;
    esp_err_t err;
    fidf_note_call(FIDF_CALL_OTHER);
    if (src_addr >= (1u << 24) || size > (1u << 24) || src_addr > (1u << 24) - size)
        return ESP_ERR_INVALID_ARG; /* 24-bit flash addresses */
    err = fidf_mmap(src_addr, size, memory == SPI_FLASH_MMAP_INST, out_ptr, &h);
    if (out_handle != NULL)
        *out_handle = h;
    return err;
}

void spi_flash_munmap(spi_flash_mmap_handle_t handle)
{
    fidf_note_call(FIDF_CALL_OTHER);
    fidf_munmap(handle);
}

void spi_flash_mmap_dump(void)
{
    fidf_note_call(FIDF_CALL_OTHER);
    ESP_LOGI("mmap", "%lu pages mapped in %lu blocks, %lu held by the app",
             (unsigned long)fake_idf_mmu_mapped_pages(), (unsigned long)fake_idf_mmu_mappings(),
             (unsigned long)fake_idf_mmu_app_pages());
}

uint32_t spi_flash_mmap_get_free_pages(spi_flash_mmap_memory_t memory)
{
    fidf_note_call(FIDF_CALL_OTHER);
    return fidf_mmap_free_pages(memory == SPI_FLASH_MMAP_INST);
}

size_t spi_flash_cache2phys(const void *cached)
{
    fidf_note_call(FIDF_CALL_OTHER);
    return fidf_cache2phys(cached);
}
