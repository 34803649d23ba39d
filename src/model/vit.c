/*
 * vit.c - SAM's original image encoder, ImageEncoderViT
 * (segment_anything/modeling/image_encoder.py, the vit_b / vit_l / vit_h of
 * sam_model_registry), on (tokens, C) matrices of the 64x64 grid:
 *
 *   patch_embed  conv 16x16 stride 16, 3 -> C, + pos_embed       1024 -> 64
 *   blocks       x += proj(attn(norm1(x))), x += lin2(gelu(lin1(norm2(x))))
 *                attention in 14x14 windows (the grid padded to 70x70 with
 *                zero tokens, which are not masked) or, in the global
 *                blocks, over all 4096 tokens; decomposed relative-position
 *                bias from the unscaled q; LayerNorm eps 1e-6
 *   neck         conv1x1 C->256, LayerNorm2d, conv3x3 256->256, LayerNorm2d
 *
 * The configuration (width, depth, heads, window, global blocks) comes from
 * the weight file's record (parsed in vit_config.c); every tensor is checked
 * against it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "ops/ops.h"

#define VIT_EPS 1e-6f   /* the encoder's LayerNorms (partial(nn.LayerNorm, eps=1e-6)) */
#define MLP_CHUNK 1024  /* tokens per MLP chunk: bounds the hidden buffer */

/* ---------------------------------------------------------------- loading */

int vit_encoder_load(vit_encoder_t *e, wt_ctx *c)
{
    const vit_config_t *cfg = &e->cfg;
    const int C = cfg->width, hd = cfg->head_dim;
    char name[256];
    int pshape[4] = {1, EMB_HW, EMB_HW, C};
    e->pos_embed = wt_get(c, "image_encoder.pos_embed", 4, pshape);
    load_conv(c, &e->patch_embed, "image_encoder.patch_embed.proj", 3, C, cfg->patch,
              cfg->patch, 0, 1);
    e->blocks = calloc((size_t)cfg->depth, sizeof *e->blocks);
    if (!e->blocks) {
        wt_ctx_oom(c);
        return -1;
    }
    for (int i = 0; i < cfg->depth; i++) {
        vit_block_t *b = &e->blocks[i];
        const int S = cfg->global[i] ? EMB_HW : cfg->window;
        int rshape[2] = {2 * S - 1, hd};
        keyf(name, sizeof name, "image_encoder.blocks.%d.norm1", i);
        load_norm(c, &b->norm1, name, C);
        keyf(name, sizeof name, "image_encoder.blocks.%d.attn.rel_pos_h", i);
        b->rel_h = wt_get(c, name, 2, rshape);
        keyf(name, sizeof name, "image_encoder.blocks.%d.attn.rel_pos_w", i);
        b->rel_w = wt_get(c, name, 2, rshape);
        keyf(name, sizeof name, "image_encoder.blocks.%d.attn.qkv", i);
        load_linear(c, &b->qkv, name, C, 3 * C, 1);
        keyf(name, sizeof name, "image_encoder.blocks.%d.attn.proj", i);
        load_linear(c, &b->proj, name, C, C, 1);
        keyf(name, sizeof name, "image_encoder.blocks.%d.norm2", i);
        load_norm(c, &b->norm2, name, C);
        keyf(name, sizeof name, "image_encoder.blocks.%d.mlp.lin1", i);
        load_linear(c, &b->lin1, name, C, cfg->mlp_dim, 1);
        keyf(name, sizeof name, "image_encoder.blocks.%d.mlp.lin2", i);
        load_linear(c, &b->lin2, name, cfg->mlp_dim, C, 1);
    }
    load_linear_1x1(c, &e->neck_conv1, "image_encoder.neck.0", C, EMB_C, 0);
    load_norm(c, &e->neck_ln1, "image_encoder.neck.1", EMB_C);
    load_conv(c, &e->neck_conv2, "image_encoder.neck.2", EMB_C, EMB_C, 3, 1, 1, 0);
    load_norm(c, &e->neck_ln2, "image_encoder.neck.3", EMB_C);
    return c->failed ? -1 : 0;
}

void vit_encoder_free(vit_encoder_t *e)
{
    conv_free(&e->patch_embed);
    conv_free(&e->neck_conv2);
    free(e->blocks);
    e->blocks = NULL;
}

/* ---------------------------------------------------------------- forward */

static void tap(enc_tap_fn fn, void *ctx, const char *name, const float *x, size_t n)
{
    if (fn) fn(name, x, n, ctx);
}

/* One block on the tokens x (L, C), in place. t: (L, C) scratch; qkv:
 * (L, 3C); hid: (MLP_CHUNK, mlp_dim). */
static void block_forward(const vit_config_t *cfg, const vit_block_t *b, int global, float *x,
                          float *t, float *qkv, float *hid)
{
    const int L = EMB_TOKENS, C = cfg->width, hd = cfg->head_dim;
    ops_layernorm(x, t, L, C, b->norm1.g, b->norm1.b, VIT_EPS);
    linear_forward(&b->qkv, t, L, qkv, NULL, OPS_ACT_NONE);
    /* qkv columns [q | k | v], each [head][hd]. A padding token is a zero
     * vector after norm1, so its qkv row is the bias. */
    ops_relpos_attention(qkv, 3 * C, C, 2 * C, EMB_HW, EMB_HW, cfg->heads, hd,
                         global ? EMB_HW : cfg->window, 1.0f / sqrtf((float)hd), b->rel_h,
                         b->rel_w, b->qkv.b, t, C);
    linear_forward(&b->proj, t, L, x, x, OPS_ACT_NONE);
    for (int t0 = 0; t0 < L; t0 += MLP_CHUNK) {
        const int n = L - t0 < MLP_CHUNK ? L - t0 : MLP_CHUNK;
        float *xc = x + (size_t)t0 * C;
        ops_layernorm(xc, t, n, C, b->norm2.g, b->norm2.b, VIT_EPS);
        linear_forward(&b->lin1, t, n, hid, NULL, OPS_ACT_GELU);
        linear_forward(&b->lin2, hid, n, xc, xc, OPS_ACT_NONE);
    }
}

int vit_encoder_forward(const vit_encoder_t *e, enc_ws *ws, const float *input,
                        float *embedding, enc_tap_fn tapfn, void *tap_ctx)
{
    const vit_config_t *cfg = &e->cfg;
    const int L = EMB_TOKENS, C = cfg->width;
    enc_ws own = {0};
    if (!ws) ws = &own;
    float *x = enc_ws_get(ws, 0, (size_t)L * C);
    float *t = enc_ws_get(ws, 1, (size_t)L * (C > EMB_C ? C : EMB_C));
    float *qkv = enc_ws_get(ws, 2, (size_t)L * 3 * C);
    float *hid = enc_ws_get(ws, 3, (size_t)MLP_CHUNK * cfg->mlp_dim);
    int rc = -1;
    if (!x || !t || !qkv || !hid) goto out;

    conv_forward(&e->patch_embed, input, ENC_IMG, ENC_IMG, x, OPS_ACT_NONE);
    ops_add(x, e->pos_embed, (size_t)L * C);
    tap(tapfn, tap_ctx, "patch_embed_pos", x, (size_t)L * C);
    for (int i = 0; i < cfg->depth; i++) {
        block_forward(cfg, &e->blocks[i], cfg->global[i], x, t, qkv, hid);
        char name[24];
        snprintf(name, sizeof name, "block%d", i);
        tap(tapfn, tap_ctx, name, x, (size_t)L * C);
    }
    /* neck */
    linear_forward(&e->neck_conv1, x, L, t, NULL, OPS_ACT_NONE);
    ops_layernorm(t, t, L, EMB_C, e->neck_ln1.g, e->neck_ln1.b, 1e-6f);
    conv_forward(&e->neck_conv2, t, EMB_HW, EMB_HW, embedding, OPS_ACT_NONE);
    ops_layernorm(embedding, embedding, L, EMB_C, e->neck_ln2.g, e->neck_ln2.b, 1e-6f);
    tap(tapfn, tap_ctx, "neck", embedding, (size_t)L * EMB_C);
    rc = 0;
out:
    enc_ws_free(&own);
    return rc;
}
