/*
 * ops_core.c - CPU detection, ISA dispatch and thread control.
 *
 * ops_init() picks the best kernel table the CPU supports (overridable with
 * MOBILESAM_ISA=scalar|avx2|avx512|neon, clamped to the CPU); ops_force_isa()
 * switches tables at run time (tests). The table starts out as the portable
 * one, and every public kernel calls ops_ensure_init(), so using a kernel
 * before ops_init() is safe.
 */
#include "ops/ops_internal.h"

#include <cblas.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

ops_kernels ops_k;

static volatile int g_inited = 0;
static ops_isa g_cpu_isa = OPS_ISA_SCALAR;
static ops_isa g_cur_isa = OPS_ISA_SCALAR;
static int g_threads = 0; /* 0: not set -> online cores */

static ops_isa detect_cpu(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("fma"))
        return OPS_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return OPS_ISA_AVX2;
#elif defined(__aarch64__)
    /* Advanced SIMD is mandatory on AArch64 (the kernel still reports it:
     * a Linux that says otherwise gets the portable loops) */
#if defined(__linux__) && defined(HWCAP_ASIMD)
    if (!(getauxval(AT_HWCAP) & HWCAP_ASIMD)) return OPS_ISA_SCALAR;
#endif
    return OPS_ISA_NEON;
#endif
    return OPS_ISA_SCALAR;
}

static int g_cpu_int8 = -1, g_cpu_fp16 = -1, g_vnni512, g_vnni256, g_bf16;

/* The VNNI and FP16 bits straight from CPUID (leaf 7): not every compiler's
 * __builtin_cpu_supports knows them (clang 14 has no "avxvnni" nor
 * "avx512fp16"). The OS support of the vector state is what the avx2 /
 * avx512f checks of __builtin_cpu_supports already cover. */
static void detect_reduced(void)
{
    g_cpu_int8 = g_cpu_fp16 = g_vnni512 = g_vnni256 = g_bf16 = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl");
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        g_vnni512 = avx512 && (c >> 11 & 1);    /* ECX 11: AVX512_VNNI */
        g_cpu_fp16 = avx512 && (d >> 23 & 1);   /* EDX 23: AVX512_FP16 */
        __cpuid_count(7, 1, a, b, c, d);
        g_vnni256 = avx2 && (a >> 4 & 1);       /* EAX 4: AVX_VNNI */
        g_bf16 = avx512 && (a >> 5 & 1);        /* EAX 5: AVX512_BF16 */
    }
    g_cpu_int8 = g_vnni512 || g_vnni256;
#elif defined(__aarch64__) && defined(__linux__) && defined(HWCAP_ASIMDDP)
    g_cpu_int8 = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0; /* ARMv8.2 sdot / udot */
#endif
}

int ops_cpu_vnni(int width)
{
    if (g_cpu_int8 < 0) detect_reduced();
    return width == 512 ? g_vnni512 : g_vnni256;
}

int ops_cpu_int8(void)
{
    if (g_cpu_int8 < 0) detect_reduced();
    return g_cpu_int8;
}

int ops_cpu_fp16(void)
{
    if (g_cpu_fp16 < 0) detect_reduced();
    return g_cpu_fp16;
}

int ops_cpu_bf16(void)
{
    if (g_cpu_int8 < 0) detect_reduced();
    return g_bf16;
}

int ops_cpu_bf16_fast(void)
{
    if (g_cpu_int8 < 0) detect_reduced();
    return g_bf16 && !g_cpu_fp16 && ops_current_isa() >= OPS_ISA_AVX512;
}

static void set_table(ops_isa isa)
{
    if (isa > g_cpu_isa) isa = g_cpu_isa;
#if !defined(__x86_64__) && !defined(__i386__)
    if (isa == OPS_ISA_AVX2 || isa == OPS_ISA_AVX512) isa = g_cpu_isa; /* not this CPU's */
#endif
    if (isa < OPS_ISA_SCALAR) isa = OPS_ISA_SCALAR;
    const ops_kernels *t = NULL;
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
    case OPS_ISA_AVX512: t = &ops_kernels_avx512; break;
    case OPS_ISA_AVX2: t = &ops_kernels_avx2; break;
#endif
#if defined(__aarch64__)
    case OPS_ISA_NEON: t = &ops_kernels_neon; break;
#endif
    default: isa = OPS_ISA_SCALAR; break;
    }
    /* start from the portable table; a SIMD table overrides what it has */
    ops_kernels k = ops_kernels_scalar;
    if (t) {
#define TAKE(f) if (t->f) k.f = t->f
        TAKE(gelu); TAKE(relu); TAKE(add); TAKE(add_to); TAKE(add_bf16_to); TAKE(bias_act);
        TAKE(layernorm); TAKE(cols_epilogue); TAKE(proj_cols); TAKE(gemm_small_m);
        TAKE(gemm_bcast); TAKE(softmax);
        TAKE(softmax_cols); TAKE(dwconv3x3); TAKE(conv_small); TAKE(attention);
        TAKE(resize_vblend); TAKE(interp2); TAKE(transpose);
        TAKE(interleave2);
#undef TAKE
    }
    ops_k = k;
    g_cur_isa = isa;
}

void ops_init(void)
{
    if (g_inited) return;
#pragma omp critical(ops_init_lock)
    {
        if (!g_inited) {
            g_cpu_isa = detect_cpu();
            ops_isa want = g_cpu_isa;
            const char *env = getenv("MOBILESAM_ISA");
            if (env && *env) {
                if (!strcasecmp(env, "scalar")) want = OPS_ISA_SCALAR;
                else if (!strcasecmp(env, "avx2")) want = OPS_ISA_AVX2;
                else if (!strcasecmp(env, "avx512")) want = OPS_ISA_AVX512;
                else if (!strcasecmp(env, "neon")) want = OPS_ISA_NEON;
            }
            set_table(want);
            openblas_set_num_threads(1); /* our threads call it; see ops_gemm.c */
            __atomic_store_n(&g_inited, 1, __ATOMIC_RELEASE);
        }
    }
}

void ops_ensure_init(void)
{
    if (!__atomic_load_n(&g_inited, __ATOMIC_ACQUIRE)) ops_init();
}

ops_isa ops_cpu_isa(void)
{
    ops_ensure_init();
    return g_cpu_isa;
}

ops_isa ops_current_isa(void)
{
    ops_ensure_init();
    return g_cur_isa;
}

void ops_force_isa(ops_isa isa)
{
    ops_ensure_init();
    set_table(isa);
}

const char *ops_isa_name(ops_isa isa)
{
    switch (isa) {
    case OPS_ISA_SCALAR: return "scalar";
    case OPS_ISA_AVX2: return "avx2";
    case OPS_ISA_AVX512: return "avx512";
    case OPS_ISA_NEON: return "neon";
    }
    return "unknown";
}

static int online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void ops_set_threads(int n)
{
    if (n <= 0) n = online_cores();
    g_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(1); /* our threads call it; see ops_gemm.c */
}

int ops_get_threads(void)
{
    return g_threads > 0 ? g_threads : online_cores();
}

int ops_threads_for(double work)
{
    /* ~64K floats / flops per thread before a fork pays off */
    if (work < 65536.0 || omp_in_parallel()) return 1;
    int nt = ops_get_threads();
    double cap = work / 32768.0;
    if (cap < nt) nt = (int)cap;
    return nt < 1 ? 1 : nt;
}

static int g_oom;

void ops_note_oom(void)
{
    __atomic_store_n(&g_oom, 1, __ATOMIC_RELAXED);
}

int ops_take_oom(void)
{
    return __atomic_exchange_n(&g_oom, 0, __ATOMIC_RELAXED);
}
