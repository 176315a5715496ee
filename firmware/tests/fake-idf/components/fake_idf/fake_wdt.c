/* The fake task watchdog (TWDT, esp_system/task_wdt/task_wdt.c): the main task and the idle
 * tasks of the cores in idle_core_mask can be subscribed; whenever the fake clock advances, a
 * subscriber that has not reset it for timeout_ms trips it, at the instant the timeout expires.
 * With trigger_panic the board restarts (reset reason ESP_RST_TASK_WDT, as the panic handler
 * reports it); without, the real ISR prints the culprits and starts another period. (The real
 * hardware timer restarts when every subscriber has reset it once; timing each subscriber from
 * its own last reset trips at the same moment for the one that stopped resetting.) The idle
 * tasks reset it whenever the main task blocks (a UART wait, vTaskDelay). */
#include "fake_idf_priv.h"

static int s_inited, s_panic, s_task;
static uint32_t s_timeout_ms, s_idle_mask;
static uint64_t s_task_last, s_idle_last[2];
static uint32_t s_trips, s_feeds;
static uint64_t s_max_gap;

static uint64_t timeout_cycles(void) { return (uint64_t)s_timeout_ms * 1000u * fidf_mhz(); }

uint64_t fidf_wdt_deadline(void)
{
    uint64_t d = UINT64_MAX;
    int i;
    if (!s_inited || !fidf_wdt_checked())
        return d;
    if (s_task)
        d = s_task_last + timeout_cycles();
    for (i = 0; i < 2; i++)
        if ((s_idle_mask >> i) & 1u && s_idle_last[i] + timeout_cycles() < d)
            d = s_idle_last[i] + timeout_cycles();
    return d;
}

void fidf_wdt_expire(void)
{
    s_trips++;
    fidf_log(1, "task_wdt", "Task watchdog got triggered. The following tasks/users did not reset the watchdog in time");
    if (s_panic)
        fidf_restart(ESP_RST_TASK_WDT);
    s_task_last = s_idle_last[0] = s_idle_last[1] = fidf_now(); /* another period */
}

esp_err_t fidf_wdt_init(uint32_t timeout_ms, uint32_t idle_mask, int panic, int reconfigure)
{
    if (reconfigure ? !s_inited : s_inited)
        return ESP_ERR_INVALID_STATE;
    if (timeout_ms == 0)
        return ESP_ERR_INVALID_ARG;
    s_inited = 1;
    s_timeout_ms = timeout_ms;
    s_idle_mask = idle_mask & 3u;
    s_panic = panic;
    s_idle_last[0] = s_idle_last[1] = fidf_now();
    if (s_task)
        s_task_last = fidf_now();
    return ESP_OK;
}

esp_err_t fidf_wdt_deinit(void)
{
    if (!s_inited)
        return ESP_ERR_INVALID_STATE;
    if (s_task)
        return ESP_ERR_INVALID_STATE; /* "tasks/users still subscribed" */
    s_inited = 0;
    s_idle_mask = 0;
    return ESP_OK;
}

esp_err_t fidf_wdt_add_task(void)
{
    if (!s_inited)
        return ESP_ERR_INVALID_STATE;
    if (s_task)
        return ESP_ERR_INVALID_ARG; /* already subscribed */
    s_task = 1;
    s_task_last = fidf_now();
    return ESP_OK;
}

esp_err_t fidf_wdt_delete_task(void)
{
    if (!s_inited)
        return ESP_ERR_INVALID_STATE;
    if (!s_task)
        return ESP_ERR_INVALID_ARG;
    s_task = 0;
    return ESP_OK;
}

esp_err_t fidf_wdt_reset_task(void)
{
    uint64_t gap;
    if (!s_inited)
        return ESP_ERR_INVALID_STATE;
    if (!s_task)
        return ESP_ERR_NOT_FOUND;
    gap = fidf_now() - s_task_last;
    if (gap > s_max_gap)
        s_max_gap = gap;
    s_task_last = fidf_now();
    s_feeds++;
    return ESP_OK;
}

esp_err_t fidf_wdt_status_task(void)
{
    if (!s_inited)
        return ESP_ERR_INVALID_STATE;
    return s_task ? ESP_OK : ESP_ERR_NOT_FOUND;
}

void fidf_wdt_board_idle(void) { s_task_last = s_idle_last[0] = s_idle_last[1] = fidf_now(); }

void fidf_wdt_idle_ran(void) { s_idle_last[0] = s_idle_last[1] = fidf_now(); }

void fidf_wdt_boot(void)
{
    s_inited = s_task = s_panic = 0;
    s_timeout_ms = s_idle_mask = 0;
}

void fidf_wdt_power_on(void)
{
    s_trips = s_feeds = 0;
    s_max_gap = 0;
    fidf_wdt_boot();
}

uint32_t fake_idf_wdt_timeout_ms(void) { return s_inited ? s_timeout_ms : 0u; }
int fake_idf_wdt_panics(void) { return s_inited && s_panic; }
uint32_t fake_idf_wdt_idle_mask(void) { return s_inited ? s_idle_mask : 0u; }
int fake_idf_wdt_task_subscribed(void) { return s_task; }
uint32_t fake_idf_wdt_trips(void) { return s_trips; }
uint32_t fake_idf_wdt_feeds(void) { return s_feeds; }

uint64_t fake_idf_wdt_take_max_gap_us(void)
{
    const uint64_t v = s_max_gap / fidf_mhz();
    s_max_gap = 0;
    return v;
}
