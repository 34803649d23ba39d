/*
 * output.h - all-or-nothing output files. Every file of a run is first
 * written to "<path>.tmp.<pid>"; out_commit() renames them all into place at
 * the end. If anything fails before (or during) the commit, every file this
 * run created is removed, so a failed command leaves no partial output and
 * does not clobber files it would have replaced.
 *
 * Each writer prints its own one-line error naming the final path.
 */
#ifndef MOBILESAM_CLI_OUTPUT_H
#define MOBILESAM_CLI_OUTPUT_H

#include <stdint.h>

#include <cJSON.h>

typedef struct {
    char *path; /* final name */
    char *tmp;  /* where it is written until the commit */
    int renamed;
} out_file;

typedef struct {
    out_file *files;
    int n, cap;
    char *stdout_text; /* JSON for "-", printed once the files are in place */
} out_set;

void out_init(out_set *s);
/* Removes every file of the set (temporary or renamed) and frees it. */
void out_abort(out_set *s);
/* Renames every file into place, then prints the stdout text. Returns 0, or
 * -1 after printing an error and undoing everything. Frees the set. */
int out_commit(out_set *s);

/* Checks, before any long computation, that `path` can be created: its
 * directory exists and is writable. Returns 0, or -1 after an error. */
int out_check_dir(const char *path);

/* Writers; return 0, or -1 after printing an error. */
int out_png(out_set *s, const char *path, const uint8_t *pixels, int width,
            int height, int channels);
int out_npy(out_set *s, const char *path, const float *data, const long *shape,
            int ndim, const char *comment);
/* Pretty-printed JSON and a newline; path "-" means stdout (printed by
 * out_commit, after every file is in place). */
int out_json(out_set *s, const char *path, const cJSON *json);

#endif
