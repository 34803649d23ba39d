/*
 * test_threads.c - results do not depend on the thread count: the same
 * image encoded and decoded with 1 and 2 threads gives embeddings and
 * low-res logits within 1e-6 and identical masks.
 * Needs MOBILESAM_TESTDATA (skips otherwise) and python3 for the converter.
 */
#define _POSIX_C_SOURCE 200809L
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
    image_free(&im);
    mobilesam_free(m);
    unlink(weights);
    return tu_finish("test_threads");
}
