/*
 * parity_case.h - one decoder case of a fixture pack's refs/cases.json run
 * through the library and compared with the pack's PyTorch references:
 * low-res logits (<id>.lowres.npy) and IoU scores (cases.json) within 1e-4,
 * every mask (<id>.b<object>.m<mask>.png) with IoU >= 0.995. The MobileSAM
 * and the ViT-B parity tests both check their decoder this way.
 * Header-only (static functions), like cli_harness.h, because each
 * tests/test_*.c is linked with testutil.c alone; include it first (it
 * includes cli_harness.h, which sets the feature macros).
 */
#ifndef MOBILESAM_PARITY_CASE_H
#define MOBILESAM_PARITY_CASE_H

#include "cli_harness.h"

#include <cJSON.h>
#include <math.h>
#include <stb_image.h>

#include "io/npy.h"
#include "mobilesam.h"
#include "testutil.h"

#define PC_LOGITS_TOL 1e-4
#define PC_SCORE_TOL 1e-4
#define PC_MIN_IOU 0.995

/* IoU of two 8-bit masks of n pixels (set: > 127); 1 when both are empty. */
static inline double pc_mask_iou(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t inter = 0, uni = 0;
    for (size_t i = 0; i < n; i++) {
        int x = a[i] > 127, y = b[i] > 127;
        inter += x && y;
        uni += x || y;
    }
    return uni ? (double)inter / uni : 1.0;
}

static inline void pc_flatten_points(const cJSON *pts, float *out)
{
    for (int i = 0; i < cJSON_GetArraySize(pts); i++) {
        const cJSON *p = cJSON_GetArrayItem(pts, i);
        out[2 * i] = (float)cJSON_GetArrayItem(p, 0)->valuedouble;
        out[2 * i + 1] = (float)cJSON_GetArrayItem(p, 1)->valuedouble;
    }
}

static inline void pc_read_box(const cJSON *b, float *out)
{
    for (int i = 0; i < 4; i++) out[i] = (float)cJSON_GetArrayItem(b, i)->valuedouble;
}

static inline void pc_read_labels(const cJSON *l, int *out)
{
    for (int i = 0; i < cJSON_GetArraySize(l); i++) out[i] = cJSON_GetArrayItem(l, i)->valueint;
}

/* Runs the case cs of image img (its original size W x H) of the pack in
 * directory pack, decoded from the embedding e, and checks it against the
 * pack's references; prints one line with its worst differences. */
static inline void pc_run_case(mobilesam_model *m, const mobilesam_embedding *e,
                               const char *pack, const char *img, const cJSON *cs, int W, int H)
{
    const char *id = cJSON_GetObjectItem(cs, "id")->valuestring;
    mobilesam_prompt pr[2];
    memset(pr, 0, sizeof pr);
    float pts[2][64], boxes[2][4];
    int labels[2][32], nobj = 1;
    const cJSON *bp = cJSON_GetObjectItem(cs, "batch_points");
    const cJSON *bb = cJSON_GetObjectItem(cs, "batch_boxes");
    if (bp) {
        nobj = cJSON_GetArraySize(bp);
        for (int o = 0; o < nobj; o++) {
            const cJSON *p = cJSON_GetArrayItem(bp, o);
            pc_flatten_points(p, pts[o]);
            pc_read_labels(cJSON_GetArrayItem(cJSON_GetObjectItem(cs, "batch_labels"), o),
                           labels[o]);
            pr[o].points = pts[o];
            pr[o].labels = labels[o];
            pr[o].n_points = cJSON_GetArraySize(p);
        }
    } else if (bb) {
        nobj = cJSON_GetArraySize(bb);
        for (int o = 0; o < nobj; o++) {
            pc_read_box(cJSON_GetArrayItem(bb, o), boxes[o]);
            pr[o].box = boxes[o];
        }
    } else {
        const cJSON *p = cJSON_GetObjectItem(cs, "points");
        if (p) {
            pc_flatten_points(p, pts[0]);
            pc_read_labels(cJSON_GetObjectItem(cs, "labels"), labels[0]);
            pr[0].points = pts[0];
            pr[0].labels = labels[0];
            pr[0].n_points = cJSON_GetArraySize(p);
        }
        const cJSON *b = cJSON_GetObjectItem(cs, "box");
        if (b) {
            pc_read_box(b, boxes[0]);
            pr[0].box = boxes[0];
        }
    }
    char path[CH_PATH], err[256];
    npy_array mask_in = {0};
    const cJSON *mi = cJSON_GetObjectItem(cs, "mask_input");
    if (mi) {
        int idx = cJSON_GetObjectItem(cs, "mask_input_index")->valueint;
        ch_path(path, "%s/refs/%s/%s.lowres.npy", pack, img, mi->valuestring);
        if (npy_read(path, &mask_in, err, sizeof err)) {
            TU_CHECK(0, "%s: %s", path, err);
            return;
        }
        pr[0].mask_input = mask_in.data + (size_t)idx * 256 * 256;
    }
    const int multimask = cJSON_IsTrue(cJSON_GetObjectItem(cs, "multimask"));
    for (int o = 0; o < nobj; o++) pr[o].multimask = multimask;
    mobilesam_result res[2];
    mobilesam_error merr;
    if (mobilesam_predict(m, e, pr, nobj, res, &merr) != MOBILESAM_OK) {
        TU_CHECK(0, "%s/%s: predict: %s", img, id, merr.message);
        npy_free(&mask_in);
        return;
    }
    ch_path(path, "%s/refs/%s/%s.lowres.npy", pack, img, id);
    npy_array ref;
    /* infinite until compared: a missing or misshapen reference also fails
     * the logits check below, not only its own */
    double maxd = INFINITY, maxs = 0, miniou = 1;
    const int nm = res[0].n_masks;
    if (npy_read(path, &ref, err, sizeof err) == 0) {
        TU_CHECK(ref.numel == (size_t)nobj * nm * 65536, "%s/%s: ref has %zu values", img, id,
                 ref.numel);
        if (ref.numel == (size_t)nobj * nm * 65536) {
            maxd = 0;
            for (int o = 0; o < nobj; o++) {
                double d = tu_max_abs_diff(res[o].lowres_logits,
                                           ref.data + (size_t)o * nm * 65536, (size_t)nm * 65536);
                if (!(d <= maxd)) maxd = d;
            }
        }
        npy_free(&ref);
    } else {
        TU_CHECK(0, "%s: %s", path, err);
    }
    const cJSON *iou = cJSON_GetObjectItem(cs, "iou");
    for (int o = 0; o < nobj; o++) {
        const cJSON *io = cJSON_GetArrayItem(iou, o);
        for (int k = 0; k < res[o].n_masks; k++) {
            double d = fabs(res[o].scores[k] - cJSON_GetArrayItem(io, k)->valuedouble);
            if (!(d <= maxs)) maxs = d;
            ch_path(path, "%s/refs/%s/%s.b%d.m%d.png", pack, img, id, o, k);
            int w, h, c;
            uint8_t *png = stbi_load(path, &w, &h, &c, 1);
            TU_CHECK(png && w == W && h == H, "%s: cannot read or wrong size", path);
            if (png && w == W && h == H) {
                double v = pc_mask_iou(png, res[o].masks + (size_t)k * W * H, (size_t)W * H);
                if (v < miniou) miniou = v;
            }
            stbi_image_free(png);
        }
        mobilesam_result_free(&res[o]);
    }
    printf("  %-8s %-22s logits max|diff| %.2e  score |diff| %.2e  min IoU %.6f\n", img, id,
           maxd, maxs, miniou);
    TU_CHECK(maxd <= PC_LOGITS_TOL, "%s/%s: logits max diff %g > %g", img, id, maxd,
             PC_LOGITS_TOL);
    TU_CHECK(maxs <= PC_SCORE_TOL, "%s/%s: score diff %g > %g", img, id, maxs, PC_SCORE_TOL);
    TU_CHECK(miniou >= PC_MIN_IOU, "%s/%s: mask IoU %g < %g", img, id, miniou, PC_MIN_IOU);
    npy_free(&mask_in);
}

#endif
