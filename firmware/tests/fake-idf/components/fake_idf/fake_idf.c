/* The fake ESP-IDF's board: the clock, the work script, running and restarting (fake_idf.h). */
#include <setjmp.h>
#include <string.h>

#include "fake_idf_priv.h"
#include "sdkconfig.h"

#define SCRIPT_MAX 256u
#define LOG_MAX 200u

static uint64_t s_now;  /* cycles since fake_idf_reset() */
static uint64_t s_boot; /* s_now at the last boot */
static uint32_t s_read_cost, s_ccount_offset;
static uint64_t s_script[SCRIPT_MAX];
static size_t s_script_n, s_script_pos;
static int s_last_call;

static int s_wdt_off; /* the test lets time pass while the board idles */
static jmp_buf s_jmp;
static int s_in_run;
static uint32_t s_restarts;
static esp_reset_reason_t s_reason = ESP_RST_POWERON;

static char s_log_last[LOG_MAX];
static uint32_t s_log_lines;

/* ---- calls and the work script ------------------------------------------------------------ */

void fidf_note_call(int kind) { s_last_call = kind; }

uint64_t fidf_take_work_us(void)
{
    if ((s_last_call == FIDF_CALL_CLOCK || s_last_call == FIDF_CALL_FEED) && s_script_pos < s_script_n)
        return s_script[s_script_pos++];
    return 0;
}

void fake_idf_script_work(const uint64_t *us, size_t n)
{
    if (n > SCRIPT_MAX)
        n = SCRIPT_MAX;
    if (n > 0 && us != NULL)
        memcpy(s_script, us, n * sizeof *us);
    s_script_n = us != NULL ? n : 0;
    s_script_pos = 0;
}

size_t fake_idf_script_left(void) { return s_script_n - s_script_pos; }

/* ---- clock ------------------------------------------------------------------------------------ */

uint32_t fidf_mhz(void) { return (uint32_t)CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ; }
uint32_t fake_idf_cpu_mhz(void) { return fidf_mhz(); }
uint64_t fidf_now(void) { return s_now; }
uint64_t fidf_since_boot(void) { return s_now - s_boot; }
uint32_t fidf_ccount_offset(void) { return s_ccount_offset; }
uint32_t fidf_read_cost(void) { return s_read_cost; }
uint64_t fake_idf_now_cycles(void) { return s_now; }
uint64_t fake_idf_now_us(void) { return s_now / fidf_mhz(); }
void fake_idf_set_read_cost(uint32_t cycles) { s_read_cost = cycles; }
void fake_idf_set_ccount_offset(uint32_t offset) { s_ccount_offset = offset; }

/* Advance to now + cycles, stopping at each byte arrival and at a watchdog deadline on the way
 * (which may restart the board and not return). */
void fidf_advance(uint64_t cycles)
{
    const uint64_t end = s_now + cycles;
    for (;;) {
        uint64_t next = end;
        const uint64_t arrive = fidf_uart_next_arrival(), deadline = fidf_wdt_deadline();
        if (arrive < next)
            next = arrive;
        if (deadline < next)
            next = deadline;
        if (next > s_now)
            s_now = next;
        fidf_uart_deliver(s_now);
        if (deadline <= s_now)
            fidf_wdt_expire();
        if (s_now >= end)
            return;
    }
}

void fidf_advance_us(uint64_t us) { fidf_advance(us * fidf_mhz()); }
/* Outside fake_idf_run() the board is idle, polling the UART: its main task feeds the watchdog
 * at every poll, so the test's time never trips it. */
void fake_idf_advance_us(uint64_t us)
{
    if (s_in_run) {
        fidf_advance_us(us);
        return;
    }
    s_wdt_off = 1;
    fidf_advance_us(us);
    s_wdt_off = 0;
    fidf_wdt_board_idle();
}

int fidf_wdt_checked(void) { return !s_wdt_off; }

/* ---- running, restarting ---------------------------------------------------------------------- */

#define JUMP_IDLE 1
#define JUMP_RESTART 2

fake_idf_exit fake_idf_run(void (*fn)(void))
{
    fake_idf_exit result = FAKE_IDF_RETURNED;
    if (s_in_run || fn == NULL)
        return FAKE_IDF_RETURNED;
    s_in_run = 1;
    switch (setjmp(s_jmp)) {
    case 0:
        fn();
        result = FAKE_IDF_RETURNED;
        break;
    case JUMP_IDLE:
        result = FAKE_IDF_IDLE;
        break;
    default:
        result = FAKE_IDF_RESTARTED;
        break;
    }
    s_in_run = 0;
    return result;
}

void fidf_idle(void)
{
    if (s_in_run)
        longjmp(s_jmp, JUMP_IDLE);
}

/* What ESP-IDF's startup code does before app_main(), for the parts the fakes model. */
static void boot_hardware(void)
{
    s_boot = s_now;
    s_last_call = FIDF_CALL_OTHER;
    s_script_n = s_script_pos = 0; /* whatever was running is gone */
    fidf_uart_boot();
    fidf_flash_boot();
    fidf_wdt_boot();
#if CONFIG_ESP_TASK_WDT_INIT
    {
        uint32_t idle = 0;
#ifdef CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0
        idle |= 1u;
#endif
#ifdef CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU1
        idle |= 2u;
#endif
#ifdef CONFIG_ESP_TASK_WDT_PANIC
        (void)fidf_wdt_init((uint32_t)CONFIG_ESP_TASK_WDT_TIMEOUT_S * 1000u, idle, 1, 0);
#else
        (void)fidf_wdt_init((uint32_t)CONFIG_ESP_TASK_WDT_TIMEOUT_S * 1000u, idle, 0, 0);
#endif
    }
#endif
}

void fidf_restart(esp_reset_reason_t reason)
{
    s_reason = reason;
    s_restarts++;
    boot_hardware();
    if (s_in_run)
        longjmp(s_jmp, JUMP_RESTART);
    /* a restart outside fake_idf_run(): nobody can boot the board again (no abort(): it needs
     * an OS underneath) */
#if defined(__GNUC__)
    __builtin_trap();
#else
    for (;;) {
    }
#endif
}

void fidf_out_of_memory(void)
{
#if defined(__GNUC__)
    __builtin_trap();
#else
    for (;;) {
    }
#endif
}

esp_reset_reason_t fidf_reset_reason(void) { return s_reason; }
uint32_t fake_idf_restarts(void) { return s_restarts; }
esp_reset_reason_t fake_idf_last_restart_reason(void) { return s_reason; }

void fake_idf_reset(void)
{
    s_now = 0;
    s_read_cost = 0;
    s_ccount_offset = 0;
    s_restarts = 0;
    s_reason = ESP_RST_POWERON;
    s_log_lines = 0;
    s_log_last[0] = 0;
    fidf_uart_power_on();
    fidf_flash_power_on();
    fidf_wdt_power_on();
    boot_hardware();
}

/* ---- log ------------------------------------------------------------------------------------------ */

void fidf_log(int level, const char *tag, const char *text)
{
    size_t n = 0, i;
    (void)level;
    for (i = 0; tag != NULL && tag[i] && n + 1 < LOG_MAX; i++)
        s_log_last[n++] = tag[i];
    for (i = 0; i < 2 && n + 1 < LOG_MAX; i++)
        s_log_last[n++] = ": "[i];
    for (i = 0; text != NULL && text[i] && n + 1 < LOG_MAX; i++)
        s_log_last[n++] = text[i];
    s_log_last[n] = 0;
    s_log_lines++;
}

uint32_t fake_idf_log_lines(void) { return s_log_lines; }
const char *fake_idf_log_last(void) { return s_log_last; }
