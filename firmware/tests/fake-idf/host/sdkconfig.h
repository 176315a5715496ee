/* The CONFIG_ values the esp-idf port and the fake ESP-IDF use, for the host test
 * (tests/test_esp_port.c): what ESP-IDF v5.5 generates from ports/esp-idf/sdkconfig.defaults and
 * sdkconfig.defaults.esp32c3 plus the Kconfig defaults. test_esp_port checks the values that
 * come from sdkconfig.defaults against that file. */
#ifndef FAKE_IDF_HOST_SDKCONFIG_H
#define FAKE_IDF_HOST_SDKCONFIG_H

#define CONFIG_IDF_TARGET "esp32c3"
#define CONFIG_IDF_TARGET_ESP32C3 1
#define CONFIG_IDF_FIRMWARE_CHIP_ID 0x0005

/* sdkconfig.defaults.esp32c3 */
#define CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_160 1
#define CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ 160
#define CONFIG_ESPTOOLPY_FLASHFREQ_80M 1

/* sdkconfig.defaults */
#define CONFIG_ESPTOOLPY_FLASHSIZE_4MB 1
#define CONFIG_ESPTOOLPY_FLASHSIZE "4MB"
#define CONFIG_ESPTOOLPY_FLASHMODE_DIO 1
#define CONFIG_PARTITION_TABLE_CUSTOM 1
#define CONFIG_PARTITION_TABLE_OFFSET 0x8000
#define CONFIG_ESP_CONSOLE_NONE 1
#define CONFIG_ESP_CONSOLE_SECONDARY_NONE 1
#define CONFIG_UART_ISR_IN_IRAM 1
#define CONFIG_ESP_TASK_WDT_EN 1
#define CONFIG_ESP_TASK_WDT_INIT 1
#define CONFIG_ESP_TASK_WDT_PANIC 1
#define CONFIG_ESP_TASK_WDT_TIMEOUT_S 20
/* CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0 is not set */
/* CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU1 is not set */
#define CONFIG_ESP_SYSTEM_PANIC_PRINT_REBOOT 1
#define CONFIG_ESP_MAIN_TASK_STACK_SIZE 16384
#define CONFIG_ESP_MAIN_TASK_AFFINITY_CPU0 1
#define CONFIG_COMPILER_OPTIMIZATION_PERF 1

/* Kconfig defaults of v5.5 the port and the fakes read */
#define CONFIG_FREERTOS_HZ 100
#define CONFIG_FREERTOS_UNICORE 1 /* the C3 has one core */
#define CONFIG_MMU_PAGE_SIZE 0x10000

#endif /* FAKE_IDF_HOST_SDKCONFIG_H */
