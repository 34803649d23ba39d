/*
 * test_amg.c - the automatic mask generator (mobilesam_generate) end to end
 * on images/bus.png with the fixture pack's synthetic weights:
 *   - default options (32x32 grid): the official generator keeps no mask
 *     with these weights (their logits lie within +-0.3, so no pixel is
 *     above the stability cut-off 1 and every stability score is 0);
 *   - thresholds 0, 4x4 grid: invariants every record must satisfy (area ==
 *     popcount == RLE area, tight bbox, pairwise box IoU <= 0.7, scores in
 *     range, point in the image, crop box == image), and the whole result
 *     re-derived independently through mobilesam_predict_logits +
 *     mobilesam_upscale_logits + the bitmap utilities (same masks, scores,
 *     order);
 *   - crop_n_layers 1: the crop boxes and the smaller-crops-first order;
 *   - min_mask_region_area: masks without small holes / islands, the
 *     clean-up and its order re-derived with the bitmap utilities;
 *   - invalid options are refused.
 * MOBILESAM_AMG_BENCH=1 also times the 32x32 grid with thresholds 0.
 * Needs MOBILESAM_TESTDATA (skips otherwise) and python3 for the converter.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/image.h"
#include "mobilesam.h"
#include "amg/amg_utils.h"
#include "testutil.h"

static char g_weights[1100];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int convert_weights(const char *td)
{
    const char *src = getenv("MOBILESAM_SOURCE_DIR");
    char cmd[4096];
    snprintf(g_weights, sizeof g_weights, "/tmp/msam_amg_%d.msam", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "python3 '%s/tools/convert.py' '%s/mobile_sam_synthetic.pt' -o '%s' >/dev/null",
             src ? src : ".", td, g_weights);
    return system(cmd);
}

typedef struct {
    int calls, last_done, total, monotonic;
} progress_state;

static void on_progress(int done, int total, void *ctx)
{
    progress_state *p = ctx;
    if (done != p->last_done + 1) p->monotonic = 0;
    p->calls++;
    p->last_done = done;
    p->total = total;
}

/* torchvision's IoU of two XYXY float boxes. */
static float box_iou(const float *a, const float *b)
{
    float xx0 = a[0] > b[0] ? a[0] : b[0], yy0 = a[1] > b[1] ? a[1] : b[1];
    float xx1 = a[2] < b[2] ? a[2] : b[2], yy1 = a[3] < b[3] ? a[3] : b[3];
    float w = xx1 - xx0 > 0 ? xx1 - xx0 : 0, h = yy1 - yy0 > 0 ? yy1 - yy0 : 0;
    float inter = w * h;
    float aa = (a[2] - a[0]) * (a[3] - a[1]), ab = (b[2] - b[0]) * (b[3] - b[1]);
    return inter / (aa + ab - inter);
}

/* Invariants of any result. crops: n_crops XYWH boxes a record's crop_box
 * must be one of. */
static void check_invariants(const char *what, const mobilesam_amg_result *res, int W, int H,
                             const mobilesam_amg_options *o, const int (*crops)[4],
                             int n_crops)
{
    TU_CHECK(res->width == W && res->height == H, "%s: result size", what);
    size_t npix = (size_t)W * H;
    float *xyxy = malloc(sizeof(float) * 4 * (size_t)(res->n > 0 ? res->n : 1));
    for (int i = 0; i < res->n; i++) {
        const mobilesam_amg_mask *m = &res->masks[i];
        long long pop = 0;
        int binary = 1;
        for (size_t p = 0; p < npix; p++) {
            pop += m->mask[p] != 0;
            binary &= m->mask[p] == 0 || m->mask[p] == 255;
        }
        TU_CHECK(binary, "%s[%d]: mask values are not 0/255", what, i);
        TU_CHECK(pop == m->area, "%s[%d]: area %d, popcount %lld", what, i, m->area, pop);
        int *counts = NULL;
        int nc = mobilesam_mask_to_rle(m->mask, W, H, &counts);
        long long total = 0;
        for (int k = 0; k < nc; k++) total += counts[k];
        TU_CHECK(nc > 0 && total == (long long)npix, "%s[%d]: RLE covers %lld pixels", what, i,
                 total);
        TU_CHECK(amg_rle_area(counts, nc) == m->area, "%s[%d]: RLE area", what, i);
        free(counts);
        /* tight box, XYWH with w = x1 - x0 of the inclusive box; an empty
         * mask has the official zero box, uncropped to its crop's origin */
        int box[4], want[4];
        amg_mask_to_box(m->mask, W, H, box);
        amg_box_xyxy_to_xywh(box, want);
        if (m->area == 0) {
            want[0] = m->crop_box[0];
            want[1] = m->crop_box[1];
        }
        TU_CHECK(memcmp(want, m->bbox, sizeof want) == 0,
                 "%s[%d]: bbox %d %d %d %d, tight %d %d %d %d", what, i, m->bbox[0], m->bbox[1],
                 m->bbox[2], m->bbox[3], want[0], want[1], want[2], want[3]);
        xyxy[4 * i] = (float)m->bbox[0];
        xyxy[4 * i + 1] = (float)m->bbox[1];
        xyxy[4 * i + 2] = (float)(m->bbox[0] + m->bbox[2]);
        xyxy[4 * i + 3] = (float)(m->bbox[1] + m->bbox[3]);
        /* scores: the IoU head is a linear layer, only finite; above the
         * threshold when there is one. Stability is a ratio of nested
         * areas: [0, 1], or NaN for 0 / 0 when no filter is applied. */
        TU_CHECK(isfinite(m->predicted_iou), "%s[%d]: predicted_iou", what, i);
        if (o->pred_iou_thresh > 0)
            TU_CHECK(m->predicted_iou > o->pred_iou_thresh, "%s[%d]: iou below thresh", what, i);
        float s = m->stability_score;
        TU_CHECK(isnan(s) ? !(o->stability_score_thresh > 0) : (s >= 0 && s <= 1),
                 "%s[%d]: stability %g", what, i, s);
        if (o->stability_score_thresh > 0)
            TU_CHECK(s >= o->stability_score_thresh, "%s[%d]: stability below thresh", what, i);
        /* the grid point lies in its crop, so in the image */
        const int *cb = m->crop_box;
        TU_CHECK(m->point[0] >= cb[0] && m->point[0] <= cb[0] + cb[2] && m->point[1] >= cb[1] &&
                     m->point[1] <= cb[1] + cb[3] && m->point[0] <= W && m->point[1] <= H,
                 "%s[%d]: point (%g, %g) outside its crop", what, i, m->point[0], m->point[1]);
        int known = 0;
        for (int c = 0; c < n_crops; c++) known |= memcmp(crops[c], cb, sizeof crops[c]) == 0;
        TU_CHECK(known, "%s[%d]: unexpected crop box %d %d %d %d", what, i, cb[0], cb[1], cb[2],
                 cb[3]);
        /* the mask stays inside its crop (uncrop_masks pads zeros) */
        if (m->area > 0 && o->min_mask_region_area == 0)
            TU_CHECK(box[0] >= cb[0] && box[1] >= cb[1] && box[2] < cb[0] + cb[2] &&
                         box[3] < cb[1] + cb[3],
                     "%s[%d]: mask outside its crop", what, i);
    }
    /* after the NMS no two boxes overlap by more than the thresholds (a
     * NaN IoU, from two empty boxes, never suppresses) */
    float thr = o->box_nms_thresh > o->crop_nms_thresh ? o->box_nms_thresh : o->crop_nms_thresh;
    int bad = 0;
    for (int i = 0; i < res->n; i++)
        for (int j = i + 1; j < res->n; j++) {
            float v = box_iou(xyxy + 4 * i, xyxy + 4 * j);
            if ((double)v > (double)thr) bad++;
        }
    TU_CHECK(bad == 0, "%s: %d box pairs with IoU > %g", what, bad, thr);
    free(xyxy);
}

static int run(mobilesam_model *m, const msam_image *im, const mobilesam_amg_options *o,
               mobilesam_amg_result *res, const char *what)
{
    mobilesam_error err = {{0}};
    double t0 = now_s();
    mobilesam_status st = mobilesam_generate(m, im->rgb, im->width, im->height, o, res, &err);
    double t = now_s() - t0;
    printf("  %-44s %4d masks  %7.2f s\n", what, st == MOBILESAM_OK ? res->n : -1, t);
    fflush(stdout);
    TU_CHECK(st == MOBILESAM_OK, "%s: %s", what, err.message);
    return st == MOBILESAM_OK;
}

/* The thresholds-0, 4x4, one-crop results re-derived through the reference
 * path: the lead's up-scaler (mobilesam_upscale_logits), bitmap boxes and
 * amg_batched_nms. With no filter, every one of the 48 masks goes to the
 * NMS by predicted IoU; the survivors, in keep order, must be the records. */
typedef struct {
    int W, H;
    uint8_t *masks; /* 48 masks, 0/255 */
    float scores[48], stab[48], boxes[4 * 48], pts[32];
} reference;

static int reference_build(mobilesam_model *m, const msam_image *im, reference *ref)
{
    int W = im->width, H = im->height, np = 16;
    size_t npix = (size_t)W * H, plane = 256 * 256;
    mobilesam_embedding *emb = NULL;
    mobilesam_error err;
    ref->W = W;
    ref->H = H;
    if (mobilesam_encode(m, im->rgb, W, H, &emb, &err)) {
        TU_CHECK(0, "encode: %s", err.message);
        return -1;
    }
    double grid[32];
    amg_build_point_grid(4, grid);
    for (int i = 0; i < np; i++) {
        ref->pts[2 * i] = (float)(grid[2 * i] * W);
        ref->pts[2 * i + 1] = (float)(grid[2 * i + 1] * H);
    }
    float *logits = malloc(sizeof(float) * plane * 3 * np);
    float *up = malloc(sizeof(float) * npix);
    ref->masks = malloc(npix * 48);
    mobilesam_status st =
        mobilesam_predict_logits(m, emb, ref->pts, np, -INFINITY, logits, ref->scores, &err);
    TU_CHECK(st == MOBILESAM_OK, "predict_logits: %s", err.message);
    for (int k = 0; k < 48 && st == MOBILESAM_OK; k++) {
        TU_CHECK(mobilesam_upscale_logits(emb, logits + plane * k, up) == MOBILESAM_OK,
                 "upscale");
        ref->stab[k] = amg_stability_score(up, W, H, 0.0f, 1.0f);
        uint8_t *mk = ref->masks + npix * k;
        for (size_t p = 0; p < npix; p++) mk[p] = up[p] > 0.0f ? 255 : 0;
        int b[4];
        amg_mask_to_box(mk, W, H, b);
        for (int c = 0; c < 4; c++) ref->boxes[4 * k + c] = (float)b[c];
    }
    free(logits);
    free(up);
    mobilesam_embedding_free(emb);
    return st == MOBILESAM_OK ? 0 : -1;
}

static void check_rederived(const reference *ref, double nms_thr, const mobilesam_amg_result *res)
{
    size_t npix = (size_t)ref->W * ref->H;
    int keep[48];
    int nk = amg_batched_nms(ref->boxes, ref->scores, NULL, 48, nms_thr, keep);
    TU_CHECK(nk == res->n, "re-derived %d masks, generator %d", nk, res->n);
    int same = 0;
    for (int i = 0; i < nk && i < res->n; i++) {
        int k = keep[i];
        const mobilesam_amg_mask *r = &res->masks[i];
        int ok = memcmp(ref->masks + npix * k, r->mask, npix) == 0 &&
                 r->predicted_iou == ref->scores[k] &&
                 (r->stability_score == ref->stab[k] ||
                  (isnan(ref->stab[k]) && isnan(r->stability_score))) &&
                 r->point[0] == ref->pts[2 * (k / 3)] && r->point[1] == ref->pts[2 * (k / 3) + 1];
        TU_CHECK(ok, "record %d differs from re-derived mask %d (point %d, mask %d)", i, k, k / 3,
                 k % 3);
        same += ok;
    }
    printf("  re-derived (NMS %.2g) through predict_logits + upscale_logits: %d/%d identical\n",
           nms_thr, same, nk);
}

/* min_mask_region_area with no NMS in effect (thresholds 1): every mask
 * cleaned with the bitmap remove_small_regions (holes, then islands), then
 * the official order: unchanged masks (score 1) before changed ones (score
 * 0), each group in the previous (predicted IoU) order. */
static void check_rederived_small(const reference *ref, int min_area,
                                  const mobilesam_amg_result *res)
{
    size_t npix = (size_t)ref->W * ref->H;
    int keep[48], order[48], no = 0, changed[48], boxes[48][4];
    int nk = amg_batched_nms(ref->boxes, ref->scores, NULL, 48, 1.0, keep);
    uint8_t *m = malloc(npix * 48);
    for (int i = 0; i < nk; i++) {
        uint8_t *mi = m + npix * i;
        for (size_t p = 0; p < npix; p++) mi[p] = ref->masks[npix * keep[i] + p] != 0;
        int c1 = amg_remove_small_regions(mi, ref->W, ref->H, min_area, AMG_HOLES);
        int c2 = amg_remove_small_regions(mi, ref->W, ref->H, min_area, AMG_ISLANDS);
        changed[i] = c1 == 1 || c2 == 1;
        amg_mask_to_box(mi, ref->W, ref->H, boxes[i]);
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < nk; i++)
            if (changed[i] == pass) order[no++] = i;
    TU_CHECK(res->n == nk, "clean-up: %d records, re-derived %d", res->n, nk);
    int same = 0, nchanged = 0;
    for (int j = 0; j < nk && j < res->n; j++) {
        int i = order[j];
        const mobilesam_amg_mask *r = &res->masks[j];
        int ok = r->predicted_iou == ref->scores[keep[i]];
        for (size_t p = 0; p < npix && ok; p++) ok = (r->mask[p] != 0) == (m[npix * i + p] != 0);
        int xywh[4];
        amg_box_xyxy_to_xywh(boxes[i], xywh);
        ok = ok && memcmp(xywh, r->bbox, sizeof xywh) == 0;
        TU_CHECK(ok, "clean-up record %d differs from re-derived mask %d", j, keep[i]);
        same += ok;
        nchanged += changed[i];
    }
    printf("  re-derived clean-up (%d changed masks): %d/%d identical\n", nchanged, same, nk);
    free(m);
}

int main(void)
{
    const char *td = tu_testdata();
    if (!td) tu_skip("MOBILESAM_TESTDATA is not set (point it at the fixture pack)");
    if (convert_weights(td) != 0) {
        TU_CHECK(0, "tools/convert.py failed on the synthetic checkpoint");
        return tu_finish("test_amg");
    }
    mobilesam_model *model = NULL;
    mobilesam_error err;
    if (mobilesam_load(g_weights, &model, &err)) {
        TU_CHECK(0, "load: %s", err.message);
        unlink(g_weights);
        return tu_finish("test_amg");
    }
    char path[1200], msg[256];
    snprintf(path, sizeof path, "%s/images/bus.png", td);
    msam_image im;
    if (image_load(path, &im, msg, sizeof msg)) {
        TU_CHECK(0, "%s: %s", path, msg);
        mobilesam_free(model);
        unlink(g_weights);
        return tu_finish("test_amg");
    }
    int W = im.width, H = im.height;
    printf("bus.png %dx%d, %d threads\n", W, H, mobilesam_get_threads());
    const int full[1][4] = {{0, 0, W, H}};
    mobilesam_amg_result res;

    /* 1. defaults (32x32): no mask survives with the synthetic weights */
    mobilesam_amg_options o;
    mobilesam_amg_defaults(&o);
    TU_CHECK(o.points_per_side == 32 && o.points_per_batch == 64 && o.pred_iou_thresh == 0.88f &&
                 o.stability_score_thresh == 0.95f && o.stability_score_offset == 1.0f &&
                 o.box_nms_thresh == 0.7f && o.crop_n_layers == 0 && o.crop_nms_thresh == 0.7f &&
                 o.crop_overlap_ratio == (float)(512.0 / 1500.0) &&
                 o.crop_n_points_downscale_factor == 1 && o.min_mask_region_area == 0 &&
                 !o.progress,
             "official defaults");
    progress_state ps = {0, 0, 0, 1};
    o.progress = on_progress;
    o.progress_ctx = &ps;
    if (run(model, &im, &o, &res, "defaults, 32x32")) {
        TU_CHECK(res.n == 0, "defaults keep %d masks (official: 0)", res.n);
        mobilesam_amg_result_free(&res);
    }
    /* 1024 points in batches of 64 */
    TU_CHECK(ps.calls == 16 && ps.total == 16 && ps.last_done == 16 && ps.monotonic,
             "progress: %d calls, last %d/%d", ps.calls, ps.last_done, ps.total);

    /* 2. thresholds 0, 4x4: every mask through every stage */
    mobilesam_amg_defaults(&o);
    o.points_per_side = 4;
    o.pred_iou_thresh = 0;
    o.stability_score_thresh = 0;
    reference ref = {0};
    int have_ref = reference_build(model, &im, &ref) == 0;
    if (run(model, &im, &o, &res, "thresholds 0, 4x4")) {
        TU_CHECK(res.n > 0, "thresholds 0 keep no mask");
        check_invariants("t0", &res, W, H, &o, full, 1);
        if (have_ref) check_rederived(&ref, 0.7, &res);
        /* points_per_batch does not change the result */
        mobilesam_amg_result r2;
        o.points_per_batch = 5;
        if (run(model, &im, &o, &r2, "thresholds 0, 4x4, batches of 5")) {
            int same = r2.n == res.n;
            for (int i = 0; same && i < res.n; i++)
                same = memcmp(r2.masks[i].mask, res.masks[i].mask, (size_t)W * H) == 0 &&
                       r2.masks[i].predicted_iou == res.masks[i].predicted_iou;
            TU_CHECK(same, "batch size changes the result");
            mobilesam_amg_result_free(&r2);
        }
        mobilesam_amg_result_free(&res);
    }

    /* 2b. no NMS (an IoU never exceeds 1): all 48 masks, by decreasing
     * predicted IoU */
    o.points_per_batch = 64;
    o.box_nms_thresh = 1.0f;
    if (run(model, &im, &o, &res, "thresholds 0, 4x4, box_nms_thresh 1")) {
        TU_CHECK(res.n == 48, "no NMS keeps %d of 48", res.n);
        check_invariants("t0 no NMS", &res, W, H, &o, full, 1);
        int sorted = 1;
        for (int i = 1; i < res.n; i++) sorted &= res.masks[i - 1].predicted_iou >= res.masks[i].predicted_iou;
        TU_CHECK(sorted, "records by decreasing predicted IoU");
        if (have_ref) check_rederived(&ref, 1.0, &res);
        mobilesam_amg_result_free(&res);
    }

    /* 2c. small-region clean-up, no NMS in effect */
    o.min_mask_region_area = 400;
    if (run(model, &im, &o, &res, "thresholds 0, 4x4, NMS 1, min region 400")) {
        check_invariants("small", &res, W, H, &o, full, 1);
        if (have_ref) check_rederived_small(&ref, 400, &res);
        /* a kept mask has no hole or island left to change: cleaning it
         * again leaves the same pixels */
        int stable = 0;
        uint8_t *tmp = malloc((size_t)W * H);
        for (int i = 0; i < res.n; i++) {
            for (size_t p = 0; p < (size_t)W * H; p++) tmp[p] = res.masks[i].mask[p] != 0;
            amg_remove_small_regions(tmp, W, H, 400, AMG_HOLES);
            amg_remove_small_regions(tmp, W, H, 400, AMG_ISLANDS);
            int same = 1;
            for (size_t p = 0; p < (size_t)W * H && same; p++)
                same = (tmp[p] != 0) == (res.masks[i].mask[p] != 0);
            stable += same;
        }
        TU_CHECK(stable == res.n, "%d of %d masks still have small regions", res.n - stable,
                 res.n);
        free(tmp);
        mobilesam_amg_result_free(&res);
    }
    free(ref.masks);

    /* 3. one crop layer. bus 810x1080: short side 810, n = 2,
     * overlap = int(0.34133 * 810) = int(276.48) = 276,
     * crop_w = ceil((276 + 810) / 2) = 543, crop_h = ceil((276 + 1080) / 2) = 678,
     * x0 = {0, 267}, y0 = {0, 402}; XYWH: [0,0,543,678] [0,402,543,678]
     * [267,0,543,678] [267,402,543,678] (all clipped sizes stay 543x678). */
    const int crops[5][4] = {{0, 0, 810, 1080},  {0, 0, 543, 678},  {0, 402, 543, 678},
                             {267, 0, 543, 678}, {267, 402, 543, 678}};
    mobilesam_amg_defaults(&o);
    o.points_per_side = 4;
    o.pred_iou_thresh = 0;
    o.stability_score_thresh = 0;
    o.crop_n_layers = 1;
    /* no NMS, so that the records of every crop that pass the crop-edge
     * filter show up, in the cross-crop order */
    o.box_nms_thresh = 1.0f;
    o.crop_nms_thresh = 1.0f;
    ps = (progress_state){0, 0, 0, 1};
    o.progress = on_progress;
    o.progress_ctx = &ps;
    if (W == 810 && H == 1080 &&
        run(model, &im, &o, &res, "thresholds 0, 4x4, crop_n_layers 1, no NMS")) {
        check_invariants("crops", &res, W, H, &o, crops, 5);
        /* 5 crops x 16 points, one batch each */
        TU_CHECK(ps.calls == 5 && ps.total == 5, "crop progress %d/%d", ps.calls, ps.total);
        /* the cross-crop NMS orders by 1 / crop area: every record of a
         * small crop comes before every full-image record */
        int seen_full = 0, order_ok = 1, n_small = 0;
        for (int i = 0; i < res.n; i++) {
            int is_full = res.masks[i].crop_box[2] == W;
            if (is_full) seen_full = 1;
            else {
                n_small++;
                if (seen_full) order_ok = 0;
            }
        }
        TU_CHECK(order_ok, "records of smaller crops come first");
        printf("  %d records from the layer-1 crops, %d from the full image\n", n_small,
               res.n - n_small);
        mobilesam_amg_result_free(&res);
    }

    /* 4. small-region clean-up with the default NMS */
    mobilesam_amg_defaults(&o);
    o.points_per_side = 4;
    o.pred_iou_thresh = 0;
    o.stability_score_thresh = 0;
    o.min_mask_region_area = 400;
    if (run(model, &im, &o, &res, "thresholds 0, 4x4, min region 400")) {
        check_invariants("small nms", &res, W, H, &o, full, 1);
        mobilesam_amg_result_free(&res);
    }

    /* 5. invalid options */
    mobilesam_amg_defaults(&o);
    o.points_per_side = 0;
    TU_CHECK(mobilesam_generate(model, im.rgb, W, H, &o, &res, &err) == MOBILESAM_ERR_INVALID &&
                 res.n == 0 && !res.masks,
             "points_per_side 0 refused");
    mobilesam_amg_defaults(&o);
    o.pred_iou_thresh = NAN;
    TU_CHECK(mobilesam_generate(model, im.rgb, W, H, &o, &res, &err) == MOBILESAM_ERR_INVALID,
             "NaN threshold refused");
    TU_CHECK(mobilesam_generate(model, im.rgb, 0, H, NULL, &res, &err) == MOBILESAM_ERR_INVALID,
             "empty image refused");

    /* optional: the acceptance timing of every mask through every stage */
    const char *bench = getenv("MOBILESAM_AMG_BENCH");
    if (bench && *bench && strcmp(bench, "0") != 0) {
        mobilesam_amg_defaults(&o);
        o.pred_iou_thresh = 0;
        o.stability_score_thresh = 0;
        if (run(model, &im, &o, &res, "thresholds 0, 32x32")) {
            check_invariants("bench", &res, W, H, &o, full, 1);
            mobilesam_amg_result_free(&res);
        }
    }

    image_free(&im);
    mobilesam_free(model);
    unlink(g_weights);
    return tu_finish("test_amg");
}
