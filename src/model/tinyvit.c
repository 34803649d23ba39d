/*
 * tinyvit.c - the image encoder: TinyViT-5M (mobile_sam/modeling/
 * tiny_vit_sam.py) and the SAM neck, on HWC maps / (tokens, C) matrices.
 *
 *   patch_embed  conv3x3 s2 3->32, GELU, conv3x3 s2 32->64     1024 -> 256
 *   layers[0]    2 MBConv (64), patch_merge 64->128             256 -> 128
 *   layers[1]    2 TinyViT blocks (128, 4 heads, window 7), merge -> 160, 128 -> 64
 *   layers[2]    6 blocks (160, 5 heads, window 14), merge -> 320 (stride 1)
 *   layers[3]    2 blocks (320, 10 heads, window 7)
 *   neck         conv1x1 320->256, LayerNorm2d, conv3x3 256->256, LayerNorm2d
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "ops/ops.h"

static const stage_cfg_t STAGES[ENC_STAGES] = {
    {64, 2, 0, 0, 256},
    {128, 2, 4, 7, 128},
    {160, 6, 5, 14, 64},
    {320, 2, 10, 7, 64},
};
#define HEAD_DIM 32
#define MLP_RATIO 4
#define MBCONV_EXPAND 4

/* ---------------------------------------------------------------- loading */

static int load_block(wt_ctx *c, tinyvit_block_t *b, const char *p, int dim,
                      int heads, int ws)
{
    char name[256];
    const int N = ws * ws, qkv_dim = heads * 3 * HEAD_DIM;
    keyf(name, sizeof name, "%s.attn.norm", p);
    load_norm(c, &b->attn_norm, name, dim);
    keyf(name, sizeof name, "%s.attn.qkv", p);
    load_linear(c, &b->qkv, name, dim, qkv_dim, 1);
    keyf(name, sizeof name, "%s.attn.proj", p);
    load_linear(c, &b->proj, name, heads * HEAD_DIM, dim, 1);
    keyf(name, sizeof name, "%s.attn.attention_biases", p);
    int bshape[2] = {heads, N};
    const float *biases = wt_get(c, name, 2, bshape);
    keyf(name, sizeof name, "%s.local_conv", p);
    load_conv_bn(c, &b->local_conv, name, dim, dim, 3, 1, 1, 1);
    keyf(name, sizeof name, "%s.mlp.norm", p);
    load_norm(c, &b->mlp_norm, name, dim);
    keyf(name, sizeof name, "%s.mlp.fc1", p);
    load_linear(c, &b->fc1, name, dim, dim * MLP_RATIO, 1);
    keyf(name, sizeof name, "%s.mlp.fc2", p);
    load_linear(c, &b->fc2, name, dim * MLP_RATIO, dim, 1);
    if (c->failed) return -1;

    /* The attention bias between window positions i and j depends on
     * (|dy|, |dx|) only; the official index of that offset is |dy|*ws+|dx|
     * (order of first appearance from position (0, 0)). */
    b->bias = malloc(sizeof(float) * heads * N * N);
    b->pad_qkv = malloc(sizeof(float) * qkv_dim);
    if (!b->bias || !b->pad_qkv) return -1;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                int dy = abs(i / ws - j / ws), dx = abs(i % ws - j % ws);
                b->bias[((size_t)h * N + i) * N + j] = biases[h * N + dy * ws + dx];
            }
    /* A zero padding token leaves the LayerNorm as its bias. */
    ops_linear(b->attn_norm.b, 1, dim, b->qkv.w, b->qkv.b, qkv_dim, b->pad_qkv,
               NULL, OPS_ACT_NONE);
    return 0;
}

static void load_merge(wt_ctx *c, patch_merge_t *m, const char *p, int dim, int out)
{
    char name[256];
    int stride = out == 320 ? 1 : 2; /* official: no down-sampling into 320 */
    keyf(name, sizeof name, "%s.conv1", p);
    load_conv_bn(c, &m->conv1, name, dim, out, 1, 1, 0, 0);
    keyf(name, sizeof name, "%s.conv2", p);
    load_conv_bn(c, &m->conv2, name, out, out, 3, stride, 1, 1);
    keyf(name, sizeof name, "%s.conv3", p);
    load_conv_bn(c, &m->conv3, name, out, out, 1, 1, 0, 0);
}

int image_encoder_load(image_encoder_t *e, wt_ctx *c)
{
    char name[256];
    load_conv_bn(c, &e->patch_embed[0], "image_encoder.patch_embed.seq.0", 3, 32, 3, 2, 1, 0);
    load_conv_bn(c, &e->patch_embed[1], "image_encoder.patch_embed.seq.2", 32, 64, 3, 2, 1, 0);
    for (int i = 0; i < 2; i++) {
        int hid = 64 * MBCONV_EXPAND;
        keyf(name, sizeof name, "image_encoder.layers.0.blocks.%d.conv1", i);
        load_conv_bn(c, &e->mbconv[i].conv1, name, 64, hid, 1, 1, 0, 0);
        keyf(name, sizeof name, "image_encoder.layers.0.blocks.%d.conv2", i);
        load_conv_bn(c, &e->mbconv[i].conv2, name, hid, hid, 3, 1, 1, 1);
        keyf(name, sizeof name, "image_encoder.layers.0.blocks.%d.conv3", i);
        load_conv_bn(c, &e->mbconv[i].conv3, name, hid, 64, 1, 1, 0, 0);
    }
    int bi = 0;
    for (int s = 0; s < ENC_STAGES; s++) {
        const stage_cfg_t *st = &STAGES[s];
        if (s > 0)
            for (int i = 0; i < st->depth; i++, bi++) {
                keyf(name, sizeof name, "image_encoder.layers.%d.blocks.%d", s, i);
                if (load_block(c, &e->blocks[bi], name, st->dim, st->heads, st->window))
                    wt_ctx_oom(c); /* no-op after a format error */
            }
        if (s < ENC_STAGES - 1) {
            keyf(name, sizeof name, "image_encoder.layers.%d.downsample", s);
            load_merge(c, &e->merge[s], name, st->dim, STAGES[s + 1].dim);
        }
    }
    load_linear_1x1(c, &e->neck_conv1, "image_encoder.neck.0", 320, 256, 0);
    load_norm(c, &e->neck_ln1, "image_encoder.neck.1", 256);
    load_conv(c, &e->neck_conv2, "image_encoder.neck.2", 256, 256, 3, 1, 1, 0);
    load_norm(c, &e->neck_ln2, "image_encoder.neck.3", 256);
    return c->failed ? -1 : 0;
}

void image_encoder_free(image_encoder_t *e)
{
    for (int i = 0; i < 2; i++) {
        conv_free(&e->patch_embed[i]);
        conv_free(&e->mbconv[i].conv1);
        conv_free(&e->mbconv[i].conv2);
        conv_free(&e->mbconv[i].conv3);
    }
    for (int i = 0; i < 3; i++) {
        conv_free(&e->merge[i].conv1);
        conv_free(&e->merge[i].conv2);
        conv_free(&e->merge[i].conv3);
    }
    for (int i = 0; i < 10; i++) {
        free(e->blocks[i].bias);
        free(e->blocks[i].pad_qkv);
        conv_free(&e->blocks[i].local_conv);
    }
    conv_free(&e->neck_conv2);
}

/* ---------------------------------------------------------------- forward */

/* Activation buffers, sized once for the whole pass. The map ping-pongs
 * between x and y; per-token work (MLP) runs in chunks of rows, and MBConv
 * in bands of rows, so no buffer holds a 4x-expanded 256x256 map. */
/* Output rows per MBConv band: the 256-channel hidden band (the 1x1's
 * output, then the depthwise one's) is 256 KiB a row, and 32 rows (17 MiB
 * for the two) left the depthwise convolution waiting on memory. Alternated
 * runs (2026-12-07, Zen 4 class, zidane, the two MBConvs per encode):
 * float32 32 -> 16 rows 178 -> 162 ms with 1 thread, 92 -> 78 with 2 (8
 * rows: the 1x1's two halo rows cost more than the rest gains); int8 102 ->
 * 87 ms (16) and 82 ms (8) with 1 thread, 52-63 -> 45-51 and 43 with 2. */
#define MBCONV_BAND 16
#define MBCONV_BAND_Q8 8
_Static_assert(MBCONV_BAND_Q8 <= MBCONV_BAND, "the band buffers hold MBCONV_BAND + 2 rows");
#define TOKEN_CHUNK 4096  /* tokens per MLP chunk (largest) */
/* With the MLP's products in int8 / bf16, chunks of 512 tokens: fc2 then
 * reads fc1's output from cache (1.3 MiB at most, not 20). Alternated
 * runs: 512 ~ 256 < 1024 < 4096 (128 slower); int8 encoder 7% faster with
 * 1 thread, 3.6% with 2. OpenBLAS's float32 products lose more on short
 * chunks than that gains (4096 -> 512: 27% slower). */
#define TOKEN_CHUNK_Q8 512
typedef struct {
    float *x, *y;   /* the running map / tokens: up to 256*256*64 */
    float *t;       /* normalised tokens, attention output: up to 16384*160 */
    float *big;     /* patch_embed.seq.0 output, merge hidden, qkv: 512*512*32 */
    float *band1, *band2; /* MBConv hidden band; MLP hidden chunk */
} enc_bufs;

static void swap(float **a, float **b)
{
    float *t = *a;
    *a = *b;
    *b = t;
}

/* MBConv: conv1 1x1, GELU, dw 3x3, GELU, conv3 1x1, + input, GELU; x -> y.
 * Bands of output rows; conv1 is computed on one halo row above and below,
 * and the depthwise convolution on the band's sub-map is exact for the
 * band's rows (its zero padding only matters at the real image border). */
static void mbconv_forward(const mbconv_t *m, const float *x, float *y, int H, int W,
                           enc_bufs *b)
{
    const int C = m->conv1.cin, hid = m->conv1.cout;
    const int band = m->conv1.q ? MBCONV_BAND_Q8 : MBCONV_BAND;
    for (int r0 = 0; r0 < H; r0 += band) {
        int r1 = r0 + band < H ? r0 + band : H;
        int h0 = r0 > 0 ? r0 - 1 : 0, h1 = r1 < H ? r1 + 1 : H;
        conv1x1_forward(&m->conv1, x + (size_t)h0 * W * C, (h1 - h0) * W, b->band1, NULL,
                        OPS_ACT_GELU);
        ops_dwconv3x3(b->band1, h1 - h0, W, hid, m->conv2.w, m->conv2.b, 1, b->band2,
                      OPS_ACT_GELU);
        conv1x1_forward(&m->conv3, b->band2 + (size_t)(r0 - h0) * W * hid, (r1 - r0) * W,
                        y + (size_t)r0 * W * C, x + (size_t)r0 * W * C, OPS_ACT_GELU);
    }
}

/* PatchMerging: 1x1, GELU, dw 3x3 (stride 2 or 1), GELU, 1x1; x -> y. */
static void merge_forward(const patch_merge_t *m, const float *x, float *y, int *H, int *W,
                          enc_bufs *b)
{
    const int L = *H * *W;
    conv1x1_forward(&m->conv1, x, L, b->big, NULL, OPS_ACT_GELU);
    int s = m->conv2.stride;
    int Ho = (*H - 1) / s + 1, Wo = (*W - 1) / s + 1;
    ops_dwconv3x3(b->big, *H, *W, m->conv2.cin, m->conv2.w, m->conv2.b, s, b->t,
                  OPS_ACT_GELU);
    conv1x1_forward(&m->conv3, b->t, Ho * Wo, y, NULL, OPS_ACT_NONE);
    *H = Ho;
    *W = Wo;
}

/* TinyViTBlock: x += Attn(x) (windowed); x = LocalConv(x); x += Mlp(x).
 * Leaves the result in b->x (pointers may swap). */
static void block_forward(const tinyvit_block_t *blk, const stage_cfg_t *st, int H, int W,
                          int attn_bf16, enc_bufs *b)
{
    const int L = H * W, C = st->dim, heads = st->heads;
    /* With int8 products, the attention runs in bands of one row of
     * windows, so that qkv and the attention's output stay in cache
     * between the steps (as the MLP's chunks below); the windows, and
     * the bits, are the same. float32 runs the whole map at once. */
    const int band = blk->qkv.q ? st->window : H;
    for (int y0 = 0; y0 < H; y0 += band) {
        const int rows = H - y0 < band ? H - y0 : band, n = rows * W;
        float *xb = b->x + (size_t)y0 * W * C;
        ops_layernorm(xb, b->t, n, C, blk->attn_norm.g, blk->attn_norm.b, 1e-5f);
        linear_forward(&blk->qkv, b->t, n, b->big, NULL, OPS_ACT_NONE);
        ops_window_attention(b->big, rows, W, heads, HEAD_DIM, st->window,
                             1.0f / sqrtf((float)HEAD_DIM), blk->pad_qkv, blk->bias, b->t,
                             attn_bf16);
        linear_forward(&blk->proj, b->t, n, xb, xb, OPS_ACT_NONE);
    }

    ops_dwconv3x3(b->x, H, W, C, blk->local_conv.w, blk->local_conv.b, 1, b->y, OPS_ACT_NONE);
    swap(&b->x, &b->y);

    const int chunk = blk->fc1.q ? TOKEN_CHUNK_Q8 : TOKEN_CHUNK;
    for (int t0 = 0; t0 < L; t0 += chunk) {
        int n = L - t0 < chunk ? L - t0 : chunk;
        float *xc = b->x + (size_t)t0 * C;
        ops_layernorm(xc, b->t, n, C, blk->mlp_norm.g, blk->mlp_norm.b, 1e-5f);
        linear_forward(&blk->fc1, b->t, n, b->band1, NULL, OPS_ACT_GELU);
        linear_forward(&blk->fc2, b->band1, n, xc, xc, OPS_ACT_NONE);
    }
}

static void tap(enc_tap_fn fn, void *ctx, const char *name, const float *x, size_t n)
{
    if (fn) fn(name, x, n, ctx);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

int image_encoder_forward(const image_encoder_t *e, enc_ws *ws, const float *input,
                          float *embedding, enc_tap_fn tapfn, void *tap_ctx)
{
    const size_t band = (size_t)(MBCONV_BAND + 2) * 256 * 256; /* MBConv hidden band */
    const size_t chunk = (size_t)TOKEN_CHUNK * 320 * MLP_RATIO; /* MLP hidden chunk */
    enc_ws own = {0};
    if (!ws) ws = &own;
    enc_bufs b = {0};
    b.x = enc_ws_get(ws, 0, (size_t)256 * 256 * 64);
    b.y = enc_ws_get(ws, 1, (size_t)256 * 256 * 64);
    b.t = enc_ws_get(ws, 2, (size_t)128 * 128 * 160);
    b.big = enc_ws_get(ws, 3, (size_t)512 * 512 * 32);
    b.band1 = enc_ws_get(ws, 4, max_sz(band, chunk));
    b.band2 = enc_ws_get(ws, 5, band);
    int rc = -1;
    if (!b.x || !b.y || !b.t || !b.big || !b.band1 || !b.band2) goto out;

    /* patch_embed: 1024 -> 512 -> 256 */
    conv_forward(&e->patch_embed[0], input, 1024, 1024, b.big, OPS_ACT_GELU);
    conv_forward(&e->patch_embed[1], b.big, 512, 512, b.x, OPS_ACT_NONE);
    int H = 256, W = 256;
    tap(tapfn, tap_ctx, "patch_embed", b.x, (size_t)H * W * 64);

    for (int i = 0; i < 2; i++) {
        mbconv_forward(&e->mbconv[i], b.x, b.y, H, W, &b);
        swap(&b.x, &b.y);
    }
    merge_forward(&e->merge[0], b.x, b.y, &H, &W, &b);
    swap(&b.x, &b.y);
    tap(tapfn, tap_ctx, "layer0", b.x, (size_t)H * W * STAGES[1].dim);

    int bi = 0;
    for (int s = 1; s < ENC_STAGES; s++) {
        const stage_cfg_t *st = &STAGES[s];
        for (int i = 0; i < st->depth; i++, bi++)
            block_forward(&e->blocks[bi], st, H, W, e->attn_bf16, &b);
        if (s < ENC_STAGES - 1) {
            merge_forward(&e->merge[s], b.x, b.y, &H, &W, &b);
            swap(&b.x, &b.y);
        }
        char name[16];
        snprintf(name, sizeof name, "layer%d", s);
        tap(tapfn, tap_ctx, name, b.x,
            (size_t)H * W * STAGES[s < ENC_STAGES - 1 ? s + 1 : s].dim);
    }

    /* neck */
    const int L = H * W;
    linear_forward(&e->neck_conv1, b.x, L, b.t, NULL, OPS_ACT_NONE);
    ops_layernorm(b.t, b.t, L, 256, e->neck_ln1.g, e->neck_ln1.b, 1e-6f);
    conv_forward(&e->neck_conv2, b.t, H, W, embedding, OPS_ACT_NONE);
    ops_layernorm(embedding, embedding, L, 256, e->neck_ln2.g, e->neck_ln2.b, 1e-6f);
    tap(tapfn, tap_ctx, "neck", embedding, (size_t)L * 256);
    rc = 0;
out:
    enc_ws_free(&own);
    return rc;
}

void preprocess_normalize(const uint8_t *resized, int rw, int rh, float *out)
{
    static const float mean[3] = {123.675f, 116.28f, 103.53f};
    static const float std[3] = {58.395f, 57.12f, 57.375f};
    memset(out, 0, sizeof(float) * ENC_IMG * ENC_IMG * 3);
    for (int y = 0; y < rh; y++)
        for (int x = 0; x < rw; x++)
            for (int ch = 0; ch < 3; ch++) {
                size_t i = ((size_t)y * rw + x) * 3 + ch;
                out[((size_t)y * ENC_IMG + x) * 3 + ch] =
                    ((float)resized[i] - mean[ch]) / std[ch];
            }
}
