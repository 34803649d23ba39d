/*
 * cmd_everything.c - `mobilesam everything`: every object of an image
 * without prompts, with the official automatic mask generator
 * (mobilesam_generate): mask PNGs, the generator's records as JSON, an
 * overlay. Outputs are all-or-nothing (output.h); an output folder this run
 * created is removed again when the run fails.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amgargs.h"
#include "args.h"
#include "format/coco.h"
#include "commands.h"
#include "common.h"
#include "format/output.h"
#include "format/overlay.h"
#include "progress.h"

#define CMD "everything"

/* clang-format off */
static const char usage_text[] =
    "usage: mobilesam everything IMAGE -o OUTDIR [options]\n"
    "\n"
    "Segments everything in IMAGE, without prompts: the official automatic\n"
    "mask generator (SamAutomaticMaskGenerator) prompts the model with a\n"
    "grid of points and keeps the confident, stable, distinct masks.\n"
    "\n"
    "outputs:\n"
    "  -o, --output OUTDIR    folder of the outputs (created if missing)\n"
    "  --format LIST          png, json or png,json (default: both):\n"
    "                         OUTDIR/mask_<i>.png (0/255, one per mask) and\n"
    "                         OUTDIR/masks.json, the generator's records:\n"
    "                         [{\"segmentation\": {\"size\": [h, w], \"counts\":\n"
    "                         [...]} (COCO RLE, column-major), \"area\",\n"
    "                         \"bbox\" [x, y, w, h], \"predicted_iou\",\n"
    "                         \"point_coords\" [[x, y]], \"stability_score\",\n"
    "                         \"crop_box\" [x, y, w, h]}, ...]; record i is\n"
    "                         mask_<i>.png\n"
    "  --overlay FILE.png     the image with every mask in its own colour\n"
    "\n"
    "generator (defaults: the official ones):\n"
    AMGARGS_HELP
    "\n"
    "other:\n"
    "  -w, --weights FILE     weight file (default: $MOBILESAM_WEIGHTS,\n"
    "                         weights/mobile_sam.msam here or beside the tool)\n"
    "  --threads N            threads (default: $MOBILESAM_THREADS or all cores)\n"
    CLI_PRECISION_HELP
    CLI_MAX_PIXELS_HELP
    "  -h, --help             this help\n"
    "\n"
    "Prints the number of masks. Outputs are all-or-nothing; mask_<i>.png\n"
    "files of an earlier run beyond the new count are removed. Progress is\n"
    "shown when stderr is a terminal.\n"
    "example: mobilesam everything photo.jpg -o masks --overlay masks.png\n";
/* clang-format on */

enum {
    OPT_HELP = 1,
    OPT_WEIGHTS,
    OPT_THREADS,
    OPT_PRECISION,
    OPT_OUTPUT,
    OPT_FORMAT,
    OPT_OVERLAY,
    OPT_MAX_PIXELS,
    OPT_AMG, /* AMGARGS_N ids from here */
    OPT_COUNT = OPT_AMG + AMGARGS_N
};

static const args_option options[] = {{"help", 'h', 0, OPT_HELP},
                                      {"weights", 'w', 1, OPT_WEIGHTS},
                                      {"threads", 0, 1, OPT_THREADS},
                                      {"precision", 0, 1, OPT_PRECISION},
                                      {"output", 'o', 1, OPT_OUTPUT},
                                      {"format", 0, 1, OPT_FORMAT},
                                      {"overlay", 0, 1, OPT_OVERLAY},
                                      {"max-pixels", 0, 1, OPT_MAX_PIXELS},
                                      AMGARGS_OPTIONS(OPT_AMG),
                                      {NULL, 0, 0, 0}};

enum { FMT_PNG = 1, FMT_JSON = 2 };
static const char *const format_names[] = {"png", "json", NULL};

typedef struct {
    const char *image;
    const char *value[OPT_COUNT];
    int given[OPT_COUNT];
    unsigned formats;
    int threads;
    mobilesam_precision precision;
    amg_args amg;
} everything_args;

/* ---- command line ------------------------------------------------------ */

static int take_option(const args_spec *s, int id, const char *value)
{
    everything_args *a = s->ctx;
    if (id >= OPT_AMG)
        return amgargs_take(&a->amg, CMD, id - OPT_AMG, value);
    if (args_store(s, id, value))
        return CLI_USAGE_ERROR;
    if (id == OPT_FORMAT &&
        args_parse_names(value, format_names, &a->formats))
        return cli_usage(CMD, "--format: expected png, json or png,json, "
                              "got '%s'",
                         value);
    return 0;
}

/* Returns 0 to go on, -1 when --help was printed, or CLI_USAGE_ERROR. */
static int parse_args(everything_args *a, int argc, char **argv)
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
    a->formats = FMT_PNG | FMT_JSON;
    amgargs_init(&a->amg);
    int rc = args_run(&spec, argc, argv);
    if (rc)
        return rc;
    if (!a->image)
        return cli_usage(CMD, "missing IMAGE");
    if (!a->value[OPT_OUTPUT])
        return cli_usage(CMD, "missing -o OUTDIR");
    if (!strcmp(a->value[OPT_OUTPUT], "-"))
        return cli_usage(CMD, "-o: the outputs cannot go to stdout");
    if (a->value[OPT_OVERLAY] && !strcmp(a->value[OPT_OVERLAY], "-"))
        return cli_usage(CMD, "--overlay: cannot go to stdout");
    if (cli_set_max_pixels(CMD, a->value[OPT_MAX_PIXELS]))
        return CLI_USAGE_ERROR;
    if (cli_parse_precision(CMD, a->value[OPT_PRECISION], &a->precision))
        return CLI_USAGE_ERROR;
    a->threads = cli_parse_threads(CMD, a->value[OPT_THREADS]);
    return a->threads < 0 ? CLI_USAGE_ERROR : 0;
}

/* ---- outputs ------------------------------------------------------------- */

static int out_path(char *buf, const char *dir, const char *name)
{
    int n = snprintf(buf, PATH_MAX, "%s%s%s", dir,
                     dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    if (n < 0 || n >= PATH_MAX) {
        report_file_error(dir, "path too long");
        return -1;
    }
    return 0;
}

static int write_json(out_set *outs, const char *dir,
                      const mobilesam_amg_result *res)
{
    char path[PATH_MAX];
    if (out_path(path, dir, "masks.json"))
        return -1;
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; list && i < res->n; i++) {
        cJSON *r = coco_amg_record(&res->masks[i], res->width, res->height);
        if (!r) {
            cJSON_Delete(list);
            list = NULL;
        } else
            cJSON_AddItemToArray(list, r);
    }
    if (!list) {
        report_file_error(path, "out of memory");
        return -1;
    }
    int rc = out_json(outs, path, list);
    cJSON_Delete(list);
    return rc;
}

static int write_overlay(out_set *outs, const char *path,
                         const msam_image *img,
                         const mobilesam_amg_result *res)
{
    uint8_t *rgb = overlay_render_amg(img, res);
    if (!rgb) {
        report_file_error(path, "out of memory");
        return -1;
    }
    int rc = out_png(outs, path, rgb, img->width, img->height, 3);
    free(rgb);
    return rc;
}

static int write_outputs(const everything_args *a, const msam_image *img,
                         const mobilesam_amg_result *res)
{
    const char *dir = a->value[OPT_OUTPUT];
    char path[PATH_MAX], name[64];
    out_set outs;
    out_init(&outs);
    for (int i = 0; (a->formats & FMT_PNG) && i < res->n; i++) {
        snprintf(name, sizeof name, "mask_%d.png", i);
        if (out_path(path, dir, name) ||
            out_png(&outs, path, res->masks[i].mask, res->width, res->height,
                    1))
            goto fail;
    }
    if ((a->formats & FMT_JSON) && write_json(&outs, dir, res))
        goto fail;
    if (a->value[OPT_OVERLAY] &&
        write_overlay(&outs, a->value[OPT_OVERLAY], img, res))
        goto fail;
    /* The summary is printed by the commit, after the files are in place:
     * if stdout cannot take it, they are undone (exit 1). */
    char summary[32];
    snprintf(summary, sizeof summary, "%d mask%s", res->n,
             res->n == 1 ? "" : "s");
    if (!(outs.stdout_text = strdup(summary))) {
        report_cmd_error(CMD, "out of memory");
        goto fail;
    }
    return out_commit(&outs);
fail:
    out_abort(&outs);
    return -1;
}

/* k for "mask_<k>.png", else -1. */
static int mask_index(const char *name)
{
    if (strncmp(name, "mask_", 5))
        return -1;
    const char *p = name + 5;
    size_t digits = strspn(p, "0123456789");
    if (!digits || digits > 9 || strcmp(p + digits, ".png"))
        return -1;
    return atoi(p);
}

/* Removes mask_<k>.png for k >= n: the leftovers of an earlier, bigger run
 * would read as masks of this one. */
static void remove_stale_masks(const char *dir, int n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[PATH_MAX];
        if (mask_index(e->d_name) >= n && out_path(path, dir, e->d_name) == 0)
            unlink(path);
    }
    if (d)
        closedir(d);
}

/* ---- outputs against inputs ---------------------------------------------- */

/* Whether `path` (symlinks followed) is one of OUTDIR's files this run
 * writes, or removes as stale: mask_<k>.png, masks.json. If so its name
 * there goes to buf (PATH_MAX) and 1 is returned. */
static int in_outdir(const everything_args *a, const char *path, char *buf)
{
    out_file_id id;
    if (!path || out_file_id_get(path, &id))
        return 0;
    const char *base = strrchr(id.key, '/');
    base = base ? base + 1 : id.key;
    const char *dir = a->value[OPT_OUTPUT];
    int ours = ((a->formats & FMT_PNG) && mask_index(base) >= 0) ||
               ((a->formats & FMT_JSON) && !strcmp(base, "masks.json"));
    int n = ours ? snprintf(buf, PATH_MAX, "%s/%s", dir, base) : -1;
    int same = n > 0 && n < PATH_MAX && out_same_file(buf, path);
    out_file_id_free(&id);
    return same;
}

/* An output that is an input (it would overwrite it), or an overlay that
 * is one of OUTDIR's files, is refused: returns 0, or CLI_USAGE_ERROR after
 * printing the problem. */
static int check_files(const everything_args *a, const char *weights)
{
    const char *overlay = a->value[OPT_OVERLAY];
    char buf[PATH_MAX];
    const char *out = NULL, *what = NULL;
    if (overlay && out_same_file(overlay, a->image))
        out = overlay, what = "the image";
    else if (overlay && out_same_file(overlay, weights))
        out = overlay, what = "the weights";
    else if (in_outdir(a, a->image, buf))
        out = buf, what = "the image";
    else if (in_outdir(a, weights, buf))
        out = buf, what = "the weights";
    else if (overlay && in_outdir(a, overlay, buf))
        return cli_usage(CMD, "--overlay %s is one of OUTDIR's files",
                         overlay);
    if (!out)
        return 0;
    report_cmd_error(CMD, "output %s is also an input (%s)", out, what);
    return CLI_USAGE_ERROR;
}

/* ---- the run ------------------------------------------------------------- */

static void on_progress(int done, int total, void *ctx)
{
    progress *p = ctx;
    p->total = total;
    progress_update(p, done, done);
}

static int generate(everything_args *a, mobilesam_model *model,
                    const msam_image *img, mobilesam_amg_result *res)
{
    progress prog;
    progress_init(&prog, 0, "batches");
    mobilesam_amg_options opt = a->amg.opt;
    if (prog.enabled) {
        opt.progress = on_progress;
        opt.progress_ctx = &prog;
    }
    mobilesam_error err = {{0}};
    mobilesam_status st = mobilesam_generate(model, img->rgb, img->width,
                                             img->height, &opt, res, &err);
    progress_end(&prog);
    if (st != MOBILESAM_OK) {
        report_file_error(a->image, "%s", err.message);
        return -1;
    }
    return 0;
}

/* Whether OUTDIR can be made (or written, when it exists) later, checked
 * before the long work without creating it: a run killed or failing before
 * its outputs leaves no empty folder behind. Its nearest existing ancestor
 * must be a writable directory. Returns 0, or -1 after an error. */
static int check_outdir(const char *dir)
{
    char *p = strdup(dir);
    if (!p) {
        report_file_error(dir, "out of memory");
        return -1;
    }
    int rc = -1;
    for (;;) {
        struct stat st;
        if (stat(p, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                report_file_error(p, "cannot create directory: %s",
                               strerror(ENOTDIR));
            else if (access(p, W_OK | X_OK) != 0)
                report_file_error(dir, "cannot create file: %s",
                               strerror(errno));
            else
                rc = 0;
            break;
        }
        if (errno != ENOENT) {
            report_file_error(p, "cannot create directory: %s", strerror(errno));
            break;
        }
        /* up one level: "a/b/c" -> "a/b", "a" -> "." */
        size_t len = strlen(p);
        while (len > 1 && p[len - 1] == '/')
            p[--len] = 0;
        char *slash = strrchr(p, '/');
        if (!slash)
            strcpy(p, ".");
        else if (slash == p)
            p[1] = 0;
        else
            *slash = 0;
    }
    free(p);
    return rc;
}

static int run(everything_args *a)
{
    const char *dir = a->value[OPT_OUTPUT];
    cli_session s;
    mobilesam_amg_result res = {0, NULL, 0, 0};
    char *created = NULL;
    int rc = CLI_DATA_ERROR;
    cli_session_init(&s, a->threads, a->precision);

    if (cli_session_open(&s, a->image, a->value[OPT_WEIGHTS]))
        goto done;
    if ((rc = check_files(a, s.weights)) != 0)
        goto done;
    rc = CLI_DATA_ERROR;
    if (check_outdir(dir) ||
        (a->value[OPT_OVERLAY] && out_check_dir(a->value[OPT_OVERLAY])) ||
        cli_session_model(&s) || generate(a, s.model, &s.img, &res))
        goto done;
    /* OUTDIR only now, when the outputs are about to be written */
    if (out_mkdirs(dir, &created))
        goto done;
    out_track_dir(dir, created);
    if (write_outputs(a, &s.img, &res))
        goto done;
    if (a->formats & FMT_PNG)
        remove_stale_masks(dir, res.n);
    rc = CLI_OK;
done:
    out_untrack_dir();
    if (rc != CLI_OK && created)
        out_rmdirs(dir, created);
    free(created);
    mobilesam_amg_result_free(&res);
    cli_session_free(&s);
    return rc;
}

int cmd_everything_parse(int argc, char **argv)
{
    everything_args a;
    memset(&a, 0, sizeof a);
    return parse_args(&a, argc, argv);
}

int cmd_everything(int argc, char **argv)
{
    everything_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc == 0)
        rc = run(&a);
    else if (rc < 0)
        rc = CLI_OK;
    return rc;
}
