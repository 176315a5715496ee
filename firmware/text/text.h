/* edgeai text features: raw UTF-8 bytes to hashed unigram/bigram ids, exactly as
 * edgeai.text computes them on the host. Specification: docs/text-features.md.
 *
 * No allocation, no state between calls, no libc beyond <stdint.h>/<stddef.h>. */
#ifndef EDGEAI_TEXT_H
#define EDGEAI_TEXT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EAI_TEXT_MAX_BYTES 2048u     /* bytes of text read; the rest is ignored */
#define EAI_TEXT_MAX_TOKEN 32u       /* bytes of a token hashed; the rest of its run is skipped */
#define EAI_TEXT_MAX_BUCKETS (1u << 24)
/* Features one text can give: at most 1024 tokens in 2048 bytes (each but the last followed
 * by a separator), a unigram each and a bigram for each but the first. An id buffer this
 * long never truncates. */
#define EAI_TEXT_MAX_IDS (2u * (EAI_TEXT_MAX_BYTES / 2u) - 1u)

#define EAI_FNV_OFFSET 2166136261u /* 32-bit FNV-1a */
#define EAI_FNV_PRIME 16777619u

/* Hash the first min(n, EAI_TEXT_MAX_BYTES) bytes of `text` into feature ids in
 * [0, buckets): for each token its unigram id, then (ngrams == 2, from the second token on)
 * the id of the bigram "previous token" 0x20 "token". Writes the first min(count, max_ids)
 * ids to `ids`, fills ids[written .. max_ids) with -1 and returns the number written.
 *
 * Returns 0 with ids[0 .. max_ids) = -1 when buckets is 0 or above EAI_TEXT_MAX_BUCKETS,
 * when ngrams is not 1 or 2, or when text is NULL with n > 0. ids may be NULL only when
 * max_ids is 0. */
uint32_t eai_text_features(const uint8_t *text, size_t n, uint32_t buckets, uint32_t ngrams,
                           int32_t *ids, uint32_t max_ids);

#ifdef __cplusplus
}
#endif

#endif /* EDGEAI_TEXT_H */
