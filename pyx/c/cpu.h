/* cpu.h - which of cgru's ISA builds this CPU runs. */
#ifndef CGRU_C_CPU_H
#define CGRU_C_CPU_H

/* 1: AVX2+FMA, 2: also AVX-512 F/BW/DQ/VL (x86-64-v4); 0: neither / not x86 */
static inline int cgru_cpu_level(void)
{
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        return 0;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return 2;
    return 1;
#else
    return 0;
#endif
}

#endif /* CGRU_C_CPU_H */
