/*
 * file.h - opening an input file for reading, shared by every reader (images,
 * weights, .npy, prompts, lists, labels).
 *
 * A plain open() of a FIFO blocks until some process opens it for writing,
 * so a reader that opened first and checked "is it a regular file?" after
 * hung forever on one. Opening with O_NONBLOCK returns at once for a FIFO
 * (and a device); fstat() then refuses anything but a regular file (a
 * directory too, which open() accepts for reading). Regular files ignore
 * O_NONBLOCK; it is cleared all the same, so that reads behave as always.
 *
 * Header-only (static inline) so that the fuzz harnesses, which compile a
 * single reader source each (scripts/fuzz.sh), need no extra file.
 */
#ifndef MOBILESAM_FILE_H
#define MOBILESAM_FILE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens path read-only. Returns a file descriptor (close-on-exec), with the
 * file's status in *st when st is not NULL; or -1 with a short reason in
 * why ("No such file or directory", "not a regular file", ...; no path) and
 * errno the error of open() (EISDIR for a directory, EINVAL for another file
 * that is not a regular one). */
static inline int file_open_input(const char *path, struct stat *st, char *why,
                                  size_t whylen)
{
    struct stat own;
    if (!st)
        st = &own;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    int e = errno;
    if (fd >= 0 && fstat(fd, st) != 0) {
        e = errno;
        close(fd);
        fd = -1;
    } else if (fd >= 0 && !S_ISREG(st->st_mode)) {
        e = S_ISDIR(st->st_mode) ? EISDIR : EINVAL;
        close(fd);
        if (why && whylen)
            snprintf(why, whylen, "not a regular file");
        errno = e;
        return -1;
    }
    if (fd < 0) {
        if (why && whylen)
            snprintf(why, whylen, "%s", strerror(e));
        errno = e;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl != -1)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

/* file_open_input() as a binary stdio stream. */
static inline FILE *file_fopen_input(const char *path, struct stat *st, char *why,
                                     size_t whylen)
{
    int fd = file_open_input(path, st, why, whylen);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        if (why && whylen)
            snprintf(why, whylen, "%s", strerror(e));
        close(fd);
        errno = e;
    }
    return f;
}

#endif
