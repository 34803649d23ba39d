/*
 * model.h - the MobileSAM network (vit_t): TinyViT-5M image encoder + neck,
 * prompt encoder and mask decoder, in the vocabulary of the official code
 * (files under mobile_sam/modeling/); or the same pipeline with SAM's
 * original ImageEncoderViT (vit_b / vit_l / vit_h, vit.c) in place of
 * TinyViT. Knows nothing of SIMD: all arithmetic goes through src/ops.
 *
 * Layouts: feature maps are HWC, token sets (rows, C). The image embedding
 * is kept as 4096 x 256 tokens (64x64 grid, HWC), which is what the mask
 * decoder consumes.
 */
#ifndef MOBILESAM_MODEL_H
#define MOBILESAM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "io/weights.h"

#define ENC_IMG 1024
#define EMB_C 256
#define EMB_HW 64
#define EMB_TOKENS (EMB_HW * EMB_HW)
#define LOWRES 256

struct ops_q8w;

/* A convolution with BatchNorm folded in, weights packed for ops_conv2d
 * ((Cout, K, K, Cin)) or, when depthwise, (C, 9). Owned memory. q: the
 * int8 form of a dense one while the network runs in int8 (owned), else
 * NULL. */
typedef struct {
    float *w, *b;
    int cin, cout, k, stride, pad, depthwise;
    struct ops_q8w *q;
} conv_t;

typedef struct {
    const float *w, *b; /* (out, in), (out) or NULL; views into the map */
    int in, out;
    struct ops_q8w *q;  /* int8 form while the network runs in int8 (owned) */
} linear_t;

typedef struct {
    const float *g, *b;
    int c;
} norm_t;

typedef struct {
    conv_t conv1, conv2, conv3;
} mbconv_t;

typedef struct {
    conv_t conv1, conv2, conv3;
} patch_merge_t;

typedef struct {
    norm_t attn_norm;
    linear_t qkv, proj;
    float *pad_qkv; /* qkv row of a zero (padding) token: qkv(norm.bias) */
    float *bias;    /* (heads, N, N) expanded attention_biases */
    conv_t local_conv;
    norm_t mlp_norm;
    linear_t fc1, fc2;
} tinyvit_block_t;

#define ENC_STAGES 4
typedef struct {
    int dim, depth, heads, window, res; /* res: input grid side */
} stage_cfg_t;

typedef struct {
    conv_t patch_embed[2];
    mbconv_t mbconv[2];
    patch_merge_t merge[3];
    tinyvit_block_t blocks[10];
    linear_t neck_conv1; /* 1x1 320->256, no bias */
    norm_t neck_ln1;
    conv_t neck_conv2;   /* 3x3 256->256, no bias */
    norm_t neck_ln2;
    int attn_bf16; /* window attention in bfloat16 (NET_BF16_ATTN) */
} image_encoder_t;

typedef struct {
    linear_t q, k, v, out;
    int heads, internal;
} dec_attn_t;

typedef struct {
    dec_attn_t self_attn, cross_t2i, cross_i2t;
    norm_t norm1, norm2, norm3, norm4;
    linear_t mlp1, mlp2;
} two_way_block_t;

typedef struct {
    linear_t l[3];
} mlp3_t;

typedef struct {
    /* prompt encoder */
    const float *gauss;          /* (2, 128) */
    const float *point_emb[4];   /* 256 each */
    const float *not_a_point;    /* 256 */
    const float *no_mask;        /* 256 */
    conv_t mask_conv1, mask_conv2; /* 2x2 s2: 1->4, 4->16 */
    norm_t mask_ln1, mask_ln2;
    linear_t mask_conv3;         /* 1x1 16->256 */
    float *dense_pe;             /* (4096, 256): PE of the 64x64 grid */
    /* dense_pe rounded to bf16 while scores_q8 is set, NULL otherwise
     * (net_set_groups): the keys + PE the image-to-token LayerNorms make
     * for quantized scores add it (half the bytes of a 4 MiB array read
     * twice per prompt) */
    uint16_t *dense_pe_bf16;
    /* mask decoder */
    const float *iou_token, *mask_tokens; /* 256, (4, 256) */
    two_way_block_t layers[2];
    dec_attn_t final_attn;
    norm_t norm_final;
    float *up1_w;               /* ConvTranspose 256->64, packed (owned) */
    struct ops_q8w *up1_q;      /* its int8 or bf16 form (NET_Q8_UP), or NULL */
    const float *up1_b;
    norm_t up_ln;
    float *up2_w;               /* ConvTranspose 64->32, packed (owned) */
    struct ops_q8w *up2_q;      /* its int8 or bf16 form (NET_Q8_UP2), or NULL */
    const float *up2_b;
    int scores_q8;              /* NET_Q8_DEC_SCORES: 0 float32, 1 int8, 2 bf16 */
    int pv_bf16;                /* NET_BF16_DEC_PV: 1 bf16 */
    int keys_bf16;              /* NET_BF16_DEC_KEYS: 1 bf16 */
    mlp3_t hyper[4];
    mlp3_t iou_head;
} prompt_decoder_t;

/* SAM's ImageEncoderViT, configured by the weight file's record (which
 * tools/convert.py derives from the checkpoint's tensors). */
#define VIT_MAX_DEPTH 64
typedef struct {
    char model[16]; /* vit_b, vit_l, vit_h, or sam_vit for another shape */
    int patch, width, depth, heads, head_dim, mlp_dim, window, out_chans;
    unsigned char global[VIT_MAX_DEPTH]; /* 1: the block attends globally */
} vit_config_t;

typedef struct {
    norm_t norm1, norm2;
    const float *rel_h, *rel_w; /* (2S - 1, head_dim), S = window or 64 */
    linear_t qkv, proj, lin1, lin2;
} vit_block_t;

typedef struct {
    vit_config_t cfg;
    conv_t patch_embed;        /* 16x16 stride 16, 3 -> width (packed, owned) */
    const float *pos_embed;    /* (64, 64, width) */
    vit_block_t *blocks;       /* depth (owned) */
    linear_t neck_conv1;       /* 1x1 width -> 256, no bias */
    norm_t neck_ln1;
    conv_t neck_conv2;         /* 3x3 256 -> 256, no bias */
    norm_t neck_ln2;
} vit_encoder_t;

/* Arithmetic of the large products (mirrors mobilesam_precision). */
enum { NET_FP32 = 0, NET_FP16 = 1, NET_INT8 = 2 };

/* Work buffers an encoder keeps from one forward pass to the next. Freeing
 * its ~100 MiB after each image and mapping them again for the next cost
 * 7-10% of the encoder's time in page faults. Slot ENC_WS_INPUT is the
 * caller's (the pre-processed image). */
enum { ENC_WS_SLOTS = 8, ENC_WS_INPUT = ENC_WS_SLOTS - 1 };
typedef struct {
    float *buf[ENC_WS_SLOTS];
    size_t cap[ENC_WS_SLOTS]; /* floats */
} enc_ws;
/* Slot `slot` with room for n floats (grown when smaller: its contents are
 * then lost); NULL when out of memory. */
float *enc_ws_get(enc_ws *w, int slot, size_t n);
void enc_ws_free(enc_ws *w);

typedef struct {
    int kind; /* WT_MODEL_VIT_T: enc; WT_MODEL_SAM_VIT: vit */
    int precision; /* NET_*: set by net_set_precision */
    unsigned q8_mask; /* NET_Q8_* groups in int8 when precision is NET_INT8 */
    unsigned bf16_mask; /* NET_Q8_* groups in bfloat16 then (none of q8_mask) */
    const wt_file *file; /* the weights it was loaded from (outlive it) */
    image_encoder_t enc;
    vit_encoder_t vit;
    prompt_decoder_t dec;
    enc_ws ws; /* net_encode's work buffers, kept until net_free */
} msam_net;

/* Optional observer of intermediate encoder outputs (tests compare them
 * with the fixture pack's per-stage references). */
typedef void (*enc_tap_fn)(const char *name, const float *data, size_t n, void *ctx);

/* Builds the network from a validated weight file (folds BatchNorm, packs
 * convolutions, expands attention biases). Returns 0 or -1 with reason. */
/* Returns 0, -1 when the weights do not fit, -2 when out of memory. */
int net_load(msam_net *net, const wt_file *f, char *err, size_t errlen);
void net_free(msam_net *net);

/* Official pre-processing of an RGB image already resized to (rh, rw):
 * normalise and zero-pad to 1024x1024, HWC float. */
void preprocess_normalize(const uint8_t *resized, int rw, int rh, float *out);

/* Encoder: input (1024, 1024, 3) HWC -> embedding (4096, 256) HWC, in the
 * work buffers of ws (NULL: its own, freed before it returns; the input may
 * not be in them but in slot ENC_WS_INPUT). Returns 0, or -1 when out of
 * memory. */
int image_encoder_forward(const image_encoder_t *enc, enc_ws *ws, const float *input,
                          float *embedding, enc_tap_fn tap, void *tap_ctx);
/* The same with SAM's ViT encoder; taps "patch_embed_pos" (input of block
 * 0) and "block<i>" (output of block i), (4096, width) tokens each. */
int vit_encoder_forward(const vit_encoder_t *enc, enc_ws *ws, const float *input,
                        float *embedding, enc_tap_fn tap, void *tap_ctx);
/* Switches the network's large products to NET_FP32 / NET_INT8 (NET_FP16
 * is taken as NET_FP32 until it has kernels); quantized weights are made
 * on the first switch and kept. 0, or -2 when out of memory (the network
 * keeps its precision). Not while a forward pass runs. */
int net_set_precision(msam_net *net, int precision);
/* The layer groups int8 applies to (for the per-layer measurements of
 * tests/test_int8_layers.c): net_set_precision(NET_INT8) quantizes
 * NET_Q8_DEFAULT to int8 and, on CPUs whose bfloat16 products are fast
 * (ops_cpu_bf16_fast), rounds NET_BF16_DEFAULT to bf16 (float32
 * elsewhere); net_set_groups takes exactly the groups in q8 to int8 and
 * those in bf16 (less q8) to bfloat16 (0, 0: float32 everywhere) and sets
 * the precision to match; net_quantize_groups(net, m) is
 * net_set_groups(net, m, 0). */
enum {
    NET_Q8_PATCH = 1 << 0, /* patch embedding convolutions (TinyViT: the second) */
    NET_Q8_CONV = 1 << 1,  /* TinyViT's MBConv and patch-merging 1x1s */
    NET_Q8_QKV = 1 << 2,   /* attention input projections */
    NET_Q8_PROJ = 1 << 3,  /* attention output projections */
    NET_Q8_MLP1 = 1 << 4,  /* MLP expansions */
    NET_Q8_MLP2 = 1 << 5,  /* MLP contractions */
    NET_Q8_NECK1 = 1 << 6, /* the neck's 1x1 convolution */
    NET_Q8_NECK3 = 1 << 7, /* the neck's 3x3 convolution */
    NET_Q8_DEC = 1 << 8,   /* the mask decoder's attention projections and heads */
    NET_Q8_DEC_MLP = 1 << 9, /* the mask decoder's MLPs (256 -> 2048 -> 256) */
    NET_Q8_UP = 1 << 10,   /* the mask decoder's first up-scaling (ConvT 256 -> 64) */
    NET_Q8_UP2 = 1 << 11,  /* its second one (ConvT 64 -> 32) */
    /* the decoder's image-side projections of layer 0 (k, v of the
     * token-to-image attention, q of the image-to-token one), computed
     * once per image (dec_cache_build) */
    NET_Q8_DEC_IMG = 1 << 12,
    /* no weights: the decoder's per-prompt image-side scores (the 4096
     * image tokens + PE against the reassociated token-side matrices,
     * three products a prompt), their token-side operand packed per
     * prompt */
    NET_Q8_DEC_SCORES = 1 << 13,
    NET_Q8_ALL = (1 << 14) - 1,
    /* no weights, no int8 form: TinyViT's window attention (q k^T and P v)
     * in bfloat16, for the bf16 set only (taken as bf16 in an int8 one) */
    NET_BF16_ATTN = 1 << 14,
    /* no weights, bf16 only (taken as bf16 in an int8 set too): the
     * decoder's per-prompt sums of the keys weighted by the token-to-image
     * attention's probabilities (P^T keys, 4096 image tokens), the keys'
     * bf16 form made as the LayerNorm writes them */
    NET_BF16_DEC_PV = 1 << 15,
    /* no weights, bf16 only (likewise): the keys' per-prompt update in the
     * image-to-token attentions, the probabilities over each image token's
     * prompt tokens times the token side's values (4096 x 256 outputs
     * from 8 Nt + 1 products each) */
    NET_BF16_DEC_KEYS = 1 << 16
};
extern const unsigned NET_Q8_DEFAULT, NET_BF16_DEFAULT;
const char *net_q8_group_name(unsigned group);
int net_set_groups(msam_net *net, unsigned q8, unsigned bf16);
int net_quantize_groups(msam_net *net, unsigned mask);
/* Bytes of the int8 and bf16 weights (and the decoder's bf16 PE) held now. */
size_t net_q8_bytes(const msam_net *net);
/* Whichever encoder the network has, in the network's work buffers. */
int net_encode(msam_net *net, const float *input, float *embedding, enc_tap_fn tap,
               void *tap_ctx);
/* "vit_t", or the ViT model's name (vit_b, vit_l, vit_h, sam_vit). */
const char *net_model_type(const msam_net *net);

/* One object's prompt, already mapped to the 1024 frame (resized pixels). */
typedef struct {
    const float *points; /* n * 2 */
    const int *labels;   /* n */
    int n_points;
    const float *box;        /* 4 or NULL */
    const float *mask_input; /* 256*256 or NULL */
} dec_prompt_t;

/* Prompt-independent decoder work, computed once per image: the image
 * tokens before layer 0 (embedding + no_mask_embed) and layer 0's
 * projections of them. Not used for prompts with a mask input. */
typedef struct {
    float *src, *tk0;     /* src, src + dense PE: (4096, 256) */
    float *k0t, *v0;      /* t2i k_proj(tk0) transposed (128, 4096), v_proj(src) */
    float *q0t;           /* i2t q_proj(tk0) transposed (128, 4096) */
} dec_image_cache;
int dec_cache_build(const prompt_decoder_t *dec, const float *embedding,
                    dec_image_cache *cache);
void dec_cache_free(dec_image_cache *cache);
/* Bytes a built cache holds. */
size_t dec_cache_bytes(void);

/* 1 (default): cross-attentions with few tokens use the reassociated
 * products; 0: always the official order of operations (tests compare). */
extern int dec_reassociate;
/* 1: the blocks one after the other, without computing each token-to-image
 * attention's scores inside the previous image-to-token step (tests compare:
 * the bits are the same). */
extern int dec_unfused;
/* Points decoded together by mask_decoder_points (1..4; default 1). */
extern int dec_group;

/* Decoder work buffers, reusable across calls (not thread-safe). */
typedef struct dec_ws dec_ws;
dec_ws *dec_ws_new(void);
void dec_ws_free(dec_ws *w);

/* Decoder for G prompts (1 <= G <= 4; G > 1 needs the cache and prompts
 * with the same number of points, the same box presence and no mask
 * input): 4 IoU predictions per prompt (iou4 + 4 g) and the low-res logits
 * (256, 256) of the mask tokens i in the bitmask `want` (not 0) whose
 * prediction is > skip_below (-INFINITY: no filter): prompt g's token i
 * goes to plane g * stride + i - first, first being the lowest token in
 * `want`; planes of wanted tokens may be written even when not needed.
 * cache may be NULL (G = 1). Returns 0, or -1 when out of memory or the
 * group is not allowed. */
int mask_decoder_forward(const prompt_decoder_t *dec, const float *embedding,
                         const dec_image_cache *cache, const dec_prompt_t *prompt, int G,
                         dec_ws *w, float *logits, int stride, float *iou4, int want,
                         float skip_below);

/* Decodes n single-point prompts (resized-frame coordinates, label 1) with
 * multimask output, as the automatic mask generator does: 3 low-res logit
 * planes (tokens 1..3) and 3 IoU predictions per point; planes of masks
 * predicted <= skip_below are not computed. Points are spread over n_ws
 * threads, one workspace each. Returns 0, or -1 when out of memory. */
int mask_decoder_points(const prompt_decoder_t *dec, const float *embedding,
                        const dec_image_cache *cache, dec_ws **ws, int n_ws,
                        const float *points, int n, float *logits3, float *iou3,
                        float skip_below);

/* Sam.postprocess_masks for one low-res logit plane: bilinear to 1024,
 * crop (rh, rw), bilinear to (h, w), as float logits.
 * scratch holds 1024*1024 floats. */
void postprocess_logits(const float *lowres, int rw, int rh, int w, int h,
                        float *out, float *scratch);
/* The same, binarised: 255 where logit > 0 (the logits themselves are
 * never stored). scratch holds 1024*1024 floats. */
void postprocess_mask(const float *lowres, int rw, int rh, int w, int h,
                      uint8_t *mask, float *scratch);

/* Helpers shared by the network files (model/common.c). */
typedef struct {
    const wt_file *f;
    char *err;
    size_t errlen;
    int failed;
    int oom; /* the failure was an allocation */
} wt_ctx;
/* snprintf for tensor names (a truncated name simply is not found). */
void keyf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records an allocation failure (the first failure's message is kept). */
void wt_ctx_oom(wt_ctx *c);
const float *wt_get(wt_ctx *c, const char *name, int ndim, const int *shape);
void load_linear(wt_ctx *c, linear_t *l, const char *prefix, int in, int out, int bias);
/* A 1x1 Conv2d (out, in, 1, 1) is a Linear (out, in) on HWC tokens. */
void load_linear_1x1(wt_ctx *c, linear_t *l, const char *prefix, int in, int out, int bias);
void load_norm(wt_ctx *c, norm_t *n, const char *prefix, int ch);
/* Conv2d_BN (prefix.c.weight + prefix.bn.*), folded. */
void load_conv_bn(wt_ctx *c, conv_t *cv, const char *prefix, int cin, int cout,
                  int k, int stride, int pad, int depthwise);
/* Plain Conv2d (prefix.weight [+ prefix.bias]), packed. */
void load_conv(wt_ctx *c, conv_t *cv, const char *prefix, int cin, int cout,
               int k, int stride, int pad, int bias);
void conv_free(conv_t *cv);
/* Runs a packed conv (dense or depthwise) on an HWC map (int8 when cv->q). */
void conv_forward(const conv_t *cv, const float *x, int H, int W, float *y, int act);
/* y[M, out] = act(x . w^T + b + res) (int8 when l->q); res may alias y. */
void linear_forward(const linear_t *l, const float *x, int M, float *y, const float *res,
                    int act);
/* A dense 1x1 conv_t applied as a linear layer on M tokens. */
void conv1x1_forward(const conv_t *cv, const float *x, int M, float *y, const float *res,
                     int act);

/* Per-part loaders (tinyvit.c, prompt_encoder.c, mask_decoder.c). */
int image_encoder_load(image_encoder_t *e, wt_ctx *c);
void image_encoder_free(image_encoder_t *e);
/* Parses the weight file's configuration record; 0 or -1 with reason. */
int vit_config_parse(const char *text, size_t len, vit_config_t *cfg, char *err, size_t errlen);
int vit_encoder_load(vit_encoder_t *e, wt_ctx *c);
void vit_encoder_free(vit_encoder_t *e);
int prompt_encoder_load(prompt_decoder_t *d, wt_ctx *c);
void prompt_encoder_free(prompt_decoder_t *d);
int mask_decoder_load(prompt_decoder_t *d, wt_ctx *c);
/* Sparse tokens of one prompt (points, padding point, box corners); returns
 * their count. tokens holds (n_points + 2) * 256 floats. */
int prompt_sparse_tokens(const prompt_decoder_t *d, const dec_prompt_t *p, float *tokens);
/* Dense prompt (4096, 256) from a 256x256 mask input; scratch holds
 * 2 * 65536 floats. */
void prompt_dense_from_mask(const prompt_decoder_t *d, const float *mask, float *dense,
                            float *scratch);

#endif
