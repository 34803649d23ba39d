/*
 * coco.h - COCO instance annotations for `mobilesam batch --format coco`.
 * Each finished image keeps its own record, OUTDIR/.mobilesam/<stem>.coco.json:
 *   {"file_name": ..., "width": W, "height": H,
 *    "annotations": [{"category_id", "segmentation": {"size": [H, W],
 *                     "counts": [...]}, "area", "bbox": [x, y, w, h],
 *                     "iscrowd": 0, "score"}, ...]}
 * and the run's OUTDIR/annotations.json is assembled from the records at
 * the end (so a resumed or sharded run still gets the whole set), with
 * image ids from the image order and annotation ids numbered 1, 2, ...
 * Segmentations are uncompressed RLE, column-major as pycocotools
 * (mobilesam_mask_to_rle); bbox is the tight box, w = x1 - x0 + 1 as
 * pycocotools' toBbox gives.
 */
#ifndef MOBILESAM_FORMAT_COCO_H
#define MOBILESAM_FORMAT_COCO_H

#include <stdint.h>

#include <cJSON.h>

#include "mobilesam.h"

#include "format/output.h"

/* {"size": [h, w], "counts": [...]} of a 0/nonzero mask; NULL when out of
 * memory. */
cJSON *coco_rle(const uint8_t *mask, int width, int height);

/* The record `everything` writes for one mask of the generator (as the
 * official SamAutomaticMaskGenerator's "uncompressed_rle" output):
 * {"segmentation": RLE, "area", "bbox", "predicted_iou", "point_coords":
 * [[x, y]], "stability_score", "crop_box"}; NULL when out of memory. */
cJSON *coco_amg_record(const mobilesam_amg_mask *m, int width, int height);

/* pycocotools' compressed form of uncompressed counts (rleToString, the
 * "counts" string of a "coco_rle" output); malloc'd, NULL when out of
 * memory. */
char *coco_rle_string(const int *counts, int n);
/* Decodes an RLE object, {"size": [h, w], "counts": [...] or "string"},
 * for an image of width x height into mask (0/255). Returns 0, or -1 with
 * the reason in why. */
int coco_rle_decode(const cJSON *rle, int width, int height, uint8_t *mask,
                    char *why, size_t n);

/* Pixels in the mask and its tight box [x, y, w, h] (zeros when empty). */
long coco_mask_stats(const uint8_t *mask, int width, int height, int bbox[4]);

/* A new per-image record without annotations; NULL when out of memory. */
cJSON *coco_record(const char *file_name, int width, int height);
/* Adds one annotation for the mask. Returns 0, or -1 when out of memory. */
int coco_add(cJSON *record, const uint8_t *mask, int category, float score);

typedef struct {
    const char *path; /* the record file */
    int image_id;
} coco_input;

/* Writes the whole-run file `path` (through the output set) from the
 * records: "images", "annotations", and "categories" listing every
 * category_id used plus `extra` ones; a category is named
 * printf(name_format, id), e.g. "class_%d". Streams, so that big runs need
 * no more memory than one record. Returns 0, or -1 after an error naming
 * the faulty file. */
int coco_assemble(out_set *outs, const char *path, const coco_input *in,
                  int n, const int *extra, int n_extra,
                  const char *name_format);

#endif
