/*
 * mobilesam.c - the public API (include/mobilesam.h): ties the weight file,
 * pre-processing, network and post-processing together, like the official
 * SamPredictor (set_image / predict), and validates what users pass in.
 */
#define _POSIX_C_SOURCE 200809L
#include "mobilesam.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/image.h"
#include "io/weights.h"
#include "model/model.h"
#include "ops/ops.h"

#define MAX_POINTS_PER_OBJECT MOBILESAM_MAX_POINTS
#define MAX_DEC_WS 64

struct mobilesam_model {
    wt_file file;
    msam_net net;
    dec_ws *dec_ws[MAX_DEC_WS]; /* decoder buffers per thread, made on first use */
    mobilesam_timing timing;
};

struct mobilesam_embedding {
    float *tokens; /* (4096, 256) HWC */
    dec_image_cache cache; /* prompt-independent decoder work */
    int width, height, resized_w, resized_h;
    mobilesam_precision precision; /* of the encode that made it */
};

static mobilesam_status set_err(mobilesam_error *err, mobilesam_status st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return st;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void mobilesam_set_threads(int n)
{
    ops_init();
    ops_set_threads(n);
}

const char *mobilesam_blas_coretype_hint(void) { return ops_blas_coretype_hint(); }

int mobilesam_get_threads(void)
{
    ops_init();
    return ops_get_threads();
}

/* OpenBLAS hangs when it cannot map its work buffers: make sure they are
 * there before any call that runs a GEMM (see ops_blas_reserve). */
static mobilesam_status blas_room(mobilesam_error *err)
{
    if (ops_blas_reserve() == 0) return MOBILESAM_OK;
    return set_err(err, MOBILESAM_ERR_NOMEM,
                   "out of memory: the memory limit (ulimit -v / -d) leaves no room "
                   "for the BLAS work buffers");
}

mobilesam_status mobilesam_load(const char *path, mobilesam_model **out, mobilesam_error *err)
{
    *out = NULL;
    ops_init();
    mobilesam_model *m = calloc(1, sizeof *m);
    if (!m) return set_err(err, MOBILESAM_ERR_NOMEM, "out of memory");
    char msg[400];
    int rc = wt_open(path, &m->file, msg, sizeof msg);
    if (rc != 0) {
        free(m);
        int missing = strncmp(msg, "cannot open", 11) == 0;
        return set_err(err,
                       rc == -2   ? MOBILESAM_ERR_NOMEM
                       : missing ? MOBILESAM_ERR_IO
                                 : MOBILESAM_ERR_FORMAT,
                       "%s", msg);
    }
    rc = net_load(&m->net, &m->file, msg, sizeof msg);
    if (rc != 0) {
        wt_close(&m->file);
        free(m);
        return set_err(err, rc == -2 ? MOBILESAM_ERR_NOMEM : MOBILESAM_ERR_FORMAT, "%s", msg);
    }
    mobilesam_status st = blas_room(err);
    if (st) {
        mobilesam_free(m);
        return st;
    }
    *out = m;
    return MOBILESAM_OK;
}

void mobilesam_free(mobilesam_model *m)
{
    if (!m) return;
    for (int i = 0; i < MAX_DEC_WS; i++) dec_ws_free(m->dec_ws[i]);
    net_free(&m->net);
    wt_close(&m->file);
    free(m);
}

/* For tests (not exported: the library's version script exports only
 * mobilesam_*): the network of a model. */
msam_net *msam_model_net(mobilesam_model *m);
msam_net *msam_model_net(mobilesam_model *m) { return &m->net; }

const char *mobilesam_precision_name(mobilesam_precision p)
{
    switch (p) {
    case MOBILESAM_FP32: return "fp32";
    case MOBILESAM_FP16: return "fp16";
    case MOBILESAM_INT8: return "int8";
    }
    return NULL;
}

int mobilesam_precision_parse(const char *text, mobilesam_precision *out)
{
    static const mobilesam_precision all[] = {MOBILESAM_FP32, MOBILESAM_FP16, MOBILESAM_INT8};
    for (size_t i = 0; text && i < sizeof all / sizeof *all; i++)
        if (strcmp(text, mobilesam_precision_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

mobilesam_precision mobilesam_precision_supported(mobilesam_precision wanted)
{
    ops_init();
    if (wanted == MOBILESAM_INT8 && ops_cpu_int8()) return MOBILESAM_INT8;
    /* fp16 has no kernels yet: fp32 meets its tolerances */
    return MOBILESAM_FP32;
}

mobilesam_status mobilesam_set_precision(mobilesam_model *m, mobilesam_precision wanted,
                                         mobilesam_precision *used, mobilesam_error *err)
{
    mobilesam_precision p = mobilesam_precision_supported(wanted);
    static const int to_net[] = {NET_FP32, NET_FP16, NET_INT8};
    if (net_set_precision(&m->net, to_net[p]))
        return set_err(err, MOBILESAM_ERR_NOMEM, "out of memory (quantizing the weights to %s)",
                       mobilesam_precision_name(p));
    if (used) *used = p;
    return MOBILESAM_OK;
}

mobilesam_precision mobilesam_get_precision(const mobilesam_model *m)
{
    return m->net.precision == NET_INT8   ? MOBILESAM_INT8
           : m->net.precision == NET_FP16 ? MOBILESAM_FP16
                                          : MOBILESAM_FP32;
}

mobilesam_precision mobilesam_embedding_precision(const mobilesam_embedding *e)
{
    return e->precision;
}

void mobilesam_embedding_set_precision(mobilesam_embedding *e, mobilesam_precision p)
{
    if (mobilesam_precision_name(p)) e->precision = p;
}

const char *mobilesam_model_id(const mobilesam_model *m) { return m->file.id; }

const char *mobilesam_model_type(const mobilesam_model *m) { return net_model_type(&m->net); }

static mobilesam_status new_embedding(int width, int height, mobilesam_embedding **out,
                                      mobilesam_error *err)
{
    mobilesam_embedding *e = calloc(1, sizeof *e);
    if (e) e->tokens = malloc(sizeof(float) * EMB_TOKENS * EMB_C);
    if (!e || !e->tokens) {
        free(e);
        return set_err(err, MOBILESAM_ERR_NOMEM, "out of memory");
    }
    e->width = width;
    e->height = height;
    image_target_size(height, width, ENC_IMG, &e->resized_h, &e->resized_w);
    *out = e;
    return MOBILESAM_OK;
}

static mobilesam_status check_size(int width, int height, mobilesam_error *err)
{
    if (width <= 0 || height <= 0 || (long long)width * height > (1LL << 40))
        return set_err(err, MOBILESAM_ERR_INVALID, "invalid image size %dx%d", width, height);
    /* As in the official ResizeLongestSide, the short side of a very
     * elongated image (3000x1) rounds to 0 pixels: nothing to encode. */
    int rh, rw;
    image_target_size(height, width, ENC_IMG, &rh, &rw);
    if (rh <= 0 || rw <= 0)
        return set_err(err, MOBILESAM_ERR_INVALID,
                       "%dx%d is too elongated (the short side would resize to 0 pixels)",
                       width, height);
    return MOBILESAM_OK;
}

mobilesam_status mobilesam_encode(mobilesam_model *m, const uint8_t *rgb, int width, int height,
                                  mobilesam_embedding **out, mobilesam_error *err)
{
    *out = NULL;
    mobilesam_status st = check_size(width, height, err);
    if (st || (st = blas_room(err))) return st;
    mobilesam_embedding *e;
    if ((st = new_embedding(width, height, &e, err))) return st;
    double t0 = now_ms();
    uint8_t *resized = malloc((size_t)e->resized_w * e->resized_h * 3);
    float *input = enc_ws_get(&m->net.ws, ENC_WS_INPUT, (size_t)ENC_IMG * ENC_IMG * 3);
    if (!resized || !input ||
        image_resize_bilinear_pil(rgb, width, height, resized, e->resized_w, e->resized_h)) {
        free(resized);
        mobilesam_embedding_free(e);
        return set_err(err, MOBILESAM_ERR_NOMEM, "out of memory");
    }
    preprocess_normalize(resized, e->resized_w, e->resized_h, input);
    free(resized);
    double t1 = now_ms();
    ops_take_oom(); /* a flag left by an earlier failure is not ours */
    int rc = net_encode(&m->net, input, e->tokens, NULL, NULL);
    if (!rc) rc = dec_cache_build(&m->net.dec, e->tokens, &e->cache);
    if (ops_take_oom()) rc = -1; /* a kernel lacked scratch memory */
    if (rc) {
        mobilesam_embedding_free(e);
        return set_err(err, MOBILESAM_ERR_NOMEM, "out of memory");
    }
    e->precision = mobilesam_get_precision(m);
    m->timing.preprocess_ms = t1 - t0;
    m->timing.encoder_ms = now_ms() - t1;
    *out = e;
    return MOBILESAM_OK;
}

mobilesam_status mobilesam_embedding_from_data(const mobilesam_model *m, const float *chw,
                                               int width, int height,
                                               mobilesam_embedding **out,
                                               mobilesam_error *err)
{
    *out = NULL;
    mobilesam_status st = check_size(width, height, err);
    if (st) return st;
    mobilesam_embedding *e;
    if ((st = new_embedding(width, height, &e, err))) return st;
    for (int c = 0; c < EMB_C; c++)
        for (int i = 0; i < EMB_TOKENS; i++) e->tokens[(size_t)i * EMB_C + c] = chw[(size_t)c * EMB_TOKENS + i];
    if (dec_cache_build(&m->net.dec, e->tokens, &e->cache)) {
        mobilesam_embedding_free(e);
        return set_err(err, MOBILESAM_ERR_NOMEM, "out of memory");
    }
    *out = e;
    return MOBILESAM_OK;
}

void mobilesam_embedding_data(const mobilesam_embedding *e, float *chw)
{
    for (int c = 0; c < EMB_C; c++)
        for (int i = 0; i < EMB_TOKENS; i++) chw[(size_t)c * EMB_TOKENS + i] = e->tokens[(size_t)i * EMB_C + c];
}

void mobilesam_embedding_size(const mobilesam_embedding *e, int *width, int *height,
                              int *resized_w, int *resized_h)
{
    if (width) *width = e->width;
    if (height) *height = e->height;
    if (resized_w) *resized_w = e->resized_w;
    if (resized_h) *resized_h = e->resized_h;
}

void mobilesam_embedding_free(mobilesam_embedding *e)
{
    if (!e) return;
    dec_cache_free(&e->cache);
    free(e->tokens);
    free(e);
}

static int inside(float v, int hi) { return isfinite(v) && v >= 0.0f && v <= (float)hi; }

static mobilesam_status validate(const mobilesam_prompt *p, int idx, int w, int h,
                                 mobilesam_error *err)
{
    if (p->n_points < 0 || p->n_points > MAX_POINTS_PER_OBJECT)
        return set_err(err, MOBILESAM_ERR_INVALID, "object %d: %d points (at most %d)", idx,
                       p->n_points, MAX_POINTS_PER_OBJECT);
    if (p->n_points == 0 && !p->box)
        return set_err(err, MOBILESAM_ERR_INVALID, "object %d: no point and no box", idx);
    if (p->n_points > 0 && (!p->points || !p->labels))
        return set_err(err, MOBILESAM_ERR_INVALID, "object %d: points without labels", idx);
    for (int i = 0; i < p->n_points; i++) {
        float x = p->points[2 * i], y = p->points[2 * i + 1];
        if (!inside(x, w) || !inside(y, h))
            return set_err(err, MOBILESAM_ERR_INVALID,
                           "object %d: point (%g, %g) is outside the %dx%d image", idx, x, y,
                           w, h);
        if (p->labels[i] != 0 && p->labels[i] != 1)
            return set_err(err, MOBILESAM_ERR_INVALID,
                           "object %d: label %d is not 0 (background) or 1 (foreground)",
                           idx, p->labels[i]);
    }
    if (p->box) {
        const float *b = p->box;
        if (!inside(b[0], w) || !inside(b[2], w) || !inside(b[1], h) || !inside(b[3], h))
            return set_err(err, MOBILESAM_ERR_INVALID,
                           "object %d: box (%g, %g, %g, %g) is outside the %dx%d image", idx,
                           b[0], b[1], b[2], b[3], w, h);
        if (b[2] < b[0] || b[3] < b[1])
            return set_err(err, MOBILESAM_ERR_INVALID,
                           "object %d: box (%g, %g, %g, %g) has x1 < x0 or y1 < y0", idx,
                           b[0], b[1], b[2], b[3]);
    }
    return MOBILESAM_OK;
}

/* ResizeLongestSide.apply_coords: x * (neww / w) in double, then float. */
static void map_coords(const float *in, float *out, int n, const mobilesam_embedding *e)
{
    double sx = (double)e->resized_w / e->width, sy = (double)e->resized_h / e->height;
    for (int i = 0; i < n; i++) {
        out[2 * i] = (float)((double)in[2 * i] * sx);
        out[2 * i + 1] = (float)((double)in[2 * i + 1] * sy);
    }
}

/* Creates the decoder's reusable buffers (n sets, one per thread) on first
 * use; 0 when ready. */
static int decoder_ready(mobilesam_model *m, int n)
{
    for (int i = 0; i < n && i < MAX_DEC_WS; i++)
        if (!m->dec_ws[i] && !(m->dec_ws[i] = dec_ws_new())) return -1;
    return 0;
}

static mobilesam_status predict_one(mobilesam_model *m, const mobilesam_embedding *e,
                                    const mobilesam_prompt *p, mobilesam_result *r,
                                    float *scratch)
{
    float *points = malloc(sizeof(float) * 2 * (p->n_points + 1));
    float box[4];
    float *logits4 = malloc(sizeof(float) * 4 * LOWRES * LOWRES);
    if (!points || !logits4) goto nomem;
    map_coords(p->points, points, p->n_points, e);
    if (p->box) map_coords(p->box, box, 2, e);
    dec_prompt_t dp = {points, p->labels, p->n_points, p->box ? box : NULL, p->mask_input};
    float iou4[4];
    const int want = p->multimask ? 0xE : 0x1;
    if (mask_decoder_forward(&m->net.dec, e->tokens, &e->cache, &dp, 1, m->dec_ws[0], logits4,
                             4, iou4, want, -INFINITY))
        goto nomem;

    int first = p->multimask ? 1 : 0;
    r->n_masks = p->multimask ? 3 : 1;
    r->width = e->width;
    r->height = e->height;
    size_t plane = (size_t)LOWRES * LOWRES, npix = (size_t)e->width * e->height;
    r->lowres_logits = malloc(sizeof(float) * plane * r->n_masks);
    r->masks = malloc(npix * r->n_masks);
    if (!r->lowres_logits || !r->masks) goto nomem;
    for (int i = 0; i < r->n_masks; i++) {
        r->scores[i] = iou4[first + i];
        memcpy(r->lowres_logits + plane * i, logits4 + plane * i, sizeof(float) * plane);
        postprocess_mask(logits4 + plane * i, e->resized_w, e->resized_h, e->width,
                         e->height, r->masks + npix * i, scratch);
    }
    free(points);
    free(logits4);
    return MOBILESAM_OK;
nomem:
    free(points);
    free(logits4);
    mobilesam_result_free(r);
    return MOBILESAM_ERR_NOMEM;
}

mobilesam_status mobilesam_predict(mobilesam_model *m, const mobilesam_embedding *e,
                                   const mobilesam_prompt *prompts, int n_prompts,
                                   mobilesam_result *results, mobilesam_error *err)
{
    if (n_prompts < 0) return set_err(err, MOBILESAM_ERR_INVALID, "negative prompt count");
    if (n_prompts > MOBILESAM_MAX_OBJECTS)
        return set_err(err, MOBILESAM_ERR_INVALID, "%d objects (at most %d per image)",
                       n_prompts, MOBILESAM_MAX_OBJECTS);
    size_t mask_bytes = 0;
    for (int i = 0; i < n_prompts; i++) {
        mobilesam_status st = validate(&prompts[i], i, e->width, e->height, err);
        if (st) return st;
        mask_bytes += (size_t)(prompts[i].multimask ? 3 : 1) * e->width * e->height;
    }
    /* the results hold every mask at full size: refuse what would eat the
     * machine's memory instead of failing half-way */
    if (mask_bytes > MOBILESAM_MAX_MASK_BYTES)
        return set_err(err, MOBILESAM_ERR_INVALID,
                       "%d objects need %.1f GiB of %dx%d masks (at most %.0f GiB per call)",
                       n_prompts, (double)mask_bytes / (1 << 30), e->width, e->height,
                       (double)MOBILESAM_MAX_MASK_BYTES / (1 << 30));
    memset(results, 0, sizeof *results * (size_t)n_prompts);
    if (blas_room(err)) return MOBILESAM_ERR_NOMEM;
    if (decoder_ready(m, 1)) return set_err(err, MOBILESAM_ERR_NOMEM, "out of memory");
    double t0 = now_ms();
    float *scratch = malloc(sizeof(float) * ENC_IMG * ENC_IMG);
    if (!scratch) return set_err(err, MOBILESAM_ERR_NOMEM, "out of memory");
    ops_take_oom();
    for (int i = 0; i < n_prompts; i++) {
        int bad = predict_one(m, e, &prompts[i], &results[i], scratch);
        if (!bad && ops_take_oom()) { /* a kernel lacked scratch memory */
            mobilesam_result_free(&results[i]);
            bad = 1;
        }
        if (bad) {
            for (int j = 0; j < i; j++) mobilesam_result_free(&results[j]);
            free(scratch);
            return set_err(err, MOBILESAM_ERR_NOMEM, "out of memory");
        }
    }
    free(scratch);
    m->timing.decoder_ms = now_ms() - t0;
    return MOBILESAM_OK;
}

mobilesam_status mobilesam_predict_logits(mobilesam_model *m, const mobilesam_embedding *e,
                                          const float *points_xy, int n_points,
                                          float skip_below, float *logits3, float *scores3,
                                          mobilesam_error *err)
{
    if (n_points < 0) return set_err(err, MOBILESAM_ERR_INVALID, "negative point count");
    for (int i = 0; i < n_points; i++)
        if (!inside(points_xy[2 * i], e->width) || !inside(points_xy[2 * i + 1], e->height))
            return set_err(err, MOBILESAM_ERR_INVALID,
                           "point (%g, %g) is outside the %dx%d image", points_xy[2 * i],
                           points_xy[2 * i + 1], e->width, e->height);
    if (blas_room(err)) return MOBILESAM_ERR_NOMEM;
    float *mapped = malloc(sizeof(float) * 2 * (size_t)(n_points + 1));
    if (!mapped) return set_err(err, MOBILESAM_ERR_NOMEM, "out of memory");
    map_coords(points_xy, mapped, n_points, e);
    double t0 = now_ms();
    int nws = ops_get_threads() < n_points ? ops_get_threads() : n_points;
    if (nws > MAX_DEC_WS) nws = MAX_DEC_WS;
    if (nws < 1) nws = 1;
    ops_take_oom();
    int rc = decoder_ready(m, nws) ? -1
                                   : mask_decoder_points(&m->net.dec, e->tokens, &e->cache,
                                                         m->dec_ws, nws, mapped, n_points,
                                                         logits3, scores3, skip_below);
    if (ops_take_oom()) rc = -1;
    free(mapped);
    if (rc) return set_err(err, MOBILESAM_ERR_NOMEM, "out of memory");
    m->timing.decoder_ms = now_ms() - t0;
    return MOBILESAM_OK;
}

mobilesam_status mobilesam_upscale_logits(const mobilesam_embedding *e, const float *lowres,
                                          float *out)
{
    float *scratch = malloc(sizeof(float) * ENC_IMG * ENC_IMG);
    if (!scratch) return MOBILESAM_ERR_NOMEM;
    ops_take_oom();
    postprocess_logits(lowres, e->resized_w, e->resized_h, e->width, e->height, out, scratch);
    free(scratch);
    if (ops_take_oom()) return MOBILESAM_ERR_NOMEM;
    return MOBILESAM_OK;
}

void mobilesam_result_free(mobilesam_result *r)
{
    if (!r) return;
    free(r->lowres_logits);
    free(r->masks);
    r->lowres_logits = NULL;
    r->masks = NULL;
    r->n_masks = 0;
}

size_t mobilesam_embedding_bytes(const mobilesam_embedding *e)
{
    (void)e;
    return sizeof(mobilesam_embedding) + sizeof(float) * (size_t)EMB_TOKENS * EMB_C +
           dec_cache_bytes();
}

void mobilesam_last_timing(const mobilesam_model *m, mobilesam_timing *t) { *t = m->timing; }
