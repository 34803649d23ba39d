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
 * Also here: taking OpenBLAS's work buffers up front under a memory limit
 * (ops_blas_reserve, below).
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ops/ops.h"
#include "ops/ops_internal.h"

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

/* ---- OpenBLAS work buffers under a memory limit ---------------------------
 * A large enough OpenBLAS call needs a work buffer (BUFFER_SIZE, 128 MiB of
 * address space on x86-64); OpenBLAS maps one when none of those it holds
 * is free, and keeps them all. When that mmap fails (RLIMIT_AS or
 * RLIMIT_DATA reached) it retries forever: the process hangs instead of
 * failing. So with such a limit set, the room for one buffer per thread
 * (plus its stack, in case the OpenMP thread does not exist yet) is probed
 * with one mapping, released, and the buffers are then made at once while
 * nothing else allocates. */
#define BLAS_BUFFER_BYTES ((size_t)128 << 20)
#define BLAS_SLACK_BYTES ((size_t)8 << 20)
#define THREAD_STACK_BYTES ((size_t)8 << 20)

static int g_reserved_threads; /* threads the buffers were made for */
static int g_buffers;          /* buffers known to exist (made by us) */
static int g_gate_cap;         /* 0: calls not gated; else at most this many at once */
static int g_gate_busy;

static int memory_limited(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY) return 1;
    if (getrlimit(RLIMIT_DATA, &r) == 0 && r.rlim_cur != RLIM_INFINITY) return 1;
    return 0;
}

/* The process's mapped address space in bytes, 0 if unknown. */
static size_t mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f) return 0;
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)pages * (size_t)page : 0;
}

/* OpenBLAS keeps its buffers in one table for all threads: a call takes a
 * free one and gives it back at its end, and maps a new one only when all
 * are taken. So nt buffers exist only once nt calls have run at the same
 * time: the threads start their products together, again while the mapped
 * size shows fewer new buffers than wanted (a descheduled thread may have
 * missed the others). Returns the number of new buffers seen. */
static int make_buffers(int nt, int want)
{
    enum { N = 256 }; /* well past OpenBLAS's small-matrix path (no buffer) */
    float *m = calloc((size_t)(2 + nt) * N * N, sizeof(float));
    if (!m) return -1;
    size_t before = mapped_bytes();
    int made = 0;
    for (int attempt = 0; attempt < 16 && made < want; attempt++) {
#pragma omp parallel num_threads(nt)
        {
            float *c = m + (size_t)(2 + omp_get_thread_num()) * N * N;
#pragma omp barrier
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, m, N,
                        m + N * N, N, 0.0f, c, N);
        }
        size_t now = mapped_bytes();
        made = before && now > before ? (int)((now - before) / BLAS_BUFFER_BYTES) : 0;
    }
    free(m);
    return made;
}

int ops_blas_reserve(void)
{
    ops_ensure_init();
    int nt = ops_get_threads();
    if (nt <= __atomic_load_n(&g_reserved_threads, __ATOMIC_ACQUIRE) || !memory_limited())
        return 0;
    int rc = 0;
#pragma omp critical(ops_blas_reserve_lock)
    {
        if (nt > g_reserved_threads) {
            /* room for the buffers (and the new threads' stacks), probed by
             * mapping it once: OpenBLAS itself must never meet the limit */
            int want = nt - g_buffers;
            size_t room = (size_t)(want > 0 ? want : 0) *
                          (BLAS_BUFFER_BYTES + BLAS_SLACK_BYTES + THREAD_STACK_BYTES);
            void *p = room ? mmap(NULL, room, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                           : NULL;
            if (p == MAP_FAILED) {
                rc = -1;
            } else {
                if (p) munmap(p, room);
                int made = want > 0 ? make_buffers(nt, want) : 0;
                if (made < 0) {
                    rc = -1;
                } else {
                    g_buffers += made;
                    /* Fewer buffers than threads (or buffers OpenBLAS had
                     * before, which cannot be told from ours): let no more
                     * calls than known buffers run at once, so that none
                     * has to map one. Calls only start after this. */
                    int cap = g_buffers < 1 ? 1 : g_buffers;
                    __atomic_store_n(&g_gate_cap, cap < nt ? cap : 0, __ATOMIC_RELEASE);
                    __atomic_store_n(&g_reserved_threads, nt, __ATOMIC_RELEASE);
                }
            }
        }
    }
    return rc;
}

int ops_blas_enter(void)
{
    int cap = __atomic_load_n(&g_gate_cap, __ATOMIC_ACQUIRE);
    if (!cap) return 0;
    for (;;) {
        int busy = __atomic_load_n(&g_gate_busy, __ATOMIC_RELAXED);
        if (busy < cap && __atomic_compare_exchange_n(&g_gate_busy, &busy, busy + 1, 0,
                                                      __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return 1;
        sched_yield();
    }
}

void ops_blas_leave(int entered)
{
    if (entered) __atomic_fetch_sub(&g_gate_busy, 1, __ATOMIC_RELEASE);
}
