/*
 * blas_select.c - tells which OpenBLAS kernels this CPU should run.
 *
 * Debian's OpenBLAS is built with DYNAMIC_ARCH and picks its kernels from
 * the CPU model when it loads. On CPUs newer than the build (or models it
 * does not know, as virtual machines often report), it falls back to its
 * generic "Prescott" SSE3 kernels: 3-4x slower SGEMM on an AVX-512 machine.
 * OpenBLAS reads OPENBLAS_CORETYPE only while loading, and swapping its
 * kernel table afterwards races with its worker threads, so the library
 * only advises: ops_blas_coretype_hint() names the core to ask for, and a
 * program (the mobilesam CLI does) sets the variable and re-executes
 * itself. The OpenBLAS entry point is weak: with another BLAS build there
 * is no advice.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

char *openblas_get_corename(void) __attribute__((weak));

static const char *wanted_core(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
        /* Cooperlake = SkylakeX kernels + bf16; its SGEMM is the same family */
        return __builtin_cpu_supports("avx512bf16") ? "Cooperlake" : "SkylakeX";
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

static int is_generic(const char *core)
{
    static const char *generic[] = {"Prescott", "Core2", "Penryn", "Dunnington",
                                    "Nehalem", "Katmai", "Coppermine", "Northwood",
                                    "Banias", "Athlon", "Opteron", "Unknown", "unknown"};
    for (size_t i = 0; i < sizeof generic / sizeof *generic; i++)
        if (strcmp(core, generic[i]) == 0) return 1;
    return 0;
}

const char *ops_blas_coretype_hint(void)
{
    if (!openblas_get_corename || getenv("OPENBLAS_CORETYPE")) return NULL;
    const char *core = openblas_get_corename();
    const char *want = wanted_core();
    return core && want && is_generic(core) ? want : NULL;
}
