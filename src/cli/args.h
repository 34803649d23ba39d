/*
 * args.h - strict command-line parsing: a small option scanner (long and
 * short options, "--opt=value", "--" to end options) and number parsers that
 * accept a whole string or nothing.
 */
#ifndef MOBILESAM_CLI_ARGS_H
#define MOBILESAM_CLI_ARGS_H

typedef struct {
    const char *name; /* long name without "--" */
    char short_name;  /* 0 when there is none */
    int has_value;
    int id; /* > 0, returned by args_next */
} args_option;

typedef struct {
    const char *cmd; /* subcommand, for messages */
    const args_option *options;
    int argc;
    char **argv;
    int next; /* index of the next argv element */
    int positional_only;
} args_parser;

#define ARGS_END 0
#define ARGS_POSITIONAL (-1)
#define ARGS_ERROR (-2)

/* Scans argv[first..argc). */
void args_init(args_parser *p, const char *cmd, const args_option *options,
               int argc, char **argv, int first);

/* Returns the next option's id (with its value in *value, or NULL),
 * ARGS_POSITIONAL (the argument in *value), ARGS_END, or ARGS_ERROR after
 * printing a usage error (unknown option, missing value, ...). */
int args_next(args_parser *p, const char **value);

/* Formats an option for messages: "--point" (the long name). */
const char *args_option_name(const args_option *options, int id);

/* Whole-string parsers; return 0, or -1 on anything else (no message). */
int args_parse_int(const char *s, long lo, long hi, long *out);
int args_parse_float(const char *s, float *out); /* finite values only */
/* Exactly n comma-separated floats ("X,Y"); spaces around numbers allowed. */
int args_parse_floats(const char *s, int n, float *out);

/* A comma-separated subset of `names` (NULL-terminated, at most 32), like
 * "png,yolo": sets bit i of *bits for names[i]. Empty items, unknown names
 * and repeats are refused. */
int args_parse_names(const char *s, const char *const *names, unsigned *bits);

#endif
