/* EMBEDDING_BAG: the mean of the int8 table rows a list of ids names, requantized to int8
 * (docs/model-format.md). The front end of a text model: the ids are hashed n-grams
 * (firmware/text/text.h), the table their embeddings.
 *
 *   acc[d] = sum over the valid ids of table[id][d]       (|acc| <= 128 x 4096 = 2^19)
 *   m[d]   = 0 when no id is valid, else round(acc[d] x 256 / n), halves away from zero
 *   out[d] = clamp(MBQM(m[d], output_multiplier, output_shift) + output_offset)
 *
 * The columns are summed BLOCK at a time into a small stack array, so there is no scratch
 * buffer and each table row is read in runs of BLOCK bytes. */
#include "fixedpoint.h"
#include "kernels.h"

#define BLOCK 32

/* num / n rounded to nearest, halves away from zero, for n >= 1 and |num| <= 2^27. */
static int32_t div_round(int32_t num, int32_t n)
{
    const uint32_t mag = num < 0 ? 0u - (uint32_t)num : (uint32_t)num;
    const uint32_t q = (2u * mag + (uint32_t)n) / (2u * (uint32_t)n);
    return num < 0 ? -(int32_t)q : (int32_t)q;
}

static int valid_id(int32_t id, int32_t rows)
{
    return id >= 0 && id < rows;
}

void eai_embedding_bag(const eai_embedding_bag_params *p, const int32_t *ids, int32_t n_ids,
                       const int8_t *table, int32_t rows, int32_t depth, int8_t *output)
{
    int32_t acc[BLOCK];
    int32_t n = 0, i, d0, k;

    for (i = 0; i < n_ids; i++)
        n += valid_id(ids[i], rows);
    for (d0 = 0; d0 < depth; d0 += BLOCK) {
        const int32_t width = depth - d0 < BLOCK ? depth - d0 : BLOCK;
        for (k = 0; k < width; k++)
            acc[k] = 0;
        for (i = 0; i < n_ids && n > 0; i++) {
            const int8_t *row;
            if (!valid_id(ids[i], rows))
                continue;
            row = table + (size_t)ids[i] * (size_t)depth + (size_t)d0;
            for (k = 0; k < width; k++)
                acc[k] += row[k];
        }
        for (k = 0; k < width; k++) {
            const int32_t mean = n > 0 ? div_round(acc[k] * 256, n) : 0;
            int32_t v = eai_mbqm(mean, p->output_multiplier, p->output_shift) + p->output_offset;
            v = v < p->act_min ? p->act_min : v;
            v = v > p->act_max ? p->act_max : v;
            output[d0 + k] = (int8_t)v;
        }
    }
}
