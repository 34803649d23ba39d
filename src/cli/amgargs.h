/*
 * amgargs.h - the segment-everything options (mobilesam_amg_options),
 * shared by `mobilesam everything` and `mobilesam batch --everything` so
 * that both take the same flags with the same checks. A command lists
 * AMGARGS_OPTIONS(base) in its args_option table and hands every option
 * whose id is in [base, base + AMGARGS_N) to amgargs_take().
 */
#ifndef MOBILESAM_CLI_AMGARGS_H
#define MOBILESAM_CLI_AMGARGS_H

#include "mobilesam.h"

#define AMGARGS_N 11

/* clang-format off */
#define AMGARGS_OPTIONS(base)                                     \
    {"points-per-side", 0, 1, (base) + 0},                        \
    {"points-per-batch", 0, 1, (base) + 1},                       \
    {"pred-iou-thresh", 0, 1, (base) + 2},                        \
    {"stability-score-thresh", 0, 1, (base) + 3},                 \
    {"stability-score-offset", 0, 1, (base) + 4},                 \
    {"box-nms-thresh", 0, 1, (base) + 5},                         \
    {"crop-n-layers", 0, 1, (base) + 6},                          \
    {"crop-nms-thresh", 0, 1, (base) + 7},                        \
    {"crop-overlap-ratio", 0, 1, (base) + 8},                     \
    {"crop-n-points-downscale-factor", 0, 1, (base) + 9},         \
    {"min-mask-region-area", 0, 1, (base) + 10}

#define AMGARGS_HELP                                                         \
    "  --points-per-side N    grid of N x N points per crop (32; 1..1024)\n" \
    "  --points-per-batch N   points decoded together (64)\n"                \
    "  --pred-iou-thresh T    keep masks with predicted IoU > T (0.88;\n"    \
    "                         0..1, 0 keeps all)\n"                          \
    "  --stability-score-thresh T  keep masks with stability >= T (0.95;\n"  \
    "                         0..1, 0 keeps all)\n"                          \
    "  --stability-score-offset X  logit offset of the stability score (1)\n"\
    "  --box-nms-thresh T     box IoU above which duplicates go (0.7; 0..1)\n"\
    "  --crop-n-layers N      also run on 2^i x 2^i crops, i = 1..N (0; 0..6)\n"\
    "  --crop-nms-thresh T    duplicates between crops (0.7; 0..1)\n"        \
    "  --crop-overlap-ratio R overlap of crops (0.3413 = 512/1500; 0..<1)\n" \
    "  --crop-n-points-downscale-factor F  points per side / F^i in layer i\n"\
    "                         (1)\n"                                         \
    "  --min-mask-region-area A  remove islands and holes smaller than A\n"  \
    "                         pixels (0: off)\n"
/* clang-format on */

typedef struct {
    mobilesam_amg_options opt;
    unsigned given; /* bit i: option base + i seen */
} amg_args;

void amgargs_init(amg_args *a); /* mobilesam_amg_defaults */

/* Option `index` (its id minus base) with its value. Returns 0, or
 * CLI_USAGE_ERROR after printing the problem. */
int amgargs_take(amg_args *a, const char *cmd, int index, const char *value);

#endif
