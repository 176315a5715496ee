/* The esp-idf port's own functions (besides include/edgeai_port.h). */
#ifndef EAI_ESP_H
#define EAI_ESP_H

/* Install the UART driver on the link's UART (UART0, 921600 8N1, the devkits' USB-UART bridge)
 * and drop whatever arrived before. ESP_OK, or the driver's error. Call once, before the
 * first eai_app_* call (eai_app_init() logs its boot line on the link). */
int eai_esp_link_init(void);

/* ESP-IDF's entry point, in main.c. */
void app_main(void);

#endif /* EAI_ESP_H */
