/*
 * output.c - see output.h. PNGs go through stbi_write_png_to_func so that
 * write errors (full disk, missing directory) are seen with their errno.
 */
#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h>

#include "common.h"
#include "io/npy.h"

void out_init(out_set *s)
{
    memset(s, 0, sizeof *s);
}

static void free_set(out_set *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->files[i].path);
        free(s->files[i].tmp);
    }
    free(s->files);
    free(s->stdout_text);
    out_init(s);
}

void out_abort(out_set *s)
{
    for (int i = 0; i < s->n; i++)
        unlink(s->files[i].renamed ? s->files[i].path : s->files[i].tmp);
    free_set(s);
}

/* Registers `path`; returns its temporary name, or NULL after an error (the
 * same output named twice in one run would silently lose one of them). */
static const char *stage(out_set *s, const char *path)
{
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->files[i].path, path) == 0) {
            cli_file_error(path, "named twice as an output");
            return NULL;
        }
    }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        out_file *f = realloc(s->files, (size_t)cap * sizeof *f);
        if (!f)
            goto nomem;
        s->files = f;
        s->cap = cap;
    }
    size_t len = strlen(path) + 32;
    out_file *f = &s->files[s->n];
    f->path = strdup(path);
    f->tmp = malloc(len);
    f->renamed = 0;
    if (!f->path || !f->tmp) {
        free(f->path);
        free(f->tmp);
        goto nomem;
    }
    snprintf(f->tmp, len, "%s.tmp.%ld", path, (long)getpid());
    s->n++;
    return f->tmp;
nomem:
    cli_file_error(path, "out of memory");
    return NULL;
}

int out_commit(out_set *s)
{
    for (int i = 0; i < s->n; i++) {
        out_file *f = &s->files[i];
        if (rename(f->tmp, f->path) != 0) {
            cli_file_error(f->path, "cannot create file: %s", strerror(errno));
            out_abort(s);
            return -1;
        }
        f->renamed = 1;
    }
    if (s->stdout_text) {
        fputs(s->stdout_text, stdout);
        fputc('\n', stdout);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            cli_error("cannot write to stdout: %s", strerror(errno));
            out_abort(s);
            return -1;
        }
    }
    free_set(s);
    return 0;
}

int out_check_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
    if (!dir) {
        cli_file_error(path, "out of memory");
        return -1;
    }
    int rc = access(dir, W_OK | X_OK);
    if (rc)
        cli_file_error(path, "cannot create file: %s", strerror(errno));
    free(dir);
    return rc ? -1 : 0;
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
        cli_file_error(path, "cannot write file: %s", strerror(failed));
        return -1;
    }
    return 0;
}

int out_png(out_set *s, const char *path, const uint8_t *pixels, int width,
            int height, int channels)
{
    const char *tmp = stage(s, path);
    if (!tmp)
        return -1;
    png_sink sink = {fopen(tmp, "wb"), 0};
    if (!sink.fp) {
        cli_file_error(path, "cannot create file: %s", strerror(errno));
        return -1;
    }
    errno = 0;
    if (!stbi_write_png_to_func(png_write, &sink, width, height, channels,
                                pixels, width * channels) &&
        !sink.failed)
        sink.failed = ENOMEM; /* the encoder's only failure is allocation */
    return close_checked(sink.fp, sink.failed, path);
}

int out_npy(out_set *s, const char *path, const float *data, const long *shape,
            int ndim, const char *comment)
{
    const char *tmp = stage(s, path);
    if (!tmp)
        return -1;
    char err[512];
    if (npy_write(tmp, data, shape, ndim, comment, err, sizeof err) != 0) {
        cli_file_error(path, "%s", err);
        return -1;
    }
    return 0;
}

int out_json(out_set *s, const char *path, const cJSON *json)
{
    char *text = cJSON_Print(json);
    if (!text) {
        cli_file_error(path, "out of memory");
        return -1;
    }
    if (strcmp(path, "-") == 0) {
        free(s->stdout_text);
        s->stdout_text = text;
        return 0;
    }
    const char *tmp = stage(s, path);
    FILE *fp = tmp ? fopen(tmp, "w") : NULL;
    if (!fp) {
        if (tmp)
            cli_file_error(path, "cannot create file: %s", strerror(errno));
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
    const char *tmp = stage(s, path);
    if (!tmp)
        return NULL;
    FILE *fp = fopen(tmp, "wb");
    if (!fp)
        cli_file_error(path, "cannot create file: %s", strerror(errno));
    return fp;
}

int out_stream_close(FILE *fp, const char *path)
{
    return close_checked(fp, ferror(fp) ? EIO : 0, path);
}

int out_mkdirs(const char *dir, char **created)
{
    if (created)
        *created = NULL;
    char *p = strdup(dir);
    if (!p) {
        cli_file_error(dir, "out of memory");
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
            cli_file_error(p, "cannot create directory: %s", strerror(e));
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
        cli_cmd_error(cmd, "out of memory");
        return -1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

int out_flush_results(const char *cmd)
{
    if (fflush(stdout) != 0) {
        cli_cmd_error(cmd, "cannot write the results to stdout");
        return -1;
    }
    return 0;
}
