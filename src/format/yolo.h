/*
 * yolo.h - YOLO label files (Ultralytics layout: one <stem>.txt per image).
 * Reading detection labels, "class cx cy w h [conf]" per line with centre
 * and size normalised to the image, as boxes to prompt with; writing
 * segmentation labels, "class x1 y1 x2 y2 ..." per object: the outline of
 * the mask (contour.h) with coordinates divided by the image width and
 * height, 6 decimals, as Ultralytics' mask converter writes them.
 */
#ifndef MOBILESAM_FORMAT_YOLO_H
#define MOBILESAM_FORMAT_YOLO_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    float box[4]; /* x0, y0, x1, y1 in pixels, clipped to the image */
    int cls;
    float conf;   /* 1 when the line has none */
} yolo_box;

typedef struct {
    float min_conf;    /* keep conf >= min_conf (lines without conf: kept) */
    const int *classes; /* keep only these classes; NULL: all */
    int n_classes;
} yolo_filter;

#define YOLO_MISSING (-2)

/* Reads `path` for an image of width x height. Returns the number of boxes
 * kept (*out malloc'd, NULL when none), YOLO_MISSING when the file does not
 * exist (nothing printed), or -1 after an error naming the file and line
 * (unreadable, malformed line, box entirely outside the image). Blank lines
 * and lines starting with '#' are skipped, and a UTF-8 byte order mark. A
 * box of zero width or height inside the image is kept (a valid prompt). */
int yolo_read_boxes(const char *path, int width, int height,
                    const yolo_filter *filter, yolo_box **out);

/* Appends the object's line to fp. Returns 1 when written, 0 when the mask
 * has no polygon (empty, or an outline of fewer than 3 vertices: a pixel or
 * a straight line; Ultralytics skips those too), -1 when out of memory. */
int yolo_write_segment(FILE *fp, int cls, const uint8_t *mask, int width,
                       int height);

#endif
