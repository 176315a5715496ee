/* Unit tests of the edgeai runtime: fixed-point helpers, CRC32, hand-built blobs run end
 * to end against hand-computed outputs, and loader rejections with exact error codes.
 *
 * Usage: test_runtime                      run the tests; the last line reads
 *                                          "test_runtime: N passed, M failed"
 *        test_runtime --write-blobs DIR    also write the hand-built blobs to DIR (NAME.eai)
 *                                          (seeds for eai_fuzz)
 * Exit status 0 only when every check passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob_writer.h"
#include "edgeai.h"
#include "fixedpoint.h"
#include "kernels.h"

#include "check.h"

/* 4-byte aligned scratch for blobs and arenas. */
static uint32_t g_blob_words[4096];
static uint8_t *const g_blob = (uint8_t *)g_blob_words;
static uint32_t g_arena_words[1024];
static uint8_t *const g_arena = (uint8_t *)g_arena_words;

static const char *g_write_dir;

static void maybe_write(const char *name, const uint8_t *blob, size_t len)
{
    char path[1024];
    FILE *f;
    if (!g_write_dir)
        return;
    snprintf(path, sizeof path, "%s/%s.eai", g_write_dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(blob, 1, len, f) != len) {
        fprintf(stderr, "test_runtime: cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

/* ---------------------------------------------------------------- fixed point */

static void test_fixedpoint(void)
{
    int nbou = 0;
    int32_t r;

    /* SRDHM: round(a*b/2^31), ties toward +infinity (gemmlowp's nudge), saturation */
    CHECK_EQ(eai_srdhm(INT32_MIN, INT32_MIN), INT32_MAX);
    CHECK_EQ(eai_srdhm(INT32_MIN, INT32_MAX), -INT32_MAX);
    CHECK_EQ(eai_srdhm(1 << 30, 1 << 30), 1 << 29);
    CHECK_EQ(eai_srdhm(3, 1 << 30), 2);   /* 1.5 -> 2 */
    CHECK_EQ(eai_srdhm(-3, 1 << 30), -1); /* -1.5 -> -1 */
    CHECK_EQ(eai_srdhm(-5, 1 << 30), -2); /* -2.5 -> -2 */
    CHECK_EQ(eai_srdhm(12345, 0), 0);
    CHECK_EQ(eai_srdhm(INT32_MAX, INT32_MAX), INT32_MAX - 1);

    /* RDBPOT: ties away from zero */
    CHECK_EQ(eai_rdbpot(5, 1), 3);
    CHECK_EQ(eai_rdbpot(-5, 1), -3);
    CHECK_EQ(eai_rdbpot(-4, 1), -2);
    CHECK_EQ(eai_rdbpot(-6, 2), -2); /* -1.5 */
    CHECK_EQ(eai_rdbpot(-7, 2), -2); /* -1.75 */
    CHECK_EQ(eai_rdbpot(-5, 2), -1); /* -1.25 */
    CHECK_EQ(eai_rdbpot(-1, 31), 0);
    CHECK_EQ(eai_rdbpot(INT32_MIN, 31), -1);
    CHECK_EQ(eai_rdbpot(INT32_MAX, 31), 1);
    CHECK_EQ(eai_rdbpot(-123, 0), -123);
    CHECK_EQ(eai_rdbpot_wide(INT32_MAX, 32), 0);
    CHECK_EQ(eai_rdbpot_wide(1 << 30, 31), 1);

    /* MBQM: double rounding */
    CHECK_EQ(eai_mbqm(100, 1 << 30, 0), 50);
    CHECK_EQ(eai_mbqm(100, 1 << 30, 2), 200);
    CHECK_EQ(eai_mbqm(100, 1 << 30, -3), 6);   /* 6.25 */
    CHECK_EQ(eai_mbqm(-100, 1 << 30, -3), -6);
    CHECK_EQ(eai_mbqm(-75, 1 << 30, -2), -9);  /* SRDHM -37.5 -> -37, then -9.25 -> -9 */
    CHECK_EQ(eai_mbqm(12345, 0, 5), 0);
    CHECK_EQ(eai_mbqm(12345, 0, -31), 0);
    CHECK_EQ(eai_mbqm(1 << 20, 1 << 30, 12), 0);          /* x * 2^12 wraps to 0 */
    CHECK_EQ(eai_mbqm(1 << 20, INT32_MAX, 11), -INT32_MAX); /* x * 2^11 wraps to MIN */
    CHECK_EQ(eai_shl_wrap(-255, 24), 16777216);                  /* wraps to positive */

    /* gemmlowp transcendental helpers: exact special points, close elsewhere */
    CHECK_EQ(eai_exp_on_negative_values_q5(0), INT32_MAX);
    r = eai_exp_on_negative_values_q5(-(1 << 26)); /* exp(-1) * 2^31 = 790015084.2 */
    CHECK(r > 790015084 - 2000 && r < 790015084 + 2000);
    r = eai_exp_on_negative_values_q5(-(1 << 24)); /* exp(-1/4) * 2^31 = 1672461947.3 */
    CHECK(r > 1672461947 - 2000 && r < 1672461947 + 2000);
    r = eai_exp_on_negative_values_q5(-(3 << 25)); /* exp(-1.5) * 2^31 = 479168370.3 */
    CHECK(r > 479168370 - 2000 && r < 479168370 + 2000);
    r = eai_one_over_one_plus_x_q0(1 << 30); /* 1/1.5 * 2^31 = 1431655765.3 */
    CHECK(r > 1431655765 - 2000 && r < 1431655765 + 2000);
    r = eai_get_reciprocal(1 << 21, 12, &nbou); /* 4.0 in Q12.19: 1/4 = 1.0 x 2^-2 */
    CHECK_EQ(nbou, 2);
    CHECK(r > INT32_MAX - 2000);
    CHECK_EQ(eai_clz32(0), 32);
    CHECK_EQ(eai_clz32(1), 31);
    CHECK_EQ(eai_clz32(0x80000000u), 0);
}

static void test_crc(void)
{
    const uint8_t s[] = "123456789";
    CHECK_EQ(eai_crc32(0, s, 9), 0xCBF43926u);
    CHECK_EQ(eai_crc32(eai_crc32(0, s, 4), s + 4, 5), 0xCBF43926u);
    CHECK_EQ(eai_crc32(0, s, 0), 0);
}

/* ---------------------------------------------------------------- blobs */

static const int32_t MULT_HALF = 1 << 30; /* 0.5 */

/* FULLY_CONNECTED: input [1,3] (zero point -1), filter [2,3], bias [2] -> output [1,2];
 * per-channel multipliers and shifts [2], or per-tensor [1]. */
static size_t build_fc_q(uint8_t *out, size_t cap, uint32_t n_quant)
{
    static const int8_t w[6] = {1, -1, 2, 3, 0, -2};
    static const int32_t bias[2] = {10, -20};
    static const int32_t mult[2] = {1 << 30, 1 << 30};
    static const int32_t shift[2] = {0, 1};
    bw_model m;
    uint16_t in, f, b, mu, sh, o;
    int32_t p[12] = {0};
    memset(&m, 0, sizeof m);
    in = bw_act(&m, 2, 1, 3, 1, 1, 0);
    f = bw_const_i8(&m, 2, 2, 3, 1, 1, w);
    b = bw_const_i32(&m, 2, bias);
    mu = bw_const_i32(&m, n_quant, mult);
    sh = bw_const_i32(&m, n_quant, shift);
    o = bw_act(&m, 2, 1, 2, 1, 1, 4);
    m.tensors[in].zero_point = -1;
    m.tensors[o].zero_point = 3;
    {
        const uint16_t ins[5] = {in, f, b, mu, sh};
        p[0] = 0;   /* filter_offset */
        p[6] = 1;   /* input_offset = -(-1) */
        p[7] = 3;   /* output_offset */
        p[8] = -10; /* act_min */
        p[9] = 127;
        bw_op_add(&m, EAI_OP_FULLY_CONNECTED, 5, ins, o, p);
    }
    m.io[0] = in;
    m.io[1] = o;
    m.n_inputs = m.n_outputs = 1;
    m.arena_bytes = 8;
    return bw_build(&m, out, cap);
}

static size_t build_fc(uint8_t *out, size_t cap)
{
    return build_fc_q(out, cap, 2);
}

static size_t build_fc_per_tensor(uint8_t *out, size_t cap)
{
    return build_fc_q(out, cap, 1);
}

/* Two long SOFTMAX rows: 600 equal values (the sum of exps passes 512, TFLite's exponent
 * would be 32: every output -128) and 300 equal values (1/300 x 256 rounds to 1: -127). */
static size_t build_softmax_long(uint8_t *out, size_t cap)
{
    bw_model m;
    uint16_t x1, y1, x2, y2;
    int32_t p[12] = {0};
    memset(&m, 0, sizeof m);
    x1 = bw_act(&m, 2, 1, 600, 1, 1, 0);
    y1 = bw_act(&m, 2, 1, 600, 1, 1, 600);
    x2 = bw_act(&m, 2, 1, 300, 1, 1, 1200);
    y2 = bw_act(&m, 2, 1, 300, 1, 1, 1500);
    p[0] = 1 << 30;
    p[1] = 24;
    p[2] = -10;
    bw_op_add(&m, EAI_OP_SOFTMAX, 1, &x1, y1, p);
    bw_op_add(&m, EAI_OP_SOFTMAX, 1, &x2, y2, p);
    m.io[0] = x1;
    m.io[1] = x2;
    m.io[2] = y1;
    m.io[3] = y2;
    m.n_inputs = m.n_outputs = 2;
    m.arena_bytes = 1800;
    return bw_build(&m, out, cap);
}

/* CONV_2D 3x3 SAME (all-ones filter, x0.5) on a 1x3x3x1 image, then AVERAGE_POOL_2D 2x2
 * stride 2 SAME -> 1x2x2x1. */
static size_t build_conv_pool(uint8_t *out, size_t cap)
{
    static const int8_t w[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const int32_t mult[1] = {1 << 30};
    static const int32_t shift[1] = {0};
    bw_model m;
    uint16_t in, f, mu, sh, c, o;
    int32_t p[12] = {0};
    memset(&m, 0, sizeof m);
    in = bw_act(&m, 4, 1, 3, 3, 1, 0);
    f = bw_const_i8(&m, 4, 1, 3, 3, 1, w);
    mu = bw_const_i32(&m, 1, mult);
    sh = bw_const_i32(&m, 1, shift);
    c = bw_act(&m, 4, 1, 3, 3, 1, 12);
    o = bw_act(&m, 4, 1, 2, 2, 1, 0); /* reuses the input's bytes once it is dead */
    {
        const uint16_t ins[5] = {in, f, EAI_NO_TENSOR, mu, sh};
        p[0] = p[1] = p[2] = p[3] = 1;
        p[4] = p[5] = 1;
        p[8] = -128;
        p[9] = 127;
        bw_op_add(&m, EAI_OP_CONV_2D, 5, ins, c, p);
    }
    {
        const uint16_t ins[1] = {c};
        memset(p, 0, sizeof p);
        p[0] = p[1] = 2;
        p[2] = p[3] = 2;
        p[8] = -128;
        p[9] = 127;
        bw_op_add(&m, EAI_OP_AVERAGE_POOL_2D, 1, ins, o, p);
    }
    m.io[0] = in;
    m.io[1] = o;
    m.n_inputs = m.n_outputs = 1;
    m.arena_bytes = 24;
    return bw_build(&m, out, cap);
}

/* DEPTHWISE_CONV_2D 1x1 on 1x2x2x2 with filter [2, 3] and multiplier 1.0; then MAX_POOL_2D
 * 2x2 VALID -> 1x1x1x2. Outputs both. */
static size_t build_dw_maxpool(uint8_t *out, size_t cap)
{
    static const int8_t w[2] = {2, 3};
    static const int32_t mult[2] = {1 << 30, 1 << 30};
    static const int32_t shift[2] = {1, 1};
    static const int32_t bias[2] = {0, -1};
    bw_model m;
    uint16_t in, f, b, mu, sh, d, o;
    int32_t p[12] = {0};
    memset(&m, 0, sizeof m);
    in = bw_act(&m, 4, 1, 2, 2, 2, 0);
    f = bw_const_i8(&m, 4, 1, 1, 1, 2, w);
    b = bw_const_i32(&m, 2, bias);
    mu = bw_const_i32(&m, 2, mult);
    sh = bw_const_i32(&m, 2, shift);
    d = bw_act(&m, 4, 1, 2, 2, 2, 8);
    o = bw_act(&m, 4, 1, 1, 1, 2, 16);
    {
        const uint16_t ins[5] = {in, f, b, mu, sh};
        p[0] = p[1] = p[2] = p[3] = 1;
        p[8] = -128;
        p[9] = 127;
        p[10] = 1;
        bw_op_add(&m, EAI_OP_DEPTHWISE_CONV_2D, 5, ins, d, p);
    }
    {
        const uint16_t ins[1] = {d};
        memset(p, 0, sizeof p);
        p[0] = p[1] = 1;
        p[2] = p[3] = 2;
        p[8] = -128;
        p[9] = 20;
        bw_op_add(&m, EAI_OP_MAX_POOL_2D, 1, ins, o, p);
    }
    m.io[0] = in;
    m.io[1] = d;
    m.io[2] = o;
    m.n_inputs = 1;
    m.n_outputs = 2;
    m.arena_bytes = 20;
    return bw_build(&m, out, cap);
}

/* ADD a [1,2,2,1] + b [1] (broadcast) with unit scales, RESHAPE the sum to [4] (aliased);
 * SOFTMAX over the rows of a separate input [2,4]. */
static size_t build_add_softmax(uint8_t *out, size_t cap)
{
    bw_model m;
    uint16_t a, b, s, r, x, y;
    int32_t p[12] = {0};
    memset(&m, 0, sizeof m);
    a = bw_act(&m, 4, 1, 2, 2, 1, 0);
    b = bw_act(&m, 1, 1, 1, 1, 1, 4);
    s = bw_act(&m, 4, 1, 2, 2, 1, 8);
    r = bw_act(&m, 1, 4, 1, 1, 1, 8); /* RESHAPE aliases its input exactly */
    x = bw_act(&m, 2, 2, 4, 1, 1, 12);
    y = bw_act(&m, 2, 2, 4, 1, 1, 20);
    {
        const uint16_t ins[2] = {a, b};
        p[0] = 0;
        p[1] = MULT_HALF;
        p[2] = 0;
        p[3] = 0;
        p[4] = MULT_HALF;
        p[5] = 0;
        p[6] = 1; /* left_shift: (v * 2) * 0.5 = v */
        p[7] = 0;
        p[8] = -128;
        p[9] = 127;
        p[10] = MULT_HALF;
        p[11] = 1; /* (sum * 2) * 0.5 = sum */
        bw_op_add(&m, EAI_OP_ADD, 2, ins, s, p);
    }
    {
        const uint16_t ins[1] = {s};
        bw_op_add(&m, EAI_OP_RESHAPE, 1, ins, r, NULL);
    }
    {
        const uint16_t ins[1] = {x};
        memset(p, 0, sizeof p);
        p[0] = 1 << 30;
        p[1] = 24;
        p[2] = -10;
        bw_op_add(&m, EAI_OP_SOFTMAX, 1, ins, y, p);
    }
    m.io[0] = a;
    m.io[1] = b;
    m.io[2] = x;
    m.io[3] = r;
    m.io[4] = y;
    m.n_inputs = 3;
    m.n_outputs = 2;
    m.arena_bytes = 28;
    return bw_build(&m, out, cap);
}

/* Every opcode in one chain, with groups, dilation, padding and broadcasting, so that the
 * fuzzer's accepted mutants reach every kernel. Output checked only for determinism. */
static size_t build_all_ops(uint8_t *out, size_t cap)
{
    static int8_t wc[4 * 3 * 3 * 1], wd[1 * 3 * 3 * 4], wf[8 * 16];
    static int32_t bc[4], mc[4], sc[4], bd[4], md[4], sd[4], bf[8], mf[8], sf[8];
    bw_model m;
    uint16_t in, t1, t2, t3, t4, t5, t6, t7, t8;
    int32_t p[12] = {0};
    unsigned i;
    for (i = 0; i < sizeof wc; i++)
        wc[i] = (int8_t)((int)(i * 37u % 255u) - 127);
    for (i = 0; i < sizeof wd; i++)
        wd[i] = (int8_t)((int)(i * 53u % 251u) - 125);
    for (i = 0; i < sizeof wf; i++)
        wf[i] = (int8_t)((int)(i * 91u % 253u) - 126);
    for (i = 0; i < 4; i++) {
        bc[i] = (int32_t)i * 100 - 150;
        mc[i] = 1518500250 + (int32_t)i;
        sc[i] = -6 - (int32_t)i;
        bd[i] = 77 - (int32_t)i * 60;
        md[i] = 1200000000;
        sd[i] = -5;
    }
    for (i = 0; i < 8; i++) {
        bf[i] = (int32_t)i * 33 - 100;
        mf[i] = 1700000000;
        sf[i] = -7;
    }
    memset(&m, 0, sizeof m);
    in = bw_act(&m, 4, 1, 4, 4, 2, 0);
    t1 = bw_act(&m, 4, 1, 4, 4, 4, 32);
    t2 = bw_act(&m, 4, 1, 2, 2, 4, 96);
    t3 = bw_act(&m, 4, 1, 2, 2, 4, 112);
    t4 = bw_act(&m, 4, 1, 1, 1, 4, 128);
    t5 = bw_act(&m, 4, 1, 2, 2, 4, 132);
    t6 = bw_act(&m, 2, 1, 16, 1, 1, 132);
    t7 = bw_act(&m, 2, 1, 8, 1, 1, 148);
    t8 = bw_act(&m, 2, 1, 8, 1, 1, 156);
    {   /* grouped conv: Ci = 2, filter [4,3,3,1] -> 2 groups; SAME */
        const uint16_t ins[5] = {in, bw_const_i8(&m, 4, 4, 3, 3, 1, wc), bw_const_i32(&m, 4, bc),
                                 bw_const_i32(&m, 4, mc), bw_const_i32(&m, 4, sc)};
        p[0] = p[1] = p[2] = p[3] = 1;
        p[4] = p[5] = 1;
        p[6] = 5;
        p[7] = -3;
        p[8] = -128;
        p[9] = 127;
        bw_op_add(&m, EAI_OP_CONV_2D, 5, ins, t1, p);
    }
    {   /* depthwise 3x3, stride 2, dilation 2, pad 2 */
        const uint16_t ins[5] = {t1, bw_const_i8(&m, 4, 1, 3, 3, 4, wd), bw_const_i32(&m, 4, bd),
                                 bw_const_i32(&m, 4, md), bw_const_i32(&m, 4, sd)};
        memset(p, 0, sizeof p);
        p[0] = p[1] = 2;
        p[2] = p[3] = 2;
        p[4] = p[5] = 2;
        p[6] = 3;
        p[7] = 1;
        p[8] = -100;
        p[9] = 100;
        p[10] = 1;
        bw_op_add(&m, EAI_OP_DEPTHWISE_CONV_2D, 5, ins, t2, p);
    }
    {   /* average pool 2x2 stride 1 SAME (pad at the end) */
        const uint16_t ins[1] = {t2};
        memset(p, 0, sizeof p);
        p[0] = p[1] = 1;
        p[2] = p[3] = 2;
        p[8] = -128;
        p[9] = 127;
        bw_op_add(&m, EAI_OP_AVERAGE_POOL_2D, 1, ins, t3, p);
    }
    {   /* max pool 2x2 stride 2 VALID */
        const uint16_t ins[1] = {t3};
        memset(p, 0, sizeof p);
        p[0] = p[1] = 2;
        p[2] = p[3] = 2;
        p[8] = -128;
        p[9] = 127;
        bw_op_add(&m, EAI_OP_MAX_POOL_2D, 1, ins, t4, p);
    }
    {   /* broadcast add [1,1,1,4] + [1,2,2,4] */
        const uint16_t ins[2] = {t4, t2};
        memset(p, 0, sizeof p);
        p[0] = 2;
        p[1] = 1073741824;
        p[2] = -1;
        p[3] = -4;
        p[4] = 1500000000;
        p[5] = -2;
        p[6] = 20;
        p[7] = -7;
        p[8] = -128;
        p[9] = 127;
        p[10] = 1800000000;
        p[11] = -18;
        bw_op_add(&m, EAI_OP_ADD, 2, ins, t5, p);
    }
    {
        const uint16_t ins[1] = {t5};
        bw_op_add(&m, EAI_OP_RESHAPE, 1, ins, t6, NULL);
    }
    {
        const uint16_t ins[5] = {t6, bw_const_i8(&m, 2, 8, 16, 1, 1, wf), bw_const_i32(&m, 8, bf),
                                 bw_const_i32(&m, 8, mf), bw_const_i32(&m, 8, sf)};
        memset(p, 0, sizeof p);
        p[6] = 7;
        p[7] = 2;
        p[8] = -128;
        p[9] = 127;
        bw_op_add(&m, EAI_OP_FULLY_CONNECTED, 5, ins, t7, p);
    }
    {
        const uint16_t ins[1] = {t7};
        memset(p, 0, sizeof p);
        p[0] = 1717986918;
        p[1] = 23;
        p[2] = -248;
        bw_op_add(&m, EAI_OP_SOFTMAX, 1, ins, t8, p);
    }
    m.io[0] = in;
    m.io[1] = t8;
    m.n_inputs = m.n_outputs = 1;
    m.arena_bytes = 164;
    return bw_build(&m, out, cap);
}

/* EMBEDDING_BAG: ids [1,8] int32 at 0, table [5,3], output [1,3] at 32 (zero point 3);
 * output multiplier 0.5 x 2^-7 = 1/256, so out = round(mean) + 3 (double rounding), clamped
 * to [-80, 127]. */
static const int8_t BAG_TABLE[15] = {10, -20, 127, -128, 5, 0, 3, 3, -3, 1, -1, 100, -7, 0, 50};

static size_t build_embedding_bag(uint8_t *out, size_t cap)
{
    bw_model m;
    uint16_t ids, table, o;
    int32_t p[12] = {0};
    memset(&m, 0, sizeof m);
    ids = bw_tensor_add(&m, EAI_INT32, EAI_KIND_ARENA, 2, 1, 8, 1, 1, 0, NULL);
    table = bw_const_i8(&m, 2, 5, 3, 1, 1, BAG_TABLE);
    o = bw_act(&m, 2, 1, 3, 1, 1, 32);
    m.tensors[o].zero_point = 3;
    {
        const uint16_t ins[2] = {ids, table};
        p[0] = 2;       /* ngrams */
        p[1] = 3;       /* output_offset */
        p[2] = 1 << 30; /* output_multiplier */
        p[3] = -7;      /* output_shift */
        p[4] = -80;     /* act_min */
        p[5] = 127;     /* act_max */
        bw_op_add(&m, EAI_OP_EMBEDDING_BAG, 2, ins, o, p);
    }
    m.io[0] = ids;
    m.io[1] = o;
    m.n_inputs = m.n_outputs = 1;
    m.arena_bytes = 48;
    return bw_build(&m, out, cap);
}

/* Load a blob, copy inputs in, run, and compare one output. */
static void run_and_check(const uint8_t *blob, size_t len, const int8_t *const *inputs,
                          uint32_t out_i, const int8_t *expected, size_t n_expected)
{
    eai_model m;
    eai_tensor t;
    uint32_t i;
    int idx;
    CHECK_EQ(eai_load(&m, blob, len), EAI_OK);
    if (m.blob == NULL)
        return;
    memset(g_arena, 0x5A, sizeof g_arena_words);
    for (i = 0; i < m.n_inputs; i++) {
        idx = eai_input_index(&m, i);
        CHECK(idx >= 0);
        CHECK_EQ(eai_tensor_info(&m, (uint32_t)idx, &t), EAI_OK);
        memcpy(g_arena + t.offset, inputs[i], t.bytes);
    }
    CHECK_EQ(eai_invoke(&m, g_arena, m.arena_bytes), EAI_OK);
    idx = eai_output_index(&m, out_i);
    CHECK(idx >= 0);
    CHECK_EQ(eai_tensor_info(&m, (uint32_t)idx, &t), EAI_OK);
    CHECK_EQ(t.bytes, n_expected);
    for (i = 0; i < n_expected && i < t.bytes; i++)
        CHECK_EQ((int8_t)g_arena[t.offset + i], expected[i]);
}

static void test_fc(void)
{
    static const int8_t x[3] = {1, 2, 3};
    static const int8_t want[2] = {12, -10};
    const int8_t *ins[1] = {x};
    const size_t len = build_fc(g_blob, sizeof g_blob_words);
    CHECK(len > 0);
    maybe_write("fc", g_blob, len);
    run_and_check(g_blob, len, ins, 0, want, 2);
}

static void test_fc_per_tensor(void)
{
    static const int8_t x[3] = {1, 2, 3};
    static const int8_t want[2] = {12, -8}; /* shift 0 for both channels: -22 x 0.5 + 3 */
    const int8_t *ins[1] = {x};
    const size_t len = build_fc_per_tensor(g_blob, sizeof g_blob_words);
    CHECK(len > 0);
    maybe_write("fc_per_tensor", g_blob, len);
    run_and_check(g_blob, len, ins, 0, want, 2);
}

static void test_softmax_long(void)
{
    static int8_t x1[600], x2[300], want1[600], want2[300];
    const int8_t *ins[2] = {x1, x2};
    const size_t len = build_softmax_long(g_blob, sizeof g_blob_words);
    memset(x1, 7, sizeof x1);
    memset(x2, -3, sizeof x2);
    memset(want1, -128, sizeof want1);
    memset(want2, -127, sizeof want2);
    CHECK(len > 0);
    maybe_write("softmax_long", g_blob, len);
    run_and_check(g_blob, len, ins, 0, want1, 600);
    run_and_check(g_blob, len, ins, 1, want2, 300);
}

static void test_conv_pool(void)
{
    static const int8_t x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    /* conv: [[6,11,8],[14,23,17],[12,20,14]]; pool: (54+2)/4, (25+1)/2, 32/2, 14 */
    static const int8_t want[4] = {14, 13, 16, 14};
    const int8_t *ins[1] = {x};
    const size_t len = build_conv_pool(g_blob, sizeof g_blob_words);
    CHECK(len > 0);
    maybe_write("conv_pool", g_blob, len);
    run_and_check(g_blob, len, ins, 0, want, 4);
}

static void test_dw_maxpool(void)
{
    static const int8_t x[8] = {1, 2, 3, 4, 5, 6, -7, 50};
    static const int8_t want_dw[8] = {2, 5, 6, 11, 10, 17, -14, 127};
    static const int8_t want_max[2] = {10, 20};
    const int8_t *ins[1] = {x};
    const size_t len = build_dw_maxpool(g_blob, sizeof g_blob_words);
    CHECK(len > 0);
    maybe_write("dw_maxpool", g_blob, len);
    run_and_check(g_blob, len, ins, 0, want_dw, 8);
    run_and_check(g_blob, len, ins, 1, want_max, 2);
}

static void test_add_softmax(void)
{
    static const int8_t a[4] = {1, -2, 100, 120};
    static const int8_t b[1] = {10};
    static const int8_t x[8] = {5, 5, 5, 5, 127, -128, -128, -128};
    static const int8_t want_add[4] = {11, 8, 110, 127};
    /* uniform row: 1/4 -> 64 - 128; second row: the others are below diff_min */
    static const int8_t want_sm[8] = {-64, -64, -64, -64, 127, -128, -128, -128};
    const int8_t *ins[3] = {a, b, x};
    const size_t len = build_add_softmax(g_blob, sizeof g_blob_words);
    CHECK(len > 0);
    maybe_write("add_softmax", g_blob, len);
    run_and_check(g_blob, len, ins, 0, want_add, 4);
    run_and_check(g_blob, len, ins, 1, want_sm, 8);
}

static void test_all_ops(void)
{
    static int8_t x[32];
    int8_t first[8];
    eai_model m;
    eai_tensor t;
    unsigned i;
    int rep;
    const size_t len = build_all_ops(g_blob, sizeof g_blob_words);
    CHECK(len > 0);
    maybe_write("all_ops", g_blob, len);
    for (i = 0; i < sizeof x; i++)
        x[i] = (int8_t)((int)(i * 29u % 256u) - 128);
    CHECK_EQ(eai_load(&m, g_blob, len), EAI_OK);
    if (!m.blob)
        return;
    for (rep = 0; rep < 2; rep++) {
        memset(g_arena, rep ? 0x11 : 0xEE, sizeof g_arena_words);
        CHECK_EQ(eai_tensor_info(&m, (uint32_t)eai_input_index(&m, 0), &t), EAI_OK);
        memcpy(g_arena + t.offset, x, sizeof x);
        CHECK_EQ(eai_invoke(&m, g_arena, m.arena_bytes), EAI_OK);
        CHECK_EQ(eai_tensor_info(&m, (uint32_t)eai_output_index(&m, 0), &t), EAI_OK);
        if (rep == 0) {
            memcpy(first, g_arena + t.offset, 8);
        } else {
            int sum = 0;
            CHECK(memcmp(first, g_arena + t.offset, 8) == 0); /* no stale arena reads */
            for (i = 0; i < 8; i++)
                sum += first[i] + 128;
            CHECK(sum >= 250 && sum <= 262); /* probabilities sum to ~256/256 */
        }
    }
    /* running the ops in two ranges gives the same result */
    memset(g_arena, 0x33, sizeof g_arena_words);
    CHECK_EQ(eai_tensor_info(&m, (uint32_t)eai_input_index(&m, 0), &t), EAI_OK);
    memcpy(g_arena + t.offset, x, sizeof x);
    CHECK_EQ(eai_invoke_range(&m, g_arena, m.arena_bytes, 0, 3), EAI_OK);
    CHECK_EQ(eai_invoke_range(&m, g_arena, m.arena_bytes, 3, m.n_ops), EAI_OK);
    CHECK_EQ(eai_tensor_info(&m, (uint32_t)eai_output_index(&m, 0), &t), EAI_OK);
    CHECK(memcmp(first, g_arena + t.offset, 8) == 0);
}

static void test_embedding_bag(void)
{
    /* rows 0 and 2: acc {13, -17, 124}, n 2, mean {6.5, -8.5, 62} -> {7, -9, 62} + 3 */
    static const int32_t two[8] = {0, 2, -1, -1, -1, -1, -1, -1};
    static const int8_t want_two[3] = {10, -6, 65};
    /* 7 and 5 are past the 5 rows, -5 and INT32_MIN negative: only 1, 3, 1 count (n 3):
     * acc {-255, 9, 100}, mean {-85, 3, 33.3} -> {-82, 6, 36}, clamped at -80 */
    static const int32_t mixed[8] = {1, 7, -5, 3, 1, INT32_MIN, 5, -1};
    static const int8_t want_mixed[3] = {-80, 6, 36};
    static const int32_t none[8] = {-1, -1, -1, -1, 5, 6, -2, 1000000}; /* n 0: the zero point */
    static const int8_t want_none[3] = {3, 3, 3};
    const int8_t *ins[1];
    eai_model m;
    eai_bag_info info;
    const size_t len = build_embedding_bag(g_blob, sizeof g_blob_words);
    CHECK(len > 0);
    maybe_write("embedding_bag", g_blob, len);
    ins[0] = (const int8_t *)(const void *)two;
    run_and_check(g_blob, len, ins, 0, want_two, 3);
    ins[0] = (const int8_t *)(const void *)mixed;
    run_and_check(g_blob, len, ins, 0, want_mixed, 3);
    ins[0] = (const int8_t *)(const void *)none;
    run_and_check(g_blob, len, ins, 0, want_none, 3);

    CHECK_EQ(eai_load(&m, g_blob, len), EAI_OK);
    memset(&info, 0, sizeof info);
    CHECK_EQ(eai_embedding_bag_info(&m, 0, &info), EAI_OK);
    CHECK_EQ(info.op, 0);
    CHECK_EQ(info.buckets, 5);
    CHECK_EQ(info.ngrams, 2);
    CHECK_EQ(info.max_ids, 8);
    CHECK_EQ(eai_embedding_bag_info(&m, 2, &info), EAI_ERR_ARG);
    CHECK_EQ(eai_embedding_bag_info(&m, 1, &info), EAI_ERR_ARG);
    CHECK_EQ(eai_embedding_bag_info(NULL, 0, &info), EAI_ERR_ARG);
    CHECK_EQ(eai_embedding_bag_info(&m, 0, NULL), EAI_ERR_ARG);
}

/* The kernel on its own: the mean's rounding (halves away from zero, negative sums too) and
 * the longest bag. Multiplier 0.5 with shift 1 is the identity, so out = clamp(m) with
 * m = round(256 x acc / n). */
static void test_embedding_bag_rounding(void)
{
    static const int8_t table[5] = {-1, 0, 1, -2, -128}; /* [5, 1] */
    static int32_t ids[EAI_MAX_BAG_IDS];
    eai_embedding_bag_params p;
    int8_t out[1];
    int32_t i;
    p.output_offset = 0;
    p.output_multiplier = 1 << 30;
    p.output_shift = 1;
    p.act_min = -128;
    p.act_max = 127;
#define BAG(n, first, rest, want)                                                   \
    do {                                                                            \
        ids[0] = (first);                                                           \
        for (i = 1; i < (n); i++)                                                   \
            ids[i] = (rest);                                                        \
        out[0] = 99;                                                                \
        eai_embedding_bag(&p, ids, (n), table, 5, 1, out);                          \
        CHECK_EQ(out[0], (want));                                                   \
    } while (0)
    BAG(3, 0, 1, -85);     /* -256 / 3 = -85.3 */
    BAG(6, 0, 1, -43);     /* -256 / 6 = -42.7 */
    BAG(3, 2, 1, 85);
    BAG(512, 0, 1, -1);    /* -256 / 512 = -0.5: away from zero */
    BAG(512, 2, 1, 1);     /* 0.5 */
    BAG(1024, 0, 1, 0);    /* -0.25 */
    BAG(1024, 3, 1, -1);   /* -0.5 */
    BAG(1024, 2, 1, 0);    /* 0.25 */
    BAG(1, 1, 1, 0);
    BAG(4, -1, -1, 0);     /* all padding */
    BAG(4, 5, 9, 0);       /* all out of range */
    /* the longest bag: 4096 x -128, x 256 = -2^27 exactly (no int32 overflow), mean -32768 */
    p.output_shift = -7; /* 0.5 x 2^-7: out = m / 256 */
    BAG((int32_t)EAI_MAX_BAG_IDS, 4, 4, -128);
    BAG((int32_t)EAI_MAX_BAG_IDS, 4, 0, -1); /* (-128 - 4095) / 4096 x 256 = -263.9 -> -264 -> -1 */
    BAG((int32_t)EAI_MAX_BAG_IDS, 2, 2, 1);
#undef BAG
}

/* ---------------------------------------------------------------- loader rejections */

static uint32_t hdr32(const uint8_t *b, uint32_t off)
{
    return bw_get32(b + off);
}

static uint8_t *tensor_rec(uint8_t *b, uint32_t i)
{
    return b + hdr32(b, 36) + i * EAI_TENSOR_BYTES;
}

static uint8_t *op_rec(uint8_t *b, uint32_t i)
{
    return b + hdr32(b, 40) + i * EAI_OP_BYTES;
}

static int32_t *const_i32(uint8_t *b, uint32_t tensor)
{
    return (int32_t *)(void *)(b + hdr32(b, 48) + bw_get32(tensor_rec(b, tensor) + 20));
}

typedef size_t (*builder)(uint8_t *, size_t);

/* Build a fresh blob, let `edit` corrupt it, optionally fix the CRC, expect `status`
 * and (when >= -1) err_index. */
static void expect_load(builder build, void (*edit)(uint8_t *), int fix_crc, int status,
                        int32_t err_index, int line)
{
    eai_model m;
    size_t len = build(g_blob, sizeof g_blob_words);
    int rc;
    edit(g_blob);
    if (fix_crc)
        bw_fix_crc(g_blob);
    rc = eai_load(&m, g_blob, len);
    if (rc == status && (err_index < -1 || m.err_index == err_index)) {
        g_passed++;
    } else {
        g_failed++;
        fprintf(stderr, "FAIL %s:%d: eai_load -> %d (%s) err_index %d, expected %d (%s) %d\n",
                __FILE__, line, rc, eai_strerror(rc), (int)m.err_index, status,
                eai_strerror(status), (int)err_index);
    }
}

#define EXPECT_LOAD(build, edit, fix, status, idx) \
    expect_load(build, edit, fix, status, idx, __LINE__)

static void e_none(uint8_t *b) { (void)b; }
static void e_magic(uint8_t *b) { b[0] = 'X'; }
static void e_version(uint8_t *b) { bw_put16(b + 4, 2); }
static void e_minor(uint8_t *b) { bw_put16(b + 6, 7); }
static void e_header_bytes(uint8_t *b) { bw_put32(b + 8, 80); }
static void e_flags(uint8_t *b) { bw_put32(b + 20, 1); }
static void e_data_byte(uint8_t *b) { b[hdr32(b, 48)] ^= 1; }
static void e_n_tensors0(uint8_t *b) { bw_put16(b + 28, 0); }
static void e_n_ops_big(uint8_t *b) { bw_put16(b + 30, 5000); }
static void e_tensors_off(uint8_t *b) { bw_put32(b + 36, 0xFFFFFFF0u); }
static void e_ops_misaligned(uint8_t *b) { bw_put32(b + 40, hdr32(b, 40) + 4); }
static void e_data_overflow(uint8_t *b) { bw_put32(b + 52, 0xFFFFFFFFu); }
static void e_names_bad(uint8_t *b) { bw_put32(b + 60, 4); }
static void e_blob_bytes_small(uint8_t *b) { bw_put32(b + 12, 10); }
static void e_rank5(uint8_t *b) { tensor_rec(b, 0)[2] = 5; }
static void e_dtype(uint8_t *b) { tensor_rec(b, 1)[0] = 3; }
static void e_dim0(uint8_t *b) { bw_put32(tensor_rec(b, 0) + 8, 0); }
static void e_dim_past_rank(uint8_t *b) { bw_put32(tensor_rec(b, 0) + 12, 2); }
static void e_huge_dims(uint8_t *b)
{
    bw_put32(tensor_rec(b, 0) + 4, 0x10000u);
    bw_put32(tensor_rec(b, 0) + 8, 0x10001u);
}
static void e_arena_outside(uint8_t *b) { bw_put32(tensor_rec(b, 5) + 20, 8); }
static void e_arena_offset_wrap(uint8_t *b) { bw_put32(tensor_rec(b, 5) + 20, 0xFFFFFFFCu); }
static void e_arena_misaligned(uint8_t *b) { bw_put32(tensor_rec(b, 5) + 20, 2); }
static void e_const_outside(uint8_t *b) { bw_put32(tensor_rec(b, 1) + 20, 0x1000); }
static void e_const_misaligned(uint8_t *b) { bw_put32(tensor_rec(b, 2) + 20, 4); }
static void e_io_index(uint8_t *b) { bw_put16(b + hdr32(b, 44), 99); }
static void e_io_const(uint8_t *b) { bw_put16(b + hdr32(b, 44) + 2, 1); }
static void e_op_index(uint8_t *b) { bw_put16(op_rec(b, 0) + 4, 6); }
static void e_op_output_index(uint8_t *b) { bw_put16(op_rec(b, 0) + 16, 0xFFFF); }
static void e_opcode(uint8_t *b) { op_rec(b, 0)[0] = 99; }
static void e_layout(uint8_t *b) { op_rec(b, 0)[1] = 1; }
static void e_n_inputs(uint8_t *b) { op_rec(b, 0)[2] = 4; }
static void e_unused_slot(uint8_t *b) { bw_put16(op_rec(b, 0) + 14, 0); }
static void e_no_bias(uint8_t *b) { bw_put16(op_rec(b, 0) + 8, 0xFFFF); }
static void e_no_filter(uint8_t *b) { bw_put16(op_rec(b, 0) + 6, 0xFFFF); }
static void e_filter_is_act(uint8_t *b) { bw_put16(op_rec(b, 0) + 6, 0); }
static void e_output_const(uint8_t *b) { bw_put16(op_rec(b, 0) + 16, 1); }
static void e_op_reserved(uint8_t *b) { bw_put16(op_rec(b, 0) + 18, 1); }
static void e_unused_param(uint8_t *b) { bw_put32(op_rec(b, 0) + 20 + 4 * 3, 1); }
static void e_act_order(uint8_t *b) { bw_put32(op_rec(b, 0) + 20 + 4 * 9, (uint32_t)-50); }
static void e_input_offset(uint8_t *b) { bw_put32(op_rec(b, 0) + 20 + 4 * 6, 300); }
static void e_neg_mult(uint8_t *b) { const_i32(b, 3)[1] = -1; }
static void e_shift31(uint8_t *b) { const_i32(b, 4)[0] = 31; }
static void e_fc_out_shape(uint8_t *b) { bw_put32(tensor_rec(b, 5) + 8, 1); }
static void e_fc_filter_rank(uint8_t *b) { tensor_rec(b, 1)[2] = 3; }
static void e_overlap(uint8_t *b) { bw_put32(tensor_rec(b, 5) + 20, 0); }
static void e_shift_len(uint8_t *b) { bw_put32(tensor_rec(b, 4) + 4, 1); } /* mult [2], shift [1] */
static void e_quant_len3(uint8_t *b)
{
    bw_put32(tensor_rec(b, 3) + 4, 3); /* mult [3] runs into the shift tensor's padding */
    bw_put32(tensor_rec(b, 4) + 4, 3);
}
/* conv_pool: tensors in, f, mu, sh, c, o; ops conv, avgpool */
static void e_stride0(uint8_t *b) { bw_put32(op_rec(b, 0) + 20, 0); }
static void e_dilation_big(uint8_t *b) { bw_put32(op_rec(b, 0) + 20 + 4 * 2, 0x10001); }
static void e_pad_neg(uint8_t *b) { bw_put32(op_rec(b, 0) + 20 + 4 * 4, (uint32_t)-1); }
static void e_conv_oh(uint8_t *b) { bw_put32(tensor_rec(b, 4) + 8, 5); }
static void e_conv_groups(uint8_t *b) { bw_put32(tensor_rec(b, 0) + 16, 2); }
static void e_pool_pad(uint8_t *b) { bw_put32(op_rec(b, 1) + 20 + 4 * 4, 2); }
static void e_pool_pad_ok(uint8_t *b) { bw_put32(op_rec(b, 1) + 20 + 4 * 4, 1); }
static void e_pool_window(uint8_t *b) { bw_put32(op_rec(b, 1) + 20 + 4 * 2, 0x10000); }
/* add_softmax: tensors a, b, s, r, x, y; ops add, reshape, softmax */
static void e_add_broadcast(uint8_t *b) { bw_put32(tensor_rec(b, 1) + 4, 3); }
static void e_add_left_shift(uint8_t *b) { bw_put32(op_rec(b, 0) + 20 + 4 * 6, 31); }
static void e_softmax_shape(uint8_t *b) { bw_put32(tensor_rec(b, 5) + 8, 2); }
static void e_softmax_diff_min(uint8_t *b) { bw_put32(op_rec(b, 2) + 20 + 4 * 2, 1); }
static void e_reshape_count(uint8_t *b) { bw_put32(tensor_rec(b, 3) + 4, 3); }
static void e_reshape_partial(uint8_t *b)
{
    /* RESHAPE x [2,4] @12 -> r [8] @8: same element count, partial overlap */
    bw_put16(op_rec(b, 1) + 4, 4);
    bw_put32(tensor_rec(b, 3) + 4, 8);
}

static void test_loader_rejects(void)
{
    eai_model m;
    size_t len = build_fc(g_blob, sizeof g_blob_words);
    static uint32_t big_words[1024];
    uint8_t *big = (uint8_t *)big_words;

    /* arguments, alignment and lengths */
    CHECK_EQ(eai_load(NULL, g_blob, len), EAI_ERR_ARG);
    CHECK_EQ(eai_load(&m, NULL, len), EAI_ERR_ARG);
    CHECK_EQ(m.err_index, -1);
    memcpy(big + 4, g_blob, len);
    CHECK_EQ(eai_load(&m, big + 2, len), EAI_ERR_ALIGN);
    CHECK_EQ(eai_load(&m, big + 4, len), EAI_OK);
    CHECK_EQ(eai_load(&m, g_blob, 0), EAI_ERR_TRUNCATED);
    CHECK_EQ(eai_load(&m, g_blob, 63), EAI_ERR_TRUNCATED);
    CHECK_EQ(eai_load(&m, g_blob, len - 1), EAI_ERR_TRUNCATED);
    memcpy(big, g_blob, len); /* inside a larger partition: loads */
    memset(big + len, 0xAB, 100);
    CHECK_EQ(eai_load(&m, big, len + 100), EAI_OK);

    EXPECT_LOAD(build_fc, e_none, 0, EAI_OK, -1);
    EXPECT_LOAD(build_fc, e_magic, 1, EAI_ERR_MAGIC, -1);
    EXPECT_LOAD(build_fc, e_version, 1, EAI_ERR_VERSION, -1);
    EXPECT_LOAD(build_fc, e_minor, 1, EAI_OK, -1);
    EXPECT_LOAD(build_fc, e_header_bytes, 1, EAI_ERR_HEADER, -1);
    EXPECT_LOAD(build_fc, e_data_byte, 0, EAI_ERR_CRC, -1);
    EXPECT_LOAD(build_fc, e_flags, 1, EAI_ERR_HEADER, -1);
    EXPECT_LOAD(build_fc, e_n_tensors0, 1, EAI_ERR_HEADER, -1);
    EXPECT_LOAD(build_fc, e_n_ops_big, 1, EAI_ERR_HEADER, -1);
    EXPECT_LOAD(build_fc, e_tensors_off, 1, EAI_ERR_HEADER, -1);
    EXPECT_LOAD(build_fc, e_ops_misaligned, 1, EAI_ERR_HEADER, -1);
    EXPECT_LOAD(build_fc, e_data_overflow, 1, EAI_ERR_HEADER, -1);
    EXPECT_LOAD(build_fc, e_names_bad, 1, EAI_ERR_HEADER, -1);
    EXPECT_LOAD(build_fc, e_blob_bytes_small, 0, EAI_ERR_HEADER, -1);
    EXPECT_LOAD(build_fc, e_rank5, 1, EAI_ERR_TENSOR, 0);
    EXPECT_LOAD(build_fc, e_dtype, 1, EAI_ERR_TENSOR, 1);
    EXPECT_LOAD(build_fc, e_dim0, 1, EAI_ERR_TENSOR, 0);
    EXPECT_LOAD(build_fc, e_dim_past_rank, 1, EAI_ERR_TENSOR, 0);
    EXPECT_LOAD(build_fc, e_huge_dims, 1, EAI_ERR_TENSOR, 0);
    EXPECT_LOAD(build_fc, e_arena_outside, 1, EAI_ERR_ARENA, 5);
    EXPECT_LOAD(build_fc, e_arena_offset_wrap, 1, EAI_ERR_ARENA, 5);
    EXPECT_LOAD(build_fc, e_arena_misaligned, 1, EAI_ERR_TENSOR, 5);
    EXPECT_LOAD(build_fc, e_const_outside, 1, EAI_ERR_TENSOR, 1);
    EXPECT_LOAD(build_fc, e_const_misaligned, 1, EAI_ERR_TENSOR, 2);
    EXPECT_LOAD(build_fc, e_io_index, 1, EAI_ERR_IO, 0);
    EXPECT_LOAD(build_fc, e_io_const, 1, EAI_ERR_IO, 1);
    EXPECT_LOAD(build_fc, e_op_index, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_fc, e_op_output_index, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_fc, e_opcode, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_fc, e_layout, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_fc, e_n_inputs, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_fc, e_unused_slot, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_fc, e_no_bias, 1, EAI_OK, -1);
    EXPECT_LOAD(build_fc, e_no_filter, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_fc, e_filter_is_act, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_fc, e_output_const, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_fc, e_op_reserved, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_fc, e_unused_param, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_fc, e_act_order, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_fc, e_input_offset, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_fc, e_neg_mult, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_fc, e_shift31, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_fc, e_fc_out_shape, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_fc, e_fc_filter_rank, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_fc, e_overlap, 1, EAI_ERR_ARENA, 0);
    EXPECT_LOAD(build_fc, e_shift_len, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_fc, e_quant_len3, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_fc_per_tensor, e_none, 0, EAI_OK, -1);

    EXPECT_LOAD(build_conv_pool, e_none, 0, EAI_OK, -1);
    EXPECT_LOAD(build_conv_pool, e_stride0, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_conv_pool, e_dilation_big, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_conv_pool, e_pad_neg, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_conv_pool, e_conv_oh, 1, EAI_ERR_ARENA, 4);
    EXPECT_LOAD(build_conv_pool, e_conv_groups, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_conv_pool, e_pool_pad, 1, EAI_ERR_PARAM, 1);
    EXPECT_LOAD(build_conv_pool, e_pool_pad_ok, 1, EAI_OK, -1);
    EXPECT_LOAD(build_conv_pool, e_pool_window, 1, EAI_ERR_PARAM, 1);

    EXPECT_LOAD(build_add_softmax, e_none, 0, EAI_OK, -1);
    EXPECT_LOAD(build_add_softmax, e_add_broadcast, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_add_softmax, e_add_left_shift, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_add_softmax, e_softmax_shape, 1, EAI_ERR_SHAPE, 2);
    EXPECT_LOAD(build_add_softmax, e_softmax_diff_min, 1, EAI_ERR_PARAM, 2);
    EXPECT_LOAD(build_add_softmax, e_reshape_count, 1, EAI_ERR_SHAPE, 1);
    EXPECT_LOAD(build_add_softmax, e_reshape_partial, 1, EAI_ERR_ARENA, 1);
}

/* Shape errors that keep every tensor inside the arena (the cases above that grow a
 * tensor past its arena slot are caught earlier, as EAI_ERR_ARENA on the tensor). */
static void e_conv_oh_small(uint8_t *b) { bw_put32(tensor_rec(b, 4) + 8, 1); }
static void e_conv_groups_ok(uint8_t *b)
{
    /* Ci = 3 with a filter Ci of 1: 3 groups, but Co = 1 is not a multiple of 3 */
    bw_put32(tensor_rec(b, 0) + 16, 3);
    bw_put32(b + 24, 64);
    bw_put32(tensor_rec(b, 4) + 20, 32);
    bw_put32(tensor_rec(b, 5) + 20, 48);
}
static void e_add_broadcast_fit(uint8_t *b) { bw_put32(tensor_rec(b, 1) + 4, 2); }
static void e_softmax_shape_fit(uint8_t *b)
{
    bw_put32(tensor_rec(b, 5) + 4, 1);
    bw_put32(tensor_rec(b, 5) + 8, 8);
}
static void e_reshape_count_fit(uint8_t *b) { bw_put32(tensor_rec(b, 3) + 4, 3); }

static void test_loader_shapes(void)
{
    EXPECT_LOAD(build_conv_pool, e_conv_oh_small, 1, EAI_ERR_SHAPE, 1);
    EXPECT_LOAD(build_conv_pool, e_conv_groups_ok, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_add_softmax, e_add_broadcast_fit, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_add_softmax, e_softmax_shape_fit, 1, EAI_ERR_SHAPE, 2);
    EXPECT_LOAD(build_add_softmax, e_reshape_count_fit, 1, EAI_ERR_SHAPE, 1);
}

/* embedding_bag: tensors ids, table, out; op 0 */
static void e_bag_ids_int8(uint8_t *b) { tensor_rec(b, 0)[0] = EAI_INT8; }
static void e_bag_table_arena(uint8_t *b)
{
    tensor_rec(b, 1)[1] = EAI_KIND_ARENA;
    bw_put32(tensor_rec(b, 1) + 20, 0);
}
static void e_bag_out_int32(uint8_t *b) { tensor_rec(b, 2)[0] = EAI_INT32; }
static void e_bag_ids_rank1(uint8_t *b)
{
    tensor_rec(b, 0)[2] = 1;
    bw_put32(tensor_rec(b, 0) + 4, 8);
    bw_put32(tensor_rec(b, 0) + 8, 1);
}
static void e_bag_ids_batch(uint8_t *b)
{
    bw_put32(tensor_rec(b, 0) + 4, 2);
    bw_put32(tensor_rec(b, 0) + 8, 4);
}
static void e_bag_out_depth(uint8_t *b) { bw_put32(tensor_rec(b, 2) + 8, 2); }
static void e_bag_table_rank(uint8_t *b) { tensor_rec(b, 1)[2] = 3; }
static void bag_long(uint8_t *b, uint32_t n_ids)
{
    bw_put32(b + 24, 4 * n_ids + 16);
    bw_put32(tensor_rec(b, 0) + 8, n_ids);
    bw_put32(tensor_rec(b, 2) + 20, 4 * n_ids);
}
static void e_bag_ids_4096(uint8_t *b) { bag_long(b, EAI_MAX_BAG_IDS); }
static void e_bag_ids_4097(uint8_t *b) { bag_long(b, EAI_MAX_BAG_IDS + 1u); }
static void e_bag_overlap(uint8_t *b) { bw_put32(tensor_rec(b, 2) + 20, 28); }
static void e_bag_n_inputs(uint8_t *b) { op_rec(b, 0)[2] = 3; }
static void e_bag_no_table(uint8_t *b) { bw_put16(op_rec(b, 0) + 6, 0xFFFF); }
static void bag_param(uint8_t *b, uint32_t k, int32_t v)
{
    bw_put32(op_rec(b, 0) + 20 + 4 * k, (uint32_t)v);
}
static void e_bag_ngrams0(uint8_t *b) { bag_param(b, 0, 0); }
static void e_bag_ngrams1(uint8_t *b) { bag_param(b, 0, 1); }
static void e_bag_ngrams3(uint8_t *b) { bag_param(b, 0, 3); }
static void e_bag_offset(uint8_t *b) { bag_param(b, 1, 128); }
static void e_bag_mult(uint8_t *b) { bag_param(b, 2, -1); }
static void e_bag_shift(uint8_t *b) { bag_param(b, 3, 31); }
static void e_bag_shift_low(uint8_t *b) { bag_param(b, 3, -32); }
static void e_bag_act(uint8_t *b)
{
    bag_param(b, 4, 100);
    bag_param(b, 5, 99);
}
static void e_bag_act_max(uint8_t *b) { bag_param(b, 5, 128); }
static void e_bag_unused(uint8_t *b) { bag_param(b, 6, 1); }
/* fc: an int32 activation where an int8 one belongs */
static void e_fc_input_int32(uint8_t *b)
{
    tensor_rec(b, 0)[0] = EAI_INT32;
    bw_put32(tensor_rec(b, 0) + 8, 1); /* [1,1] x 4 bytes: still inside its slot */
}

static void test_loader_embedding_bag(void)
{
    EXPECT_LOAD(build_embedding_bag, e_none, 0, EAI_OK, -1);
    EXPECT_LOAD(build_embedding_bag, e_bag_ids_int8, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_table_arena, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_out_int32, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_ids_rank1, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_ids_batch, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_out_depth, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_table_rank, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_ids_4096, 1, EAI_OK, -1);
    EXPECT_LOAD(build_embedding_bag, e_bag_ids_4097, 1, EAI_ERR_SHAPE, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_overlap, 1, EAI_ERR_ARENA, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_n_inputs, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_no_table, 1, EAI_ERR_OP, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_ngrams0, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_ngrams1, 1, EAI_OK, -1);
    EXPECT_LOAD(build_embedding_bag, e_bag_ngrams3, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_offset, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_mult, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_shift, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_shift_low, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_act, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_act_max, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_embedding_bag, e_bag_unused, 1, EAI_ERR_PARAM, 0);
    EXPECT_LOAD(build_fc, e_fc_input_int32, 1, EAI_ERR_OP, 0);
}

/* A table of 2^24 rows loads, one more row is refused (a 16 MiB blob, so from the heap). */
static void test_loader_bag_rows(void)
{
    uint32_t extra;
    for (extra = 0; extra <= 1; extra++) {
        const uint32_t rows = EAI_MAX_BAG_ROWS + extra;
        const size_t cap = (size_t)rows + 4096u;
        uint32_t *words = calloc(cap / 4u + 1u, 4);
        bw_model bm;
        eai_model m;
        uint16_t ids, table, o;
        int32_t p[12] = {0};
        size_t len;
        CHECK(words != NULL);
        if (!words)
            return;
        memset(&bm, 0, sizeof bm);
        ids = bw_tensor_add(&bm, EAI_INT32, EAI_KIND_ARENA, 2, 1, 4, 1, 1, 0, NULL);
        table = bw_const_i8(&bm, 2, rows, 1, 1, 1, NULL);
        o = bw_act(&bm, 2, 1, 1, 1, 1, 16);
        {
            const uint16_t ins[2] = {ids, table};
            p[0] = 1;
            p[2] = 1 << 30;
            p[4] = -128;
            p[5] = 127;
            bw_op_add(&bm, EAI_OP_EMBEDDING_BAG, 2, ins, o, p);
        }
        bm.io[0] = ids;
        bm.io[1] = o;
        bm.n_inputs = bm.n_outputs = 1;
        bm.arena_bytes = 20;
        len = bw_build(&bm, (uint8_t *)words, cap);
        CHECK(len > 0);
        CHECK_EQ(eai_load(&m, words, len), extra ? EAI_ERR_SHAPE : EAI_OK);
        free(words);
    }
}

static void test_invoke_args(void)
{
    eai_model m;
    eai_tensor t;
    const size_t len = build_fc(g_blob, sizeof g_blob_words);
    CHECK_EQ(eai_load(&m, g_blob, len), EAI_OK);
    CHECK_EQ(eai_invoke(&m, g_arena, m.arena_bytes - 1), EAI_ERR_ARENA);
    CHECK_EQ(eai_invoke(&m, g_arena + 1, m.arena_bytes), EAI_ERR_ALIGN);
    CHECK_EQ(eai_invoke(&m, NULL, m.arena_bytes), EAI_ERR_ARG);
    CHECK_EQ(eai_invoke(NULL, g_arena, m.arena_bytes), EAI_ERR_ARG);
    CHECK_EQ(eai_invoke_range(&m, g_arena, m.arena_bytes, 0, 2), EAI_ERR_ARG);
    CHECK_EQ(eai_invoke_range(&m, g_arena, m.arena_bytes, 1, 0), EAI_ERR_ARG);
    CHECK_EQ(eai_invoke_range(&m, g_arena, m.arena_bytes, 1, 1), EAI_OK);
    CHECK_EQ(eai_input_index(&m, 1), EAI_ERR_ARG);
    CHECK_EQ(eai_output_index(&m, 1), EAI_ERR_ARG);
    {
        void *in = NULL;
        const void *out = NULL;
        size_t n_in = 0, n_out = 0;
        uint32_t size = 0;
        eai_tensor ti, to;
        CHECK_EQ(eai_input_buffer(&m, g_arena, 0, &in, &n_in), EAI_OK);
        CHECK_EQ(eai_tensor_info(&m, (uint32_t)eai_input_index(&m, 0), &ti), EAI_OK);
        CHECK(in == g_arena + ti.offset);
        CHECK_EQ(n_in, ti.bytes);
        CHECK_EQ(eai_output_buffer(&m, g_arena, 0, &out, &n_out), EAI_OK);
        CHECK_EQ(eai_tensor_info(&m, 5, &to), EAI_OK);
        CHECK(out == g_arena + to.offset);
        CHECK_EQ(n_out, to.bytes);
        CHECK_EQ(eai_input_buffer(&m, g_arena, 1, &in, &n_in), EAI_ERR_ARG);
        CHECK_EQ(eai_output_buffer(&m, NULL, 0, &out, &n_out), EAI_ERR_ARG);
        CHECK_EQ(eai_blob_size(g_blob, EAI_HEADER_BYTES, &size), EAI_OK);
        CHECK_EQ(size, len);
        CHECK_EQ(eai_blob_size(g_blob, EAI_HEADER_BYTES - 1, &size), EAI_ERR_TRUNCATED);
        g_blob[0] ^= 1u;
        CHECK_EQ(eai_blob_size(g_blob, EAI_HEADER_BYTES, &size), EAI_ERR_MAGIC);
        g_blob[0] ^= 1u;
    }
    CHECK_EQ(eai_output_index(&m, 0), 5);
    CHECK_EQ(eai_tensor_info(&m, 6, &t), EAI_ERR_ARG);
    CHECK_EQ(eai_tensor_info(&m, 1, &t), EAI_OK);
    CHECK_EQ(t.dtype, EAI_INT8);
    CHECK_EQ(t.kind, EAI_KIND_CONST);
    CHECK_EQ(t.bytes, 6);
    CHECK(strcmp(eai_strerror(EAI_ERR_CRC), "CRC32 mismatch") == 0);
    CHECK(strcmp(eai_strerror(12345), "unknown status") == 0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-blobs") == 0) {
        g_write_dir = argv[2];
    } else if (argc != 1) {
        fprintf(stderr, "usage: test_runtime [--write-blobs DIR]\n");
        return 2;
    }
    test_fixedpoint();
    test_crc();
    test_fc();
    test_fc_per_tensor();
    test_softmax_long();
    test_conv_pool();
    test_dw_maxpool();
    test_add_softmax();
    test_all_ops();
    test_embedding_bag();
    test_embedding_bag_rounding();
    test_loader_rejects();
    test_loader_shapes();
    test_loader_embedding_bag();
    test_loader_bag_rows();
    test_invoke_args();
    printf("test_runtime: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
