/*
 * overlay.h - a picture of a segmentation for people: the masks blended
 * over the image (alpha 0.5, a distinct colour per object and mask), the
 * prompt points as discs (green foreground, red background) and the boxes
 * as rectangles in their object's colour.
 */
#ifndef MOBILESAM_FORMAT_OVERLAY_H
#define MOBILESAM_FORMAT_OVERLAY_H

#include <stdint.h>

#include "io/image.h"
#include "mobilesam.h"
#include "format/prompts.h"

/* Returns a new RGB buffer of the image's size (caller frees), or NULL when
 * out of memory. results holds one entry per object of `prompts`. */
uint8_t *overlay_render(const msam_image *img, const prompt_set *prompts,
                        const mobilesam_result *results);

/* The same blend for the masks of the automatic generator (segment
 * everything), no prompts: mask i in colour i, the largest drawn first so
 * that small ones stay visible (as the official show_anns). Returns a new
 * RGB buffer or NULL when out of memory. */
uint8_t *overlay_render_amg(const msam_image *img,
                            const mobilesam_amg_result *res);

#endif
