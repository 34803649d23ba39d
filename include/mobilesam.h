/*
 * mobilesam.h - the one public header of the MobileSAM inference engine.
 *
 * Lifecycle:  mobilesam_load() -> mobilesam_encode() (once per image)
 *             -> mobilesam_predict() (any number of prompts per embedding)
 *             -> mobilesam_result_free() / mobilesam_embedding_free()
 *             -> mobilesam_free().
 *
 * Every function that can fail returns a mobilesam_status and, when given a
 * non-NULL mobilesam_error, fills it with a one-line human-readable reason.
 * The library never prints and never exits. The caller owns and frees every
 * object it receives.
 *
 * A model keeps the encoder's and the decoder's work buffers between calls
 * (~120 MiB once used), so one model serves one call at a time: callers
 * that share it between threads serialise their calls on it (separate
 * models are independent).
 */
#ifndef MOBILESAM_H
#define MOBILESAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MOBILESAM_VERSION "0.1.0"

#define MOBILESAM_EMBED_DIM 256   /* embedding channels */
#define MOBILESAM_EMBED_SIZE 64   /* embedding is 64x64 */
#define MOBILESAM_LOWRES 256      /* low-res mask logits are 256x256 */
#define MOBILESAM_MAX_POINTS 1000 /* points per object (mobilesam_predict refuses more) */
#define MOBILESAM_MAX_OBJECTS 1000 /* prompts per mobilesam_predict call */
/* bytes of masks (objects x masks x width x height) one call may return */
#define MOBILESAM_MAX_MASK_BYTES ((size_t)4 << 30)
#define MOBILESAM_IMG_SIZE 1024   /* encoder input side */

typedef enum {
    MOBILESAM_OK = 0,
    MOBILESAM_ERR_IO = 1,      /* file missing / unreadable */
    MOBILESAM_ERR_FORMAT = 2,  /* file present but not what it should be */
    MOBILESAM_ERR_INVALID = 3, /* bad argument (prompt outside image, ...) */
    MOBILESAM_ERR_NOMEM = 4
} mobilesam_status;

typedef struct {
    char message[512];
} mobilesam_error;

typedef struct mobilesam_model mobilesam_model;
typedef struct mobilesam_embedding mobilesam_embedding;

/* Threads used by the engine (kernels and OpenBLAS together). n <= 0 means
 * one per online core. Process-wide. */
void mobilesam_set_threads(int n);
int mobilesam_get_threads(void);

/* OpenBLAS chooses its kernels when it loads. When it fell back to its
 * generic ones on a CPU with AVX-512 or AVX2 (CPUs newer than the OpenBLAS
 * build, virtual machines), this returns the OPENBLAS_CORETYPE value that
 * selects the right ones (3-4x faster GEMMs); NULL otherwise, or when the
 * variable is already set. A program sets it and re-executes itself, as
 * the mobilesam command does. */
const char *mobilesam_blas_coretype_hint(void);

/* Maps a weight file written by tools/convert.py. Checks magic, version,
 * size, checksum and the tensor table. */
mobilesam_status mobilesam_load(const char *weights_path, mobilesam_model **out,
                                mobilesam_error *err);
void mobilesam_free(mobilesam_model *model); /* NULL is a no-op */

/* Arithmetic of the network's large products (the encoder's linear layers
 * and convolutions, the decoder's products where they pay):
 *   MOBILESAM_FP32  float32 throughout (the default; the parity figures);
 *   MOBILESAM_FP16  float16 inputs, wider sums (no kernels in this
 *                   version: it runs as MOBILESAM_FP32, whose error is
 *                   within fp16's tolerances);
 *   MOBILESAM_INT8  8-bit weights (per output channel) and activations
 *                   (per row), 32-bit integer sums, float32 epilogues
 *                   (needs AVX512-VNNI or AVX-VNNI; on AArch64 the
 *                   ARMv8.2 dot-product instructions), and the
 *                   decoder's per-prompt attention scores against the
 *                   image tokens in int8 too; the layers that
 *                   lose too much in int8 (the encoder's neck, the
 *                   decoder's up-scaling and its per-image projections)
 *                   and the window attention's two products, and the
 *                   decoder's per-prompt sums of the image tokens
 *                   weighted by attention and its per-prompt update of
 *                   the image tokens, run in
 *                   bfloat16 on CPUs whose bf16 dot products are fast
 *                   (taken to be those with AVX512-BF16 but not
 *                   AVX512-FP16, as AMD's Zen 4/5; measured on Zen 5),
 *                   float32 elsewhere; TinyViT's first patch
 *                   convolution (27 products per output) stays
 *                   float32, which runs it faster.
 * Element-wise work (bias, GELU, LayerNorm, softmax, residuals) stays
 * float32 in every precision (under int8, the positional encoding that
 * the decoder adds to the image tokens before their scores are quantized
 * is kept in bfloat16). */
typedef enum {
    MOBILESAM_FP32 = 0,
    MOBILESAM_FP16 = 1,
    MOBILESAM_INT8 = 2
} mobilesam_precision;

/* "fp32", "fp16", "int8" (NULL for a value outside the enum). */
const char *mobilesam_precision_name(mobilesam_precision p);
/* Parses one of those names: 0, or -1 when the text is none of them. */
int mobilesam_precision_parse(const char *text, mobilesam_precision *out);
/* The precision this CPU runs when asked for `wanted`: itself when the CPU
 * has the instructions, else the nearest one it has (fp16 -> fp32;
 * int8 -> fp32), which meets the wanted precision's tolerances. */
mobilesam_precision mobilesam_precision_supported(mobilesam_precision wanted);
/* Switches a model to mobilesam_precision_supported(wanted); quantized
 * weights are made (once, kept until mobilesam_free) on the first switch.
 * Not to be called while another thread uses the model. Writes the
 * precision now in use to *used when non-NULL. Fails only when out of
 * memory (the model then keeps its previous precision). */
mobilesam_status mobilesam_set_precision(mobilesam_model *model, mobilesam_precision wanted,
                                         mobilesam_precision *used, mobilesam_error *err);
mobilesam_precision mobilesam_get_precision(const mobilesam_model *model);

/* Identity of the weights (16 hex digits of the file checksum); stored with
 * saved embeddings so that a mismatched weights file is refused. */
const char *mobilesam_model_id(const mobilesam_model *model);

/* The image encoder the weights hold: "vit_t" (MobileSAM), or SAM's
 * "vit_b", "vit_l", "vit_h" ("sam_vit" for another ViT shape). */
const char *mobilesam_model_type(const mobilesam_model *model);

/* Encodes an RGB uint8 image (row-major, 3 bytes per pixel, no padding). */
mobilesam_status mobilesam_encode(mobilesam_model *model, const uint8_t *rgb,
                                  int width, int height,
                                  mobilesam_embedding **out,
                                  mobilesam_error *err);

/* Rebuilds an embedding from saved data: `chw` is (256, 64, 64) float32,
 * for an original image of width x height. The data is copied. */
mobilesam_status mobilesam_embedding_from_data(const mobilesam_model *model,
                                               const float *chw, int width,
                                               int height,
                                               mobilesam_embedding **out,
                                               mobilesam_error *err);
/* Copies the embedding out as (256, 64, 64) float32 (CHW, 1 MiB). */
void mobilesam_embedding_data(const mobilesam_embedding *emb, float *chw);
void mobilesam_embedding_size(const mobilesam_embedding *emb, int *width,
                              int *height, int *resized_w, int *resized_h);
void mobilesam_embedding_free(mobilesam_embedding *emb); /* NULL is a no-op */
/* Bytes of memory an embedding holds (the embedding itself and the
 * decoder's per-image work kept with it: about 18 MiB), for callers that
 * keep many, to bound their cache. */
size_t mobilesam_embedding_bytes(const mobilesam_embedding *emb);
/* The precision of the encode that made the embedding (an embedding built
 * by mobilesam_embedding_from_data has the one given to
 * mobilesam_embedding_set_precision, fp32 until then). */
mobilesam_precision mobilesam_embedding_precision(const mobilesam_embedding *emb);
void mobilesam_embedding_set_precision(mobilesam_embedding *emb, mobilesam_precision p);

/* One object, like SamPredictor.predict(). Coordinates are pixels of the
 * original image. labels: 1 foreground, 0 background. */
typedef struct {
    const float *points;     /* n_points * (x, y), may be NULL if n_points 0 */
    const int *labels;       /* n_points */
    int n_points;
    const float *box;        /* (x0, y0, x1, y1) or NULL */
    const float *mask_input; /* 256*256 low-res logits or NULL */
    int multimask;           /* 0: 1 mask (token 0); 1: 3 masks (tokens 1..3) */
} mobilesam_prompt;

typedef struct {
    int n_masks;          /* 1 or 3, model order */
    float scores[3];      /* predicted IoU per mask */
    float *lowres_logits; /* n_masks * 256 * 256 */
    uint8_t *masks;       /* n_masks * height * width, 0 or 255, original size */
    int width, height;
} mobilesam_result;

/* Predicts masks for n_prompts objects against one embedding. results must
 * point to n_prompts structs; on success each is filled and must be released
 * with mobilesam_result_free(). Prompts are validated first (points and box
 * inside the image, x1 >= x0, y1 >= y0, labels 0/1, at least one point or a
 * box); on error nothing is allocated. */
mobilesam_status mobilesam_predict(mobilesam_model *model,
                                   const mobilesam_embedding *emb,
                                   const mobilesam_prompt *prompts,
                                   int n_prompts, mobilesam_result *results,
                                   mobilesam_error *err);
void mobilesam_result_free(mobilesam_result *result); /* NULL is a no-op */

/* Decodes n_points single foreground points (original-image pixels) with
 * multimask output, without mask up-sampling: writes n_points * 3 scores
 * and the n_points * 3 * 256 * 256 low-res logits (tokens 1..3, model
 * order) of the masks scored > skip_below (pass -INFINITY for all; planes
 * of the others are left untouched, which saves the mask head's work when
 * a caller filters on the score anyway). */
mobilesam_status mobilesam_predict_logits(mobilesam_model *model,
                                          const mobilesam_embedding *emb,
                                          const float *points_xy, int n_points,
                                          float skip_below, float *logits3,
                                          float *scores3, mobilesam_error *err);
/* Sam.postprocess_masks of one 256x256 logit plane to float logits at the
 * embedding's original size (width * height floats). Fails only when out of
 * memory. */
mobilesam_status mobilesam_upscale_logits(const mobilesam_embedding *emb,
                                          const float *lowres, float *out);

/* ------------------------------------------------------------------------
 * Segment everything: the official SamAutomaticMaskGenerator
 * (mobile_sam/automatic_mask_generator.py), same defaults and options.
 */
typedef struct {
    int points_per_side;            /* 32: grid of n x n points per crop */
    int points_per_batch;           /* 64: points decoded together */
    float pred_iou_thresh;          /* 0.88 */
    float stability_score_thresh;   /* 0.95 */
    float stability_score_offset;   /* 1.0 */
    float box_nms_thresh;           /* 0.7 */
    int crop_n_layers;              /* 0 */
    float crop_nms_thresh;          /* 0.7 */
    float crop_overlap_ratio;       /* 512 / 1500 */
    int crop_n_points_downscale_factor; /* 1 */
    int min_mask_region_area;       /* 0 */
    /* Optional progress callback: done / total units of work. */
    void (*progress)(int done, int total, void *ctx);
    void *progress_ctx;
} mobilesam_amg_options;

typedef struct {
    uint8_t *mask;        /* height * width, 0 or 255 */
    int area;             /* pixels in the mask */
    int bbox[4];          /* x, y, w, h */
    float predicted_iou;
    float point[2];       /* the grid point that produced it (x, y) */
    float stability_score;
    int crop_box[4];      /* x, y, w, h */
} mobilesam_amg_mask;

typedef struct {
    int n;
    mobilesam_amg_mask *masks;
    int width, height;
} mobilesam_amg_result;

void mobilesam_amg_defaults(mobilesam_amg_options *opt);
/* Runs the generator on an RGB image (encodes the image and each crop).
 * Masks come in the official output order. */
mobilesam_status mobilesam_generate(mobilesam_model *model, const uint8_t *rgb,
                                    int width, int height,
                                    const mobilesam_amg_options *opt,
                                    mobilesam_amg_result *out,
                                    mobilesam_error *err);
void mobilesam_amg_result_free(mobilesam_amg_result *res);

/* COCO uncompressed RLE of a 0/nonzero mask (column-major runs starting with
 * a run of zeros, as pycocotools / the official mask_to_rle_pytorch).
 * Returns the number of counts written to *counts (malloc'd), or -1. */
int mobilesam_mask_to_rle(const uint8_t *mask, int width, int height, int **counts);

/* Milliseconds spent by the last encode (pre-processing, encoder) and the
 * last predict (decoder, post-processing included) on this model. */
typedef struct {
    double preprocess_ms;
    double encoder_ms;
    double decoder_ms;
} mobilesam_timing;
void mobilesam_last_timing(const mobilesam_model *model, mobilesam_timing *t);

#ifdef __cplusplus
}
#endif
#endif
