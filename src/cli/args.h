/*
 * args.h - strict command-line parsing: a small option scanner (long and
 * short options, "--opt=value", "--" to end options), args_run() (the loop
 * every command runs over its arguments) and number parsers that accept a
 * whole string or nothing.
 */
#ifndef MOBILESAM_CLI_ARGS_H
#define MOBILESAM_CLI_ARGS_H

typedef struct {
    const char *name; /* long name without "--" */
    char short_name;  /* 0 when there is none */
    int has_value;
    int id; /* > 0, what args_run() hands to the command */
} args_option;

/* Formats an option for messages: "--point" (the long name). */
const char *args_option_name(const args_option *options, int id);

/* A command's whole command line, for args_run(). */
typedef struct args_spec args_spec;
struct args_spec {
    const char *cmd;
    const args_option *options;
    int help_id;       /* the option that prints `usage` on stdout */
    const char *usage;
    /* Positional arguments fill these in order; one more is refused as
     * "unexpected argument '...'" followed by `extra_hint` (may be NULL). */
    const char **positional;
    int n_positional;
    const char *extra_hint;
    /* Options seen, by id: value[id] (NULL for one without a value) and
     * given[id] = 1; see args_store(). */
    const char **value;
    int *given;
    /* Called for each option but help: returns 0, or nonzero after printing
     * the problem. NULL: args_store(). */
    int (*take)(const args_spec *s, int id, const char *value);
    void *ctx; /* the command's own state, for take() */
};

/* Scans argv[1..argc) as `s` says. Returns 0 to go on, -1 when the help
 * was printed, or CLI_USAGE_ERROR after printing the problem. */
int args_run(const args_spec *s, int argc, char **argv);

/* Records option `id` with its value in s->value and s->given. Returns 0,
 * or CLI_USAGE_ERROR when it was given before. */
int args_store(const args_spec *s, int id, const char *value);

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
