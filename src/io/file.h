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
 * Also the two steps every writer shares: following an output's symlinks,
 * and the name of its temporary file.
 *
 * Header-only (static inline) so that the fuzz harnesses, which compile a
 * single reader source each (scripts/fuzz.sh), need no extra file.
 */
#ifndef MOBILESAM_FILE_H
#define MOBILESAM_FILE_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- writing ------------------------------------------------------------ */

/* Follows the symlinks of `path` (at most 40, as the kernel does): returns
 * the malloc'd name it ends at, *st its lstat (st_mode 0 when nothing is
 * there: a new file, or a dangling link's target); NULL with errno set after
 * an error. A relative link is relative to the link's own directory. */
static inline char *file_follow_links(const char *path, struct stat *st)
{
    char *p = strdup(path);
    for (int hops = 0; p; hops++) {
        if (lstat(p, st) != 0) {
            memset(st, 0, sizeof *st);
            return p;
        }
        if (!S_ISLNK(st->st_mode))
            return p;
        char link[PATH_MAX];
        ssize_t n = hops < 40 ? readlink(p, link, sizeof link - 1) : -1;
        if (hops >= 40)
            errno = ELOOP;
        if (n < 0) {
            free(p);
            return NULL;
        }
        link[n] = 0;
        const char *slash = strrchr(p, '/');
        int dlen = link[0] != '/' && slash ? (int)(slash - p) + 1 : 0;
        size_t len = (size_t)dlen + (size_t)n + 1;
        char *next = malloc(len);
        if (next)
            snprintf(next, len, "%.*s%s", dlen, p, link);
        else
            errno = ENOMEM;
        free(p);
        p = next;
    }
    return NULL;
}

/* The temporary name `target` is written to before its rename, into tmp
 * (len: strlen(target) + 64): "<target>.tmp.<pid>", or, when that would
 * pass PATH_MAX or NAME_MAX (an output name near the limit), the shorter
 * ".<tag>.<pid>.<n>.tmp" in the same directory (n: a counter of the
 * caller's, so that names stay distinct). */
static inline void file_temp_name(const char *target, char *tmp, size_t len, const char *tag,
                                  unsigned n)
{
    const char *slash = strrchr(target, '/');
    size_t base = strlen(slash ? slash + 1 : target);
    int k = snprintf(tmp, len, "%s.tmp.%ld", target, (long)getpid());
    if (k >= PATH_MAX || base + ((size_t)k - strlen(target)) > NAME_MAX)
        snprintf(tmp, len, "%.*s.%s.%ld.%u.tmp", slash ? (int)(slash - target) + 1 : 0, target,
                 tag, (long)getpid(), n);
}

#endif
