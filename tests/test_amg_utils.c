/*
 * test_amg_utils.c - the pure stages of the automatic mask generator
 * (src/amg/amg_utils.c) against values worked out by hand from the
 * official code (mobile_sam/utils/amg.py, torchvision batched_nms, OpenCV
 * connectedComponentsWithStats). Every expected number below is derived in
 * the comment next to it, not produced by the code under test. The fused
 * up-scaler is checked bit for bit against two ops_resize_bilinear calls.
 * Needs no test data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mobilesam.h"
#include "amg/amg_utils.h"
#include "ops/ops.h"
#include "testutil.h"

static int same_ints(const int *a, const int *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static void print_ints(const char *what, const int *v, int n)
{
    fprintf(stderr, "  %s:", what);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", v[i]);
    fprintf(stderr, "\n");
}

#define CHECK_INTS(got, want, n, what)                                  \
    do {                                                                \
        int ok_ = same_ints((got), (want), (n));                        \
        TU_CHECK(ok_, "%s differs", what);                              \
        if (!ok_) {                                                     \
            print_ints("got ", (got), (n));                             \
            print_ints("want", (want), (n));                            \
        }                                                               \
    } while (0)

/* Parses a hand-drawn mask: rows of '#' (set) and '.' (clear). */
static uint8_t *draw(const char *const *rows, int w, int h)
{
    uint8_t *m = malloc((size_t)w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) m[y * w + x] = rows[y][x] == '#';
    return m;
}

static void check_mask(const uint8_t *got, const char *const *rows, int w, int h,
                       const char *what)
{
    uint8_t *want = draw(rows, w, h);
    int ok = 1;
    for (int i = 0; i < w * h; i++) ok &= (got[i] != 0) == (want[i] != 0);
    TU_CHECK(ok, "%s: mask differs", what);
    if (!ok)
        for (int y = 0; y < h; y++) {
            fprintf(stderr, "  ");
            for (int x = 0; x < w; x++) fputc(got[y * w + x] ? '#' : '.', stderr);
            fprintf(stderr, "   %s\n", rows[y]);
        }
    free(want);
}

/* ------------------------------------------------------------- grids */

static void test_point_grid(void)
{
    double g[2 * 9];
    /* n = 2: offset 1/4, linspace(0.25, 0.75, 2) = {0.25, 0.75}; x fastest */
    const double want2[8] = {0.25, 0.25, 0.75, 0.25, 0.25, 0.75, 0.75, 0.75};
    amg_build_point_grid(2, g);
    for (int i = 0; i < 8; i++) TU_CHECK(g[i] == want2[i], "grid2[%d] = %g", i, g[i]);
    /* n = 3: offset 1/6, linspace(1/6, 5/6, 3) = {1/6, 1/2, 5/6} = (i+0.5)/3 */
    amg_build_point_grid(3, g);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) {
            double wx = (c + 0.5) / 3, wy = (r + 0.5) / 3;
            TU_CHECK(fabs(g[2 * (r * 3 + c)] - wx) < 1e-15 &&
                         fabs(g[2 * (r * 3 + c) + 1] - wy) < 1e-15,
                     "grid3[%d,%d] = (%g, %g)", r, c, g[2 * (r * 3 + c)],
                     g[2 * (r * 3 + c) + 1]);
        }
    /* the middle point is exactly 1/6 + 1 * (2/3)/2 and the last is 1 - 1/6 */
    TU_CHECK(g[2 * 8] == 1.0 - 1.0 / 6.0, "grid3 last x is linspace's stop");
    /* n = 1: a single point at 1/2 */
    amg_build_point_grid(1, g);
    TU_CHECK(g[0] == 0.5 && g[1] == 0.5, "grid1 = (%g, %g)", g[0], g[1]);
    /* build_all_layer_point_grids: int(32 / 2^1) = 16, int(5 / 2) = 2,
     * int(32 / 1^3) = 32, int(3 / 4) = 0 */
    TU_CHECK(amg_layer_points_per_side(32, 1, 2) == 16, "layer pps 32/2");
    TU_CHECK(amg_layer_points_per_side(5, 1, 2) == 2, "layer pps 5/2");
    TU_CHECK(amg_layer_points_per_side(32, 3, 1) == 32, "layer pps 32/1");
    TU_CHECK(amg_layer_points_per_side(3, 1, 4) == 0, "layer pps 3/4");
}

/* ------------------------------------------------------------ crops */

static void test_crop_boxes(void)
{
    int boxes[4 * 21], layers[21];
    double ratio = 512.0 / 1500.0;
    /* 1 + 4 = 5 boxes for one layer, 1 + 4 + 16 = 21 for two */
    TU_CHECK(amg_crop_box_count(0) == 1 && amg_crop_box_count(1) == 5 &&
                 amg_crop_box_count(2) == 21,
             "crop box counts");

    /* 100x60, one layer. short side 60; layer 0: n = 2 crops per side,
     * overlap = int(0.34133 * 60 * (2/2)) = int(20.48) = 20,
     * crop_w = ceil((20 * 1 + 100) / 2) = 60, crop_h = ceil((20 + 60) / 2) = 40,
     * x0 = {0, (60-20)*1} = {0, 40}, y0 = {0, (40-20)*1} = {0, 20};
     * product(x0, y0) -> x0 outer:
     *   [0,0,60,40] [0,20,60,60] [40,0,100,40] [40,20,100,60] */
    int n = amg_generate_crop_boxes(100, 60, 1, ratio, boxes, layers);
    const int want1[20] = {0, 0, 100, 60, 0, 0, 60, 40, 0, 20, 60, 60,
                           40, 0, 100, 40, 40, 20, 100, 60};
    const int wantl1[5] = {0, 1, 1, 1, 1};
    TU_CHECK(n == 5, "100x60 1 layer: %d boxes", n);
    CHECK_INTS(boxes, want1, 20, "100x60 crop boxes");
    CHECK_INTS(layers, wantl1, 5, "100x60 layer indices");

    /* 101x61 (odd sizes: the ceil and the clipping matter). short 61,
     * overlap = int(0.34133 * 61) = int(20.82) = 20,
     * crop_w = ceil((20 + 101) / 2) = ceil(60.5) = 61,
     * crop_h = ceil((20 + 61) / 2) = ceil(40.5) = 41,
     * x0 = {0, 41}, y0 = {0, 21}; x1 = min(x0 + 61, 101), y1 = min(y0 + 41, 61):
     *   [0,0,61,41] [0,21,61,61] [41,0,101,41] [41,21,101,61] */
    n = amg_generate_crop_boxes(101, 61, 1, ratio, boxes, layers);
    const int want2[20] = {0, 0, 101, 61, 0, 0, 61, 41, 0, 21, 61, 61,
                           41, 0, 101, 41, 41, 21, 101, 61};
    TU_CHECK(n == 5, "101x61: %d boxes", n);
    CHECK_INTS(boxes, want2, 20, "101x61 crop boxes");

    /* 100x60, two layers; layer 1: n = 4,
     * overlap = int(0.34133 * 60 * (2/4)) = int(10.24) = 10,
     * crop_w = ceil((10*3 + 100) / 4) = ceil(32.5) = 33,
     * crop_h = ceil((10*3 + 60) / 4) = ceil(22.5) = 23,
     * x0 = {0, 23, 46, 69}, y0 = {0, 13, 26, 39}.
     * Box 5 = (x0 0, y0 0) = [0,0,33,23]; box 6 = (0, 13) = [0,13,33,36];
     * box 9 = (x0 23, y0 0) = [23,0,56,23];
     * box 20 = (69, 39) = [69, 39, min(102,100), min(62,60)] = [69,39,100,60] */
    n = amg_generate_crop_boxes(100, 60, 2, ratio, boxes, layers);
    TU_CHECK(n == 21, "2 layers: %d boxes", n);
    const int b5[4] = {0, 0, 33, 23}, b6[4] = {0, 13, 33, 36}, b9[4] = {23, 0, 56, 23},
              b20[4] = {69, 39, 100, 60};
    CHECK_INTS(boxes + 4 * 5, b5, 4, "layer-2 box 5");
    CHECK_INTS(boxes + 4 * 6, b6, 4, "layer-2 box 6");
    CHECK_INTS(boxes + 4 * 9, b9, 4, "layer-2 box 9");
    CHECK_INTS(boxes + 4 * 20, b20, 4, "layer-2 box 20");
    TU_CHECK(layers[4] == 1 && layers[5] == 2 && layers[20] == 2, "layer indices");
}

/* -------------------------------------------------------- stability */

static void test_stability(void)
{
    /* 3 wide, 2 high:
     *    2.0   0.5  -0.5
     *    1.0  -1.0  -2.0
     * threshold 0, offset 1: > 1 -> {2.0} = 1 (1.0 is not > 1);
     * > -1 -> {2.0, 0.5, -0.5, 1.0} = 4 (-1.0 is not > -1); 1/4 = 0.25 */
    const float l[6] = {2.0f, 0.5f, -0.5f, 1.0f, -1.0f, -2.0f};
    float s = amg_stability_score(l, 3, 2, 0.0f, 1.0f);
    TU_CHECK(s == 0.25f, "stability offset 1 = %g", s);
    /* offset 0.5: > 0.5 -> {2.0, 1.0} = 2; > -0.5 -> {2.0, 0.5, 1.0} = 3;
     * 2/3 in float32 */
    s = amg_stability_score(l, 3, 2, 0.0f, 0.5f);
    TU_CHECK(s == 2.0f / 3.0f, "stability offset 0.5 = %.9g", s);
    /* threshold 1, offset 1: > 2 -> 0; > 0 -> {2.0, 0.5, 1.0} = 3; 0 */
    s = amg_stability_score(l, 3, 2, 1.0f, 1.0f);
    TU_CHECK(s == 0.0f, "stability thr 1 = %g", s);
    /* everything <= -1: 0 / 0 = NaN, as torch's division gives */
    const float neg[4] = {-1.0f, -3.0f, -1.5f, -2.0f};
    s = amg_stability_score(neg, 2, 2, 0.0f, 1.0f);
    TU_CHECK(isnan(s), "stability of an empty union is NaN (%g)", s);
    int a, b;
    amg_count_row(l, 3, 1.0f, -1.0f, &a, &b);
    TU_CHECK(a == 1 && b == 3, "count_row row 0: %d %d", a, b); /* {2}, {2, .5, -.5} */
}

/* ------------------------------------------------------ boxes, uncrop */

static void test_boxes(void)
{
    /* 5 wide, 4 high, set pixels (x=1, y=1) and (x=3, y=2):
     * box = [min x, min y, max x, max y] = [1, 1, 3, 2] (inclusive) */
    static const char *const m1[] = {".....", ".#...", "...#.", "....."};
    uint8_t *m = draw(m1, 5, 4);
    int box[4], xywh[4];
    amg_mask_to_box(m, 5, 4, box);
    const int want1[4] = {1, 1, 3, 2};
    CHECK_INTS(box, want1, 4, "mask box");
    /* box_xyxy_to_xywh: [1, 1, 3-1, 2-1] = [1, 1, 2, 1] */
    amg_box_xyxy_to_xywh(box, xywh);
    const int wantw[4] = {1, 1, 2, 1};
    CHECK_INTS(xywh, wantw, 4, "xywh");
    free(m);
    /* one pixel in the last corner (4, 3): [4, 3, 4, 3] */
    static const char *const m2[] = {".....", ".....", ".....", "....#"};
    m = draw(m2, 5, 4);
    amg_mask_to_box(m, 5, 4, box);
    const int want2[4] = {4, 3, 4, 3};
    CHECK_INTS(box, want2, 4, "corner box");
    /* the runs encoding gives the same box and area */
    amg_runs r = {0};
    TU_CHECK(amg_runs_from_mask(m, 5, 4, &r) == 0 && r.n == 1, "runs of one pixel");
    TU_CHECK(r.n == 1 && r.v[0] == 19 && r.v[1] == 1, "run (3*5+4, 1)");
    amg_runs_box(&r, 5, box);
    CHECK_INTS(box, want2, 4, "runs corner box");
    amg_runs_free(&r);
    free(m);
    /* empty mask: the official zeroes the box */
    uint8_t z[20] = {0};
    amg_mask_to_box(z, 5, 4, box);
    const int want0[4] = {0, 0, 0, 0};
    CHECK_INTS(box, want0, 4, "empty box");
    amg_runs_box(&r, 5, box);
    CHECK_INTS(box, want0, 4, "empty runs box");

    /* uncrop: crop [1, 1, 3, 2] (2x1) of a 4x3 image */
    const int cb[4] = {1, 1, 3, 2};
    const uint8_t cm[2] = {1, 1};
    uint8_t full[12];
    amg_uncrop_mask(cm, cb, 4, 3, full);
    static const char *const mf[] = {"....", ".##.", "...."};
    check_mask(full, mf, 4, 3, "uncrop_mask");
    const int bx[4] = {0, 0, 1, 0}, wantb[4] = {1, 1, 2, 1};
    amg_uncrop_box(bx, cb, box);
    CHECK_INTS(box, wantb, 4, "uncrop_box"); /* + [x0, y0, x0, y0] */
    double p[2] = {0.5, 0.25}, q[2];
    amg_uncrop_point(p, cb, q);
    TU_CHECK(q[0] == 1.5 && q[1] == 1.25, "uncrop_point (%g, %g)", q[0], q[1]);
}

static void test_crop_edge(void)
{
    const int orig[4] = {0, 0, 100, 60};
    const int c0[4] = {0, 0, 60, 40}, c3[4] = {40, 20, 100, 60};
    /* crop [0,0,60,40], box [10,5,30,15]: x0, y0 are near the crop edge but
     * also near the image edge (0); x1 30 is 30 from 60, y1 15 is 25 from
     * 40: not near. */
    const int b1[4] = {10, 5, 30, 15};
    TU_CHECK(!amg_box_near_crop_edge(b1, c0, orig, 20.0f), "inner box kept");
    /* x1 45 is 15 from the crop's 60 and 55 from the image's 100: near */
    const int b2[4] = {10, 5, 45, 15};
    TU_CHECK(amg_box_near_crop_edge(b2, c0, orig, 20.0f), "box at the crop's right edge");
    /* atol is inclusive: x1 40 is exactly 20 from 60 -> near; 39 is 21 */
    const int b3[4] = {0, 0, 40, 10}, b4[4] = {0, 0, 39, 10};
    TU_CHECK(amg_box_near_crop_edge(b3, c0, orig, 20.0f), "distance 20 is near");
    TU_CHECK(!amg_box_near_crop_edge(b4, c0, orig, 20.0f), "distance 21 is not near");
    /* crop [40,20,100,60]; crop-frame box [5,10,30,30] is uncropped to
     * [45,30,70,50]: x0 45 is 5 from the crop's 40 and 45 from the image's
     * 0: near (the uncropping matters: 5 vs 0 would also be near the image
     * edge, and nothing would be filtered) */
    const int b5[4] = {5, 10, 30, 30};
    TU_CHECK(amg_box_near_crop_edge(b5, c3, orig, 20.0f), "uncropped box near the crop's left edge");
    /* crop-frame [25,25,55,35] -> [65,45,95,55]: x0 25 from 40, y0 25 from
     * 20; x1 95 and y1 55 are near the crop's 100 / 60 but those are image
     * edges too: kept */
    const int b6[4] = {25, 25, 55, 35};
    TU_CHECK(!amg_box_near_crop_edge(b6, c3, orig, 20.0f), "box at the image's corner kept");
    /* the full image as crop: never near a crop edge that is not an image
     * edge */
    const int b7[4] = {0, 0, 99, 59};
    TU_CHECK(!amg_box_near_crop_edge(b7, orig, orig, 20.0f), "full-image crop filters nothing");
}

/* -------------------------------------------------------------- NMS */

static void test_nms(void)
{
    /* A [0,0,10,10] 0.9 (area 100); B [1,0,11,10] 0.8: inter 9*10 = 90,
     * union 100+100-90 = 110, IoU 0.818; C [5,0,15,10] 0.7: with A inter
     * 5*10 = 50, union 150, IoU 0.333, with B inter 6*10 = 60, union 140,
     * IoU 0.429; D [20,20,30,30] 0.95 overlaps nothing. */
    const float boxes[16] = {0, 0, 10, 10, 1, 0, 11, 10, 5, 0, 15, 10, 20, 20, 30, 30};
    const float sc[4] = {0.9f, 0.8f, 0.7f, 0.95f};
    int keep[8];
    /* thr 0.7: order D A B C; A suppresses B (0.818 > 0.7); C kept.
     * keep = [D, A, C] = [3, 0, 2] */
    int n = amg_batched_nms(boxes, sc, NULL, 4, 0.7, keep);
    const int want1[3] = {3, 0, 2};
    TU_CHECK(n == 3, "nms 0.7 keeps %d", n);
    CHECK_INTS(keep, want1, 3, "nms 0.7");
    /* thr 0.85: nothing exceeds it -> all, by score: [3, 0, 1, 2] */
    n = amg_batched_nms(boxes, sc, NULL, 4, 0.85, keep);
    const int want2[4] = {3, 0, 1, 2};
    TU_CHECK(n == 4, "nms 0.85 keeps %d", n);
    CHECK_INTS(keep, want2, 4, "nms 0.85");
    /* categories: B alone in category 1 is not suppressed by A */
    const int cats[4] = {0, 1, 0, 0};
    n = amg_batched_nms(boxes, sc, cats, 4, 0.7, keep);
    TU_CHECK(n == 4, "batched nms keeps %d", n);
    CHECK_INTS(keep, want2, 4, "batched nms");
    /* IoU exactly at the threshold is not suppressed (strict >):
     * [0,0,10,10] and [0,0,10,5]: inter 50, union 100+50-50 = 100 -> 0.5 */
    const float bx2[8] = {0, 0, 10, 10, 0, 0, 10, 5};
    const float sc2[2] = {0.9f, 0.8f};
    n = amg_batched_nms(bx2, sc2, NULL, 2, 0.5, keep);
    TU_CHECK(n == 2, "IoU == thr kept (%d)", n);
    n = amg_batched_nms(bx2, sc2, NULL, 2, 0.49, keep);
    TU_CHECK(n == 1 && keep[0] == 0, "IoU 0.5 > 0.49 suppressed (%d)", n);
    /* ties: equal scores keep index order; identical boxes with equal
     * scores: the first index wins */
    const float bx3[12] = {0, 0, 10, 10, 20, 0, 30, 10, 0, 0, 10, 10};
    const float sc3[3] = {0.5f, 0.5f, 0.5f};
    n = amg_batched_nms(bx3, sc3, NULL, 3, 0.7, keep);
    const int want3[2] = {0, 1};
    TU_CHECK(n == 2, "ties keep %d", n);
    CHECK_INTS(keep, want3, 2, "ties in index order");
    /* zero-area boxes: 0/0 = NaN never suppresses */
    const float bx4[8] = {3, 3, 3, 3, 3, 3, 3, 3};
    n = amg_batched_nms(bx4, sc2, NULL, 2, 0.7, keep);
    TU_CHECK(n == 2, "zero-area boxes both kept (%d)", n);
    TU_CHECK(amg_batched_nms(boxes, sc, NULL, 0, 0.7, keep) == 0, "empty nms");
}

/* -------------------------------------------------------------- RLE */

static void test_rle(void)
{
    /* 4 wide, 3 high:
     *   . # # .
     *   . # . .
     *   . . . #
     * column-major: col0 000, col1 110, col2 100, col3 001 ->
     * 000 11 0 1 0000 1 -> counts [3, 2, 1, 1, 4, 1] (sum 12), area 2+1+1 = 4 */
    static const char *const m1[] = {".##.", ".#..", "...#"};
    uint8_t *m = draw(m1, 4, 3);
    int *c = NULL;
    int n = amg_mask_to_rle(m, 4, 3, &c);
    const int want1[6] = {3, 2, 1, 1, 4, 1};
    TU_CHECK(n == 6, "rle count %d", n);
    if (n == 6) CHECK_INTS(c, want1, 6, "rle");
    TU_CHECK(amg_rle_area(c, n) == 4, "rle area");
    free(c);
    /* the public entry point is the same encoder */
    n = mobilesam_mask_to_rle(m, 4, 3, &c);
    TU_CHECK(n == 6 && same_ints(c, want1, 6), "mobilesam_mask_to_rle");
    free(c);
    free(m);
    /* first pixel set: a leading zero-length run. col0 = 1 1 0, rest 0:
     * [0, 2, 10], area 2 */
    static const char *const m2[] = {"#...", "#...", "...."};
    m = draw(m2, 4, 3);
    n = amg_mask_to_rle(m, 4, 3, &c);
    const int want2[3] = {0, 2, 10};
    TU_CHECK(n == 3 && same_ints(c, want2, 3), "rle leading zero");
    TU_CHECK(amg_rle_area(c, n) == 2, "rle area 2");
    free(c);
    free(m);
    /* all set: [0, 12]; all clear: [12] */
    uint8_t ones[12], zeros[12] = {0};
    memset(ones, 255, sizeof ones);
    n = amg_mask_to_rle(ones, 4, 3, &c);
    TU_CHECK(n == 2 && c[0] == 0 && c[1] == 12, "rle full");
    TU_CHECK(amg_rle_area(c, n) == 12, "rle full area");
    free(c);
    n = amg_mask_to_rle(zeros, 4, 3, &c);
    TU_CHECK(n == 1 && c[0] == 12 && amg_rle_area(c, n) == 0, "rle empty");
    free(c);
    TU_CHECK(amg_mask_to_rle(zeros, 0, 3, &c) == -1 && c == NULL, "rle of a 0-wide mask");
}

/* The tiled encoder against a plain loop down the columns, on random
 * masks whose sides are not multiples of the tile. */
static void test_rle_random(void)
{
    static const int sizes[][2] = {{130, 70}, {1, 200}, {200, 1}, {64, 64}, {257, 129}};
    unsigned seed = 12345;
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        const int w = sizes[t][0], h = sizes[t][1];
        uint8_t *m = malloc((size_t)w * h);
        int *want = malloc(sizeof(int) * ((size_t)w * h + 1));
        for (int i = 0; i < w * h; i++) {
            seed = seed * 1103515245u + 12345u;
            m[i] = ((seed >> 16) % 3 == 0) ? 255 : 0; /* runs of varied length */
        }
        int nw = 0, last = 0, cur = 0;
        for (int x = 0; x < w; x++)
            for (int y = 0; y < h; y++) {
                int v = m[y * w + x] != 0;
                if (v != cur) {
                    want[nw++] = x * h + y - last;
                    last = x * h + y;
                    cur = v;
                }
            }
        want[nw++] = w * h - last;
        int *c = NULL;
        int n = amg_mask_to_rle(m, w, h, &c);
        TU_CHECK(n == nw && same_ints(c, want, nw), "rle of a random %dx%d mask", w, h);
        free(c);
        free(want);
        free(m);
    }
}

/* ------------------------------------------------ small-region removal */

static void test_small_regions(void)
{
    /* Islands, 8 wide, 6 high. Component A: the ring (10 pixels) plus the
     * pixel (4,3), which touches the ring's (3,2) only diagonally -> one
     * 8-connected component of 11. Component B: (6,4) (7,4) (6,5) = 3. */
    static const char *const isl[] = {
        "####....",
        "#..#....",
        "####....",
        "....#...",
        "......##",
        "......#.",
    };
    /* area 5: B (3 < 5) is removed, A (11) stays -- with 4-connectivity the
     * diagonal pixel would be a 1-pixel island and go too */
    static const char *const isl5[] = {
        "####....",
        "#..#....",
        "####....",
        "....#...",
        "........",
        "........",
    };
    uint8_t *m = draw(isl, 8, 6);
    TU_CHECK(amg_remove_small_regions(m, 8, 6, 5, AMG_ISLANDS) == 1, "islands 5 changed");
    check_mask(m, isl5, 8, 6, "islands 5");
    free(m);
    /* area 20: both small -> keep the largest (A), still "changed" */
    m = draw(isl, 8, 6);
    TU_CHECK(amg_remove_small_regions(m, 8, 6, 20, AMG_ISLANDS) == 1, "islands 20 changed");
    check_mask(m, isl5, 8, 6, "islands 20 keeps the largest");
    free(m);
    /* area 3: nothing is < 3 -> unchanged */
    m = draw(isl, 8, 6);
    TU_CHECK(amg_remove_small_regions(m, 8, 6, 3, AMG_ISLANDS) == 0, "islands 3 unchanged");
    check_mask(m, isl, 8, 6, "islands 3");
    free(m);
    /* Holes of the same mask, area 5: complement components (8-connected):
     * the ring's inside (1,1)(2,1) = 2 pixels (all its neighbours are ring
     * pixels); the corner (7,5), whose three neighbours (6,4) (7,4) (6,5)
     * all belong to B: 1 pixel (the image border closes it); the outside:
     * 48 - 14 set - 2 - 1 = 31. Both small ones are filled. */
    static const char *const hol5[] = {
        "####....",
        "####....",
        "####....",
        "....#...",
        "......##",
        "......##",
    };
    m = draw(isl, 8, 6);
    TU_CHECK(amg_remove_small_regions(m, 8, 6, 5, AMG_HOLES) == 1, "holes 5 changed");
    check_mask(m, hol5, 8, 6, "holes 5");
    free(m);

    /* Holes, 6 wide, 5 high. (1,1) is clear but touches the clear (2,2)
     * diagonally, which reaches the outside: no hole with 8-connectivity
     * (with 4-connectivity it would be one). (4,4) is enclosed by the cup
     * and the image border: a 1-pixel complement component.
     * Complement: 30 - 12 set = 18 = outside 17 + (4,4). */
    static const char *const hol[] = {
        "###...",
        "#.#...",
        "##....",
        "...###",
        "...#.#",
    };
    static const char *const hol2[] = {
        "###...",
        "#.#...",
        "##....",
        "...###",
        "...###",
    };
    m = draw(hol, 6, 5);
    TU_CHECK(amg_remove_small_regions(m, 6, 5, 2, AMG_HOLES) == 1, "holes 2 changed");
    check_mask(m, hol2, 6, 5, "holes 2");
    free(m);
    /* area 18: the outside (17) is "small" too and gets filled: all set */
    static const char *const full[] = {"######", "######", "######", "######", "######"};
    m = draw(hol, 6, 5);
    TU_CHECK(amg_remove_small_regions(m, 6, 5, 18, AMG_HOLES) == 1, "holes 18 changed");
    check_mask(m, full, 6, 5, "holes 18");
    free(m);
    /* area 1: nothing < 1 */
    m = draw(hol, 6, 5);
    TU_CHECK(amg_remove_small_regions(m, 6, 5, 1, AMG_HOLES) == 0, "holes 1 unchanged");
    free(m);

    /* Tie for "keep the largest" (np.argmax: the first label). OpenCV
     * labels 8-connected images by 2x2 blocks (rows 0-1 together), so
     * (0,1) in block (0,0) gets label 1 before (4,0) in block (0,2), though
     * (4,0) comes first in plain raster order. Both have 1 pixel; area 5:
     * both small -> keep label 1 = (0,1). */
    static const char *const tie[] = {"....#.", "#.....", "......", "......"};
    static const char *const tie1[] = {"......", "#.....", "......", "......"};
    m = draw(tie, 6, 4);
    TU_CHECK(amg_remove_small_regions(m, 6, 4, 5, AMG_ISLANDS) == 1, "tie changed");
    check_mask(m, tie1, 6, 4, "tie keeps OpenCV's first label");
    free(m);
    /* empty mask: no islands; its one hole (everything, 24) < 30 -> filled */
    uint8_t e[24] = {0};
    TU_CHECK(amg_remove_small_regions(e, 6, 4, 30, AMG_ISLANDS) == 0, "empty islands");
    TU_CHECK(amg_remove_small_regions(e, 6, 4, 30, AMG_HOLES) == 1 && e[0] && e[23],
             "empty holes filled");
}

/* ------------------------------------------------- fused up-scaler */

typedef struct {
    float *out;
    int w, rows;
} collect_ctx;

static void collect_row(int y, const float *row, void *ctx)
{
    collect_ctx *c = ctx;
    memcpy(c->out + (size_t)y * c->w, row, sizeof(float) * c->w);
    c->rows++;
}

static void test_upscaler(void)
{
    /* (rw, rh) is the resized frame, (w, h) the original size: bus
     * (810x1080, resized 768x1024), a landscape, a small upscaled image
     * (97x61 -> 1024x644), an image already 1024 wide (identity stage 2)
     * and a large one (down-sampling stage 2). */
    const int cfg[][4] = {{768, 1024, 810, 1080}, {1024, 576, 1280, 720}, {1024, 644, 97, 61},
                          {1024, 683, 1024, 683}, {1024, 768, 2000, 1500}};
    uint32_t seed = 12345;
    float *low = malloc(sizeof(float) * 256 * 256);
    float *mid = malloc(sizeof(float) * 1024 * 1024);
    tu_rand_fill(low, 256 * 256, -3.0f, 3.0f, &seed);
    ops_init();
    size_t ncfg = sizeof cfg / sizeof cfg[0];
    /* every ISA's resize kernel (they promise identical results) */
    for (size_t t = 0; t < ncfg * ((size_t)ops_cpu_isa() + 1); t++) {
        int isa = (int)(t / ncfg);
        size_t c = t % ncfg;
        ops_force_isa((ops_isa)isa);
        int rw = cfg[c][0], rh = cfg[c][1], w = cfg[c][2], h = cfg[c][3];
        float *ref = malloc(sizeof(float) * (size_t)w * h);
        float *got = malloc(sizeof(float) * (size_t)w * h);
        ops_resize_bilinear(low, 256, 256, 256, mid, 1024, 1024);
        ops_resize_bilinear(mid, rh, rw, 1024, ref, h, w);
        amg_upscale_plan p;
        TU_CHECK(amg_upscale_plan_init(&p, rw, rh, w, h) == 0, "plan");
        float *scr = malloc(sizeof(float) * amg_upscale_scratch_floats(&p));
        collect_ctx cc = {got, w, 0};
        amg_upscale_rows(&p, low, scr, collect_row, &cc);
        TU_CHECK(cc.rows == h, "rows %d", cc.rows);
        TU_CHECK(memcmp(ref, got, sizeof(float) * (size_t)w * h) == 0,
                 "fused up-scale differs from two resizes (%s) for %dx%d -> %dx%d (max %g)",
                 ops_isa_name((ops_isa)isa), rw, rh, w, h,
                 tu_max_abs_diff(ref, got, (size_t)w * h));
        free(scr);
        amg_upscale_plan_free(&p);
        free(ref);
        free(got);
    }
    ops_force_isa(ops_cpu_isa());
    free(low);
    free(mid);
}

static void test_runs(void)
{
    /* runs of "##.#" / "...." / ".###": (0,2) (3,1) (9,3) */
    static const char *const m1[] = {"##.#", "....", ".###"};
    uint8_t *m = draw(m1, 4, 3);
    amg_runs r = {0};
    TU_CHECK(amg_runs_from_mask(m, 4, 3, &r) == 0, "runs");
    const uint32_t want[6] = {0, 2, 3, 1, 9, 3};
    TU_CHECK(r.n == 3 && memcmp(r.v, want, sizeof want) == 0, "runs values");
    TU_CHECK(amg_runs_area(&r) == 6, "runs area");
    uint8_t back[12];
    amg_runs_to_mask(&r, back, 12, 1);
    check_mask(back, m1, 4, 3, "runs round trip");
    amg_runs_free(&r);
    /* push_row with the word-skipping scan on a 21-wide row:
     * set 3..12 and 16..20 -> (base+3, 10) (base+16, 5) */
    uint8_t row[21] = {0};
    for (int x = 3; x < 13; x++) row[x] = 1;
    for (int x = 16; x < 21; x++) row[x] = 1;
    TU_CHECK(amg_runs_push_row(&r, row, 21, 100) == 0, "push_row");
    const uint32_t want2[4] = {103, 10, 116, 5};
    TU_CHECK(r.n == 2 && memcmp(r.v, want2, sizeof want2) == 0, "push_row values");
    amg_runs_free(&r);
    free(m);

    /* packed rows: 1 0 1 1 0 0 0 1 | 1 1 -> bits 0, 2, 3, 7 = 1+4+8+128 = 141,
     * then bits 0, 1 = 3 */
    const uint8_t bin[10] = {1, 0, 1, 1, 0, 0, 0, 1, 1, 1};
    uint8_t bits[2], un[10];
    amg_pack_row(bin, 10, bits);
    TU_CHECK(bits[0] == 141 && bits[1] == 3, "pack_row %d %d", bits[0], bits[1]);
    amg_unpack_row(bits, 10, un, 255);
    int ok = 1;
    for (int i = 0; i < 10; i++) ok &= un[i] == (bin[i] ? 255 : 0);
    TU_CHECK(ok, "unpack_row");
    /* counts and binarisation in one pass: row 2, .5, -.5, 1, -1 with
     * hi 1, lo -1, thr 0: > 1 {2} = 1; > -1 {2, .5, -.5, 1} = 4;
     * > 0 {2, .5, 1} = 3 -> bin 1 1 0 1 0 */
    const float lr[5] = {2.0f, 0.5f, -0.5f, 1.0f, -1.0f};
    uint8_t b5[5];
    int a, b, c;
    amg_count_binarise_row(lr, 5, 1.0f, -1.0f, 0.0f, b5, &a, &b, &c);
    TU_CHECK(a == 1 && b == 4 && c == 3 && b5[0] == 1 && b5[1] == 1 && b5[2] == 0 &&
                 b5[3] == 1 && b5[4] == 0,
             "count_binarise_row %d %d %d", a, b, c);
}

int main(void)
{
    test_point_grid();
    test_crop_boxes();
    test_stability();
    test_boxes();
    test_crop_edge();
    test_nms();
    test_rle();
    test_rle_random();
    test_small_regions();
    test_runs();
    test_upscaler();
    return tu_finish("test_amg_utils");
}
