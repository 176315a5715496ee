/* The fake SPI NOR flash, its partition table and the MMU that maps it (see fake_idf.h).
 *
 * The MMU follows ESP-IDF v5's esp_mmu_map() (esp_mm/esp_mmu_map.c): the mappable pages form one
 * linear region per kind; at boot the app image's own pages are reserved at its start
 * (s_reserve_drom_region / s_reserve_irom_region); a mapping takes the first free run of pages
 * long enough (first fit); a physical range that lies inside an existing mapping is not mapped
 * again: esp_mmu_map() answers ESP_ERR_INVALID_STATE with a pointer into the existing block, which
 * spi_flash_mmap() turns into ESP_OK with a handle that unmaps nothing; no free run long enough is
 * ESP_ERR_NOT_FOUND. Only the data kind (SPI_FLASH_MMAP_DATA) is modelled.
 *
 * Mapped pointers point into a shadow of the flash that holds each page's bytes while some
 * mapping holds the page (writes and erases update it: the real driver invalidates the cache of
 * what it writes); a page no mapping holds reads 0xA5 and, under AddressSanitizer, is poisoned.
 */
#include <stdlib.h>
#include <string.h>

#include "fake_idf_priv.h"
#include "sdkconfig.h"
#include "spi_flash_mmap.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) \
    do {              \
        (void)(p);    \
        (void)(n);    \
    } while (0)
#define UNPOISON(p, n) POISON(p, n)
#endif

#define FLASH FAKE_IDF_FLASH_BYTES
#define PAGE ((uint32_t)SPI_FLASH_MMU_PAGE_SIZE)
#define PHYS_PAGES (FLASH / PAGE)
#define SECTOR 4096u
#define PROG_PAGE 256u
#define MAX_PARTS 16u
#define MAX_BLOCKS 64u
#define MAX_HANDLES 128u

/* On the heap, allocated at the first power-on: a bare-metal link of the fakes has RAM for the
 * app, not for 8 MiB of fake flash (it is linked, never run). */
static uint8_t *s_flash;
static uint8_t *s_shadow;
static uint16_t s_refs[PHYS_PAGES]; /* mappings holding each physical page */

static fake_idf_partition s_parts[MAX_PARTS];
static char s_labels[MAX_PARTS][17];
static size_t s_nparts;

static uint32_t s_erase_us = 45000, s_prog_us = 400;
static uint64_t s_longest_op;
static uint32_t s_erase_calls;

static fake_idf_target s_target, s_next_target;
static uint32_t s_app_pages, s_next_app_pages;
static uint32_t s_total_pages;

typedef struct {
    int used;
    uint32_t lpage, npages; /* in the linear region */
    uint32_t ppage;         /* first physical page */
} block;
static block s_blocks[MAX_BLOCKS];
static int s_handles[MAX_HANDLES]; /* 0 free; else block index + 1, or -1: a shared one */

/* ---- partitions ------------------------------------------------------------------------------ */

static const fake_idf_partition k_csv[] = { /* ports/esp-idf/partitions.csv */
    {"nvs", 0x01, 0x02, 0x9000, 0x6000},
    {"phy_init", 0x01, 0x01, 0xf000, 0x1000},
    {"factory", 0x00, 0x00, 0x10000, 0x180000},
    {"eai_table", 0x01, 0x40, 0x190000, 0x2000},
    {"model_a", 0x01, 0x41, 0x1a0000, 0x130000},
    {"model_b", 0x01, 0x42, 0x2d0000, 0x130000},
};

void fake_idf_set_partitions(const fake_idf_partition *parts, size_t n)
{
    size_t i;
    if (parts == NULL) {
        parts = k_csv;
        n = sizeof k_csv / sizeof k_csv[0];
    }
    if (n > MAX_PARTS)
        n = MAX_PARTS;
    for (i = 0; i < n; i++) {
        size_t k;
        s_parts[i] = parts[i];
        for (k = 0; k < 16 && parts[i].label != NULL && parts[i].label[k]; k++)
            s_labels[i][k] = parts[i].label[k];
        s_labels[i][k] = 0;
        s_parts[i].label = s_labels[i];
    }
    s_nparts = n;
}

size_t fidf_partition_count(void) { return s_nparts; }
const fake_idf_partition *fidf_partition(size_t i) { return i < s_nparts ? &s_parts[i] : NULL; }

/* ---- flash ------------------------------------------------------------------------------------- */

static int in_flash(uint32_t addr, size_t n) { return addr <= FLASH && n <= (size_t)(FLASH - addr); }

/* The mapped view of [addr, addr + n) follows the flash. */
static void sync_shadow(uint32_t addr, size_t n)
{
    while (n > 0) {
        const uint32_t page = addr / PAGE, end = (page + 1u) * PAGE;
        const size_t k = (size_t)(end - addr) < n ? (size_t)(end - addr) : n;
        if (s_refs[page] > 0)
            memcpy(s_shadow + addr, s_flash + addr, k);
        addr += (uint32_t)k;
        n -= k;
    }
}

esp_err_t fidf_flash_read(uint32_t addr, void *dst, size_t n)
{
    if (!in_flash(addr, n) || (dst == NULL && n > 0))
        return ESP_ERR_INVALID_ARG;
    if (n > 0)
        memcpy(dst, s_flash + addr, n);
    return ESP_OK;
}

static void op_time(uint64_t us)
{
    if (us > s_longest_op)
        s_longest_op = us;
}

/* Program page by page (each takes s_prog_us); a restart in between leaves the rest unwritten. */
esp_err_t fidf_flash_write(uint32_t addr, const void *src, size_t n)
{
    const uint8_t *s = (const uint8_t *)src;
    uint64_t us = 0;
    if (!in_flash(addr, n) || (src == NULL && n > 0))
        return ESP_ERR_INVALID_ARG;
    fidf_uart_flash_busy(1);
    while (n > 0) {
        const uint32_t end = (addr / PROG_PAGE + 1u) * PROG_PAGE;
        const size_t k = (size_t)(end - addr) < n ? (size_t)(end - addr) : n;
        size_t i;
        for (i = 0; i < k; i++)
            s_flash[addr + i] &= s[i];
        sync_shadow(addr, k);
        fidf_advance_us(s_prog_us);
        us += s_prog_us;
        addr += (uint32_t)k;
        s += k;
        n -= k;
    }
    fidf_uart_flash_busy(0);
    op_time(us);
    return ESP_OK;
}

/* Erase sector by sector (each takes s_erase_us); the watchdog may fire in between. */
esp_err_t fidf_flash_erase(uint32_t addr, size_t n)
{
    uint64_t us = 0;
    if (!in_flash(addr, n) || addr % SECTOR != 0 || n % SECTOR != 0)
        return ESP_ERR_INVALID_ARG;
    s_erase_calls++;
    fidf_uart_flash_busy(1);
    while (n > 0) {
        memset(s_flash + addr, 0xFF, SECTOR);
        sync_shadow(addr, SECTOR);
        fidf_advance_us(s_erase_us);
        us += s_erase_us;
        addr += SECTOR;
        n -= SECTOR;
    }
    fidf_uart_flash_busy(0);
    op_time(us);
    return ESP_OK;
}

uint8_t *fake_idf_flash(void) { return s_flash; }

void fake_idf_set_flash_times(uint32_t erase_sector_us, uint32_t program_page_us)
{
    s_erase_us = erase_sector_us;
    s_prog_us = program_page_us;
}

uint64_t fake_idf_flash_take_longest_op_us(void)
{
    const uint64_t v = s_longest_op;
    s_longest_op = 0;
    return v;
}

uint32_t fake_idf_flash_erase_calls(void) { return s_erase_calls; }

/* ---- MMU ------------------------------------------------------------------------------------------- */

/* Data pages of each chip's MMU and pages a small app image typically holds of them:
 *   esp32   64: the DROM0 window 0x3F400000-0x3F800000 (4 MiB) is data only; the app's rodata
 *               holds its first pages (soc/esp32/include/soc/ext_mem_defs.h, esp_mm/port/esp32);
 *   esp32c3 128, esp32c6 256, esp32s3 512: one MMU table shared by code and data
 *               (SOC_MMU_ENTRY_NUM in soc/<chip>/include/soc/ext_mem_defs.h; the C6's 256
 *               entries map 16 MiB with 64 KiB pages); the app's code and rodata hold the first. */
static uint32_t target_pages(fake_idf_target t)
{
    switch (t) {
    case FAKE_IDF_ESP32: return 64;
    case FAKE_IDF_ESP32S3: return 512;
    case FAKE_IDF_ESP32C6: return 256;
    case FAKE_IDF_ESP32C3: default: return 128;
    }
}

static uint32_t target_app_pages(fake_idf_target t) { return t == FAKE_IDF_ESP32 ? 2u : 4u; }

static fake_idf_target sdkconfig_target(void)
{
#if CONFIG_IDF_TARGET_ESP32
    return FAKE_IDF_ESP32;
#elif CONFIG_IDF_TARGET_ESP32S3
    return FAKE_IDF_ESP32S3;
#elif CONFIG_IDF_TARGET_ESP32C6
    return FAKE_IDF_ESP32C6;
#else
    return FAKE_IDF_ESP32C3;
#endif
}

/* Applied at once while nothing is mapped (after fake_idf_reset(), before the board boots),
 * else at the next boot. */
static void apply_mmu(void)
{
    s_target = s_next_target;
    s_total_pages = target_pages(s_target);
    s_app_pages = s_next_app_pages < s_total_pages ? s_next_app_pages : s_total_pages;
}

void fake_idf_set_target(fake_idf_target target)
{
    s_next_target = target;
    s_next_app_pages = target_app_pages(target);
    if (fake_idf_mmu_mappings() == 0)
        apply_mmu();
}

void fake_idf_set_app_pages(uint32_t pages)
{
    s_next_app_pages = pages;
    if (fake_idf_mmu_mappings() == 0)
        apply_mmu();
}
uint32_t fake_idf_mmu_pages(void) { return s_total_pages; }
uint32_t fake_idf_mmu_app_pages(void) { return s_app_pages; }

uint32_t fake_idf_mmu_mapped_pages(void)
{
    uint32_t i, n = 0;
    for (i = 0; i < MAX_BLOCKS; i++)
        if (s_blocks[i].used)
            n += s_blocks[i].npages;
    return n;
}

uint32_t fake_idf_mmu_mappings(void)
{
    uint32_t i, n = 0;
    for (i = 0; i < MAX_BLOCKS; i++)
        n += s_blocks[i].used ? 1u : 0u;
    return n;
}

static void hold_pages(uint32_t ppage, uint32_t n)
{
    uint32_t p;
    for (p = ppage; p < ppage + n; p++) {
        if (s_refs[p]++ == 0) {
            UNPOISON(s_shadow + p * PAGE, PAGE);
            memcpy(s_shadow + p * PAGE, s_flash + p * PAGE, PAGE);
        }
    }
}

static void release_pages(uint32_t ppage, uint32_t n)
{
    uint32_t p;
    for (p = ppage; p < ppage + n; p++) {
        if (s_refs[p] > 0 && --s_refs[p] == 0) {
            memset(s_shadow + p * PAGE, 0xA5, PAGE);
            POISON(s_shadow + p * PAGE, PAGE);
        }
    }
}

/* The first free run of n pages in the linear region after the app's pages, or UINT32_MAX; and
 * the longest free run in *longest. */
static uint32_t first_fit(uint32_t n, uint32_t *longest)
{
    uint32_t start = s_app_pages, found = UINT32_MAX, best = 0;
    for (;;) {
        uint32_t next = s_total_pages, i, run;
        for (i = 0; i < MAX_BLOCKS; i++) /* the block that starts first at or after start */
            if (s_blocks[i].used && s_blocks[i].lpage >= start && s_blocks[i].lpage < next)
                next = s_blocks[i].lpage;
        run = next - start;
        if (run > best)
            best = run;
        if (found == UINT32_MAX && run >= n)
            found = start;
        if (next >= s_total_pages)
            break;
        for (i = 0; i < MAX_BLOCKS; i++)
            if (s_blocks[i].used && s_blocks[i].lpage == next)
                start = next + s_blocks[i].npages;
    }
    if (longest != NULL)
        *longest = best;
    return found;
}

static uint32_t new_handle(int value)
{
    uint32_t h;
    for (h = 0; h < MAX_HANDLES; h++) {
        if (s_handles[h] == 0) {
            s_handles[h] = value;
            return h + 1u;
        }
    }
    return 0;
}

esp_err_t fidf_mmap(size_t src_addr, size_t size, int inst, const void **out_ptr, uint32_t *out_handle)
{
    uint32_t ppage, npages, lpage, i, h;
    if (out_ptr == NULL || out_handle == NULL)
        return ESP_ERR_INVALID_ARG;
    *out_ptr = NULL;
    *out_handle = 0;
    if (inst)
        return ESP_ERR_NOT_SUPPORTED; /* the fake maps data only */
    if (src_addr % PAGE != 0 || size == 0 || src_addr >= FLASH || size > FLASH - src_addr)
        return ESP_ERR_INVALID_ARG; /* esp_mmu_map: "paddr must be rounded up to ... page size" */
    ppage = (uint32_t)(src_addr / PAGE);
    npages = (uint32_t)((size + PAGE - 1u) / PAGE);
    for (i = 0; i < MAX_BLOCKS; i++) { /* already inside a mapped block: reuse it */
        const block *b = &s_blocks[i];
        if (b->used && ppage >= b->ppage && ppage + npages <= b->ppage + b->npages) {
            h = new_handle(-1);
            if (h == 0)
                return ESP_ERR_NO_MEM;
            *out_ptr = s_shadow + src_addr;
            *out_handle = h;
            return ESP_OK;
        }
    }
    lpage = first_fit(npages, NULL);
    if (lpage == UINT32_MAX)
        return ESP_ERR_NOT_FOUND; /* "no such vaddr range" */
    for (i = 0; i < MAX_BLOCKS && s_blocks[i].used; i++)
        ;
    if (i == MAX_BLOCKS)
        return ESP_ERR_NO_MEM;
    h = new_handle((int)i + 1);
    if (h == 0)
        return ESP_ERR_NO_MEM;
    s_blocks[i].used = 1;
    s_blocks[i].lpage = lpage;
    s_blocks[i].npages = npages;
    s_blocks[i].ppage = ppage;
    hold_pages(ppage, npages);
    *out_ptr = s_shadow + src_addr;
    *out_handle = h;
    return ESP_OK;
}

void fidf_munmap(uint32_t handle)
{
    int v;
    if (handle == 0 || handle > MAX_HANDLES || s_handles[handle - 1u] == 0) {
        fidf_log(1, "flash_mmap", "invalid handle, or handle already unmapped");
        fidf_restart(ESP_RST_PANIC); /* the real one asserts */
    }
    v = s_handles[handle - 1u];
    s_handles[handle - 1u] = 0;
    if (v > 0) {
        block *b = &s_blocks[v - 1];
        release_pages(b->ppage, b->npages);
        b->used = 0;
    }
}

uint32_t fidf_mmap_free_pages(int inst)
{
    uint32_t longest = 0;
    if (inst)
        return 0;
    (void)first_fit(UINT32_MAX, &longest);
    return longest;
}

size_t fidf_cache2phys(const void *p)
{
    const uint8_t *q = (const uint8_t *)p;
    size_t off;
    if (s_shadow == NULL || q < s_shadow || q >= s_shadow + FLASH)
        return (size_t)UINT32_MAX;
    off = (size_t)(q - s_shadow);
    return s_refs[off / PAGE] > 0 ? off : (size_t)UINT32_MAX;
}

/* ---- power ------------------------------------------------------------------------------------------- */

void fidf_flash_boot(void)
{
    uint32_t i;
    for (i = 0; i < MAX_BLOCKS; i++)
        s_blocks[i].used = 0;
    for (i = 0; i < MAX_HANDLES; i++)
        s_handles[i] = 0;
    for (i = 0; i < PHYS_PAGES; i++)
        s_refs[i] = 0;
    UNPOISON(s_shadow, FLASH);
    memset(s_shadow, 0xA5, FLASH);
    POISON(s_shadow, FLASH);
    apply_mmu();
}

void fidf_flash_power_on(void)
{
    if (s_flash == NULL)
        s_flash = (uint8_t *)malloc(FLASH);
    if (s_shadow == NULL)
        s_shadow = (uint8_t *)malloc(FLASH);
    if (s_flash == NULL || s_shadow == NULL)
        fidf_out_of_memory();
    UNPOISON(s_shadow, FLASH);
    memset(s_flash, 0xFF, FLASH);
    fake_idf_set_partitions(NULL, 0);
    s_erase_us = 45000;
    s_prog_us = 400;
    s_longest_op = 0;
    s_erase_calls = 0;
    fake_idf_set_target(sdkconfig_target());
}
