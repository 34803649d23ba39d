/*
 * test_threads.c - results do not depend on the thread count: the same
 * image encoded and decoded with 1 and 2 threads gives embeddings and
 * low-res logits within 1e-6 and identical masks.
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

typedef struct {
    float emb[256 * 64 * 64];
    mobilesam_result res[2];
} run_out;

static int run(mobilesam_model *m, const msam_image *im, int threads, run_out *o)
{
    mobilesam_set_threads(threads);
    mobilesam_embedding *e = NULL;
    mobilesam_error err;
    if (mobilesam_encode(m, im->rgb, im->width, im->height, &e, &err)) {
        TU_CHECK(0, "encode: %s", err.message);
        return -1;
    }
    mobilesam_embedding_data(e, o->emb);
    /* a point prompt (reassociated decoder path) and one with 12 points
     * (the official order of operations) */
    float pts[24];
    int labels[12];
    for (int i = 0; i < 12; i++) {
        pts[2 * i] = (float)(37 + 97 * i % im->width);
        pts[2 * i + 1] = (float)(23 + 53 * i % im->height);
        labels[i] = i % 3 != 0;
    }
    mobilesam_prompt p[2] = {{pts, labels, 1, NULL, NULL, 1}, {pts, labels, 12, NULL, NULL, 0}};
    int rc = mobilesam_predict(m, e, p, 2, o->res, &err);
    TU_CHECK(rc == 0, "predict: %s", err.message);
    mobilesam_embedding_free(e);
    return rc;
}

int main(void)
{
    const char *td = tu_testdata();
    if (!td) tu_skip("MOBILESAM_TESTDATA is not set (point it at the fixture pack)");
    const char *src = getenv("MOBILESAM_SOURCE_DIR");
    char weights[256], cmd[2048], path[1024], err[256];
    snprintf(weights, sizeof weights, "/tmp/msam_threads_%d.msam", (int)getpid());
    snprintf(cmd, sizeof cmd, "python3 '%s/tools/convert.py' '%s/mobile_sam_synthetic.pt' -o '%s' >/dev/null",
             src ? src : ".", td, weights);
    TU_CHECK(system(cmd) == 0, "convert.py failed");
    mobilesam_model *m = NULL;
    mobilesam_error merr;
    TU_CHECK(mobilesam_load(weights, &m, &merr) == 0, "load: %s", merr.message);
    snprintf(path, sizeof path, "%s/images/zidane.png", td);
    msam_image im;
    TU_CHECK(image_load(path, &im, err, sizeof err) == 0, "%s: %s", path, err);
    static run_out a, b;
    if (m && im.rgb && run(m, &im, 1, &a) == 0 && run(m, &im, 2, &b) == 0) {
        double de = tu_max_abs_diff(a.emb, b.emb, 256 * 64 * 64);
        printf("embedding 1 vs 2 threads: max|diff| %.3g\n", de);
        TU_CHECK(de <= 1e-6, "embedding differs by %g", de);
        for (int o = 0; o < 2; o++) {
            int n = a.res[o].n_masks;
            double dl = tu_max_abs_diff(a.res[o].lowres_logits, b.res[o].lowres_logits,
                                        (size_t)n * 256 * 256);
            size_t npx = (size_t)n * im.width * im.height, diff = 0;
            for (size_t i = 0; i < npx; i++) diff += a.res[o].masks[i] != b.res[o].masks[i];
            printf("object %d: logits max|diff| %.3g, %zu mask pixels differ\n", o, dl, diff);
            TU_CHECK(dl <= 1e-6, "object %d logits differ by %g", o, dl);
            TU_CHECK(diff == 0, "object %d: %zu mask pixels differ", o, diff);
            mobilesam_result_free(&a.res[o]);
            mobilesam_result_free(&b.res[o]);
        }
    }
    /* Segment-everything's batched decoding (mobilesam_predict_logits):
     * the same logits and scores as one prompt at a time (mobilesam_predict,
     * multimask), whatever the thread count and the batch (all 7 points, or
     * the last 5). Group sizes: test_model_parity. */
    if (m && im.rgb) {
        mobilesam_embedding *e = NULL;
        mobilesam_error er;
        TU_CHECK(mobilesam_encode(m, im.rgb, im.width, im.height, &e, &er) == 0, "encode: %s",
                 er.message);
        enum { NP = 7 };
        const size_t plane = 256 * 256;
        float pts[2 * NP], *l1 = malloc(sizeof(float) * 3 * NP * plane),
                           *l2 = malloc(sizeof(float) * 3 * NP * plane), s1[3 * NP], s2[3 * NP];
        for (int i = 0; i < NP; i++) {
            pts[2 * i] = (float)(11 + 131 * i % im.width);
            pts[2 * i + 1] = (float)(7 + 89 * i % im.height);
        }
        double worst_l = 0, worst_s = 0;
        for (int threads = 1; e && l1 && l2 && threads <= 2; threads++) {
            mobilesam_set_threads(threads);
            TU_CHECK(mobilesam_predict_logits(m, e, pts, NP, -INFINITY, l1, s1, &er) == 0,
                     "predict_logits: %s", er.message);
            TU_CHECK(mobilesam_predict_logits(m, e, pts + 4, NP - 2, -INFINITY, l2 + 6 * plane,
                                              s2 + 6, &er) == 0,
                     "predict_logits: %s", er.message);
            for (int i = 0; i < NP; i++) {
                static const int one = 1;
                mobilesam_prompt pr = {pts + 2 * i, &one, 1, NULL, NULL, 1};
                mobilesam_result r;
                if (mobilesam_predict(m, e, &pr, 1, &r, &er)) {
                    TU_CHECK(0, "predict: %s", er.message);
                    continue;
                }
                for (int k = 0; k < 3; k++) {
                    double d = tu_max_abs_diff(r.lowres_logits + k * plane,
                                               l1 + (3 * (size_t)i + k) * plane, plane);
                    double ds = fabs((double)r.scores[k] - s1[3 * i + k]);
                    if (d > worst_l) worst_l = d;
                    if (ds > worst_s) worst_s = ds;
                    if (i >= 2) {
                        d = tu_max_abs_diff(l2 + (3 * (size_t)i + k) * plane,
                                            l1 + (3 * (size_t)i + k) * plane, plane);
                        ds = fabs((double)s2[3 * i + k] - s1[3 * i + k]);
                        if (d > worst_l) worst_l = d;
                        if (ds > worst_s) worst_s = ds;
                    }
                }
                mobilesam_result_free(&r);
            }
        }
        printf("predict_logits (groups) vs predict, 1 and 2 threads: logits max|diff| %.3g, "
               "scores %.3g\n", worst_l, worst_s);
        TU_CHECK(worst_l <= 1e-6 && worst_s <= 1e-6, "batched decoding differs: %g / %g",
                 worst_l, worst_s);
        free(l1);
        free(l2);
        mobilesam_embedding_free(e);
    }
    image_free(&im);
    mobilesam_free(m);
    unlink(weights);
    return tu_finish("test_threads");
}
