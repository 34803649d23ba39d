/*
 * amg_utils.h - the pure stages of the automatic mask generator, each one
 * separately testable: what mobile_sam/utils/amg.py does plus the pieces of
 * torchvision (batched_nms) and OpenCV (connectedComponentsWithStats) it
 * calls, and the fused logit up-scaler the generator streams masks through.
 *
 * Nothing here knows the network. Conventions follow the official code:
 *   - boxes are XYXY ints; a mask's box is INCLUSIVE (x1, y1 are the last
 *     set column / row), [0, 0, 0, 0] for an empty mask; crop boxes are
 *     exclusive ([x0, y0, x1, y1) like the slice image[y0:y1, x0:x1]);
 *   - masks are uint8 row-major, any nonzero value is "set";
 *   - "runs" are the generator's internal mask encoding (row-major runs of
 *     set pixels, see amg_runs); COCO RLE (column-major) is only produced
 *     for output (amg_mask_to_rle).
 */
#ifndef MOBILESAM_AMG_UTILS_H
#define MOBILESAM_AMG_UTILS_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- grids */

/* build_point_grid: n*n points (x, y) in [0,1]^2, x fastest, with the
 * coordinates numpy.linspace(1/(2n), 1 - 1/(2n), n) gives, i.e. (i+0.5)/n
 * up to rounding. xy holds 2*n*n doubles. n <= 0 writes nothing. */
void amg_build_point_grid(int n, double *xy);

/* build_all_layer_point_grids: points per side of crop layer `layer`,
 * int(n_per_side / scale**layer). */
int amg_layer_points_per_side(int n_per_side, int layer, int scale);

/* ----------------------------------------------------------- crop boxes */

/* Number of boxes generate_crop_boxes makes: 1 + sum_i (2^(i+1))^2. */
int amg_crop_box_count(int n_layers);

/* generate_crop_boxes for a w x h image: boxes (4 ints each, XYXY,
 * exclusive) and their layer indices, in the official order (the full image
 * first, then per layer every x0 with every y0, x0 outer). boxes holds
 * 4 * amg_crop_box_count(n_layers) ints. Returns the count. */
int amg_generate_crop_boxes(int w, int h, int n_layers, double overlap_ratio,
                            int *boxes, int *layer_idx);

/* ------------------------------------------------------ stability score */

/* Counts of row[i] > hi and row[i] > lo over one row of n logits. */
void amg_count_row(const float *row, int n, float hi, float lo, int *n_hi,
                   int *n_lo);
/* The same, and bin[i] = row[i] > thr (0/1) and their count n_set, in the
 * same pass. */
void amg_count_binarise_row(const float *row, int n, float hi, float lo,
                            float thr, uint8_t *bin, int *n_hi, int *n_lo,
                            int *n_set);

/* Packs n 0/1 bytes into (n+7)/8 bytes, pixel x in bit x%8 of byte x/8
 * (the generator's compact form of fragmented masks); and back, writing
 * `on` for set pixels. */
void amg_pack_row(const uint8_t *bin, int n, uint8_t *bits);
void amg_unpack_row(const uint8_t *bits, int n, uint8_t *out, uint8_t on);

/* calculate_stability_score for one w x h plane of float logits:
 * area(logit > thr + offset) / area(logit > thr - offset), with the official
 * integer arithmetic (per-row int16 sums, int32 totals, float32 division;
 * 0 / 0 gives NaN as in torch). */
float amg_stability_score(const float *logits, int w, int h,
                          float mask_threshold, float offset);

/* ---------------------------------------------------- boxes and uncrop */

/* batched_mask_to_box for one mask: XYXY inclusive, [0,0,0,0] if empty. */
void amg_mask_to_box(const uint8_t *mask, int w, int h, int box[4]);

/* is_box_near_crop_edge for one box given in the CROP frame: uncrops it,
 * then true when some coordinate is within atol of the crop box's but not
 * within atol of the original image box's (torch.isclose, rtol 0). */
int amg_box_near_crop_edge(const int box[4], const int crop_box[4],
                           const int orig_box[4], float atol);

void amg_uncrop_box(const int box[4], const int crop_box[4], int out[4]);
void amg_uncrop_point(const double pt[2], const int crop_box[4], double out[2]);
/* uncrop_masks: pads a (y1-y0) x (x1-x0) crop mask with zeros to W x H. */
void amg_uncrop_mask(const uint8_t *mask, const int crop_box[4], int W, int H,
                     uint8_t *out);

/* box_xyxy_to_xywh (w = x1 - x0: for an inclusive mask box this is one
 * less than the pixel width, exactly as the official records say). */
void amg_box_xyxy_to_xywh(const int in[4], int out[4]);

/* ------------------------------------------------------------------ NMS */

/* torchvision.ops.batched_nms: boxes (n * 4 floats, XYXY), scores, integer
 * categories (NULL: all one category). A box is suppressed by a kept box of
 * the same category with IoU > thr, IoU = inter / (area_i + area_j - inter)
 * in float32 with area = (x1-x0)*(y1-y0) (zero-area pairs give NaN and never
 * suppress). Writes the kept indices to keep in decreasing score order and
 * returns their count, or -1 when out of memory.
 * Ties: torchvision sorts the scores with torch.sort(descending=True),
 * which does not promise an order among equal scores (and batched_nms
 * re-sorts the kept boxes the same way above 1000 boxes); we use a stable
 * order: equal scores keep increasing index. This matters for the
 * cross-crop NMS (all masks of a crop share the score 1/area) and the
 * clean-up NMS (scores 0 / 1), where it keeps the previous order. NaN
 * scores sort first, as in torch. */
int amg_batched_nms(const float *boxes, const float *scores, const int *cats,
                    int n, double thr, int *keep);

/* ------------------------------------------------------------------ RLE */

/* mask_to_rle_pytorch: COCO uncompressed RLE, column-major, the first count
 * is a run of zeros (0 when the first pixel is set). Returns the number of
 * counts (malloc'd into *counts) or -1 (bad size / out of memory). */
int amg_mask_to_rle(const uint8_t *mask, int w, int h, int **counts);
/* area_from_rle: sum of the odd-position counts. */
long long amg_rle_area(const int *counts, int n);

/* ----------------------------------------------------------------- runs */

/* Row-major runs of set pixels of a W x H mask: v[2k] = y*W + x of the
 * run's first pixel, v[2k+1] its length. Sorted, never crossing a row end,
 * never adjacent within a row. */
typedef struct {
    uint32_t *v;
    int n, cap;
} amg_runs;

void amg_runs_free(amg_runs *r);
int amg_runs_push(amg_runs *r, uint32_t start, uint32_t len); /* 0 or -1 */
/* Appends the runs of one row of n 0/1 bytes whose first pixel is at
 * index base. 0 or -1. */
int amg_runs_push_row(amg_runs *r, const uint8_t *bin, int n, uint32_t base);
int amg_runs_from_mask(const uint8_t *mask, int w, int h, amg_runs *r);
/* Writes an npix-byte mask: `on` where set, 0 elsewhere. */
void amg_runs_to_mask(const amg_runs *r, uint8_t *mask, size_t npix, uint8_t on);
long long amg_runs_area(const amg_runs *r);
/* The mask's XYXY inclusive box, [0,0,0,0] if empty. */
void amg_runs_box(const amg_runs *r, int W, int box[4]);

/* -------------------------------------------------- small-region removal */

enum { AMG_HOLES = 0, AMG_ISLANDS = 1 };

/* remove_small_regions on runs (see the bitmap version). On change, out
 * receives the new runs (it must be empty) and 1 is returned; 0 when
 * unchanged (out untouched); -1 when out of memory. */
int amg_runs_remove_small_regions(const amg_runs *in, int W, int H,
                                  double area_thresh, int mode, amg_runs *out);

/* remove_small_regions (official): connected components with
 * 8-connectivity of the mask (AMG_ISLANDS) or of its complement
 * (AMG_HOLES). Holes: complement components smaller than area_thresh are
 * filled. Islands: components smaller than area_thresh are removed; if all
 * are, the largest one is kept (the first in OpenCV's label order on ties).
 * "Changed" means some component was small, as in the official code (so an
 * island-only mask whose single component is small reports a change while
 * staying the same). The mask is rewritten in place with 0/1 when changed.
 * Returns 1 changed, 0 unchanged, -1 out of memory. */
int amg_remove_small_regions(uint8_t *mask, int w, int h, double area_thresh,
                             int mode);

/* ------------------------------------------------ fused logit up-scaler */

/* Sam.postprocess_masks of one 256x256 plane (bilinear to 1024x1024, crop
 * to rh x rw, bilinear to h x w, torch align_corners=False, float32) without
 * materialising the 1024x1024 or h x w planes: output rows are produced one
 * at a time, bit-identical to two ops_resize_bilinear calls (same float
 * operations in the same order: each source row is interpolated
 * horizontally once and reused by the output rows that need it). */
typedef struct {
    int rw, rh, w, h;
    int *c1i0, *c1i1, *r1i0, *r1i1, *c2i0, *c2i1, *r2i0, *r2i1;
    float *c1w0, *c1w1, *r1w0, *r1w1, *c2w0, *c2w1, *r2w0, *r2w1;
    void *mem;
} amg_upscale_plan;

int amg_upscale_plan_init(amg_upscale_plan *p, int rw, int rh, int w, int h);
void amg_upscale_plan_free(amg_upscale_plan *p);
/* Floats of scratch one amg_upscale_rows call needs (per thread). */
size_t amg_upscale_scratch_floats(const amg_upscale_plan *p);
typedef void (*amg_row_fn)(int y, const float *row, void *ctx);
/* Calls fn(y, row, ctx) for y = 0..h-1 in order; row holds w floats and is
 * only valid during the call. */
void amg_upscale_rows(const amg_upscale_plan *p, const float *lowres,
                      float *scratch, amg_row_fn fn, void *ctx);

#endif
