/*
 * cmd_compare.c - `mobilesam compare`: the intersection over union of two
 * binary masks of the same size, for checking a mask against a reference
 * (the fixture's PNGs, or another engine's output) from scripts. Any image
 * the other commands read is accepted; it is converted to one gray channel
 * and a pixel belongs to the mask when its value is above 127.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "imgfile.h"
#include "format/output.h"

#define CMD "compare"

/* clang-format off */
static const char usage_text[] =
    "usage: mobilesam compare A.png B.png [options]\n"
    "\n"
    "Prints the IoU (intersection over union) of two masks of the same size,\n"
    "and their areas. A pixel is in a mask when its gray value is above 127.\n"
    "Two empty masks have an IoU of 1.\n"
    "\n"
    "options:\n"
    "  --min-iou T            exit 1 when the IoU is below T (0 to 1)\n"
    "  --json                 print {\"iou\", \"area_a\", \"area_b\",\n"
    "                         \"intersection\", \"union\", \"width\", \"height\"}\n"
    CLI_MAX_PIXELS_HELP
    "  -h, --help             this help\n"
    "\n"
    "Exit status: 0 done (IoU >= T), 1 IoU below T or unreadable masks,\n"
    "2 bad command line.\n";
/* clang-format on */

enum { OPT_HELP = 1, OPT_MIN_IOU, OPT_JSON, OPT_MAX_PIXELS, OPT_COUNT };

static const args_option options[] = {{"help", 'h', 0, OPT_HELP},
                                      {"min-iou", 0, 1, OPT_MIN_IOU},
                                      {"json", 0, 0, OPT_JSON},
                                      {"max-pixels", 0, 1, OPT_MAX_PIXELS},
                                      {NULL, 0, 0, 0}};

typedef struct {
    const char *mask[2];
    const char *value[OPT_COUNT];
    int given[OPT_COUNT];
    double min_iou;
} compare_args;

typedef struct {
    unsigned char *gray; /* width * height */
    int width, height;
} mask_image;

/* Returns 0 to go on, -1 when --help was printed, or CLI_USAGE_ERROR. */
static int parse_args(compare_args *a, int argc, char **argv)
{
    const args_spec spec = {.cmd = CMD,
                            .options = options,
                            .help_id = OPT_HELP,
                            .usage = usage_text,
                            .positional = a->mask,
                            .n_positional = 2,
                            .value = a->value,
                            .given = a->given};
    int rc = args_run(&spec, argc, argv);
    if (rc)
        return rc;
    if (!a->mask[1]) /* filled in order */
        return cli_usage(CMD, "expected two masks A and B, got %d",
                         a->mask[0] ? 1 : 0);
    if (cli_set_max_pixels(CMD, a->value[OPT_MAX_PIXELS]))
        return CLI_USAGE_ERROR;
    const char *t = a->value[OPT_MIN_IOU];
    float syntax;
    if (!t)
        return 0;
    /* Kept as a double: "--min-iou 0.3" must accept an IoU of exactly 3/10,
     * which the float 0.3f (a hair above) would not. */
    if (args_parse_float(t, &syntax) ||
        (a->min_iou = strtod(t, NULL)) < 0.0 || a->min_iou > 1.0)
        return cli_usage(CMD, "--min-iou: expected a number from 0 to 1, "
                              "got '%s'",
                         t);
    return 0;
}

/* Decodes to one gray channel through the loader of the input images of the
 * other commands (its checks, its guards against files that crash or hang
 * stb_image, --max-pixels), then stb's own RGB-to-gray formula, the one
 * stbi_load(..., 1) applies: gray images keep their values. Returns 0, or -1
 * after printing an error. */
static int load_mask(const char *path, mask_image *m)
{
    msam_image img;
    if (cli_image_load(path, &img) != 0)
        return -1;
    size_t n = (size_t)img.width * (size_t)img.height;
    m->gray = malloc(n ? n : 1);
    if (!m->gray) {
        image_free(&img);
        report_file_error(path, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = img.rgb + 3 * i;
        m->gray[i] = (unsigned char)((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8);
    }
    m->width = img.width;
    m->height = img.height;
    image_free(&img);
    return 0;
}

static int report(const compare_args *a, const mask_image *m, long long area_a,
                  long long area_b, long long inter)
{
    long long uni = area_a + area_b - inter;
    double iou = uni ? (double)inter / (double)uni : 1.0;
    if (a->given[OPT_JSON]) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "iou", iou);
        cJSON_AddNumberToObject(o, "area_a", (double)area_a);
        cJSON_AddNumberToObject(o, "area_b", (double)area_b);
        cJSON_AddNumberToObject(o, "intersection", (double)inter);
        cJSON_AddNumberToObject(o, "union", (double)uni);
        cJSON_AddNumberToObject(o, "width", m->width);
        cJSON_AddNumberToObject(o, "height", m->height);
        if (out_print_json_line(CMD, o))
            return CLI_DATA_ERROR;
    } else {
        printf("iou %.9g\narea_a %lld\narea_b %lld\nintersection %lld\n"
               "union %lld\n",
               iou, area_a, area_b, inter, uni);
    }
    if (out_flush_results(CMD))
        return CLI_DATA_ERROR;
    if (a->value[OPT_MIN_IOU] && iou < a->min_iou) {
        report_cmd_error(CMD, "IoU %.9g of %s and %s is below --min-iou %s",
                      iou, a->mask[0], a->mask[1], a->value[OPT_MIN_IOU]);
        return CLI_DATA_ERROR;
    }
    return CLI_OK;
}

static int run(const compare_args *a)
{
    mask_image m[2] = {{NULL, 0, 0}, {NULL, 0, 0}};
    int rc = CLI_DATA_ERROR;
    if (load_mask(a->mask[0], &m[0]) != 0 || load_mask(a->mask[1], &m[1]) != 0)
        goto done;
    if (m[0].width != m[1].width || m[0].height != m[1].height) {
        report_cmd_error(CMD, "%s is %dx%d but %s is %dx%d: the masks must have "
                           "the same size",
                      a->mask[0], m[0].width, m[0].height, a->mask[1],
                      m[1].width, m[1].height);
        goto done;
    }
    long long area_a = 0, area_b = 0, inter = 0;
    size_t n = (size_t)m[0].width * (size_t)m[0].height;
    for (size_t i = 0; i < n; i++) {
        int in_a = m[0].gray[i] > 127, in_b = m[1].gray[i] > 127;
        area_a += in_a;
        area_b += in_b;
        inter += in_a & in_b;
    }
    rc = report(a, &m[0], area_a, area_b, inter);
done:
    free(m[0].gray);
    free(m[1].gray);
    return rc;
}

int cmd_compare_parse(int argc, char **argv)
{
    compare_args a;
    memset(&a, 0, sizeof a);
    return parse_args(&a, argc, argv);
}

int cmd_compare(int argc, char **argv)
{
    compare_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc < 0)
        return CLI_OK;
    return rc ? rc : run(&a);
}
