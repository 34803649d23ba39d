/*
 * output.c - see output.h. PNGs go through stbi_write_png_to_func so that
 * write errors (full disk, missing directory) are seen with their errno.
 */
#include "format/output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h>

#include "format/report.h"
#include "io/file.h"
#include "io/npy.h"

void out_init(out_set *s)
{
    memset(s, 0, sizeof *s);
}

/* ---- cleanup on a fatal signal ------------------------------------------ */

/* The temporary files that exist right now, for the SIGINT/SIGTERM/SIGHUP
 * handler to remove. Each slot points to a name an out_file owns: set
 * before the file is created, cleared after it is renamed or removed and
 * before the name is freed. A fixed array would cap the files of a run
 * (`everything` writes one per mask), so slots come in blocks that are
 * linked only once built and never freed: the handler walks them without
 * locks or malloc. */
#define LIVE_SLOTS 64
typedef struct live_block {
    _Atomic(const char *) slot[LIVE_SLOTS];
    _Atomic(struct live_block *) next;
} live_block;
static live_block live_first;

/* An output folder this run created (out_track_dir), removed with its
 * created parents by the handler while it is empty. */
static char live_dir[PATH_MAX];
static size_t live_dir_top;
static atomic_int live_dir_set;

static int live_add(const char *name)
{
    for (live_block *b = &live_first;;) {
        for (int i = 0; i < LIVE_SLOTS; i++) {
            const char *none = NULL;
            if (atomic_compare_exchange_strong(&b->slot[i], &none, name))
                return 0;
        }
        live_block *next = atomic_load(&b->next);
        if (!next) {
            live_block *fresh = calloc(1, sizeof *fresh);
            if (!fresh)
                return -1;
            if (!atomic_compare_exchange_strong(&b->next, &next, fresh))
                free(fresh); /* another thread linked one first: use it */
            else
                next = fresh;
        }
        b = next;
    }
}

static void live_remove(const char *name)
{
    for (live_block *b = &live_first; b; b = atomic_load(&b->next))
        for (int i = 0; i < LIVE_SLOTS; i++) {
            const char *mine = name;
            if (atomic_compare_exchange_strong(&b->slot[i], &mine, NULL))
                return;
        }
}

/* Async-signal-safe only: unlink, rmdir, sigaction, raise. */
static void on_fatal_signal(int sig)
{
    for (live_block *b = &live_first; b; b = atomic_load(&b->next))
        for (int i = 0; i < LIVE_SLOTS; i++) {
            const char *p = atomic_load(&b->slot[i]);
            if (p)
                unlink(p);
        }
    if (atomic_load(&live_dir_set)) {
        /* out_rmdirs without malloc: the handler ends the process, so the
         * buffer may be cut up */
        size_t len = strlen(live_dir);
        while (len >= live_dir_top && rmdir(live_dir) == 0) {
            while (len > live_dir_top && live_dir[len - 1] != '/')
                len--;
            if (len <= live_dir_top)
                break;
            live_dir[--len] = 0;
        }
    }
    /* Die of the signal itself, so that the exit status is 128+N. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig); /* delivered when the handler returns (sig is blocked) */
}

void out_catch_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; i++)
        sigaddset(&sa.sa_mask, sigs[i]);
    for (int i = 0; i < 3; i++)
        /* a signal ignored by whoever started us (nohup, a background
         * job's SIGINT) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
}

void out_track_dir(const char *dir, const char *top)
{
    atomic_store(&live_dir_set, 0);
    if (!dir || !top || strlen(dir) >= sizeof live_dir ||
        strlen(top) > strlen(dir))
        return;
    strcpy(live_dir, dir);
    size_t len = strlen(live_dir);
    while (len > 1 && live_dir[len - 1] == '/')
        live_dir[--len] = 0;
    live_dir_top = strlen(top);
    atomic_store(&live_dir_set, 1);
}

void out_untrack_dir(void)
{
    atomic_store(&live_dir_set, 0);
}

/* ---- what a path names ---------------------------------------------------- */

/* `target` (no symlink) as the real path of its directory plus its last
 * component, so that "x.png", "./x.png" and "d/../x.png" read the same;
 * malloc'd. The name itself when its directory cannot be resolved. */
static char *real_name(const char *target)
{
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    char *dir = slash ? strndup(target, (size_t)(slash - target) + 1)
                      : strdup(".");
    char *real = dir ? realpath(dir, NULL) : NULL;
    char *key = NULL;
    if (real && *base && strcmp(base, ".") && strcmp(base, "..")) {
        size_t len = strlen(real) + strlen(base) + 2;
        if ((key = malloc(len)))
            snprintf(key, len, "%s%s%s", real,
                     real[strlen(real) - 1] == '/' ? "" : "/", base);
    }
    free(dir);
    free(real);
    return key ? key : strdup(target);
}

int out_file_id_get(const char *path, out_file_id *id)
{
    memset(id, 0, sizeof *id);
    struct stat st;
    memset(&st, 0, sizeof st);
    char *target = file_follow_links(path, &st);
    if (!target) /* a loop or unreadable link: compare the name as given */
        target = strdup(path);
    id->key = target ? real_name(target) : NULL;
    free(target);
    id->exists = st.st_mode != 0;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    return id->key ? 0 : -1;
}

int out_file_id_same(const out_file_id *a, const out_file_id *b)
{
    if (a->exists && b->exists) /* hard links too */
        return a->dev == b->dev && a->ino == b->ino;
    return strcmp(a->key, b->key) == 0;
}

void out_file_id_free(out_file_id *id)
{
    free(id->key);
    id->key = NULL;
}

int out_same_file(const char *a, const char *b)
{
    out_file_id x = {0}, y = {0};
    int same = out_file_id_get(a, &x) == 0 && out_file_id_get(b, &y) == 0 &&
               out_file_id_same(&x, &y);
    out_file_id_free(&x);
    out_file_id_free(&y);
    return same;
}

/* ---- the set ---------------------------------------------------------------- */

static void free_set(out_set *s)
{
    for (int i = 0; i < s->n; i++) {
        if (s->files[i].tmp)
            live_remove(s->files[i].tmp);
        free(s->files[i].path);
        free(s->files[i].target);
        free(s->files[i].tmp);
        out_file_id_free(&s->files[i].id);
    }
    free(s->files);
    free(s->stdout_text);
    out_init(s);
}

void out_abort(out_set *s)
{
    /* A file written in place (a device, a FIFO) is not ours to remove. */
    for (int i = 0; i < s->n; i++)
        if (s->files[i].tmp)
            unlink(s->files[i].renamed ? s->files[i].target
                                       : s->files[i].tmp);
    free_set(s); /* after the unlinks: the handler may repeat them */
}

static atomic_uint temp_counter; /* for file_temp_name's short names */

/* Registers `path`; returns its entry, or NULL after an error (the same
 * output named twice in one run would silently lose one of them). A
 * symlink is followed, so that the link stays and the file it names gets
 * the content; a device, FIFO or socket is written in place (tmp NULL):
 * renaming over it would replace it with a regular file. */
static out_file *stage(out_set *s, const char *path)
{
    struct stat st;
    char *target = file_follow_links(path, &st);
    if (!target) {
        report_file_error(path, "cannot create file: %s", strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        report_file_error(path, "is a directory");
        free(target);
        return NULL;
    }
    out_file_id id;
    if (out_file_id_get(path, &id)) {
        free(target);
        goto nomem;
    }
    for (int i = 0; i < s->n; i++) {
        if (out_file_id_same(&s->files[i].id, &id)) {
            report_file_error(path, "named twice as an output");
            free(target);
            out_file_id_free(&id);
            return NULL;
        }
    }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        out_file *f = realloc(s->files, (size_t)cap * sizeof *f);
        if (!f) {
            free(target);
            out_file_id_free(&id);
            goto nomem;
        }
        s->files = f;
        s->cap = cap;
    }
    int in_place = st.st_mode && !S_ISREG(st.st_mode);
    size_t len = strlen(target) + 64;
    out_file *f = &s->files[s->n];
    f->path = strdup(path);
    f->target = target;
    f->tmp = in_place ? NULL : malloc(len);
    f->renamed = 0;
    f->id = id;
    if (!f->path || (!in_place && !f->tmp)) {
        free(f->path);
        free(f->target);
        free(f->tmp);
        out_file_id_free(&f->id);
        goto nomem;
    }
    if (f->tmp) {
        file_temp_name(target, f->tmp, len, "msam", atomic_fetch_add(&temp_counter, 1));
        /* known to the signal handler before the file exists */
        if (live_add(f->tmp)) {
            free(f->path);
            free(f->target);
            free(f->tmp);
            out_file_id_free(&f->id);
            goto nomem;
        }
    }
    s->n++;
    return f;
nomem:
    report_file_error(path, "out of memory");
    return NULL;
}

/* The stream a staged file is written through: its temporary file, or the
 * device or FIFO itself, opened without creating or truncating (a FIFO
 * waits here for a reader). NULL after an error. */
static FILE *open_staged(const out_file *f)
{
    if (f->tmp) {
        FILE *fp = fopen(f->tmp, "wb");
        if (!fp)
            report_file_error(f->path, "cannot create file: %s", strerror(errno));
        return fp;
    }
    int fd = open(f->target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!fp) {
        report_file_error(f->path, "cannot write: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return fp;
}

int out_commit(out_set *s)
{
    for (int i = 0; i < s->n; i++) {
        out_file *f = &s->files[i];
        if (!f->tmp)
            continue; /* written in place already */
        if (rename(f->tmp, f->target) != 0) {
            report_file_error(f->path, "cannot create file: %s", strerror(errno));
            out_abort(s);
            return -1;
        }
        f->renamed = 1;
        live_remove(f->tmp);
    }
    if (s->stdout_text) {
        /* SIGPIPE is ignored (main): a closed pipe is EPIPE here */
        errno = 0;
        fputs(s->stdout_text, stdout);
        fputc('\n', stdout);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            report_file_error("stdout", "cannot write: %s",
                           strerror(errno ? errno : EIO));
            out_abort(s);
            return -1;
        }
    }
    free_set(s);
    return 0;
}

int out_check_dir(const char *path)
{
    struct stat st;
    char *target = file_follow_links(path, &st);
    if (!target) {
        report_file_error(path, "cannot create file: %s", strerror(errno));
        return -1;
    }
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        report_file_error(path, "is a directory");
        rc = -1;
    } else if (st.st_mode && !S_ISREG(st.st_mode)) {
        /* written in place: it must take writes (not opened here: a FIFO
         * would wait for its reader before the work is even done) */
        if (access(target, W_OK) != 0) {
            report_file_error(path, "cannot write: %s", strerror(errno));
            rc = -1;
        }
    } else {
        const char *slash = strrchr(target, '/');
        char *dir = slash ? strndup(target, (size_t)(slash - target) + 1)
                          : strdup(".");
        if (!dir) {
            report_file_error(path, "out of memory");
            rc = -1;
        } else if (access(dir, W_OK | X_OK) != 0) {
            report_file_error(path, "cannot create file: %s", strerror(errno));
            rc = -1;
        }
        free(dir);
    }
    free(target);
    return rc;
}

typedef struct {
    FILE *fp;
    int failed;
} png_sink;

static void png_write(void *ctx, void *data, int size)
{
    png_sink *sink = ctx;
    if (!sink->failed &&
        fwrite(data, 1, (size_t)size, sink->fp) != (size_t)size)
        sink->failed = errno ? errno : EIO;
}

/* Closes fp and reports the first error among `failed` and fclose. */
static int close_checked(FILE *fp, int failed, const char *path)
{
    if (fclose(fp) != 0 && !failed)
        failed = errno ? errno : EIO;
    if (failed) {
        report_file_error(path, "cannot write: %s", strerror(failed));
        return -1;
    }
    return 0;
}

int out_png(out_set *s, const char *path, const uint8_t *pixels, int width,
            int height, int channels)
{
    png_sink sink = {out_stream_open(s, path), 0};
    if (!sink.fp)
        return -1;
    errno = 0;
    if (!stbi_write_png_to_func(png_write, &sink, width, height, channels,
                                pixels, width * channels) &&
        !sink.failed)
        sink.failed = ENOMEM; /* the encoder's only failure is allocation */
    return close_checked(sink.fp, sink.failed, path);
}

typedef struct {
    unsigned char *data;
    size_t len, cap;
    int failed;
} mem_sink;

static void mem_write(void *ctx, void *data, int size)
{
    mem_sink *m = ctx;
    if (m->failed || size <= 0)
        return;
    if (m->len + (size_t)size > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 4096;
        while (cap < m->len + (size_t)size)
            cap *= 2;
        unsigned char *p = realloc(m->data, cap);
        if (!p) {
            m->failed = 1;
            return;
        }
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, (size_t)size);
    m->len += (size_t)size;
}

unsigned char *out_png_memory(const uint8_t *pixels, int width, int height,
                              int channels, size_t *len)
{
    mem_sink m = {NULL, 0, 0, 0};
    if (!stbi_write_png_to_func(mem_write, &m, width, height, channels, pixels,
                                width * channels) ||
        m.failed) {
        free(m.data);
        return NULL;
    }
    *len = m.len;
    return m.data;
}

int out_npy(out_set *s, const char *path, const float *data, const long *shape,
            int ndim, const char *comment)
{
    /* through the set's own temporary file: npy_write's would be a second
     * one, unknown to the signal handler */
    FILE *fp = out_stream_open(s, path);
    if (!fp)
        return -1;
    char err[512];
    if (npy_fwrite(fp, data, shape, ndim, comment, err, sizeof err) != 0) {
        fclose(fp);
        report_file_error(path, "%s", err);
        return -1;
    }
    return out_stream_close(fp, path);
}

int out_json(out_set *s, const char *path, const cJSON *json)
{
    char *text = cJSON_Print(json);
    if (!text) {
        report_file_error(path, "out of memory");
        return -1;
    }
    if (strcmp(path, "-") == 0) {
        free(s->stdout_text);
        s->stdout_text = text;
        return 0;
    }
    FILE *fp = out_stream_open(s, path);
    if (!fp) {
        free(text);
        return -1;
    }
    errno = 0;
    int failed = (fputs(text, fp) < 0 || fputc('\n', fp) == EOF)
                     ? (errno ? errno : EIO)
                     : 0;
    free(text);
    return close_checked(fp, failed, path);
}

int out_text(out_set *s, const char *path, const char *data, size_t len)
{
    FILE *fp = out_stream_open(s, path);
    if (!fp)
        return -1;
    errno = 0;
    int failed = len && fwrite(data, 1, len, fp) != len ? (errno ? errno : EIO)
                                                        : 0;
    return close_checked(fp, failed, path);
}

FILE *out_stream_open(out_set *s, const char *path)
{
    const out_file *f = stage(s, path);
    return f ? open_staged(f) : NULL;
}

int out_stream_close(FILE *fp, const char *path)
{
    /* errno still holds the failed write's error unless something failed
     * after it */
    return close_checked(fp, ferror(fp) ? (errno ? errno : EIO) : 0, path);
}

int out_mkdirs(const char *dir, char **created)
{
    if (created)
        *created = NULL;
    char *p = strdup(dir);
    if (!p) {
        report_file_error(dir, "out of memory");
        return -1;
    }
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        p[--len] = 0;
    /* Each prefix ending before a '/', then the whole path. */
    for (char *c = p + 1;; c++) {
        if (*c && *c != '/')
            continue;
        char saved = *c;
        *c = 0;
        struct stat st;
        if (mkdir(p, 0777) == 0) {
            if (created && !*created)
                *created = strdup(p);
        } else if (errno != EEXIST || stat(p, &st) != 0 ||
                   !S_ISDIR(st.st_mode)) {
            int e = errno == EEXIST ? ENOTDIR : errno;
            report_file_error(p, "cannot create directory: %s", strerror(e));
            free(p);
            return -1;
        }
        *c = saved;
        if (!saved)
            break;
    }
    free(p);
    return 0;
}

void out_rmdirs(const char *dir, const char *top)
{
    if (!dir || !top)
        return;
    char *p = strdup(dir);
    size_t top_len = strlen(top);
    while (p && strlen(p) >= top_len && rmdir(p) == 0) {
        char *slash = strrchr(p, '/');
        if (!slash || strlen(p) == top_len)
            break;
        *slash = 0;
    }
    free(p);
}

int out_print_json_line(const char *cmd, cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text) {
        report_cmd_error(cmd, "out of memory");
        return -1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

int out_flush_results(const char *cmd)
{
    (void)cmd;
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        report_file_error("stdout", "cannot write: %s",
                       strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
