/*
 * cmd_batch.c - `mobilesam batch`: many images in one run, for datasets.
 * The model loads once and each image is encoded once; prompts come from a
 * prompts file, YOLO detection labels (boxes) or the automatic generator.
 * Outputs per image: mask PNGs, YOLO segmentation labels, a COCO record
 * (the run's annotations.json is assembled at the end), an overlay.
 *
 * Robustness: every file is written under a temporary name and renamed;
 * an image's marker is written last (batchfiles.h), so a killed run resumes
 * where it stopped; a bad image, prompt or label file is reported (one line
 * naming the file), counted, and the run goes on; --shard splits the images
 * between processes that may share OUTDIR.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "amgargs.h"
#include "args.h"
#include "format/batchfiles.h"
#include "format/coco.h"
#include "commands.h"
#include "common.h"
#include "imgfile.h"
#include "format/imglist.h"
#include "io/file.h"
#include "format/output.h"
#include "format/overlay.h"
#include "progress.h"
#include "format/prompts.h"
#include "format/yolo.h"

#define CMD "batch"
#define MAX_NAMED 20 /* failed files named in the summary */

/* clang-format off */
static const char usage_text[] =
    "usage: mobilesam batch INPUT -o OUTDIR --prompts FILE|--boxes-from DIR|\n"
    "                       --everything [options]\n"
    "\n"
    "Segments many images in one run (the model loads once, each image is\n"
    "encoded once), e.g. to annotate a dataset. INPUT is a folder (images by\n"
    "extension: jpg jpeg png bmp tga gif pnm ppm pgm psd, any case;\n"
    "sorted by name) or a text file listing image paths, one per line\n"
    "(relative to the list's folder; blank lines and # comments skipped).\n"
    "\n"
    "prompts (exactly one):\n"
    "  --prompts FILE         objects per image in the 'seg --prompts' schema:\n"
    "                         {\"a.jpg\": [{\"box\": [x0, y0, x1, y1]}, ...], ...}\n"
    "                         or, for FILE.jsonl, one line per image:\n"
    "                         {\"image\": \"a.jpg\", \"objects\": [...]}; names\n"
    "                         relative to the INPUT folder, or as listed\n"
    "  --boxes-from LABELDIR  YOLO detection labels LABELDIR/<stem>.txt, lines\n"
    "                         'class cx cy w h [conf]' (normalised): one object\n"
    "                         per box, its class carried to the outputs; no\n"
    "                         label file = no objects (reported, not an error)\n"
    "    --conf T             keep boxes with conf >= T (lines without: kept)\n"
    "    --classes 0,2,5      keep only these classes\n"
    "  --everything           every object, by the automatic mask generator;\n"
    "                         takes the options of 'mobilesam everything'\n"
    "                         (--points-per-side, --pred-iou-thresh, ...)\n"
    "  --multimask            3 masks per object instead of 1 (YOLO and COCO\n"
    "                         take the best-scoring one)\n"
    "\n"
    "outputs, per image (<stem>: the name without extension, with its\n"
    "subfolder under OUTDIR):\n"
    "  -o, --output OUTDIR    created if missing\n"
    "  --format LIST          any of png,yolo,coco (default: png):\n"
    "                         png   OUTDIR/<stem>_<object>_<mask>.png (0/255)\n"
    "                         yolo  OUTDIR/<stem>.txt, one line per object:\n"
    "                               class x1 y1 x2 y2 ... (outline of the mask's\n"
    "                               largest part, normalised, as Ultralytics)\n"
    "                         coco  OUTDIR/annotations.json for the whole run\n"
    "                               (RLE segmentations, bbox, area, score)\n"
    "  --overlay              OUTDIR/<stem>_overlay.png\n"
    "\n"
    "runs:\n"
    "  -r, --recursive        also the images of subfolders (mirrored in OUTDIR),\n"
    "                         down to 64 levels; symlinked folders are not\n"
    "                         followed (a warning names each folder skipped)\n"
    "  --overwrite            redo images already complete (default: skip\n"
    "                         them, so a killed run picks up where it stopped;\n"
    "                         an image is redone when its outputs are missing\n"
    "                         or the options, weights, image or its prompts or\n"
    "                         labels changed; the bookkeeping is in\n"
    "                         OUTDIR/.mobilesam; a redo deletes only the files\n"
    "                         an earlier run wrote for the image)\n"
    "  --shard I/N            only images number I, I+N, I+2N, ... (0 <= I < N)\n"
    "                         of the sorted list: N processes, one OUTDIR\n"
    "  --compare REFDIR       compare every mask written with REFDIR's PNG of\n"
    "                         the same name (IoU, gray > 127 = in); REFDIR\n"
    "                         must not be OUTDIR\n"
    "  --min-iou X            failing below X (default 0.995)\n"
    "  -w, --weights FILE     weight file (default: $MOBILESAM_WEIGHTS,\n"
    "                         weights/mobile_sam.msam here or beside the tool)\n"
    "  --threads N            threads (default: $MOBILESAM_THREADS or all cores)\n"
    CLI_PRECISION_HELP
    CLI_MAX_PIXELS_HELP
    "  -h, --help             this help\n"
    "\n"
    "generator options (with --everything):\n"
    AMGARGS_HELP
    "\n"
    "Problems with one image (unreadable, bad prompt or label file) are\n"
    "reported on stderr and the run goes on. The summary on stdout reads\n"
    "'done: X processed, Y skipped (already complete), Z failed'; exit status\n"
    "1 when anything failed (or a --compare fell below --min-iou), 2 for a\n"
    "bad command line. Progress is shown when stderr is a terminal.\n"
    "examples:\n"
    "  mobilesam batch images/ -o out --boxes-from labels/ --format yolo,coco\n"
    "  mobilesam batch list.txt -o out --prompts prompts.jsonl --shard 0/4\n";
/* clang-format on */

enum {
    OPT_HELP = 1,
    OPT_WEIGHTS,
    OPT_THREADS,
    OPT_PRECISION,
    OPT_OUTPUT,
    OPT_RECURSIVE,
    OPT_PROMPTS,
    OPT_BOXES_FROM,
    OPT_EVERYTHING,
    OPT_CONF,
    OPT_CLASSES,
    OPT_FORMAT,
    OPT_MULTIMASK,
    OPT_OVERWRITE,
    OPT_SHARD,
    OPT_OVERLAY,
    OPT_COMPARE,
    OPT_MIN_IOU,
    OPT_MAX_PIXELS,
    OPT_AMG, /* AMGARGS_N ids from here */
    OPT_COUNT = OPT_AMG + AMGARGS_N
};

static const args_option options[] = {{"help", 'h', 0, OPT_HELP},
                                      {"weights", 'w', 1, OPT_WEIGHTS},
                                      {"threads", 0, 1, OPT_THREADS},
                                      {"precision", 0, 1, OPT_PRECISION},
                                      {"output", 'o', 1, OPT_OUTPUT},
                                      {"recursive", 'r', 0, OPT_RECURSIVE},
                                      {"prompts", 0, 1, OPT_PROMPTS},
                                      {"boxes-from", 0, 1, OPT_BOXES_FROM},
                                      {"everything", 0, 0, OPT_EVERYTHING},
                                      {"conf", 0, 1, OPT_CONF},
                                      {"classes", 0, 1, OPT_CLASSES},
                                      {"format", 0, 1, OPT_FORMAT},
                                      {"multimask", 0, 0, OPT_MULTIMASK},
                                      {"overwrite", 0, 0, OPT_OVERWRITE},
                                      {"shard", 0, 1, OPT_SHARD},
                                      {"overlay", 0, 0, OPT_OVERLAY},
                                      {"compare", 0, 1, OPT_COMPARE},
                                      {"min-iou", 0, 1, OPT_MIN_IOU},
                                      {"max-pixels", 0, 1, OPT_MAX_PIXELS},
                                      AMGARGS_OPTIONS(OPT_AMG),
                                      {NULL, 0, 0, 0}};

static const char *const format_names[] = {"png", "yolo", "coco", NULL};

typedef struct {
    const char *input;
    const char *value[OPT_COUNT]; /* options with a value, by id */
    int given[OPT_COUNT];         /* every option seen, by id */
    unsigned formats;             /* BF_PNG | BF_YOLO | BF_COCO */
    float conf, min_iou;
    int *classes, n_classes;
    int shard_i, shard_n;
    int threads;
    mobilesam_precision precision;
    amg_args amg;
} batch_args;

/* ---- command line ------------------------------------------------------ */

static int parse_classes(batch_args *a, const char *s)
{
    const char *p = s;
    for (;;) {
        const char *end = strchr(p, ',');
        char tok[32];
        size_t len = end ? (size_t)(end - p) : strlen(p);
        long v;
        int *c = realloc(a->classes, (size_t)(a->n_classes + 1) * sizeof *c);
        if (!c)
            return cli_usage(CMD, "out of memory");
        a->classes = c;
        if (len >= sizeof tok)
            len = sizeof tok - 1; /* too long to be valid anyway */
        memcpy(tok, p, len);
        tok[len] = 0;
        if (args_parse_int(tok, 0, 1000000, &v))
            return cli_usage(CMD, "--classes: expected class numbers like "
                                  "0,2,5, got '%s'",
                             s);
        c[a->n_classes++] = (int)v;
        if (!end)
            return 0;
        p = end + 1;
    }
}

static int parse_shard(batch_args *a, const char *s)
{
    const char *slash = strchr(s, '/');
    char left[32];
    long i, n;
    size_t len = slash ? (size_t)(slash - s) : 0;
    if (!slash || len >= sizeof left)
        return cli_usage(CMD, "--shard: expected I/N, got '%s'", s);
    memcpy(left, s, len);
    left[len] = 0;
    if (args_parse_int(left, 0, INT_MAX, &i) ||
        args_parse_int(slash + 1, 1, INT_MAX, &n))
        return cli_usage(CMD, "--shard: expected I/N, got '%s'", s);
    if (i >= n)
        return cli_usage(CMD, "--shard %s: I must be in 0..N-1", s);
    a->shard_i = (int)i;
    a->shard_n = (int)n;
    return 0;
}

static int take_value(batch_args *a, int id, const char *value)
{
    switch (id) {
    case OPT_CONF:
        if (args_parse_float(value, &a->conf))
            return cli_usage(CMD, "--conf: expected a number, got '%s'",
                             value);
        return 0;
    case OPT_MIN_IOU:
        if (args_parse_float(value, &a->min_iou) || a->min_iou < 0 ||
            a->min_iou > 1)
            return cli_usage(CMD, "--min-iou: expected a number in [0, 1], "
                                  "got '%s'",
                             value);
        return 0;
    case OPT_CLASSES:
        return parse_classes(a, value);
    case OPT_SHARD:
        return parse_shard(a, value);
    case OPT_FORMAT:
        if (args_parse_names(value, format_names, &a->formats))
            return cli_usage(CMD, "--format: expected a list of png, yolo, "
                                  "coco (like png,coco), got '%s'",
                             value);
        return 0;
    }
    return 0;
}

static int take_option(const args_spec *s, int id, const char *value)
{
    batch_args *a = s->ctx;
    if (id >= OPT_AMG)
        return amgargs_take(&a->amg, CMD, id - OPT_AMG, value);
    if (args_store(s, id, value))
        return CLI_USAGE_ERROR;
    return take_value(a, id, value);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int same_file(const char *x, const char *y)
{
    struct stat a, b;
    return stat(x, &a) == 0 && stat(y, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

static int check_combination(batch_args *a)
{
    const char *const *v = a->value;
    int sources = !!v[OPT_PROMPTS] + !!v[OPT_BOXES_FROM] +
                  a->given[OPT_EVERYTHING];
    if (!a->input)
        return cli_usage(CMD, "missing INPUT (a folder or a list file)");
    if (!v[OPT_OUTPUT])
        return cli_usage(CMD, "missing -o OUTDIR");
    if (sources != 1)
        return cli_usage(CMD, sources ? "give only one of --prompts, "
                                        "--boxes-from, --everything"
                                      : "no prompts: give --prompts, "
                                        "--boxes-from or --everything");
    if ((v[OPT_CONF] || v[OPT_CLASSES]) && !v[OPT_BOXES_FROM])
        return cli_usage(CMD, "--conf and --classes go with --boxes-from");
    if (a->amg.given && !a->given[OPT_EVERYTHING])
        return cli_usage(CMD, "generator options go with --everything");
    if (a->given[OPT_EVERYTHING] && a->given[OPT_MULTIMASK])
        return cli_usage(CMD, "--multimask does not apply to --everything");
    if (v[OPT_MIN_IOU] && !v[OPT_COMPARE])
        return cli_usage(CMD, "--min-iou goes with --compare");
    if (v[OPT_COMPARE] && !is_dir(v[OPT_COMPARE]))
        return cli_usage(CMD, "--compare %s: not a folder of reference masks",
                         v[OPT_COMPARE]);
    if (same_file(a->input, v[OPT_OUTPUT]))
        return cli_usage(CMD, "OUTDIR must not be the INPUT folder");
    /* the masks written would be their own references: always IoU 1 */
    if (v[OPT_COMPARE] && same_file(v[OPT_COMPARE], v[OPT_OUTPUT]))
        return cli_usage(CMD, "--compare %s: REFDIR must not be OUTDIR",
                         v[OPT_COMPARE]);
    if (v[OPT_BOXES_FROM] && (a->formats & BF_YOLO) &&
        same_file(v[OPT_BOXES_FROM], v[OPT_OUTPUT]))
        return cli_usage(CMD, "--format yolo would overwrite the labels of "
                              "--boxes-from: use another OUTDIR");
    if (cli_set_max_pixels(CMD, v[OPT_MAX_PIXELS]))
        return CLI_USAGE_ERROR;
    if (cli_parse_precision(CMD, v[OPT_PRECISION], &a->precision))
        return CLI_USAGE_ERROR;
    a->threads = cli_parse_threads(CMD, v[OPT_THREADS]);
    return a->threads < 0 ? CLI_USAGE_ERROR : 0;
}

/* Returns 0 to go on, -1 when --help was printed, or CLI_USAGE_ERROR. */
static int parse_args(batch_args *a, int argc, char **argv)
{
    const args_spec spec = {.cmd = CMD,
                            .options = options,
                            .help_id = OPT_HELP,
                            .usage = usage_text,
                            .positional = &a->input,
                            .n_positional = 1,
                            .value = a->value,
                            .given = a->given,
                            .take = take_option,
                            .ctx = a};
    a->formats = BF_PNG;
    a->min_iou = 0.995f;
    a->shard_n = 1;
    amgargs_init(&a->amg);
    int rc = args_run(&spec, argc, argv);
    return rc ? rc : check_combination(a);
}

/* ---- the run's state ----------------------------------------------------- */

typedef struct {
    const char **v;
    int n, cap;
} name_list; /* names for the summary (not owned) */

typedef struct {
    dev_t dev;
    ino_t ino;
} file_key;

typedef struct {
    const batch_args *a;
    const char *outdir;
    img_list list;
    int *clash;        /* per image: index of an earlier image with its stem,
                          or -1 */
    prompt_batch *pb;  /* --prompts */
    cli_session s;     /* weights and model (each image_job has its image) */
    unsigned want;     /* outputs asked for: BF_* */
    uint64_t options;  /* fingerprint of what decides every image's outputs */
    file_key *inputs;  /* every input file of the run, sorted: never
                          overwritten or deleted */
    int n_inputs, cap_inputs;
    unsigned char *complete; /* per image: complete after this run */
    int processed, skipped, failed;
    name_list failed_names, no_objects; /* no label file / no prompts */
    /* --compare */
    long cmp_n, cmp_bad;
    double cmp_min, cmp_sum;
} batch_run;

static void note(name_list *l, const char *name)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        const char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) {
            l->n++; /* counted, not named */
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    if (l->n < l->cap)
        l->v[l->n] = name;
    l->n++;
}

/* The objects of one image, whatever their source. */
typedef struct {
    int n_masks;
    const uint8_t *masks[3];
    float scores[3];
    int cls;
    int best; /* index of the best-scoring mask */
} object_out;

typedef struct {
    const img_item *item;
    bf_paths paths;
    msam_image img;
    prompt_set ps;     /* --prompts, --boxes-from */
    int *classes;      /* per object of ps (--boxes-from) */
    mobilesam_result *res;
    int n_res;
    mobilesam_amg_result amg;
    object_out *objs;
    int n_objs;
    int found;         /* --prompts: entries for the image */
    uint64_t input;    /* fingerprint of the image and its prompts/labels */
    bf_marker written; /* the marker to write: outputs, fingerprints, files */
} image_job;

static void job_free(image_job *j)
{
    for (int i = 0; i < j->n_res; i++)
        mobilesam_result_free(&j->res[i]);
    free(j->res);
    mobilesam_amg_result_free(&j->amg);
    free(j->objs);
    free(j->classes);
    prompts_free(&j->ps);
    bf_marker_free(&j->written);
    if (j->img.rgb)
        image_free(&j->img);
}

/* ---- objects ------------------------------------------------------------- */

/* --boxes-from: one box object per label line kept. */
static int objects_from_labels(batch_run *r, image_job *j)
{
    const batch_args *a = r->a;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s.txt", a->value[OPT_BOXES_FROM],
                     j->item->stem);
    if (n < 0 || n >= (int)sizeof path) {
        report_file_error(a->value[OPT_BOXES_FROM], "path too long");
        return -1;
    }
    yolo_filter f = {a->value[OPT_CONF] ? a->conf : -INFINITY, a->classes,
                     a->n_classes};
    yolo_box *boxes;
    n = yolo_read_boxes(path, j->img.width, j->img.height, &f, &boxes);
    if (n == YOLO_MISSING) {
        note(&r->no_objects, j->item->key);
        return 0;
    }
    if (n < 0)
        return -1;
    j->classes = malloc((size_t)(n ? n : 1) * sizeof *j->classes);
    j->ps.file = strdup(path);
    int rc = j->classes && j->ps.file ? 0 : -1;
    for (int i = 0; rc == 0 && i < n; i++) {
        prompt_object *o = prompts_append(&j->ps);
        if (!o) {
            rc = -1;
            break;
        }
        o->has_box = 1;
        memcpy(o->box, boxes[i].box, sizeof o->box);
        j->classes[i] = boxes[i].cls;
    }
    free(boxes);
    if (rc)
        report_file_error(path, "out of memory");
    return rc;
}

/* --prompts: j->ps was filled by image_fingerprint(). */
static int objects_from_prompts(batch_run *r, image_job *j)
{
    if (j->found == 0)
        note(&r->no_objects, j->item->key);
    if (prompts_validate(&j->ps, j->img.width, j->img.height) ||
        prompts_load_masks(&j->ps))
        return -1;
    return 0;
}

static int predict(batch_run *r, image_job *j)
{
    mobilesam_error err = {{0}};
    mobilesam_embedding *emb = NULL;
    mobilesam_prompt *api = calloc((size_t)j->ps.n, sizeof *api);
    j->res = calloc((size_t)j->ps.n, sizeof *j->res);
    int rc = -1;
    if (!api || !j->res) {
        report_file_error(j->item->path, "out of memory");
    } else if (cli_encode(r->s.model, &j->img, j->item->path, &emb) == 0) {
        prompts_to_api(&j->ps, r->a->given[OPT_MULTIMASK], api);
        if (mobilesam_predict(r->s.model, emb, api, j->ps.n, j->res, &err))
            report_file_error(j->ps.file ? j->ps.file : j->item->path, "%s",
                           err.message);
        else {
            j->n_res = j->ps.n;
            rc = 0;
        }
    }
    mobilesam_embedding_free(emb);
    free(api);
    return rc;
}

static int generate(batch_run *r, image_job *j)
{
    mobilesam_error err = {{0}};
    if (mobilesam_generate(r->s.model, j->img.rgb, j->img.width, j->img.height,
                           &r->a->amg.opt, &j->amg, &err)) {
        report_file_error(j->item->path, "%s", err.message);
        return -1;
    }
    return 0;
}

/* The uniform view of the masks for the writers. */
static int collect_objects(image_job *j)
{
    int n = j->amg.n ? j->amg.n : j->n_res;
    j->objs = calloc((size_t)(n ? n : 1), sizeof *j->objs);
    if (!j->objs) {
        report_file_error(j->item->path, "out of memory");
        return -1;
    }
    size_t plane = (size_t)j->img.width * j->img.height;
    for (int i = 0; i < j->amg.n; i++) {
        object_out *o = &j->objs[i];
        o->n_masks = 1;
        o->masks[0] = j->amg.masks[i].mask;
        o->scores[0] = j->amg.masks[i].predicted_iou;
    }
    for (int i = 0; i < j->n_res; i++) {
        object_out *o = &j->objs[i];
        o->n_masks = j->res[i].n_masks;
        o->cls = j->classes ? j->classes[i] : 0;
        for (int m = 0; m < o->n_masks; m++) {
            o->masks[m] = j->res[i].masks + m * plane;
            o->scores[m] = j->res[i].scores[m];
            if (o->scores[m] > o->scores[o->best])
                o->best = m;
        }
    }
    j->n_objs = n;
    return 0;
}

/* ---- inputs -------------------------------------------------------------- */

static int key_of(const char *path, file_key *k)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    k->dev = st.st_dev;
    k->ino = st.st_ino;
    return 0;
}

static int file_key_cmp(const void *x, const void *y)
{
    const file_key *a = x, *b = y;
    if (a->dev != b->dev)
        return a->dev < b->dev ? -1 : 1;
    return (a->ino > b->ino) - (a->ino < b->ino);
}

/* Adds the file at `path`, when it exists, to the run's inputs. Returns 0,
 * or -1 when out of memory. */
static int add_input(batch_run *r, const char *path)
{
    file_key k;
    if (key_of(path, &k))
        return 0;
    if (r->n_inputs == r->cap_inputs) {
        int cap = r->cap_inputs ? 2 * r->cap_inputs : 64;
        file_key *v = realloc(r->inputs, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        r->inputs = v;
        r->cap_inputs = cap;
    }
    r->inputs[r->n_inputs++] = k;
    return 0;
}

static int label_path(const batch_run *r, const img_item *item, char *path)
{
    int n = snprintf(path, PATH_MAX, "%s/%s.txt", r->a->value[OPT_BOXES_FROM],
                     item->stem);
    if (n < 0 || n >= PATH_MAX) {
        report_file_error(r->a->value[OPT_BOXES_FROM], "path too long");
        return -1;
    }
    return 0;
}

/* The files of every image of the list (all shards), their label files,
 * the prompts and weight files: an output of the run is never written over
 * one of them, nor deleted when it was listed by an old marker (say, an
 * image copied into OUTDIR under a mask's name). */
static int collect_inputs(batch_run *r)
{
    const batch_args *a = r->a;
    char path[PATH_MAX];
    int rc = 0;
    for (int i = 0; rc == 0 && i < r->list.n; i++) {
        rc = add_input(r, r->list.items[i].path);
        if (rc == 0 && a->value[OPT_BOXES_FROM] &&
            label_path(r, &r->list.items[i], path) == 0)
            rc = add_input(r, path);
    }
    if (rc == 0 && a->value[OPT_PROMPTS])
        rc = add_input(r, a->value[OPT_PROMPTS]);
    if (rc == 0 && r->s.weights)
        rc = add_input(r, r->s.weights);
    if (rc) {
        report_cmd_error(CMD, "out of memory");
        return -1;
    }
    if (r->n_inputs > 1)
        qsort(r->inputs, (size_t)r->n_inputs, sizeof *r->inputs,
              file_key_cmp);
    return 0;
}

static int is_input(const char *path, void *ctx)
{
    const batch_run *r = ctx;
    file_key k;
    return r->n_inputs && key_of(path, &k) == 0 &&
           bsearch(&k, r->inputs, (size_t)r->n_inputs, sizeof k,
                   file_key_cmp);
}

/* ---- fingerprints -------------------------------------------------------- */

/* The file's bytes (or whether it is missing or unreadable). */
static uint64_t hash_file(uint64_t h, const char *path)
{
    FILE *fp = file_fopen_input(path, NULL, NULL, 0);
    if (!fp)
        return bf_hash_str(h, errno == ENOENT ? "missing" : "unreadable");
    char buf[65536];
    size_t n;
    h = bf_hash_str(h, "file");
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        h = bf_hash(h, buf, n);
    if (ferror(fp))
        h = bf_hash_str(h, "unreadable");
    fclose(fp);
    return h;
}

/* Everything of the command line and the weights that decides the outputs
 * of an image (not which outputs: the marker lists those). */
static uint64_t options_fingerprint(const batch_run *r)
{
    const batch_args *a = r->a;
    uint64_t h = BF_HASH_INIT;
    h = bf_hash_str(h, a->given[OPT_EVERYTHING] ? "everything"
                       : a->value[OPT_BOXES_FROM] ? "boxes-from"
                                                  : "prompts");
    int multimask = a->given[OPT_MULTIMASK] != 0;
    h = bf_hash(h, &multimask, sizeof multimask);
    float conf = a->value[OPT_CONF] ? a->conf : -INFINITY;
    h = bf_hash(h, &conf, sizeof conf);
    h = bf_hash(h, &a->n_classes, sizeof a->n_classes);
    if (a->n_classes)
        h = bf_hash(h, a->classes, (size_t)a->n_classes * sizeof *a->classes);
    if (a->given[OPT_EVERYTHING]) {
        /* field by field: the struct has a callback and may have padding */
        const mobilesam_amg_options *o = &a->amg.opt;
        const int ints[] = {o->points_per_side, o->points_per_batch,
                            o->crop_n_layers, o->crop_n_points_downscale_factor,
                            o->min_mask_region_area};
        const float floats[] = {o->pred_iou_thresh, o->stability_score_thresh,
                                o->stability_score_offset, o->box_nms_thresh,
                                o->crop_nms_thresh, o->crop_overlap_ratio};
        h = bf_hash(h, ints, sizeof ints);
        h = bf_hash(h, floats, sizeof floats);
    }
    return bf_hash_str(h, mobilesam_model_id(r->s.model));
}

/* The image's name, size and time of change, and its prompt input: the
 * label file's bytes, or the prompts entry's objects (read into j->ps
 * here, so that a bad entry is reported once). Returns 0, or -1 after an
 * error. */
static int image_fingerprint(batch_run *r, image_job *j)
{
    const batch_args *a = r->a;
    uint64_t h = bf_hash_str(BF_HASH_INIT, j->item->key);
    struct stat st;
    if (stat(j->item->path, &st) == 0) {
        const long long v[] = {(long long)st.st_size,
                               (long long)st.st_mtim.tv_sec,
                               (long long)st.st_mtim.tv_nsec};
        h = bf_hash(h, v, sizeof v);
    }
    char path[PATH_MAX];
    if (a->value[OPT_BOXES_FROM]) {
        if (label_path(r, j->item, path))
            return -1;
        h = hash_file(h, path);
    } else if (a->value[OPT_PROMPTS]) {
        j->found = prompts_batch_get(r->pb, j->item->key, &j->ps);
        if (j->found < 0)
            return -1;
        for (int i = 0; i < j->ps.n; i++) {
            const prompt_object *o = &j->ps.objects[i];
            h = bf_hash(h, &o->n_points, sizeof o->n_points);
            h = bf_hash(h, o->points, (size_t)o->n_points * 2 * sizeof(float));
            h = bf_hash(h, &o->n_labels, sizeof o->n_labels);
            h = bf_hash(h, o->labels, (size_t)o->n_labels * sizeof(int));
            h = bf_hash(h, &o->has_box, sizeof o->has_box);
            h = bf_hash(h, o->box, sizeof o->box);
            h = bf_hash_str(h, o->mask_path);
            if (o->mask_path)
                h = hash_file(h, o->mask_path);
        }
    }
    j->input = h;
    return 0;
}

/* ---- outputs ------------------------------------------------------------- */

/* Every output file of an image goes through here: never written over an
 * input of the run, and listed in the image's marker. */
static int claim_output(batch_run *r, image_job *j, const char *path)
{
    if (is_input(path, r)) {
        report_file_error(path, "is an input of this run: not overwritten");
        return -1;
    }
    if (bf_marker_add(&j->written, &j->paths, path)) {
        report_file_error(path, "out of memory");
        return -1;
    }
    return 0;
}

static int write_masks(batch_run *r, image_job *j, out_set *outs)
{
    char path[PATH_MAX];
    for (int o = 0; o < j->n_objs; o++)
        for (int m = 0; m < j->objs[o].n_masks; m++)
            if (bf_mask_name(path, j->paths.out, o, m) ||
                claim_output(r, j, path) ||
                out_png(outs, path, j->objs[o].masks[m], j->img.width,
                        j->img.height, 1))
                return -1;
    return 0;
}

static int write_yolo(batch_run *r, image_job *j, out_set *outs)
{
    char path[PATH_MAX], *text = NULL;
    size_t len = 0;
    if (bf_name(path, j->paths.out, ".txt") || claim_output(r, j, path))
        return -1;
    FILE *mem = open_memstream(&text, &len);
    int rc = mem ? 0 : -1;
    for (int o = 0; rc == 0 && o < j->n_objs; o++) {
        const object_out *obj = &j->objs[o];
        if (yolo_write_segment(mem, obj->cls, obj->masks[obj->best],
                               j->img.width, j->img.height) < 0)
            rc = -1;
    }
    if (mem && fclose(mem))
        rc = -1;
    if (rc)
        report_file_error(path, "out of memory");
    else
        rc = out_text(outs, path, text, len);
    free(text);
    return rc;
}

static int write_coco(image_job *j, out_set *outs)
{
    char path[PATH_MAX];
    if (bf_name(path, j->paths.meta, ".coco.json"))
        return -1;
    cJSON *rec = coco_record(j->item->key, j->img.width, j->img.height);
    int rc = rec ? 0 : -1;
    for (int o = 0; rc == 0 && o < j->n_objs; o++) {
        const object_out *obj = &j->objs[o];
        rc = coco_add(rec, obj->masks[obj->best], obj->cls,
                      obj->scores[obj->best]);
    }
    char *text = rc == 0 ? cJSON_PrintUnformatted(rec) : NULL;
    cJSON_Delete(rec);
    if (!text) {
        report_file_error(path, "out of memory");
        return -1;
    }
    rc = out_text(outs, path, text, strlen(text));
    free(text);
    return rc;
}

static int write_overlay(batch_run *r, image_job *j, out_set *outs)
{
    char path[PATH_MAX];
    if (bf_name(path, j->paths.out, "_overlay.png") ||
        claim_output(r, j, path))
        return -1;
    uint8_t *rgb = j->amg.n ? overlay_render_amg(&j->img, &j->amg)
                            : overlay_render(&j->img, &j->ps, j->res);
    if (!rgb) {
        report_file_error(path, "out of memory");
        return -1;
    }
    int rc = out_png(outs, path, rgb, j->img.width, j->img.height, 3);
    free(rgb);
    return rc;
}

static int write_outputs(batch_run *r, image_job *j)
{
    out_set outs;
    out_init(&outs);
    if (((r->want & BF_PNG) && write_masks(r, j, &outs)) ||
        ((r->want & BF_YOLO) && write_yolo(r, j, &outs)) ||
        ((r->want & BF_COCO) && write_coco(j, &outs)) ||
        ((r->want & BF_OVERLAY) && write_overlay(r, j, &outs))) {
        out_abort(&outs);
        return -1;
    }
    return out_commit(&outs);
}

static int write_marker(batch_run *r, image_job *j)
{
    char path[PATH_MAX];
    if (bf_name(path, j->paths.meta, ".done"))
        return -1;
    j->written.outputs = r->want;
    j->written.options = r->options;
    j->written.input = j->input;
    char *text = bf_marker_text(&j->written);
    if (!text) {
        report_file_error(path, "out of memory");
        return -1;
    }
    out_set outs;
    out_init(&outs);
    int rc = out_text(&outs, path, text, strlen(text));
    free(text);
    if (rc) {
        out_abort(&outs);
        return -1;
    }
    return out_commit(&outs);
}

/* ---- --compare ----------------------------------------------------------- */

static void compare_mask(batch_run *r, const image_job *j, int o, int m)
{
    char rel[PATH_MAX], ref[PATH_MAX];
    snprintf(rel, sizeof rel, "%s_%d_%d.png", j->item->stem, o, m);
    int n = snprintf(ref, sizeof ref, "%s/%s", r->a->value[OPT_COMPARE], rel);
    int w = 0, h = 0;
    /* through the guarded loader (as `compare`): a corrupt reference is
     * reported, never handed to stb_image unchecked */
    msam_image refimg = {0};
    uint8_t *px = NULL;
    struct stat st;
    double iou = 0;
    char written[PATH_MAX];
    r->cmp_n++;
    if (n <= 0 || n >= (int)sizeof ref || stat(ref, &st) != 0) {
        report_file_error(ref, "no reference mask to compare %s with", rel);
    } else if (bf_mask_name(written, j->paths.out, o, m) == 0 &&
               same_file(ref, written)) {
        /* REFDIR reaches into OUTDIR: the mask would be its own reference */
        report_file_error(ref, "is the mask just written, not a reference");
    } else if (cli_image_load(ref, &refimg) == 0) {
        w = refimg.width;
        h = refimg.height;
        /* stb's RGB-to-gray formula (stbi_load(..., 1)): gray PNGs keep
         * their values */
        const size_t npx = (size_t)w * (size_t)h;
        px = malloc(npx ? npx : 1);
        if (!px) report_file_error(ref, "out of memory");
        for (size_t i = 0; px && i < (size_t)w * h; i++) {
            const uint8_t *q = refimg.rgb + 3 * i;
            px[i] = (uint8_t)((q[0] * 77 + q[1] * 150 + q[2] * 29) >> 8);
        }
        image_free(&refimg);
    }
    if (!px) {
        /* reported above */
    } else if (w != j->img.width || h != j->img.height) {
        report_file_error(ref, "reference is %dx%d, the mask %dx%d", w, h,
                       j->img.width, j->img.height);
    } else {
        const uint8_t *mask = j->objs[o].masks[m];
        long inter = 0, uni = 0;
        for (size_t i = 0; i < (size_t)w * h; i++) {
            int a = mask[i] != 0, b = px[i] > 127;
            inter += a & b;
            uni += a | b;
        }
        iou = uni ? (double)inter / (double)uni : 1.0;
        if (iou < r->a->min_iou)
            report_file_error(ref, "IoU %.6f with %s is below %g", iou, rel,
                           (double)r->a->min_iou);
    }
    free(px);
    if (!px || w != j->img.width || h != j->img.height ||
        iou < r->a->min_iou)
        r->cmp_bad++;
    r->cmp_sum += iou;
    if (r->cmp_n == 1 || iou < r->cmp_min)
        r->cmp_min = iou;
}

/* ---- one image ----------------------------------------------------------- */

/* `old`: the image's marker from an earlier run, NULL when none. */
static int process_image(batch_run *r, image_job *j, const bf_marker *old)
{
    const batch_args *a = r->a;
    bf_marker_remove(&j->paths);
    /* Deleted before anything is written, so that no stale file outlives
     * a run killed half-way; only what the marker lists (files this tool
     * wrote), never an input of this run. */
    if (old)
        bf_remove_listed(&j->paths, old, is_input, r);
    if (bf_make_dirs(&j->paths))
        return -1;
    bf_sweep_temporaries(&j->paths);
    if (cli_image_load(j->item->path, &j->img))
        return -1;
    int rc = 0;
    if (a->given[OPT_EVERYTHING])
        rc = generate(r, j);
    else if (a->value[OPT_BOXES_FROM])
        rc = objects_from_labels(r, j);
    else
        rc = objects_from_prompts(r, j);
    if (rc == 0 && j->ps.n > 0)
        rc = predict(r, j);
    if (rc || collect_objects(j) || write_outputs(r, j))
        return -1;
    if (a->value[OPT_COMPARE])
        for (int o = 0; o < j->n_objs; o++)
            for (int m = 0; m < j->objs[o].n_masks; m++)
                compare_mask(r, j, o, m);
    return write_marker(r, j);
}

/* 1 when the earlier run's outputs stand for this one: same options and
 * inputs, every output asked for, every file it wrote still there. */
static int is_complete(const batch_run *r, const image_job *j,
                       const bf_marker *m)
{
    return m->options == r->options && m->input == j->input &&
           (m->outputs & r->want) == r->want &&
           bf_marker_files_exist(&j->paths, m);
}

/* Skips image i when complete, else processes it. */
static void run_one(batch_run *r, int i)
{
    image_job j;
    memset(&j, 0, sizeof j);
    j.item = &r->list.items[i];
    prompts_init(&j.ps, CMD);
    int rc = -1, skipped = 0;
    bf_marker old;
    memset(&old, 0, sizeof old);
    if (r->clash[i] >= 0) {
        report_file_error(j.item->path,
                       "its outputs would have the same name as those of %s "
                       "('%s'): rename one of them",
                       r->list.items[r->clash[i]].path, j.item->stem);
    } else if (bf_paths_make(&j.paths, r->outdir, j.item->stem) == 0 &&
               image_fingerprint(r, &j) == 0) {
        int valid = bf_marker_read(&j.paths, &old);
        skipped = valid && !r->a->given[OPT_OVERWRITE] &&
                  is_complete(r, &j, &old);
        rc = skipped ? 0 : process_image(r, &j, valid ? &old : NULL);
    }
    bf_marker_free(&old);
    job_free(&j);
    r->complete[i] = rc == 0;
    if (rc) {
        r->failed++;
        note(&r->failed_names, j.item->key);
    } else if (skipped) {
        r->skipped++;
    } else {
        r->processed++;
    }
}

/* ---- the whole run ------------------------------------------------------- */

typedef struct {
    const char *stem;
    int index;
} stem_entry;

static int stem_cmp(const void *x, const void *y)
{
    const stem_entry *a = x, *b = y;
    int c = strcmp(a->stem, b->stem);
    return c ? c : a->index - b->index;
}

/* Marks images whose stem an earlier image already has. */
static int find_clashes(batch_run *r)
{
    int n = r->list.n;
    stem_entry *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    r->clash = malloc((size_t)(n ? n : 1) * sizeof *r->clash);
    if (!order || !r->clash) {
        free(order);
        report_cmd_error(CMD, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        order[i].stem = r->list.items[i].stem;
        order[i].index = i;
        r->clash[i] = -1;
    }
    qsort(order, (size_t)n, sizeof *order, stem_cmp);
    for (int k = 1; k < n; k++)
        if (!strcmp(order[k].stem, order[k - 1].stem))
            r->clash[order[k].index] = r->clash[order[k - 1].index] >= 0
                                           ? r->clash[order[k - 1].index]
                                           : order[k - 1].index;
    free(order);
    return 0;
}

static int key_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Warns about --prompts entries that name no image of INPUT (a typo would
 * otherwise silently leave an image without objects). */
static void check_prompt_names(const batch_run *r)
{
    int n = r->list.n, unknown = 0;
    const char **keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    if (!keys)
        return;
    for (int i = 0; i < n; i++)
        keys[i] = r->list.items[i].key;
    qsort(keys, (size_t)n, sizeof *keys, key_cmp);
    for (int i = 0; i < prompts_batch_count(r->pb); i++) {
        const char *name = prompts_batch_image(r->pb, i);
        if (i > 0 && !strcmp(name, prompts_batch_image(r->pb, i - 1)))
            continue;
        if (bsearch(&name, keys, (size_t)n, sizeof *keys, key_cmp))
            continue;
        if (++unknown <= 5)
            report_file_error(r->a->value[OPT_PROMPTS],
                           "warning: no image '%s' in %s", name,
                           r->a->input);
    }
    if (unknown > 5)
        report_file_error(r->a->value[OPT_PROMPTS],
                       "warning: %d more names match no image", unknown - 5);
    free(keys);
}

/* 1 when image i of another shard is complete as far as its marker tells
 * (its process checked its inputs): made with this run's options, with a
 * COCO record. */
static int other_shard_complete(const batch_run *r, const bf_paths *p)
{
    bf_marker m;
    int ok = bf_marker_read(p, &m) && m.options == r->options &&
             (m.outputs & BF_COCO) && bf_marker_files_exist(p, &m);
    bf_marker_free(&m);
    return ok;
}

/* annotations.json from every complete image of the whole list (not only
 * this shard): the last shard to finish leaves the full set. */
static int assemble_coco(batch_run *r)
{
    int n = r->list.n, k = 0;
    coco_input *in = malloc((size_t)(n ? n : 1) * sizeof *in);
    int rc = -1;
    if (!in) {
        report_cmd_error(CMD, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        bf_paths p;
        char name[PATH_MAX];
        int mine = i % r->a->shard_n == r->a->shard_i;
        if (r->clash[i] >= 0 ||
            bf_paths_make(&p, r->outdir, r->list.items[i].stem) ||
            (mine ? !r->complete[i] : !other_shard_complete(r, &p)) ||
            bf_name(name, p.meta, ".coco.json"))
            continue;
        if (!(in[k].path = strdup(name))) {
            report_cmd_error(CMD, "out of memory");
            goto done;
        }
        in[k++].image_id = i + 1;
    }
    char path[PATH_MAX];
    int len = snprintf(path, sizeof path, "%s/annotations.json", r->outdir);
    if (len < 0 || len >= (int)sizeof path) {
        report_file_error(r->outdir, "path too long");
        goto done;
    }
    out_set outs;
    out_init(&outs);
    const batch_args *a = r->a;
    if (coco_assemble(&outs, path, in, k, a->classes, a->n_classes,
                      a->value[OPT_BOXES_FROM] ? "class_%d" : "object")) {
        out_abort(&outs);
        goto done;
    }
    rc = out_commit(&outs);
done:
    for (int i = 0; i < k; i++)
        free((char *)in[i].path);
    free(in);
    return rc;
}

/* A file name on stdout: control characters (a newline in a name would
 * split the summary's line) as '?', as on stderr. */
static void print_name(const char *s)
{
    for (; *s; s++)
        putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static void print_names(const char *what, const name_list *l)
{
    if (!l->n)
        return;
    printf("%s:", what);
    int shown = l->n < l->cap ? l->n : l->cap;
    shown = shown < MAX_NAMED ? shown : MAX_NAMED;
    for (int i = 0; i < shown; i++) {
        fputs(i ? ", " : " ", stdout);
        print_name(l->v[i]);
    }
    if (l->n > shown)
        printf(" and %d more", l->n - shown);
    putchar('\n');
}

static void summary(const batch_run *r)
{
    printf("done: %d processed, %d skipped (already complete), %d failed\n",
           r->processed, r->skipped, r->failed);
    print_names("failed", &r->failed_names);
    print_names(r->a->value[OPT_BOXES_FROM] ? "no label file (no objects)"
                                            : "no prompts (no objects)",
                &r->no_objects);
    if (r->a->value[OPT_COMPARE]) {
        printf("compare: %ld mask%s", r->cmp_n, r->cmp_n == 1 ? "" : "s");
        if (r->cmp_n)
            printf(", min IoU %.6f, mean IoU %.6f", r->cmp_min,
                   r->cmp_sum / (double)r->cmp_n);
        printf(", %ld below %g\n", r->cmp_bad, (double)r->a->min_iou);
    }
}

/* Keeps fds 1 and 2 open (on /dev/null, read-only) when the tool was
 * started without them: else the first file the run opens would get the
 * number, and the summary or an error line would be written into it. A
 * summary written to such a placeholder fails (EBADF), as it should. */
static void hold_std_fds(void)
{
    for (int fd = 1; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0 && nul != fd) {
            dup2(nul, fd);
            close(nul);
        }
    }
}

/* Everything that can fail before the first image: the list, the prompts,
 * the weights, the output folder (created last, so that a run refused
 * here leaves nothing behind). */
static int prepare(batch_run *r)
{
    const batch_args *a = r->a;
    struct stat st;
    const char *labels = a->value[OPT_BOXES_FROM];
    if (labels && (stat(labels, &st) != 0 || !S_ISDIR(st.st_mode))) {
        report_file_error(labels, "not a folder of label files");
        return -1;
    }
    if (imglist_read(a->input, a->given[OPT_RECURSIVE], r->outdir, &r->list) ||
        find_clashes(r))
        return -1;
    if (a->value[OPT_PROMPTS]) {
        if (prompts_batch_open(a->value[OPT_PROMPTS], &r->pb))
            return -1;
        check_prompt_names(r);
    }
    if (cli_session_weights(&r->s, a->value[OPT_WEIGHTS]) ||
        cli_session_model(&r->s) || collect_inputs(r))
        return -1;
    r->options = options_fingerprint(r);
    r->complete = calloc((size_t)(r->list.n ? r->list.n : 1), 1);
    if (!r->complete) {
        report_cmd_error(CMD, "out of memory");
        return -1;
    }
    return out_mkdirs(r->outdir, NULL);
}

static int run(batch_args *a)
{
    batch_run r;
    memset(&r, 0, sizeof r);
    r.a = a;
    r.outdir = a->value[OPT_OUTPUT];
    r.want = a->formats | (a->given[OPT_OVERLAY] ? BF_OVERLAY : 0);
    cli_session_init(&r.s, a->threads, a->precision);
    int rc = CLI_DATA_ERROR;
    if (prepare(&r) == 0) {
        if (r.list.n == 0)
            report_file_error(a->input, "warning: no images found%s",
                           r.list.from_list || a->given[OPT_RECURSIVE]
                               ? ""
                               : " (subfolders need --recursive)");
        int total = 0;
        for (int i = a->shard_i; i < r.list.n; i += a->shard_n)
            total++;
        progress prog;
        progress_init(&prog, total, "images");
        int done = 0;
        progress_update(&prog, 0, 0);
        for (int i = a->shard_i; i < r.list.n; i += a->shard_n) {
            run_one(&r, i);
            progress_update(&prog, ++done, r.processed);
        }
        progress_end(&prog);
        if ((a->formats & BF_COCO) && assemble_coco(&r)) {
            /* counted, so that the summary agrees with the exit status */
            r.failed++;
            note(&r.failed_names, "annotations.json");
        }
        errno = 0;
        summary(&r);
        rc = r.failed || r.cmp_bad ? CLI_DATA_ERROR : CLI_OK;
        if (fflush(stdout) || ferror(stdout)) {
            report_cmd_error(CMD, "cannot write the summary: %s",
                          strerror(errno ? errno : EIO));
            rc = CLI_DATA_ERROR;
        }
    }
    cli_session_free(&r.s);
    free(r.inputs);
    free(r.complete);
    prompts_batch_free(r.pb);
    imglist_free(&r.list);
    free(r.clash);
    free(r.failed_names.v);
    free(r.no_objects.v);
    return rc;
}

int cmd_batch_parse(int argc, char **argv)
{
    batch_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    free(a.classes);
    return rc;
}

int cmd_batch(int argc, char **argv)
{
    batch_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc == 0) {
        hold_std_fds();
        rc = run(&a);
    }
    else if (rc < 0)
        rc = CLI_OK;
    free(a.classes);
    return rc;
}
