/*
 * test_cli_limits.c - the tool under a memory limit (ulimit -v): every run
 * either succeeds or fails with exit 1 and one line saying it is out of
 * memory, leaving no output file; it never hangs (OpenBLAS retries a failed
 * map of its work buffers forever unless they were made up front, see
 * ops_blas_reserve) and never crashes. Limits from too small to load the
 * weights up to plenty, with 1 to 3 threads (more threads than this
 * machine's cores too). Each run is bounded by timeout(1): exit 124 = hung.
 * Skipped in sanitizer builds (their shadow memory needs terabytes of
 * address space). Needs MOBILESAM_TESTDATA.
 */
#include "cli_harness.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

/* Runs the tool with args under `ulimit -v kib` and a 120 s timeout. */
static ch_result run_limited(const char *dir, long kib, const char *const *args)
{
    char *argv[CH_MAX_ARGS];
    char script[128];
    snprintf(script, sizeof script, "ulimit -v %ld && exec timeout 120 \"$0\" \"$@\"", kib);
    argv[0] = "sh";
    argv[1] = "-c";
    argv[2] = script;
    ch_argv(argv, 3, args);
    return ch_spawn(dir, argv);
}

static int says_out_of_memory(const char *err)
{
    return strstr(err, "out of memory") || strstr(err, "Cannot allocate memory");
}

/* One run: 0 or 1, and if 1 one line about memory and no output. */
static int check(const char *dir, long kib, const char *const *args, const char *output)
{
    unlink(output);
    ch_result r = run_limited(dir, kib, args);
    const char *cmd = ch_cmdline(args);
    TU_CHECK(r.code != 124, "ulimit -v %ld: %s hung (killed after 120 s)", kib, cmd);
    TU_CHECK(r.code == 0 || r.code == 1, "ulimit -v %ld: %s: exit %d: %s", kib, cmd, r.code,
             r.err);
    if (r.code == 1) {
        TU_CHECK(ch_lines(r.err) == 1 && says_out_of_memory(r.err),
                 "ulimit -v %ld: %s: exit 1 but not one out-of-memory line: %s", kib, cmd,
                 r.err);
        TU_CHECK(!ch_exists(output), "ulimit -v %ld: %s failed but left %s", kib, cmd,
                 output);
    } else if (r.code == 0) {
        TU_CHECK(ch_exists(output), "ulimit -v %ld: %s succeeded without %s", kib, cmd,
                 output);
    }
    int code = r.code;
    ch_free(&r);
    return code;
}

int main(void)
{
#ifdef SANITIZED
    tu_skip("sanitizer build: the shadow memory does not fit under ulimit -v");
#endif
    const char *td = tu_testdata();
    if (!td) tu_skip("MOBILESAM_TESTDATA is not set (point it at the fixture pack)");
    char *dir = ch_mkdtemp();
    char *weights = dir ? ch_convert_weights(td, dir) : NULL;
    TU_CHECK(weights != NULL, "no weights");
    if (!weights) return tu_finish("cli_limits");

    char img[CH_PATH], bus[CH_PATH], mask[CH_PATH], npy[CH_PATH], evdir[CH_PATH],
        evmask[CH_PATH];
    ch_path(img, "%s/images/zidane.jpg", td);
    ch_path(bus, "%s/images/bus.jpg", td);
    ch_path(mask, "%s/m.png", dir);
    ch_path(npy, "%s/e.npy", dir);
    ch_path(evdir, "%s/ev", dir);
    ch_path(evmask, "%s/ev/mask_0.png", dir);

    /* MiB: below the weights' mapping, around the BLAS buffers and the
     * encoder's activations, and enough */
    static const long mib[] = {60, 200, 350, 420, 460, 480, 500, 540, 600, 700, 2048};
    const int n_lim = (int)(sizeof mib / sizeof *mib);
    static const char *const threads[] = {"1", "2", "3"};
    int ok_runs = 0, oom_runs = 0;
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < n_lim; i++) {
            const char *seg[] = {"seg", img, "--point", "900,370", "-w", weights,
                                 "--threads", threads[t], "-o", mask, NULL};
            int code = check(dir, mib[i] * 1024, seg, mask);
            ok_runs += code == 0;
            oom_runs += code == 1;
            if (mib[i] == 2048)
                TU_CHECK(code == 0, "seg --threads %s under ulimit -v 2 GiB: exit %d",
                         threads[t], code);
        }
    /* the other commands that run the network, at a few limits */
    static const long few[] = {350, 480, 600};
    for (int i = 0; i < 3; i++) {
        const char *embed[] = {"embed", img, "-w", weights, "-o", npy, NULL};
        int code = check(dir, few[i] * 1024, embed, npy);
        ok_runs += code == 0;
        oom_runs += code == 1;
        const char *every[] = {"everything", bus, "-w", weights, "--points-per-side", "4",
                               "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
                               "-o", evdir, NULL};
        code = check(dir, few[i] * 1024, every, evmask);
        ok_runs += code == 0;
        oom_runs += code == 1;
    }
    /* compare runs no BLAS call: a small limit is enough */
    {
        const char *seg[] = {"seg", img, "--point", "900,370", "-w", weights, "-o", mask, NULL};
        ch_result r = ch_run(dir, seg);
        TU_CHECK(r.code == 0, "seg: exit %d: %s", r.code, r.err);
        ch_free(&r);
        const char *cmp[] = {"compare", mask, mask, NULL};
        r = run_limited(dir, 60 * 1024, cmp);
        TU_CHECK(r.code == 0 && strstr(r.out, "iou 1"),
                 "compare under ulimit -v 60 MiB: exit %d: %s%s", r.code, r.out, r.err);
        ch_free(&r);
    }
    printf("%d runs succeeded, %d ran out of memory cleanly\n", ok_runs, oom_runs);
    TU_CHECK(oom_runs > 0 && ok_runs > 0, "the limits should give both outcomes");
    ch_rmtree(dir);
    free(weights);
    free(dir);
    return tu_finish("cli_limits");
}
