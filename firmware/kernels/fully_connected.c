/* FULLY_CONNECTED, as tflite::reference_integer_ops::FullyConnected (TFLite 2.14), with
 * per-output-channel multipliers and shifts (per-tensor models repeat one value). */
#include "kernels.h"

#include "fixedpoint.h"

void eai_fully_connected(const eai_fc_params *p, const int8_t *input, int32_t batches,
                         int32_t depth, const int8_t *filter, int32_t out_depth,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift,
                         int32_t n_quant, int8_t *output)
{
    int32_t b, co, d;
    for (b = 0; b < batches; b++) {
        const int8_t *in = input + (size_t)b * (size_t)depth;
        for (co = 0; co < out_depth; co++) {
            const int8_t *f = filter + (size_t)co * (size_t)depth;
            const int32_t q = n_quant == 1 ? 0 : co;
            uint32_t acc = 0; /* wraps modulo 2^32 */
            int32_t v;
            for (d = 0; d < depth; d++)
                acc += (uint32_t)(((int32_t)f[d] + p->filter_offset) *
                                  ((int32_t)in[d] + p->input_offset));
            if (bias)
                acc += (uint32_t)bias[co];
            v = eai_mbqm(eai_fp_from_u32(acc), mult[q], (int)shift[q]);
            v = eai_add_wrap(v, p->output_offset);
            if (v < p->act_min)
                v = p->act_min;
            if (v > p->act_max)
                v = p->act_max;
            output[(size_t)b * (size_t)out_depth + (size_t)co] = (int8_t)v;
        }
    }
}
