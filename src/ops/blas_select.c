/*
 * blas_select.c - makes OpenBLAS use the GEMM kernels the CPU can run.
 *
 * Debian's OpenBLAS is built with DYNAMIC_ARCH and picks its kernels from
 * the CPU model at load time. On CPUs newer than the build (or models it
 * does not know, as virtual machines often report), it falls back to its
 * generic "Prescott" SSE3 kernels: 3-4x slower SGEMM on an AVX-512 machine.
 * When the user has not chosen a core with OPENBLAS_CORETYPE, and OpenBLAS
 * runs a generic core while the CPU has AVX-512 or AVX2, re-run OpenBLAS's
 * own core selection with the matching core name, exactly as if
 * OPENBLAS_CORETYPE had been set before start-up. The entry points are weak:
 * with another BLAS build this does nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

char *openblas_get_corename(void) __attribute__((weak));
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));

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

void ops_blas_select(void)
{
    if (!openblas_get_corename || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return;
    if (getenv("OPENBLAS_CORETYPE")) return; /* the user's choice stands */
    const char *core = openblas_get_corename();
    const char *want = wanted_core();
    if (!core || !want || !is_generic(core)) return;
    gotoblas_dynamic_quit();
    setenv("OPENBLAS_CORETYPE", want, 1);
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
}

const char *ops_blas_core(void)
{
    return openblas_get_corename ? openblas_get_corename() : "unknown";
}
