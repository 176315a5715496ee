/* DEPTHWISE_CONV_2D, as tflite::reference_integer_ops::DepthwiseConvPerChannel (TFLite 2.14). */
#include "kernels.h"

#include "fixedpoint.h"

static int8_t clamp_i8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

void eai_depthwise_conv2d(const eai_conv_params *p, const int8_t *input,
                          const int32_t in_dims[4], const int8_t *filter,
                          const int32_t filter_dims[4], const int32_t *bias,
                          const int32_t *mult, const int32_t *shift, int32_t n_quant,
                          int8_t *output, const int32_t out_dims[4])
{
    const int32_t batches = in_dims[0], in_h = in_dims[1], in_w = in_dims[2];
    const int32_t in_c = in_dims[3];
    const int32_t k_h = filter_dims[1], k_w = filter_dims[2], out_c = filter_dims[3];
    const int32_t out_h = out_dims[1], out_w = out_dims[2];
    const int32_t dm = p->depth_multiplier;
    int32_t b, oy, ox, ic, m, ky, kx;

    for (b = 0; b < batches; b++) {
        for (oy = 0; oy < out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int8_t *out = output + (((size_t)b * (size_t)out_h + (size_t)oy) * (size_t)out_w +
                                        (size_t)ox) * (size_t)out_c;
                for (ic = 0; ic < in_c; ic++) {
                    for (m = 0; m < dm; m++) {
                        const int32_t co = ic * dm + m;
                        const int32_t q = n_quant == 1 ? 0 : co;
                        uint32_t acc = 0; /* wraps modulo 2^32 */
                        int32_t v;
                        for (ky = 0; ky < k_h; ky++) {
                            const int32_t iy = iy0 + ky * p->dilation_h;
                            if (iy < 0 || iy >= in_h)
                                continue;
                            for (kx = 0; kx < k_w; kx++) {
                                const int32_t ix = ix0 + kx * p->dilation_w;
                                int32_t in_v, f_v;
                                if (ix < 0 || ix >= in_w)
                                    continue;
                                in_v = input[(((size_t)b * (size_t)in_h + (size_t)iy) *
                                                  (size_t)in_w + (size_t)ix) * (size_t)in_c +
                                             (size_t)ic];
                                f_v = filter[((size_t)ky * (size_t)k_w + (size_t)kx) *
                                                 (size_t)out_c + (size_t)co];
                                acc += (uint32_t)(f_v * (in_v + p->input_offset));
                            }
                        }
                        if (bias)
                            acc += (uint32_t)bias[co];
                        v = eai_mbqm(eai_fp_from_u32(acc), mult[q], (int)shift[q]);
                        v = eai_add_wrap(v, p->output_offset);
                        out[co] = clamp_i8(v, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
