/*
 * common.h - what every mobilesam subcommand shares: exit codes, the one
 * error path (one line on stderr), weights resolution, thread setup, model
 * loading, and the session that holds a command's image, weights and model.
 */
#ifndef MOBILESAM_CLI_COMMON_H
#define MOBILESAM_CLI_COMMON_H

#include <stdarg.h>

#include "format/report.h"
#include "io/image.h"
#include "mobilesam.h"

#define CLI_OK 0
#define CLI_DATA_ERROR 1  /* bad input data: image, weights, prompts */
#define CLI_USAGE_ERROR 2 /* bad command line */

/* Default weight file name, looked up relative to the current directory and
 * to the executable's directory (which is build/, hence the "../"). */
#define CLI_WEIGHTS_DEFAULT "weights/mobile_sam.msam"

/* "mobilesam: <message>" on one line of stderr; control characters in the
 * message (say, a newline in a file name) are shown as '?'. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The other error lines are format/report.h's: report_file_error()
 * ("mobilesam: <file>: <message>"), report_cmd_error() ("mobilesam <cmd>:
 * <message>", a data error not tied to one file), and report_set_hook()
 * (called before each line is printed, so that a progress line on a
 * terminal can be cleared first). */
/* "mobilesam <cmd>: <message> (see 'mobilesam <cmd> --help')"; returns
 * CLI_USAGE_ERROR so callers can `return cli_usage(...)`. */
int cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses a --threads value (or $MOBILESAM_THREADS when flag is NULL):
 * 0 when neither is given (= one per online core). Also checks
 * $MOBILESAM_ISA (scalar, avx2, avx512 or neon, any case; empty or unset: the
 * CPU's best). Returns -1 after printing a usage error. */
int cli_parse_threads(const char *cmd, const char *flag);

/* Parses a --precision value (or $MOBILESAM_PRECISION when flag is NULL;
 * unset or empty: fp32) into *out: fp32, fp16 or int8. Returns 0, or -1
 * after printing a usage error. */
int cli_parse_precision(const char *cmd, const char *flag,
                        mobilesam_precision *out);
/* Its lines in the commands' --help. */
#define CLI_PRECISION_HELP                                                     \
    "  --precision P          arithmetic of the network: fp32, fp16 or int8\n" \
    "                         (default: $MOBILESAM_PRECISION or fp32); one\n"   \
    "                         notice on stderr when the CPU runs another\n"

/* Switches a loaded model to `wanted` (mobilesam_set_precision). When the
 * CPU runs another precision, prints one notice line on stderr, once per
 * process ("mobilesam: int8 is not available here (it needs ...); running
 * fp32"). Writes the precision in use to *used when non-NULL. Returns 0, or
 * -1 after "mobilesam: <weights>: <reason>". */
int cli_set_precision(mobilesam_model *model, const char *weights,
                      mobilesam_precision wanted, mobilesam_precision *used);

/* Applies a --max-pixels value (NULL: the default, IMAGE_MAX_PIXELS_DEFAULT)
 * to every image read after: a positive integer, optionally with a K, M or
 * G suffix (thousand, million, billion: "50M"). Returns 0, or
 * CLI_USAGE_ERROR after printing the problem. */
int cli_set_max_pixels(const char *cmd, const char *value);
/* Its line in the commands' --help. */
#define CLI_MAX_PIXELS_HELP                                                  \
    "  --max-pixels N         refuse images of more than N pixels, before\n" \
    "                         decoding (default 100M; K, M, G suffixes)\n"

/* Loads the weights, printing "mobilesam: <path>: <reason>" on failure. */
int cli_load_model(const char *path, mobilesam_model **model);

/* Runs the encoder on img, printing "mobilesam: <name>: <reason>" on
 * failure. Returns 0, or -1. */
int cli_encode(mobilesam_model *model, const msam_image *img,
               const char *name, mobilesam_embedding **emb);

/* Refuses an image the encoder cannot take, one so elongated (3000x1)
 * that its short side would resize to 0 pixels, with the encoder's message
 * naming `name`. Returns 0, or -1 after the error. */
int cli_check_resizable(const char *name, int width, int height);

/* What a command that runs the model holds, each part empty until a step
 * below fills it; the steps return 0, or -1 after printing an error. */
typedef struct {
    msam_image img;         /* the input image (rgb NULL until decoded) */
    char *weights;          /* the weight file's path */
    mobilesam_model *model; /* loaded from `weights` */
    mobilesam_precision precision; /* wanted (cli_session_model sets it) */
} cli_session;

/* Empties the session, sets the engine's threads (0: one per core) and
 * the precision the model will be switched to once loaded. */
void cli_session_init(cli_session *s, int threads,
                      mobilesam_precision precision);
/* Picks the weight file: `flag` (-w) if given, else $MOBILESAM_WEIGHTS, else
 * CLI_WEIGHTS_DEFAULT in the current directory, else
 * <executable dir>/../CLI_WEIGHTS_DEFAULT; an error when none exists. */
int cli_session_weights(cli_session *s, const char *flag);
/* Decodes `image` (cli_image_load), then picks the weight file: the cheap
 * checks, before the model is loaded. */
int cli_session_open(cli_session *s, const char *image, const char *flag);
/* Loads the model from the weight file picked before and switches it to
 * the session's precision (cli_set_precision). */
int cli_session_model(cli_session *s);
/* Frees whatever the session holds. */
void cli_session_free(cli_session *s);

#endif
