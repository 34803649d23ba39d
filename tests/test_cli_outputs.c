/*
 * test_cli_outputs.c - where outputs go when the path is not a plain new
 * file: a device or FIFO is written in place (never replaced by a regular
 * file) and its write errors are reported (a /dev/full-like node: exit 1,
 * "No space left on device"); a symlink stays and the file it names gets
 * the content; a directory is refused; an output that is one of the inputs,
 * or two outputs that are one file under different names, are refused with
 * exit 2 and nothing changed. A command killed by SIGTERM leaves no
 * temporary file (nor an output folder it made) and dies of the signal; a
 * closed pipe on stdout is exit 1 with one error line and no output file;
 * an output name near PATH_MAX or NAME_MAX still gets written. Needs the fixture pack (MOBILESAM_TESTDATA)
 * for the weights; runs the decoder only (a made-up embedding), except for
 * one `embed`. Device nodes need root (mknod): without it those checks are
 * reported as skipped and the others still run.
 */
#include "cli_harness.h"
#include "cli_inputs.h"

#include <errno.h>
#include <signal.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "mobilesam.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char g_dir[1024], g_out[1100], g_tiny[1200], g_weights[1200];
static int g_skipped;

static const char *at(const char *dir, const char *name)
{
    static char ring[32][4096];
    static int next;
    char *p = ring[next++ % 32];
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}
static const char *scratch(const char *name)
{
    return at(g_dir, name);
}
static const char *out(const char *name)
{
    return at(g_out, name);
}

/* g_out must hold exactly `expected` entries: no temporary file left. */
static void expect_out_entries(const char *cmd, int expected)
{
    char name[256] = "";
    int n = ch_count_entries(g_out, name, sizeof name);
    TU_CHECK(n == expected, "%s: %d file(s) in the output folder, expected %d "
             "(e.g. %s)", cmd, n, expected, name);
}

/* Whether dir holds a temporary output ("<name>.tmp.<pid>"). */
static int has_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        found |= strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return found;
}

static void clear_outputs(void)
{
    ch_rmtree(g_out);
    mkdir(g_out, 0755);
}

/* Runs args expecting `code` and, when mention is given, one stderr line
 * containing it (else empty stderr). */
static void expect_run(int code, const char *mention, const char *const *args)
{
    ch_result r = ch_run(g_dir, args);
    const char *cmd = ch_cmdline(args);
    TU_CHECK(r.code == code, "%s: exit %d, expected %d (stderr: %s)", cmd,
             r.code, code, r.err);
    if (mention)
        TU_CHECK(ch_lines(r.err) == 1 && strstr(r.err, mention),
                 "%s: expected one stderr line mentioning '%s', got: %s", cmd,
                 mention, r.err);
    else
        TU_CHECK(r.err[0] == 0, "%s: stderr: %s", cmd, r.err);
    printf("ok exit %d:%s\n  %s", r.code, cmd, r.err);
    ch_free(&r);
}

static int is_type(const char *path, mode_t type)
{
    struct stat st;
    return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

/* A character device node like /dev/null (1,3) or /dev/full (1,7) in the
 * scratch dir; 0, or -1 (reported as skipped) when mknod is not allowed. */
static int make_node(const char *path, unsigned minor)
{
    unlink(path);
    if (mknod(path, S_IFCHR | 0666, makedev(1, minor)) == 0)
        return 0;
    printf("skipped: mknod %s: %s (not root?)\n", path, strerror(errno));
    g_skipped++;
    return -1;
}

/* The seg command writing to the scratch outputs, plus `extra`. */
#define SEG(...)                                                              \
    ARGS("seg", g_tiny, "-w", g_weights, "--embedding", scratch("emb.npy"),   \
         "--point", "10,10", __VA_ARGS__)

static void test_devices(void)
{
    const char *null = scratch("null"), *full = scratch("full");
    if (make_node(null, 3) == 0) {
        expect_run(0, NULL, SEG("-o", null, "--json", out("m.json")));
        TU_CHECK(is_type(null, S_IFCHR), "-o null: the device was replaced");
        expect_run(0, NULL, SEG("--logits", null, "--overlay", out("o.png")));
        TU_CHECK(is_type(null, S_IFCHR), "--logits null: replaced");
        expect_out_entries("null", 2);
        clear_outputs();
    }
    if (make_node(full, 7) == 0) {
        /* each output to the full device, two others to files (written
         * before or after it): none of them is left */
        static const char *const opts[][5] = {
            {"-o", "--json", "m.json", "--logits", "l.npy"},
            {"--json", "-o", "m.png", "--logits", "l.npy"},
            {"--logits", "-o", "m.png", "--overlay", "o.png"},
            {"--overlay", "-o", "m.png", "--logits", "l.npy"}};
        for (int i = 0; i < 4; i++) {
            expect_run(1, "cannot write: No space left on device",
                       SEG(opts[i][0], full, opts[i][1], out(opts[i][2]),
                           opts[i][3], out(opts[i][4])));
            TU_CHECK(is_type(full, S_IFCHR), "%s full: the device was replaced",
                     opts[i][0]);
            expect_out_entries(opts[i][0], 0);
        }
        expect_run(1, "cannot write: No space left on device",
                   ARGS("embed", g_tiny, "-w", g_weights, "-o", full));
        TU_CHECK(is_type(full, S_IFCHR), "embed -o full: replaced");
        TU_CHECK(!has_tmp(g_dir), "embed -o full: a temporary file was left");
    }
    unlink(null);
    unlink(full);
}

/* A FIFO is written in place, its reader gets the whole file. */
static void test_fifo(void)
{
    static const char *const opts[] = {"--json", "-o", "--logits"};
    static const char *const magic[] = {"{", "\x89PNG", "\x93NUMPY"};
    const char *fifo = scratch("fifo"), *got = scratch("got");
    for (int i = 0; i < 3; i++) {
        unlink(fifo);
        if (mkfifo(fifo, 0600) != 0) {
            TU_CHECK(0, "mkfifo: %s", strerror(errno));
            return;
        }
        unlink(got);
        pid_t reader = fork();
        if (reader == 0) { /* cat fifo > got */
            int in = open(fifo, O_RDONLY);
            int to = open(got, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            char buf[65536];
            ssize_t n;
            while (in >= 0 && to >= 0 && (n = read(in, buf, sizeof buf)) > 0)
                if (write(to, buf, (size_t)n) != n)
                    _exit(1);
            _exit(0);
        }
        const char *other = i == 1 ? "--json" : "-o";
        expect_run(0, NULL,
                   SEG(opts[i], fifo, other, out(i == 1 ? "m.json" : "m.png")));
        /* Still a FIFO: a reader the command never wrote to waits in
         * open(); opening it for writing here ends that with an empty
         * read. Replaced: the reader waits on the old one forever. */
        if (reader <= 0)
            TU_CHECK(0, "fork: %s", strerror(errno));
        else if (!is_type(fifo, S_IFIFO))
            kill(reader, SIGKILL);
        else {
            int w = open(fifo, O_WRONLY | O_NONBLOCK);
            if (w >= 0)
                close(w);
        }
        int status = 0;
        if (reader > 0)
            waitpid(reader, &status, 0);
        size_t len;
        char *data = ch_read(got, &len);
        TU_CHECK(data && len > 16 && !memcmp(data, magic[i], strlen(magic[i])),
                 "%s fifo: the reader got %zu bytes", opts[i],
                 data ? len : 0);
        TU_CHECK(is_type(fifo, S_IFIFO), "%s fifo: the FIFO was replaced",
                 opts[i]);
        expect_out_entries(opts[i], 1);
        free(data);
        clear_outputs();
    }
    unlink(fifo);
    unlink(got);
}

/* A symlink stays; the file it names (new, or replaced) gets the content. */
static void test_symlinks(void)
{
    TU_CHECK(symlink("target.png", out("link.png")) == 0 &&
                 symlink("sub/t.npy", out("link.npy")) == 0 &&
                 mkdir(out("sub"), 0755) == 0 &&
                 ch_write(out("old.json"), "old", 3) == 0 &&
                 symlink(out("old.json"), out("link.json")) == 0,
             "cannot make the links");
    expect_run(0, NULL,
               SEG("-o", out("link.png"), "--logits", out("link.npy"),
                   "--json", out("link.json")));
    TU_CHECK(is_type(out("link.png"), S_IFLNK) &&
                 is_type(out("link.npy"), S_IFLNK) &&
                 is_type(out("link.json"), S_IFLNK),
             "a symlink output was replaced");
    size_t len;
    char *png = ch_read(out("target.png"), &len);
    TU_CHECK(png && len > 8 && !memcmp(png, "\x89PNG", 4),
             "the symlink's target has no PNG");
    free(png);
    char *npy = ch_read(out("sub/t.npy"), &len);
    TU_CHECK(npy && len > 8 && !memcmp(npy, "\x93NUMPY", 6),
             "the dangling symlink's target has no .npy");
    free(npy);
    char *json = ch_read(out("old.json"), &len);
    TU_CHECK(json && json[0] == '{', "the existing target was not replaced");
    free(json);
    /* link, targets, sub, old.json: nothing else (no temporary file) */
    expect_out_entries("symlinks", 6);
    TU_CHECK(ch_count_entries(out("sub"), NULL, 0) == 1, "sub: leftovers");
    /* the link and its target are one file: named twice */
    expect_run(2, "name the same file",
               SEG("-o", out("link.png"), "--overlay", out("target.png")));
    clear_outputs();
}

static void test_directory(void)
{
    expect_run(1, "is a directory", SEG("--json", out("")));
    expect_run(1, "is a directory", SEG("-o", g_out));
    expect_out_entries("directory", 0);
}

/* "x.png" and "./x.png" (or "d/../x.png") are one file: exit 2. */
static void test_same_output(void)
{
    char dotted[4200], updown[4200];
    ch_path(dotted, "%s/./x.png", g_out);
    mkdir(out("d"), 0755);
    ch_path(updown, "%s/d/../x.png", g_out);
    expect_run(2, "name the same file",
               SEG("-o", out("x.png"), "--json", dotted));
    expect_run(2, "name the same file",
               SEG("-o", out("x.png"), "--overlay", updown));
    /* a mask file OUT_<object>_<mask>.png as another output */
    expect_run(2, "m_0_2.png",
               SEG("--multimask", "-o", out("m.png"), "--json",
                   out("m_0_2.png")));
    expect_out_entries("same output", 1); /* d */
    clear_outputs();
}

/* Whether path still holds `data` (len bytes). */
static int unchanged(const char *path, const char *data, size_t len)
{
    size_t n;
    char *now = ch_read(path, &n);
    int same = now && n == len && !memcmp(now, data, len);
    free(now);
    return same;
}

/* An output that is one of the inputs: exit 2, the input unchanged. */
static void test_input_as_output(void)
{
    const char *img = out("img.png"), *emb = scratch("emb.npy");
    size_t ilen, elen;
    char *idata = ch_read(g_tiny, &ilen), *edata = ch_read(emb, &elen);
    TU_CHECK(idata && edata && ch_write(img, idata, ilen) == 0 &&
                 ch_write(out("p.json"), "[{\"points\": [[1, 2]]}]", 22) == 0,
             "cannot copy the inputs");
    char dotted[4200];
    ch_path(dotted, "%s/./img.png", g_out);
    const char *const *cases[] = {
        ARGS("seg", img, "-w", g_weights, "--embedding", emb, "--point",
             "1,1", "-o", img),
        ARGS("seg", img, "-w", g_weights, "--embedding", emb, "--point",
             "1,1", "-o", out("m.png"), "--overlay", dotted),
        ARGS("seg", img, "-w", g_weights, "--embedding", emb, "--point",
             "1,1", "--logits", emb),
        ARGS("seg", img, "-w", g_weights, "--embedding", emb, "--prompts",
             out("p.json"), "--json", out("p.json")),
        ARGS("seg", img, "-w", g_weights, "--embedding", emb, "--point",
             "1,1", "--mask-input", out("l.npy"), "--logits", out("l.npy")),
        ARGS("seg", img, "-w", g_weights, "--embedding", emb, "--point",
             "1,1", "-o", g_weights),
        ARGS("embed", img, "-w", g_weights, "-o", dotted),
        ARGS("everything", img, "-w", g_weights, "-o", g_dir, "--overlay",
             img),
    };
    /* l.npy: a mask input to give, made by an earlier run */
    expect_run(0, NULL,
               ARGS("seg", img, "-w", g_weights, "--embedding", emb,
                    "--point", "1,1", "--logits", out("l.npy")));
    size_t llen;
    char *ldata = ch_read(out("l.npy"), &llen);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_run(2, "is also an input", cases[i]);
        TU_CHECK(unchanged(img, idata, ilen) && unchanged(emb, edata, elen) &&
                     ldata && unchanged(out("l.npy"), ldata, llen) &&
                     unchanged(out("p.json"), "[{\"points\": [[1, 2]]}]", 22),
                 "case %zu: an input changed", i);
        expect_out_entries("input as output", 3);
    }
    /* the image named like one of the mask files */
    const char *m01 = out("m_0_1.png");
    rename(img, m01);
    expect_run(2, "is also an input",
               ARGS("seg", m01, "-w", g_weights, "--embedding", emb,
                    "--point", "1,1", "--multimask", "-o", out("m.png")));
    TU_CHECK(unchanged(m01, idata, ilen), "m_0_1.png: the input changed");
    /* ... or like one of everything's */
    const char *mask3 = out("mask_3.png");
    rename(m01, mask3);
    expect_run(2, "is also an input",
               ARGS("everything", mask3, "-w", g_weights, "-o", g_out));
    TU_CHECK(unchanged(mask3, idata, ilen), "mask_3.png: the input changed");
    expect_out_entries("input as output", 3);
    free(idata);
    free(edata);
    free(ldata);
    clear_outputs();
}

/* Starts args with stdout on `out_fd` (-1: a scratch file) and stderr in
 * scratch(".err"), the signals the tool handles reset to their defaults
 * (a test runner may ignore some). Returns the pid, or -1. */
static pid_t start(const char *const *args, int out_fd)
{
    char *argv[CH_MAX_ARGS];
    ch_argv(argv, 0, args);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, scratch(".out"),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, scratch(".err"),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t dfl;
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGHUP);
    sigaddset(&dfl, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    if (posix_spawn(&pid, argv[0], &fa, &attr, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return pid;
}

/* Waits for pid: its exit status, 128 + N when killed by signal N. */
static int finish(pid_t pid)
{
    int status = 0;
    if (pid <= 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Entries of dir whose name holds ".tmp" (both temporary name forms). */
static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* SIGTERM while seg waits to open its --json FIFO (no reader), with the
 * temporary files of its other three outputs already made: they are
 * removed and the process dies of the signal. Then `everything` killed
 * while it computes: no OUTDIR left (it is made only for the outputs). */
static void test_signals(void)
{
    const char *fifo = scratch("sigfifo");
    unlink(fifo);
    if (mkfifo(fifo, 0600) != 0) {
        TU_CHECK(0, "mkfifo: %s", strerror(errno));
        return;
    }
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        pid_t pid = start(SEG("-o", out("m.png"), "--logits", out("l.npy"),
                              "--overlay", out("o.png"), "--json", fifo),
                          -1);
        TU_CHECK(pid > 0, "cannot start seg");
        int waited = 0;
        while (pid > 0 && count_tmp(g_out) < 3 && waited < 60000) {
            sleep_ms(20);
            waited += 20;
        }
        int ready = count_tmp(g_out) == 3;
        kill(pid, ready ? sigs[i] : SIGKILL);
        int code = finish(pid);
        TU_CHECK(ready, "seg never got to its FIFO output");
        TU_CHECK(code == 128 + sigs[i], "seg killed by signal %d: exit %d",
                 sigs[i], code);
        TU_CHECK(count_tmp(g_out) == 0,
                 "signal %d: %d temporary file(s) left", sigs[i],
                 count_tmp(g_out));
        expect_out_entries("killed seg", 0);
        printf("ok signal %d: exit %d, nothing left\n", sigs[i], code);
        clear_outputs();
    }
    unlink(fifo);

    const char *dir = out("new/masks");
    pid_t pid = start(ARGS("everything", g_tiny, "-w", g_weights, "-o", dir),
                      -1);
    sleep_ms(300); /* past the image's checks, inside the model's work */
    kill(pid, SIGTERM);
    int code = finish(pid);
    TU_CHECK(code == 128 + SIGTERM, "everything killed: exit %d", code);
    TU_CHECK(!ch_exists(out("new")), "everything killed: OUTDIR left");
    expect_out_entries("killed everything", 0);
    clear_outputs();
}

/* stdout a pipe nobody reads (its read end closed before the start): exit
 * 1, "stdout: cannot write: Broken pipe", not death by SIGPIPE, and no
 * output file. */
static void expect_broken_pipe(const char *what, const char *const *args,
                               int entries)
{
    int fds[2];
    if (pipe(fds) != 0) {
        TU_CHECK(0, "pipe: %s", strerror(errno));
        return;
    }
    close(fds[0]);
    pid_t pid = start(args, fds[1]);
    close(fds[1]);
    int code = finish(pid);
    char *err = ch_read(scratch(".err"), NULL);
    TU_CHECK(code == 1, "%s | (closed): exit %d, expected 1 (stderr: %s)",
             what, code, err ? err : "");
    TU_CHECK(err && ch_lines(err) == 1 &&
                 strstr(err, "stdout: cannot write: Broken pipe"),
             "%s | (closed): stderr: %s", what, err ? err : "");
    expect_out_entries(what, entries);
    printf("ok exit %d: %s | (closed)\n  %s", code, what, err ? err : "\n");
    free(err);
    clear_outputs();
}

static void test_broken_pipe(void)
{
    expect_broken_pipe("seg --json -",
                       SEG("-o", out("sp1.png"), "--json", "-"), 0);
    ch_write(out("a.pgm"), "P5\n2 1\n255\n\xff\x00", 13);
    expect_broken_pipe("compare", ARGS("compare", out("a.pgm"), out("a.pgm")),
                       1);
    expect_broken_pipe("everything",
                       ARGS("everything", g_tiny, "-w", g_weights, "-o",
                            out("od"), "--format", "json"),
                       0);
}

/* An output whose name is near NAME_MAX, or whose path is near PATH_MAX:
 * "<name>.tmp.<pid>" would be too long, a shorter temporary name is used. */
static void test_long_names(void)
{
    char name[256], path[CH_PATH], npy[CH_PATH];
    memset(name, 'n', 250);
    strcpy(name + 250, ".png"); /* 254 bytes */
    expect_run(0, NULL, SEG("-o", out(name)));
    TU_CHECK(ch_exists(out(name)), "a 254-byte name was not written");
    expect_out_entries("254-byte name", 1);
    clear_outputs();

    /* folders of 200 bytes down to a 4090-byte path */
    int len = snprintf(path, sizeof path, "%s", g_out);
    while (len + 201 + 64 < 4090) {
        path[len++] = '/';
        memset(path + len, 'd', 200);
        len += 200;
        path[len] = 0;
        mkdir(path, 0755);
    }
    path[len++] = '/';
    int base = 4090 - len - 4;
    memset(path + len, 'm', (size_t)base);
    strcpy(path + len + base, ".png");
    snprintf(npy, sizeof npy, "%.*s.npy", (int)strlen(path) - 4, path);
    TU_CHECK(strlen(path) == 4090, "long path: %zu bytes", strlen(path));
    expect_run(0, NULL, SEG("-o", path, "--logits", npy));
    TU_CHECK(ch_exists(path) && ch_exists(npy),
             "a 4090-byte path was not written");
    *strrchr(path, '/') = 0;
    TU_CHECK(ch_count_entries(path, NULL, 0) == 2, "long path: leftovers");
    clear_outputs();
}

int main(void)
{
    const char *td = tu_testdata();
    if (!td)
        tu_skip("MOBILESAM_TESTDATA is not set");
    char *dir, *weights;
    mobilesam_model *model = ch_fixture_model(td, &dir, &weights);
    if (!model)
        return 1;
    snprintf(g_dir, sizeof g_dir, "%s", dir);
    snprintf(g_out, sizeof g_out, "%s/out", dir);
    snprintf(g_weights, sizeof g_weights, "%s", weights);
    snprintf(g_tiny, sizeof g_tiny, "%s/images/tiny.png", td);
    mkdir(g_out, 0755);
    TU_CHECK(ci_write_embedding(scratch("emb.npy"), mobilesam_model_id(model),
                                97, 61, NULL) == 0,
             "cannot write the embedding");
    mobilesam_free(model);

    test_devices();
    test_fifo();
    test_symlinks();
    test_directory();
    test_same_output();
    test_input_as_output();
    test_signals();
    test_broken_pipe();
    test_long_names();
    if (g_skipped)
        printf("%d device check(s) skipped (mknod not allowed)\n", g_skipped);
    ch_rmtree(dir);
    free(dir);
    free(weights);
    return tu_finish("test_cli_outputs");
}
