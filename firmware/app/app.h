/* The edgeai firmware application: the device side of docs/protocol.md.
 *
 * It owns the model slots in flash (through include/edgeai_port.h), the activation arena
 * (a static array) and the link state. A port's main calls eai_app_init() once and then
 * eai_app_poll() forever. No malloc; the only platform code is the port seam.
 */
#ifndef EAI_APP_H
#define EAI_APP_H

#include <stddef.h>
#include <stdint.h>

#ifndef EAI_APP_ARENA_BYTES
#define EAI_APP_ARENA_BYTES (256u * 1024u) /* activation arena; override with -D */
#endif

#ifndef EAI_APP_VERSION
#define EAI_APP_VERSION "0.1.0" /* the firmware version HELLO reports */
#endif

#define EAI_APP_PROTOCOL_VERSION 4u
#define EAI_APP_SLOT_TABLE_BYTES 4096u /* one slot-table sector (sectors 0 and 1) */
#define EAI_APP_SLOT_TABLES 2u         /* slot-table sectors, written alternately */
#define EAI_APP_RECORD_BYTES 32u       /* one slot-table record */
#define EAI_APP_LOG_MAX 160u           /* bytes of text in one log frame */
#define EAI_APP_NO_SLOT 0xFFu

/* Status codes of responses (docs/protocol.md). */
enum eai_app_status {
    EAI_ST_OK = 0,
    EAI_ST_BAD_FRAME = 1,
    EAI_ST_BAD_VERSION = 2,
    EAI_ST_NO_MODEL = 3,
    EAI_ST_TOO_BIG = 4,
    EAI_ST_BAD_STATE = 5,
    EAI_ST_BAD_RANGE = 6,
    EAI_ST_BAD_CRC = 7,
    EAI_ST_LOAD_FAILED = 8,
    EAI_ST_ARENA = 9,
    EAI_ST_FLASH = 10,
    EAI_ST_RUN_FAILED = 11
};

/* Commands (request kinds). */
enum eai_app_command {
    EAI_CMD_HELLO = 0x01,
    EAI_CMD_UPLOAD_BEGIN = 0x02,
    EAI_CMD_UPLOAD_CHUNK = 0x03,
    EAI_CMD_UPLOAD_COMMIT = 0x04,
    EAI_CMD_WRITE_TENSOR = 0x05,
    EAI_CMD_READ_TENSOR = 0x06,
    EAI_CMD_INVOKE = 0x07,
    EAI_CMD_TIME_LAYERS = 0x08,
    EAI_CMD_RESET = 0x09,
    EAI_CMD_WRITE_TEXT = 0x0A
};

/* Read the slot table, check and load the active model, reset the link state and log one
 * boot line. Returns 0, or -1 if the flash is too small for the slot table and two slots
 * (the board then still answers HELLO, with slot size 0). Call again to re-initialise. */
int eai_app_init(void);

/* Wait up to `timeout_ms` for bytes from the host and handle every complete request among
 * them. Returns the number of requests answered. */
int eai_app_poll(uint32_t timeout_ms);

/* Send a log frame (kind 0x7F, status = level) with `text` (cut at EAI_APP_LOG_MAX bytes).
 * Best effort: nobody may be listening. */
void eai_app_log(uint8_t level, const char *text);

#endif /* EAI_APP_H */
