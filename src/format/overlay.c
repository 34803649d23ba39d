/*
 * overlay.c - see overlay.h. Sizes of discs and lines follow the image size
 * so that prompts stay visible on large photos.
 */
#include "format/overlay.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *rgb;
    int w, h;
} canvas;

/* Well-separated hues (Tableau 10), cycled when there are more masks. */
static const uint8_t palette[][3] = {
    {31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
    {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
    {188, 189, 34},  {23, 190, 207}};
#define PALETTE_N ((int)(sizeof palette / sizeof palette[0]))

static const uint8_t *colour(int index)
{
    return palette[index % PALETTE_N];
}

static void put(canvas *c, int x, int y, const uint8_t *col)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    memcpy(c->rgb + 3 * ((size_t)y * c->w + x), col, 3);
}

static void blend_mask(canvas *c, const uint8_t *mask, const uint8_t *col)
{
    size_t n = (size_t)c->w * c->h;
    for (size_t i = 0; i < n; i++) {
        if (!mask[i])
            continue;
        uint8_t *px = c->rgb + 3 * i;
        for (int k = 0; k < 3; k++)
            px[k] = (uint8_t)((px[k] + col[k] + 1) / 2);
    }
}

static void fill_disc(canvas *c, float cx, float cy, float r,
                      const uint8_t *col)
{
    int x0 = (int)floorf(cx - r), x1 = (int)ceilf(cx + r);
    int y0 = (int)floorf(cy - r), y1 = (int)ceilf(cy + r);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float dx = (float)x + 0.5f - cx, dy = (float)y + 0.5f - cy;
            if (dx * dx + dy * dy <= r * r)
                put(c, x, y, col);
        }
}

static void fill_rect(canvas *c, int x0, int y0, int x1, int y1,
                      const uint8_t *col)
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            put(c, x, y, col);
}

static void draw_box(canvas *c, const float *box, int t, const uint8_t *col)
{
    int x0 = (int)floorf(box[0]), y0 = (int)floorf(box[1]);
    int x1 = (int)floorf(box[2]), y1 = (int)floorf(box[3]);
    fill_rect(c, x0, y0, x1, y0 + t - 1, col);
    fill_rect(c, x0, y1 - t + 1, x1, y1, col);
    fill_rect(c, x0, y0, x0 + t - 1, y1, col);
    fill_rect(c, x1 - t + 1, y0, x1, y1, col);
}

static void draw_points(canvas *c, const prompt_object *o, float r)
{
    static const uint8_t white[3] = {255, 255, 255};
    static const uint8_t green[3] = {0, 200, 0}, red[3] = {230, 0, 0};
    for (int i = 0; i < o->n_points; i++) {
        float x = o->points[2 * i], y = o->points[2 * i + 1];
        fill_disc(c, x, y, r + fmaxf(1.0f, r / 4), white);
        fill_disc(c, x, y, r, o->labels[i] ? green : red);
    }
}

uint8_t *overlay_render(const msam_image *img, const prompt_set *prompts,
                        const mobilesam_result *results)
{
    size_t bytes = (size_t)img->width * img->height * 3;
    canvas c = {malloc(bytes), img->width, img->height};
    if (!c.rgb)
        return NULL;
    memcpy(c.rgb, img->rgb, bytes);
    int longest = img->width > img->height ? img->width : img->height;
    float radius = fmaxf(3.0f, (float)longest / 160.0f);
    int thickness = longest / 400 > 2 ? longest / 400 : 2;
    size_t plane = (size_t)img->width * img->height;
    int k = 0; /* colour index: object-major, mask-minor */
    for (int o = 0; o < prompts->n; o++) {
        const mobilesam_result *r = &results[o];
        const uint8_t *object_colour = colour(k);
        for (int m = 0; m < r->n_masks; m++, k++)
            blend_mask(&c, r->masks + (size_t)m * plane, colour(k));
        if (prompts->objects[o].has_box)
            draw_box(&c, prompts->objects[o].box, thickness, object_colour);
    }
    for (int o = 0; o < prompts->n; o++)
        draw_points(&c, &prompts->objects[o], radius);
    return c.rgb;
}

/* Mask order for drawing: largest area first (official show_anns). */
typedef struct {
    long area;
    int index;
} mask_order;

static int by_area_desc(const void *a, const void *b)
{
    const mask_order *x = a, *y = b;
    if (x->area != y->area)
        return x->area < y->area ? 1 : -1;
    return x->index - y->index;
}

uint8_t *overlay_render_amg(const msam_image *img,
                            const mobilesam_amg_result *res)
{
    int n = res->n;
    size_t plane = (size_t)img->width * img->height;
    canvas c = {malloc(plane * 3), img->width, img->height};
    mask_order *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    if (!c.rgb || !order) {
        free(c.rgb);
        free(order);
        return NULL;
    }
    memcpy(c.rgb, img->rgb, plane * 3);
    for (int i = 0; i < n; i++) {
        order[i].index = i;
        order[i].area = 0;
        for (size_t p = 0; p < plane; p++)
            order[i].area += res->masks[i].mask[p] != 0;
    }
    qsort(order, (size_t)n, sizeof *order, by_area_desc);
    for (int i = 0; i < n; i++)
        blend_mask(&c, res->masks[order[i].index].mask,
                   colour(order[i].index));
    free(order);
    return c.rgb;
}
