/*
 * test_contour.c - the mask outline tracer behind `batch --format yolo`
 * (src/format/contour.c, included directly: the tests link the engine only).
 * Hand-drawn masks against hand-computed vertex lists, which are also what
 * OpenCV's findContours(RETR_EXTERNAL, CHAIN_APPROX_SIMPLE) returns for
 * them (start at the raster-first pixel, counter-clockwise on screen, only
 * the corners), the choice of the largest component, and a filled disc
 * whose polygon, rasterised with an even-odd fill, covers the mask.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/contour.c"
#include "testutil.h"

/* A mask from rows of '#' (in) and '.' (out). */
static uint8_t *draw(const char *const *rows, int *w, int *h)
{
    *h = 0;
    while (rows[*h])
        (*h)++;
    *w = (int)strlen(rows[0]);
    uint8_t *m = calloc((size_t)*w * *h, 1);
    for (int y = 0; y < *h; y++)
        for (int x = 0; x < *w; x++)
            m[y * *w + x] = rows[y][x] == '#' ? 255 : 0;
    return m;
}

static void expect(const char *name, const char *const *rows, const int *want,
                   int n_want)
{
    int w, h, *xy = NULL;
    uint8_t *m = draw(rows, &w, &h);
    int n = contour_largest(m, w, h, &xy);
    int same = n == n_want;
    for (int i = 0; same && i < 2 * n; i++)
        same = xy[i] == want[i];
    char got[512] = "";
    for (int i = 0; i < n && strlen(got) < 480; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), " (%d,%d)",
                 xy[2 * i], xy[2 * i + 1]);
    TU_CHECK(same, "%s: %d vertices, expected %d; got%s", name, n, n_want,
             got);
    free(xy);
    free(m);
}

#define ROWS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define XY(...) ((const int[]){__VA_ARGS__})
#define NXY(...) ((int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int) / 2))
#define EXPECT(name, rows, ...) expect(name, rows, XY(__VA_ARGS__), NXY(__VA_ARGS__))

static void test_shapes(void)
{
    EXPECT("square", ROWS(".....", ".###.", ".###.", ".###.", "....."),
           1, 1, 1, 3, 3, 3, 3, 1);
    EXPECT("single pixel", ROWS(".....", ".....", "..#..", ".....", "....."),
           2, 2);
    EXPECT("L-shape", ROWS(".....", ".#...", ".#...", ".###.", "....."),
           1, 1, 1, 3, 3, 3, 2, 3, 1, 2);
    /* Two squares touching at a corner are one 8-connected component: the
     * border passes the touching pixels twice. */
    EXPECT("diagonal touch",
           ROWS("......", ".##...", ".##...", "...##.", "...##.", "......"),
           1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 3, 3, 3, 2, 2, 2, 1);
    EXPECT("whole image (border pixels)", ROWS("###", "###"),
           0, 0, 0, 1, 2, 1, 2, 0);
    EXPECT("ring (hole ignored)",
           ROWS(".......", ".#####.", ".#####.", ".##.##.", ".#####.",
                ".#####.", "......."),
           1, 1, 1, 5, 5, 5, 5, 1);
    EXPECT("horizontal line", ROWS("......", ".####.", "......"), 1, 1, 4, 1);
    EXPECT("T-shape",
           ROWS("......", ".####.", "..#...", "..#...", "..#...", "......"),
           1, 1, 2, 2, 2, 4, 2, 2, 3, 1, 4, 1);
}

static void test_largest(void)
{
    /* The small blob comes first in raster order; the big one wins. */
    EXPECT("largest component",
           ROWS("#.......", "........", "...###..", "...###..", "........"),
           3, 2, 3, 3, 5, 3, 5, 2);
    /* A tie goes to the first in raster order. */
    EXPECT("tie", ROWS("......", ".##...", "......", "...##."), 1, 1, 2, 1);
    int *xy = (int *)1;
    uint8_t empty[12] = {0};
    TU_CHECK(contour_largest(empty, 4, 3, &xy) == 0 && xy == NULL,
             "empty mask: expected 0 vertices and no list");
}

/* Even-odd rule at pixel (x, y) for the polygon. */
static int inside(const int *xy, int n, double px, double py)
{
    int in = 0;
    for (int i = 0, j = n - 1; i < n; j = i++) {
        double xi = xy[2 * i], yi = xy[2 * i + 1];
        double xj = xy[2 * j], yj = xy[2 * j + 1];
        if ((yi > py) != (yj > py) &&
            px < (xj - xi) * (py - yi) / (yj - yi) + xi)
            in = !in;
    }
    return in;
}

static void test_disc_rasterised(void)
{
    const int w = 80, h = 60;
    uint8_t *m = calloc((size_t)w * h, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            m[y * w + x] = hypot(x - 37.3, y - 28.6) < 21 ? 255 : 0;
    m[5 * w + 75] = 255; /* a stray pixel, not the largest part */
    int *xy;
    int n = contour_largest(m, w, h, &xy);
    TU_CHECK(n >= 8, "disc: %d vertices", n);
    long inter = 0, uni = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            /* Vertices are pixel centres: sample just off them. */
            int a = m[y * w + x] != 0 && !(x == 75 && y == 5);
            int b = inside(xy, n, x + 0.01, y + 0.01);
            inter += a && b;
            uni += a || b;
        }
    double iou = uni ? (double)inter / (double)uni : 0;
    TU_CHECK(iou >= 0.9, "disc: polygon vs mask IoU %.3f < 0.9", iou);
    for (int i = 0; i < n; i++)
        TU_CHECK(m[xy[2 * i + 1] * w + xy[2 * i]],
                 "disc: vertex (%d,%d) is not a mask pixel", xy[2 * i],
                 xy[2 * i + 1]);
    free(xy);
    free(m);
}

int main(void)
{
    test_shapes();
    test_largest();
    test_disc_rasterised();
    return tu_finish("test_contour");
}
