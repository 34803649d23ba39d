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
#define DEC_GROUP 4   /* prompts decoded together by mask_decoder_points */


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
 * prompt) and grown when a call has more tokens, or a larger group of
 * prompts, than any before. Token-side arrays hold the rows of a whole
 * group; image-side ones are per prompt (keys, tk) or reused prompt after
 * prompt (scores, small). */
struct dec_ws {
    int cap_tokens, cap_rows, cap_group;
    float *keys[DEC_GROUP], *tk[DEC_GROUP]; /* (4096, 256) per prompt of a group */
    float *qp, *kp, *vp, *o;      /* (4096, 128): rows of a group at most */
    float *kt, *vt;               /* (rows, 128): image-to-token token side */
    float *anext;                 /* per prompt: token-to-image A^T, (256, 8 Nt -> 16) */
    struct ops_q8w *qa[DEC_GROUP]; /* ... or A, packed in int8 / bf16 (NET_Q8_DEC_SCORES) */
    struct ops_q8w *qm;           /* image-to-token M and its bias, packed likewise */
    struct ops_q8w *kb[DEC_GROUP]; /* per prompt: keys^T in bf16 (NET_BF16_DEC_PV) */
    struct ops_q8x *tkq[DEC_GROUP]; /* per prompt: keys + PE quantized (NET_Q8_DEC_SCORES) */
    struct ops_q8w *ku;           /* image-to-token M in bf16 (NET_BF16_DEC_KEYS) */
    float *pt;                    /* (4096, 8 * tokens + 1): its probabilities, transposed */
    float *scores, *scores2;      /* (4096, 8 * tokens + 16) each */
    float *small;                 /* per-head token-side products, one prompt */
    float *tokens, *queries, *tq; /* (rows, 256) */
    float *mlp_h;                 /* (rows, 2048) */
    float *heads;                 /* (group, 256) rows gathered for the heads */
    float *up;                    /* output up-scaling */
};

int dec_reassociate = 1;
int dec_unfused = 0;
/* 1: measured faster than groups of 2 or 4 on the development machine
 * (segment-everything on bus.png, 2 threads: 10.9 / 11.4 / 11.1 s with
 * thresholds 0, 6.0 / 6.2 / 6.3 s with the defaults): the weights saved
 * cost more in the group's image-side buffers (8 MiB a prompt) falling out
 * of cache. Kept adjustable, and tested, for machines where weight
 * bandwidth is the scarcer resource. */
int dec_group = 1;

/* u1 (64 x 128 x 128) and up to 4 logit planes (the up-scaled 32-channel
 * map is never stored); also the mask-input convolutions' scratch */
#define UP_FLOATS (128 * 128 * 64 + N_MASK_TOKENS * 256 * 256)

dec_ws *dec_ws_new(void)
{
    dec_ws *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    const size_t np = (size_t)EMB_TOKENS * 128;
    w->qp = malloc(sizeof(float) * np);
    w->kp = malloc(sizeof(float) * np);
    w->vp = malloc(sizeof(float) * np);
    w->o = malloc(sizeof(float) * np);
    w->up = malloc(sizeof(float) * UP_FLOATS);
    w->heads = malloc(sizeof(float) * DEC_GROUP * EMB_C);
    if (!w->qp || !w->kp || !w->vp || !w->o || !w->up || !w->heads) {
        dec_ws_free(w);
        return NULL;
    }
    return w;
}

void dec_ws_free(dec_ws *w)
{
    if (!w) return;
    for (int g = 0; g < DEC_GROUP; g++) {
        free(w->keys[g]);
        free(w->tk[g]);
    }
    free(w->qp);
    free(w->kp);
    free(w->vp);
    free(w->o);
    free(w->scores);
    free(w->scores2);
    free(w->small);
    free(w->tokens);
    free(w->mlp_h);
    free(w->kt);
    free(w->anext);
    free(w->pt);
    ops_q8w_free(w->qm);
    ops_q8w_free(w->ku);
    for (int g = 0; g < DEC_GROUP; g++) {
        ops_q8w_free(w->qa[g]);
        ops_q8w_free(w->kb[g]);
        ops_q8x_free(w->tkq[g]);
    }
    free(w->heads);
    free(w->up);
    free(w);
}

/* Room for G prompts of `tokens` tokens each. */
static int ws_reserve(dec_ws *w, int tokens, int G)
{
    const size_t nk = (size_t)EMB_TOKENS * EMB_C;
    for (; w->cap_group < G; w->cap_group++) {
        w->keys[w->cap_group] = malloc(sizeof(float) * nk);
        w->tk[w->cap_group] = malloc(sizeof(float) * nk);
        if (!w->keys[w->cap_group] || !w->tk[w->cap_group]) return -1;
    }
    if (tokens > w->cap_tokens) {
        free(w->scores);
        free(w->scores2);
        free(w->small);
        free(w->pt);
        const size_t t = (size_t)tokens;
        /* (8 t + 1) rows of 4096, or 4096 rows of 8 t rounded up to 16 */
        w->scores = malloc(sizeof(float) * EMB_TOKENS * (DEC_HEADS * t + 16));
        w->scores2 = malloc(sizeof(float) * EMB_TOKENS * (DEC_HEADS * t + 16));
        w->small = malloc(sizeof(float) * (3 * DEC_HEADS * t + 1) * EMB_C);
        w->pt = malloc(sizeof(float) * EMB_TOKENS * (DEC_HEADS * t + 1));
        w->cap_tokens = 0;
        if (!w->scores || !w->scores2 || !w->small || !w->pt) return -1;
        w->cap_tokens = tokens;
    }
    const int rows = tokens * G;
    if (rows > w->cap_rows) {
        free(w->tokens);
        free(w->mlp_h);
        free(w->kt);
        free(w->anext);
        const size_t r = (size_t)rows;
        w->tokens = malloc(sizeof(float) * 3 * r * EMB_C);
        w->mlp_h = malloc(sizeof(float) * r * DEC_MLP);
        w->kt = malloc(sizeof(float) * 2 * r * 128);
        /* G <= DEC_GROUP prompts of 8 t columns rounded up to 16 each */
        w->anext = malloc(sizeof(float) * (r * DEC_HEADS + 16 * DEC_GROUP) * EMB_C);
        w->cap_rows = 0;
        if (!w->tokens || !w->mlp_h || !w->kt || !w->anext) return -1;
        w->vt = w->kt + r * 128;
        w->queries = w->tokens + r * EMB_C;
        w->tq = w->queries + r * EMB_C;
        w->cap_rows = rows;
    }
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

/* Self-attention among each prompt's Nt tokens, for G prompts whose rows
 * are stacked: the projections and out_proj run on all rows at once (the
 * weights are read once per group), the attention per prompt.
 * out = residual + out_proj(...) (residual may be NULL or alias out). */
static void self_attention(const dec_attn_t *a, const float *qk_in, const float *v_in, int Nt,
                           int G, float *out, const float *residual, dec_ws *w)
{
    const int di = a->internal, c = di / a->heads, R = G * Nt;
    linear_forward(&a->q, qk_in, R, w->qp, NULL, OPS_ACT_NONE);
    linear_forward(&a->k, qk_in, R, w->kp, NULL, OPS_ACT_NONE);
    linear_forward(&a->v, v_in, R, w->vp, NULL, OPS_ACT_NONE);
    for (int g = 0; g < G; g++) {
        const size_t o = (size_t)g * Nt * di;
        ops_attention_heads(w->qp + o, di, w->kp + o, di, w->vp + o, di, Nt, Nt, a->heads, c,
                            1.0f / sqrtf((float)c), w->o + o, di);
    }
    linear_forward(&a->out, w->o, R, out, residual, OPS_ACT_NONE);
}

/* Token-to-image cross attention: each prompt's Nt tokens attend to its
 * 4096 image tokens; queries += out_proj(...). With few tokens the
 * products are reassociated so that the image side is read twice instead
 * of projected twice: per head, q k^T = (q W_k) (keys+pos)^T + (a per-row
 * constant that softmax cancels), and P v = (P keys) W_v^T + b_v since rows
 * of P sum to 1. It runs in three steps, so that the scores of prompt g
 * (tk[g] . A_g^T, transposed: 4096 x 8 Nt rounded up to 16) can be
 * computed by whoever has tk[g] in cache (the previous image-to-token
 * step, chunk by chunk):
 *   t2i_begin: q_proj of the group's rows; per prompt and head
 *              A = scale (q W_k), kept transposed in w->anext
 *              (per prompt 256 x 8 Nt rounded up to 16), or with sq
 *              (NET_Q8_DEC_SCORES: 1 int8, 2 bf16) packed in w->qa[g] as
 *              the weights of an ops_linear_q8 (8 Nt rounded up to 16
 *              rows, the padding zero); t2i_scores computes the scores
 *              from either form; returns -1 when out of memory;
 *   t2i_point: prompt g's softmax down the columns of its scores, then
 *              (P keys) W_v^T + b_v into its rows of w->o (P keys in bf16
 *              when given kb, the keys' bf16 form);
 *   t2i_end:   out_proj of the group's rows, added to the queries. */
static int t2i_begin(const dec_attn_t *a, const float *tq, int Nt, int G, int sq, dec_ws *w)
{
    const int di = a->internal, H = a->heads, c = di / H, HN = H * Nt, ld = ops_round16(HN);
    const float scale = 1.0f / sqrtf((float)c);
    linear_forward(&a->q, tq, G * Nt, w->qp, NULL, OPS_ACT_NONE);
    for (int g = 0; g < G; g++) {
        float *A = w->small;
        for (int h = 0; h < H; h++)
            ops_gemm(0, 0, Nt, EMB_C, c, scale, w->qp + (size_t)g * Nt * di + h * c, di,
                     a->k.w + (size_t)h * c * EMB_C, EMB_C, 0.0f, A + (size_t)h * Nt * EMB_C,
                     EMB_C);
        if (sq) { /* w->small has room for the padding rows (3 HN + 1 >= ld) */
            memset(A + (size_t)HN * EMB_C, 0, sizeof(float) * (ld - HN) * EMB_C);
            if (ops_q8w_repack(&w->qa[g], A, NULL, ld, EMB_C, sq == 2)) return -1;
            continue;
        }
        /* kept transposed and padded (256 x 8 Nt rounded up to 16): the
         * form the tall product streams against the image side */
        ops_pack_tall_a(A, EMB_C, HN, EMB_C, w->anext + (size_t)g * EMB_C * ld);
    }
    return 0;
}

/* Prompt g's token-to-image scores for n image tokens + PE (tk, rows of
 * 256), transposed: out (n, ld = 8 Nt rounded up to 16; the padding
 * columns 0) = tk . A^T, from what t2i_begin made. */
static void t2i_scores(const float *tk, int n, int HN, int g, int sq, float *out, dec_ws *w)
{
    const int ld = ops_round16(HN);
    if (sq)
        ops_linear_q8(tk, n, w->qa[g], out, NULL, OPS_ACT_NONE);
    else
        ops_gemm_tall_bt_packed(tk, EMB_C, n, EMB_C, w->anext + (size_t)g * EMB_C * ld, HN, out,
                                ld);
}

static void t2i_point(const dec_attn_t *a, int Nt, int g, float *scores, const float *keys,
                      const struct ops_q8w *kb, dec_ws *w)
{
    const int di = a->internal, H = a->heads, c = di / H, HN = H * Nt;
    const int ldst = ops_round16(HN);
    float *B = w->small, *o = w->o + (size_t)g * Nt * di;
    ops_softmax_cols(scores, EMB_TOKENS, ldst);
    if (kb) {
        /* P^T keys in bf16 against the keys' bf16 form (i2t_point made
         * it), P transposed through w->scores (free here) */
        ops_transpose(scores, (size_t)ldst, EMB_TOKENS, HN, w->scores, EMB_TOKENS);
        ops_linear_q8(w->scores, HN, kb, B, NULL, OPS_ACT_NONE);
    } else {
        ops_gemm_tall_tn(scores, ldst, EMB_TOKENS, HN, keys, EMB_C, EMB_C, B, EMB_C);
    }
    for (int h = 0; h < H; h++)
        ops_gemm(0, 1, Nt, c, EMB_C, 1.0f, B + (size_t)h * Nt * EMB_C, EMB_C,
                 a->v.w + (size_t)h * c * EMB_C, EMB_C, 0.0f, o + h * c, di);
    for (int i = 0; i < Nt; i++) ops_add(o + (size_t)i * di, a->v.b, di);
}

static void t2i_end(const dec_attn_t *a, int Nt, int G, float *queries, dec_ws *w)
{
    linear_forward(&a->out, w->o, G * Nt, queries, queries, OPS_ACT_NONE);
}

/* The whole token-to-image attention. pre_kt / pre_v: the image-side
 * projections when cached (layer 0, shared by the group; k transposed,
 * (128, 4096)): the plain attention per prompt. tk[g], keys[g]: prompt g's image side;
 * packed: their LayerNorm also made the keys' bf16 form (w->kb). The
 * official order of operations (many tokens, or dec_reassociate 0) is
 * only taken with G = 1. */
static int token_to_image(const dec_attn_t *a, const float *tq, int Nt, int G,
                          const float *const *tk, const float *const *keys, const float *pre_kt,
                          const float *pre_v, float *queries, int sq, int packed, dec_ws *w)
{
    const int di = a->internal, H = a->heads, c = di / H, HN = H * Nt;
    const float scale = 1.0f / sqrtf((float)c);
    if (!pre_kt && (HN >= di || !dec_reassociate)) {
        dec_attention(a, tq, Nt, tk[0], keys[0], EMB_TOKENS, queries, queries, w);
        return 0;
    }
    if (pre_kt) {
        /* per head: scores (Nt, 4096) = (scale q) K^T against the cached
         * K^T, row softmax, then P V; the heads batched in each step */
        linear_forward(&a->q, tq, G * Nt, w->qp, NULL, OPS_ACT_NONE);
        for (size_t i = 0; i < (size_t)G * Nt * di; i++) w->qp[i] *= scale;
        for (int g = 0; g < G; g++) {
            float *S = w->scores;
            ops_gemm_wide(H, Nt, EMB_TOKENS, c, w->qp + (size_t)g * Nt * di, di, (size_t)c,
                          pre_kt, EMB_TOKENS, (size_t)c * EMB_TOKENS, S, EMB_TOKENS,
                          (size_t)Nt * EMB_TOKENS);
            ops_softmax_rows(S, HN, EMB_TOKENS);
            ops_gemm_wide(H, Nt, c, EMB_TOKENS, S, EMB_TOKENS, (size_t)Nt * EMB_TOKENS, pre_v,
                          di, (size_t)c, w->o + (size_t)g * Nt * di, di, (size_t)c);
        }
    } else {
        if (t2i_begin(a, tq, Nt, G, sq, w)) return -1;
        for (int g = 0; g < G; g++) {
            t2i_scores(tk[g], EMB_TOKENS, HN, g, sq, w->scores2, w);
            t2i_point(a, Nt, g, w->scores2, keys[g], packed ? w->kb[g] : NULL, w);
        }
    }
    t2i_end(a, Nt, G, queries, w);
    return 0;
}

/* Image-to-token cross attention: each prompt's 4096 image tokens attend
 * to its Nt tokens; keys += out_proj(...), then the block's LayerNorm.
 * With few tokens, per head
 * (tk W_q^T + b_q) K^T = tk (W_q^T K^T) + b_q K^T and
 * out_proj(P V) = P (V W_o^T), so the 4096-token side meets (256 x 8 Nt)
 * matrices instead of being projected to 128 and back to 256. The scores
 * are kept transposed, (8 Nt, 4096), so the softmax over a head's Nt
 * tokens runs down contiguous columns; a row of ones appended to them
 * carries out_proj's bias through the last product. Two steps:
 *   i2t_begin: the token-side projections of the group's rows (w->kt,
 *              w->vt);
 *   i2t_point: prompt g's image side. tk: its keys + pos (for the
 *              scores); pre_qt: q_proj(tk) transposed, (128, 4096), when
 *              cached (layer 0); src: the
 *              keys' initial value when it is the cache's (else keys
 *              holds it); tk_out receives keys + key_pe after the
 *              LayerNorm; with `next` (t2i_begin having run for the
 *              next token-to-image attention), that attention's
 *              transposed scores (t2i_scores) go to next_scores while
 *              each chunk is in cache. sq: as t2i_begin's, here for the
 *              scores tk . M^T (no cache), from tk_q, tk's quantized
 *              form, when given; with out_q, keys + PE go there
 *              quantized instead of to tk_out (and the next scores come
 *              from it; out_q may be tk_q: read before it is written);
 *              pv: the new keys' bf16 form also goes to w->kb[g]
 *              (NET_BF16_DEC_PV); pe_bf16: key_pe in bf16, added
 *              instead of it to make keys + PE when the scores are
 *              quantized (sq); returns -1 when out of memory. */
static void i2t_begin(const dec_attn_t *a, const float *tq, const float *queries, int Nt, int G,
                      dec_ws *w)
{
    linear_forward(&a->k, tq, G * Nt, w->kt, NULL, OPS_ACT_NONE);
    linear_forward(&a->v, queries, G * Nt, w->vt, NULL, OPS_ACT_NONE);
}

static int i2t_point(const dec_attn_t *a, const float *tk, int Nt, int g, const float *pre_qt,
                     float *keys, const float *src, const norm_t *norm, const float *key_pe,
                     const uint16_t *pe_bf16, float *tk_out, int next, float *next_scores,
                     int sq, int pv, int ku, const ops_q8x *tk_q, ops_q8x *out_q, dec_ws *w)
{
    const int di = a->internal, H = a->heads, c = di / H, HN = H * Nt;
    const float scale = 1.0f / sqrtf((float)c);
    const float *Kt = w->kt + (size_t)g * Nt * di, *Vt = w->vt + (size_t)g * Nt * di;
    float *M = w->small;                       /* (H*Nt + 1, 256) */
    float *d = M + (size_t)(HN + 1) * EMB_C;   /* (H*Nt) */
    float *ST = w->scores;                      /* (H*Nt + 1, 4096) */
    if (pre_qt) {
        /* per head: (scale K) Q^T against the cached Q^T, heads batched */
        for (size_t i = 0; i < (size_t)Nt * di; i++) M[i] = scale * Kt[i];
        ops_gemm_wide(H, Nt, EMB_TOKENS, c, M, di, (size_t)c, pre_qt, EMB_TOKENS,
                      (size_t)c * EMB_TOKENS, ST, EMB_TOKENS, (size_t)Nt * EMB_TOKENS);
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
        if (sq) {
            /* tk . M^T + d (4096, 8 Nt) in int8 / bf16, then transposed;
             * through w->scores2, free until the next scores below */
            if (ops_q8w_repack(&w->qm, M, d, HN, EMB_C, sq == 2)) return -1;
            if (tk_q)
                ops_linear_q8x(tk_q, 0, EMB_TOKENS, w->qm, w->scores2, NULL, OPS_ACT_NONE);
            else
                ops_linear_q8(tk, EMB_TOKENS, w->qm, w->scores2, NULL, OPS_ACT_NONE);
            ops_transpose(w->scores2, (size_t)HN, EMB_TOKENS, HN, ST, EMB_TOKENS);
        } else {
            ops_gemm(0, 1, HN, EMB_TOKENS, EMB_C, 1.0f, M, EMB_C, tk, EMB_C, 0.0f, ST,
                     EMB_TOKENS);
            for (int r = 0; r < HN; r++) /* b_q K^T: one constant per key token */
                for (int t = 0; t < EMB_TOKENS; t++) ST[(size_t)r * EMB_TOKENS + t] += d[r];
        }
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
    /* keys (= src when given) += ST^T M, then the block's LayerNorm, keys +
     * pos, and the next attention's scores, KEY_CHUNK image tokens at a
     * time: each chunk is finished while in cache (the 4 MiB arrays are
     * not read back from memory between the steps) */
    if (pv && ops_q8w_reserve_bf16(&w->kb[g], EMB_C, EMB_TOKENS)) return -1;
    struct ops_q8w *kb = pv ? w->kb[g] : NULL;
    if (ku) {
        if (ops_q8w_reserve_bf16(&w->ku, EMB_C, HN + 1)) return -1;
        ops_q8w_bf16_rows_t(w->ku, M, EMB_C, 0, HN + 1);
    }
    const int chunks = EMB_TOKENS / KEY_CHUNK;
    const int nt = omp_in_parallel() ? 1 : (ops_get_threads() < chunks ? ops_get_threads() : chunks);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int ch = 0; ch < chunks; ch++) {
        const size_t off = (size_t)ch * KEY_CHUNK * EMB_C;
        if (src) memcpy(keys + off, src + off, sizeof(float) * KEY_CHUNK * EMB_C);
        if (ku) {
            /* the chunk's probabilities as rows, K = 8 Nt + 1 (the row of
             * ones carries the bias), against M in bf16 */
            float *pt = w->pt + (size_t)ch * KEY_CHUNK * (HN + 1);
            ops_transpose(ST + (size_t)ch * KEY_CHUNK, EMB_TOKENS, HN + 1, KEY_CHUNK, pt,
                          (size_t)HN + 1);
            ops_linear_q8(pt, KEY_CHUNK, w->ku, keys + off, keys + off, OPS_ACT_NONE);
        } else {
            ops_gemm(1, 0, KEY_CHUNK, EMB_C, HN + 1, 1.0f, ST + (size_t)ch * KEY_CHUNK,
                     EMB_TOKENS, M, EMB_C, 1.0f, keys + off, EMB_C);
        }
        const float *pe = pe_bf16 ? NULL : key_pe + off;
        const uint16_t *peb = pe_bf16 ? pe_bf16 + off : NULL;
        if (out_q)
            ops_layernorm_add_q8x(keys + off, keys + off, KEY_CHUNK, EMB_C, norm->g, norm->b,
                                  1e-5f, pe, peb, out_q, ch * KEY_CHUNK);
        else
            ops_layernorm_add(keys + off, keys + off, KEY_CHUNK, EMB_C, norm->g, norm->b, 1e-5f,
                              pe, peb, tk_out + off);
        if (kb) ops_q8w_bf16_rows_t(kb, keys + off, EMB_C, ch * KEY_CHUNK, KEY_CHUNK);
        float *ns = next_scores + (size_t)ch * KEY_CHUNK * ops_round16(HN);
        if (next && out_q)
            ops_linear_q8x(out_q, ch * KEY_CHUNK, KEY_CHUNK, w->qa[g], ns, NULL, OPS_ACT_NONE);
        else if (next)
            t2i_scores(tk_out + off, KEY_CHUNK, HN, g, sq, ns, w);
    }
    return 0;
}

/* The whole image-to-token attention and LayerNorm (see i2t_point); the
 * official order of operations is only taken with G = 1. */
static int image_to_token(const dec_attn_t *a, const float *const *tk, const float *tq,
                          const float *queries, int Nt, int G, const float *pre_qt,
                          float *const *keys, const float *src, const norm_t *norm,
                          const float *key_pe, const uint16_t *pe_bf16, float *const *tk_out,
                          int sq, int pv, int ku, dec_ws *w)
{
    const int di = a->internal, HN = a->heads * Nt;
    if (HN >= di || !dec_reassociate) {
        if (src) memcpy(keys[0], src, sizeof(float) * EMB_TOKENS * EMB_C);
        dec_attention(a, tk[0], EMB_TOKENS, tq, queries, Nt, keys[0], keys[0], w);
        ops_layernorm_add(keys[0], keys[0], EMB_TOKENS, EMB_C, norm->g, norm->b, 1e-5f, key_pe,
                          NULL, tk_out[0]);
        return 0;
    }
    i2t_begin(a, tq, queries, Nt, G, w);
    for (int g = 0; g < G; g++)
        if (i2t_point(a, tk[g], Nt, g, pre_qt, keys[g], src, norm, key_pe, pe_bf16, tk_out[g], 0,
                      NULL, sq, pv, ku, NULL, NULL, w))
            return -1;
    return 0;
}

/* MLP with 3 layers (ReLU between) on M rows of x (M <= DEC_GROUP). */
static void mlp3_forward(const mlp3_t *m, const float *x, int M, float *out)
{
    float h1[DEC_GROUP * EMB_C], h2[DEC_GROUP * EMB_C];
    linear_forward(&m->l[0], x, M, h1, NULL, OPS_ACT_RELU);
    linear_forward(&m->l[1], h1, M, h2, NULL, OPS_ACT_RELU);
    linear_forward(&m->l[2], h2, M, out, NULL, OPS_ACT_NONE);
}

/* The steps of a TwoWayAttentionBlock that both orders below share, for G
 * prompts of Nt tokens (queries (G*Nt, 256) stacked). block_self: the
 * self-attention (layer 0: skip_first_layer_pe, the queries are replaced,
 * no residual), LayerNorm 1, then tq = queries + query_pe. */
static void block_self(const two_way_block_t *l, int layer0, float *queries,
                       const float *query_pe, int Nt, int G, dec_ws *w)
{
    const size_t nq = (size_t)G * Nt * EMB_C;
    if (layer0) {
        self_attention(&l->self_attn, queries, queries, Nt, G, queries, NULL, w);
    } else {
        ops_add_to(w->tq, queries, query_pe, nq);
        self_attention(&l->self_attn, w->tq, queries, Nt, G, queries, queries, w);
    }
    ops_layernorm(queries, queries, G * Nt, EMB_C, l->norm1.g, l->norm1.b, 1e-5f);
    ops_add_to(w->tq, queries, query_pe, nq);
}

/* The keys + pos each prompt's token-to-image attention reads: layer 0's
 * from the cache, or computed into w->tk without one; later layers' were
 * left in w->tk by the LayerNorm that ended the previous block. */
static void block_keys_pos(int layer0, const dec_image_cache *cache, float *const *keys,
                           const float *key_pe, int G, dec_ws *w, const float **tk)
{
    for (int g = 0; g < G; g++) {
        if (!cache && layer0) ops_add_to(w->tk[g], keys[g], key_pe, (size_t)EMB_TOKENS * EMB_C);
        tk[g] = cache ? cache->tk0 : w->tk[g];
    }
}

/* After the token-to-image attention: LayerNorm 2, the MLP (residual),
 * LayerNorm 3, then tq = queries + query_pe. */
static void block_mlp(const two_way_block_t *l, float *queries, const float *query_pe, int R,
                      dec_ws *w)
{
    ops_layernorm(queries, queries, R, EMB_C, l->norm2.g, l->norm2.b, 1e-5f);
    linear_forward(&l->mlp1, queries, R, w->mlp_h, NULL, OPS_ACT_RELU);
    linear_forward(&l->mlp2, w->mlp_h, R, queries, queries, OPS_ACT_NONE);
    ops_layernorm(queries, queries, R, EMB_C, l->norm3.g, l->norm3.b, 1e-5f);
    ops_add_to(w->tq, queries, query_pe, (size_t)R * EMB_C);
}

/* TwoWayAttentionBlock, steps in the official order; keys[g] (4096, 256);
 * `cache` holds the layer-0 image-side projections when the keys are the
 * cached src. */
static int two_way_block(const two_way_block_t *l, int layer0, float *queries,
                         const float *query_pe, int Nt, int G, float *const *keys,
                         const float *key_pe, const uint16_t *pe_bf16,
                         const dec_image_cache *cache, int sq, int pv, int ku, dec_ws *w)
{
    const float *tkey[DEC_GROUP];
    block_self(l, layer0, queries, query_pe, Nt, G, w);
    block_keys_pos(layer0, cache, keys, key_pe, G, w, tkey);
    if (token_to_image(&l->cross_t2i, w->tq, Nt, G, tkey, (const float *const *)keys,
                       cache ? cache->k0t : NULL, cache ? cache->v0 : NULL, queries, sq,
                       pv && !layer0, w))
        return -1;
    block_mlp(l, queries, query_pe, G * Nt, w);
    /* keys + key_pe is unchanged since the token-to-image attention; the
     * keys' LayerNorm also leaves keys + key_pe in w->tk for the next block
     * and the final attention. With the cache, keys start as its src. */
    return image_to_token(&l->cross_i2t, tkey, w->tq, queries, Nt, G, cache ? cache->q0t : NULL,
                          keys, cache ? cache->src : NULL, &l->norm4, key_pe, pe_bf16, w->tk, sq,
                          pv, ku, w);
}

/* The two blocks and the final attention with the reassociated
 * attentions (few tokens), in an order that lets each image-to-token step
 * also compute the next token-to-image attention's scores while its
 * chunk of keys + pos is in cache (that attention's queries do not depend
 * on the keys being updated): the token side of block 1 up to its
 * token-to-image attention runs before block 0's image side, and the final
 * attention's token side before block 1's. Same operations, same bits as
 * two_way_block x 2 + token_to_image. */
static int transformer_fused(const prompt_decoder_t *d, float *queries, const float *tokens,
                             int Nt, int G, float *const *keys, const dec_image_cache *cache,
                             dec_ws *w)
{
    const two_way_block_t *L0 = &d->layers[0], *L1 = &d->layers[1];
    const float *pe = d->dense_pe;
    const int R = G * Nt, sq = d->scores_q8, pv = d->pv_bf16, ku = d->keys_bf16;
    const uint16_t *peb = d->dense_pe_bf16; /* NULL unless sq */
    const float *tk0[DEC_GROUP];
    /* with the scores in int8 / bf16, keys + PE only in quantized form:
     * made by each LayerNorm, read by the next two score products */
    ops_q8x *tkq[DEC_GROUP] = {NULL};
    for (int g = 0; sq && g < G; g++) {
        if (ops_q8x_reserve(&w->tkq[g], EMB_TOKENS, EMB_C, sq == 2)) return -1;
        tkq[g] = w->tkq[g];
    }

    /* block 0 up to its image-to-token attention's token side */
    block_self(L0, 1, queries, tokens, Nt, G, w);
    block_keys_pos(1, cache, keys, pe, G, w, tk0);
    if (token_to_image(&L0->cross_t2i, w->tq, Nt, G, tk0, (const float *const *)keys,
                       cache ? cache->k0t : NULL, cache ? cache->v0 : NULL, queries, sq, 0, w))
        return -1;
    block_mlp(L0, queries, tokens, R, w);
    i2t_begin(&L0->cross_i2t, w->tq, queries, Nt, G, w);
    /* block 1 up to its token-to-image attention's token side (the queries
     * are not touched by block 0's image-to-token step) */
    block_self(L1, 0, queries, tokens, Nt, G, w);
    if (t2i_begin(&L1->cross_t2i, w->tq, Nt, G, sq, w)) return -1;
    /* per prompt: block 0's image side (keys, tk, and block 1's scores),
     * then block 1's token-to-image image side */
    for (int g = 0; g < G; g++) {
        if (i2t_point(&L0->cross_i2t, tk0[g], Nt, g, cache ? cache->q0t : NULL, keys[g],
                      cache ? cache->src : NULL, &L0->norm4, pe, peb, w->tk[g], 1, w->scores2,
                      sq, pv, ku, NULL, tkq[g], w))
            return -1;
        t2i_point(&L1->cross_t2i, Nt, g, w->scores2, keys[g], pv ? w->kb[g] : NULL, w);
    }
    t2i_end(&L1->cross_t2i, Nt, G, queries, w);
    block_mlp(L1, queries, tokens, R, w);
    /* block 1's image-to-token token side; the final attention's token
     * side (tq = queries + tokens serves both) */
    i2t_begin(&L1->cross_i2t, w->tq, queries, Nt, G, w);
    if (t2i_begin(&d->final_attn, w->tq, Nt, G, sq, w)) return -1;
    for (int g = 0; g < G; g++) {
        if (i2t_point(&L1->cross_i2t, w->tk[g], Nt, g, NULL, keys[g], NULL, &L1->norm4, pe, peb,
                      w->tk[g], 1, w->scores2, sq, pv, ku, tkq[g], tkq[g], w))
            return -1;
        t2i_point(&d->final_attn, Nt, g, w->scores2, keys[g], pv ? w->kb[g] : NULL, w);
    }
    t2i_end(&d->final_attn, Nt, G, queries, w);
    ops_layernorm(queries, queries, R, EMB_C, d->norm_final.g, d->norm_final.b, 1e-5f);
    return 0;
}

size_t dec_cache_bytes(void)
{
    return sizeof(float) * ((size_t)2 * EMB_TOKENS * EMB_C + (size_t)3 * EMB_TOKENS * 128);
}

/* out (n, 4096) = the projection of the 4096 image tokens x, transposed:
 * row j holds output channel j of every token (bias included). With the
 * layer's int8 / bf16 form, through tmp (4096, n). */
static void proj_transposed(const linear_t *l, const float *x, int n, float *out, float *tmp)
{
    if (l->q) {
        linear_forward(l, x, EMB_TOKENS, tmp, NULL, OPS_ACT_NONE);
        ops_transpose(tmp, (size_t)n, EMB_TOKENS, n, out, EMB_TOKENS);
        return;
    }
    ops_gemm(0, 1, n, EMB_TOKENS, EMB_C, 1.0f, l->w, EMB_C, x, EMB_C, 0.0f, out, EMB_TOKENS);
#pragma omp parallel for num_threads(ops_get_threads()) schedule(static)
    for (int j = 0; j < n; j++)
        for (int t = 0; t < EMB_TOKENS; t++) out[(size_t)j * EMB_TOKENS + t] += l->b[j];
}

int dec_cache_build(const prompt_decoder_t *d, const float *embedding, dec_image_cache *c)
{
    const size_t nk = (size_t)EMB_TOKENS * EMB_C, np = (size_t)EMB_TOKENS * 128;
    memset(c, 0, sizeof *c);
    c->src = malloc(sizeof(float) * nk);
    c->tk0 = malloc(sizeof(float) * nk);
    c->k0t = malloc(sizeof(float) * np);
    c->v0 = malloc(sizeof(float) * np);
    c->q0t = malloc(sizeof(float) * np);
    if (!c->src || !c->tk0 || !c->k0t || !c->v0 || !c->q0t) {
        dec_cache_free(c);
        return -1;
    }
    /* src = embedding + the no-mask embedding, tk0 = src + dense_pe:
     * row by row, the rows shared out (4 MiB each) */
#pragma omp parallel for num_threads(ops_get_threads()) schedule(static)
    for (int i = 0; i < EMB_TOKENS; i++) {
        const size_t o = (size_t)i * EMB_C;
        ops_add_to(c->src + o, embedding + o, d->no_mask, EMB_C);
        ops_add_to(c->tk0 + o, c->src + o, d->dense_pe + o, EMB_C);
    }
    const dec_attn_t *t2i = &d->layers[0].cross_t2i, *i2t = &d->layers[0].cross_i2t;
    /* v0 last: its room is the transposes' scratch before */
    proj_transposed(&t2i->k, c->tk0, t2i->internal, c->k0t, c->v0);
    proj_transposed(&i2t->q, c->tk0, i2t->internal, c->q0t, c->v0);
    linear_forward(&t2i->v, c->src, EMB_TOKENS, c->v0, NULL, OPS_ACT_NONE);
    return 0;
}

void dec_cache_free(dec_image_cache *c)
{
    free(c->src);
    free(c->tk0);
    free(c->k0t);
    free(c->v0);
    free(c->q0t);
    memset(c, 0, sizeof *c);
}

int mask_decoder_forward(const prompt_decoder_t *d, const float *embedding,
                         const dec_image_cache *cache, const dec_prompt_t *p, int G, dec_ws *w,
                         float *logits, int stride, float *iou4, int want, float skip_below)
{
    const size_t nk = (size_t)EMB_TOKENS * EMB_C, plane = (size_t)LOWRES * LOWRES;
    if (G < 1 || G > DEC_GROUP) return -1;
    if (G > 1) /* a group shares the cache: same token count, no mask input */
        for (int g = 0; g < G; g++)
            if (!cache || p[g].mask_input || p[g].n_points != p[0].n_points ||
                !p[g].box != !p[0].box)
                return -1;
    if (ws_reserve(w, 1 + N_MASK_TOKENS + p[0].n_points + 2, G)) return -1;
    float *tokens = w->tokens, *queries = w->queries;

    /* tokens = [iou_token, mask_tokens, sparse] per prompt, stacked */
    int Nt = 0; /* the same for every prompt of a group (checked above) */
    for (int g = 0; g < G; g++) {
        float *tg = tokens + (size_t)g * Nt * EMB_C;
        memcpy(tg, d->iou_token, sizeof(float) * EMB_C);
        memcpy(tg + EMB_C, d->mask_tokens, sizeof(float) * N_MASK_TOKENS * EMB_C);
        Nt = 1 + N_MASK_TOKENS + prompt_sparse_tokens(d, &p[g], tg + (1 + N_MASK_TOKENS) * EMB_C);
    }
    const int R = G * Nt;
    memcpy(queries, tokens, sizeof(float) * R * EMB_C);

    /* src = embedding + dense prompt; the cache holds it for no mask input */
    if (p[0].mask_input) {
        prompt_dense_from_mask(d, p[0].mask_input, w->keys[0], w->up);
        ops_add(w->keys[0], embedding, nk);
        cache = NULL;
    } else if (cache) {
        /* keys = cache->src: copied by layer 0's image-to-token step */
    } else {
        for (int i = 0; i < EMB_TOKENS; i++)
            ops_add_to(w->keys[0] + (size_t)i * EMB_C, embedding + (size_t)i * EMB_C,
                       d->no_mask, EMB_C);
    }

    if (DEC_HEADS * Nt < d->final_attn.internal && dec_reassociate && !dec_unfused) {
        if (transformer_fused(d, queries, tokens, Nt, G, w->keys, cache, w)) return -1;
    } else {
        for (int i = 0; i < 2; i++)
            if (two_way_block(&d->layers[i], i == 0, queries, tokens, Nt, G, w->keys, d->dense_pe,
                              d->dense_pe_bf16, i == 0 ? cache : NULL,
                              d->scores_q8, d->pv_bf16, d->keys_bf16, w))
                return -1;
        /* w->tq = queries + tokens, from the last block's MLP step; w->tk =
         * keys + dense_pe, from its LayerNorm */
        if (token_to_image(&d->final_attn, w->tq, Nt, G, (const float *const *)w->tk,
                           (const float *const *)w->keys, NULL, NULL, queries, d->scores_q8,
                           d->pv_bf16, w))
            return -1;
        ops_layernorm(queries, queries, R, EMB_C, d->norm_final.g, d->norm_final.b, 1e-5f);
    }

    /* IoU predictions first: masks whose score does not pass skip_below are
     * not needed (segment-everything filters on it), and when none is, the
     * up-scaling is skipped altogether. The heads run on the group's rows
     * at once. */
    float *hx = w->heads;
    for (int g = 0; g < G; g++)
        memcpy(hx + (size_t)g * EMB_C, queries + (size_t)g * Nt * EMB_C, sizeof(float) * EMB_C);
    mlp3_forward(&d->iou_head, hx, G, iou4);
    int need[DEC_GROUP], any = 0;
    for (int g = 0; g < G; g++) {
        need[g] = 0;
        for (int i = 0; i < N_MASK_TOKENS; i++)
            need[g] |= (want >> i & 1 && iou4[4 * g + i] > skip_below) << i;
        any |= need[g];
    }
    if (!any) return 0;
    /* hypernetwork vectors of the tokens some prompt needs: hyper[i][g] */
    const int lo_any = __builtin_ctz((unsigned)any), hi_any = 31 - __builtin_clz((unsigned)any);
    float hyper[N_MASK_TOKENS][DEC_GROUP * 32];
    for (int i = lo_any; i <= hi_any; i++) {
        for (int g = 0; g < G; g++)
            memcpy(hx + (size_t)g * EMB_C, queries + ((size_t)g * Nt + 1 + i) * EMB_C,
                   sizeof(float) * EMB_C);
        mlp3_forward(&d->hyper[i], hx, G, hyper[i]);
    }

    /* output_upscaling per prompt: ConvT 256->64, LayerNorm2d, GELU (into
     * u1, planar 64 x 128 x 128), ConvT 64->32, GELU; the hypernetworks'
     * products logits_i = h_i . U are fused into the second ConvT as a
     * projection, so that U (32 x 256 x 256) is never stored. Token i goes
     * to plane i - first of the prompt's `stride` planes; the tokens from
     * the first needed to the last needed one are projected together
     * (those in between are wanted, so they have a plane; when one is not,
     * the planes go through scratch first). */
    float *u1 = w->up, *u2 = u1 + 128 * 128 * 64;
    const int first = __builtin_ctz((unsigned)want);
    for (int g = 0; g < G; g++) {
        if (!need[g]) continue;
        float *lg = logits + (size_t)g * stride * plane;
        if (d->up1_q)
            ops_conv_transpose2x2_q8(w->keys[g], 0, 64, 64, 256, d->up1_q, d->up1_b, 64, d->up_ln.g,
                                     d->up_ln.b, 1e-6f, OPS_ACT_GELU, NULL, 0, u1);
        else
            ops_conv_transpose2x2(w->keys[g], 0, 64, 64, 256, d->up1_w, d->up1_b, 64,
                                  d->up_ln.g, d->up_ln.b, 1e-6f, OPS_ACT_GELU, NULL, 0, u1);
        const int lo = __builtin_ctz((unsigned)need[g]), hi = 31 - __builtin_clz((unsigned)need[g]);
        float hg[N_MASK_TOKENS * 32];
        int contiguous = 1;
        for (int i = lo; i <= hi; i++) {
            memcpy(hg + 32 * (i - lo), hyper[i] + 32 * g, sizeof(float) * 32);
            if (!(want >> i & 1)) contiguous = 0;
        }
        float *dst = contiguous ? lg + (size_t)(lo - first) * plane : u2;
        if (d->up2_q)
            ops_conv_transpose2x2_q8(u1, 1, 128, 128, 64, d->up2_q, d->up2_b, 32, NULL, NULL,
                                     0.0f, OPS_ACT_GELU, hg, hi - lo + 1, dst);
        else
            ops_conv_transpose2x2(u1, 1, 128, 128, 64, d->up2_w, d->up2_b, 32, NULL, NULL, 0.0f,
                                  OPS_ACT_GELU, hg, hi - lo + 1, dst);
        if (!contiguous)
            for (int i = lo; i <= hi; i++)
                if (need[g] >> i & 1)
                    memcpy(lg + (size_t)(i - first) * plane, u2 + (size_t)(i - lo) * plane,
                           sizeof(float) * plane);
    }
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
    /* Groups of dec_group points per thread: the token-side layers run on a
     * group's rows at once (their weights are read once per group, not per
     * point), the image side point by point; every kernel runs
     * single-threaded inside the region, so there is no fork/join per
     * operation. Groups are cut by index, and a point's rows never mix
     * with another's, so results do not depend on the thread count or the
     * group size. Only tokens 1..3 are asked for: token i of point k goes
     * to plane 3k + i - 1. (1 + 4 + 2 tokens: the reassociated
     * attentions.) */
    int G = cache && dec_reassociate && DEC_HEADS * 7 < 128 ? dec_group : 1;
    if (G < 1 || G > DEC_GROUP) G = 1;
    const int groups = (n + G - 1) / G;
#pragma omp parallel for num_threads(n_ws) schedule(dynamic, 1) if (n_ws > 1)
    for (int q = 0; q < groups; q++) {
        const int i0 = q * G, gn = n - i0 < G ? n - i0 : G;
        dec_prompt_t pr[DEC_GROUP];
        for (int g = 0; g < gn; g++) {
            dec_prompt_t t = {points + 2 * (i0 + g), &label1, 1, NULL, NULL};
            pr[g] = t;
        }
        float iou4[4 * DEC_GROUP];
        dec_ws *w = ws[omp_get_thread_num()];
        if (mask_decoder_forward(dec, embedding, cache, pr, gn, w, logits3 + plane * 3 * i0, 3,
                                 iou4, 0xE, skip_below)) {
#pragma omp atomic write
            failed = 1;
        }
        for (int g = 0; g < gn; g++) memcpy(iou3 + 3 * (i0 + g), iou4 + 4 * g + 1, sizeof(float) * 3);
    }
    return failed ? -1 : 0;
}

/* The (rh, rw) crop of the low-res plane's 1024x1024 up-sampling, into
 * scratch (row stride rw): only the crop is ever read. */
static void upsample_crop(const float *lowres, int rw, int rh, float *scratch)
{
    ops_resize_bilinear_region(lowres, LOWRES, LOWRES, LOWRES, scratch, ENC_IMG, ENC_IMG, rh,
                               rw, rw);
}

void postprocess_logits(const float *lowres, int rw, int rh, int w, int h, float *out,
                        float *scratch)
{
    upsample_crop(lowres, rw, rh, scratch);
    ops_resize_bilinear(scratch, rh, rw, rw, out, h, w);
}

void postprocess_mask(const float *lowres, int rw, int rh, int w, int h, uint8_t *mask,
                      float *scratch)
{
    upsample_crop(lowres, rw, rh, scratch);
    ops_resize_bilinear_mask(scratch, rh, rw, rw, mask, h, w);
}
