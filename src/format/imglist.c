/*
 * imglist.c - see imglist.h.
 */
#include "format/imglist.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "format/report.h"
#include "io/file.h"

static const char *const extensions[] = {"jpg", "jpeg", "png", "bmp",
                                         "tga", "gif",  "pnm", "ppm",
                                         "pgm", "psd",  NULL};

int imglist_is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return 0;
    for (int i = 0; extensions[i]; i++)
        if (!strcasecmp(dot + 1, extensions[i]))
            return 1;
    return 0;
}

void imglist_free(img_list *list)
{
    for (int i = 0; i < list->n; i++) {
        free(list->items[i].path);
        free(list->items[i].key);
        free(list->items[i].stem);
    }
    free(list->items);
    memset(list, 0, sizeof *list);
}

static char *join(const char *dir, const char *name)
{
    if (!dir || !*dir)
        return strdup(name);
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
                 name);
    return p;
}

/* The key without its extension (the whole key for ".png"). */
static char *make_stem(const char *key)
{
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot > base ? (size_t)(dot - key) : strlen(key);
    return strndup(key, len);
}

static int has_dotdot(const char *key)
{
    for (const char *p = key; (p = strstr(p, "..")); p += 2)
        if ((p == key || p[-1] == '/') && (p[2] == '/' || !p[2]))
            return 1;
    return 0;
}

static int add(img_list *l, const char *path, const char *key)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        img_item *v = realloc(l->items, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        l->items = v;
        l->cap = cap;
    }
    img_item *it = &l->items[l->n];
    const char *stem_of = key;
    if (key[0] == '/' || has_dotdot(key)) {
        const char *slash = strrchr(key, '/');
        stem_of = slash ? slash + 1 : key;
    }
    it->path = strdup(path);
    it->key = strdup(key);
    it->stem = make_stem(stem_of);
    if (!it->path || !it->key || !it->stem) {
        free(it->path);
        free(it->key);
        free(it->stem);
        return -1;
    }
    l->n++;
    return 0;
}

/* ---- folders ------------------------------------------------------------- */

#define MAX_DEPTH 64 /* folders below INPUT, against runaway trees */

typedef struct {
    img_list *list;
    int recursive;
    struct stat skip;
    int has_skip;
    const char *input;
} walk_ctx;

static int walk(walk_ctx *w, const char *dir, const char *rel, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        report_file_error(dir, "cannot read folder: %s", strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        const char *name = e->d_name;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        char *path = join(dir, name), *key = join(rel, name);
        struct stat st;
        int linfo = 0;
        if (!path || !key) {
            report_file_error(w->input, "out of memory");
            rc = -1;
        } else if ((linfo = lstat(path, &st) == 0) && S_ISDIR(st.st_mode)) {
            int skip = w->has_skip && st.st_dev == w->skip.st_dev &&
                       st.st_ino == w->skip.st_ino;
            if (!w->recursive || name[0] == '.' || skip)
                ;
            else if (depth >= MAX_DEPTH) /* said, not silently dropped */
                report_file_error(path, "skipped: deeper than %d folders",
                               MAX_DEPTH);
            else
                rc = walk(w, path, key, depth + 1);
        } else if (linfo && S_ISLNK(st.st_mode) && stat(path, &st) == 0 &&
                   S_ISDIR(st.st_mode)) {
            /* not followed (a link may loop, or lead out of INPUT) */
            int skip = w->has_skip && st.st_dev == w->skip.st_dev &&
                       st.st_ino == w->skip.st_ino;
            if (w->recursive && name[0] != '.' && !skip)
                report_file_error(path, "symlinked folder not followed");
        } else if (imglist_is_image_name(name) &&
                   (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))) {
            /* Unreadable or odd files are kept: they fail, named, later. */
            if (add(w->list, path, key)) {
                report_file_error(w->input, "out of memory");
                rc = -1;
            }
        }
        free(path);
        free(key);
    }
    closedir(d);
    return rc;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const img_item *)a)->key, ((const img_item *)b)->key);
}

/* ---- list files ---------------------------------------------------------- */

#define NOT_A_LIST "expected a folder or a text file listing images"

/* 1 when the file starts like a PNG, JPEG, GIF, BMP or PSD. */
static int looks_like_image(FILE *fp)
{
    static const char *const magic[] = {"\x89PNG", "\xff\xd8\xff", "GIF8",
                                        "BM", "8BPS"};
    char head[8] = {0};
    rewind(fp);
    size_t n = fread(head, 1, sizeof head, fp);
    for (size_t i = 0; i < sizeof magic / sizeof magic[0]; i++)
        if (n >= strlen(magic[i]) && !memcmp(head, magic[i], strlen(magic[i])))
            return 1;
    return 0;
}

static int read_list(img_list *l, const char *input)
{
    /* Without blocking on a FIFO; only regular files (see io/file.h). */
    char why[128];
    FILE *fp = file_fopen_input(input, NULL, why, sizeof why);
    if (!fp) {
        report_file_error(input, "cannot open file: %s", why);
        return -1;
    }
    const char *slash = strrchr(input, '/');
    char *dir = slash ? strndup(input, (size_t)(slash - input) + 1) : NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0, line_no = 0;
    while (rc == 0 && (len = getline(&line, &cap, fp)) >= 0) {
        line_no++;
        if (strlen(line) != (size_t)len) {
            /* most often an image given as INPUT by mistake */
            if (looks_like_image(fp))
                report_file_error(input, "%s (this looks like an image)",
                               NOT_A_LIST);
            else
                report_file_error(input, "%s (line %d: NUL byte, not text)",
                               NOT_A_LIST, line_no);
            rc = -1;
            break;
        }
        while (len > 0 && strchr(" \t\r\n", line[len - 1]))
            line[--len] = 0;
        char *p = line + strspn(line, " \t");
        if (!*p || *p == '#')
            continue;
        const char *key = p;
        while (key[0] == '.' && key[1] == '/')
            key += 2 + strspn(key + 2, "/");
        char *path = p[0] == '/' ? strdup(p) : join(dir, p);
        if (!path || add(l, path, key)) {
            report_file_error(input, "out of memory");
            rc = -1;
        }
        free(path);
    }
    if (rc == 0 && ferror(fp)) {
        report_file_error(input, "cannot read file: %s", strerror(errno));
        rc = -1;
    }
    free(line);
    free(dir);
    fclose(fp);
    return rc;
}

int imglist_read(const char *input, int recursive, const char *skip,
                 img_list *list)
{
    memset(list, 0, sizeof *list);
    struct stat st;
    if (stat(input, &st) != 0) {
        report_file_error(input, "cannot open: %s", strerror(errno));
        return -1;
    }
    int rc;
    if (S_ISDIR(st.st_mode)) {
        walk_ctx w = {list, recursive, {0}, 0, input};
        w.has_skip = skip && stat(skip, &w.skip) == 0;
        rc = walk(&w, input, "", 0);
        if (rc == 0 && list->n > 1)
            qsort(list->items, (size_t)list->n, sizeof *list->items, key_cmp);
    } else if (imglist_is_image_name(input)) {
        report_file_error(input, "%s (this looks like an image)", NOT_A_LIST);
        rc = -1;
    } else {
        list->from_list = 1;
        rc = read_list(list, input);
    }
    if (rc)
        imglist_free(list);
    return rc;
}
