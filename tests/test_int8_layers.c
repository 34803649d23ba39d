/*
 * test_int8_layers.c - what int8 costs in fidelity, layer group by layer
 * group (the measurements behind the README's per-layer table), through
 * the library on the fixture pack: for float32, for each group of layers
 * alone in int8, and for the default int8 set, the embedding's relative
 * RMS error against the official one (rms(ours - ref) / rms(ref)) and the
 * IoU of the low-res masks (logits > 0) against the official ones, for the
 * single-point, multimask-point and box cases of every image (the pack has
 * official embeddings for zidane and bus only); also for the groups that
 * stay out of int8 rounded to bfloat16 instead. Asserts the int8
 * bounds on the default set, with and without its bf16 set (embedding <=
 * 3e-2, every low-res mask IoU >= 0.95), and float32's own parity (<= 1e-5).
 * Needs MOBILESAM_TESTDATA (skips otherwise) and python3 for the converter.
 */
#include "cli_harness.h" /* first: it sets the feature macros */

#include <cJSON.h>
#include <math.h>

#include "io/image.h"
#include "io/npy.h"
#include "io/weights.h"
#include "mobilesam.h"
#include "model/model.h"
#include "ops/ops.h"
#include "testutil.h"

static const char *g_td;
msam_net *msam_model_net(mobilesam_model *m); /* src/mobilesam.c, for tests */

static const char *const IMAGES[] = {"zidane", "bus", "tiny", "picture1"};
#define NIMG 4
/* the prompts: the cases "point", "point_multi" (3 masks), "box" of
 * cases.json, taken from there at start-up */
typedef struct {
    int w, h;
    float pt[2], box[4];
    float *ref_emb;       /* (256, 4096) CHW */
    float *ref_low[3];    /* point (1), point_multi (3 planes), box (1) */
    float *input;         /* pre-processed image */
} img_case;

static float *read_npy(const char *img, const char *file, size_t want)
{
    char path[1200], err[256];
    snprintf(path, sizeof path, "%s/refs/%s/%s", g_td, img, file);
    npy_array a;
    if (npy_read(path, &a, err, sizeof err)) {
        TU_CHECK(0, "%s: %s", path, err);
        return NULL;
    }
    TU_CHECK(a.numel == want, "%s: %zu values, expected %zu", path, a.numel, want);
    free(a.comment);
    return a.data; /* owned by the caller */
}

static int load_case(const char *img, img_case *c)
{
    char path[1200], err[256];
    snprintf(path, sizeof path, "%s/images/%s.png", g_td, img);
    msam_image im;
    if (image_load(path, &im, err, sizeof err)) {
        TU_CHECK(0, "%s: %s", path, err);
        return -1;
    }
    c->w = im.width;
    c->h = im.height;
    /* the prompts of the "point" and "box" cases */
    snprintf(path, sizeof path, "%s/refs/cases.json", g_td);
    char *txt = ch_read(path, NULL);
    cJSON *root = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    int found = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(cJSON_GetObjectItem(root, img), "cases"))
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(it, "id"));
        if (id && !strcmp(id, "point")) {
            const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(it, "points"), 0);
            c->pt[0] = (float)cJSON_GetNumberValue(cJSON_GetArrayItem(p0, 0));
            c->pt[1] = (float)cJSON_GetNumberValue(cJSON_GetArrayItem(p0, 1));
            found |= 1;
        } else if (id && !strcmp(id, "box")) {
            for (int k = 0; k < 4; k++)
                c->box[k] = (float)cJSON_GetNumberValue(
                    cJSON_GetArrayItem(cJSON_GetObjectItem(it, "box"), k));
            found |= 2;
        }
    }
    cJSON_Delete(root);
    TU_CHECK(found == 3, "%s: the point / box cases not found in cases.json", img);
    if (found != 3) {
        image_free(&im);
        return -1;
    }
    int rh, rw;
    image_target_size(im.height, im.width, ENC_IMG, &rh, &rw);
    uint8_t *resized = malloc((size_t)rw * rh * 3);
    c->input = malloc(sizeof(float) * ENC_IMG * ENC_IMG * 3);
    image_resize_bilinear_pil(im.rgb, im.width, im.height, resized, rw, rh);
    preprocess_normalize(resized, rw, rh, c->input);
    free(resized);
    image_free(&im);
    /* the pack has official embeddings for zidane and bus only */
    snprintf(path, sizeof path, "%s/refs/%s/embedding.npy", g_td, img);
    c->ref_emb = access(path, R_OK) == 0 ? read_npy(img, "embedding.npy", (size_t)EMB_C * EMB_TOKENS)
                                         : NULL;
    c->ref_low[0] = read_npy(img, "point.lowres.npy", 65536);
    c->ref_low[1] = read_npy(img, "point_multi.lowres.npy", 3 * 65536);
    c->ref_low[2] = read_npy(img, "box.lowres.npy", 65536);
    return c->ref_low[0] && c->ref_low[1] && c->ref_low[2] ? 0 : -1;
}

static double iou_pos(const float *a, const float *b, size_t n)
{
    size_t i_ = 0, u = 0;
    for (size_t i = 0; i < n; i++) {
        const int x = a[i] > 0.0f, y = b[i] > 0.0f;
        i_ += x && y;
        u += x || y;
    }
    return u ? (double)i_ / (double)u : 1.0;
}

/* Encodes c with the network as it is set now; returns the embedding's rel.
 * RMS error and writes the worst low-res mask IoU to *iou. */
static double measure(mobilesam_model *m, msam_net *net, const img_case *c, double *iou)
{
    float *tok = malloc(sizeof(float) * EMB_TOKENS * EMB_C);
    float *chw = malloc(sizeof(float) * EMB_TOKENS * EMB_C);
    TU_CHECK(net_encode(net, c->input, tok, NULL, NULL) == 0, "encode failed");
    double num = 0, den = 0;
    for (int ch = 0; ch < EMB_C; ch++)
        for (int i = 0; i < EMB_TOKENS; i++) {
            const float v = tok[(size_t)i * EMB_C + ch];
            chw[(size_t)ch * EMB_TOKENS + i] = v;
            if (!c->ref_emb) continue;
            const float r = c->ref_emb[(size_t)ch * EMB_TOKENS + i];
            num += ((double)v - r) * ((double)v - r);
            den += (double)r * r;
        }
    mobilesam_embedding *e = NULL;
    mobilesam_error err;
    *iou = 1.0;
    if (mobilesam_embedding_from_data(m, chw, c->w, c->h, &e, &err) == MOBILESAM_OK) {
        const int lab = 1;
        mobilesam_prompt pr[3] = {{c->pt, &lab, 1, NULL, NULL, 0},
                                  {c->pt, &lab, 1, NULL, NULL, 1},
                                  {NULL, NULL, 0, c->box, NULL, 0}};
        mobilesam_result res[3];
        if (mobilesam_predict(m, e, pr, 3, res, &err) == MOBILESAM_OK) {
            for (int k = 0; k < 3; k++) {
                for (int j = 0; j < res[k].n_masks; j++) {
                    const double v = iou_pos(res[k].lowres_logits + (size_t)j * 65536,
                                             c->ref_low[k] + (size_t)j * 65536, 65536);
                    if (v < *iou) *iou = v;
                }
                mobilesam_result_free(&res[k]);
            }
        } else
            TU_CHECK(0, "predict: %s", err.message);
        mobilesam_embedding_free(e);
    } else
        TU_CHECK(0, "embedding: %s", err.message);
    free(tok);
    free(chw);
    return c->ref_emb ? sqrt(num / den) : NAN;
}

int main(void)
{
    g_td = tu_testdata();
    if (!g_td) tu_skip("MOBILESAM_TESTDATA is not set (point it at the fixture pack)");
    char *dir, *weights;
    mobilesam_model *m = ch_fixture_model(g_td, &dir, &weights);
    if (!m) {
        TU_CHECK(0, "cannot convert and load the synthetic checkpoint");
        return tu_finish("test_int8_layers");
    }
    ch_rmtree(dir); /* the weights stay mapped */
    free(dir);
    free(weights);
    msam_net *net = msam_model_net(m);
    img_case cs[NIMG];
    memset(cs, 0, sizeof cs);
    int ok = 1;
    for (int i = 0; i < NIMG; i++) ok &= load_case(IMAGES[i], &cs[i]) == 0;
    if (!ok) return tu_finish("test_int8_layers");

    printf("int8 kernels: %s; bf16 kernels: %s (fast: %s); weights of the default set: %.1f MiB\n",
           ops_q8_path(), ops_bf16_path(), ops_cpu_bf16_fast() ? "yes" : "no",
           (net_set_groups(net, NET_Q8_DEFAULT, NET_BF16_DEFAULT), net_q8_bytes(net) / 1048576.0));
    printf("%-30s %7s", "layers in int8 / bf16", "MiB");
    for (int i = 0; i < NIMG; i++) printf(" %9s emb / IoU  ", IMAGES[i]);
    printf("\n");
    /* rows (int8 groups, bf16 groups): float32, each group alone in int8,
     * all, the default int8 set; each group of the bf16 set alone in bf16
     * (the window attention among them),
     * the decoder's attention and its image-side scores in bf16, and the
     * default int8 set with the bf16 set (what --precision int8 runs where
     * bf16 is fast) */
    unsigned rows[2 * 17 + 4][2]; /* groups below 1 << 17 */
    int nr = 0;
    rows[nr][0] = rows[nr][1] = 0, nr++;
    for (unsigned g = 1; g < NET_Q8_ALL; g <<= 1) rows[nr][0] = g, rows[nr][1] = 0, nr++;
    rows[nr][0] = NET_Q8_ALL, rows[nr][1] = 0, nr++;
    if (NET_Q8_DEFAULT != NET_Q8_ALL) rows[nr][0] = NET_Q8_DEFAULT, rows[nr][1] = 0, nr++;
    for (unsigned g = 1; g <= NET_BF16_DEC_KEYS; g <<= 1)
        if ((NET_BF16_DEFAULT | NET_Q8_DEC | NET_Q8_DEC_SCORES) & g)
            rows[nr][0] = 0, rows[nr][1] = g, nr++;
    rows[nr][0] = NET_Q8_DEFAULT, rows[nr][1] = NET_BF16_DEFAULT, nr++;
    for (int r = 0; r < nr; r++) {
        const unsigned q8 = rows[r][0], bf = rows[r][1];
        const int dflt = q8 == NET_Q8_DEFAULT && (bf == 0 || bf == NET_BF16_DEFAULT);
        TU_CHECK(net_set_groups(net, q8, bf) == 0, "groups %#x / %#x: out of memory", q8, bf);
        char name[64];
        if (!q8 && !bf)
            snprintf(name, sizeof name, "none (float32)");
        else if (q8 && bf)
            snprintf(name, sizeof name, "default set + bf16 set");
        else if (bf)
            snprintf(name, sizeof name, "%s in bf16", net_q8_group_name(bf));
        else
            snprintf(name, sizeof name, "%s", q8 == NET_Q8_DEFAULT ? "default set"
                                              : q8 == NET_Q8_ALL   ? "all"
                                                                   : net_q8_group_name(q8));
        printf("%-30s %7.3f", name, net_q8_bytes(net) / 1048576.0);
        for (int i = 0; i < NIMG; i++) {
            double iou, e = measure(m, net, &cs[i], &iou);
            if (isnan(e))
                printf("   %9s / %.4f", "-", iou);
            else
                printf("   %9.2e / %.4f", e, iou);
            if (!q8 && !bf) {
                TU_CHECK(isnan(e) || e <= 1e-5, "%s float32: embedding rel. RMS %.3g > 1e-5", IMAGES[i], e);
                TU_CHECK(iou >= 0.995, "%s float32: low-res IoU %.4f", IMAGES[i], iou);
            }
            if (dflt) {
                TU_CHECK(isnan(e) || e <= 3e-2, "%s int8: embedding rel. RMS %.3g > 3e-2", IMAGES[i], e);
                TU_CHECK(iou >= 0.95, "%s int8: low-res IoU %.4f < 0.95", IMAGES[i], iou);
            }
        }
        printf("\n");
    }
    mobilesam_free(m);
    for (int i = 0; i < NIMG; i++) {
        free(cs[i].input);
        free(cs[i].ref_emb);
        for (int k = 0; k < 3; k++) free(cs[i].ref_low[k]);
    }
    return tu_finish("test_int8_layers");
}
