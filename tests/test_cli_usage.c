/*
 * test_cli_usage.c - the mobilesam command line without any data: --help of
 * the tool and of each subcommand, --version, and usage errors (exit 2, one
 * line on stderr naming the subcommand and pointing to --help, nothing on
 * stdout, no output file). Needs no weights: usage errors must be found
 * before any file is opened, so the image named here does not exist.
 */
#include "cli_harness.h"

static char *g_dir;

static void expect_help(const char *const *args, const char *first_line)
{
    ch_result r = ch_run(g_dir, args);
    TU_CHECK(r.code == 0, "%s: exit %d, expected 0", ch_cmdline(args), r.code);
    TU_CHECK(strncmp(r.out, first_line, strlen(first_line)) == 0,
             "%s: stdout does not start with '%s': %.80s", ch_cmdline(args),
             first_line, r.out);
    TU_CHECK(r.err[0] == 0, "%s: stderr not empty: %s", ch_cmdline(args),
             r.err);
    ch_free(&r);
}

/* A usage error: exit 2, nothing on stdout, one stderr line starting with
 * `prefix` and mentioning --help, no file in the scratch dir. */
static void expect_usage_error(const char *prefix, const char *const *args)
{
    ch_result r = ch_run(g_dir, args);
    const char *cmd = ch_cmdline(args);
    TU_CHECK(r.code == 2, "%s: exit %d, expected 2 (stderr: %s)", cmd, r.code,
             r.err);
    TU_CHECK(r.out[0] == 0, "%s: stdout not empty: %s", cmd, r.out);
    TU_CHECK(ch_lines(r.err) == 1 && r.err[strlen(r.err) - 1] == '\n',
             "%s: expected one line on stderr, got: %s", cmd, r.err);
    TU_CHECK(strncmp(r.err, prefix, strlen(prefix)) == 0,
             "%s: stderr does not start with '%s': %s", cmd, prefix, r.err);
    TU_CHECK(strstr(r.err, "--help") != NULL, "%s: no hint to --help: %s", cmd,
             r.err);
    char name[256];
    TU_CHECK(ch_count_entries(g_dir, name, sizeof name) == 0,
             "%s: left a file behind: %s", cmd, name);
    ch_free(&r);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_tool(void)
{
    expect_help(ARGS("--help"), "usage: mobilesam");
    expect_help(ARGS("-h"), "usage: mobilesam");
    expect_help(ARGS("--version"), "mobilesam ");
    expect_usage_error("mobilesam: ", (const char *const[]){NULL});
    expect_usage_error("mobilesam: ", ARGS("nosuchcommand"));
    expect_usage_error("mobilesam: ", ARGS("--nosuchflag"));
}

static void test_seg(void)
{
    const char *p = "mobilesam seg: ";
    expect_help(ARGS("seg", "--help"), "usage: mobilesam seg");
    expect_help(ARGS("seg", "img.png", "--point", "1,2", "-h"),
                "usage: mobilesam seg");
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2", "-o",
                               "m.png", "--nosuchflag"));
    expect_usage_error(p, ARGS("seg", "img.png", "-x", "--point", "1,2"));
    expect_usage_error(p, ARGS("seg", "img.png", "-o", "m.png", "--point"));
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2", "-o"));
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2", "-o", ""));
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2", "--output="));
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2", "-o", "m.png",
                               "--threads", "100000"));
    expect_usage_error(p, ARGS("seg", "--point", "1,2", "-o", "m.png"));
    expect_usage_error(p, ARGS("seg", "img.png", "other.png", "--point", "1,2",
                               "-o", "m.png"));
    expect_usage_error(p,
                       ARGS("seg", "img.png", "--point", "1", "-o", "m.png"));
    expect_usage_error(
        p, ARGS("seg", "img.png", "--point", "1,2,3", "-o", "m.png"));
    expect_usage_error(p,
                       ARGS("seg", "img.png", "--point", "x,2", "-o", "m.png"));
    expect_usage_error(
        p, ARGS("seg", "img.png", "--point", "1,nan", "-o", "m.png"));
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2", "--label",
                               "one", "-o", "m.png"));
    expect_usage_error(p,
                       ARGS("seg", "img.png", "--box", "1,2,3", "-o", "m.png"));
    expect_usage_error(p, ARGS("seg", "img.png", "--box", "1,2,3,4", "--box",
                               "1,2,3,4", "-o", "m.png"));
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2", "--threads",
                               "0", "-o", "m.png"));
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2", "--threads",
                               "2x", "-o", "m.png"));
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2"));
    expect_usage_error(p, ARGS("seg", "img.png", "-o", "m.png"));
    expect_usage_error(
        p, ARGS("seg", "img.png", "--mask-input", "m.npy", "-o", "m.png"));
    expect_usage_error(p, ARGS("seg", "img.png", "--prompts", "p.json",
                               "--point", "1,2", "-o", "m.png"));
    expect_usage_error(p, ARGS("seg", "img.png", "--prompts", "p.json", "--box",
                               "1,2,3,4", "-o", "m.png"));
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2", "-o",
                               "m.png", "--overlay", "m.png"));
    /* the same file under another spelling */
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2", "-o",
                               "m.png", "--json", "./m.png"));
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2", "--logits",
                               "d//l.npy", "--json", "./d/./l.npy"));
    expect_usage_error(p, ARGS("seg", "img.png", "--point", "1,2",
                               "--multimask=yes", "-o", "m.png"));
}

static void test_embed(void)
{
    const char *p = "mobilesam embed: ";
    expect_help(ARGS("embed", "--help"), "usage: mobilesam embed");
    expect_usage_error(p, ARGS("embed", "img.png", "-o", "e.npy", "--nosuch"));
    expect_usage_error(p, ARGS("embed", "img.png"));
    expect_usage_error(p, ARGS("embed", "-o", "e.npy"));
    expect_usage_error(p, ARGS("embed", "img.png", "-o"));
    expect_usage_error(
        p, ARGS("embed", "img.png", "-o", "e.npy", "--threads", "-1"));
}

/* MOBILESAM_THREADS is read like --threads, and refused the same way. */
static void test_threads_env(void)
{
    setenv("MOBILESAM_THREADS", "many", 1);
    expect_usage_error("mobilesam seg: ",
                       ARGS("seg", "img.png", "--point", "1,2", "-o", "m.png"));
    unsetenv("MOBILESAM_THREADS");
}

/* A bad MOBILESAM_ISA is refused the same way (the library ignores it). */
static void test_isa_env(void)
{
    setenv("MOBILESAM_ISA", "bogus", 1);
    expect_usage_error("mobilesam seg: MOBILESAM_ISA: expected scalar, avx2, "
                       "avx512 or neon, got 'bogus'",
                       ARGS("seg", "img.png", "--point", "1,2", "-o", "m.png"));
    expect_usage_error("mobilesam embed: MOBILESAM_ISA",
                       ARGS("embed", "img.png", "-o", "e.npy"));
    unsetenv("MOBILESAM_ISA");
}

/* --precision on every command that runs the network, and
 * MOBILESAM_PRECISION: a bad value is a usage error naming the flag or the
 * variable and the accepted values; the flag wins over the variable; each
 * command's --help documents the flag. */
static void test_precision(void)
{
    static const char *const cmds[][8] = {
        {"seg", "img.png", "--point", "1,2", "-o", "m.png", NULL},
        {"embed", "img.png", "-o", "e.npy", NULL},
        {"everything", "img.png", "-o", "out", NULL},
        {"batch", "imgs", "-o", "out", "--everything", NULL},
        {"bench", "--image", "img.png", NULL},
        {"serve", "--port", "0", NULL},
    };
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        const char *args[16];
        char prefix[128];
        int n = 0;
        for (; cmds[c][n]; n++)
            args[n] = cmds[c][n];
        args[n] = "--help";
        args[n + 1] = NULL;
        ch_result r = ch_run(g_dir, args);
        TU_CHECK(r.code == 0 && strstr(r.out, "--precision P") &&
                     strstr(r.out, "MOBILESAM_PRECISION"),
                 "%s --help: exit %d, no --precision / MOBILESAM_PRECISION",
                 cmds[c][0], r.code);
        ch_free(&r);
        args[n] = "--precision";
        args[n + 1] = "fp64";
        args[n + 2] = NULL;
        snprintf(prefix, sizeof prefix,
                 "mobilesam %s: --precision: expected fp32, fp16 or int8, "
                 "got 'fp64'",
                 cmds[c][0]);
        expect_usage_error(prefix, args);
        args[n + 1] = "INT8"; /* the names are lower-case */
        strcpy(strstr(prefix, "'fp64'"), "'INT8'");
        expect_usage_error(prefix, args);
        args[n] = NULL;
        setenv("MOBILESAM_PRECISION", "half", 1);
        snprintf(prefix, sizeof prefix,
                 "mobilesam %s: MOBILESAM_PRECISION: expected fp32, fp16 or "
                 "int8, got 'half'",
                 cmds[c][0]);
        expect_usage_error(prefix, args);
        unsetenv("MOBILESAM_PRECISION");
    }
    /* the flag wins: the variable's bad value is not even read, and the
     * command goes on to its data error (the image does not exist) */
    setenv("MOBILESAM_PRECISION", "half", 1);
    const char *const *args = ARGS("seg", "img.png", "--point", "1,2", "-o",
                                   "m.png", "--precision", "int8");
    ch_result r = ch_run(g_dir, args);
    TU_CHECK(r.code == 1 && strstr(r.err, "img.png") &&
                 !strstr(r.err, "MOBILESAM_PRECISION"),
             "%s with MOBILESAM_PRECISION=half: exit %d (expected 1): %s",
             ch_cmdline(args), r.code, r.err);
    ch_free(&r);
    /* an empty variable is unset */
    setenv("MOBILESAM_PRECISION", "", 1);
    r = ch_run(g_dir, ARGS("seg", "img.png", "--point", "1,2", "-o", "m.png"));
    TU_CHECK(r.code == 1, "MOBILESAM_PRECISION='': exit %d (expected 1): %s",
             r.code, r.err);
    ch_free(&r);
    unsetenv("MOBILESAM_PRECISION");
}

int main(void)
{
    g_dir = ch_mkdtemp();
    if (!g_dir) {
        fprintf(stderr, "cannot create a scratch directory\n");
        return 1;
    }
    /* Relative output names land in the scratch dir. */
    if (chdir(g_dir) != 0) {
        fprintf(stderr, "cannot enter %s\n", g_dir);
        return 1;
    }
    test_tool();
    test_seg();
    test_embed();
    test_threads_env();
    test_isa_env();
    test_precision();
    ch_rmtree(g_dir);
    free(g_dir);
    return tu_finish("test_cli_usage");
}
