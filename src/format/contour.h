/*
 * contour.h - the outline of a binary mask as a polygon, the way YOLO
 * segmentation labels are made from masks (Ultralytics runs OpenCV's
 * findContours(RETR_EXTERNAL, CHAIN_APPROX_SIMPLE)): the outer border of the
 * largest 8-connected component, traced with Suzuki-Abe border following
 * exactly as OpenCV does (same start pixel, same direction: counter-clockwise
 * on screen, y down), keeping only the pixels where the direction changes.
 * Vertices are pixel indices (x, y) of border pixels.
 *
 * Self-contained (no other CLI file needed) so that tests/test_contour.c can
 * include the .c directly.
 */
#ifndef MOBILESAM_FORMAT_CONTOUR_H
#define MOBILESAM_FORMAT_CONTOUR_H

#include <stdint.h>

/* Traces the outer border of the 8-connected component whose first pixel in
 * raster order is (x0, y0) (nonzero = inside). Returns the number of vertices
 * n >= 1, with 2n ints (x, y, x, y, ...) in *xy (malloc'd), or -1 when out of
 * memory. A single pixel gives 1 vertex, a straight line 2. */
int contour_trace(const uint8_t *mask, int width, int height, int x0, int y0,
                  int **xy);

/* The outer border of the largest 8-connected component (most pixels; the
 * first in raster order on a tie). Returns the vertex count (*xy malloc'd),
 * 0 for an empty mask (*xy = NULL), or -1 when out of memory. */
int contour_largest(const uint8_t *mask, int width, int height, int **xy);

#endif
