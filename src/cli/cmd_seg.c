/*
 * cmd_seg.c - `mobilesam seg`: masks for one object described by flags
 * (like SamPredictor.predict) or for several objects from a prompts file,
 * the image encoded once (or its embedding loaded from `mobilesam embed`).
 * Prompts are validated against the image size before the encoder runs;
 * outputs are all-or-nothing (output.h).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "args.h"
#include "format/coco.h"
#include "commands.h"
#include "common.h"
#include "format/embfile.h"
#include "imgfile.h"
#include "format/output.h"
#include "format/overlay.h"
#include "format/prompts.h"

#define CMD "seg"

/* clang-format off */
static const char usage_text[] =
    "usage: mobilesam seg IMAGE [options]\n"
    "\n"
    "Segments objects in IMAGE. The flags describe one object (like\n"
    "SamPredictor.predict); --prompts gives several, the image encoded once.\n"
    "Coordinates are pixels of the original image (floats allowed).\n"
    "\n"
    "prompt (one object):\n"
    "  --point X,Y            a point; repeat for more\n"
    "  --label 0|1            label of each point, in order (1 foreground,\n"
    "                         0 background); default: all 1\n"
    "  --box X0,Y0,X1,Y1      a box\n"
    "  --mask-input FILE.npy  low-res logits (256x256) of an earlier --logits\n"
    "prompts (several objects):\n"
    "  --prompts FILE.json    [{\"points\": [[x, y], ...], \"labels\": [1, ...],\n"
    "                           \"box\": [x0, y0, x1, y1],\n"
    "                           \"mask_input\": \"file.npy\"}, ...]\n"
    "                         (mask_input relative to the JSON file's directory)\n"
    "  --multimask            3 masks per object (model order) instead of 1\n"
    "\n"
    "outputs (at least one):\n"
    "  -o, --output OUT.png   the mask (0/255 grayscale); with several masks,\n"
    "                         OUT_<object>_<mask>.png beside it\n"
    "  --json FILE|-          scores, areas, boxes and file names as JSON\n"
    "  --logits FILE.npy      low-res logits, float32 (objects, masks, 256, 256)\n"
    "  --overlay OUT.png      the image with masks and prompts drawn\n"
    "\n"
    "other:\n"
    "  --embedding EMB.npy    use a saved embedding (mobilesam embed) instead\n"
    "                         of running the encoder\n"
    "  -w, --weights FILE     weight file (default: $MOBILESAM_WEIGHTS,\n"
    "                         weights/mobile_sam.msam here or beside the tool)\n"
    "  --threads N            threads (default: $MOBILESAM_THREADS or all cores)\n"
    CLI_PRECISION_HELP
    CLI_MAX_PIXELS_HELP
    "  -h, --help             this help\n";
/* clang-format on */

enum {
    OPT_HELP = 1,
    OPT_WEIGHTS,
    OPT_THREADS,
    OPT_PRECISION,
    OPT_POINT,
    OPT_LABEL,
    OPT_BOX,
    OPT_MASK_INPUT,
    OPT_MULTIMASK,
    OPT_PROMPTS,
    OPT_EMBEDDING,
    OPT_OUTPUT,
    OPT_JSON,
    OPT_LOGITS,
    OPT_OVERLAY,
    OPT_MAX_PIXELS,
    OPT_COUNT
};

static const args_option options[] = {{"help", 'h', 0, OPT_HELP},
                                      {"weights", 'w', 1, OPT_WEIGHTS},
                                      {"threads", 0, 1, OPT_THREADS},
                                      {"precision", 0, 1, OPT_PRECISION},
                                      {"point", 0, 1, OPT_POINT},
                                      {"label", 0, 1, OPT_LABEL},
                                      {"box", 0, 1, OPT_BOX},
                                      {"mask-input", 0, 1, OPT_MASK_INPUT},
                                      {"multimask", 0, 0, OPT_MULTIMASK},
                                      {"prompts", 0, 1, OPT_PROMPTS},
                                      {"embedding", 0, 1, OPT_EMBEDDING},
                                      {"output", 'o', 1, OPT_OUTPUT},
                                      {"json", 0, 1, OPT_JSON},
                                      {"logits", 0, 1, OPT_LOGITS},
                                      {"overlay", 0, 1, OPT_OVERLAY},
                                      {"max-pixels", 0, 1, OPT_MAX_PIXELS},
                                      {NULL, 0, 0, 0}};

static const int output_ids[] = {OPT_OUTPUT, OPT_JSON, OPT_LOGITS, OPT_OVERLAY};
#define N_OUTPUTS ((int)(sizeof output_ids / sizeof output_ids[0]))

typedef struct {
    const char *image;
    const char *value[OPT_COUNT]; /* single-valued options, by id */
    int given[OPT_COUNT];
    int threads;
    mobilesam_precision precision;
    int multimask;
    float *points; /* n_points (x, y) */
    int n_points;
    int *labels;
    int n_labels;
    float box[4];
} seg_args;

/* ---- command line ------------------------------------------------------ */

static int add_point(seg_args *a, const char *s)
{
    float xy[2];
    if (args_parse_floats(s, 2, xy))
        return cli_usage(CMD, "--point: expected X,Y, got '%s'", s);
    float *p = realloc(a->points, (size_t)(a->n_points + 1) * 2 * sizeof *p);
    if (!p)
        return cli_usage(CMD, "out of memory");
    a->points = p;
    memcpy(p + 2 * a->n_points++, xy, sizeof xy);
    return 0;
}

/* A label other than 0 or 1 is a command-line error here (exit 2); the same
 * in a --prompts file is bad data, found by prompts_validate (exit 1). */
static int add_label(seg_args *a, const char *s)
{
    long v;
    if (args_parse_int(s, 0, 1, &v))
        return cli_usage(CMD, "--label: expected 0 or 1, got '%s'", s);
    int *l = realloc(a->labels, (size_t)(a->n_labels + 1) * sizeof *l);
    if (!l)
        return cli_usage(CMD, "out of memory");
    a->labels = l;
    l[a->n_labels++] = (int)v;
    return 0;
}

static int take_option(const args_spec *s, int id, const char *value)
{
    seg_args *a = s->ctx;
    switch (id) {
    case OPT_POINT:
        return add_point(a, value);
    case OPT_LABEL:
        return add_label(a, value);
    case OPT_MULTIMASK:
        a->multimask = 1;
        return 0;
    case OPT_BOX:
        if (args_parse_floats(value, 4, a->box))
            return cli_usage(CMD, "--box: expected X0,Y0,X1,Y1, got '%s'",
                             value);
        break;
    }
    return args_store(s, id, value);
}

/* `in` without "." components and repeated slashes ("./x.png" is
 * "x.png"), into out[PATH_MAX], without touching the file system: ".." is
 * kept ("l/.." need not be "." when l is a symlink). The file-system
 * checks (check_files) come later. */
static void tidy_name(const char *in, char *out)
{
    size_t o = 0;
    if (*in == '/')
        out[o++] = '/';
    for (const char *p = in; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len && !(len == 1 && *p == '.') && o + len + 2 < PATH_MAX) {
            if (o && out[o - 1] != '/')
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    if (o && out[o - 1] != '/' && in[strlen(in) - 1] == '/')
        out[o++] = '/';
    out[o] = 0;
}

static int same_name(const char *a, const char *b)
{
    char x[PATH_MAX], y[PATH_MAX];
    tidy_name(a, x);
    tidy_name(b, y);
    return strcmp(x, y) == 0;
}

static int check_combination(seg_args *a)
{
    const char *const *v = a->value;
    int flags = a->n_points || a->n_labels || v[OPT_BOX] || v[OPT_MASK_INPUT];
    if (!a->image)
        return cli_usage(CMD, "missing IMAGE");
    if (v[OPT_PROMPTS] && flags)
        return cli_usage(CMD, "--prompts cannot be combined with --point, "
                              "--label, --box or --mask-input");
    if (!v[OPT_PROMPTS] && !a->n_points && !v[OPT_BOX])
        return cli_usage(CMD, "no prompt: give --point, --box or --prompts");
    if (a->n_labels && a->n_labels != a->n_points)
        return cli_usage(CMD, "%d label%s for %d point%s: give one --label "
                              "per --point, or none",
                         a->n_labels, a->n_labels == 1 ? "" : "s",
                         a->n_points, a->n_points == 1 ? "" : "s");
    if (!v[OPT_OUTPUT] && !v[OPT_JSON] && !v[OPT_LOGITS] && !v[OPT_OVERLAY])
        return cli_usage(CMD, "no output: give -o, --json, --logits or "
                              "--overlay");
    if (v[OPT_OUTPUT] && !strcmp(v[OPT_OUTPUT], "-"))
        return cli_usage(CMD, "-o: masks cannot go to stdout");
    for (int i = 0; i < N_OUTPUTS; i++)
        for (int j = i + 1; j < N_OUTPUTS; j++) {
            const char *x = v[output_ids[i]], *y = v[output_ids[j]];
            if (x && y && same_name(x, y))
                return cli_usage(CMD, "--%s and --%s name the same file",
                                 args_option_name(options, output_ids[i]),
                                 args_option_name(options, output_ids[j]));
        }
    if (cli_set_max_pixels(CMD, v[OPT_MAX_PIXELS]))
        return CLI_USAGE_ERROR;
    if (cli_parse_precision(CMD, v[OPT_PRECISION], &a->precision))
        return CLI_USAGE_ERROR;
    a->threads = cli_parse_threads(CMD, v[OPT_THREADS]);
    return a->threads < 0 ? CLI_USAGE_ERROR : 0;
}

/* Returns 0 to go on, -1 when --help was printed, or CLI_USAGE_ERROR. */
static int parse_args(seg_args *a, int argc, char **argv)
{
    const args_spec spec = {.cmd = CMD,
                            .options = options,
                            .help_id = OPT_HELP,
                            .usage = usage_text,
                            .positional = &a->image,
                            .n_positional = 1,
                            .value = a->value,
                            .given = a->given,
                            .take = take_option,
                            .ctx = a};
    int rc = args_run(&spec, argc, argv);
    return rc ? rc : check_combination(a);
}

/* ---- the run ------------------------------------------------------------- */

/* The one object of the flags; labels default to all foreground. */
static int prompts_from_flags(seg_args *a, prompt_set *ps)
{
    prompt_object *o = prompts_append(ps);
    if (!o) {
        report_cmd_error(CMD, "out of memory");
        return -1;
    }
    o->points = a->points;
    o->n_points = a->n_points;
    a->points = NULL;
    if (!a->n_labels) {
        a->labels =
            malloc((size_t)(a->n_points ? a->n_points : 1) * sizeof(int));
        for (int i = 0; a->labels && i < a->n_points; i++)
            a->labels[i] = 1;
        a->n_labels = a->n_points;
    }
    o->labels = a->labels;
    o->n_labels = a->n_labels;
    a->labels = NULL;
    o->has_box = a->value[OPT_BOX] != NULL;
    memcpy(o->box, a->box, sizeof o->box);
    if (a->value[OPT_MASK_INPUT])
        o->mask_path = strdup(a->value[OPT_MASK_INPUT]);
    if (!o->labels || (a->value[OPT_MASK_INPUT] && !o->mask_path)) {
        report_cmd_error(CMD, "out of memory");
        return -1;
    }
    return 0;
}

/* The pixels are decoded only when needed: for the encoder or the overlay. */
static int read_image(const seg_args *a, msam_image *img)
{
    if (!a->value[OPT_EMBEDDING] || a->value[OPT_OVERLAY])
        return cli_image_load(a->image, img);
    return cli_image_size(a->image, &img->width, &img->height);
}

static int embedding(const seg_args *a, mobilesam_model *model,
                     const msam_image *img, mobilesam_embedding **emb)
{
    if (a->value[OPT_EMBEDDING])
        return embfile_read(a->value[OPT_EMBEDDING], model, img->width,
                            img->height, emb);
    return cli_encode(model, img, a->image, emb);
}

static int predict(mobilesam_model *model, const mobilesam_embedding *emb,
                   const prompt_set *ps, int multimask,
                   mobilesam_result *results)
{
    mobilesam_prompt *api = calloc((size_t)ps->n, sizeof *api);
    mobilesam_error err = {{0}};
    int rc = -1;
    if (!api)
        snprintf(err.message, sizeof err.message, "out of memory");
    else {
        prompts_to_api(ps, multimask, api);
        rc = mobilesam_predict(model, emb, api, ps->n, results, &err) ? -1 : 0;
    }
    if (rc && ps->file) /* a prompts file: name it (as batch does) */
        report_file_error(ps->file, "%s", err.message);
    else if (rc)
        report_cmd_error(CMD, "%s", err.message);
    free(api);
    return rc;
}

/* ---- outputs ------------------------------------------------------------- */

/* OUT.png itself for a single mask, else OUT_<object>_<mask>.png. */
static void mask_file(const char *out, int single, int object, int mask,
                      char *buf, size_t n)
{
    if (single) {
        snprintf(buf, n, "%s", out);
        return;
    }
    const char *base = strrchr(out, '/');
    base = base ? base + 1 : out;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        dot = base + strlen(base);
    snprintf(buf, n, "%.*s_%d_%d%s", (int)(dot - out), out, object, mask,
             *dot ? dot : ".png");
}

typedef struct {
    const seg_args *args;
    const prompt_set *ps;
    const msam_image *img;
    const mobilesam_result *res;
    int n_masks; /* per object, the same for all */
} seg_output;

static int write_masks(const seg_output *so, out_set *outs)
{
    const char *out = so->args->value[OPT_OUTPUT];
    int single = so->ps->n == 1 && so->n_masks == 1;
    size_t plane = (size_t)so->img->width * so->img->height;
    char path[PATH_MAX];
    for (int o = 0; out && o < so->ps->n; o++)
        for (int m = 0; m < so->n_masks; m++) {
            mask_file(out, single, o, m, path, sizeof path);
            if (out_png(outs, path, so->res[o].masks + m * plane,
                        so->img->width, so->img->height, 1))
                return -1;
        }
    return 0;
}

static int write_logits(const seg_output *so, out_set *outs)
{
    const char *path = so->args->value[OPT_LOGITS];
    if (!path)
        return 0;
    const size_t per =
        (size_t)so->n_masks * MOBILESAM_LOWRES * MOBILESAM_LOWRES;
    float *all = malloc((size_t)so->ps->n * per * sizeof(float));
    if (!all) {
        report_file_error(path, "out of memory");
        return -1;
    }
    for (int o = 0; o < so->ps->n; o++)
        memcpy(all + o * per, so->res[o].lowres_logits, per * sizeof(float));
    const long shape[4] = {so->ps->n, so->n_masks, MOBILESAM_LOWRES,
                           MOBILESAM_LOWRES};
    int rc = out_npy(outs, path, all, shape, 4, NULL);
    free(all);
    return rc;
}

static int write_overlay(const seg_output *so, out_set *outs)
{
    const char *path = so->args->value[OPT_OVERLAY];
    if (!path)
        return 0;
    uint8_t *rgb = overlay_render(so->img, so->ps, so->res);
    if (!rgb) {
        report_file_error(path, "out of memory");
        return -1;
    }
    int rc = out_png(outs, path, rgb, so->img->width, so->img->height, 3);
    free(rgb);
    return rc;
}

/* "area" and the tight "bbox" [x, y, w, h] of a 0/255 mask. */
static cJSON *mask_json(const uint8_t *mask, int w, int h, float score,
                        const char *file)
{
    int bbox[4];
    long area = coco_mask_stats(mask, w, h, bbox);
    char num[32];
    snprintf(num, sizeof num, "%.7g", (double)score);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "file",
                          file ? cJSON_CreateString(file) : cJSON_CreateNull());
    cJSON_AddItemToObject(j, "score",
                          isfinite(score) ? cJSON_CreateRaw(num)
                                          : cJSON_CreateNull());
    cJSON_AddNumberToObject(j, "area", (double)area);
    cJSON_AddItemToObject(j, "bbox", cJSON_CreateIntArray(bbox, 4));
    return j;
}

static cJSON *result_json(const seg_output *so)
{
    const char *out = so->args->value[OPT_OUTPUT];
    int w = so->img->width, h = so->img->height;
    int single = so->ps->n == 1 && so->n_masks == 1;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "image", so->args->image);
    cJSON_AddNumberToObject(root, "width", w);
    cJSON_AddNumberToObject(root, "height", h);
    cJSON *objects = cJSON_AddArrayToObject(root, "objects");
    char path[PATH_MAX];
    for (int o = 0; o < so->ps->n; o++) {
        cJSON *obj = cJSON_CreateObject();
        cJSON *masks = cJSON_AddArrayToObject(obj, "masks");
        cJSON_AddItemToArray(objects, obj);
        for (int m = 0; m < so->n_masks; m++) {
            if (out)
                mask_file(out, single, o, m, path, sizeof path);
            cJSON_AddItemToArray(
                masks, mask_json(so->res[o].masks + (size_t)m * w * h, w, h,
                                 so->res[o].scores[m], out ? path : NULL));
        }
    }
    return root;
}

static int write_json(const seg_output *so, out_set *outs)
{
    const char *path = so->args->value[OPT_JSON];
    if (!path)
        return 0;
    cJSON *json = result_json(so);
    int rc = out_json(outs, path, json);
    cJSON_Delete(json);
    return rc;
}

static int write_outputs(const seg_args *a, const prompt_set *ps,
                         const msam_image *img, const mobilesam_result *res)
{
    seg_output so = {a, ps, img, res, res[0].n_masks};
    out_set outs;
    out_init(&outs);
    if (write_masks(&so, &outs) || write_logits(&so, &outs) ||
        write_overlay(&so, &outs) || write_json(&so, &outs)) {
        out_abort(&outs);
        return -1;
    }
    return out_commit(&outs);
}

/* ---- outputs against inputs and each other ------------------------------- */

/* The files a run reads: an output that is one of them is refused (it would
 * be overwritten, the run's own input gone). */
typedef struct {
    out_file_id *id;
    const char **what;
    int n;
} seg_inputs;

static int add_input(seg_inputs *in, const char *path, const char *what)
{
    if (!path)
        return 0;
    if (out_file_id_get(path, &in->id[in->n]))
        return -1;
    in->what[in->n++] = what;
    return 0;
}

/* 0, or CLI_USAGE_ERROR after printing that output `path` (of option
 * `opt`, a mask file when `mask`) is an input or another output's file. */
static int check_output(const char *path, int opt, int mask,
                        const seg_inputs *in, const out_file_id *flag_ids,
                        int first_flag)
{
    out_file_id id;
    if (out_file_id_get(path, &id)) {
        report_cmd_error(CMD, "out of memory");
        return CLI_DATA_ERROR;
    }
    int rc = 0;
    for (int i = 0; !rc && i < in->n; i++)
        if (out_file_id_same(&id, &in->id[i])) {
            report_cmd_error(CMD, "output %s is also an input (%s)", path,
                          in->what[i]);
            rc = CLI_USAGE_ERROR;
        }
    /* --json, --logits, --overlay (output_ids[1..]) from first_flag on */
    for (int j = first_flag; !rc && j < N_OUTPUTS; j++) {
        if (!flag_ids[j].key || !out_file_id_same(&id, &flag_ids[j]))
            continue;
        const char *other = args_option_name(options, output_ids[j]);
        if (mask)
            rc = cli_usage(CMD, "--output's %s and --%s name the same file",
                           path, other);
        else
            rc = cli_usage(CMD, "--%s and --%s name the same file",
                           args_option_name(options, opt), other);
    }
    out_file_id_free(&id);
    return rc;
}

/* Refuses (CLI_USAGE_ERROR) an output that is also an input, or two outputs
 * that are one file under different names ("x.png" and "./x.png", a
 * symlink and its target), the mask files OUT_<object>_<mask>.png
 * included. Returns 0, or an exit code after printing the problem. */
static int check_files(const seg_args *a, const prompt_set *ps,
                       const char *weights)
{
    const char *const *v = a->value;
    int cap = 4 + ps->n, rc = CLI_DATA_ERROR;
    seg_inputs in = {calloc((size_t)cap, sizeof *in.id),
                     calloc((size_t)cap, sizeof *in.what), 0};
    out_file_id flag_ids[N_OUTPUTS];
    memset(flag_ids, 0, sizeof flag_ids);
    if (!in.id || !in.what || add_input(&in, a->image, "the image") ||
        add_input(&in, weights, "the weights") ||
        add_input(&in, v[OPT_PROMPTS], "the prompts file") ||
        add_input(&in, v[OPT_EMBEDDING], "the embedding"))
        goto nomem;
    for (int i = 0; i < ps->n; i++)
        if (add_input(&in, ps->objects[i].mask_path, "a mask input"))
            goto nomem;
    for (int j = 1; j < N_OUTPUTS; j++) {
        const char *out = v[output_ids[j]];
        if (out && strcmp(out, "-") && out_file_id_get(out, &flag_ids[j]))
            goto nomem;
    }
    rc = 0;
    const char *out = v[OPT_OUTPUT];
    int n_masks = a->multimask ? 3 : 1, single = ps->n == 1 && n_masks == 1;
    char path[PATH_MAX];
    for (int o = 0; out && !rc && o < ps->n; o++)
        for (int m = 0; !rc && m < n_masks; m++) {
            mask_file(out, single, o, m, path, sizeof path);
            rc = check_output(path, OPT_OUTPUT, !single, &in, flag_ids, 1);
        }
    for (int j = 1; !rc && j < N_OUTPUTS; j++)
        if (flag_ids[j].key)
            rc = check_output(v[output_ids[j]], output_ids[j], 0, &in,
                              flag_ids, j + 1);
    goto done;
nomem:
    report_cmd_error(CMD, "out of memory");
done:
    for (int i = 0; i < in.n; i++)
        out_file_id_free(&in.id[i]);
    for (int j = 0; j < N_OUTPUTS; j++)
        out_file_id_free(&flag_ids[j]);
    free(in.id);
    free(in.what);
    return rc;
}

/* The cheap checks, before the weights are loaded and the encoder runs:
 * output directories, prompts, image size, prompts against it, mask
 * inputs, weights path, outputs against inputs. Returns 0, or an exit code
 * after printing the problem. */
static int prepare(seg_args *a, prompt_set *ps, cli_session *s)
{
    for (int i = 0; i < N_OUTPUTS; i++) {
        const char *out = a->value[output_ids[i]];
        if (out && strcmp(out, "-") && out_check_dir(out))
            return CLI_DATA_ERROR;
    }
    const char *file = a->value[OPT_PROMPTS];
    if (file ? prompts_read_file(ps, file) : prompts_from_flags(a, ps))
        return CLI_DATA_ERROR;
    if (read_image(a, &s->img) ||
        (!a->value[OPT_EMBEDDING] &&
         cli_check_resizable(a->image, s->img.width, s->img.height)) ||
        prompts_validate(ps, s->img.width, s->img.height) ||
        prompts_load_masks(ps) ||
        cli_session_weights(s, a->value[OPT_WEIGHTS]))
        return CLI_DATA_ERROR;
    return check_files(a, ps, s->weights);
}

static int run(seg_args *a)
{
    prompt_set ps;
    prompts_init(&ps, CMD);
    cli_session s;
    mobilesam_embedding *emb = NULL;
    mobilesam_result *res = NULL;
    int n_res = 0;
    cli_session_init(&s, a->threads, a->precision);

    int rc = prepare(a, &ps, &s);
    if (rc)
        goto done;
    rc = CLI_DATA_ERROR;
    if (cli_session_model(&s) || embedding(a, s.model, &s.img, &emb))
        goto done;
    if (!(res = calloc((size_t)ps.n, sizeof *res))) {
        report_cmd_error(CMD, "out of memory");
        goto done;
    }
    if (predict(s.model, emb, &ps, a->multimask, res))
        goto done;
    n_res = ps.n;
    if (write_outputs(a, &ps, &s.img, res) == 0)
        rc = CLI_OK;
done:
    for (int i = 0; i < n_res; i++)
        mobilesam_result_free(&res[i]);
    free(res);
    if (emb)
        mobilesam_embedding_free(emb);
    cli_session_free(&s);
    prompts_free(&ps);
    return rc;
}

static void free_args(seg_args *a)
{
    free(a->points);
    free(a->labels);
}

int cmd_seg_parse(int argc, char **argv)
{
    seg_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    free_args(&a);
    return rc;
}

int cmd_seg(int argc, char **argv)
{
    seg_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc == 0)
        rc = run(&a);
    else if (rc < 0)
        rc = CLI_OK;
    free_args(&a);
    return rc;
}
