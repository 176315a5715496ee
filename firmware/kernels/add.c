/* ADD, as tflite::reference_integer_ops::Add / BroadcastAdd4DSlow for int8 (TFLite 2.14). */
#include "kernels.h"

#include "fixedpoint.h"

void eai_add(const eai_add_params *p, const int8_t *a, const int32_t a_dims[4],
             const int8_t *b, const int32_t b_dims[4], int8_t *output,
             const int32_t out_dims[4])
{
    size_t a_stride[4], b_stride[4];
    size_t sa = 1, sb = 1, o = 0;
    int32_t i0, i1, i2, i3;
    int d;

    /* row-major strides; a broadcast dimension (size 1) gets stride 0 */
    for (d = 3; d >= 0; d--) {
        a_stride[d] = a_dims[d] == 1 ? 0 : sa;
        b_stride[d] = b_dims[d] == 1 ? 0 : sb;
        sa *= (size_t)a_dims[d];
        sb *= (size_t)b_dims[d];
    }
    for (i0 = 0; i0 < out_dims[0]; i0++) {
        for (i1 = 0; i1 < out_dims[1]; i1++) {
            for (i2 = 0; i2 < out_dims[2]; i2++) {
                for (i3 = 0; i3 < out_dims[3]; i3++) {
                    const size_t ia = (size_t)i0 * a_stride[0] + (size_t)i1 * a_stride[1] +
                                      (size_t)i2 * a_stride[2] + (size_t)i3 * a_stride[3];
                    const size_t ib = (size_t)i0 * b_stride[0] + (size_t)i1 * b_stride[1] +
                                      (size_t)i2 * b_stride[2] + (size_t)i3 * b_stride[3];
                    const int32_t va = eai_shl_wrap(p->input1_offset + a[ia], (int)p->left_shift);
                    const int32_t vb = eai_shl_wrap(p->input2_offset + b[ib], (int)p->left_shift);
                    const int32_t sa1 = eai_mbqm(va, p->input1_multiplier, (int)p->input1_shift);
                    const int32_t sb1 = eai_mbqm(vb, p->input2_multiplier, (int)p->input2_shift);
                    int32_t v = eai_mbqm(eai_add_wrap(sa1, sb1), p->output_multiplier,
                                         (int)p->output_shift);
                    v = eai_add_wrap(v, p->output_offset);
                    if (v < p->act_min)
                        v = p->act_min;
                    if (v > p->act_max)
                        v = p->act_max;
                    output[o++] = (int8_t)v;
                }
            }
        }
    }
}
