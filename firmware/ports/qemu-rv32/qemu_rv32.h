/* The qemu-rv32 port's own functions (besides include/edgeai_port.h). */
#ifndef QEMU_RV32_H
#define QEMU_RV32_H

#include <stdint.h>

void qemu_rv32_uart_init(void);
void qemu_rv32_exit(uint32_t code);
void qemu_rv32_trap(uint32_t cause, uint32_t epc, uint32_t tval);
int main(void);

#endif
