/*
 * amgopts.h - the segment-everything options (mobilesam_amg_options) by
 * name, with their ranges, for every front end: `everything` and `batch`
 * take them as --points-per-side ... (cli/amgargs.c), the server as JSON
 * keys points_per_side ... . Ranges follow the official generator's
 * documentation (thresholds in [0, 1]) and the limits of mobilesam_generate.
 */
#ifndef MOBILESAM_FORMAT_AMGOPTS_H
#define MOBILESAM_FORMAT_AMGOPTS_H

#include "mobilesam.h"

#define AMGOPTS_N 11

typedef struct {
    const char *name;  /* dashed, as a flag: "points-per-side" */
    const char *key;   /* underscored, as the official keyword: "points_per_side" */
    int is_int;
    double lo, hi;
    int open_hi;       /* the range is [lo, hi) */
} amgopt_info;

extern const amgopt_info amgopts[AMGOPTS_N];

/* 1 when v is in option i's range (and whole, for an integer option). */
int amgopt_in_range(int i, double v);
/* Stores v (checked with amgopt_in_range) as option i. */
void amgopt_set(mobilesam_amg_options *o, int i, double v);
/* The index of the option with this key (or dashed name), or -1. */
int amgopt_find(const char *key);

#endif
