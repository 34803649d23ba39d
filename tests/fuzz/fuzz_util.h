/*
 * fuzz_util.h - shared by the libFuzzer harnesses: the readers under test
 * take a path, so each input is written to one temporary file per process
 * (in /dev/shm when it is there, so no disk I/O), removed at exit.
 */
#ifndef MOBILESAM_FUZZ_UTIL_H
#define MOBILESAM_FUZZ_UTIL_H

#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A failed invariant of the code under test: crash so libFuzzer keeps the
 * input, with a message saying which. */
#define FUZZ_CHECK(cond)                                                         \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                      \
            abort();                                                             \
        }                                                                        \
    } while (0)

static char fuzz_paths[4][256];
static int fuzz_npaths;

static void fuzz_remove_paths(void)
{
    for (int i = 0; i < fuzz_npaths; i++) unlink(fuzz_paths[i]);
}

/* A per-process path "<dir>/mobilesam-fuzz-<tag>-<pid><suffix>". (Unused
 * by the harnesses whose code under test takes the data itself.) */
__attribute__((unused)) static const char *fuzz_temp_path(const char *tag, const char *suffix)
{
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
    if (!dir) dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    FUZZ_CHECK(fuzz_npaths < 4);
    char *p = fuzz_paths[fuzz_npaths++];
    snprintf(p, sizeof fuzz_paths[0], "%s/mobilesam-fuzz-%s-%ld%s", dir, tag,
             (long)getpid(), suffix);
    if (fuzz_npaths == 1) atexit(fuzz_remove_paths);
    return p;
}

/* Replaces the file's contents with data[0..size). */
__attribute__((unused)) static void fuzz_write_file(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0);
    const char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        FUZZ_CHECK(n > 0);
        p += n;
        size -= (size_t)n;
    }
    FUZZ_CHECK(close(fd) == 0);
}

#endif
