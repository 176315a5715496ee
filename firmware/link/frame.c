/* Frame encoding, decoding and the incremental receiver (see frame.h). */
#include "frame.h"

#include <string.h>

#include "edgeai.h"

int eai_frame_encode(uint8_t kind, uint8_t status, uint16_t seq, const uint8_t *payload,
                     size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t head[EAI_FRAME_HEADER_BYTES], tail[EAI_FRAME_CRC_BYTES];
    eai_cobs_encoder e;
    uint32_t crc;
    size_t len;
    int st;
    if (!out || !out_len || (!payload && n > 0))
        return EAI_LINK_ERR_ARG;
    if (n > EAI_FRAME_MAX_PAYLOAD)
        return EAI_LINK_ERR_LENGTH;
    head[0] = kind;
    head[1] = status;
    head[2] = (uint8_t)(seq & 0xFFu);
    head[3] = (uint8_t)(seq >> 8);
    head[4] = (uint8_t)(n & 0xFFu);
    head[5] = (uint8_t)(n >> 8);
    crc = eai_crc32(0, head, sizeof head);
    crc = eai_crc32(crc, payload, n);
    tail[0] = (uint8_t)(crc & 0xFFu);
    tail[1] = (uint8_t)((crc >> 8) & 0xFFu);
    tail[2] = (uint8_t)((crc >> 16) & 0xFFu);
    tail[3] = (uint8_t)(crc >> 24);
    eai_cobs_encoder_init(&e, out, cap);
    eai_cobs_encoder_put(&e, head, sizeof head);
    eai_cobs_encoder_put(&e, payload, n);
    eai_cobs_encoder_put(&e, tail, sizeof tail);
    st = eai_cobs_encoder_finish(&e, &len);
    if (st != EAI_LINK_OK)
        return st;
    if (len >= cap)
        return EAI_LINK_ERR_SPACE;
    out[len++] = 0;
    *out_len = len;
    return EAI_LINK_OK;
}

int eai_frame_decode(uint8_t *wire, size_t n, eai_frame *f)
{
    size_t len, plen;
    uint32_t crc;
    int st;
    if (!wire || !f)
        return EAI_LINK_ERR_ARG;
    if (n > EAI_FRAME_MAX_WIRE)
        return EAI_LINK_ERR_LENGTH;
    st = eai_cobs_decode(wire, n, wire, n, &len);
    if (st != EAI_LINK_OK)
        return st;
    if (len < EAI_FRAME_MIN_BYTES || len > EAI_FRAME_MAX_BYTES)
        return EAI_LINK_ERR_LENGTH;
    plen = (size_t)wire[4] | ((size_t)wire[5] << 8);
    if (plen != len - EAI_FRAME_MIN_BYTES)
        return EAI_LINK_ERR_LENGTH;
    crc = (uint32_t)wire[len - 4] | ((uint32_t)wire[len - 3] << 8) |
          ((uint32_t)wire[len - 2] << 16) | ((uint32_t)wire[len - 1] << 24);
    if (eai_crc32(0, wire, len - EAI_FRAME_CRC_BYTES) != crc)
        return EAI_LINK_ERR_CRC;
    f->kind = wire[0];
    f->status = wire[1];
    f->seq = (uint16_t)(wire[2] | (wire[3] << 8));
    f->length = (uint16_t)plen;
    f->payload = wire + EAI_FRAME_HEADER_BYTES;
    f->crc = crc;
    return EAI_LINK_OK;
}

void eai_frame_rx_init(eai_frame_rx *rx)
{
    rx->len = 0;
    rx->overflow = 0;
    rx->frames = 0;
    rx->dropped = 0;
}

size_t eai_frame_rx_feed(eai_frame_rx *rx, const uint8_t *data, size_t n, eai_frame *f, int *got)
{
    size_t i;
    *got = 0;
    for (i = 0; i < n; i++) {
        const uint8_t b = data[i];
        if (b != 0) {
            if (rx->overflow)
                continue;
            if (rx->len >= EAI_FRAME_MAX_WIRE) {
                rx->overflow = 1;
                rx->len = 0;
                continue;
            }
            rx->buf[rx->len++] = b;
            continue;
        }
        if (rx->overflow) {
            rx->overflow = 0;
            rx->dropped++;
            continue;
        }
        if (rx->len == 0)
            continue; /* a lone delimiter: nothing to drop */
        {
            const int st = eai_frame_decode(rx->buf, rx->len, f);
            rx->len = 0;
            if (st == EAI_LINK_OK) {
                rx->frames++;
                *got = 1;
                return i + 1;
            }
            rx->dropped++;
        }
    }
    return n;
}
