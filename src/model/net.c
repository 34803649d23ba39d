/*
 * net.c - assembles the whole network from a weight file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "ops/ops.h"


int net_load(msam_net *net, const wt_file *f, char *err, size_t errlen)
{
    memset(net, 0, sizeof *net);
    wt_ctx c = {f, err, errlen, 0, 0};
    net->kind = f->kind;
    net->file = f;
    int rc;
    if (f->kind == WT_MODEL_SAM_VIT) {
        if (vit_config_parse(f->config, f->config_len, &net->vit.cfg, err, errlen)) {
            net_free(net);
            return -1;
        }
        rc = vit_encoder_load(&net->vit, &c);
    } else {
        rc = image_encoder_load(&net->enc, &c);
    }
    if (!rc) rc = prompt_encoder_load(&net->dec, &c);
    if (!rc) rc = mask_decoder_load(&net->dec, &c);
    if (rc) {
        int oom = c.oom || !c.failed; /* loaders fail silently only on allocation */
        if (!c.failed) snprintf(err, errlen, "out of memory");
        net_free(net);
        return oom ? -2 : -1;
    }
    return 0;
}

void net_free(msam_net *net)
{
    net_quantize_groups(net, 0);
    image_encoder_free(&net->enc);
    vit_encoder_free(&net->vit);
    prompt_encoder_free(&net->dec);
    enc_ws_free(&net->ws);
}

int net_encode(msam_net *net, const float *input, float *embedding, enc_tap_fn tap,
               void *tap_ctx)
{
    if (net->kind == WT_MODEL_SAM_VIT)
        return vit_encoder_forward(&net->vit, &net->ws, input, embedding, tap, tap_ctx);
    return image_encoder_forward(&net->enc, &net->ws, input, embedding, tap, tap_ctx);
}

/* ---- int8 ------------------------------------------------------------------
 * Every layer int8 can apply to, with its group: a visitor over the
 * encoder's linear layers and dense convolutions. */
typedef struct {
    unsigned mask, bf16; /* groups in int8, in bfloat16 */
    int failed;
    size_t bytes;
    int count; /* 1: only count bytes */
    const wt_file *file;
} q8_walk;

static void q8_one(q8_walk *w, unsigned group, struct ops_q8w **q, const float *wt,
                   const float *b, int N, int K)
{
    if (w->count) {
        w->bytes += ops_q8w_bytes(*q);
        return;
    }
    const int want = w->mask & group ? 1 : w->bf16 & group ? 2 : 0;
    const int have = !*q ? 0 : ops_q8w_is_bf16(*q) ? 2 : 1;
    if (want == have) return;
    ops_q8w_free(*q);
    *q = NULL;
    if (want && !w->failed) {
        *q = want == 1 ? ops_q8w_pack(wt, b, N, K) : ops_q8w_pack_bf16(wt, b, N, K);
        if (!*q) w->failed = 1;
    }
}

/* A linear layer's float weights are views into the weight file: while
 * its int8 form is used, their pages leave the resident memory. */
static void q8_linear(q8_walk *w, unsigned group, linear_t *l)
{
    const int had = l->q != NULL;
    q8_one(w, group, &l->q, l->w, l->b, l->out, l->in);
    if (!had && l->q && w->file) wt_release(w->file, l->w, sizeof(float) * l->in * l->out);
}

static void q8_conv(q8_walk *w, unsigned group, conv_t *cv)
{
    if (!cv->depthwise && cv->w)
        q8_one(w, group, &cv->q, cv->w, cv->b, cv->cout, cv->k * cv->k * cv->cin);
}

/* The decoder's layers on prompt tokens and its first up-scaling (the
 * other image-side products and the reassociated cross-attention terms
 * stay float32). */
static void q8_walk_dec(prompt_decoder_t *d, q8_walk *w)
{
    for (int i = 0; i < 2; i++) {
        two_way_block_t *l = &d->layers[i];
        q8_linear(w, NET_Q8_DEC, &l->self_attn.q);
        q8_linear(w, NET_Q8_DEC, &l->self_attn.k);
        q8_linear(w, NET_Q8_DEC, &l->self_attn.v);
        q8_linear(w, NET_Q8_DEC, &l->self_attn.out);
        q8_linear(w, NET_Q8_DEC, &l->cross_t2i.q);
        q8_linear(w, NET_Q8_DEC, &l->cross_t2i.out);
        q8_linear(w, NET_Q8_DEC, &l->cross_i2t.k);
        q8_linear(w, NET_Q8_DEC, &l->cross_i2t.v);
        q8_linear(w, NET_Q8_DEC_MLP, &l->mlp1);
        q8_linear(w, NET_Q8_DEC_MLP, &l->mlp2);
    }
    q8_linear(w, NET_Q8_DEC, &d->final_attn.q);
    q8_linear(w, NET_Q8_DEC, &d->final_attn.out);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) q8_linear(w, NET_Q8_DEC, &d->hyper[i].l[j]);
    for (int j = 0; j < 3; j++) q8_linear(w, NET_Q8_DEC, &d->iou_head.l[j]);
    /* layer 0's image-side projections, once per image (dec_cache_build) */
    q8_linear(w, NET_Q8_DEC_IMG, &d->layers[0].cross_t2i.k);
    q8_linear(w, NET_Q8_DEC_IMG, &d->layers[0].cross_t2i.v);
    q8_linear(w, NET_Q8_DEC_IMG, &d->layers[0].cross_i2t.q);
    if (d->up1_w) /* the (4 x 64, 256) product over the 4096 final image tokens */
        q8_one(w, NET_Q8_UP, &d->up1_q, d->up1_w, NULL, 4 * 64, 256);
    if (d->up2_w) /* the (4 x 32, 64) product over the 128 x 128 up-scaled pixels */
        q8_one(w, NET_Q8_UP2, &d->up2_q, d->up2_w, NULL, 4 * 32, 64);
}

static void q8_walk_net(msam_net *net, q8_walk *w)
{
    q8_walk_dec(&net->dec, w);
    if (net->kind == WT_MODEL_SAM_VIT) {
        vit_encoder_t *e = &net->vit;
        q8_conv(w, NET_Q8_PATCH, &e->patch_embed);
        for (int i = 0; e->blocks && i < e->cfg.depth; i++) {
            q8_linear(w, NET_Q8_QKV, &e->blocks[i].qkv);
            q8_linear(w, NET_Q8_PROJ, &e->blocks[i].proj);
            q8_linear(w, NET_Q8_MLP1, &e->blocks[i].lin1);
            q8_linear(w, NET_Q8_MLP2, &e->blocks[i].lin2);
        }
        q8_linear(w, NET_Q8_NECK1, &e->neck_conv1);
        q8_conv(w, NET_Q8_NECK3, &e->neck_conv2);
        return;
    }
    image_encoder_t *e = &net->enc;
    /* the first patch convolution (27 products per output) stays float32:
     * ops_conv2d's direct kernel runs it faster than int8's im2col and
     * per-pixel quantizing (1 thread: 18.6 ms in int8, ~8 in float32) */
    q8_conv(w, NET_Q8_PATCH, &e->patch_embed[1]);
    for (int i = 0; i < 2; i++) {
        q8_conv(w, NET_Q8_CONV, &e->mbconv[i].conv1);
        q8_conv(w, NET_Q8_CONV, &e->mbconv[i].conv3);
    }
    for (int i = 0; i < 3; i++) {
        q8_conv(w, NET_Q8_CONV, &e->merge[i].conv1);
        q8_conv(w, NET_Q8_CONV, &e->merge[i].conv3);
    }
    for (int i = 0; i < 10; i++) {
        tinyvit_block_t *b = &e->blocks[i];
        if (!b->qkv.w) continue; /* the model has fewer blocks */
        q8_linear(w, NET_Q8_QKV, &b->qkv);
        q8_linear(w, NET_Q8_PROJ, &b->proj);
        q8_linear(w, NET_Q8_MLP1, &b->fc1);
        q8_linear(w, NET_Q8_MLP2, &b->fc2);
    }
    q8_linear(w, NET_Q8_NECK1, &e->neck_conv1);
    q8_conv(w, NET_Q8_NECK3, &e->neck_conv2);
}

/* Measured by tests/test_int8_layers.c (README: "Reduced precision"): the
 * neck, the decoder's attention and its up-scaling lose too much in int8
 * and stay float32 (the up-scaling alone: -0.4 ms of the decoder's 7, but
 * the default set's worst low-res IoU 0.963 -> 0.949 on bus), or bfloat16
 * where its products are fast. */
const unsigned NET_Q8_DEFAULT = NET_Q8_ALL & ~(NET_Q8_NECK1 | NET_Q8_NECK3 | NET_Q8_DEC |
                                               NET_Q8_UP | NET_Q8_UP2 | NET_Q8_DEC_IMG);
const unsigned NET_BF16_DEFAULT =
    NET_Q8_NECK1 | NET_Q8_NECK3 | NET_Q8_UP | NET_Q8_UP2 | NET_Q8_DEC_IMG | NET_BF16_ATTN |
    NET_BF16_DEC_PV | NET_BF16_DEC_KEYS;

const char *net_q8_group_name(unsigned group)
{
    switch (group) {
    case NET_Q8_PATCH: return "patch embedding";
    case NET_Q8_CONV: return "MBConv / merge 1x1";
    case NET_Q8_QKV: return "attention qkv";
    case NET_Q8_PROJ: return "attention proj";
    case NET_Q8_MLP1: return "MLP fc1";
    case NET_Q8_MLP2: return "MLP fc2";
    case NET_Q8_NECK1: return "neck 1x1";
    case NET_Q8_NECK3: return "neck 3x3";
    case NET_Q8_DEC: return "decoder attn/heads";
    case NET_Q8_DEC_MLP: return "decoder MLP";
    case NET_Q8_UP: return "decoder up-scaling 1";
    case NET_Q8_UP2: return "decoder up-scaling 2";
    case NET_Q8_DEC_IMG: return "dec. image-side cache";
    case NET_Q8_DEC_SCORES: return "dec. image-side scores";
    case NET_BF16_ATTN: return "window attention";
    case NET_BF16_DEC_PV: return "dec. image-side values";
    case NET_BF16_DEC_KEYS: return "dec. keys' update";
    }
    return "?";
}

/* The decoder's PE in bf16 while its scores are quantized (made once, kept
 * while they stay so): -1 when out of memory. */
static int dec_pe_bf16(prompt_decoder_t *d, int on)
{
    if (!on) {
        free(d->dense_pe_bf16);
        d->dense_pe_bf16 = NULL;
        return 0;
    }
    if (d->dense_pe_bf16) return 0;
    d->dense_pe_bf16 = malloc(sizeof(uint16_t) * EMB_TOKENS * EMB_C);
    if (!d->dense_pe_bf16) return -1;
    for (size_t i = 0; i < (size_t)EMB_TOKENS * EMB_C; i++)
        d->dense_pe_bf16[i] = ops_bf16_round(d->dense_pe[i]);
    return 0;
}

int net_set_groups(msam_net *net, unsigned q8, unsigned bf16)
{
    bf16 &= ~q8;
    q8_walk w = {q8, bf16, 0, 0, 0, net->file};
    q8_walk_net(net, &w);
    const int sq = q8 & NET_Q8_DEC_SCORES ? 1 : bf16 & NET_Q8_DEC_SCORES ? 2 : 0;
    /* fails only when making it, so never while the precision before has it */
    if (!w.failed && dec_pe_bf16(&net->dec, sq)) w.failed = 1;
    if (w.failed) { /* out of memory: back to what it was */
        w.mask = net->precision == NET_INT8 ? net->q8_mask : 0;
        w.bf16 = net->precision == NET_INT8 ? net->bf16_mask : 0;
        w.failed = 0;
        q8_walk_net(net, &w);
        return -2;
    }
    net->enc.attn_bf16 = ((q8 | bf16) & NET_BF16_ATTN) != 0;
    net->dec.scores_q8 = sq;
    net->dec.pv_bf16 = ((q8 | bf16) & NET_BF16_DEC_PV) != 0;
    net->dec.keys_bf16 = ((q8 | bf16) & NET_BF16_DEC_KEYS) != 0;
    net->q8_mask = q8;
    net->bf16_mask = bf16;
    net->precision = q8 | bf16 ? NET_INT8 : NET_FP32;
    return 0;
}

int net_quantize_groups(msam_net *net, unsigned mask) { return net_set_groups(net, mask, 0); }

size_t net_q8_bytes(const msam_net *net)
{
    q8_walk w = {0, 0, 0, 0, 1, NULL};
    q8_walk_net((msam_net *)net, &w);
    if (net->dec.dense_pe_bf16) w.bytes += sizeof(uint16_t) * EMB_TOKENS * EMB_C;
    return w.bytes;
}

int net_set_precision(msam_net *net, int precision)
{
    if (precision != NET_INT8) return net_set_groups(net, 0, 0);
    return net_set_groups(net, NET_Q8_DEFAULT, ops_cpu_bf16_fast() ? NET_BF16_DEFAULT : 0);
}

const char *net_model_type(const msam_net *net)
{
    return net->kind == WT_MODEL_SAM_VIT ? net->vit.cfg.model : "vit_t";
}
