/* Fake ESP-IDF v5.5: spi_flash/include/spi_flash_mmap.h (same names and signatures). The fake
 * MMU is the v5 esp_mmu_map() allocator of esp_mm/esp_mmu_map.c in miniature: one region of
 * the target's mappable pages, the app's own pages reserved at its start, blocks placed
 * first-fit, a range already inside a mapped block reused (ESP_ERR_INVALID_STATE inside, ESP_OK
 * with a handle that unmaps nothing outside), ESP_ERR_NOT_FOUND when no free run of pages is
 * long enough (see fake_idf.h). */
#ifndef FAKE_IDF_SPI_FLASH_MMAP_H
#define FAKE_IDF_SPI_FLASH_MMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESP_ERR_FLASH_OP_FAIL (ESP_ERR_FLASH_BASE + 1)
#define ESP_ERR_FLASH_OP_TIMEOUT (ESP_ERR_FLASH_BASE + 2)

/* ESP-IDF's Kconfig always sets CONFIG_MMU_PAGE_SIZE (0x10000 on the esp32, s3 and c3, and on
 * the c6 with 4 MB of flash); a generated sdkconfig.h that lacks it gets that value here. */
#ifndef CONFIG_MMU_PAGE_SIZE
#define CONFIG_MMU_PAGE_SIZE 0x10000
#endif

#define SPI_FLASH_SEC_SIZE 4096                       /* SPI Flash sector size */
#define SPI_FLASH_MMU_PAGE_SIZE CONFIG_MMU_PAGE_SIZE  /* Flash cache MMU mapping page size */

typedef enum {
    SPI_FLASH_MMAP_DATA, /* map to data memory, allows byte-aligned access */
    SPI_FLASH_MMAP_INST  /* map to instruction memory, allows only 4-byte-aligned access */
} spi_flash_mmap_memory_t;

typedef uint32_t spi_flash_mmap_handle_t;

esp_err_t spi_flash_mmap(size_t src_addr, size_t size, spi_flash_mmap_memory_t memory,
                         const void **out_ptr, spi_flash_mmap_handle_t *out_handle);
void spi_flash_munmap(spi_flash_mmap_handle_t handle);
void spi_flash_mmap_dump(void);
/* v5: the largest run of consecutive free pages (esp_mmu_map_get_max_consecutive_free_block_size
 * divided by the page size), not the total of free pages. */
uint32_t spi_flash_mmap_get_free_pages(spi_flash_mmap_memory_t memory);

#define SPI_FLASH_CACHE2PHYS_FAIL UINT32_MAX
size_t spi_flash_cache2phys(const void *cached);

#ifdef __cplusplus
}
#endif

#endif /* FAKE_IDF_SPI_FLASH_MMAP_H */
