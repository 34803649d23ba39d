/*
 * args.c - see args.h. Written by hand instead of getopt_long so that every
 * message follows the "mobilesam <cmd>: problem (see --help)" form and
 * positional arguments may appear anywhere.
 */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

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
static void args_init(args_parser *p, const char *cmd,
                      const args_option *options, int argc, char **argv,
                      int first)
{
    p->cmd = cmd;
    p->options = options;
    p->argc = argc;
    p->argv = argv;
    p->next = first;
    p->positional_only = 0;
}

static const args_option *find_long(const args_option *o, const char *name,
                                    size_t len)
{
    for (; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

static const args_option *find_short(const args_option *o, char c)
{
    for (; o->name; o++)
        if (o->short_name && o->short_name == c)
            return o;
    return NULL;
}

/* Takes the option's value: the inline "=value" part or the next argument. */
static int take_value(args_parser *p, const args_option *o, const char *shown,
                      const char *inline_value, const char **value)
{
    *value = NULL;
    if (!o->has_value) {
        if (!inline_value)
            return o->id;
        cli_usage(p->cmd, "option '%s' takes no value", shown);
        return ARGS_ERROR;
    }
    if (inline_value && !*inline_value) {
        cli_usage(p->cmd, "option '%s' has an empty value", shown);
        return ARGS_ERROR;
    }
    if (inline_value) {
        *value = inline_value;
        return o->id;
    }
    if (p->next >= p->argc) {
        cli_usage(p->cmd, "option '%s' needs a value", shown);
        return ARGS_ERROR;
    }
    *value = p->argv[p->next++];
    if (!**value) { /* e.g. -o "$UNSET_VARIABLE" */
        cli_usage(p->cmd, "option '%s' has an empty value", shown);
        return ARGS_ERROR;
    }
    return o->id;
}

static int next_long(args_parser *p, const char *arg, const char **value)
{
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const args_option *o = find_long(p->options, name, len);
    if (!o) {
        cli_usage(p->cmd, "unknown option '--%.*s'", (int)len, name);
        return ARGS_ERROR;
    }
    char shown[64];
    snprintf(shown, sizeof shown, "--%s", o->name);
    return take_value(p, o, shown, eq ? eq + 1 : NULL, value);
}

/* "-wFILE" is accepted for options with a value; "-xy" bundling is not. */
static int next_short(args_parser *p, const char *arg, const char **value)
{
    const args_option *o = find_short(p->options, arg[1]);
    const char *rest = arg[2] ? arg + 2 : NULL;
    if (!o || (rest && !o->has_value)) {
        cli_usage(p->cmd, "unknown option '%s'", arg);
        return ARGS_ERROR;
    }
    char shown[3] = {'-', arg[1], 0};
    return take_value(p, o, shown, rest, value);
}

/* Returns the next option's id (with its value in *value, or NULL),
 * ARGS_POSITIONAL (the argument in *value), ARGS_END, or ARGS_ERROR after
 * printing a usage error (unknown option, missing value, ...). */
static int args_next(args_parser *p, const char **value)
{
    if (p->next >= p->argc)
        return ARGS_END;
    const char *arg = p->argv[p->next++];
    if (p->positional_only || arg[0] != '-' || arg[1] == 0) {
        *value = arg; /* "-" alone is a positional (stdout/stdin marker) */
        return ARGS_POSITIONAL;
    }
    if (strcmp(arg, "--") == 0) {
        p->positional_only = 1;
        return args_next(p, value);
    }
    if (arg[1] == '-')
        return next_long(p, arg, value);
    return next_short(p, arg, value);
}

const char *args_option_name(const args_option *options, int id)
{
    for (const args_option *o = options; o->name; o++)
        if (o->id == id)
            return o->name;
    return "?";
}

int args_store(const args_spec *s, int id, const char *value)
{
    if (s->given[id])
        return cli_usage(s->cmd, "option '--%s' given twice",
                         args_option_name(s->options, id));
    s->given[id] = 1;
    s->value[id] = value;
    return 0;
}

int args_run(const args_spec *s, int argc, char **argv)
{
    args_parser p;
    args_init(&p, s->cmd, s->options, argc, argv, 1);
    const char *value;
    int id, n_positional = 0;
    while ((id = args_next(&p, &value)) != ARGS_END) {
        if (id == ARGS_ERROR)
            return CLI_USAGE_ERROR;
        if (id == s->help_id) {
            fputs(s->usage, stdout);
            return -1;
        }
        if (id == ARGS_POSITIONAL) {
            if (n_positional == s->n_positional)
                return cli_usage(s->cmd, "unexpected argument '%s'%s", value,
                                 s->extra_hint ? s->extra_hint : "");
            s->positional[n_positional++] = value;
        } else if (s->take ? s->take(s, id, value) : args_store(s, id, value))
            return CLI_USAGE_ERROR;
    }
    return 0;
}

int args_parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Parses one float starting at s (leading spaces allowed), storing where it
 * stopped (trailing spaces skipped). */
static int parse_float_at(const char *s, float *out, const char **stop)
{
    while (*s == ' ')
        s++;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v) || fabs(v) > 3.0e38)
        return -1;
    while (*end == ' ')
        end++;
    *out = (float)v;
    *stop = end;
    return 0;
}

int args_parse_float(const char *s, float *out)
{
    const char *stop;
    if (!s || parse_float_at(s, out, &stop) || *stop)
        return -1;
    return 0;
}

int args_parse_floats(const char *s, int n, float *out)
{
    if (!s)
        return -1;
    for (int i = 0; i < n; i++) {
        const char *stop;
        if (parse_float_at(s, &out[i], &stop))
            return -1;
        if (i < n - 1 && *stop != ',')
            return -1;
        s = stop + (i < n - 1);
    }
    return *s ? -1 : 0;
}

int args_parse_names(const char *s, const char *const *names, unsigned *bits)
{
    if (!s)
        return -1;
    *bits = 0;
    for (;;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        int found = -1;
        for (int i = 0; names[i] && i < 32; i++)
            if (strlen(names[i]) == len && !strncmp(names[i], s, len))
                found = i;
        if (found < 0 || (*bits & (1u << found)))
            return -1;
        *bits |= 1u << found;
        if (!end)
            return 0;
        s = end + 1;
    }
}
