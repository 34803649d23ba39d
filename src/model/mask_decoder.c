/*
 * mask_decoder.c - MaskDecoder + TwoWayTransformer (mobile_sam/modeling/
 * mask_decoder.py, transformer.py) and Sam.postprocess_masks.
 *
 * Tokens (queries) are [iou_token, mask_tokens(4), sparse prompt tokens];
 * keys are the 4096 image tokens (embedding + dense prompt), with the dense
 * positional encoding of the 64x64 grid.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "ops/ops.h"

#define DEC_HEADS 8
#define DEC_MLP 2048
#define N_MASK_TOKENS 4
#define MAX_TOKENS 1024
#define KEY_CHUNK 256 /* image tokens per step of the keys' update */


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
    const float *w1 = wt_get(c, "mask_decoder.output_upscaling.0.weight", 4, u1);
    d->up1_b = wt_get(c, "mask_decoder.output_upscaling.0.bias", 1, &b1);
    load_norm(c, &d->up_ln, "mask_decoder.output_upscaling.1", 64);
    const float *w2 = wt_get(c, "mask_decoder.output_upscaling.3.weight", 4, u2);
    d->up2_b = wt_get(c, "mask_decoder.output_upscaling.3.bias", 1, &b2);
    if (!c->failed) {
        d->up1_w = malloc(sizeof(float) * 256 * 64 * 4);
        d->up2_w = malloc(sizeof(float) * 64 * 32 * 4);
        if (!d->up1_w || !d->up2_w) return -1;
        ops_pack_conv_transpose2x2(w1, 256, 64, d->up1_w);
        ops_pack_conv_transpose2x2(w2, 64, 32, d->up2_w);
    }
    for (int i = 0; i < N_MASK_TOKENS; i++) {
        keyf(name, sizeof name, "mask_decoder.output_hypernetworks_mlps.%d", i);
        load_mlp3(c, &d->hyper[i], name, 32);
    }
    load_mlp3(c, &d->iou_head, "mask_decoder.iou_prediction_head", 4);
    return c->failed ? -1 : 0;
}

/* ---------------------------------------------------------------- forward */

/* Work buffers of the decoder, kept across calls (no page faults per
 * prompt) and grown when a prompt has more tokens than any before. */
struct dec_ws {
    int cap_tokens;
    float *keys, *tk;             /* (4096, 256) */
    float *qp, *kp, *vp, *o;      /* (4096, 128) at most */
    float *scores;                /* (4096, 8 * tokens) */
    float *small;                 /* per-head token-side products */
    float *tokens, *queries, *tq; /* (tokens, 256) */
    float *mlp_h;                 /* (tokens, 2048) */
    float *up;                    /* output up-scaling */
};

int dec_reassociate = 1;

/* u1 (64 x 128 x 128) and up to 4 logit planes (the up-scaled 32-channel
 * map is never stored); also the mask-input convolutions' scratch */
#define UP_FLOATS (128 * 128 * 64 + N_MASK_TOKENS * 256 * 256)

dec_ws *dec_ws_new(void)
{
    dec_ws *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    const size_t nk = (size_t)EMB_TOKENS * EMB_C, np = (size_t)EMB_TOKENS * 128;
    w->keys = malloc(sizeof(float) * nk);
    w->tk = malloc(sizeof(float) * nk);
    w->qp = malloc(sizeof(float) * np);
    w->kp = malloc(sizeof(float) * np);
    w->vp = malloc(sizeof(float) * np);
    w->o = malloc(sizeof(float) * np);
    w->up = malloc(sizeof(float) * UP_FLOATS);
    if (!w->keys || !w->tk || !w->qp || !w->kp || !w->vp || !w->o || !w->up) {
        dec_ws_free(w);
        return NULL;
    }
    return w;
}

void dec_ws_free(dec_ws *w)
{
    if (!w) return;
    free(w->keys);
    free(w->tk);
    free(w->qp);
    free(w->kp);
    free(w->vp);
    free(w->o);
    free(w->scores);
    free(w->small);
    free(w->tokens);
    free(w->mlp_h);
    free(w->up);
    free(w);
}

static int ws_reserve(dec_ws *w, int tokens)
{
    if (tokens <= w->cap_tokens) return 0;
    free(w->scores);
    free(w->small);
    free(w->tokens);
    free(w->mlp_h);
    const size_t t = (size_t)tokens;
    /* (8 t + 1) rows of 4096, or 4096 rows of 8 t rounded up to 16 */
    w->scores = malloc(sizeof(float) * EMB_TOKENS * (DEC_HEADS * t + 16));
    w->small = malloc(sizeof(float) * (3 * DEC_HEADS * t + 1) * EMB_C);
    w->tokens = malloc(sizeof(float) * 3 * t * EMB_C);
    w->mlp_h = malloc(sizeof(float) * t * DEC_MLP);
    w->cap_tokens = 0;
    if (!w->scores || !w->small || !w->tokens || !w->mlp_h) return -1;
    w->queries = w->tokens + t * EMB_C;
    w->tq = w->queries + t * EMB_C;
    w->cap_tokens = tokens;
    return 0;
}

/* Attention(q, k, v) with all projections, as the official module computes
 * it; out = residual + out_proj(...) (residual may be NULL or alias out). */
static void dec_attention(const dec_attn_t *a, const float *q_in, int Nq, const float *k_in,
                          const float *v_in, int Nk, float *out, const float *residual,
                          dec_ws *w)
{
    const int di = a->internal, c = di / a->heads;
    ops_linear(q_in, Nq, EMB_C, a->q.w, a->q.b, di, w->qp, NULL, OPS_ACT_NONE);
    ops_linear(k_in, Nk, EMB_C, a->k.w, a->k.b, di, w->kp, NULL, OPS_ACT_NONE);
    ops_linear(v_in, Nk, EMB_C, a->v.w, a->v.b, di, w->vp, NULL, OPS_ACT_NONE);
    ops_attention_heads(w->qp, di, w->kp, di, w->vp, di, Nq, Nk, a->heads, c,
                        1.0f / sqrtf((float)c), w->o, di);
    ops_linear(w->o, Nq, di, a->out.w, a->out.b, EMB_C, out, residual, OPS_ACT_NONE);
}

/* Token-to-image cross attention: the Nt tokens attend to the 4096 image
 * tokens; queries += out_proj(...). With few tokens the products are
 * reassociated so that the image side is read twice instead of projected
 * twice: per head, q k^T = (q W_k) (keys+pos)^T + (a per-row constant that
 * softmax cancels), and P v = (P keys) W_v^T + b_v since rows of P sum to 1.
 * pre_k / pre_v: the image-side projections when cached (layer 0). */
static void token_to_image(const dec_attn_t *a, const float *tq, int Nt, const float *tk,
                           const float *keys, const float *pre_k, const float *pre_v,
                           float *queries, dec_ws *w)
{
    const int di = a->internal, H = a->heads, c = di / H;
    const float scale = 1.0f / sqrtf((float)c);
    if (!pre_k && (H * Nt >= di || !dec_reassociate)) {
        dec_attention(a, tq, Nt, tk, keys, EMB_TOKENS, queries, queries, w);
        return;
    }
    ops_linear(tq, Nt, EMB_C, a->q.w, a->q.b, di, w->qp, NULL, OPS_ACT_NONE);
    if (pre_k) {
        ops_attention_heads(w->qp, di, pre_k, di, pre_v, di, Nt, EMB_TOKENS, H, c, scale, w->o,
                            di);
    } else {
        /* the scores are kept transposed, (4096, 8 Nt rounded up to 16):
         * the image side is streamed as it lies, and the softmax over the
         * image tokens runs down the columns */
        float *A = w->small, *B = A + (size_t)H * Nt * EMB_C;
        const int HN = H * Nt, ldst = ops_round16(HN);
        for (int h = 0; h < H; h++)
            ops_gemm(0, 0, Nt, EMB_C, c, scale, w->qp + h * c, di, a->k.w + (size_t)h * c * EMB_C,
                     EMB_C, 0.0f, A + (size_t)h * Nt * EMB_C, EMB_C);
        ops_gemm_tall_bt(tk, EMB_C, EMB_TOKENS, EMB_C, A, EMB_C, HN, w->scores, ldst);
        ops_softmax_cols(w->scores, EMB_TOKENS, ldst);
        ops_gemm_tall_tn(w->scores, ldst, EMB_TOKENS, HN, keys, EMB_C, EMB_C, B, EMB_C);
        for (int h = 0; h < H; h++)
            ops_gemm(0, 1, Nt, c, EMB_C, 1.0f, B + (size_t)h * Nt * EMB_C, EMB_C,
                     a->v.w + (size_t)h * c * EMB_C, EMB_C, 0.0f, w->o + h * c, di);
        for (int i = 0; i < Nt; i++) ops_add(w->o + (size_t)i * di, a->v.b, di);
    }
    ops_linear(w->o, Nt, di, a->out.w, a->out.b, EMB_C, queries, queries, OPS_ACT_NONE);
}

/* Image-to-token cross attention: the 4096 image tokens attend to the Nt
 * tokens; keys += out_proj(...). With few tokens, per head
 * (tk W_q^T + b_q) K^T = tk (W_q^T K^T) + b_q K^T and
 * out_proj(P V) = P (V W_o^T), so the 4096-token side meets (256 x 8 Nt)
 * matrices instead of being projected to 128 and back to 256. The scores
 * are kept transposed, (8 Nt, 4096), so the softmax over a head's Nt
 * tokens runs down contiguous columns; a row of ones appended to them
 * carries out_proj's bias through the last product.
 * pre_q: q_proj(tk) when cached (layer 0). */
static void image_to_token(const dec_attn_t *a, const float *tk, const float *tq,
                           const float *queries, int Nt, const float *pre_q, float *keys,
                           const float *src, const norm_t *norm, const float *key_pe,
                           float *tk_out, dec_ws *w)
{
    const int di = a->internal, H = a->heads, c = di / H, HN = H * Nt;
    const float scale = 1.0f / sqrtf((float)c);
    if (HN >= di || !dec_reassociate) {
        if (src) memcpy(keys, src, sizeof(float) * EMB_TOKENS * EMB_C);
        dec_attention(a, tk, EMB_TOKENS, tq, queries, Nt, keys, keys, w);
        ops_layernorm_add(keys, keys, EMB_TOKENS, EMB_C, norm->g, norm->b, 1e-5f, key_pe, tk_out);
        return;
    }
    float *Kt = w->small, *Vt = Kt + (size_t)Nt * di;
    float *M = Vt + (size_t)Nt * di;           /* (H*Nt + 1, 256) */
    float *d = M + (size_t)(HN + 1) * EMB_C;   /* (H*Nt) */
    float *ST = w->scores;                      /* (H*Nt + 1, 4096) */
    ops_linear(tq, Nt, EMB_C, a->k.w, a->k.b, di, Kt, NULL, OPS_ACT_NONE);
    ops_linear(queries, Nt, EMB_C, a->v.w, a->v.b, di, Vt, NULL, OPS_ACT_NONE);
    if (pre_q) {
        for (int h = 0; h < H; h++)
            ops_gemm(0, 1, Nt, EMB_TOKENS, c, scale, Kt + h * c, di, pre_q + h * c, di, 0.0f,
                     ST + (size_t)h * Nt * EMB_TOKENS, EMB_TOKENS);
    } else {
        for (int h = 0; h < H; h++) {
            ops_gemm(0, 0, Nt, EMB_C, c, scale, Kt + h * c, di, a->q.w + (size_t)h * c * EMB_C,
                     EMB_C, 0.0f, M + (size_t)h * Nt * EMB_C, EMB_C);
            for (int j = 0; j < Nt; j++) {
                float acc = 0.0f;
                for (int k = 0; k < c; k++) acc += a->q.b[h * c + k] * Kt[(size_t)j * di + h * c + k];
                d[h * Nt + j] = scale * acc;
            }
        }
        ops_gemm(0, 1, HN, EMB_TOKENS, EMB_C, 1.0f, M, EMB_C, tk, EMB_C, 0.0f, ST, EMB_TOKENS);
        for (int r = 0; r < HN; r++) /* b_q K^T: one constant per key token */
            for (int t = 0; t < EMB_TOKENS; t++) ST[(size_t)r * EMB_TOKENS + t] += d[r];
    }
    for (int h = 0; h < H; h++)
        ops_softmax_cols(ST + (size_t)h * Nt * EMB_TOKENS, Nt, EMB_TOKENS);
    float *ones = ST + (size_t)HN * EMB_TOKENS;
    for (int t = 0; t < EMB_TOKENS; t++) ones[t] = 1.0f;
    /* M <- (H*Nt + 1, 256): row h*Nt + j = V[j, head h] W_o[:, head h]^T,
     * last row = out_proj bias */
    for (int h = 0; h < H; h++)
        ops_gemm(0, 1, Nt, EMB_C, c, 1.0f, Vt + h * c, di, a->out.w + h * c, di, 0.0f,
                 M + (size_t)h * Nt * EMB_C, EMB_C);
    memcpy(M + (size_t)HN * EMB_C, a->out.b, sizeof(float) * EMB_C);
    /* keys (= src when given) += ST^T M, then the block's LayerNorm and
     * keys + pos for the next attention, KEY_CHUNK image tokens at a time:
     * each chunk is finished while in cache (the 4 MiB arrays are not
     * read back from memory between the steps) */
    const int chunks = EMB_TOKENS / KEY_CHUNK;
    const int nt = omp_in_parallel() ? 1 : (ops_get_threads() < chunks ? ops_get_threads() : chunks);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int ch = 0; ch < chunks; ch++) {
        const size_t off = (size_t)ch * KEY_CHUNK * EMB_C;
        if (src) memcpy(keys + off, src + off, sizeof(float) * KEY_CHUNK * EMB_C);
        ops_gemm(1, 0, KEY_CHUNK, EMB_C, HN + 1, 1.0f, ST + (size_t)ch * KEY_CHUNK, EMB_TOKENS, M,
                 EMB_C, 1.0f, keys + off, EMB_C);
        ops_layernorm_add(keys + off, keys + off, KEY_CHUNK, EMB_C, norm->g, norm->b, 1e-5f,
                          key_pe + off, tk_out + off);
    }
}

static void mlp3_forward(const mlp3_t *m, const float *x, float *out)
{
    float h1[EMB_C], h2[EMB_C];
    ops_linear(x, 1, EMB_C, m->l[0].w, m->l[0].b, EMB_C, h1, NULL, OPS_ACT_RELU);
    ops_linear(h1, 1, EMB_C, m->l[1].w, m->l[1].b, EMB_C, h2, NULL, OPS_ACT_RELU);
    ops_linear(h2, 1, EMB_C, m->l[2].w, m->l[2].b, m->l[2].out, out, NULL, OPS_ACT_NONE);
}

/* TwoWayAttentionBlock. queries (Nt, 256), keys (4096, 256); `cache` holds
 * the layer-0 image-side projections when the keys are the cached src. */
static void two_way_block(const two_way_block_t *l, int layer0, float *queries,
                          const float *query_pe, int Nt, float *keys, const float *key_pe,
                          const dec_image_cache *cache, dec_ws *w)
{
    const size_t nq = (size_t)Nt * EMB_C, nk = (size_t)EMB_TOKENS * EMB_C;
    float *tq = w->tq, *tk = w->tk;
    if (layer0) { /* skip_first_layer_pe: queries are replaced, no residual */
        dec_attention(&l->self_attn, queries, Nt, queries, queries, Nt, queries, NULL, w);
    } else {
        ops_add_to(tq, queries, query_pe, nq);
        dec_attention(&l->self_attn, tq, Nt, tq, queries, Nt, queries, queries, w);
    }
    ops_layernorm(queries, queries, Nt, EMB_C, l->norm1.g, l->norm1.b, 1e-5f);

    ops_add_to(tq, queries, query_pe, nq);
    /* tk = keys + key_pe: cached for layer 0, else left in w->tk by the
     * LayerNorm that ended the previous block */
    if (!cache && layer0) ops_add_to(tk, keys, key_pe, nk);
    const float *tkey = cache ? cache->tk0 : tk;
    token_to_image(&l->cross_t2i, tq, Nt, tkey, keys, cache ? cache->k0 : NULL,
                   cache ? cache->v0 : NULL, queries, w);
    ops_layernorm(queries, queries, Nt, EMB_C, l->norm2.g, l->norm2.b, 1e-5f);

    ops_linear(queries, Nt, EMB_C, l->mlp1.w, l->mlp1.b, DEC_MLP, w->mlp_h, NULL, OPS_ACT_RELU);
    ops_linear(w->mlp_h, Nt, DEC_MLP, l->mlp2.w, l->mlp2.b, EMB_C, queries, queries,
               OPS_ACT_NONE);
    ops_layernorm(queries, queries, Nt, EMB_C, l->norm3.g, l->norm3.b, 1e-5f);

    ops_add_to(tq, queries, query_pe, nq);
    /* keys + key_pe is unchanged since the token-to-image attention; the
     * keys' LayerNorm also leaves keys + key_pe in w->tk for the next block
     * and the final attention. With the cache, keys start as its src. */
    image_to_token(&l->cross_i2t, tkey, tq, queries, Nt, cache ? cache->q0 : NULL, keys,
                   cache ? cache->src : NULL, &l->norm4, key_pe, tk, w);
}

int dec_cache_build(const prompt_decoder_t *d, const float *embedding, dec_image_cache *c)
{
    const size_t nk = (size_t)EMB_TOKENS * EMB_C, np = (size_t)EMB_TOKENS * 128;
    memset(c, 0, sizeof *c);
    c->src = malloc(sizeof(float) * nk);
    c->tk0 = malloc(sizeof(float) * nk);
    c->k0 = malloc(sizeof(float) * np);
    c->v0 = malloc(sizeof(float) * np);
    c->q0 = malloc(sizeof(float) * np);
    if (!c->src || !c->tk0 || !c->k0 || !c->v0 || !c->q0) {
        dec_cache_free(c);
        return -1;
    }
    for (int i = 0; i < EMB_TOKENS; i++)
        ops_add_to(c->src + (size_t)i * EMB_C, embedding + (size_t)i * EMB_C, d->no_mask, EMB_C);
    ops_add_to(c->tk0, c->src, d->dense_pe, nk);
    const dec_attn_t *t2i = &d->layers[0].cross_t2i, *i2t = &d->layers[0].cross_i2t;
    ops_linear(c->tk0, EMB_TOKENS, EMB_C, t2i->k.w, t2i->k.b, t2i->internal, c->k0, NULL,
               OPS_ACT_NONE);
    ops_linear(c->src, EMB_TOKENS, EMB_C, t2i->v.w, t2i->v.b, t2i->internal, c->v0, NULL,
               OPS_ACT_NONE);
    ops_linear(c->tk0, EMB_TOKENS, EMB_C, i2t->q.w, i2t->q.b, i2t->internal, c->q0, NULL,
               OPS_ACT_NONE);
    return 0;
}

void dec_cache_free(dec_image_cache *c)
{
    free(c->src);
    free(c->tk0);
    free(c->k0);
    free(c->v0);
    free(c->q0);
    memset(c, 0, sizeof *c);
}

int mask_decoder_forward(const prompt_decoder_t *d, const float *embedding,
                         const dec_image_cache *cache, const dec_prompt_t *p, dec_ws *w,
                         float *logits4, float *iou4, int want, float skip_below)
{
    const size_t nk = (size_t)EMB_TOKENS * EMB_C;
    if (ws_reserve(w, 1 + N_MASK_TOKENS + p->n_points + 2)) return -1;
    float *tokens = w->tokens, *queries = w->queries, *keys = w->keys;

    /* tokens = [iou_token, mask_tokens, sparse] */
    memcpy(tokens, d->iou_token, sizeof(float) * EMB_C);
    memcpy(tokens + EMB_C, d->mask_tokens, sizeof(float) * N_MASK_TOKENS * EMB_C);
    int Nt = 1 + N_MASK_TOKENS +
             prompt_sparse_tokens(d, p, tokens + (1 + N_MASK_TOKENS) * EMB_C);
    memcpy(queries, tokens, sizeof(float) * Nt * EMB_C);

    /* src = embedding + dense prompt; the cache holds it for no mask input */
    if (p->mask_input) {
        prompt_dense_from_mask(d, p->mask_input, keys, w->up);
        ops_add(keys, embedding, nk);
        cache = NULL;
    } else if (cache) {
        /* keys = cache->src: copied by layer 0's image-to-token step */
    } else {
        for (int i = 0; i < EMB_TOKENS; i++)
            ops_add_to(keys + (size_t)i * EMB_C, embedding + (size_t)i * EMB_C, d->no_mask,
                       EMB_C);
    }

    for (int i = 0; i < 2; i++)
        two_way_block(&d->layers[i], i == 0, queries, tokens, Nt, keys, d->dense_pe,
                      i == 0 ? cache : NULL, w);
    ops_add_to(w->tq, queries, tokens, (size_t)Nt * EMB_C);
    /* w->tk = keys + dense_pe, from the last block's LayerNorm */
    token_to_image(&d->final_attn, w->tq, Nt, w->tk, keys, NULL, NULL, queries, w);
    ops_layernorm(queries, queries, Nt, EMB_C, d->norm_final.g, d->norm_final.b, 1e-5f);

    /* IoU predictions first: masks whose score does not pass skip_below are
     * not needed (segment-everything filters on it), and when none is, the
     * up-scaling is skipped altogether. */
    mlp3_forward(&d->iou_head, queries, iou4);
    int need = 0;
    for (int i = 0; i < N_MASK_TOKENS; i++) need |= (want >> i & 1 && iou4[i] > skip_below) << i;
    if (!need) return 0;

    /* output_upscaling: ConvT 256->64, LayerNorm2d, GELU (into u1, planar
     * 64 x 128 x 128), ConvT 64->32, GELU; the hypernetworks' products
     * logits_i = h_i . U are fused into the second ConvT as a projection,
     * so that U (32 x 256 x 256) is never stored. Token i goes to plane
     * i - first; the tokens from the first needed to the last needed one
     * are projected together (those in between are wanted, so they have a
     * plane; when one is not, the planes go through scratch first). */
    float *u1 = w->up, *u2 = u1 + 128 * 128 * 64;
    ops_conv_transpose2x2(keys, 0, 64, 64, 256, d->up1_w, d->up1_b, 64, d->up_ln.g, d->up_ln.b,
                          1e-6f, OPS_ACT_GELU, NULL, 0, u1);
    const int first = __builtin_ctz((unsigned)want);
    const int lo = __builtin_ctz((unsigned)need), hi = 31 - __builtin_clz((unsigned)need);
    const size_t plane = (size_t)LOWRES * LOWRES;
    float hyper[N_MASK_TOKENS * 32];
    int contiguous = 1;
    for (int i = lo; i <= hi; i++) {
        mlp3_forward(&d->hyper[i], queries + (size_t)(1 + i) * EMB_C, hyper + 32 * (i - lo));
        if (!(want >> i & 1)) contiguous = 0;
    }
    float *dst = contiguous ? logits4 + (size_t)(lo - first) * plane : u2;
    ops_conv_transpose2x2(u1, 1, 128, 128, 64, d->up2_w, d->up2_b, 32, NULL, NULL, 0.0f,
                          OPS_ACT_GELU, hyper, hi - lo + 1, dst);
    if (!contiguous)
        for (int i = lo; i <= hi; i++)
            if (need >> i & 1)
                memcpy(logits4 + (size_t)(i - first) * plane, u2 + (size_t)(i - lo) * plane,
                       sizeof(float) * plane);
    return 0;
}

int mask_decoder_points(const prompt_decoder_t *dec, const float *embedding,
                        const dec_image_cache *cache, dec_ws **ws, int n_ws,
                        const float *points, int n, float *logits3, float *iou3,
                        float skip_below)
{
    const size_t plane = (size_t)LOWRES * LOWRES;
    static const int label1 = 1;
    int failed = 0;
    /* One point per thread: every kernel runs single-threaded inside the
     * region, so there is no fork/join per operation. Only tokens 1..3 are
     * asked for: token i of point k goes to plane 3k + i - 1. */
#pragma omp parallel for num_threads(n_ws) schedule(dynamic, 1) if (n_ws > 1)
    for (int i = 0; i < n; i++) {
        dec_prompt_t p = {points + 2 * i, &label1, 1, NULL, NULL};
        float iou4[4];
        dec_ws *w = ws[omp_get_thread_num()];
        if (mask_decoder_forward(dec, embedding, cache, &p, w, logits3 + plane * (3 * i), iou4,
                                 0xE, skip_below)) {
#pragma omp atomic write
            failed = 1;
        }
        memcpy(iou3 + 3 * i, iou4 + 1, sizeof(float) * 3);
    }
    return failed ? -1 : 0;
}

void postprocess_logits(const float *lowres, int rw, int rh, int w, int h, float *out,
                        float *scratch)
{
    /* only the (rh, rw) crop of the 1024x1024 up-sampling is ever read */
    ops_resize_bilinear_region(lowres, LOWRES, LOWRES, LOWRES, scratch, ENC_IMG, ENC_IMG, rh,
                               rw, rw);
    ops_resize_bilinear(scratch, rh, rw, rw, out, h, w);
}

void postprocess_mask(const float *lowres, int rw, int rh, int w, int h, uint8_t *mask,
                      float *scratch)
{
    float *out = scratch + (size_t)ENC_IMG * ENC_IMG;
    postprocess_logits(lowres, rw, rh, w, h, out, scratch);
    for (size_t i = 0; i < (size_t)w * h; i++) mask[i] = out[i] > 0.0f ? 255 : 0;
}
