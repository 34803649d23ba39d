/*
 * amgopts.c - see amgopts.h.
 */
#include "format/amgopts.h"

#include <limits.h>
#include <math.h>
#include <string.h>

const amgopt_info amgopts[AMGOPTS_N] = {
    {"points-per-side", "points_per_side", 1, 1, 1024, 0},
    {"points-per-batch", "points_per_batch", 1, 1, 1 << 16, 0},
    {"pred-iou-thresh", "pred_iou_thresh", 0, 0, 1, 0},
    {"stability-score-thresh", "stability_score_thresh", 0, 0, 1, 0},
    {"stability-score-offset", "stability_score_offset", 0, 0, 1000, 0},
    {"box-nms-thresh", "box_nms_thresh", 0, 0, 1, 0},
    {"crop-n-layers", "crop_n_layers", 1, 0, 6, 0},
    {"crop-nms-thresh", "crop_nms_thresh", 0, 0, 1, 0},
    {"crop-overlap-ratio", "crop_overlap_ratio", 0, 0, 1, 1},
    {"crop-n-points-downscale-factor", "crop_n_points_downscale_factor", 1,
     1, 1024, 0},
    {"min-mask-region-area", "min_mask_region_area", 1, 0, INT_MAX, 0},
};

int amgopt_in_range(int i, double v)
{
    const amgopt_info *o = &amgopts[i];
    if (!isfinite(v) || v < o->lo || v > o->hi || (o->open_hi && v == o->hi))
        return 0;
    return !o->is_int || v == floor(v);
}

void amgopt_set(mobilesam_amg_options *o, int i, double v)
{
    switch (i) {
    case 0: o->points_per_side = (int)v; break;
    case 1: o->points_per_batch = (int)v; break;
    case 2: o->pred_iou_thresh = (float)v; break;
    case 3: o->stability_score_thresh = (float)v; break;
    case 4: o->stability_score_offset = (float)v; break;
    case 5: o->box_nms_thresh = (float)v; break;
    case 6: o->crop_n_layers = (int)v; break;
    case 7: o->crop_nms_thresh = (float)v; break;
    case 8: o->crop_overlap_ratio = (float)v; break;
    case 9: o->crop_n_points_downscale_factor = (int)v; break;
    default: o->min_mask_region_area = (int)v; break;
    }
}

int amgopt_find(const char *key)
{
    for (int i = 0; i < AMGOPTS_N; i++)
        if (!strcmp(key, amgopts[i].key) || !strcmp(key, amgopts[i].name))
            return i;
    return -1;
}
