/* The qemu-rv32 board's main: serve docs/protocol.md on the UART forever. */
#include <stdint.h>

#include "app.h"
#include "qemu_rv32.h"

#define POLL_MS 100u

static void put_hex(char *p, uint32_t v)
{
    int i;
    for (i = 7; i >= 0; i--, v >>= 4)
        p[i] = "0123456789abcdef"[v & 0xFu];
}

/* A trap is a firmware bug (nothing here enables interrupts): say so on the link, then end
 * QEMU with status 3 so the host sees the board is gone. */
void qemu_rv32_trap(uint32_t cause, uint32_t epc, uint32_t tval)
{
    char msg[] = "trap: mcause 0x........ mepc 0x........ mtval 0x........";
    put_hex(msg + 15, cause);
    put_hex(msg + 31, epc);
    put_hex(msg + 48, tval);
    eai_app_log(2, msg);
    qemu_rv32_exit(3);
}

int main(void)
{
    qemu_rv32_uart_init(); /* before the first byte is sent: it clears the FIFOs */
    (void)eai_app_init();  /* logs the boot line: the host waits for it before talking */
    for (;;)
        (void)eai_app_poll(POLL_MS);
}
