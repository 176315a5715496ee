/* Fixed-point helpers, bit-exact with gemmlowp's fixedpoint.h and TFLite 2.14's
 * MultiplyByQuantizedMultiplier (double rounding, TFLITE_SINGLE_ROUNDING unset).
 *
 * Every int32 operation that could overflow in the C++ originals wraps modulo 2^32 here
 * (through uint32), which is what the originals do in practice and keeps C free of
 * undefined behaviour. Right shifts of negative values are written as ~(~x >> e) so they
 * are arithmetic (floor) on any compiler.
 *
 * Q-format notation: Qm.n has m integer bits and n = 31 - m fractional bits in an int32. */
#ifndef EAI_FIXEDPOINT_H
#define EAI_FIXEDPOINT_H

#include <stdint.h>

/* uint32 -> int32, two's complement. */
static inline int32_t eai_fp_from_u32(uint32_t u)
{
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : (int32_t)(u - 2147483648u) + INT32_MIN;
}

static inline int32_t eai_add_wrap(int32_t a, int32_t b)
{
    return eai_fp_from_u32((uint32_t)a + (uint32_t)b);
}

static inline int32_t eai_sub_wrap(int32_t a, int32_t b)
{
    return eai_fp_from_u32((uint32_t)a - (uint32_t)b);
}

/* x * 2^e modulo 2^32, 0 <= e <= 31 (TFLite's x * (1 << e)). */
static inline int32_t eai_shl_wrap(int32_t x, int e)
{
    return eai_fp_from_u32((uint32_t)x << e);
}

/* Arithmetic (flooring) right shift, 0 <= e <= 31. */
static inline int32_t eai_asr(int32_t x, int e)
{
    return x < 0 ? ~(~x >> e) : x >> e;
}

static inline int64_t eai_asr64(int64_t x, int e)
{
    return x < 0 ? ~(~x >> e) : x >> e;
}

/* SaturatingRoundingDoublingHighMul: round(a * b / 2^31), ties away from zero,
 * INT32_MIN * INT32_MIN saturating to INT32_MAX. */
static inline int32_t eai_srdhm(int32_t a, int32_t b)
{
    int64_t ab, v;
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    ab = (int64_t)a * (int64_t)b;
    v = ab + (ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30)));
    /* v / 2^31 truncating toward zero; |v| < 2^62 so -v cannot overflow */
    return (int32_t)(v >= 0 ? (v >> 31) : -((-v) >> 31));
}

/* RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero, 0 <= e <= 31. */
static inline int32_t eai_rdbpot(int32_t x, int e)
{
    const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    const int32_t rem = x & mask;
    const int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return eai_asr(x, e) + (rem > thr ? 1 : 0);
}

/* The same formula in 64 bits for 0 <= e <= 62: the natural extension of RoundingDivideByPOT
 * to exponents above 31 (softmax, where TFLite would abort; see docs/model-format.md). */
static inline int32_t eai_rdbpot_wide(int32_t x, int e)
{
    const int64_t mask = ((int64_t)1 << e) - 1;
    const int64_t rem = (int64_t)x & mask;
    const int64_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int32_t)(eai_asr64((int64_t)x, e) + (rem > thr ? 1 : 0));
}

/* MultiplyByQuantizedMultiplier: shift in [-31, 30], positive = left. */
static inline int32_t eai_mbqm(int32_t x, int32_t multiplier, int shift)
{
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return eai_rdbpot(eai_srdhm(eai_shl_wrap(x, left), multiplier), right);
}

/* MultiplyByQuantizedMultiplierGreaterThanOne: SRDHM(x * 2^left_shift, m), 0 <= left <= 31. */
static inline int32_t eai_mbqm_gt_one(int32_t x, int32_t multiplier, int left_shift)
{
    return eai_srdhm(eai_shl_wrap(x, left_shift), multiplier);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<e> for 1 <= e <= 30: x * 2^e, saturating. */
static inline int32_t eai_sat_shl(int32_t x, int e)
{
    const int32_t thr = (int32_t)(((uint32_t)1 << (31 - e)) - 1u);
    if (x > thr)
        return INT32_MAX;
    if (x < -thr)
        return INT32_MIN;
    return eai_shl_wrap(x, e);
}

/* gemmlowp RoundingHalfSum for int32: (a + b) / 2 rounded away from zero. */
static inline int32_t eai_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* Count of leading zero bits; 32 for 0 (as TFLite's CountLeadingZeros). */
static inline int eai_clz32(uint32_t x)
{
    int n = 0;
    if (x == 0)
        return 32;
    while ((x & 0x80000000u) == 0) {
        x <<= 1;
        n++;
    }
    return n;
}

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl: Q0.31 in, Q0.31 out. */
static inline int32_t eai_exp_on_interval_q0(int32_t a)
{
    const int32_t constant_term = 1895147668;   /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883; /* 1/3 */
    const int32_t x = eai_add_wrap(a, (int32_t)1 << 28); /* a + 1/8 */
    const int32_t x2 = eai_srdhm(x, x);
    const int32_t x3 = eai_srdhm(x2, x);
    const int32_t x4 = eai_srdhm(x2, x2);
    const int32_t x4_over_4 = eai_rdbpot(x4, 2);
    const int32_t poly = eai_rdbpot(
        eai_add_wrap(eai_srdhm(eai_add_wrap(x4_over_4, x3), constant_1_over_3), x2), 1);
    return eai_add_wrap(constant_term, eai_srdhm(constant_term, eai_add_wrap(x, poly)));
}

/* gemmlowp exp_on_negative_values for a Q5.26 input (integer bits 5): returns exp(a) in
 * Q0.31. An input of 0 gives INT32_MAX (gemmlowp's One() for Q0.31). */
static inline int32_t eai_exp_on_negative_values_q5(int32_t a)
{
    enum { FRAC = 26 };
    static const int32_t barrel[7] = {/* exp(-2^k) in Q0.31 for k = -2 .. 4 */
                                      1672461947, 1302514674, 790015084, 290630308,
                                      39332535,   720401,     242};
    const int32_t one_quarter = (int32_t)1 << (FRAC - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
    /* Rescale<0> from Q5.26: saturating multiply by 2^5 */
    int32_t result = eai_exp_on_interval_q0(eai_sat_shl(a_mod_quarter_minus_one_quarter, 5));
    const int32_t remainder = eai_sub_wrap(a_mod_quarter_minus_one_quarter, a);
    int k;
    for (k = 0; k < 7; k++) {
        const int shift = FRAC - 2 + k;
        if (remainder & ((int32_t)1 << shift))
            result = eai_srdhm(result, barrel[k]);
    }
    /* integer bits 5: gemmlowp's clamp below -32 does not apply */
    if (a == 0)
        result = INT32_MAX;
    return result;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 in and out (Newton-Raphson, in Q2.29). */
static inline int32_t eai_one_over_one_plus_x_q0(int32_t a)
{
    const int32_t half_denominator = eai_rounding_half_sum(a, INT32_MAX);
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    const int32_t f2_one = (int32_t)1 << 29;
    int32_t x = eai_add_wrap(constant_48_over_17,
                             eai_srdhm(half_denominator, constant_neg_32_over_17));
    int i;
    for (i = 0; i < 3; i++) {
        const int32_t half_denominator_times_x = eai_srdhm(half_denominator, x);
        const int32_t one_minus = eai_sub_wrap(f2_one, half_denominator_times_x);
        /* x * one_minus is Q4.27; Rescale<2> multiplies by 2^2, saturating */
        x = eai_add_wrap(x, eai_sat_shl(eai_srdhm(x, one_minus), 2));
    }
    /* ExactMulByPot<-1> gives Q1.30 with the same raw value; Rescale<0> doubles it */
    return eai_sat_shl(x, 1);
}

/* TFLite GetReciprocal: 1 / x for x > 0 in Q(x_integer_digits), as a Q0.31 value and
 * *num_bits_over_unit (the result is scaled by 2^-num_bits_over_unit). x must be > 0. */
static inline int32_t eai_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit)
{
    const int headroom_plus_one = eai_clz32((uint32_t)x);
    uint32_t shifted;
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    shifted = headroom_plus_one < 32 ? ((uint32_t)x << headroom_plus_one) : 0u;
    return eai_one_over_one_plus_x_q0(eai_fp_from_u32(shifted - 0x80000000u));
}

#endif /* EAI_FIXEDPOINT_H */
