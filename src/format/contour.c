/*
 * contour.c - see contour.h. The tracer follows OpenCV's icvFetchContour
 * (modules/imgproc/src/contours.cpp) for an outer border with
 * CHAIN_APPROX_SIMPLE; the image is treated as surrounded by zeros, as
 * OpenCV >= 3.2 pads it. Components are found with an explicit-stack flood
 * fill (1 byte per pixel of marks; the stack grows as needed).
 */
#include "format/contour.h"

#include <stdlib.h>
#include <string.h>

/* Freeman directions, y down: 0 east, 1 north-east, 2 north, ... 7 south-east
 * (increasing = counter-clockwise on screen). */
static const int dir_x[8] = {1, 1, 0, -1, -1, -1, 0, 1};
static const int dir_y[8] = {0, -1, -1, -1, 0, 1, 1, 1};

typedef struct {
    int *xy;
    int n, cap; /* in vertices */
} vertex_list;

static int push_vertex(vertex_list *v, int x, int y)
{
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 64;
        int *p = realloc(v->xy, (size_t)cap * 2 * sizeof *p);
        if (!p)
            return -1;
        v->xy = p;
        v->cap = cap;
    }
    v->xy[2 * v->n] = x;
    v->xy[2 * v->n + 1] = y;
    v->n++;
    return 0;
}

static int is_on(const uint8_t *m, int w, int h, int x, int y)
{
    return x >= 0 && y >= 0 && x < w && y < h && m[(size_t)y * w + x];
}

int contour_trace(const uint8_t *mask, int width, int height, int x0, int y0,
                  int **xy)
{
    vertex_list v = {NULL, 0, 0};
    *xy = NULL;
    /* Clockwise from the west neighbour (a 0, the start being raster-first)
     * for the first pixel of the border. */
    int s = 4;
    do {
        s = (s - 1) & 7;
        if (is_on(mask, width, height, x0 + dir_x[s], y0 + dir_y[s]))
            break;
    } while (s != 4);
    if (s == 4) { /* a lone pixel */
        if (push_vertex(&v, x0, y0))
            return -1;
        *xy = v.xy;
        return 1;
    }
    const int x1 = x0 + dir_x[s], y1 = y0 + dir_y[s];
    int x3 = x0, y3 = y0, prev_s = s ^ 4;
    for (;;) {
        /* Counter-clockwise from the pixel we came from: the next one. */
        int x4, y4;
        do {
            s++;
            x4 = x3 + dir_x[s & 7];
            y4 = y3 + dir_y[s & 7];
        } while (!is_on(mask, width, height, x4, y4));
        s &= 7;
        if (s != prev_s) {
            if (push_vertex(&v, x3, y3)) {
                free(v.xy);
                return -1;
            }
            prev_s = s;
        }
        if (x4 == x0 && y4 == y0 && x3 == x1 && y3 == y1)
            break;
        x3 = x4;
        y3 = y4;
        s = (s + 4) & 7;
    }
    *xy = v.xy;
    return v.n;
}

/* Size of the 8-connected component of (x, y), marking its pixels. */
static long flood(const uint8_t *mask, uint8_t *seen, int w, int h, int x,
                  int y, int **stack, size_t *cap)
{
    size_t top = 0;
    long count = 0;
    seen[(size_t)y * w + x] = 1;
    (*stack)[top++] = y * w + x; /* w * h fits an int: image sizes are capped */
    while (top) {
        int p = (*stack)[--top];
        int px = p % w, py = p / w;
        count++;
        for (int d = 0; d < 8; d++) {
            int qx = px + dir_x[d], qy = py + dir_y[d];
            if (!is_on(mask, w, h, qx, qy) || seen[(size_t)qy * w + qx])
                continue;
            if (top == *cap) {
                size_t bigger = 2 * *cap;
                int *s = realloc(*stack, bigger * sizeof *s);
                if (!s)
                    return -1;
                *stack = s;
                *cap = bigger;
            }
            seen[(size_t)qy * w + qx] = 1;
            (*stack)[top++] = qy * w + qx;
        }
    }
    return count;
}

int contour_largest(const uint8_t *mask, int width, int height, int **xy)
{
    *xy = NULL;
    size_t n = (size_t)width * height;
    uint8_t *seen = calloc(n ? n : 1, 1);
    size_t cap = 1024;
    int *stack = malloc(cap * sizeof *stack);
    long best = 0;
    int best_x = 0, best_y = 0;
    if (!seen || !stack) {
        free(seen);
        free(stack);
        return -1;
    }
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            size_t i = (size_t)y * width + x;
            if (!mask[i] || seen[i])
                continue;
            long size = flood(mask, seen, width, height, x, y, &stack, &cap);
            if (size < 0) {
                free(seen);
                free(stack);
                return -1;
            }
            if (size > best) {
                best = size;
                best_x = x;
                best_y = y;
            }
        }
    free(seen);
    free(stack);
    if (!best)
        return 0;
    return contour_trace(mask, width, height, best_x, best_y, xy);
}
