/*
 * batchfiles.h - where `mobilesam batch` puts an image's files, and the
 * bookkeeping that makes a run resumable:
 *   OUTDIR/<stem>_<object>_<mask>.png   masks
 *   OUTDIR/<stem>.txt                   YOLO segmentation labels
 *   OUTDIR/<stem>_overlay.png           overlay
 *   OUTDIR/.mobilesam/<stem>.coco.json  the image's COCO record (coco.h)
 *   OUTDIR/.mobilesam/<stem>.done       written last: the image is complete;
 *                                       lists the outputs it has ("png yolo
 *                                       coco overlay")
 * An image whose marker lists every output asked for is skipped (unless
 * --overwrite); one being redone loses its marker first, so that a run
 * killed half-way through an image redoes it next time.
 */
#ifndef MOBILESAM_CLI_BATCHFILES_H
#define MOBILESAM_CLI_BATCHFILES_H

#include <limits.h>

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

/* The outputs (BF_* bits) the image's marker lists; 0 when it has none. */
unsigned bf_marker_read(const bf_paths *p);
/* The marker's text for `outputs`, e.g. "png yolo\n", into buf (64). */
void bf_marker_text(unsigned outputs, char *buf);
/* Deletes the marker (the image is no longer complete). */
void bf_marker_remove(const bf_paths *p);

/* After a killed run: removes this image's temporary files
 * ("<output>.tmp.<pid>") left by another process. */
void bf_sweep_temporaries(const bf_paths *p);
/* Removes <stem>_<o>_<m>.png masks that this run did not write (object
 * o >= n_objects, or mask m >= masks_per_object): leftovers of an earlier
 * run with more objects. */
void bf_remove_stale_masks(const bf_paths *p, int n_objects,
                           int masks_per_object);

#endif
