/*
 * amg_utils.c - the pure stages of the automatic mask generator (see
 * amg_utils.h): mobile_sam/utils/amg.py re-derived in C, torchvision's
 * batched_nms, OpenCV's 8-connected component labelling as far as
 * remove_small_regions depends on it, and a streaming version of
 * Sam.postprocess_masks that never holds a full-resolution plane.
 */
#include "amg/amg_utils.h"
#include "ops/ops.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ grids */

/* numpy.linspace(start, stop, n)[i]: i * step + start with step =
 * (stop - start) / (n - 1), the last value forced to stop; a single point
 * is just start. Reproducing it (rather than (i+0.5)/n) keeps the grid
 * bit-identical to the official float64 points. */
static double linspace_at(double start, double stop, int n, int i)
{
    if (n == 1) return start;
    if (i == n - 1) return stop;
    double step = (stop - start) / (double)(n - 1);
    return (double)i * step + start;
}

void amg_build_point_grid(int n, double *xy)
{
    double offset = 1.0 / (2.0 * n);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++) {
            xy[2 * ((size_t)r * n + c)] = linspace_at(offset, 1.0 - offset, n, c);
            xy[2 * ((size_t)r * n + c) + 1] = linspace_at(offset, 1.0 - offset, n, r);
        }
}

int amg_layer_points_per_side(int n_per_side, int layer, int scale)
{
    /* int(n / scale**i): Python true division then truncation. */
    double d = 1.0;
    for (int i = 0; i < layer; i++) d *= scale;
    return (int)((double)n_per_side / d);
}

/* ============================================================ crop boxes */

int amg_crop_box_count(int n_layers)
{
    int n = 1;
    for (int i = 0; i < n_layers; i++) n += (1 << (i + 1)) * (1 << (i + 1));
    return n;
}

int amg_generate_crop_boxes(int w, int h, int n_layers, double overlap_ratio,
                            int *boxes, int *layer_idx)
{
    int k = 0;
    int short_side = w < h ? w : h;
    boxes[0] = 0;
    boxes[1] = 0;
    boxes[2] = w;
    boxes[3] = h;
    layer_idx[0] = 0;
    k = 1;
    for (int L = 0; L < n_layers; L++) {
        int n = 1 << (L + 1);
        /* int(overlap_ratio * short_side * (2 / n_crops_per_side)) */
        int overlap = (int)(overlap_ratio * short_side * (2.0 / n));
        /* crop_len: int(ceil((overlap * (n - 1) + len) / n)) */
        int cw = (int)ceil((double)(overlap * (n - 1) + w) / n);
        int ch = (int)ceil((double)(overlap * (n - 1) + h) / n);
        for (int i = 0; i < n; i++) {     /* x0 outer (itertools.product) */
            for (int j = 0; j < n; j++) { /* y0 inner */
                int x0 = (cw - overlap) * i, y0 = (ch - overlap) * j;
                int *b = boxes + 4 * k;
                b[0] = x0;
                b[1] = y0;
                b[2] = x0 + cw < w ? x0 + cw : w;
                b[3] = y0 + ch < h ? y0 + ch : h;
                layer_idx[k] = L + 1;
                k++;
            }
        }
    }
    return k;
}

/* ======================================================= stability score */

/* Vectorised (omp simd) and cloned for AVX2 with run-time dispatch: these
 * loops run over every pixel of every up-scaled mask. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define AMG_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AMG_CLONES
#endif

AMG_CLONES
void amg_count_row(const float *restrict row, int n, float hi, float lo, int *n_hi, int *n_lo)
{
    int a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
    for (int i = 0; i < n; i++) {
        a += row[i] > hi;
        b += row[i] > lo;
    }
    *n_hi = a;
    *n_lo = b;
}

AMG_CLONES
void amg_count_binarise_row(const float *restrict row, int n, float hi, float lo, float thr,
                            uint8_t *restrict bin, int *n_hi, int *n_lo, int *n_set)
{
    int a = 0, b = 0, c = 0;
#pragma omp simd reduction(+ : a, b, c)
    for (int i = 0; i < n; i++) {
        float v = row[i];
        a += v > hi;
        b += v > lo;
        c += v > thr;
        bin[i] = v > thr;
    }
    *n_hi = a;
    *n_lo = b;
    *n_set = c;
}

void amg_pack_row(const uint8_t *bin, int n, uint8_t *bits)
{
    /* 8 bytes of 0/1 to one byte, bit i = byte i: multiplying by
     * 0x0102040810204080 moves byte i's bit (at 8i) to 56 + i, and no two
     * partial products share a position, so nothing carries. */
    int x = 0;
    for (; x + 8 <= n; x += 8) {
        uint64_t v;
        memcpy(&v, bin + x, 8);
        bits[x >> 3] = (uint8_t)((v * 0x0102040810204080ull) >> 56);
    }
    if (x < n) {
        uint8_t b = 0;
        for (int i = 0; x + i < n; i++) b |= (uint8_t)((bin[x + i] & 1) << i);
        bits[x >> 3] = b;
    }
}

void amg_unpack_row(const uint8_t *bits, int n, uint8_t *out, uint8_t on)
{
    for (int x = 0; x < n; x++) out[x] = (bits[x >> 3] >> (x & 7)) & 1 ? on : 0;
}

float amg_stability_score(const float *logits, int w, int h, float mask_threshold,
                          float offset)
{
    /* The thresholds are Python floats compared with a float32 tensor:
     * torch casts them to float32. */
    float hi = (float)((double)mask_threshold + (double)offset);
    float lo = (float)((double)mask_threshold - (double)offset);
    int32_t inter = 0, uni = 0;
    for (int y = 0; y < h; y++) {
        int a, b;
        amg_count_row(logits + (size_t)y * w, w, hi, lo, &a, &b);
        /* .sum(-1, dtype=int16).sum(-1, dtype=int32): a row count wraps
         * modulo 2^16 (only for rows wider than 32767). */
        inter += (int16_t)a;
        uni += (int16_t)b;
    }
    return (float)inter / (float)uni;
}

/* ====================================================== boxes and uncrop */

void amg_mask_to_box(const uint8_t *mask, int w, int h, int box[4])
{
    int x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = mask + (size_t)y * w;
        int first = -1, last = -1;
        for (int x = 0; x < w; x++)
            if (row[x]) {
                if (first < 0) first = x;
                last = x;
            }
        if (first < 0) continue;
        if (y0 == h) y0 = y;
        y1 = y;
        if (first < x0) x0 = first;
        if (last > x1) x1 = last;
    }
    if (x1 < 0) { /* empty: the official multiplies the box by 0 */
        box[0] = box[1] = box[2] = box[3] = 0;
        return;
    }
    box[0] = x0;
    box[1] = y0;
    box[2] = x1;
    box[3] = y1;
}

static int isclose20(float a, float b, float atol) { return a == b || fabsf(a - b) <= atol; }

int amg_box_near_crop_edge(const int box[4], const int crop_box[4], const int orig_box[4],
                           float atol)
{
    int ub[4];
    amg_uncrop_box(box, crop_box, ub);
    for (int i = 0; i < 4; i++) {
        int near_crop = isclose20((float)ub[i], (float)crop_box[i], atol);
        int near_img = isclose20((float)ub[i], (float)orig_box[i], atol);
        if (near_crop && !near_img) return 1;
    }
    return 0;
}

void amg_uncrop_box(const int box[4], const int crop_box[4], int out[4])
{
    out[0] = box[0] + crop_box[0];
    out[1] = box[1] + crop_box[1];
    out[2] = box[2] + crop_box[0];
    out[3] = box[3] + crop_box[1];
}

void amg_uncrop_point(const double pt[2], const int crop_box[4], double out[2])
{
    out[0] = pt[0] + crop_box[0];
    out[1] = pt[1] + crop_box[1];
}

void amg_uncrop_mask(const uint8_t *mask, const int crop_box[4], int W, int H, uint8_t *out)
{
    int cw = crop_box[2] - crop_box[0], ch = crop_box[3] - crop_box[1];
    memset(out, 0, (size_t)W * H);
    for (int y = 0; y < ch; y++)
        memcpy(out + (size_t)(y + crop_box[1]) * W + crop_box[0], mask + (size_t)y * cw,
               (size_t)cw);
}

void amg_box_xyxy_to_xywh(const int in[4], int out[4])
{
    int x0 = in[0], y0 = in[1], x1 = in[2], y1 = in[3];
    out[0] = x0;
    out[1] = y0;
    out[2] = x1 - x0;
    out[3] = y1 - y0;
}

/* =================================================================== NMS */

/* a sorts before b in torch's descending order (NaN first). */
static int score_before(float a, float b)
{
    if (isnan(a)) return !isnan(b);
    return a > b;
}

/* Stable merge sort of idx[0..n) by decreasing key. */
static void sort_desc_stable(int *idx, int *tmp, int n, const float *key)
{
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n;
            int hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            /* take from the right run only when strictly before: stable */
            while (i < mid && j < hi)
                tmp[k++] = score_before(key[idx[j]], key[idx[i]]) ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, sizeof(int) * (size_t)n);
    }
}

__attribute__((optimize("fp-contract=off")))
int amg_batched_nms(const float *boxes, const float *scores, const int *cats, int n,
                    double thr, int *keep)
{
    if (n <= 0) return 0;
    int *order = malloc(sizeof(int) * (size_t)n * 2);
    unsigned char *supp = calloc((size_t)n, 1);
    float *area = malloc(sizeof(float) * (size_t)n);
    if (!order || !supp || !area) {
        free(order);
        free(supp);
        free(area);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        order[i] = i;
        const float *b = boxes + 4 * (size_t)i;
        area[i] = (b[2] - b[0]) * (b[3] - b[1]);
    }
    sort_desc_stable(order, order + n, n, scores);
    /* One pass in global score order where a box only suppresses boxes of
     * its own category: the same kept set and order as torchvision's
     * per-category NMS followed by its sort of the kept boxes by score. */
    int nk = 0;
    for (int a = 0; a < n; a++) {
        int i = order[a];
        if (supp[i]) continue;
        keep[nk++] = i;
        const float *bi = boxes + 4 * (size_t)i;
        for (int c = a + 1; c < n; c++) {
            int j = order[c];
            if (supp[j] || (cats && cats[j] != cats[i])) continue;
            const float *bj = boxes + 4 * (size_t)j;
            float xx0 = bi[0] > bj[0] ? bi[0] : bj[0];
            float yy0 = bi[1] > bj[1] ? bi[1] : bj[1];
            float xx1 = bi[2] < bj[2] ? bi[2] : bj[2];
            float yy1 = bi[3] < bj[3] ? bi[3] : bj[3];
            float iw = xx1 - xx0 > 0.0f ? xx1 - xx0 : 0.0f;
            float ih = yy1 - yy0 > 0.0f ? yy1 - yy0 : 0.0f;
            float inter = iw * ih;
            float ovr = inter / (area[i] + area[j] - inter);
            /* torchvision compares the float IoU with a double threshold */
            if ((double)ovr > thr) supp[j] = 1;
        }
    }
    free(order);
    free(supp);
    free(area);
    return nk;
}

/* =================================================================== RLE */

/* The runs of a column-major 0/1 sequence of n values (see below). */
static int runs_of(const uint8_t *col, size_t n, int **counts)
{
    size_t changes = 0;
    uint8_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        changes += col[i] != cur;
        cur = col[i];
    }
    int *c = malloc(sizeof(int) * (changes + 1));
    if (!c) return -1;
    int k = 0;
    size_t last = 0;
    cur = 0;
    for (size_t i = 0; i < n; i++)
        if (col[i] != cur) {
            c[k++] = (int)(i - last);
            last = i;
            cur = col[i];
        }
    c[k++] = (int)(n - last);
    *counts = c;
    return k;
}

int amg_mask_to_rle(const uint8_t *mask, int w, int h, int **counts)
{
    *counts = NULL;
    if (!mask || w <= 0 || h <= 0 || (long long)w * h > INT_MAX) return -1;
    /* The runs go down the columns, starting from a virtual 0 (so a set
     * first pixel yields a leading 0 count). The mask is first transposed
     * to 0/1 columns in tiles: walking the columns of a row-major mask
     * directly misses the cache at every pixel (3x slower on 1280x720). */
    const size_t n = (size_t)w * h;
    uint8_t *col = malloc(n);
    if (!col) return -1;
    enum { T = 64 };
    for (int y0 = 0; y0 < h; y0 += T)
        for (int x0 = 0; x0 < w; x0 += T) {
            const int y1 = y0 + T < h ? y0 + T : h, x1 = x0 + T < w ? x0 + T : w;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    col[(size_t)x * h + y] = mask[(size_t)y * w + x] != 0;
        }
    int k = runs_of(col, n, counts);
    free(col);
    return k;
}

long long amg_rle_area(const int *counts, int n)
{
    long long a = 0;
    for (int i = 1; i < n; i += 2) a += counts[i];
    return a;
}

/* ================================================================== runs */

void amg_runs_free(amg_runs *r)
{
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

int amg_runs_push(amg_runs *r, uint32_t start, uint32_t len)
{
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 64;
        uint32_t *v = realloc(r->v, sizeof(uint32_t) * 2 * (size_t)cap);
        if (!v) return -1;
        r->v = v;
        r->cap = cap;
    }
    r->v[2 * r->n] = start;
    r->v[2 * r->n + 1] = len;
    r->n++;
    return 0;
}

static uint64_t load8(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

int amg_runs_push_row(amg_runs *r, const uint8_t *bin, int n, uint32_t base)
{
    /* Skips whole 8-byte words of zeros / ones: rows of a mask are mostly
     * one or the other. bin holds 0/1 bytes. */
    const uint64_t ones = 0x0101010101010101ull;
    int x = 0;
    while (x < n) {
        while (x + 8 <= n && load8(bin + x) == 0) x += 8;
        while (x < n && !bin[x]) x++;
        if (x >= n) break;
        int s = x;
        while (x + 8 <= n && load8(bin + x) == ones) x += 8;
        while (x < n && bin[x]) x++;
        if (amg_runs_push(r, base + (uint32_t)s, (uint32_t)(x - s))) return -1;
    }
    return 0;
}

int amg_runs_from_mask(const uint8_t *mask, int w, int h, amg_runs *r)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *row = mask + (size_t)y * w;
        int x = 0;
        while (x < w) {
            while (x < w && !row[x]) x++;
            if (x >= w) break;
            int s = x;
            while (x < w && row[x]) x++;
            if (amg_runs_push(r, (uint32_t)((size_t)y * w + s), (uint32_t)(x - s))) return -1;
        }
    }
    return 0;
}

void amg_runs_to_mask(const amg_runs *r, uint8_t *mask, size_t npix, uint8_t on)
{
    memset(mask, 0, npix);
    for (int k = 0; k < r->n; k++) memset(mask + r->v[2 * k], on, r->v[2 * k + 1]);
}

long long amg_runs_area(const amg_runs *r)
{
    long long a = 0;
    for (int k = 0; k < r->n; k++) a += r->v[2 * k + 1];
    return a;
}

void amg_runs_box(const amg_runs *r, int W, int box[4])
{
    if (r->n == 0) {
        box[0] = box[1] = box[2] = box[3] = 0;
        return;
    }
    int x0 = INT_MAX, x1 = -1;
    for (int k = 0; k < r->n; k++) {
        int xs = (int)(r->v[2 * k] % (uint32_t)W);
        int xe = xs + (int)r->v[2 * k + 1] - 1;
        if (xs < x0) x0 = xs;
        if (xe > x1) x1 = xe;
    }
    box[0] = x0;
    box[1] = (int)(r->v[0] / (uint32_t)W);
    box[2] = x1;
    box[3] = (int)(r->v[2 * (r->n - 1)] / (uint32_t)W);
}

/* ================================================== small-region removal */

typedef struct {
    int y, x0, x1; /* x1 exclusive */
} seg_t;

static int uf_find(int *par, int a)
{
    while (par[a] != a) {
        par[a] = par[par[a]];
        a = par[a];
    }
    return a;
}

static void uf_union(int *par, int a, int b)
{
    a = uf_find(par, a);
    b = uf_find(par, b);
    if (a < b) par[b] = a;
    else if (b < a) par[a] = b;
}

typedef struct {
    long long key;
    int root;
} comp_key_t;

static int cmp_comp_key(const void *a, const void *b)
{
    long long ka = ((const comp_key_t *)a)->key, kb = ((const comp_key_t *)b)->key;
    return (ka > kb) - (ka < kb);
}

/* 8-connected components of the segments (sorted by row, then x).
 * comp[s] receives the component index of segment s, numbered as OpenCV's
 * labels 1..n are (minus one): OpenCV labels 8-connected images with a
 * block-based scan (2x2 blocks, rows 2k and 2k+1 together; Spaghetti /
 * BBDT, also its parallel variant, whose stripes are block-row aligned), and
 * the final labels follow the order of each component's first block in that
 * scan. All set pixels of a 2x2 block are 8-connected, so that order is well
 * defined: key = (y / 2, x / 2) of the component's first block.
 * Returns the number of components, sizes[c] its pixel count; -1 on OOM. */
static int label_segments(const seg_t *s, int ns, int W, int *comp, long long **sizes_out)
{
    int *par = malloc(sizeof(int) * (size_t)(ns > 0 ? ns : 1));
    comp_key_t *keys = malloc(sizeof(comp_key_t) * (size_t)(ns > 0 ? ns : 1));
    long long *sizes = NULL;
    if (!par || !keys) goto oom;
    for (int i = 0; i < ns; i++) par[i] = i;
    /* Union each segment with the segments of the row above that touch it
     * with 8-connectivity: [a0, a1) and [b0, b1) touch when b0 <= a1 and
     * a0 <= b1 (diagonal contact included). */
    int prev_s = 0, prev_e = 0; /* segments of the previous row */
    int i = 0;
    while (i < ns) {
        int y = s[i].y, rs = i;
        while (i < ns && s[i].y == y) i++;
        int re = i;
        if (prev_e > prev_s && s[prev_s].y == y - 1) {
            int j = prev_s;
            for (int a = rs; a < re; a++) {
                while (j < prev_e && s[j].x1 < s[a].x0) j++;
                for (int k = j; k < prev_e && s[k].x0 <= s[a].x1; k++) uf_union(par, a, k);
            }
        }
        prev_s = rs;
        prev_e = re;
    }
    long long bw = (W + 1) / 2;
    int nc = 0;
    for (int a = 0; a < ns; a++) {
        int r = uf_find(par, a);
        long long key = (long long)(s[a].y / 2) * bw + s[a].x0 / 2;
        if (r == a) {
            keys[nc].key = key;
            keys[nc].root = a;
            comp[a] = nc++; /* temporary: root -> slot */
        } else {
            /* segments come in scan order, so the root (smallest index)
             * has been seen and holds its slot */
            comp_key_t *k = &keys[comp[r]];
            if (key < k->key) k->key = key;
        }
    }
    qsort(keys, (size_t)nc, sizeof *keys, cmp_comp_key);
    /* par[root] <- final label (roots keep par[root] == root until now, so
     * store labels in a separate pass through comp of the roots) */
    for (int c = 0; c < nc; c++) comp[keys[c].root] = c;
    sizes = calloc((size_t)(nc > 0 ? nc : 1), sizeof(long long));
    if (!sizes) goto oom;
    for (int a = 0; a < ns; a++) {
        int r = uf_find(par, a);
        if (r != a) comp[a] = comp[r];
    }
    for (int a = 0; a < ns; a++) sizes[comp[a]] += s[a].x1 - s[a].x0;
    free(par);
    free(keys);
    *sizes_out = sizes;
    return nc;
oom:
    free(par);
    free(keys);
    free(sizes);
    return -1;
}

int amg_runs_remove_small_regions(const amg_runs *in, int W, int H, double area_thresh,
                                  int mode, amg_runs *out)
{
    int holes = mode == AMG_HOLES;
    /* The working set: the mask (islands) or its complement (holes), as
     * row segments. */
    size_t cap = (size_t)in->n + (holes ? (size_t)H : 0) + 1;
    seg_t *s = malloc(sizeof(seg_t) * cap);
    int *comp = malloc(sizeof(int) * cap);
    uint8_t *row = malloc((size_t)W);
    long long *sizes = NULL;
    int ret = -1;
    if (!s || !comp || !row) goto done;
    int ns = 0;
    if (!holes) {
        for (int k = 0; k < in->n; k++) {
            uint32_t st = in->v[2 * k];
            s[ns].y = (int)(st / (uint32_t)W);
            s[ns].x0 = (int)(st % (uint32_t)W);
            s[ns].x1 = s[ns].x0 + (int)in->v[2 * k + 1];
            ns++;
        }
    } else {
        int k = 0;
        for (int y = 0; y < H; y++) {
            int x = 0;
            while (k < in->n && (int)(in->v[2 * k] / (uint32_t)W) == y) {
                int xs = (int)(in->v[2 * k] % (uint32_t)W);
                if (xs > x) s[ns++] = (seg_t){y, x, xs};
                x = xs + (int)in->v[2 * k + 1];
                k++;
            }
            if (x < W) s[ns++] = (seg_t){y, x, W};
        }
    }
    int nc = label_segments(s, ns, W, comp, &sizes);
    if (nc < 0) goto done;
    int n_small = 0;
    for (int c = 0; c < nc; c++) n_small += (double)sizes[c] < area_thresh;
    if (n_small == 0) {
        ret = 0;
        goto done;
    }
    /* take[c]: the component's pixels are set in the result. */
    uint8_t *take = malloc((size_t)nc);
    if (!take) goto done;
    if (holes) {
        for (int c = 0; c < nc; c++) take[c] = (double)sizes[c] < area_thresh;
    } else {
        int any = 0;
        for (int c = 0; c < nc; c++) {
            take[c] = !((double)sizes[c] < area_thresh);
            if (take[c]) any = 1;
        }
        if (!any) { /* every island is small: keep the largest (first max) */
            int best = 0;
            for (int c = 1; c < nc; c++)
                if (sizes[c] > sizes[best]) best = c;
            take[best] = 1;
        }
    }
    /* Rebuild row by row: holes = mask + taken complement segments;
     * islands = taken mask segments. */
    int k = 0, a = 0, failed = 0;
    for (int y = 0; y < H && !failed; y++) {
        int any = 0;
        memset(row, 0, (size_t)W);
        if (holes) {
            while (k < in->n && (int)(in->v[2 * k] / (uint32_t)W) == y) {
                memset(row + in->v[2 * k] % (uint32_t)W, 1, in->v[2 * k + 1]);
                k++;
                any = 1;
            }
        }
        while (a < ns && s[a].y == y) {
            if (take[comp[a]]) {
                memset(row + s[a].x0, 1, (size_t)(s[a].x1 - s[a].x0));
                any = 1;
            }
            a++;
        }
        if (any && amg_runs_push_row(out, row, W, (uint32_t)((size_t)y * W))) failed = 1;
    }
    free(take);
    if (failed) amg_runs_free(out);
    ret = failed ? -1 : 1;
done:
    free(s);
    free(comp);
    free(row);
    free(sizes);
    return ret;
}

int amg_remove_small_regions(uint8_t *mask, int w, int h, double area_thresh, int mode)
{
    amg_runs in = {0}, out = {0};
    if (amg_runs_from_mask(mask, w, h, &in)) {
        amg_runs_free(&in);
        return -1;
    }
    int r = amg_runs_remove_small_regions(&in, w, h, area_thresh, mode, &out);
    if (r == 1) amg_runs_to_mask(&out, mask, (size_t)w * h, 1);
    amg_runs_free(&in);
    amg_runs_free(&out);
    return r;
}

/* ============================================== fused logit up-scaler */

#define UP_LOW 256  /* low-res side */
#define UP_MID 1024 /* encoder frame side */

int amg_upscale_plan_init(amg_upscale_plan *p, int rw, int rh, int w, int h)
{
    memset(p, 0, sizeof *p);
    if (rw <= 0 || rh <= 0 || rw > UP_MID || rh > UP_MID || w <= 0 || h <= 0) return -1;
    size_t n = (size_t)rw * 2 + (size_t)rh * 2 + (size_t)w * 2 + (size_t)h * 2;
    char *mem = malloc(n * (sizeof(int) + sizeof(float)));
    if (!mem) return -1;
    p->mem = mem;
    p->rw = rw;
    p->rh = rh;
    p->w = w;
    p->h = h;
    int *ip = (int *)mem;
    float *fp = (float *)(ip + n);
    /* carve the index / weight arrays, in the order of the declaration */
    int **ia[8] = {&p->c1i0, &p->c1i1, &p->r1i0, &p->r1i1, &p->c2i0, &p->c2i1, &p->r2i0, &p->r2i1};
    float **fa[8] = {&p->c1w0, &p->c1w1, &p->r1w0, &p->r1w1, &p->c2w0, &p->c2w1, &p->r2w0, &p->r2w1};
    int len[8] = {rw, rw, rh, rh, w, w, h, h};
    for (int k = 0; k < 8; k++) {
        *ia[k] = ip;
        *fa[k] = fp;
        ip += len[k];
        fp += len[k];
    }
    /* Stage 1: 256 -> 1024 in both directions, of which only the first rw
     * columns and rh rows are ever read (the crop to the resized image). */
    ops_bilinear_taps(UP_LOW, UP_MID, rw, p->c1i0, p->c1i1, p->c1w0, p->c1w1);
    ops_bilinear_taps(UP_LOW, UP_MID, rh, p->r1i0, p->r1i1, p->r1w0, p->r1w1);
    /* Stage 2: (rh, rw) -> (h, w). */
    ops_bilinear_taps(rw, w, w, p->c2i0, p->c2i1, p->c2w0, p->c2w1);
    ops_bilinear_taps(rh, h, h, p->r2i0, p->r2i1, p->r2w0, p->r2w1);
    return 0;
}

void amg_upscale_plan_free(amg_upscale_plan *p)
{
    free(p->mem);
    memset(p, 0, sizeof *p);
}

size_t amg_upscale_scratch_floats(const amg_upscale_plan *p)
{
    /* horizontally interpolated low-res rows (256 x rw), one stage-1 row
     * (rw), two horizontally interpolated stage-1 rows (2 x w), output row */
    return (size_t)UP_LOW * p->rw + (size_t)p->rw + 3 * (size_t)p->w;
}

/* The inner loops of the up-scaler: the horizontal taps are
 * ops_interp_taps; the vertical blend is written so that the compiler
 * vectorises it (omp simd, restrict) and cloned for AVX2 (AMG_CLONES;
 * AVX2 without FMA). Both round every product and sum as written, so the
 * bits are those of ops_resize_bilinear on any instruction set. */

/* dst[x] = a[x] * l0 + b[x] * l1 (a may be b) */
AMG_CLONES __attribute__((optimize("fp-contract=off")))
static void blend_rows(float *restrict dst, const float *restrict a, const float *restrict b,
                       float l0, float l1, int n)
{
#pragma omp simd
    for (int x = 0; x < n; x++) dst[x] = a[x] * l0 + b[x] * l1;
}

typedef struct {
    const amg_upscale_plan *p;
    const float *low;
    float *h1, *irow, *slot[2];
    int slot_row[2];
    unsigned char done[UP_LOW];
} up_state;

/* Low-res row s interpolated horizontally to the first rw stage-1 columns
 * (the t0 / t1 terms of the stage-1 rows that read it). */
__attribute__((optimize("fp-contract=off")))
static const float *h1_row(up_state *st, int s)
{
    const amg_upscale_plan *p = st->p;
    float *dst = st->h1 + (size_t)s * p->rw;
    if (!st->done[s]) {
        ops_interp_taps(dst, st->low + (size_t)s * UP_LOW, UP_LOW, p->c1i0, p->c1i1, p->c1w0,
                        p->c1w1, p->rw);
        st->done[s] = 1;
    }
    return dst;
}

/* Stage-1 row r (vertical blend of two h1 rows), then interpolated
 * horizontally to the w output columns; cached in one of two slots, never
 * evicting the slot holding row `keep`. */
__attribute__((optimize("fp-contract=off")))
static const float *h2_row(up_state *st, int r, int keep)
{
    if (st->slot_row[0] == r) return st->slot[0];
    if (st->slot_row[1] == r) return st->slot[1];
    const amg_upscale_plan *p = st->p;
    int v = st->slot_row[0] == keep ? 1 : 0;
    const float *a = h1_row(st, p->r1i0[r]);
    const float *b = h1_row(st, p->r1i1[r]);
    blend_rows(st->irow, a, b, p->r1w0[r], p->r1w1[r], p->rw);
    float *dst = st->slot[v];
    ops_interp_taps(dst, st->irow, p->rw, p->c2i0, p->c2i1, p->c2w0, p->c2w1, p->w);
    st->slot_row[v] = r;
    return dst;
}

__attribute__((optimize("fp-contract=off")))
void amg_upscale_rows(const amg_upscale_plan *p, const float *lowres, float *scratch,
                      amg_row_fn fn, void *ctx)
{
    up_state st;
    st.p = p;
    st.low = lowres;
    st.h1 = scratch;
    st.irow = scratch + (size_t)UP_LOW * p->rw;
    st.slot[0] = st.irow + p->rw;
    st.slot[1] = st.slot[0] + p->w;
    st.slot_row[0] = st.slot_row[1] = -1;
    memset(st.done, 0, sizeof st.done);
    float *out = st.slot[1] + p->w;
    for (int y = 0; y < p->h; y++) {
        int ra = p->r2i0[y], rb = p->r2i1[y];
        const float *a = h2_row(&st, ra, rb);
        const float *b = h2_row(&st, rb, ra);
        blend_rows(out, a, b, p->r2w0[y], p->r2w1[y], p->w);
        fn(y, out, ctx);
    }
}
