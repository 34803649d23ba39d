/*
 * amg.c - "segment everything": the official SamAutomaticMaskGenerator
 * (mobile_sam/automatic_mask_generator.py, output_mode "binary_mask") on
 * top of the public API (mobilesam_encode, mobilesam_predict_logits), with
 * the pure stages in amg_utils.c.
 *
 * Pipeline, as the official one: for every crop box (the whole image, then
 * crop_n_layers layers of smaller crops) encode the crop, decode the point
 * grid in batches with multimask output, keep masks with predicted IoU >
 * pred_iou_thresh, compute the stability score on the up-scaled logits and
 * keep those >= stability_score_thresh, binarise, drop masks whose box
 * touches a crop edge that is not an image edge, NMS within the crop; then
 * NMS across crops preferring smaller crops, and optionally remove small
 * holes / islands and NMS again.
 *
 * Cost and memory: the up-scaled logits of a mask (width x height floats)
 * are never materialised. Each surviving low-res plane is streamed through
 * the fused up-scaler (amg_upscale_rows, bit-identical to
 * mobilesam_upscale_logits / Sam.postprocess_masks) one output row at a
 * time, and each row is consumed at once: stability counts, binarisation,
 * area, box and the mask's row runs in one pass. Masks are kept as row runs
 * (amg_runs), or as packed bitmaps when that is smaller, until the records
 * are written; the NMS only looks at boxes. Masks are processed in
 * parallel (OpenMP); the decoder and encoder run outside that region.
 */
#include "mobilesam.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "amg/amg_utils.h"
#include "ops/ops.h"

/* Points decoded per mobilesam_predict_logits call: bounds the low-res
 * logit buffer (64 * 3 * 256 KiB) whatever points_per_batch is. Batching
 * does not change any result: every filter before the per-crop NMS is per
 * mask and keeps the order. */
#define DECODE_CHUNK 64
/* Bytes of candidate masks one crop may hold until its NMS (masks are kept
 * compressed, but with thresholds 0 every candidate is held): beyond, the
 * generator stops with an error instead of eating the machine's memory. */
#define AMG_MAX_HELD ((size_t)8 << 30) /* the message below says 8 GiB */
/* is_box_near_crop_edge's default tolerance (pixels). */
#define EDGE_ATOL 20.0f
/* Sam.mask_threshold */
#define MASK_THRESHOLD 0.0f

void mobilesam_amg_defaults(mobilesam_amg_options *o)
{
    memset(o, 0, sizeof *o);
    o->points_per_side = 32;
    o->points_per_batch = 64;
    o->pred_iou_thresh = 0.88f;
    o->stability_score_thresh = 0.95f;
    o->stability_score_offset = 1.0f;
    o->box_nms_thresh = 0.7f;
    o->crop_n_layers = 0;
    o->crop_nms_thresh = 0.7f;
    o->crop_overlap_ratio = (float)(512.0 / 1500.0);
    o->crop_n_points_downscale_factor = 1;
    o->min_mask_region_area = 0;
}

int mobilesam_mask_to_rle(const uint8_t *mask, int width, int height, int **counts)
{
    return amg_mask_to_rle(mask, width, height, counts);
}

void mobilesam_amg_result_free(mobilesam_amg_result *res)
{
    if (!res) return;
    for (int i = 0; i < res->n; i++) free(res->masks[i].mask);
    free(res->masks);
    res->masks = NULL;
    res->n = 0;
}

static mobilesam_status fail(mobilesam_error *err, mobilesam_status st, const char *msg)
{
    if (err) snprintf(err->message, sizeof err->message, "%s", msg);
    return st;
}

/* The official options are Python floats (doubles); ours are float. Where
 * the official uses the value as a double (the NMS thresholds compared
 * with a double in torchvision, the crop overlap in float64 arithmetic) we
 * take the shortest decimal that rounds to the float, i.e. what the user
 * wrote, and the exact 512 / 1500 for the default overlap. */
static double as_written(float f)
{
    if (f == (float)(512.0 / 1500.0)) return 512.0 / 1500.0;
    char buf[64];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

/* ------------------------------------------------------------ records */

/* A record's mask is stored compactly: as its row runs (8 bytes a run) in
 * the full frame, or, when that would take more room (masks of noisy
 * logits can have tens of thousands of runs, and with thresholds 0 every
 * candidate of a crop is held until the NMS), as packed rows (1 bit a
 * pixel) of a frame: rows by..by+bh-1, columns bx..bx+bw-1. */
typedef struct {
    amg_runs runs;   /* compact masks (bits == NULL) */
    uint8_t *bits;   /* fragmented masks: bh rows of (bw+7)/8 bytes */
    int bx, by, bw, bh;
    int area;
    int box[4];      /* XYXY inclusive, full frame (official uncropped box) */
    float iou, stab;
    double pt[2];    /* the grid point, full frame */
    int crop;        /* index of its crop box */
} rec_t;

typedef struct {
    rec_t *v;
    int n, cap;
} rec_list;

/* Sets bits [x, x + len) of a packed row. */
static void set_bits(uint8_t *row, int x, int len)
{
    int e = x + len;
    for (; x < e && (x & 7); x++) row[x >> 3] |= (uint8_t)(1u << (x & 7));
    if (e - x >= 8) {
        memset(row + (x >> 3), 0xff, (size_t)(e - x) >> 3);
        x += (e - x) & ~7;
    }
    for (; x < e; x++) row[x >> 3] |= (uint8_t)(1u << (x & 7));
}

static int copy_runs(amg_runs *dst, const amg_runs *src)
{
    memset(dst, 0, sizeof *dst);
    if (src->n == 0) return 0;
    dst->v = malloc(sizeof(uint32_t) * 2 * (size_t)src->n);
    if (!dst->v) return -1;
    memcpy(dst->v, src->v, sizeof(uint32_t) * 2 * (size_t)src->n);
    dst->n = dst->cap = src->n;
    return 0;
}

/* Stores full-frame runs (post-processed masks), packed if smaller. */
static int rec_from_runs(rec_t *r, const amg_runs *runs, int W, int H)
{
    size_t stride = ((size_t)W + 7) / 8;
    r->bits = NULL;
    r->area = (int)amg_runs_area(runs);
    if ((size_t)runs->n * 2 * sizeof(uint32_t) <= stride * H) return copy_runs(&r->runs, runs);
    memset(&r->runs, 0, sizeof r->runs);
    r->bits = calloc(stride * H, 1);
    if (!r->bits) return -1;
    r->bx = r->by = 0;
    r->bw = W;
    r->bh = H;
    for (int k = 0; k < runs->n; k++) {
        uint32_t st = runs->v[2 * k];
        set_bits(r->bits + (st / (uint32_t)W) * stride, (int)(st % (uint32_t)W),
                 (int)runs->v[2 * k + 1]);
    }
    return 0;
}

static void rec_free(rec_t *r)
{
    amg_runs_free(&r->runs);
    free(r->bits);
    r->bits = NULL;
}

static void rec_to_mask(const rec_t *r, uint8_t *mask, int W, size_t npix, uint8_t on)
{
    if (!r->bits) {
        amg_runs_to_mask(&r->runs, mask, npix, on);
        return;
    }
    memset(mask, 0, npix);
    size_t stride = ((size_t)r->bw + 7) / 8;
    for (int y = 0; y < r->bh; y++)
        amg_unpack_row(r->bits + stride * y, r->bw, mask + (size_t)(r->by + y) * W + r->bx, on);
}

/* The record's runs: its own, or decoded into *tmp. 0 or -1. */
static int rec_runs(const rec_t *r, int W, amg_runs *tmp, const amg_runs **out)
{
    *out = &r->runs;
    if (!r->bits) return 0;
    size_t stride = ((size_t)r->bw + 7) / 8;
    uint8_t *row = malloc((size_t)r->bw);
    if (!row) return -1;
    for (int y = 0; y < r->bh; y++) {
        amg_unpack_row(r->bits + stride * y, r->bw, row, 1);
        if (amg_runs_push_row(tmp, row, r->bw, (uint32_t)((size_t)(r->by + y) * W + r->bx))) {
            free(row);
            return -1;
        }
    }
    free(row);
    *out = tmp;
    return 0;
}

static void recs_free(rec_list *L)
{
    for (int i = 0; i < L->n; i++) rec_free(&L->v[i]);
    free(L->v);
    memset(L, 0, sizeof *L);
}

static int recs_push(rec_list *L, const rec_t *r)
{
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 256;
        rec_t *v = realloc(L->v, sizeof(rec_t) * (size_t)cap);
        if (!v) return -1;
        L->v = v;
        L->cap = cap;
    }
    L->v[L->n++] = *r;
    return 0;
}

/* batched_nms over records [start, n) with one category, then
 * data.filter(keep): the survivors in keep order (decreasing score). */
static int nms_records(rec_list *L, int start, const float *scores, double thr)
{
    int n = L->n - start;
    if (n <= 0) return 0;
    float *boxes = malloc(sizeof(float) * 4 * (size_t)n);
    int *keep = malloc(sizeof(int) * (size_t)n);
    rec_t *tmp = malloc(sizeof(rec_t) * (size_t)n);
    unsigned char *kept = calloc((size_t)n, 1);
    int nk = -1;
    if (boxes && keep && tmp && kept) {
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 4; c++) boxes[4 * i + c] = (float)L->v[start + i].box[c];
        nk = amg_batched_nms(boxes, scores, NULL, n, thr, keep);
    }
    if (nk >= 0) {
        for (int k = 0; k < nk; k++) {
            tmp[k] = L->v[start + keep[k]];
            kept[keep[k]] = 1;
        }
        for (int i = 0; i < n; i++)
            if (!kept[i]) rec_free(&L->v[start + i]);
        memcpy(L->v + start, tmp, sizeof(rec_t) * (size_t)nk);
        L->n = start + nk;
    }
    free(boxes);
    free(keep);
    free(tmp);
    free(kept);
    return nk < 0 ? -1 : 0;
}

/* ------------------------------------------------- per-mask processing */

typedef struct {
    const amg_upscale_plan *plan;
    float thr_hi, thr_lo; /* mask_threshold +- stability offset */
    float stab_thresh;
    int W, H;
    int cb[4];            /* crop box, XYXY exclusive */
} mask_job;

typedef struct {
    const mask_job *job;
    uint8_t *bin;      /* one binarised row */
    amg_runs runs;     /* the mask's runs while it has few ... */
    uint8_t *bits;     /* ... else its packed rows (crop frame, ch x stride) */
    int use_bits, stride;
    int runs_limit;    /* run count beyond which the packed rows are smaller */
    int32_t inter, uni;
    int area, bx0, by0, bx1, by1; /* crop-frame box; bx1 < 0 while empty */
    int oom;
} row_ctx;

static void grow_box(row_ctx *c, int y, int first, int last)
{
    if (c->bx1 < 0) {
        c->bx0 = first;
        c->bx1 = last;
        c->by0 = y;
    }
    if (first < c->bx0) c->bx0 = first;
    if (last > c->bx1) c->bx1 = last;
    c->by1 = y;
}

/* The runs so far become packed rows; later rows are packed directly. */
static void switch_to_bits(row_ctx *c)
{
    const mask_job *j = c->job;
    memset(c->bits, 0, (size_t)c->stride * j->plan->h);
    for (int k = 0; k < c->runs.n; k++) {
        uint32_t st = c->runs.v[2 * k];
        int y = (int)(st / (uint32_t)j->W) - j->cb[1], x = (int)(st % (uint32_t)j->W) - j->cb[0];
        set_bits(c->bits + (size_t)y * c->stride, x, (int)c->runs.v[2 * k + 1]);
    }
    c->runs.n = 0;
    c->use_bits = 1;
}

/* One up-scaled row: stability counts (per-row int16 as the official),
 * binarisation at mask_threshold, area, box, and the row's runs in the
 * full frame or its packed bits. */
static void analyse_row(int y, const float *row, void *vctx)
{
    row_ctx *c = vctx;
    const mask_job *j = c->job;
    int w = j->plan->w, a, b, n;
    uint8_t *bin = c->bin;
    amg_count_binarise_row(row, w, j->thr_hi, j->thr_lo, MASK_THRESHOLD, bin, &a, &b, &n);
    c->inter += (int16_t)a;
    c->uni += (int16_t)b;
    if (n == 0) return;
    c->area += n;
    if (!c->use_bits) {
        int n0 = c->runs.n;
        uint32_t base = (uint32_t)((size_t)(j->cb[1] + y) * j->W + j->cb[0]);
        if (amg_runs_push_row(&c->runs, bin, w, base)) {
            c->oom = 1;
            return;
        }
        const uint32_t *v = c->runs.v;
        int k = c->runs.n - 1;
        grow_box(c, y, (int)(v[2 * n0] - base), (int)(v[2 * k] - base + v[2 * k + 1]) - 1);
        /* switch as soon as the runs, extrapolated to the whole height,
         * would outgrow the packed rows: a noisy mask switches after its
         * first row instead of paying for runs it will drop */
        if ((long long)c->runs.n * j->plan->h > (long long)c->runs_limit * (y + 1))
            switch_to_bits(c);
    } else {
        uint8_t *rb = c->bits + (size_t)y * c->stride;
        amg_pack_row(bin, w, rb);
        int f = 0, l = c->stride - 1;
        while (!rb[f]) f++; /* n > 0: some byte is set */
        while (!rb[l]) l--;
        grow_box(c, y, 8 * f + __builtin_ctz(rb[f]), 8 * l + 31 - __builtin_clz(rb[l]));
    }
}

/* Stability, binarisation, box, crop-edge test and uncropping of one
 * low-res plane. Returns 1 and fills *out when the mask is kept, 0 when it
 * is filtered out, -1 when out of memory. */
static int process_mask(const mask_job *job, row_ctx *rc, float *scratch, const float *plane,
                        rec_t *out)
{
    rc->runs.n = 0;
    rc->use_bits = 0;
    rc->inter = rc->uni = 0;
    rc->area = 0;
    rc->bx1 = -1;
    rc->oom = 0;
    amg_upscale_rows(job->plan, plane, scratch, analyse_row, rc);
    if (rc->oom) return -1;
    /* intersections / unions: int32 / int32 -> float32 in torch */
    float stab = (float)rc->inter / (float)rc->uni;
    if (job->stab_thresh > 0.0f && !(stab >= job->stab_thresh)) return 0;
    /* batched_mask_to_box on the crop-frame mask ([0,0,0,0] if empty) */
    int box[4] = {0, 0, 0, 0};
    if (rc->bx1 >= 0) {
        box[0] = rc->bx0;
        box[1] = rc->by0;
        box[2] = rc->bx1;
        box[3] = rc->by1;
    }
    int orig[4] = {0, 0, job->W, job->H};
    if (amg_box_near_crop_edge(box, job->cb, orig, EDGE_ATOL)) return 0;
    amg_uncrop_box(box, job->cb, out->box);
    out->stab = stab;
    out->area = rc->area;
    out->bits = NULL;
    if (!rc->use_bits) return copy_runs(&out->runs, &rc->runs) ? -1 : 1;
    /* keep the rows of the box only */
    memset(&out->runs, 0, sizeof out->runs);
    out->bx = job->cb[0];
    out->by = job->cb[1] + rc->by0;
    out->bw = job->plan->w;
    out->bh = rc->by1 - rc->by0 + 1;
    size_t bytes = (size_t)rc->stride * out->bh;
    out->bits = malloc(bytes);
    if (!out->bits) return -1;
    memcpy(out->bits, rc->bits + (size_t)rc->stride * rc->by0, bytes);
    return 1;
}

/* Runs process_mask over the candidate planes in parallel; result[i] /
 * status[i] per candidate. Returns 0, or -1 when out of memory. */
static int process_candidates(const mask_job *job, const float *logits, const int *cand,
                              int ncand, rec_t *result, signed char *status)
{
    int failed = 0;
    size_t plane = (size_t)MOBILESAM_LOWRES * MOBILESAM_LOWRES;
    size_t nscr = amg_upscale_scratch_floats(job->plan);
    int nt = ops_get_threads();
    if (nt > ncand) nt = ncand;
    if (nt < 1) nt = 1;
#pragma omp parallel num_threads(nt)
    {
        float *scratch = malloc(sizeof(float) * nscr);
        row_ctx rc;
        memset(&rc, 0, sizeof rc);
        rc.job = job;
        rc.bin = malloc((size_t)job->plan->w);
        rc.stride = (job->plan->w + 7) / 8;
        rc.bits = malloc((size_t)rc.stride * job->plan->h);
        size_t lim = (size_t)rc.stride * job->plan->h / (2 * sizeof(uint32_t));
        rc.runs_limit = lim > INT_MAX ? INT_MAX : (int)lim;
        if (!scratch || !rc.bin || !rc.bits) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < ncand; i++) {
            int f;
#pragma omp atomic read
            f = failed;
            if (f) {
                status[i] = 0;
                continue;
            }
            int r = process_mask(job, &rc, scratch, logits + plane * (size_t)cand[i], &result[i]);
            status[i] = (signed char)r;
            if (r < 0) {
#pragma omp atomic write
                failed = 1;
            }
        }
        free(scratch);
        free(rc.bin);
        free(rc.bits);
        amg_runs_free(&rc.runs);
    }
    if (failed) {
        for (int i = 0; i < ncand; i++)
            if (status[i] == 1) rec_free(&result[i]);
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------------- one crop */

typedef struct {
    mobilesam_model *model;
    const uint8_t *rgb;
    int W, H;
    const mobilesam_amg_options *opt;
    int batches_done, batches_total;
} gen_ctx;

static mobilesam_status process_crop(gen_ctx *g, const int cb[4], int crop_idx,
                                     const double *grid, int npts, rec_list *L,
                                     mobilesam_error *err)
{
    const mobilesam_amg_options *opt = g->opt;
    int cw = cb[2] - cb[0], ch = cb[3] - cb[1];
    mobilesam_status st = MOBILESAM_OK;
    mobilesam_embedding *emb = NULL;
    amg_upscale_plan plan;
    memset(&plan, 0, sizeof plan);
    int chunk = opt->points_per_batch < DECODE_CHUNK ? opt->points_per_batch : DECODE_CHUNK;
    size_t plane = (size_t)MOBILESAM_LOWRES * MOBILESAM_LOWRES;
    float *logits = NULL, *scores = NULL, *pts = NULL;
    int *cand = NULL;
    rec_t *result = NULL;
    signed char *status = NULL;
    int start = L->n;
    size_t held = 0; /* bytes of this crop's candidates so far */

    /* image[y0:y1, x0:x1], contiguous for the encoder */
    uint8_t *crop = malloc((size_t)cw * ch * 3);
    if (!crop) return fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
    for (int y = 0; y < ch; y++)
        memcpy(crop + (size_t)y * cw * 3, g->rgb + ((size_t)(cb[1] + y) * g->W + cb[0]) * 3,
               (size_t)cw * 3);
    st = mobilesam_encode(g->model, crop, cw, ch, &emb, err);
    free(crop);
    if (st) return st;

    int rw, rh;
    mobilesam_embedding_size(emb, NULL, NULL, &rw, &rh);
    logits = malloc(sizeof(float) * plane * 3 * (size_t)chunk);
    scores = malloc(sizeof(float) * 3 * (size_t)chunk);
    pts = malloc(sizeof(float) * 2 * (size_t)chunk);
    cand = malloc(sizeof(int) * 3 * (size_t)chunk);
    result = malloc(sizeof(rec_t) * 3 * (size_t)chunk);
    status = malloc(3 * (size_t)chunk);
    if (!logits || !scores || !pts || !cand || !result || !status ||
        amg_upscale_plan_init(&plan, rw, rh, cw, ch)) {
        st = fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
        goto done;
    }
    mask_job job;
    job.plan = &plan;
    job.thr_hi = (float)((double)MASK_THRESHOLD + (double)opt->stability_score_offset);
    job.thr_lo = (float)((double)MASK_THRESHOLD - (double)opt->stability_score_offset);
    job.stab_thresh = opt->stability_score_thresh;
    job.W = g->W;
    job.H = g->H;
    memcpy(job.cb, cb, sizeof job.cb);

    for (int b0 = 0, bn = 0; b0 < npts; b0 += bn) {
        bn = npts - b0 < opt->points_per_batch ? npts - b0 : opt->points_per_batch;
        for (int c0 = b0; c0 < b0 + bn; c0 += chunk) {
            int cn = b0 + bn - c0 < chunk ? b0 + bn - c0 : chunk;
            /* points_for_image = grid * (crop_w, crop_h), in the crop frame */
            double pd[2 * DECODE_CHUNK];
            for (int i = 0; i < cn; i++) {
                pd[2 * i] = grid[2 * (size_t)(c0 + i)] * cw;
                pd[2 * i + 1] = grid[2 * (size_t)(c0 + i) + 1] * ch;
                pts[2 * i] = (float)pd[2 * i];
                pts[2 * i + 1] = (float)pd[2 * i + 1];
            }
            /* masks that the IoU filter below drops need no logits */
            float skip = opt->pred_iou_thresh > 0.0f ? opt->pred_iou_thresh : -INFINITY;
            st = mobilesam_predict_logits(g->model, emb, pts, cn, skip, logits, scores, err);
            if (st) goto done;
            /* masks.flatten(0, 1): point-major, the 3 masks of a point in
             * model order; filter by predicted IoU */
            int nc = 0;
            for (int k = 0; k < 3 * cn; k++)
                if (!(opt->pred_iou_thresh > 0.0f) || scores[k] > opt->pred_iou_thresh)
                    cand[nc++] = k;
            if (nc == 0) continue;
            if (process_candidates(&job, logits, cand, nc, result, status)) {
                st = fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
                goto done;
            }
            for (int i = 0; i < nc; i++) {
                if (status[i] != 1) continue;
                rec_t *r = &result[i];
                int k = cand[i];
                r->iou = scores[k];
                double p[2] = {pd[2 * (k / 3)], pd[2 * (k / 3) + 1]};
                amg_uncrop_point(p, cb, r->pt);
                r->crop = crop_idx;
                held += r->bits ? ((size_t)r->bw + 7) / 8 * (size_t)r->bh
                                : (size_t)r->runs.n * 2 * sizeof(uint32_t);
                held += sizeof(rec_t);
                if (held > AMG_MAX_HELD || recs_push(L, r)) { /* r is not in L */
                    for (int j = i; j < nc; j++)
                        if (status[j] == 1) rec_free(&result[j]);
                    st = held > AMG_MAX_HELD
                             ? fail(err, MOBILESAM_ERR_INVALID,
                                    "more than 8 GiB of candidate masks in one crop: raise "
                                    "pred_iou_thresh / stability_score_thresh or lower "
                                    "points_per_side")
                             : fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
                    goto done;
                }
            }
        }
        g->batches_done++;
        if (opt->progress) opt->progress(g->batches_done, g->batches_total, opt->progress_ctx);
    }

    /* Remove duplicates within the crop: batched_nms by predicted IoU, one
     * category. (The official runs it on crop-frame boxes; IoU does not
     * change under the integer translation to the full frame.) */
    {
        int n = L->n - start;
        float *sc = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
        if (!sc) {
            st = fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < n; i++) sc[i] = L->v[start + i].iou;
        int rc = nms_records(L, start, sc, as_written(opt->box_nms_thresh));
        free(sc);
        if (rc) st = fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
    }
done:
    mobilesam_embedding_free(emb);
    amg_upscale_plan_free(&plan);
    free(logits);
    free(scores);
    free(pts);
    free(cand);
    free(result);
    free(status);
    return st;
}

/* ------------------------------------------------ small-region clean-up */

/* postprocess_small_regions: holes then islands on every mask; NMS on the
 * recomputed boxes with score 1 for unchanged masks and 0 for changed ones
 * (so unchanged masks win); kept changed masks take their new mask and box. */
static int postprocess_small(rec_list *L, int W, int H, int min_area, double thr)
{
    int n = L->n;
    if (n == 0) return 0;
    amg_runs *nr = calloc((size_t)n, sizeof(amg_runs));
    unsigned char *changed = calloc((size_t)n, 1);
    float *boxes = malloc(sizeof(float) * 4 * (size_t)n);
    float *scores = malloc(sizeof(float) * (size_t)n);
    int *keep = malloc(sizeof(int) * (size_t)n);
    rec_t *tmp = malloc(sizeof(rec_t) * (size_t)n);
    int failed = 0, nk = -1;
    if (!nr || !changed || !boxes || !scores || !keep || !tmp) failed = 1;
    int nt = ops_get_threads();
    if (!failed) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int i = 0; i < n; i++) {
            int f;
#pragma omp atomic read
            f = failed;
            if (f) continue;
            amg_runs hol = {0}, isl = {0}, dec = {0};
            const amg_runs *old;
            int r1 = rec_runs(&L->v[i], W, &dec, &old), r2 = -1;
            if (r1 == 0) r1 = amg_runs_remove_small_regions(old, W, H, min_area, AMG_HOLES, &hol);
            if (r1 >= 0)
                r2 = amg_runs_remove_small_regions(r1 == 1 ? &hol : old, W, H, min_area,
                                                   AMG_ISLANDS, &isl);
            if (r1 < 0 || r2 < 0) {
                amg_runs_free(&dec);
                amg_runs_free(&hol);
                amg_runs_free(&isl);
#pragma omp atomic write
                failed = 1;
                continue;
            }
            /* batched_mask_to_box of the (possibly) new mask */
            int b[4];
            amg_runs_box(r2 == 1 ? &isl : r1 == 1 ? &hol : old, W, b);
            for (int c = 0; c < 4; c++) boxes[4 * i + c] = (float)b[c];
            amg_runs_free(&dec);
            if (r2 == 1) {
                amg_runs_free(&hol);
                nr[i] = isl;
            } else if (r1 == 1) {
                nr[i] = hol;
            }
            changed[i] = r1 == 1 || r2 == 1;
            scores[i] = changed[i] ? 0.0f : 1.0f;
        }
    }
    if (!failed) nk = amg_batched_nms(boxes, scores, NULL, n, thr, keep);
    int oom = nk < 0;
    if (nk >= 0) {
        unsigned char *kept = changed; /* reuse: bit 1 = changed, bit 2 = kept */
        for (int k = 0; k < nk; k++) {
            int i = keep[k];
            kept[i] |= 2;
            if (kept[i] & 1) { /* the new RLE and the recomputed box */
                rec_free(&L->v[i]);
                if (rec_from_runs(&L->v[i], &nr[i], W, H)) oom = 1; /* left empty */
                for (int c = 0; c < 4; c++) L->v[i].box[c] = (int)boxes[4 * i + c];
            }
            tmp[k] = L->v[i];
        }
        for (int i = 0; i < n; i++)
            if (!(kept[i] & 2)) rec_free(&L->v[i]);
        memcpy(L->v, tmp, sizeof(rec_t) * (size_t)nk);
        L->n = nk;
    }
    if (nr)
        for (int i = 0; i < n; i++) amg_runs_free(&nr[i]);
    free(nr);
    free(changed);
    free(boxes);
    free(scores);
    free(keep);
    free(tmp);
    return oom ? -1 : 0;
}

/* ------------------------------------------------------------ generate */

static mobilesam_status check_options(const mobilesam_amg_options *o, mobilesam_error *err)
{
    if (o->points_per_side < 1 || o->points_per_side > 1024)
        return fail(err, MOBILESAM_ERR_INVALID, "points_per_side must be in 1..1024");
    if (o->points_per_batch < 1)
        return fail(err, MOBILESAM_ERR_INVALID, "points_per_batch must be at least 1");
    if (o->crop_n_layers < 0 || o->crop_n_layers > 6)
        return fail(err, MOBILESAM_ERR_INVALID, "crop_n_layers must be in 0..6");
    if (o->crop_n_points_downscale_factor < 1)
        return fail(err, MOBILESAM_ERR_INVALID,
                    "crop_n_points_downscale_factor must be at least 1");
    if (o->min_mask_region_area < 0)
        return fail(err, MOBILESAM_ERR_INVALID, "min_mask_region_area must not be negative");
    if (!isfinite(o->pred_iou_thresh) || !isfinite(o->stability_score_thresh) ||
        !isfinite(o->stability_score_offset) || !isfinite(o->box_nms_thresh) ||
        !isfinite(o->crop_nms_thresh) || !isfinite(o->crop_overlap_ratio))
        return fail(err, MOBILESAM_ERR_INVALID, "thresholds and ratios must be finite");
    return MOBILESAM_OK;
}

mobilesam_status mobilesam_generate(mobilesam_model *model, const uint8_t *rgb, int width,
                                    int height, const mobilesam_amg_options *opt,
                                    mobilesam_amg_result *out, mobilesam_error *err)
{
    mobilesam_amg_options defaults;
    if (!opt) {
        mobilesam_amg_defaults(&defaults);
        opt = &defaults;
    }
    if (!out) return fail(err, MOBILESAM_ERR_INVALID, "no result");
    memset(out, 0, sizeof *out);
    if (!model || !rgb) return fail(err, MOBILESAM_ERR_INVALID, "no model or image");
    /* masks are indexed with 32-bit runs and their areas are ints */
    if (width <= 0 || height <= 0 || (long long)width * height > INT_MAX) {
        if (err)
            snprintf(err->message, sizeof err->message, "invalid image size %dx%d", width,
                     height);
        return MOBILESAM_ERR_INVALID;
    }
    /* the whole image is encoded first: refused up front when its short
     * side would resize to 0 pixels (its crops are less elongated) */
    int rh, rw;
    image_target_size(height, width, MOBILESAM_IMG_SIZE, &rh, &rw);
    if (rh <= 0 || rw <= 0) {
        if (err)
            snprintf(err->message, sizeof err->message,
                     "%dx%d is too elongated (the short side would resize to 0 pixels)",
                     width, height);
        return MOBILESAM_ERR_INVALID;
    }
    mobilesam_status st = check_options(opt, err);
    if (st) return st;

    int nboxes = amg_crop_box_count(opt->crop_n_layers);
    int *boxes = malloc(sizeof(int) * 4 * (size_t)nboxes);
    int *layers = malloc(sizeof(int) * (size_t)nboxes);
    double **grids = calloc((size_t)opt->crop_n_layers + 1, sizeof(double *));
    int *gn = calloc((size_t)opt->crop_n_layers + 1, sizeof(int));
    rec_list L = {0};
    if (!boxes || !layers || !grids || !gn) {
        st = fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
        goto done;
    }
    amg_generate_crop_boxes(width, height, opt->crop_n_layers,
                            as_written(opt->crop_overlap_ratio), boxes, layers);
    /* build_all_layer_point_grids */
    for (int l = 0; l <= opt->crop_n_layers; l++) {
        int n = amg_layer_points_per_side(opt->points_per_side, l,
                                          opt->crop_n_points_downscale_factor);
        gn[l] = n * n;
        grids[l] = malloc(sizeof(double) * 2 * (size_t)(gn[l] > 0 ? gn[l] : 1));
        if (!grids[l]) {
            st = fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
            goto done;
        }
        amg_build_point_grid(n, grids[l]);
    }

    gen_ctx g = {model, rgb, width, height, opt, 0, 0};
    for (int c = 0; c < nboxes; c++) {
        const int *b = boxes + 4 * c;
        if (b[2] > b[0] && b[3] > b[1] && gn[layers[c]] > 0)
            g.batches_total += (gn[layers[c]] - 1) / opt->points_per_batch + 1;
    }
    for (int c = 0; c < nboxes; c++) {
        const int *b = boxes + 4 * c;
        /* A crop can only be empty for images a few pixels wide, where the
         * official code would fail on the empty crop; we skip it. A layer
         * without points yields no masks: skip its encoding too. */
        if (!(b[2] > b[0] && b[3] > b[1]) || gn[layers[c]] == 0) continue;
        st = process_crop(&g, b, c, grids[layers[c]], gn[layers[c]], &L, err);
        if (st) goto done;
    }

    /* Remove duplicates between crops, preferring masks from smaller crops:
     * score = 1 / box_area(crop_box), in float32. */
    if (nboxes > 1 && L.n > 0) {
        float *sc = malloc(sizeof(float) * (size_t)L.n);
        if (!sc) {
            st = fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < L.n; i++) {
            const int *b = boxes + 4 * L.v[i].crop;
            sc[i] = 1.0f / (float)((long long)(b[2] - b[0]) * (b[3] - b[1]));
        }
        int rc = nms_records(&L, 0, sc, as_written(opt->crop_nms_thresh));
        free(sc);
        if (rc) {
            st = fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
            goto done;
        }
    }

    if (opt->min_mask_region_area > 0) {
        double t1 = as_written(opt->box_nms_thresh), t2 = as_written(opt->crop_nms_thresh);
        if (postprocess_small(&L, width, height, opt->min_mask_region_area, t1 > t2 ? t1 : t2)) {
            st = fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
            goto done;
        }
    }

    /* The records, in the official order. */
    out->width = width;
    out->height = height;
    if (L.n > 0) {
        out->masks = calloc((size_t)L.n, sizeof(mobilesam_amg_mask));
        if (!out->masks) {
            st = fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    size_t npix = (size_t)width * height;
    for (int i = 0; i < L.n; i++) {
        const rec_t *r = &L.v[i];
        mobilesam_amg_mask *m = &out->masks[i];
        m->mask = malloc(npix);
        if (!m->mask) {
            out->n = i;
            mobilesam_amg_result_free(out);
            st = fail(err, MOBILESAM_ERR_NOMEM, "out of memory");
            goto done;
        }
        rec_to_mask(r, m->mask, width, npix, 255);
        m->area = r->area;
        amg_box_xyxy_to_xywh(r->box, m->bbox);
        m->predicted_iou = r->iou;
        m->point[0] = (float)r->pt[0];
        m->point[1] = (float)r->pt[1];
        m->stability_score = r->stab;
        amg_box_xyxy_to_xywh(boxes + 4 * r->crop, m->crop_box);
    }
    out->n = L.n;

done:
    recs_free(&L);
    if (grids)
        for (int l = 0; l <= opt->crop_n_layers; l++) free(grids[l]);
    free(grids);
    free(gn);
    free(boxes);
    free(layers);
    return st;
}
