/* SOFTMAX int8 -> int8, as tflite::reference_ops::Softmax<int8_t, int8_t> (TFLite 2.14):
 * gemmlowp fixed point, differences in Q5.26, the sum of exps in Q12.19. */
#include "kernels.h"

#include "fixedpoint.h"

enum { SCALED_DIFF_INTEGER_BITS = 5, ACCUMULATION_INTEGER_BITS = 12 };

void eai_softmax(const eai_softmax_params *p, const int8_t *input, int32_t outer,
                 int32_t depth, int8_t *output)
{
    int32_t i, c;
    for (i = 0; i < outer; i++) {
        const int8_t *in = input + (size_t)i * (size_t)depth;
        int8_t *out = output + (size_t)i * (size_t)depth;
        int32_t max_in_row = INT8_MIN, sum_of_exps = 0, shifted_scale;
        int num_bits_over_unit, exponent;

        for (c = 0; c < depth; c++)
            if (in[c] > max_in_row)
                max_in_row = in[c];

        /* each exp is at most 2^19 in Q12.19 and depth <= 4095: the sum stays below 2^31 */
        for (c = 0; c < depth; c++) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = eai_mbqm_gt_one(diff, p->input_multiplier,
                                                       (int)p->input_left_shift);
                const int32_t e = eai_exp_on_negative_values_q5(scaled);
                sum_of_exps = eai_add_wrap(sum_of_exps,
                                           eai_rdbpot(e, ACCUMULATION_INTEGER_BITS));
            }
        }

        /* sum_of_exps >= 2^19 (the row maximum contributes exp(0)), so it is positive */
        shifted_scale = eai_get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS,
                                           &num_bits_over_unit);
        exponent = num_bits_over_unit + 31 - 8;

        for (c = 0; c < depth; c++) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            int32_t v = INT8_MIN;
            if (diff >= p->diff_min) {
                const int32_t scaled = eai_mbqm_gt_one(diff, p->input_multiplier,
                                                       (int)p->input_left_shift);
                const int32_t e = eai_exp_on_negative_values_q5(scaled);
                const int32_t prod = eai_srdhm(shifted_scale, e);
                /* TFLite requires exponent <= 31 (sum of exps < 512); above that the same
                 * rounding division, done in 64 bits, gives 0 for any non-negative product */
                const int32_t unsat = exponent <= 31 ? eai_rdbpot(prod, exponent < 0 ? 0 : exponent)
                                                     : eai_rdbpot_wide(prod, exponent);
                v = eai_add_wrap(unsat, INT8_MIN);
                if (v < INT8_MIN)
                    v = INT8_MIN;
                if (v > INT8_MAX)
                    v = INT8_MAX;
            }
            out[c] = (int8_t)v;
        }
    }
}
