/* fastmath.h - constants and bit tricks of cgru's exp / sigmoid / tanh
 * (pyx/core.pxi: _expm1_reduced).  Literals, so loops keep them in registers. */
#ifndef CGRU_C_FASTMATH_H
#define CGRU_C_FASTMATH_H

#include <stdint.h>
#include <string.h>

#define CGRU_LOG2E 1.44269504088896338700e+00
#define CGRU_LN2_HI 6.93147180369123816490e-01 /* low bits zero: k * CGRU_LN2_HI exact */
#define CGRU_LN2_LO 1.90821492927058770002e-10
#define CGRU_ROUND 6755399441055744.0 /* 1.5 * 2**52: x + CGRU_ROUND rounds x */
#define CGRU_TWO_M64 5.42101086242752217004e-20 /* 2**-64 */

static inline double cgru_from_bits(int64_t i)
{
    double d;
    memcpy(&d, &i, 8);
    return d;
}

static inline int64_t cgru_to_bits(double d)
{
    int64_t i;
    memcpy(&i, &d, 8);
    return i;
}

/* 2**k where t = k + 1.5 * 2**52 holds the integer k in its low bits */
static inline double cgru_pow2_of_rounded(double t, double round)
{
    uint64_t k = (uint64_t)cgru_to_bits(t) - (uint64_t)cgru_to_bits(round);
    return cgru_from_bits((int64_t)((k + 1023u) << 52));
}

#endif /* CGRU_C_FASTMATH_H */
