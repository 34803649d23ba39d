/*
 * batchfiles.h - where `mobilesam batch` puts an image's files, and the
 * bookkeeping that makes a run resumable:
 *   OUTDIR/<stem>_<object>_<mask>.png   masks
 *   OUTDIR/<stem>.txt                   YOLO segmentation labels
 *   OUTDIR/<stem>_overlay.png           overlay
 *   OUTDIR/.mobilesam/<stem>.coco.json  the image's COCO record (coco.h)
 *   OUTDIR/.mobilesam/<stem>.done       written last: the image is complete
 * The marker (text, versioned) holds the outputs asked for, two
 * fingerprints (the run's options and the image's inputs) and the name of
 * every file written for the image:
 *   mobilesam-batch-marker 2
 *   outputs png yolo coco
 *   options 0123456789abcdef
 *   input fedcba9876543210
 *   file _0_0.png
 *   file .txt
 *   end
 * ("file" lines are suffixes of OUTDIR/<stem>, of the shapes above only).
 * An image is skipped (unless --overwrite) when its marker is valid, both
 * fingerprints match, it has every output asked for and every file it lists
 * exists. A redo deletes the marker first (so that a run killed half-way
 * through an image redoes it next time), then the files the marker listed:
 * only files this tool wrote are ever deleted; no marker, or one that does
 * not parse, deletes nothing.
 */
#ifndef MOBILESAM_FORMAT_BATCHFILES_H
#define MOBILESAM_FORMAT_BATCHFILES_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define BF_PNG 1u
#define BF_YOLO 2u
#define BF_COCO 4u
#define BF_OVERLAY 8u

typedef struct {
    char out[PATH_MAX];  /* OUTDIR/<stem>: prefix of the outputs */
    char meta[PATH_MAX]; /* OUTDIR/.mobilesam/<stem>: prefix of the records */
} bf_paths;

/* Fills the prefixes. Returns 0, or -1 after an error (path too long). */
int bf_paths_make(bf_paths *p, const char *outdir, const char *stem);

/* prefix + suffix into buf (PATH_MAX); -1 after an error when too long. */
int bf_name(char *buf, const char *prefix, const char *suffix);
/* OUTDIR/<stem>_<object>_<mask>.png */
int bf_mask_name(char *buf, const char *prefix, int object, int mask);

/* Creates the folders of both prefixes. Returns 0, or -1 after an error. */
int bf_make_dirs(const bf_paths *p);

/* 64-bit FNV-1a, for the fingerprints: start with BF_HASH_INIT. */
#define BF_HASH_INIT 0xcbf29ce484222325ull
uint64_t bf_hash(uint64_t h, const void *data, size_t len);
uint64_t bf_hash_str(uint64_t h, const char *s); /* with its NUL */

typedef struct {
    unsigned outputs;          /* BF_* */
    uint64_t options, input;   /* fingerprints */
    char **files;              /* suffixes of the output prefix */
    int n_files, cap;
} bf_marker;

/* Reads the image's marker into m (emptied first). Returns 1 when there is
 * a valid one, 0 when none, or it does not parse (m empty then). */
int bf_marker_read(const bf_paths *p, bf_marker *m);
void bf_marker_free(bf_marker *m);
/* Adds the file at `path` (OUTDIR/<stem>... = p->out + a suffix) to the
 * list. Returns 0, or -1 when out of memory. */
int bf_marker_add(bf_marker *m, const bf_paths *p, const char *path);
/* The marker's text (malloc'd), or NULL when out of memory. */
char *bf_marker_text(const bf_marker *m);
/* 1 when every file the marker lists exists (and the COCO record, when it
 * lists coco). */
int bf_marker_files_exist(const bf_paths *p, const bf_marker *m);
/* Deletes the marker (the image is no longer complete). */
void bf_marker_remove(const bf_paths *p);

/* Tells bf_remove_listed which files must stay (the inputs of the run). */
typedef int (*bf_keep_fn)(const char *path, void *ctx);
/* Deletes the files the (old) marker lists, and its COCO record, except
 * those keep() accepts. */
void bf_remove_listed(const bf_paths *p, const bf_marker *m, bf_keep_fn keep,
                      void *ctx);

/* After a killed run: removes this image's temporary files
 * ("<output>.tmp.<pid>") left by another process. */
void bf_sweep_temporaries(const bf_paths *p);

#endif
