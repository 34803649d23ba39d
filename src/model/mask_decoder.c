/*
 * mask_decoder.c - MaskDecoder + TwoWayTransformer (mobile_sam/modeling/
 * mask_decoder.py, transformer.py) and Sam.postprocess_masks.
 *
 * Tokens (queries) are [iou_token, mask_tokens(4), sparse prompt tokens];
 * keys are the 4096 image tokens (embedding + dense prompt), with the dense
 * positional encoding of the 64x64 grid.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "ops/ops.h"

#define DEC_HEADS 8
#define DEC_MLP 2048
#define N_MASK_TOKENS 4
#define MAX_TOKENS 1024


/* ---------------------------------------------------------------- loading */

static void load_attn(wt_ctx *c, dec_attn_t *a, const char *p, int downsample)
{
    char name[256];
    a->heads = DEC_HEADS;
    a->internal = EMB_C / downsample;
    keyf(name, sizeof name, "%s.q_proj", p);
    load_linear(c, &a->q, name, EMB_C, a->internal, 1);
    keyf(name, sizeof name, "%s.k_proj", p);
    load_linear(c, &a->k, name, EMB_C, a->internal, 1);
    keyf(name, sizeof name, "%s.v_proj", p);
    load_linear(c, &a->v, name, EMB_C, a->internal, 1);
    keyf(name, sizeof name, "%s.out_proj", p);
    load_linear(c, &a->out, name, a->internal, EMB_C, 1);
}

static void load_mlp3(wt_ctx *c, mlp3_t *m, const char *p, int out)
{
    char name[256];
    for (int i = 0; i < 3; i++) {
        keyf(name, sizeof name, "%s.layers.%d", p, i);
        load_linear(c, &m->l[i], name, EMB_C, i == 2 ? out : EMB_C, 1);
    }
}

int mask_decoder_load(prompt_decoder_t *d, wt_ctx *c)
{
    char name[256];
    int s1[2] = {1, EMB_C}, s4[2] = {N_MASK_TOKENS, EMB_C};
    d->iou_token = wt_get(c, "mask_decoder.iou_token.weight", 2, s1);
    d->mask_tokens = wt_get(c, "mask_decoder.mask_tokens.weight", 2, s4);
    for (int i = 0; i < 2; i++) {
        two_way_block_t *l = &d->layers[i];
        const char *p = "mask_decoder.transformer.layers";
        keyf(name, sizeof name, "%s.%d.self_attn", p, i);
        load_attn(c, &l->self_attn, name, 1);
        keyf(name, sizeof name, "%s.%d.cross_attn_token_to_image", p, i);
        load_attn(c, &l->cross_t2i, name, 2);
        keyf(name, sizeof name, "%s.%d.cross_attn_image_to_token", p, i);
        load_attn(c, &l->cross_i2t, name, 2);
        norm_t *norms[4] = {&l->norm1, &l->norm2, &l->norm3, &l->norm4};
        for (int k = 0; k < 4; k++) {
            keyf(name, sizeof name, "%s.%d.norm%d", p, i, k + 1);
            load_norm(c, norms[k], name, EMB_C);
        }
        keyf(name, sizeof name, "%s.%d.mlp.lin1", p, i);
        load_linear(c, &l->mlp1, name, EMB_C, DEC_MLP, 1);
        keyf(name, sizeof name, "%s.%d.mlp.lin2", p, i);
        load_linear(c, &l->mlp2, name, DEC_MLP, EMB_C, 1);
    }
    load_attn(c, &d->final_attn, "mask_decoder.transformer.final_attn_token_to_image", 2);
    load_norm(c, &d->norm_final, "mask_decoder.transformer.norm_final_attn", EMB_C);
    int u1[4] = {256, 64, 2, 2}, u2[4] = {64, 32, 2, 2}, b1 = 64, b2 = 32;
    d->up1_w = wt_get(c, "mask_decoder.output_upscaling.0.weight", 4, u1);
    d->up1_b = wt_get(c, "mask_decoder.output_upscaling.0.bias", 1, &b1);
    load_norm(c, &d->up_ln, "mask_decoder.output_upscaling.1", 64);
    d->up2_w = wt_get(c, "mask_decoder.output_upscaling.3.weight", 4, u2);
    d->up2_b = wt_get(c, "mask_decoder.output_upscaling.3.bias", 1, &b2);
    for (int i = 0; i < N_MASK_TOKENS; i++) {
        keyf(name, sizeof name, "mask_decoder.output_hypernetworks_mlps.%d", i);
        load_mlp3(c, &d->hyper[i], name, 32);
    }
    load_mlp3(c, &d->iou_head, "mask_decoder.iou_prediction_head", 4);
    return c->failed ? -1 : 0;
}

/* ---------------------------------------------------------------- forward */

typedef struct {
    float *qp, *kp, *vp, *o; /* projections, (4096, 256) each at most */
    float *scores;           /* Nq * Nk */
} attn_ws;

/* Attention(q, k, v) with projections; out = residual + out_proj(...)
 * (residual may be NULL or alias out). */
static void dec_attention(const dec_attn_t *a, const float *q_in, int Nq, const float *k_in,
                          const float *v_in, int Nk, float *out, const float *residual,
                          attn_ws *w)
{
    const int di = a->internal, c = di / a->heads;
    ops_linear(q_in, Nq, EMB_C, a->q.w, a->q.b, di, w->qp, NULL, OPS_ACT_NONE);
    ops_linear(k_in, Nk, EMB_C, a->k.w, a->k.b, di, w->kp, NULL, OPS_ACT_NONE);
    ops_linear(v_in, Nk, EMB_C, a->v.w, a->v.b, di, w->vp, NULL, OPS_ACT_NONE);
    const float scale = 1.0f / sqrtf((float)c);
    for (int h = 0; h < a->heads; h++)
        ops_attention(w->qp + h * c, di, w->kp + h * c, di, w->vp + h * c, di, Nq, Nk, c,
                      scale, NULL, w->o + h * c, di, w->scores);
    ops_linear(w->o, Nq, di, a->out.w, a->out.b, EMB_C, out, residual, OPS_ACT_NONE);
}

static void mlp3_forward(const mlp3_t *m, const float *x, float *out)
{
    float h1[EMB_C], h2[EMB_C];
    ops_linear(x, 1, EMB_C, m->l[0].w, m->l[0].b, EMB_C, h1, NULL, OPS_ACT_RELU);
    ops_linear(h1, 1, EMB_C, m->l[1].w, m->l[1].b, EMB_C, h2, NULL, OPS_ACT_RELU);
    ops_linear(h2, 1, EMB_C, m->l[2].w, m->l[2].b, m->l[2].out, out, NULL, OPS_ACT_NONE);
}

/* TwoWayAttentionBlock. queries (Nt, 256), keys (4096, 256). */
static void two_way_block(const two_way_block_t *l, int skip_first_pe, float *queries,
                          const float *query_pe, int Nt, float *keys, const float *key_pe,
                          float *tq, float *tk, float *mlp_h, attn_ws *w)
{
    const size_t nq = (size_t)Nt * EMB_C, nk = (size_t)EMB_TOKENS * EMB_C;
    if (skip_first_pe) {
        dec_attention(&l->self_attn, queries, Nt, queries, queries, Nt, queries, NULL, w);
    } else {
        ops_add_to(tq, queries, query_pe, nq);
        dec_attention(&l->self_attn, tq, Nt, tq, queries, Nt, queries, queries, w);
    }
    ops_layernorm(queries, queries, Nt, EMB_C, l->norm1.g, l->norm1.b, 1e-5f);

    ops_add_to(tq, queries, query_pe, nq);
    ops_add_to(tk, keys, key_pe, nk);
    dec_attention(&l->cross_t2i, tq, Nt, tk, keys, EMB_TOKENS, queries, queries, w);
    ops_layernorm(queries, queries, Nt, EMB_C, l->norm2.g, l->norm2.b, 1e-5f);

    ops_linear(queries, Nt, EMB_C, l->mlp1.w, l->mlp1.b, DEC_MLP, mlp_h, NULL, OPS_ACT_RELU);
    ops_linear(mlp_h, Nt, DEC_MLP, l->mlp2.w, l->mlp2.b, EMB_C, queries, queries,
               OPS_ACT_NONE);
    ops_layernorm(queries, queries, Nt, EMB_C, l->norm3.g, l->norm3.b, 1e-5f);

    ops_add_to(tq, queries, query_pe, nq);
    /* tk (keys + key_pe) is unchanged since the token-to-image attention */
    dec_attention(&l->cross_i2t, tk, EMB_TOKENS, tq, queries, Nt, keys, keys, w);
    ops_layernorm(keys, keys, EMB_TOKENS, EMB_C, l->norm4.g, l->norm4.b, 1e-5f);
}

int mask_decoder_forward(const prompt_decoder_t *d, const float *embedding,
                         const dec_prompt_t *p, float *logits4, float *iou4)
{
    const size_t nk = (size_t)EMB_TOKENS * EMB_C;
    const int max_tokens = 1 + N_MASK_TOKENS + p->n_points + 2;
    const size_t nq = (size_t)max_tokens * EMB_C;
    float *qbuf = malloc(sizeof(float) * 3 * nq);
    float *keys = malloc(sizeof(float) * nk * 6);
    float *up = malloc(sizeof(float) * (128 * 128 * 64 + 256 * 256 * 32 + 256 * 256 * 32));
    float *scores = malloc(sizeof(float) * (size_t)EMB_TOKENS * max_tokens);
    float *mlp_h = malloc(sizeof(float) * (size_t)max_tokens * DEC_MLP);
    int rc = -1;
    if (!qbuf || !keys || !up || !scores || !mlp_h) goto out;
    float *tokens = qbuf, *queries = qbuf + nq, *tq = qbuf + 2 * nq;
    float *tk = keys + nk;
    attn_ws w = {keys + 2 * nk, keys + 3 * nk, keys + 4 * nk, keys + 5 * nk, scores};

    /* tokens = [iou_token, mask_tokens, sparse] */
    memcpy(tokens, d->iou_token, sizeof(float) * EMB_C);
    memcpy(tokens + EMB_C, d->mask_tokens, sizeof(float) * N_MASK_TOKENS * EMB_C);
    int Nt = 1 + N_MASK_TOKENS +
             prompt_sparse_tokens(d, p, tokens + (1 + N_MASK_TOKENS) * EMB_C);
    memcpy(queries, tokens, sizeof(float) * Nt * EMB_C);

    /* src = embedding + dense prompt */
    if (p->mask_input) {
        prompt_dense_from_mask(d, p->mask_input, keys, up);
        ops_add(keys, embedding, nk);
    } else {
        for (int i = 0; i < EMB_TOKENS; i++)
            ops_add_to(keys + (size_t)i * EMB_C, embedding + (size_t)i * EMB_C, d->no_mask,
                       EMB_C);
    }

    for (int i = 0; i < 2; i++)
        two_way_block(&d->layers[i], i == 0, queries, tokens, Nt, keys, d->dense_pe, tq, tk,
                      mlp_h, &w);
    ops_add_to(tq, queries, tokens, (size_t)Nt * EMB_C);
    ops_add_to(tk, keys, d->dense_pe, nk);
    dec_attention(&d->final_attn, tq, Nt, tk, keys, EMB_TOKENS, queries, queries, &w);
    ops_layernorm(queries, queries, Nt, EMB_C, d->norm_final.g, d->norm_final.b, 1e-5f);

    /* output_upscaling: ConvT 256->64, LayerNorm2d, GELU, ConvT 64->32, GELU */
    float *u1 = up, *u2 = up + 128 * 128 * 64, *sc = u2 + 256 * 256 * 32;
    ops_conv_transpose2x2(keys, 64, 64, 256, d->up1_w, d->up1_b, 64, u1, sc);
    ops_layernorm(u1, u1, 128 * 128, 64, d->up_ln.g, d->up_ln.b, 1e-6f);
    ops_gelu(u1, (size_t)128 * 128 * 64);
    ops_conv_transpose2x2(u1, 128, 128, 64, d->up2_w, d->up2_b, 32, u2, sc);
    ops_gelu(u2, (size_t)256 * 256 * 32);

    /* hypernetworks: logits_i = h_i . U */
    float hyper[N_MASK_TOKENS * 32];
    for (int i = 0; i < N_MASK_TOKENS; i++)
        mlp3_forward(&d->hyper[i], queries + (size_t)(1 + i) * EMB_C, hyper + i * 32);
    ops_gemm(0, 1, N_MASK_TOKENS, LOWRES * LOWRES, 32, 1.0f, hyper, 32, u2, 32, 0.0f,
             logits4, LOWRES * LOWRES);
    mlp3_forward(&d->iou_head, queries, iou4);
    rc = 0;
out:
    free(qbuf);
    free(keys);
    free(up);
    free(scores);
    free(mlp_h);
    return rc;
}

int mask_decoder_points(const prompt_decoder_t *dec, const float *embedding,
                        const float *points, int n, float *logits3, float *iou3)
{
    const size_t plane = (size_t)LOWRES * LOWRES;
    float *logits4 = malloc(sizeof(float) * 4 * plane);
    if (!logits4) return -1;
    static const int label1 = 1;
    for (int i = 0; i < n; i++) {
        dec_prompt_t p = {points + 2 * i, &label1, 1, NULL, NULL};
        float iou4[4];
        if (mask_decoder_forward(dec, embedding, &p, logits4, iou4)) {
            free(logits4);
            return -1;
        }
        memcpy(logits3 + 3 * plane * i, logits4 + plane, sizeof(float) * 3 * plane);
        memcpy(iou3 + 3 * i, iou4 + 1, sizeof(float) * 3);
    }
    free(logits4);
    return 0;
}

void postprocess_logits(const float *lowres, int rw, int rh, int w, int h, float *out,
                        float *scratch)
{
    ops_resize_bilinear(lowres, LOWRES, LOWRES, LOWRES, scratch, ENC_IMG, ENC_IMG);
    ops_resize_bilinear(scratch, rh, rw, ENC_IMG, out, h, w);
}

void postprocess_mask(const float *lowres, int rw, int rh, int w, int h, uint8_t *mask,
                      float *scratch)
{
    float *out = scratch + (size_t)ENC_IMG * ENC_IMG;
    postprocess_logits(lowres, rw, rh, w, h, out, scratch);
    for (size_t i = 0; i < (size_t)w * h; i++) mask[i] = out[i] > 0.0f ? 255 : 0;
}
