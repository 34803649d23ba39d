/*
 * test_alloc_fail.c - every allocation of the engine may fail: fault
 * injection on the public API. The test is linked with
 * -Wl,--wrap=malloc,calloc,realloc,aligned_alloc,posix_memalign (see
 * tests/CMakeLists.txt), so every allocation made by the engine's code
 * (libmobilesam_core.a, stb included; not libc's own or OpenBLAS's) goes
 * through the counters below, and the k-th one can be made to fail.
 *
 * For load, encode (float32 and int8), predict, predict_logits and
 * generate: count the allocations of a clean call, then repeat the call
 * with allocation k failing, for every k (or, where a call makes many, a
 * spread of them including the first and last few). Each call must either
 *   - fail with MOBILESAM_ERR_NOMEM (and only if an allocation failed), or
 *   - succeed with exactly the clean call's result,
 * never crash or report another error; and a clean call afterwards must
 * again give the clean result (no state left broken). Leaks on the failure
 * paths are caught by LeakSanitizer in the sanitizer build
 * (scripts/test-asan.sh).
 * Needs MOBILESAM_TESTDATA (skips otherwise) and python3 for the converter.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/image.h"
#include "mobilesam.h"
#include "testutil.h"

/* ---- the allocator hooks ------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t al, size_t n);
int __real_posix_memalign(void **p, size_t al, size_t n);

static long g_calls;        /* allocations since the counter was reset */
static long g_fail_at = -1; /* index of the allocation to fail, -1: none */
static long g_failed;       /* allocations failed on purpose */

static int should_fail(void)
{
    long k = __atomic_fetch_add(&g_calls, 1, __ATOMIC_RELAXED);
    if (k == __atomic_load_n(&g_fail_at, __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&g_failed, 1, __ATOMIC_RELAXED);
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { return should_fail() ? NULL : __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t al, size_t n)
{
    return should_fail() ? NULL : __real_aligned_alloc(al, n);
}
int __wrap_posix_memalign(void **p, size_t al, size_t n)
{
    return should_fail() ? 12 /* ENOMEM */ : __real_posix_memalign(p, al, n);
}

static void arm(long k)
{
    __atomic_store_n(&g_calls, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_failed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_fail_at, k, __ATOMIC_RELAXED);
}

static long disarm(void)
{
    __atomic_store_n(&g_fail_at, -1, __ATOMIC_RELAXED);
    return __atomic_load_n(&g_calls, __ATOMIC_RELAXED);
}

/* The indices to try out of n allocations: all of them when few, else the
 * first and last 8 and `spread` more spaced evenly in between. */
static int pick(long n, long spread, long *ks)
{
    int m = 0;
    if (n <= 16 + spread) {
        for (long k = 0; k < n; k++) ks[m++] = k;
        return m;
    }
    for (long k = 0; k < 8; k++) ks[m++] = k;
    for (long i = 1; i <= spread; i++) ks[m++] = 8 + (n - 16) * i / (spread + 1);
    for (long k = n - 8; k < n; k++) ks[m++] = k;
    return m;
}

/* Checks one call made with allocation k failing. */
static void judge(const char *what, long k, int rc, const char *msg, int same)
{
    long failed = __atomic_load_n(&g_failed, __ATOMIC_RELAXED);
    if (rc == MOBILESAM_ERR_NOMEM) {
        TU_CHECK(failed > 0, "%s, k=%ld: NOMEM with no failed allocation", what, k);
        TU_CHECK(msg && *msg, "%s, k=%ld: NOMEM without a message", what, k);
    } else {
        TU_CHECK(rc == MOBILESAM_OK, "%s, k=%ld: status %d (%s), not OK or NOMEM", what,
                 k, rc, msg);
        TU_CHECK(same, "%s, k=%ld: succeeded with a different result", what, k);
    }
}

/* ---- the calls -------------------------------------------------------- */

#define EMB_FLOATS (256 * 64 * 64)

static int emb_equal(const mobilesam_embedding *e, const float *ref)
{
    static float got[EMB_FLOATS];
    mobilesam_embedding_data(e, got);
    return memcmp(got, ref, sizeof got) == 0;
}

static int result_equal(const mobilesam_result *a, const mobilesam_result *b)
{
    if (a->n_masks != b->n_masks || a->width != b->width || a->height != b->height ||
        memcmp(a->scores, b->scores, sizeof a->scores))
        return 0;
    size_t planes = (size_t)a->n_masks;
    return memcmp(a->lowres_logits, b->lowres_logits, sizeof(float) * planes * 256 * 256) ==
               0 &&
           memcmp(a->masks, b->masks, planes * a->width * a->height) == 0;
}

static int amg_equal(const mobilesam_amg_result *a, const mobilesam_amg_result *b)
{
    if (a->n != b->n || a->width != b->width || a->height != b->height) return 0;
    for (int i = 0; i < a->n; i++) {
        const mobilesam_amg_mask *x = &a->masks[i], *y = &b->masks[i];
        if (x->area != y->area || memcmp(x->bbox, y->bbox, sizeof x->bbox) ||
            x->predicted_iou != y->predicted_iou ||
            x->stability_score != y->stability_score ||
            memcmp(x->mask, y->mask, (size_t)a->width * a->height))
            return 0;
    }
    return 1;
}

static void test_load(const char *weights)
{
    mobilesam_model *m = NULL;
    mobilesam_error err;
    arm(-1);
    TU_CHECK(mobilesam_load(weights, &m, &err) == 0, "clean load: %s", err.message);
    long n = disarm();
    mobilesam_free(m);
    static long ks[64];
    int nk = pick(n, 64 - 16, ks);
    int nomem = 0;
    for (int i = 0; i < nk; i++) {
        m = NULL;
        err.message[0] = 0;
        arm(ks[i]);
        int rc = mobilesam_load(weights, &m, &err);
        disarm();
        judge("load", ks[i], rc, err.message, 1);
        TU_CHECK(rc == 0 || m == NULL, "load, k=%ld: failed but returned a model", ks[i]);
        nomem += rc == MOBILESAM_ERR_NOMEM;
        mobilesam_free(m);
    }
    printf("load: %ld allocations, %d failed in turn, %d gave NOMEM\n", n, nk, nomem);
}

/* A clean encode (returned in *out, its embedding in ref), then a spread
 * of its allocations failed in turn (the first and last 8 and `spread`
 * more), then a clean one again. */
static int encode_spread(mobilesam_model *m, const msam_image *im, const char *what, long spread,
                         float *ref, mobilesam_embedding **out)
{
    mobilesam_error err;
    arm(-1);
    int rc = mobilesam_encode(m, im->rgb, im->width, im->height, out, &err);
    long n = disarm();
    TU_CHECK(rc == 0, "clean %s: %s", what, err.message);
    if (rc) return -1;
    mobilesam_embedding_data(*out, ref);
    static long ks[64];
    /* an encode takes ~0.5 s (several under the sanitizers): a spread of
     * its allocations, not all */
    int nk = pick(n, spread, ks), nomem = 0;
    for (int i = 0; i < nk; i++) {
        mobilesam_embedding *f = NULL;
        err.message[0] = 0;
        arm(ks[i]);
        rc = mobilesam_encode(m, im->rgb, im->width, im->height, &f, &err);
        disarm();
        judge(what, ks[i], rc, err.message, rc == 0 && f && emb_equal(f, ref));
        TU_CHECK(rc == 0 || f == NULL, "%s, k=%ld: failed but returned an embedding", what,
                 ks[i]);
        nomem += rc == MOBILESAM_ERR_NOMEM;
        mobilesam_embedding_free(f);
    }
    printf("%s: %ld allocations, %d failed in turn, %d gave NOMEM\n", what, n, nk, nomem);
    mobilesam_embedding *f = NULL;
    TU_CHECK(mobilesam_encode(m, im->rgb, im->width, im->height, &f, &err) == 0 &&
                 emb_equal(f, ref),
             "a clean %s after the failures differs", what);
    mobilesam_embedding_free(f);
    return 0;
}

/* The same in int8 (its scratch, its bf16 window attention and decoder
 * cache where bf16 is fast), then back to float32. */
static void test_encode_int8(mobilesam_model *m, const msam_image *im)
{
    static float ref_emb[EMB_FLOATS];
    mobilesam_precision used;
    mobilesam_error err;
    TU_CHECK(mobilesam_set_precision(m, MOBILESAM_INT8, &used, &err) == 0, "int8: %s",
             err.message);
    if (used != MOBILESAM_INT8) printf("encode int8: this CPU runs float32 instead\n");
    mobilesam_embedding *e = NULL;
    encode_spread(m, im, "encode int8", 12, ref_emb, &e); /* 2000 allocations: more of them */
    mobilesam_embedding_free(e);
    TU_CHECK(mobilesam_set_precision(m, MOBILESAM_FP32, &used, &err) == 0, "fp32: %s",
             err.message);
}

static void test_encode_predict(mobilesam_model *m, const msam_image *im)
{
    mobilesam_error err;
    static float ref_emb[EMB_FLOATS];
    mobilesam_embedding *e = NULL;
    if (encode_spread(m, im, "encode", 4, ref_emb, &e)) return;
    static long ks[64];
    long n;
    int rc, nk, nomem;

    /* predict: a point + box prompt with multimask, and a 5-point one */
    float pts[10] = {900, 370, 300, 200, 640, 360, 1000, 600, 50, 700};
    int labels[5] = {1, 0, 1, 1, 0};
    float box[4] = {230, 144, 742, 612};
    mobilesam_prompt p[2] = {{pts, labels, 1, box, NULL, 1}, {pts, labels, 5, NULL, NULL, 0}};
    mobilesam_result ref[2], got[2];
    arm(-1);
    rc = mobilesam_predict(m, e, p, 2, ref, &err);
    n = disarm();
    TU_CHECK(rc == 0, "clean predict: %s", err.message);
    if (rc) {
        mobilesam_embedding_free(e);
        return;
    }
    nk = pick(n, 48, ks);
    nomem = 0;
    for (int i = 0; i < nk; i++) {
        memset(got, 0, sizeof got);
        err.message[0] = 0;
        arm(ks[i]);
        rc = mobilesam_predict(m, e, p, 2, got, &err);
        disarm();
        judge("predict", ks[i], rc, err.message,
              rc == 0 && result_equal(&got[0], &ref[0]) && result_equal(&got[1], &ref[1]));
        nomem += rc == MOBILESAM_ERR_NOMEM;
        if (rc == 0) {
            mobilesam_result_free(&got[0]);
            mobilesam_result_free(&got[1]);
        } else {
            TU_CHECK(!got[0].masks && !got[1].masks && !got[0].lowres_logits &&
                         !got[1].lowres_logits,
                     "predict, k=%ld: failed but left results allocated", ks[i]);
        }
    }
    printf("predict: %ld allocations, %d failed in turn, %d gave NOMEM\n", n, nk, nomem);
    TU_CHECK(mobilesam_predict(m, e, p, 2, got, &err) == 0 && result_equal(&got[0], &ref[0]) &&
                 result_equal(&got[1], &ref[1]),
             "a clean predict after the failures differs");
    for (int o = 0; o < 2; o++) {
        mobilesam_result_free(&got[o]);
        mobilesam_result_free(&ref[o]);
    }

    /* predict_logits (segment-everything's call): 3 points */
    enum { NP = 3 };
    float xy[2 * NP] = {100, 100, 640, 360, 1200, 700};
    static float rl[NP * 3 * 256 * 256], gl[NP * 3 * 256 * 256];
    float rs[NP * 3], gs[NP * 3];
    arm(-1);
    rc = mobilesam_predict_logits(m, e, xy, NP, -INFINITY, rl, rs, &err);
    n = disarm();
    TU_CHECK(rc == 0, "clean predict_logits: %s", err.message);
    nk = pick(n, 48, ks);
    nomem = 0;
    for (int i = 0; rc == 0 && i < nk; i++) {
        err.message[0] = 0;
        arm(ks[i]);
        int r = mobilesam_predict_logits(m, e, xy, NP, -INFINITY, gl, gs, &err);
        disarm();
        judge("predict_logits", ks[i], r, err.message,
              r == 0 && !memcmp(gl, rl, sizeof gl) && !memcmp(gs, rs, sizeof gs));
        nomem += r == MOBILESAM_ERR_NOMEM;
    }
    printf("predict_logits: %ld allocations, %d failed in turn, %d gave NOMEM\n", n, nk,
           nomem);
    mobilesam_embedding_free(e);
}

static void test_generate(mobilesam_model *m, const msam_image *im)
{
    mobilesam_amg_options opt;
    mobilesam_amg_defaults(&opt);
    opt.points_per_side = 4;
    opt.points_per_batch = 5;
    opt.pred_iou_thresh = 0;
    opt.stability_score_thresh = 0;
    opt.min_mask_region_area = 50; /* the small-region stage allocates too */
    mobilesam_amg_result ref, got;
    mobilesam_error err;
    arm(-1);
    int rc = mobilesam_generate(m, im->rgb, im->width, im->height, &opt, &ref, &err);
    long n = disarm();
    TU_CHECK(rc == 0, "clean generate: %s", err.message);
    if (rc) return;
    static long ks[64];
    /* each call encodes the image: a spread, as for encode */
    int nk = pick(n, 4, ks), nomem = 0;
    for (int i = 0; i < nk; i++) {
        memset(&got, 0, sizeof got);
        err.message[0] = 0;
        arm(ks[i]);
        rc = mobilesam_generate(m, im->rgb, im->width, im->height, &opt, &got, &err);
        disarm();
        judge("generate", ks[i], rc, err.message, rc == 0 && amg_equal(&got, &ref));
        nomem += rc == MOBILESAM_ERR_NOMEM;
        if (rc == 0) mobilesam_amg_result_free(&got);
        else TU_CHECK(got.masks == NULL, "generate, k=%ld: failed but left masks", ks[i]);
    }
    printf("generate: %ld allocations (%d masks), %d failed in turn, %d gave NOMEM\n", n,
           ref.n, nk, nomem);
    mobilesam_amg_result_free(&ref);
}

int main(void)
{
    const char *td = tu_testdata();
    if (!td) tu_skip("MOBILESAM_TESTDATA is not set (point it at the fixture pack)");
    const char *src = getenv("MOBILESAM_SOURCE_DIR");
    char weights[256], cmd[2048], path[1024], err[256];
    snprintf(weights, sizeof weights, "/tmp/msam_allocfail_%d.msam", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "python3 '%s/tools/convert.py' '%s/mobile_sam_synthetic.pt' -o '%s' >/dev/null",
             src ? src : ".", td, weights);
    TU_CHECK(system(cmd) == 0, "convert.py failed");
    mobilesam_set_threads(2); /* failures inside parallel regions too */

    test_load(weights);

    mobilesam_model *m = NULL;
    mobilesam_error merr;
    TU_CHECK(mobilesam_load(weights, &m, &merr) == 0, "load: %s", merr.message);
    snprintf(path, sizeof path, "%s/images/zidane.png", td);
    msam_image im = {0};
    TU_CHECK(image_load(path, &im, err, sizeof err) == 0, "%s: %s", path, err);
    if (m && im.rgb) {
        test_encode_predict(m, &im);
        test_encode_int8(m, &im);
        /* generate on a small image: crops and resizes stay cheap */
        msam_image small = {0};
        small.width = 160;
        small.height = 120;
        small.rgb = malloc((size_t)small.width * small.height * 3);
        for (int y = 0; small.rgb && y < small.height; y++)
            for (int x = 0; x < small.width; x++)
                memcpy(small.rgb + 3 * ((size_t)y * small.width + x),
                       im.rgb + 3 * ((size_t)(y * im.height / small.height) * im.width +
                                     (size_t)(x * im.width / small.width)),
                       3);
        if (small.rgb) test_generate(m, &small);
        free(small.rgb);
    }
    image_free(&im);
    mobilesam_free(m);
    unlink(weights);
    return tu_finish("alloc_fail");
}
