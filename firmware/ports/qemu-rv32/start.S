/* Reset entry of the qemu-rv32 board: the hart starts here, at the start of flash.
 * Set up gp and the stack, copy .data (and the RAM functions) from flash, zero .bss,
 * install the trap handler, call main. */
    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, _stack_top

    la a0, _data_load
    la a1, _data_start
    la a2, _data_end
1:  bgeu a1, a2, 2f
    lw t0, 0(a0)
    sw t0, 0(a1)
    addi a0, a0, 4
    addi a1, a1, 4
    j 1b
2:  la a0, _bss_start
    la a1, _bss_end
3:  bgeu a0, a1, 4f
    sw zero, 0(a0)
    addi a0, a0, 4
    j 3b
4:  la t0, trap_entry
    csrw mtvec, t0
    call main
5:  j 5b

/* Any trap is a firmware bug (the firmware uses no interrupts): report it and stop. */
    .align 2
trap_entry:
    la sp, _stack_top
    csrr a0, mcause
    csrr a1, mepc
    csrr a2, mtval
    call qemu_rv32_trap
6:  j 6b
