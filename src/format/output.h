/*
 * output.h - all-or-nothing output files. Every file of a run is first
 * written to "<path>.tmp.<pid>"; out_commit() renames them all into place at
 * the end. If anything fails before (or during) the commit, every file this
 * run created is removed, so a failed command leaves no partial output and
 * does not clobber files it would have replaced.
 *
 * A symlink is followed: the file it names (or would name) gets the content
 * the same way, and the link stays. A path that is a device, FIFO or socket
 * is written in place, as soon as its writer runs (a FIFO waits for its
 * reader): renaming over it would replace it with a regular file.
 *
 * A temporary name that would be too long (past PATH_MAX or NAME_MAX) is
 * replaced by a shorter one in the same directory,
 * ".msam.<pid>.<counter>.tmp". Temporary files, and an output folder the
 * run created (out_track_dir), are removed too when the process is killed
 * by SIGINT, SIGTERM or SIGHUP (out_catch_signals).
 *
 * Each writer prints its own one-line error naming the final path.
 * Also: results that a command prints on stdout (out_print_json_line,
 * out_flush_results), and telling whether two paths name the same file.
 */
#ifndef MOBILESAM_FORMAT_OUTPUT_H
#define MOBILESAM_FORMAT_OUTPUT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <cJSON.h>

/* What a path names, to tell whether two paths are the same file: its
 * device and inode when it exists, else the real path of its directory plus
 * its name (symlinks followed either way). */
typedef struct {
    char *key;
    int exists;
    dev_t dev;
    ino_t ino;
} out_file_id;

/* 0, or -1 when out of memory (nothing printed). */
int out_file_id_get(const char *path, out_file_id *id);
int out_file_id_same(const out_file_id *a, const out_file_id *b);
void out_file_id_free(out_file_id *id);
/* 1 when a and b name the same file (out_file_id), else 0. */
int out_same_file(const char *a, const char *b);

typedef struct {
    char *path;   /* final name, as given (for messages) */
    char *target; /* path with its symlinks followed: where it goes */
    char *tmp;    /* where it is written until the commit; NULL when it is
                     written in place (a device, a FIFO) */
    int renamed;
    out_file_id id;
} out_file;

typedef struct {
    out_file *files;
    int n, cap;
    char *stdout_text; /* JSON for "-", printed once the files are in place */
} out_set;

/* Installs, once at start, the handler of SIGINT, SIGTERM and SIGHUP
 * (those not ignored by whoever started the process): it removes the
 * temporary files that exist at that moment and the folder out_track_dir
 * names while it is empty, then dies of the signal (exit status 128+N). */
void out_catch_signals(void);
/* The folder out_mkdirs created (`dir`, with its parents up to `top`), to
 * be removed by that handler while empty; out_untrack_dir() forgets it. */
void out_track_dir(const char *dir, const char *top);
void out_untrack_dir(void);

void out_init(out_set *s);
/* Removes every file of the set (temporary or renamed) and frees it. */
void out_abort(out_set *s);
/* Renames every file into place, then prints the stdout text. Returns 0, or
 * -1 after printing an error and undoing everything. Frees the set. */
int out_commit(out_set *s);

/* Checks, before any long computation, that `path` can be written: not a
 * directory; a device or FIFO that may be written; else its directory (the
 * symlink's target's) exists and is writable. Returns 0, or -1 after an
 * error. */
int out_check_dir(const char *path);

/* Writers; return 0, or -1 after printing an error. */
int out_png(out_set *s, const char *path, const uint8_t *pixels, int width,
            int height, int channels);
/* The PNG out_png writes, in memory (malloc'd, *len bytes); NULL when out
 * of memory. */
unsigned char *out_png_memory(const uint8_t *pixels, int width, int height,
                              int channels, size_t *len);
int out_npy(out_set *s, const char *path, const float *data, const long *shape,
            int ndim, const char *comment);
/* Pretty-printed JSON and a newline; path "-" means stdout (printed by
 * out_commit, after every file is in place). */
int out_json(out_set *s, const char *path, const cJSON *json);

/* Raw bytes, as a file (a text file, a marker); len 0 makes an empty one. */
int out_text(out_set *s, const char *path, const char *data, size_t len);

/* A file written piece by piece (too big to build in memory): returns the
 * stream of its temporary name, or NULL after an error. Finish it with
 * out_stream_close(), which reports write errors (0, or -1 after an
 * error); it is committed or aborted with the rest of the set. */
FILE *out_stream_open(out_set *s, const char *path);
int out_stream_close(FILE *fp, const char *path);

/* mkdir -p: creates `dir` and its missing parents. If `created` is given it
 * receives the outermost directory this call created (malloc'd), or NULL
 * when all existed, for out_rmdirs() after a failure. Returns 0, or -1
 * after an error naming the directory. */
int out_mkdirs(const char *dir, char **created);
/* Removes `dir` and its parents up to and including `top` while they are
 * empty (undoes out_mkdirs). */
void out_rmdirs(const char *dir, const char *top);

/* Prints `json` unformatted, on one line of stdout, and deletes it. Returns
 * 0, or -1 after "mobilesam <cmd>: out of memory". */
int out_print_json_line(const char *cmd, cJSON *json);
/* Flushes stdout. Returns 0, or -1 after "mobilesam: stdout: cannot write:
 * <reason>" (cmd is unused). */
int out_flush_results(const char *cmd);

#endif
