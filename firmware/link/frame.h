/* Frames of the serial protocol (docs/protocol.md): a 6-byte header (u8 kind, u8 status,
 * u16 seq, u16 length), the payload, a CRC-32 of everything before it, COBS-encoded and
 * ended by 0x00 on the wire. No malloc: the caller owns the buffers, sized by the macros. */
#ifndef EAI_FRAME_H
#define EAI_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "cobs.h"

#define EAI_FRAME_MAX_PAYLOAD 4096u
#define EAI_FRAME_HEADER_BYTES 6u
#define EAI_FRAME_CRC_BYTES 4u
#define EAI_FRAME_MIN_BYTES (EAI_FRAME_HEADER_BYTES + EAI_FRAME_CRC_BYTES)
#define EAI_FRAME_MAX_BYTES (EAI_FRAME_MIN_BYTES + EAI_FRAME_MAX_PAYLOAD)
/* A receiver drops anything longer than this between two 0x00 bytes. */
#define EAI_FRAME_MAX_WIRE 4200u
/* The wire size of a frame with `payload` bytes, delimiter included, at worst. */
#define EAI_FRAME_WIRE_MAX(payload) (EAI_COBS_ENCODED_MAX(EAI_FRAME_MIN_BYTES + (payload)) + 1u)

#define EAI_KIND_ACCEPTED 0x7Eu /* board to host: a request's work has begun (protocol 4) */
#define EAI_KIND_LOG 0x7Fu
#define EAI_KIND_RESPONSE 0x80u

/* A decoded frame. `payload` points into the buffer it was decoded from. */
typedef struct {
    uint8_t kind;
    uint8_t status;
    uint16_t seq;
    uint16_t length;
    const uint8_t *payload;
    uint32_t crc; /* the frame's CRC field (identifies a repeated request) */
} eai_frame;

/* Build and encode a frame (delimiter included) into out[0..cap). EAI_FRAME_WIRE_MAX(n)
 * bytes always suffice. Returns a status; *out_len gets the wire length. */
int eai_frame_encode(uint8_t kind, uint8_t status, uint16_t seq, const uint8_t *payload,
                     size_t n, uint8_t *out, size_t cap, size_t *out_len);

/* Decode one frame from wire[0..n) (its COBS bytes, without the delimiter), in place:
 * f->payload points into `wire`. Checks the size limits, the length field and the CRC. */
int eai_frame_decode(uint8_t *wire, size_t n, eai_frame *f);

/* An incremental receiver: feed it the byte stream; it yields each valid frame. */
typedef struct {
    uint8_t buf[EAI_FRAME_MAX_WIRE];
    size_t len;       /* bytes held of the frame being received */
    uint8_t overflow; /* dropping bytes up to the next 0x00 */
    uint32_t frames;  /* valid frames yielded */
    uint32_t dropped; /* frames dropped (oversize, bad COBS, length or CRC) */
} eai_frame_rx;

void eai_frame_rx_init(eai_frame_rx *rx);

/* Consume bytes of data[0..n) up to and including the end of the next valid frame. Returns
 * the number of bytes consumed; *got is 1 if a frame was completed (then *f is valid until
 * the next call), else 0 (all n bytes consumed). */
size_t eai_frame_rx_feed(eai_frame_rx *rx, const uint8_t *data, size_t n, eai_frame *f, int *got);

#endif /* EAI_FRAME_H */
