/* AVERAGE_POOL_2D and MAX_POOL_2D, as tflite::reference_integer_ops::AveragePool and
 * MaxPool for int8 (TFLite 2.14): only the window taps inside the image count. */
#include "kernels.h"

static int32_t max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

static int32_t min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

void eai_average_pool(const eai_pool_params *p, const int8_t *input, const int32_t in_dims[4],
                      int8_t *output, const int32_t out_dims[4])
{
    const int32_t batches = in_dims[0], in_h = in_dims[1], in_w = in_dims[2];
    const int32_t depth = in_dims[3];
    const int32_t out_h = out_dims[1], out_w = out_dims[2];
    int32_t b, oy, ox, c, fy, fx;

    for (b = 0; b < batches; b++) {
        for (oy = 0; oy < out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = max_i32(0, -iy0);
            const int32_t fy1 = min_i32(p->filter_h, in_h - iy0);
            for (ox = 0; ox < out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = max_i32(0, -ix0);
                const int32_t fx1 = min_i32(p->filter_w, in_w - ix0);
                for (c = 0; c < depth; c++) {
                    int32_t acc = 0, count = 0; /* |acc| <= 128 x 2^16: no overflow */
                    for (fy = fy0; fy < fy1; fy++) {
                        for (fx = fx0; fx < fx1; fx++) {
                            const size_t iy = (size_t)(iy0 + fy), ix = (size_t)(ix0 + fx);
                            acc += input[((((size_t)b * (size_t)in_h + iy) * (size_t)in_w) + ix) *
                                             (size_t)depth + (size_t)c];
                            count++;
                        }
                    }
                    if (count > 0) /* always, for a loaded model */
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    acc = max_i32(acc, p->act_min);
                    acc = min_i32(acc, p->act_max);
                    output[(((size_t)b * (size_t)out_h + (size_t)oy) * (size_t)out_w +
                            (size_t)ox) * (size_t)depth + (size_t)c] = (int8_t)acc;
                }
            }
        }
    }
}

void eai_max_pool(const eai_pool_params *p, const int8_t *input, const int32_t in_dims[4],
                  int8_t *output, const int32_t out_dims[4])
{
    const int32_t batches = in_dims[0], in_h = in_dims[1], in_w = in_dims[2];
    const int32_t depth = in_dims[3];
    const int32_t out_h = out_dims[1], out_w = out_dims[2];
    int32_t b, oy, ox, c, fy, fx;

    for (b = 0; b < batches; b++) {
        for (oy = 0; oy < out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = max_i32(0, -iy0);
            const int32_t fy1 = min_i32(p->filter_h, in_h - iy0);
            for (ox = 0; ox < out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = max_i32(0, -ix0);
                const int32_t fx1 = min_i32(p->filter_w, in_w - ix0);
                for (c = 0; c < depth; c++) {
                    int32_t mx = INT8_MIN;
                    for (fy = fy0; fy < fy1; fy++) {
                        for (fx = fx0; fx < fx1; fx++) {
                            const size_t iy = (size_t)(iy0 + fy), ix = (size_t)(ix0 + fx);
                            mx = max_i32(mx, input[((((size_t)b * (size_t)in_h + iy) *
                                                     (size_t)in_w) + ix) * (size_t)depth +
                                                   (size_t)c]);
                        }
                    }
                    mx = max_i32(mx, p->act_min);
                    mx = min_i32(mx, p->act_max);
                    output[(((size_t)b * (size_t)out_h + (size_t)oy) * (size_t)out_w +
                            (size_t)ox) * (size_t)depth + (size_t)c] = (int8_t)mx;
                }
            }
        }
    }
}
