/*
 * common.h - what every mobilesam subcommand shares: exit codes, the one
 * error path (one line on stderr), weights resolution, thread setup, model
 * loading.
 */
#ifndef MOBILESAM_CLI_COMMON_H
#define MOBILESAM_CLI_COMMON_H

#include <stdarg.h>

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
/* Called before each of the error lines below is printed (NULL: none), so
 * that a progress line on a terminal can be cleared first. */
void cli_set_error_hook(void (*hook)(void));
/* "mobilesam: <file>: <message>". */
void cli_file_error(const char *file, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "mobilesam <cmd>: <message>" (a data error not tied to one file). */
void cli_cmd_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "mobilesam <cmd>: <message> (see 'mobilesam <cmd> --help')"; returns
 * CLI_USAGE_ERROR so callers can `return cli_usage(...)`. */
int cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Picks the weight file: `flag` (-w) if given, else $MOBILESAM_WEIGHTS, else
 * CLI_WEIGHTS_DEFAULT in the current directory, else
 * <executable dir>/../CLI_WEIGHTS_DEFAULT. Returns a malloc'd path, or NULL
 * after printing an error when none exists. */
char *cli_resolve_weights(const char *flag);

/* Parses a --threads value (or $MOBILESAM_THREADS when flag is NULL):
 * 0 when neither is given (= one per online core). Returns -1 after printing
 * a usage error. */
int cli_parse_threads(const char *cmd, const char *flag);

/* Loads the weights, printing "mobilesam: <path>: <reason>" on failure. */
int cli_load_model(const char *path, mobilesam_model **model);

#endif
