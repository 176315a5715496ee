/* Reference int8 kernels: plain functions over pointers and sizes, bit-exact with TFLite
 * 2.14's reference integer kernels (see docs/model-format.md, "Arithmetic").
 *
 * Shapes are NHWC, outermost first. The kernels trust their arguments: the loader has
 * already checked every shape, parameter and bound (runtime/loader.c), and the
 * interpreter passes only validated values. No kernel allocates, recurses or prints.
 * Per-channel arrays (bias, multipliers, shifts) are int32 in native (little-endian)
 * order, read in place from the blob. `n_quant` is the length of mult and shift: the
 * number of output channels (per-channel quantization) or 1 (one multiplier and shift for
 * every channel). Inputs and outputs never overlap. */
#ifndef EAI_KERNELS_H
#define EAI_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* CONV_2D and DEPTHWISE_CONV_2D parameters (params 0..10 of the op record). */
typedef struct {
    int32_t stride_h, stride_w;     /* >= 1 */
    int32_t dilation_h, dilation_w; /* >= 1 */
    int32_t pad_h, pad_w;           /* >= 0, rows/columns before the image */
    int32_t input_offset;           /* -input_zero_point */
    int32_t output_offset;          /* output_zero_point */
    int32_t act_min, act_max;       /* int8 clamp */
    int32_t depth_multiplier;       /* depthwise only */
} eai_conv_params;

/* input [n,h,w,ci], filter [co,kh,kw,ci/groups], bias [co] or NULL, mult/shift [n_quant],
 * output [n,oh,ow,co]; groups = ci / filter_dims[3]. */
void eai_conv2d(const eai_conv_params *p, const int8_t *input, const int32_t in_dims[4],
                const int8_t *filter, const int32_t filter_dims[4], const int32_t *bias,
                const int32_t *mult, const int32_t *shift, int32_t n_quant, int8_t *output,
                const int32_t out_dims[4]);

/* input [n,h,w,ci], filter [1,kh,kw,co] with co = ci * depth_multiplier, bias [co] or NULL,
 * mult/shift [n_quant], output [n,oh,ow,co]. */
void eai_depthwise_conv2d(const eai_conv_params *p, const int8_t *input,
                          const int32_t in_dims[4], const int8_t *filter,
                          const int32_t filter_dims[4], const int32_t *bias,
                          const int32_t *mult, const int32_t *shift, int32_t n_quant,
                          int8_t *output, const int32_t out_dims[4]);

/* FULLY_CONNECTED parameters (params 0, 6..9). */
typedef struct {
    int32_t filter_offset;
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
} eai_fc_params;

/* input [batches, depth], filter [out_depth, depth], bias [out_depth] or NULL,
 * mult/shift [n_quant], output [batches, out_depth]. */
void eai_fully_connected(const eai_fc_params *p, const int8_t *input, int32_t batches,
                         int32_t depth, const int8_t *filter, int32_t out_depth,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift,
                         int32_t n_quant, int8_t *output);

/* AVERAGE_POOL_2D and MAX_POOL_2D parameters (params 0..5, 8, 9). */
typedef struct {
    int32_t stride_h, stride_w;
    int32_t filter_h, filter_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
} eai_pool_params;

/* input [n,h,w,c], output [n,oh,ow,c]. */
void eai_average_pool(const eai_pool_params *p, const int8_t *input, const int32_t in_dims[4],
                      int8_t *output, const int32_t out_dims[4]);
void eai_max_pool(const eai_pool_params *p, const int8_t *input, const int32_t in_dims[4],
                  int8_t *output, const int32_t out_dims[4]);

/* ADD parameters (params 0..11). */
typedef struct {
    int32_t input1_offset, input1_multiplier, input1_shift;
    int32_t input2_offset, input2_multiplier, input2_shift;
    int32_t left_shift; /* 0..30 */
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t output_multiplier, output_shift;
} eai_add_params;

/* Shapes extended to 4-D (ranks right-aligned, leading 1s); each input dim equals the
 * output's or is 1 (broadcast). */
void eai_add(const eai_add_params *p, const int8_t *a, const int32_t a_dims[4],
             const int8_t *b, const int32_t b_dims[4], int8_t *output,
             const int32_t out_dims[4]);

/* SOFTMAX parameters (params 0..2). */
typedef struct {
    int32_t input_multiplier;
    int32_t input_left_shift; /* 0..31 */
    int32_t diff_min;         /* <= 0 */
} eai_softmax_params;

/* Softmax over rows of `depth` (1 .. EAI_MAX_SOFTMAX_DEPTH) int8 values; output zero point
 * -128, scale 1/256. */
void eai_softmax(const eai_softmax_params *p, const int8_t *input, int32_t outer,
                 int32_t depth, int8_t *output);

/* EMBEDDING_BAG parameters (params 1..5; param 0, ngrams, is for the text front end). */
typedef struct {
    int32_t output_offset;                   /* output_zero_point */
    int32_t output_multiplier, output_shift; /* scale table / (256 x output) */
    int32_t act_min, act_max;                /* int8 clamp */
} eai_embedding_bag_params;

/* The mean of the table rows that `ids` names, requantized: ids [n_ids] (1 ..
 * EAI_MAX_BAG_IDS; -1 pads, and any id outside [0, rows) is skipped like padding), table
 * [rows, depth] int8 (zero point 0), output [depth]. Every valid id counts, repeats too. */
void eai_embedding_bag(const eai_embedding_bag_params *p, const int32_t *ids, int32_t n_ids,
                       const int8_t *table, int32_t rows, int32_t depth, int8_t *output);

/* RESHAPE: a byte copy (nothing when input == output). */
void eai_reshape(const int8_t *input, int8_t *output, size_t bytes);

#endif /* EAI_KERNELS_H */
