/*
 * batchfiles.c - see batchfiles.h. File names are matched exactly (the stem,
 * then one of the known suffixes), so that images whose stems share a
 * prefix ("a" and "a_1") never touch each other's files.
 */
#include "batchfiles.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "io/file.h"
#include "output.h"

static const char *const output_names[] = {"png", "yolo", "coco", "overlay"};
#define N_OUTPUT_NAMES 4

int bf_name(char *buf, const char *prefix, const char *suffix)
{
    int n = snprintf(buf, PATH_MAX, "%s%s", prefix, suffix);
    if (n < 0 || n >= PATH_MAX) {
        cli_file_error(prefix, "path too long");
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
        cli_file_error(outdir, "output path too long for '%s'", stem);
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

unsigned bf_marker_read(const bf_paths *p)
{
    char path[PATH_MAX], text[256];
    if (bf_name(path, p->meta, ".done"))
        return 0;
    /* a FIFO in its place must not block the run (see io/file.h) */
    FILE *fp = file_fopen_input(path, NULL, NULL, 0);
    if (!fp)
        return 0;
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = 0;
    unsigned outputs = 0;
    for (char *tok = strtok(text, " \n"); tok; tok = strtok(NULL, " \n"))
        for (int i = 0; i < N_OUTPUT_NAMES; i++)
            if (!strcmp(tok, output_names[i]))
                outputs |= 1u << i;
    return outputs;
}

void bf_marker_text(unsigned outputs, char *buf)
{
    buf[0] = 0;
    for (int i = 0; i < N_OUTPUT_NAMES; i++)
        if (outputs & (1u << i)) {
            if (buf[0])
                strcat(buf, " ");
            strcat(buf, output_names[i]);
        }
    strcat(buf, "\n");
}

void bf_marker_remove(const bf_paths *p)
{
    char path[PATH_MAX];
    if (bf_name(path, p->meta, ".done") == 0)
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

typedef struct {
    int n_objects, masks_per_object;
} mask_limits;

static int stale_mask(const char *rest, void *ctx)
{
    const mask_limits *l = ctx;
    int o, m;
    size_t n = match_mask_suffix(rest, &o, &m);
    return n && !rest[n] && (o >= l->n_objects || m >= l->masks_per_object);
}

void bf_remove_stale_masks(const bf_paths *p, int n_objects,
                           int masks_per_object)
{
    mask_limits l = {n_objects, masks_per_object};
    remove_matching(p->out, stale_mask, &l);
}
