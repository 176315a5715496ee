/* The esp-idf port's own functions (besides include/edgeai_port.h). */
#ifndef EAI_ESP_H
#define EAI_ESP_H

/* Reset the port's state (flash layout, mappings, cycle counter): once per boot, before any
 * other call. On a chip the state is zero at boot anyway; the fake-IDF tests boot the board
 * again in the same process after a restart, and so need it. */
void eai_esp_port_init(void);

/* Install the UART driver on the link's UART (UART0, 921600 8N1, the devkits' USB-UART bridge)
 * and drop whatever arrived before. ESP_OK, or the driver's error. Call once, before the
 * first eai_app_* call (eai_app_init() logs its boot line on the link). */
int eai_esp_link_init(void);

/* The boot path of app_main(): port state, link, task watchdog (the calling task subscribed),
 * the app. Aborts (and so restarts the chip) if the UART driver or the watchdog cannot start. */
void eai_esp_boot(void);

/* Serve the link for ever: eai_app_poll() in a loop. */
void eai_esp_serve(void);

/* ESP-IDF's entry point, in main.c: eai_esp_boot(), then eai_esp_serve(). */
void app_main(void);

#endif /* EAI_ESP_H */
