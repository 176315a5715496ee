/* COBS (consistent overhead byte stuffing): the encoded bytes hold no 0x00, so 0x00 can
 * delimit frames on a byte stream. The caller owns every buffer.
 *
 * The encoding is the one in edgeai/link.py byte for byte: a run of 254 non-zero bytes
 * closes its block with code 0xFF, and the final block is always written, so n input bytes
 * encode to at most EAI_COBS_ENCODED_MAX(n) = n + n / 254 + 1 bytes (never 0 bytes).
 */
#ifndef EAI_COBS_H
#define EAI_COBS_H

#include <stddef.h>
#include <stdint.h>

#define EAI_COBS_ENCODED_MAX(n) ((n) + (n) / 254u + 1u)

enum eai_link_status {
    EAI_LINK_OK = 0,
    EAI_LINK_ERR_ARG = -1,    /* a NULL pointer */
    EAI_LINK_ERR_SPACE = -2,  /* the output buffer is too small */
    EAI_LINK_ERR_COBS = -3,   /* the input is not valid COBS */
    EAI_LINK_ERR_LENGTH = -4, /* a frame too short, too long, or disagreeing with its length field */
    EAI_LINK_ERR_CRC = -5     /* a frame whose CRC is wrong */
};

/* An incremental encoder: put the pieces of one message, then finish. */
typedef struct {
    uint8_t *dst;
    size_t cap;
    size_t pos;      /* next byte to write */
    size_t code_pos; /* where the current block's code byte goes */
    uint8_t code;    /* 1 + bytes in the current block */
    int status;      /* EAI_LINK_OK until the buffer overflows */
} eai_cobs_encoder;

void eai_cobs_encoder_init(eai_cobs_encoder *e, uint8_t *dst, size_t cap);
void eai_cobs_encoder_put(eai_cobs_encoder *e, const uint8_t *src, size_t n);
/* Close the last block; *out_len gets the encoded length. Returns a status. */
int eai_cobs_encoder_finish(eai_cobs_encoder *e, size_t *out_len);

/* Encode src[0..n) into dst (capacity `cap`, EAI_COBS_ENCODED_MAX(n) always suffices). */
int eai_cobs_encode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t *out_len);

/* Decode src[0..n) (without the 0x00 delimiter) into dst (capacity `cap`; n bytes always
 * suffice). dst may equal src: decoding in place is supported. */
int eai_cobs_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t *out_len);

#endif /* EAI_COBS_H */
