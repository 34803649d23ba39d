/*
 * cli_harness.h - running the mobilesam executable from the CLI tests:
 * spawn it (no shell, so no quoting issues) with stdout and stderr captured,
 * scratch directories, small file helpers. Header-only (static functions)
 * because each tests/test_*.c is linked with testutil.c alone.
 */
#ifndef MOBILESAM_CLI_HARNESS_H
#define MOBILESAM_CLI_HARNESS_H

#ifndef _GNU_SOURCE /* nftw, mkdtemp; include this header first */
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mobilesam.h"
#include "testutil.h"

extern char **environ;

#define CH_MAX_ARGS 96
#define CH_PATH 4096

/* printf into a CH_PATH buffer; a path too long for it ends the test. */
static inline const char *ch_path(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline const char *ch_path(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, CH_PATH, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= CH_PATH) {
        fprintf(stderr, "path too long: %s...\n", buf);
        exit(1);
    }
    return buf;
}

typedef struct {
    int code;  /* exit status; 128 + signal when killed */
    char *out; /* captured stdout, NUL-terminated */
    char *err; /* captured stderr */
} ch_result;

/* The executable under test, from MOBILESAM_BIN (set by ctest). */
static inline const char *ch_bin(void)
{
    const char *bin = getenv("MOBILESAM_BIN");
    if (!bin || !*bin)
        tu_skip("MOBILESAM_BIN is not set (run through ctest)");
    return bin;
}

static inline char *ch_read(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    char *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = buf ? fread(buf, 1, (size_t)(n > 0 ? n : 0), fp) : 0;
    fclose(fp);
    if (buf)
        buf[got] = 0;
    if (len)
        *len = got;
    return buf;
}

static inline int ch_write(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t put = fwrite(data, 1, n, fp);
    return (fclose(fp) == 0 && put == n) ? 0 : -1;
}

static inline int ch_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Runs argv (argv[0] looked up in PATH) with stdout/stderr captured in
 * scratch files under dir. */
static inline ch_result ch_spawn(const char *dir, char *const argv[])
{
    ch_result r = {-1, NULL, NULL};
    char out_path[4096], err_path[4096];
    snprintf(out_path, sizeof out_path, "%s/.stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/.stderr", dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int status = 0;
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) == 0 &&
        waitpid(pid, &status, 0) == pid)
        r.code =
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    posix_spawn_file_actions_destroy(&fa);
    r.out = ch_read(out_path, NULL);
    r.err = ch_read(err_path, NULL);
    unlink(out_path);
    unlink(err_path);
    if (!r.out)
        r.out = strdup("");
    if (!r.err)
        r.err = strdup("");
    return r;
}

/* Completes argv (CH_MAX_ARGS entries, the first n already set, e.g. a
 * wrapper) with the mobilesam executable and the NULL-terminated args. */
static inline void ch_argv(char **argv, int n, const char *const *args)
{
    argv[n++] = (char *)ch_bin();
    for (; *args && n < CH_MAX_ARGS - 1; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
}

/* Runs the mobilesam executable with the NULL-terminated arguments. */
static inline ch_result ch_run(const char *dir, const char *const *args)
{
    char *argv[CH_MAX_ARGS];
    ch_argv(argv, 0, args);
    return ch_spawn(dir, argv);
}

static inline void ch_free(ch_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Number of lines of s (a last line without '\n' counts). */
static inline int ch_lines(const char *s)
{
    int n = 0;
    for (const char *c = s; *c; c++)
        n += *c == '\n' || c[1] == 0;
    return n;
}

/* The command line, for failure messages. */
static inline const char *ch_cmdline(const char *const *args)
{
    static char buf[2048];
    buf[0] = 0;
    for (; *args; args++) {
        strncat(buf, " ", sizeof buf - strlen(buf) - 1);
        strncat(buf, *args, sizeof buf - strlen(buf) - 1);
    }
    return buf;
}

static inline char *ch_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/mobilesam-cli-XXXXXX",
             base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    return dir ? strdup(dir) : NULL;
}

static inline int ch_rm_entry(const char *path, const struct stat *st, int flag,
                              struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void ch_rmtree(const char *dir)
{
    if (dir)
        nftw(dir, ch_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Number of entries in dir (without "." and ".."); -1 if unreadable. When
 * first is given, the first entry's name is copied there. */
static inline int ch_count_entries(const char *dir, char *first, size_t n)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (first && count == 0)
            snprintf(first, n, "%s", e->d_name);
        count++;
    }
    closedir(d);
    return count;
}

/* Converts the fixture checkpoint with tools/convert.py into dir/w.msam;
 * returns the path (malloc'd) or NULL. */
static inline char *ch_convert_weights(const char *testdata, const char *dir)
{
    const char *src = getenv("MOBILESAM_SOURCE_DIR");
    if (!src || !*src)
        tu_skip("MOBILESAM_SOURCE_DIR is not set (run through ctest)");
    char script[4096], pt[4096], out[4096];
    snprintf(script, sizeof script, "%s/tools/convert.py", src);
    snprintf(pt, sizeof pt, "%s/mobile_sam_synthetic.pt", testdata);
    snprintf(out, sizeof out, "%s/w.msam", dir);
    char *argv[] = {"python3", script, pt, "-o", out, NULL};
    ch_result r = ch_spawn(dir, argv);
    int ok = r.code == 0 && ch_exists(out);
    if (!ok)
        fprintf(stderr, "convert.py failed (exit %d): %s%s", r.code, r.out,
                r.err);
    ch_free(&r);
    return ok ? strdup(out) : NULL;
}

/* A scratch directory (*dir) with the fixture's weights converted into it
 * (*weights) and loaded: the model, or NULL after printing why (the
 * directory then removed, *dir and *weights NULL). */
static inline mobilesam_model *ch_fixture_model(const char *testdata, char **dir,
                                                char **weights)
{
    *dir = ch_mkdtemp();
    *weights = *dir ? ch_convert_weights(testdata, *dir) : NULL;
    mobilesam_model *model = NULL;
    mobilesam_error err = {{0}};
    if (!*weights || mobilesam_load(*weights, &model, &err) != MOBILESAM_OK) {
        fprintf(stderr, "cannot prepare the weights: %s\n", err.message);
        if (*dir)
            ch_rmtree(*dir);
        free(*dir);
        free(*weights);
        *dir = *weights = NULL;
        return NULL;
    }
    return model;
}

#endif
