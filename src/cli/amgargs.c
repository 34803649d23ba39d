/*
 * amgargs.c - see amgargs.h. Ranges follow the official generator's
 * documentation (thresholds in [0, 1]) and the limits of mobilesam_generate.
 */
#include "amgargs.h"

#include <limits.h>

#include "args.h"
#include "common.h"

static const char *const names[AMGARGS_N] = {
    "points-per-side",        "points-per-batch",
    "pred-iou-thresh",        "stability-score-thresh",
    "stability-score-offset", "box-nms-thresh",
    "crop-n-layers",          "crop-nms-thresh",
    "crop-overlap-ratio",     "crop-n-points-downscale-factor",
    "min-mask-region-area"};

void amgargs_init(amg_args *a)
{
    mobilesam_amg_defaults(&a->opt);
    a->given = 0;
}

static int take_int(const char *cmd, const char *name, const char *value,
                    long lo, long hi, int *out)
{
    long v;
    if (args_parse_int(value, lo, hi, &v))
        return cli_usage(cmd, "--%s: expected an integer in %ld..%ld, got '%s'",
                         name, lo, hi, value);
    *out = (int)v;
    return 0;
}

/* A float in [lo, hi] (or [lo, hi) when open_hi). */
static int take_float(const char *cmd, const char *name, const char *value,
                      float lo, float hi, int open_hi, float *out)
{
    float v;
    if (args_parse_float(value, &v) || v < lo || v > hi ||
        (open_hi && v == hi))
        return cli_usage(cmd, "--%s: expected a number in [%g, %g%c, got '%s'",
                         name, (double)lo, (double)hi, open_hi ? ')' : ']',
                         value);
    *out = v;
    return 0;
}

int amgargs_take(amg_args *a, const char *cmd, int index, const char *value)
{
    if (index < 0 || index >= AMGARGS_N)
        return cli_usage(cmd, "internal error: bad option index");
    const char *name = names[index];
    if (a->given & (1u << index))
        return cli_usage(cmd, "option '--%s' given twice", name);
    a->given |= 1u << index;
    mobilesam_amg_options *o = &a->opt;
    switch (index) {
    case 0:
        return take_int(cmd, name, value, 1, 1024, &o->points_per_side);
    case 1:
        return take_int(cmd, name, value, 1, 1 << 16, &o->points_per_batch);
    case 2:
        return take_float(cmd, name, value, 0, 1, 0, &o->pred_iou_thresh);
    case 3:
        return take_float(cmd, name, value, 0, 1, 0,
                          &o->stability_score_thresh);
    case 4:
        return take_float(cmd, name, value, 0, 1000, 0,
                          &o->stability_score_offset);
    case 5:
        return take_float(cmd, name, value, 0, 1, 0, &o->box_nms_thresh);
    case 6:
        return take_int(cmd, name, value, 0, 6, &o->crop_n_layers);
    case 7:
        return take_float(cmd, name, value, 0, 1, 0, &o->crop_nms_thresh);
    case 8:
        return take_float(cmd, name, value, 0, 1, 1, &o->crop_overlap_ratio);
    case 9:
        return take_int(cmd, name, value, 1, 1024,
                        &o->crop_n_points_downscale_factor);
    default:
        return take_int(cmd, name, value, 0, INT_MAX,
                        &o->min_mask_region_area);
    }
}
