/*
 * cmd_embed.c - `mobilesam embed`: runs the encoder once and saves the image
 * embedding with its metadata (embfile.h), so that many `seg --embedding`
 * runs can skip the encoder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "embfile.h"
#include "imgfile.h"
#include "output.h"

#define CMD "embed"

/* clang-format off */
static const char usage_text[] =
    "usage: mobilesam embed IMAGE -o EMB.npy [options]\n"
    "\n"
    "Encodes IMAGE and saves its embedding, float32 (1, 256, 64, 64), with\n"
    "the weights' id and the image size in the .npy header, for\n"
    "'mobilesam seg IMAGE --embedding EMB.npy'.\n"
    "\n"
    "options:\n"
    "  -o, --output EMB.npy   where to write the embedding (required)\n"
    "  -w, --weights FILE     weight file (default: $MOBILESAM_WEIGHTS,\n"
    "                         weights/mobile_sam.msam here or beside the tool)\n"
    "  --threads N            threads (default: $MOBILESAM_THREADS or all cores)\n"
    "  -h, --help             this help\n";
/* clang-format on */

enum { OPT_HELP = 1, OPT_WEIGHTS, OPT_THREADS, OPT_OUTPUT, OPT_COUNT };

static const args_option options[] = {{"help", 'h', 0, OPT_HELP},
                                      {"weights", 'w', 1, OPT_WEIGHTS},
                                      {"threads", 0, 1, OPT_THREADS},
                                      {"output", 'o', 1, OPT_OUTPUT},
                                      {NULL, 0, 0, 0}};

typedef struct {
    const char *image;
    const char *value[OPT_COUNT];
    int threads;
} embed_args;

/* Returns 0 to go on, -1 when --help was printed, or CLI_USAGE_ERROR. */
static int parse_args(embed_args *a, int argc, char **argv)
{
    args_parser p;
    args_init(&p, CMD, options, argc, argv, 1);
    const char *value;
    int id;
    while ((id = args_next(&p, &value)) != ARGS_END) {
        if (id == ARGS_ERROR)
            return CLI_USAGE_ERROR;
        if (id == OPT_HELP) {
            fputs(usage_text, stdout);
            return -1;
        }
        if (id == ARGS_POSITIONAL && a->image)
            return cli_usage(CMD, "unexpected argument '%s'", value);
        if (id == ARGS_POSITIONAL)
            a->image = value;
        else if (a->value[id])
            return cli_usage(CMD, "option '--%s' given twice",
                             args_option_name(options, id));
        else
            a->value[id] = value;
    }
    if (!a->image)
        return cli_usage(CMD, "missing IMAGE");
    if (!a->value[OPT_OUTPUT])
        return cli_usage(CMD, "missing -o EMB.npy");
    if (!strcmp(a->value[OPT_OUTPUT], "-"))
        return cli_usage(CMD, "-o: the embedding cannot go to stdout");
    a->threads = cli_parse_threads(CMD, a->value[OPT_THREADS]);
    return a->threads < 0 ? CLI_USAGE_ERROR : 0;
}

static int encode_and_save(const embed_args *a, mobilesam_model *model,
                           const msam_image *img)
{
    mobilesam_embedding *emb = NULL;
    mobilesam_error err = {{0}};
    if (mobilesam_encode(model, img->rgb, img->width, img->height, &emb,
                         &err) != MOBILESAM_OK) {
        cli_file_error(a->image, "%s", err.message);
        return -1;
    }
    out_set outs;
    out_init(&outs);
    int rc = embfile_write(&outs, a->value[OPT_OUTPUT], model, emb);
    if (rc)
        out_abort(&outs);
    else
        rc = out_commit(&outs);
    mobilesam_embedding_free(emb);
    return rc;
}

static int run(const embed_args *a)
{
    msam_image img = {NULL, 0, 0};
    mobilesam_model *model = NULL;
    char *weights = NULL;
    int rc = CLI_DATA_ERROR;
    mobilesam_set_threads(a->threads);
    if (out_check_dir(a->value[OPT_OUTPUT]) == 0 &&
        cli_image_load(a->image, &img) == 0 &&
        (weights = cli_resolve_weights(a->value[OPT_WEIGHTS])) &&
        cli_load_model(weights, &model) == 0 &&
        encode_and_save(a, model, &img) == 0)
        rc = CLI_OK;
    if (model)
        mobilesam_free(model);
    free(weights);
    if (img.rgb)
        image_free(&img);
    return rc;
}

int cmd_embed(int argc, char **argv)
{
    embed_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc < 0)
        return CLI_OK;
    return rc ? rc : run(&a);
}
