/* COBS encoder and decoder (see cobs.h). */
#include "cobs.h"

#include <string.h>

void eai_cobs_encoder_init(eai_cobs_encoder *e, uint8_t *dst, size_t cap)
{
    e->dst = dst;
    e->cap = cap;
    e->code_pos = 0;
    e->pos = 1;
    e->code = 1;
    e->status = (dst == NULL && cap > 0) ? EAI_LINK_ERR_ARG : EAI_LINK_OK;
    if (e->status == EAI_LINK_OK && cap < 1)
        e->status = EAI_LINK_ERR_SPACE;
}

/* Write the current block's code and open a new block at pos. */
static void close_block(eai_cobs_encoder *e)
{
    e->dst[e->code_pos] = e->code;
    if (e->pos >= e->cap) {
        e->status = EAI_LINK_ERR_SPACE;
        return;
    }
    e->code_pos = e->pos++;
    e->code = 1;
}

void eai_cobs_encoder_put(eai_cobs_encoder *e, const uint8_t *src, size_t n)
{
    size_t i;
    if (e->status != EAI_LINK_OK)
        return;
    if (src == NULL && n > 0) {
        e->status = EAI_LINK_ERR_ARG;
        return;
    }
    for (i = 0; i < n && e->status == EAI_LINK_OK; i++) {
        if (src[i] == 0) {
            close_block(e);
        } else {
            if (e->pos >= e->cap) {
                e->status = EAI_LINK_ERR_SPACE;
                return;
            }
            e->dst[e->pos++] = src[i];
            if (++e->code == 0xFF)
                close_block(e);
        }
    }
}

int eai_cobs_encoder_finish(eai_cobs_encoder *e, size_t *out_len)
{
    if (e->status != EAI_LINK_OK)
        return e->status;
    e->dst[e->code_pos] = e->code;
    if (out_len)
        *out_len = e->pos;
    return EAI_LINK_OK;
}

int eai_cobs_encode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t *out_len)
{
    eai_cobs_encoder e;
    if (!dst || !out_len || (!src && n > 0))
        return EAI_LINK_ERR_ARG;
    eai_cobs_encoder_init(&e, dst, cap);
    eai_cobs_encoder_put(&e, src, n);
    return eai_cobs_encoder_finish(&e, out_len);
}

int eai_cobs_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t *out_len)
{
    size_t i = 0, out = 0;
    if (!dst || !out_len || (!src && n > 0))
        return EAI_LINK_ERR_ARG;
    while (i < n) {
        const size_t code = src[i];
        const size_t len = code - 1;
        if (code == 0 || code > n - i)
            return EAI_LINK_ERR_COBS;
        if (memchr(src + i + 1, 0, len) != NULL)
            return EAI_LINK_ERR_COBS;
        if (len > cap - out)
            return EAI_LINK_ERR_SPACE;
        /* out <= i always, so in place the copy moves bytes down: memmove is safe. */
        memmove(dst + out, src + i + 1, len);
        out += len;
        i += code;
        if (code < 0xFF && i < n) {
            if (out >= cap)
                return EAI_LINK_ERR_SPACE;
            dst[out++] = 0;
        }
    }
    *out_len = out;
    return EAI_LINK_OK;
}
