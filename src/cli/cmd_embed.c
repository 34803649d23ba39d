/*
 * cmd_embed.c - `mobilesam embed`: runs the encoder once and saves the image
 * embedding with its metadata (embfile.h), so that many `seg --embedding`
 * runs can skip the encoder.
 */
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "format/embfile.h"
#include "format/output.h"

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
    CLI_PRECISION_HELP
    CLI_MAX_PIXELS_HELP
    "  -h, --help             this help\n";
/* clang-format on */

enum {
    OPT_HELP = 1,
    OPT_WEIGHTS,
    OPT_THREADS,
    OPT_PRECISION,
    OPT_OUTPUT,
    OPT_MAX_PIXELS,
    OPT_COUNT
};

static const args_option options[] = {{"help", 'h', 0, OPT_HELP},
                                      {"weights", 'w', 1, OPT_WEIGHTS},
                                      {"threads", 0, 1, OPT_THREADS},
                                      {"precision", 0, 1, OPT_PRECISION},
                                      {"output", 'o', 1, OPT_OUTPUT},
                                      {"max-pixels", 0, 1, OPT_MAX_PIXELS},
                                      {NULL, 0, 0, 0}};

typedef struct {
    const char *image;
    const char *value[OPT_COUNT];
    int given[OPT_COUNT];
    int threads;
    mobilesam_precision precision;
} embed_args;

/* Returns 0 to go on, -1 when --help was printed, or CLI_USAGE_ERROR. */
static int parse_args(embed_args *a, int argc, char **argv)
{
    const args_spec spec = {.cmd = CMD,
                            .options = options,
                            .help_id = OPT_HELP,
                            .usage = usage_text,
                            .positional = &a->image,
                            .n_positional = 1,
                            .value = a->value,
                            .given = a->given};
    int rc = args_run(&spec, argc, argv);
    if (rc)
        return rc;
    if (!a->image)
        return cli_usage(CMD, "missing IMAGE");
    if (!a->value[OPT_OUTPUT])
        return cli_usage(CMD, "missing -o EMB.npy");
    if (!strcmp(a->value[OPT_OUTPUT], "-"))
        return cli_usage(CMD, "-o: the embedding cannot go to stdout");
    if (cli_set_max_pixels(CMD, a->value[OPT_MAX_PIXELS]))
        return CLI_USAGE_ERROR;
    if (cli_parse_precision(CMD, a->value[OPT_PRECISION], &a->precision))
        return CLI_USAGE_ERROR;
    a->threads = cli_parse_threads(CMD, a->value[OPT_THREADS]);
    return a->threads < 0 ? CLI_USAGE_ERROR : 0;
}

static int encode_and_save(const embed_args *a, mobilesam_model *model,
                           const msam_image *img)
{
    mobilesam_embedding *emb = NULL;
    if (cli_encode(model, img, a->image, &emb))
        return -1;
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

/* An output that is one of the inputs would overwrite it: refused. */
static int check_files(const embed_args *a, const char *weights)
{
    const char *out = a->value[OPT_OUTPUT];
    const char *what = out_same_file(out, a->image)  ? "the image"
                       : out_same_file(out, weights) ? "the weights"
                                                     : NULL;
    if (!what)
        return 0;
    report_cmd_error(CMD, "output %s is also an input (%s)", out, what);
    return CLI_USAGE_ERROR;
}

static int run(const embed_args *a)
{
    cli_session s;
    int rc = CLI_DATA_ERROR;
    cli_session_init(&s, a->threads, a->precision);
    if (out_check_dir(a->value[OPT_OUTPUT]) == 0 &&
        cli_session_open(&s, a->image, a->value[OPT_WEIGHTS]) == 0 &&
        (rc = check_files(a, s.weights)) == 0) {
        rc = CLI_DATA_ERROR;
        if (cli_session_model(&s) == 0 &&
            encode_and_save(a, s.model, &s.img) == 0)
            rc = CLI_OK;
    }
    cli_session_free(&s);
    return rc;
}

int cmd_embed_parse(int argc, char **argv)
{
    embed_args a;
    memset(&a, 0, sizeof a);
    return parse_args(&a, argc, argv);
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
