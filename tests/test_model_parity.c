/*
 * test_model_parity.c - the network against the official PyTorch outputs of
 * the fixture pack, stage by stage, through the library (no CLI):
 *   - encoder per-stage activations (inter/STAGE.f16.npy, zidane) and the final
 *     embedding (zidane, bus): max |diff| <= 1e-3;
 *   - decoder fed with the REFERENCE embedding, every case of cases.json:
 *     low-res logits and IoU scores within 1e-4, masks IoU >= 0.995;
 *   - the decoder's reassociated fast path and the official order of
 *     operations both within those tolerances.
 * Needs MOBILESAM_TESTDATA (skips otherwise) and python3 for the converter.
 */
#include "parity_case.h" /* first: through cli_harness.h it sets the feature macros */

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/image.h"
#include "io/npy.h"
#include "io/weights.h"
#include "mobilesam.h"
#include "model/model.h"
#include "testutil.h"

static char g_td[1024];
static char g_weights[1100];

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static int convert_weights(void)
{
    const char *src = getenv("MOBILESAM_SOURCE_DIR");
    char cmd[4096];
    snprintf(g_weights, sizeof g_weights, "/tmp/msam_parity_%d.msam", (int)getpid());
    snprintf(cmd, sizeof cmd, "python3 '%s/tools/convert.py' '%s/mobile_sam_synthetic.pt' -o '%s' >/dev/null",
             src ? src : ".", g_td, g_weights);
    return system(cmd);
}

/* ------------------------------------------------------------ encoder */

typedef struct {
    double worst;
} tap_state;

static void stage_tap(const char *name, const float *data, size_t n, void *ctx)
{
    tap_state *st = ctx;
    char path[1200], err[256];
    snprintf(path, sizeof path, "%s/inter/%s.f16.npy", g_td, name);
    if (access(path, R_OK) != 0) return; /* no reference for this stage */
    npy_array ref;
    if (npy_read(path, &ref, err, sizeof err)) {
        TU_CHECK(0, "%s: %s", path, err);
        return;
    }
    /* "neck" is stored (1, 256, 64, 64) CHW; ours is HWC. */
    int chw = strcmp(name, "neck") == 0;
    double maxd = 0, maxref = 0;
    TU_CHECK(ref.numel == n, "%s: %zu values, ours %zu", name, ref.numel, n);
    if (ref.numel == n) {
        size_t C = chw ? 256 : 0, HW = chw ? n / 256 : 0;
        for (size_t i = 0; i < n; i++) {
            float r = chw ? ref.data[(i % C) * HW + i / C] : ref.data[i];
            double d = fabs((double)data[i] - r);
            if (!(d <= maxd)) maxd = d;
            if (fabs(r) > maxref) maxref = fabs(r);
        }
    }
    /* float16 references: 2^-11 relative rounding of values up to maxref. */
    double tol = maxref * 1.0 / 1024 + 1e-3;
    printf("  encoder %-8s max|diff| %.3g (max|ref| %.3g, f16 tol %.3g)\n", name, maxd, maxref, tol);
    TU_CHECK(maxd <= tol, "%s: max diff %g > %g", name, maxd, tol);
    if (maxd > st->worst) st->worst = maxd;
    npy_free(&ref);
}

static void test_encoder(mobilesam_model *m, const msam_net *net, const char *img)
{
    char path[1200], err[256];
    snprintf(path, sizeof path, "%s/images/%s.png", g_td, img);
    msam_image im;
    if (image_load(path, &im, err, sizeof err)) {
        TU_CHECK(0, "%s: %s", path, err);
        return;
    }
    int rh, rw;
    image_target_size(im.height, im.width, 1024, &rh, &rw);
    uint8_t *resized = malloc((size_t)rw * rh * 3);
    float *input = malloc(sizeof(float) * 1024 * 1024 * 3);
    float *emb = malloc(sizeof(float) * 4096 * 256);
    image_resize_bilinear_pil(im.rgb, im.width, im.height, resized, rw, rh);
    preprocess_normalize(resized, rw, rh, input);
    tap_state st = {0};
    int with_taps = strcmp(img, "zidane") == 0;
    TU_CHECK(image_encoder_forward(&net->enc, NULL, input, emb, with_taps ? stage_tap : NULL, &st) == 0,
             "encoder failed");
    snprintf(path, sizeof path, "%s/refs/%s/embedding.npy", g_td, img);
    npy_array ref;
    if (npy_read(path, &ref, err, sizeof err) == 0) {
        double maxd = 0;
        for (size_t i = 0; i < 4096 * 256; i++) {
            double d = fabs((double)emb[(i % 4096) * 256 + i / 4096] - ref.data[i]);
            if (!(d <= maxd)) maxd = d;
        }
        printf("  %s embedding max|diff| %.3g (limit 1e-3)\n", img, maxd);
        TU_CHECK(maxd <= 1e-3, "%s embedding max diff %g", img, maxd);
        npy_free(&ref);
    } else {
        TU_CHECK(0, "%s: %s", path, err);
    }
    /* the public API gives the same embedding */
    mobilesam_embedding *e = NULL;
    mobilesam_error merr;
    TU_CHECK(mobilesam_encode(m, im.rgb, im.width, im.height, &e, &merr) == MOBILESAM_OK,
             "encode: %s", merr.message);
    if (e) {
        float *chw = malloc(sizeof(float) * 4096 * 256);
        mobilesam_embedding_data(e, chw);
        double maxd = 0;
        for (size_t i = 0; i < 4096 * 256; i++) {
            double d = fabs((double)emb[(i % 4096) * 256 + i / 4096] - chw[i]);
            if (d > maxd) maxd = d;
        }
        TU_CHECK(maxd == 0, "API embedding differs from the network's by %g", maxd);
        free(chw);
        mobilesam_embedding_free(e);
    }
    free(resized);
    free(input);
    free(emb);
    image_free(&im);
}

/* ------------------------------------------------------------ decoder */

/* The fixture's reference embedding of img (its original size W x H), or
 * NULL after a failed check. */
static mobilesam_embedding *ref_embedding(mobilesam_model *m, const char *img, int W, int H)
{
    char path[1200], err[256];
    snprintf(path, sizeof path, "%s/refs/%s/embedding.npy", g_td, img);
    npy_array ref;
    if (npy_read(path, &ref, err, sizeof err)) {
        TU_CHECK(0, "%s: %s", path, err);
        return NULL;
    }
    mobilesam_embedding *e = NULL;
    mobilesam_error merr;
    TU_CHECK(mobilesam_embedding_from_data(m, ref.data, W, H, &e, &merr) == 0, "%s", merr.message);
    npy_free(&ref);
    return e;
}

static void test_decoder(mobilesam_model *m, const cJSON *cases, const char *img)
{
    const cJSON *entry = cJSON_GetObjectItem(cases, img);
    int W = cJSON_GetObjectItem(entry, "width")->valueint;
    int H = cJSON_GetObjectItem(entry, "height")->valueint;
    mobilesam_embedding *e = ref_embedding(m, img, W, H);
    if (!e) return;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(entry, "cases"))
        pc_run_case(m, e, g_td, img, cs, W, H);
    mobilesam_embedding_free(e);
}

/* Segment-everything's decoding (mobilesam_predict_logits) in groups of
 * 1 (the default), 2, 3 and 4 points on the fixture embedding: the same
 * bits whatever the group size (7 points: the last group is partial). */
static void test_groups(mobilesam_model *m, const char *img)
{
    mobilesam_embedding *e = ref_embedding(m, img, 810, 1080);
    mobilesam_error merr;
    enum { NP = 7 };
    const size_t n = (size_t)3 * NP * 256 * 256;
    float pts[2 * NP], s1[3 * NP], s2[3 * NP];
    float *l1 = malloc(sizeof(float) * n), *l2 = malloc(sizeof(float) * n);
    for (int i = 0; i < NP; i++) {
        pts[2 * i] = (float)(40 + 107 * i % 800);
        pts[2 * i + 1] = (float)(30 + 151 * i % 1070);
    }
    const int saved = dec_group;
    dec_group = 1;
    TU_CHECK(e && l1 && l2 && mobilesam_predict_logits(m, e, pts, NP, -INFINITY, l1, s1, &merr) == 0,
             "predict_logits: %s", merr.message);
    for (int g = 2; e && l1 && l2 && g <= 4; g++) {
        dec_group = g;
        TU_CHECK(mobilesam_predict_logits(m, e, pts, NP, -INFINITY, l2, s2, &merr) == 0,
                 "predict_logits: %s", merr.message);
        TU_CHECK(memcmp(l1, l2, sizeof(float) * n) == 0 && memcmp(s1, s2, sizeof s1) == 0,
                 "groups of %d: logits differ by %g", g, tu_max_abs_diff(l1, l2, n));
    }
    printf("  predict_logits in groups of 1..4 points: identical\n");
    dec_group = saved;
    free(l1);
    free(l2);
    mobilesam_embedding_free(e);
}

/* In int8 (where the CPU has it) the decoder's image side takes other
 * routes (the scores in int8 from keys + PE quantized as the LayerNorm
 * makes them, P^T keys in bf16 where bf16 is fast): the fused order and the
 * blocks one after the other, and every group size, still give the same
 * bits. */
static void test_int8_orders(mobilesam_model *m, const char *img)
{
    mobilesam_error merr;
    mobilesam_precision used = MOBILESAM_FP32;
    if (mobilesam_set_precision(m, MOBILESAM_INT8, &used, &merr) != MOBILESAM_OK ||
        used != MOBILESAM_INT8) {
        printf("  (int8 not available on this CPU: its decoder orders not compared)\n");
        mobilesam_set_precision(m, MOBILESAM_FP32, NULL, &merr);
        return;
    }
    mobilesam_embedding *e = ref_embedding(m, img, 810, 1080);
    enum { NP = 5 };
    const size_t n = (size_t)3 * NP * 256 * 256;
    float pts[2 * NP], s1[3 * NP], s2[3 * NP];
    float *l1 = malloc(sizeof(float) * n), *l2 = malloc(sizeof(float) * n);
    for (int i = 0; i < NP; i++) {
        pts[2 * i] = (float)(60 + 131 * i % 780);
        pts[2 * i + 1] = (float)(50 + 197 * i % 1030);
    }
    TU_CHECK(e && l1 && l2 && mobilesam_predict_logits(m, e, pts, NP, -INFINITY, l1, s1, &merr) == 0,
             "int8 predict_logits: %s", merr.message);
    if (e && l1 && l2) {
        dec_unfused = 1;
        TU_CHECK(mobilesam_predict_logits(m, e, pts, NP, -INFINITY, l2, s2, &merr) == 0,
                 "int8 predict_logits: %s", merr.message);
        dec_unfused = 0;
        TU_CHECK(memcmp(l1, l2, sizeof(float) * n) == 0 && memcmp(s1, s2, sizeof s1) == 0,
                 "int8, unfused: logits differ by %g", tu_max_abs_diff(l1, l2, n));
        /* and not float32's: the int8 routes did run */
        mobilesam_set_precision(m, MOBILESAM_FP32, NULL, &merr);
        TU_CHECK(mobilesam_predict_logits(m, e, pts, NP, -INFINITY, l2, s2, &merr) == 0,
                 "predict_logits: %s", merr.message);
        TU_CHECK(memcmp(l1, l2, sizeof(float) * n) != 0, "int8 logits equal float32's");
        mobilesam_set_precision(m, MOBILESAM_INT8, NULL, &merr);
        printf("  int8 decoder: fused and unfused identical\n");
    }
    free(l1);
    free(l2);
    mobilesam_embedding_free(e);
    test_groups(m, img);
    mobilesam_set_precision(m, MOBILESAM_FP32, NULL, &merr);
}

/* MOBILESAM_PARITY_IMAGES=zidane: only that image's checks (the emulated
 * AArch64 run, where each encode takes minutes); unset: all. */
static int want(const char *img)
{
    const char *only = getenv("MOBILESAM_PARITY_IMAGES");
    return !only || !*only || strstr(only, img) != NULL;
}

int main(void)
{
    const char *td = tu_testdata();
    if (!td) tu_skip("MOBILESAM_TESTDATA is not set (point it at the fixture pack)");
    snprintf(g_td, sizeof g_td, "%s", td);
    if (convert_weights() != 0) {
        TU_CHECK(0, "tools/convert.py failed on the synthetic checkpoint");
        return tu_finish("test_model_parity");
    }
    mobilesam_model *m = NULL;
    mobilesam_error err;
    if (mobilesam_load(g_weights, &m, &err) != MOBILESAM_OK) {
        TU_CHECK(0, "load: %s", err.message);
        unlink(g_weights);
        return tu_finish("test_model_parity");
    }
    wt_file wf;
    char e2[256];
    msam_net net;
    TU_CHECK(wt_open(g_weights, &wf, e2, sizeof e2) == 0, "%s", e2);
    TU_CHECK(net_load(&net, &wf, e2, sizeof e2) == 0, "%s", e2);

    char *txt = NULL;
    char path[1200];
    snprintf(path, sizeof path, "%s/refs/cases.json", g_td);
    txt = read_text(path);
    cJSON *cases = txt ? cJSON_Parse(txt) : NULL;
    TU_CHECK(cases != NULL, "cannot parse %s", path);
    if (cases) {
        if (want("zidane")) test_decoder(m, cases, "zidane");
        if (want("bus")) test_decoder(m, cases, "bus");
        if (want("zidane")) {
            printf("  (again with the official order of operations in the decoder)\n");
            dec_reassociate = 0;
            test_decoder(m, cases, "zidane");
            dec_reassociate = 1;
        }
        if (want("bus")) {
            test_groups(m, "bus");
            printf("  (again with the two-way blocks run one after the other, unfused)\n");
            dec_unfused = 1;
            test_decoder(m, cases, "bus");
            dec_unfused = 0;
            test_int8_orders(m, "bus");
        }
        if (want("zidane")) test_encoder(m, &net, "zidane");
        if (want("bus")) test_encoder(m, &net, "bus");
    }
    cJSON_Delete(cases);
    free(txt);
    net_free(&net);
    wt_close(&wf);
    mobilesam_free(m);
    unlink(g_weights);
    return tu_finish("test_model_parity");
}
