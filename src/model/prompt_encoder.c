/*
 * prompt_encoder.c - PromptEncoder (mobile_sam/modeling/prompt_encoder.py):
 * random-Fourier positional encoding of points and box corners, the sparse
 * prompt tokens, and the dense prompt (mask input or no_mask_embed).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "ops/ops.h"

/* PositionEmbeddingRandom._pe_encoding of one normalised (x, y) in [0, 1]. */
static void pe_encode(const float *gauss, float x, float y, float *out)
{
    const float two_pi = (float)(2.0 * 3.14159265358979323846);
    x = 2.0f * x - 1.0f;
    y = 2.0f * y - 1.0f;
    for (int j = 0; j < 128; j++) {
        float f = x * gauss[j] + y * gauss[128 + j];
        f = two_pi * f;
        out[j] = sinf(f);
        out[128 + j] = cosf(f);
    }
}

int prompt_encoder_load(prompt_decoder_t *d, wt_ctx *c)
{
    int gshape[2] = {2, 128}, eshape[2] = {1, 256};
    d->gauss = wt_get(c, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", 2, gshape);
    char name[128];
    for (int i = 0; i < 4; i++) {
        keyf(name, sizeof name, "prompt_encoder.point_embeddings.%d.weight", i);
        d->point_emb[i] = wt_get(c, name, 2, eshape);
    }
    d->not_a_point = wt_get(c, "prompt_encoder.not_a_point_embed.weight", 2, eshape);
    d->no_mask = wt_get(c, "prompt_encoder.no_mask_embed.weight", 2, eshape);
    load_conv(c, &d->mask_conv1, "prompt_encoder.mask_downscaling.0", 1, 4, 2, 2, 0, 1);
    load_norm(c, &d->mask_ln1, "prompt_encoder.mask_downscaling.1", 4);
    load_conv(c, &d->mask_conv2, "prompt_encoder.mask_downscaling.3", 4, 16, 2, 2, 0, 1);
    load_norm(c, &d->mask_ln2, "prompt_encoder.mask_downscaling.4", 16);
    load_linear_1x1(c, &d->mask_conv3, "prompt_encoder.mask_downscaling.6", 16, 256, 1);
    if (c->failed) return -1;

    /* get_dense_pe: cell centres of the 64x64 grid, already normalised. */
    d->dense_pe = malloc(sizeof(float) * EMB_TOKENS * EMB_C);
    if (!d->dense_pe) return -1;
    for (int i = 0; i < EMB_HW; i++)
        for (int j = 0; j < EMB_HW; j++)
            pe_encode(d->gauss, ((float)j + 0.5f) / EMB_HW, ((float)i + 0.5f) / EMB_HW,
                      d->dense_pe + ((size_t)i * EMB_HW + j) * EMB_C);
    return 0;
}

void prompt_encoder_free(prompt_decoder_t *d)
{
    conv_free(&d->mask_conv1);
    conv_free(&d->mask_conv2);
    free(d->dense_pe);
    free(d->up1_w); /* the mask decoder's packed weights live here too */
    free(d->up2_w);
    d->dense_pe = NULL;
    d->up1_w = d->up2_w = NULL;
}

/* Sparse tokens of one prompt: points (+ a padding point when there is no
 * box), then the two box corners. Returns the token count; tokens holds
 * (n_points + 2) * 256 floats at least. */
int prompt_sparse_tokens(const prompt_decoder_t *d, const dec_prompt_t *p, float *tokens)
{
    int n = 0;
    const int pad = p->box == NULL;
    for (int i = 0; i < p->n_points + pad; i++, n++) {
        float *t = tokens + (size_t)n * EMB_C;
        if (i == p->n_points) { /* the padding point (0, 0), label -1 */
            memcpy(t, d->not_a_point, sizeof(float) * EMB_C);
            continue;
        }
        float x = p->points[2 * i] + 0.5f, y = p->points[2 * i + 1] + 0.5f;
        pe_encode(d->gauss, x / (float)ENC_IMG, y / (float)ENC_IMG, t);
        ops_add(t, d->point_emb[p->labels[i] ? 1 : 0], EMB_C);
    }
    if (p->box) {
        for (int corner = 0; corner < 2; corner++, n++) {
            float *t = tokens + (size_t)n * EMB_C;
            float x = p->box[2 * corner] + 0.5f, y = p->box[2 * corner + 1] + 0.5f;
            pe_encode(d->gauss, x / (float)ENC_IMG, y / (float)ENC_IMG, t);
            ops_add(t, d->point_emb[2 + corner], EMB_C);
        }
    }
    return n;
}

/* Dense prompt (4096, 256) from a 256x256 mask input: conv 2x2 s2 1->4,
 * LayerNorm2d, GELU, conv 2x2 s2 4->16, LayerNorm2d, GELU, conv 1x1 16->256.
 * scratch holds 128*128*4 + 64*64*16 floats. */
void prompt_dense_from_mask(const prompt_decoder_t *d, const float *mask, float *dense,
                            float *scratch)
{
    float *a = scratch, *b = a + 128 * 128 * 4;
    ops_conv2d(mask, 256, 256, 1, d->mask_conv1.w, d->mask_conv1.b, 4, 2, 2, 0, a,
               OPS_ACT_NONE);
    ops_layernorm(a, a, 128 * 128, 4, d->mask_ln1.g, d->mask_ln1.b, 1e-6f);
    ops_gelu(a, (size_t)128 * 128 * 4);
    ops_conv2d(a, 128, 128, 4, d->mask_conv2.w, d->mask_conv2.b, 16, 2, 2, 0, b,
               OPS_ACT_NONE);
    ops_layernorm(b, b, 64 * 64, 16, d->mask_ln2.g, d->mask_ln2.b, 1e-6f);
    ops_gelu(b, (size_t)64 * 64 * 16);
    ops_linear(b, 64 * 64, 16, d->mask_conv3.w, d->mask_conv3.b, 256, dense, NULL,
               OPS_ACT_NONE);
}
