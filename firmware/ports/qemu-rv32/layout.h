/* The qemu-rv32 board's flash layout (boards/qemu-rv32.toml says the same; a test checks).
 *
 * QEMU's `virt` machine has a 32 MiB CFI flash (Intel command set) at 0x20000000 that
 * erases in blocks of 256 KiB. The app partition comes first (the hart boots from it), then
 * the two slot-table sectors, each on an erase block of its own so that erasing one never
 * touches the other, then model slots A and B, each a whole number of erase blocks. */
#ifndef QEMU_RV32_LAYOUT_H
#define QEMU_RV32_LAYOUT_H

#define QEMU_FLASH_BASE 0x20000000u
#define QEMU_FLASH_BYTES 0x2000000u /* 32 MiB, the size QEMU requires of the image file */
#define QEMU_FLASH_BLOCK 0x40000u   /* 256 KiB erase block */
#define QEMU_APP_OFF 0x0u
#define QEMU_APP_BYTES 0x100000u
#define QEMU_TABLE_OFF 0x100000u /* table sector k at QEMU_TABLE_OFF + k * QEMU_FLASH_BLOCK */
#define QEMU_TABLE_BYTES 0x80000u
#define QEMU_SLOT_A_OFF 0x200000u
#define QEMU_SLOT_B_OFF 0x500000u
#define QEMU_SLOT_BYTES 0x300000u

#endif
