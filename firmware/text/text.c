/* Text features: one pass over the bytes, no buffers. FNV-1a is a running state, so the
 * hash of "previous token" 0x20 "token" is the previous token's hash (its unigram hash)
 * continued over 0x20 and the token's bytes. The loop keeps two running hashes per token,
 * the unigram from the offset basis and the bigram from the previous token's hash, and the
 * previous token itself never needs to be stored. Specification: docs/text-features.md. */
#include "text.h"

/* Token bytes: ASCII letters and digits, and every byte >= 0x80. Upper case ASCII is
 * lowered; everything else is kept as is. Returns -1 for a separator. */
static int32_t token_byte(uint8_t c)
{
    if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return c;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 'a';
    return -1;
}

static uint32_t fnv_step(uint32_t h, uint32_t c)
{
    return (h ^ c) * EAI_FNV_PRIME;
}

uint32_t eai_text_features(const uint8_t *text, size_t n, uint32_t buckets, uint32_t ngrams,
                           int32_t *ids, uint32_t max_ids)
{
    uint32_t count = 0, i;
    uint32_t prev = 0;      /* hash of the previous token */
    uint32_t uni = 0, bi = 0;
    uint32_t len = 0;       /* bytes of the current token so far, 0 between tokens */
    int have_prev = 0;
    size_t pos;

    if (!ids)
        max_ids = 0;
    /* Invalid arguments hash nothing: the result is all padding. */
    if (buckets == 0u || buckets > EAI_TEXT_MAX_BUCKETS || (ngrams != 1u && ngrams != 2u) || !text)
        n = 0;
    if (n > EAI_TEXT_MAX_BYTES)
        n = EAI_TEXT_MAX_BYTES;

    /* One step past the end acts as a final separator that closes the last token. */
    for (pos = 0; pos <= n && count < max_ids; pos++) {
        const int32_t c = pos < n ? token_byte(text[pos]) : -1;
        if (c >= 0) {
            if (len == 0u) {
                uni = EAI_FNV_OFFSET;
                bi = fnv_step(prev, 0x20u);
            }
            if (len < EAI_TEXT_MAX_TOKEN) {
                uni = fnv_step(uni, (uint32_t)c);
                bi = fnv_step(bi, (uint32_t)c);
            }
            len++;
            continue;
        }
        if (len == 0u)
            continue;
        ids[count++] = (int32_t)(uni % buckets);
        if (ngrams == 2u && have_prev && count < max_ids)
            ids[count++] = (int32_t)(bi % buckets);
        prev = uni;
        have_prev = 1;
        len = 0;
    }
    for (i = count; i < max_ids; i++)
        ids[i] = -1;
    return count;
}
