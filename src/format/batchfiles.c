/*
 * batchfiles.c - see batchfiles.h. File names are matched exactly (the stem,
 * then one of the known suffixes), so that images whose stems share a
 * prefix ("a" and "a_1") never touch each other's files, and a marker
 * names only files of those shapes (so even an edited one can make the tool
 * delete nothing else).
 */
#include "format/batchfiles.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/report.h"
#include "io/file.h"
#include "format/output.h"

static const char *const output_names[] = {"png", "yolo", "coco", "overlay"};
#define N_OUTPUT_NAMES 4

int bf_name(char *buf, const char *prefix, const char *suffix)
{
    int n = snprintf(buf, PATH_MAX, "%s%s", prefix, suffix);
    if (n < 0 || n >= PATH_MAX) {
        report_file_error(prefix, "path too long");
        return -1;
    }
    return 0;
}

int bf_mask_name(char *buf, const char *prefix, int object, int mask)
{
    char suffix[64];
    snprintf(suffix, sizeof suffix, "_%d_%d.png", object, mask);
    return bf_name(buf, prefix, suffix);
}

int bf_paths_make(bf_paths *p, const char *outdir, const char *stem)
{
    const char *sep = outdir[strlen(outdir) - 1] == '/' ? "" : "/";
    int a = snprintf(p->out, PATH_MAX, "%s%s%s", outdir, sep, stem);
    int b = snprintf(p->meta, PATH_MAX, "%s%s.mobilesam/%s", outdir, sep, stem);
    if (a < 0 || b < 0 || a >= PATH_MAX - 64 || b >= PATH_MAX - 64) {
        report_file_error(outdir, "output path too long for '%s'", stem);
        return -1;
    }
    return 0;
}

/* The folder part of a prefix ("" when none). */
static void dir_of(const char *prefix, char *dir)
{
    const char *slash = strrchr(prefix, '/');
    size_t n = slash ? (size_t)(slash - prefix) : 0;
    memcpy(dir, prefix, n);
    dir[n] = 0;
}

int bf_make_dirs(const bf_paths *p)
{
    char dir[PATH_MAX];
    dir_of(p->out, dir);
    if (*dir && out_mkdirs(dir, NULL))
        return -1;
    dir_of(p->meta, dir);
    return out_mkdirs(dir, NULL);
}

uint64_t bf_hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t bf_hash_str(uint64_t h, const char *s)
{
    return bf_hash(h, s ? s : "", strlen(s ? s : "") + 1);
}

#define MARKER_HEADER "mobilesam-batch-marker 2"
#define MARKER_MAX (64u << 20) /* far above any real list of files */

static int is_output_suffix(const char *s);

void bf_marker_free(bf_marker *m)
{
    for (int i = 0; i < m->n_files; i++)
        free(m->files[i]);
    free(m->files);
    memset(m, 0, sizeof *m);
}

static int add_suffix(bf_marker *m, const char *suffix)
{
    if (m->n_files == m->cap) {
        int cap = m->cap ? 2 * m->cap : 16;
        char **v = realloc(m->files, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        m->files = v;
        m->cap = cap;
    }
    if (!(m->files[m->n_files] = strdup(suffix)))
        return -1;
    m->n_files++;
    return 0;
}

int bf_marker_add(bf_marker *m, const bf_paths *p, const char *path)
{
    size_t n = strlen(p->out);
    if (strncmp(path, p->out, n) || !is_output_suffix(path + n))
        return 0; /* not an output of ours: never listed, never deleted */
    return add_suffix(m, path + n);
}

static int parse_hex64(const char *s, uint64_t *v)
{
    if (strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16)
        return -1;
    *v = strtoull(s, NULL, 16);
    return 0;
}

/* One line of the marker; -1 when it does not belong there. */
static int parse_marker_line(bf_marker *m, char *line, int *seen)
{
    char *arg = strchr(line, ' ');
    if (arg)
        *arg++ = 0;
    if (!strcmp(line, "outputs")) {
        for (char *tok = arg ? strtok(arg, " ") : NULL; tok;
             tok = strtok(NULL, " ")) {
            int i = 0;
            while (i < N_OUTPUT_NAMES && strcmp(tok, output_names[i]))
                i++;
            if (i == N_OUTPUT_NAMES)
                return -1;
            m->outputs |= 1u << i;
        }
        *seen |= 1;
        return 0;
    }
    if (!strcmp(line, "options") && arg && !parse_hex64(arg, &m->options)) {
        *seen |= 2;
        return 0;
    }
    if (!strcmp(line, "input") && arg && !parse_hex64(arg, &m->input)) {
        *seen |= 4;
        return 0;
    }
    if (!strcmp(line, "file") && arg && is_output_suffix(arg))
        return add_suffix(m, arg);
    return -1;
}

int bf_marker_read(const bf_paths *p, bf_marker *m)
{
    memset(m, 0, sizeof *m);
    char path[PATH_MAX];
    if (bf_name(path, p->meta, ".done"))
        return 0;
    /* a FIFO in its place must not block the run (see io/file.h) */
    FILE *fp = file_fopen_input(path, NULL, NULL, 0);
    if (!fp)
        return 0;
    char *line = NULL;
    size_t cap = 0, total = 0;
    ssize_t len;
    int ok = 0, seen = 0, line_no = 0;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        total += (size_t)len;
        if (ok || total > MARKER_MAX || strlen(line) != (size_t)len ||
            len == 0 || line[len - 1] != '\n') {
            ok = 0; /* text after "end", binary, or cut short */
            break;
        }
        line[len - 1] = 0;
        if (line_no++ == 0) {
            if (strcmp(line, MARKER_HEADER))
                break; /* another version, or not a marker */
        } else if (!strcmp(line, "end")) {
            ok = seen == 7;
            if (!ok)
                break;
        } else if (parse_marker_line(m, line, &seen)) {
            break;
        }
    }
    if (ferror(fp))
        ok = 0;
    free(line);
    fclose(fp);
    if (!ok)
        bf_marker_free(m);
    return ok;
}

char *bf_marker_text(const bf_marker *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return NULL;
    fprintf(mem, "%s\noutputs", MARKER_HEADER);
    for (int i = 0; i < N_OUTPUT_NAMES; i++)
        if (m->outputs & (1u << i))
            fprintf(mem, " %s", output_names[i]);
    fprintf(mem, "\noptions %016llx\ninput %016llx\n",
            (unsigned long long)m->options, (unsigned long long)m->input);
    for (int i = 0; i < m->n_files; i++)
        fprintf(mem, "file %s\n", m->files[i]);
    fputs("end\n", mem);
    if (fclose(mem)) {
        free(text);
        return NULL;
    }
    return text;
}

int bf_marker_files_exist(const bf_paths *p, const bf_marker *m)
{
    char path[PATH_MAX];
    struct stat st;
    for (int i = 0; i < m->n_files; i++)
        if (bf_name(path, p->out, m->files[i]) || stat(path, &st) != 0)
            return 0;
    if ((m->outputs & BF_COCO) &&
        (bf_name(path, p->meta, ".coco.json") || stat(path, &st) != 0))
        return 0;
    return 1;
}

void bf_marker_remove(const bf_paths *p)
{
    char path[PATH_MAX];
    if (bf_name(path, p->meta, ".done") == 0)
        unlink(path);
}

void bf_remove_listed(const bf_paths *p, const bf_marker *m, bf_keep_fn keep,
                      void *ctx)
{
    char path[PATH_MAX];
    for (int i = 0; i < m->n_files; i++)
        if (bf_name(path, p->out, m->files[i]) == 0 &&
            !(keep && keep(path, ctx)))
            unlink(path);
    if ((m->outputs & BF_COCO) && bf_name(path, p->meta, ".coco.json") == 0)
        unlink(path);
}

/* "_<digits>_<digits>.png" at s: returns the length matched (0 if none) and
 * the two numbers. */
static size_t match_mask_suffix(const char *s, int *object, int *mask)
{
    const char *p = s;
    if (*p++ != '_')
        return 0;
    size_t d1 = strspn(p, "0123456789");
    if (!d1 || d1 > 9 || p[d1] != '_')
        return 0;
    *object = atoi(p);
    p += d1 + 1;
    size_t d2 = strspn(p, "0123456789");
    if (!d2 || d2 > 9 || strncmp(p + d2, ".png", 4))
        return 0;
    *mask = atoi(p);
    return (size_t)(p + d2 + 4 - s);
}

/* ".tmp.<digits>" exactly, not of this process. */
static int is_foreign_tmp(const char *s)
{
    if (strncmp(s, ".tmp.", 5))
        return 0;
    size_t d = strspn(s + 5, "0123456789");
    return d && !s[5 + d] && atol(s + 5) != (long)getpid();
}

typedef int (*entry_fn)(const char *rest, void *ctx);

/* Calls fn on the part after the prefix's base name of every entry of the
 * prefix's folder that starts with it; removes those fn accepts. */
static void remove_matching(const char *prefix, entry_fn fn, void *ctx)
{
    char dir[PATH_MAX], path[PATH_MAX];
    dir_of(prefix, dir);
    const char *base = prefix + strlen(dir) + (*dir ? 1 : 0);
    size_t base_len = strlen(base);
    DIR *d = opendir(*dir ? dir : ".");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, base, base_len) ||
            !fn(e->d_name + base_len, ctx))
            continue;
        int n = snprintf(path, sizeof path, "%s%s%s", dir, *dir ? "/" : "",
                         e->d_name);
        if (n > 0 && n < (int)sizeof path)
            unlink(path);
    }
    if (d)
        closedir(d);
}

static int output_temporary(const char *rest, void *ctx)
{
    (void)ctx;
    int o, m;
    size_t n = match_mask_suffix(rest, &o, &m);
    if (!n && !strncmp(rest, ".txt", 4))
        n = 4;
    else if (!n && !strncmp(rest, "_overlay.png", 12))
        n = 12;
    return n && is_foreign_tmp(rest + n);
}

static int record_temporary(const char *rest, void *ctx)
{
    (void)ctx;
    size_t n = !strncmp(rest, ".coco.json", 10) ? 10
               : !strncmp(rest, ".done", 5)     ? 5
                                                : 0;
    return n && is_foreign_tmp(rest + n);
}

void bf_sweep_temporaries(const bf_paths *p)
{
    remove_matching(p->out, output_temporary, NULL);
    remove_matching(p->meta, record_temporary, NULL);
}

/* One of the names the batch writes after the output prefix, exactly:
 * "_<o>_<m>.png", ".txt", "_overlay.png". */
static int is_output_suffix(const char *s)
{
    int o, m;
    size_t n = match_mask_suffix(s, &o, &m);
    return (n && !s[n]) || !strcmp(s, ".txt") || !strcmp(s, "_overlay.png");
}
