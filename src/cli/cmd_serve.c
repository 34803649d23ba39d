/*
 * cmd_serve.c - `mobilesam serve`: the command line of the server
 * (src/server), which keeps the model loaded and answers HTTP requests.
 */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "server/server.h"

#define CMD "serve"

/* clang-format off */
static const char usage_text[] =
    "usage: mobilesam serve [IMAGES_DIR] [options]\n"
    "\n"
    "Keeps the model loaded and answers HTTP requests: the web page at /, the\n"
    "JSON API under /v1 (see the README: images, predict, everything,\n"
    "annotations). Prints one line with its URL when ready; SIGINT or SIGTERM\n"
    "stops it after the requests in flight. With IMAGES_DIR, the images of\n"
    "that folder can be opened by name (POST /v1/images?path=NAME).\n"
    "\n"
    "options:\n"
    "  --host ADDR            address to listen on (127.0.0.1; another than a\n"
    "                         loopback address needs --token)\n"
    "  --port N               port (8080; 0: any free port)\n"
    "  --token TOKEN          every /v1 request needs 'Authorization: Bearer\n"
    "                         TOKEN' (also $MOBILESAM_TOKEN)\n"
    "  --output DIR           where PUT .../annotations saves (none: no saving)\n"
    "  --recursive            with IMAGES_DIR: its subfolders too\n"
    "  --cache-mib N          memory for images and embeddings (1024; an\n"
    "                         embedding takes ~18 MiB)\n"
    "  --max-body-mib N       largest request body (64)\n"
    "  --timeout S            a request must arrive within S seconds (30)\n"
    "  --queue N              engine jobs that may wait; more get 503 (32)\n"
    "  -w, --weights FILE     weight file (default: $MOBILESAM_WEIGHTS,\n"
    "                         weights/mobile_sam.msam here or beside the tool)\n"
    "  --threads N            threads (default: $MOBILESAM_THREADS or all cores)\n"
    CLI_PRECISION_HELP
    CLI_MAX_PIXELS_HELP
    "  -h, --help             this help\n";
/* clang-format on */

enum {
    OPT_HELP = 1,
    OPT_HOST,
    OPT_PORT,
    OPT_TOKEN,
    OPT_OUTPUT,
    OPT_RECURSIVE,
    OPT_CACHE,
    OPT_MAX_BODY,
    OPT_TIMEOUT,
    OPT_QUEUE,
    OPT_WEIGHTS,
    OPT_THREADS,
    OPT_PRECISION,
    OPT_MAX_PIXELS,
    OPT_COUNT
};

static const args_option options[] = {{"help", 'h', 0, OPT_HELP},
                                      {"host", 0, 1, OPT_HOST},
                                      {"port", 0, 1, OPT_PORT},
                                      {"token", 0, 1, OPT_TOKEN},
                                      {"output", 'o', 1, OPT_OUTPUT},
                                      {"recursive", 'r', 0, OPT_RECURSIVE},
                                      {"cache-mib", 0, 1, OPT_CACHE},
                                      {"max-body-mib", 0, 1, OPT_MAX_BODY},
                                      {"timeout", 0, 1, OPT_TIMEOUT},
                                      {"queue", 0, 1, OPT_QUEUE},
                                      {"weights", 'w', 1, OPT_WEIGHTS},
                                      {"threads", 0, 1, OPT_THREADS},
                                      {"precision", 0, 1, OPT_PRECISION},
                                      {"max-pixels", 0, 1, OPT_MAX_PIXELS},
                                      {NULL, 0, 0, 0}};

typedef struct {
    char output[4096]; /* --output without trailing slashes */
    const char *dir;
    const char *value[OPT_COUNT];
    int given[OPT_COUNT];
    int threads;
    mobilesam_precision precision;
    server_config cfg;
} serve_args;

static int int_option(const serve_args *a, int id, const char *name, long lo,
                      long hi, long dflt, long *out)
{
    *out = dflt;
    if (!a->value[id])
        return 0;
    if (args_parse_int(a->value[id], lo, hi, out))
        return cli_usage(CMD, "--%s: expected an integer in %ld..%ld, got '%s'",
                         name, lo, hi, a->value[id]);
    return 0;
}

/* Returns 0 to go on, -1 when --help was printed, or CLI_USAGE_ERROR. */
static int parse_args(serve_args *a, int argc, char **argv)
{
    const args_spec spec = {.cmd = CMD,
                            .options = options,
                            .help_id = OPT_HELP,
                            .usage = usage_text,
                            .positional = &a->dir,
                            .n_positional = 1,
                            .value = a->value,
                            .given = a->given};
    int rc = args_run(&spec, argc, argv);
    if (rc)
        return rc;
    long port, cache, body, timeout, queue;
    if (int_option(a, OPT_PORT, "port", 0, 65535, 8080, &port) ||
        int_option(a, OPT_CACHE, "cache-mib", 64, 1 << 20, 1024, &cache) ||
        int_option(a, OPT_MAX_BODY, "max-body-mib", 1, 4096, 64, &body) ||
        int_option(a, OPT_TIMEOUT, "timeout", 1, 3600, 30, &timeout) ||
        int_option(a, OPT_QUEUE, "queue", 0, 10000, 32, &queue))
        return CLI_USAGE_ERROR;
    const char *token = a->value[OPT_TOKEN];
    if (!token && getenv("MOBILESAM_TOKEN") && *getenv("MOBILESAM_TOKEN"))
        token = getenv("MOBILESAM_TOKEN");
    if (token && !*token)
        return cli_usage(CMD, "--token: empty");
    for (const char *t = token; t && *t; t++)
        if ((unsigned char)*t <= 0x20 || *t == 0x7f)
            return cli_usage(CMD, "--token: spaces and control characters are not "
                                  "allowed");
    if (a->value[OPT_HOST] && !*a->value[OPT_HOST])
        return cli_usage(CMD, "--host: empty");
    if (a->dir && !*a->dir)
        return cli_usage(CMD, "IMAGES_DIR: empty");
    if (a->given[OPT_RECURSIVE] && !a->dir)
        return cli_usage(CMD, "--recursive needs IMAGES_DIR");
    if (cli_set_max_pixels(CMD, a->value[OPT_MAX_PIXELS]))
        return CLI_USAGE_ERROR;
    if (cli_parse_precision(CMD, a->value[OPT_PRECISION], &a->precision))
        return CLI_USAGE_ERROR;
    a->threads = cli_parse_threads(CMD, a->value[OPT_THREADS]);
    if (a->threads < 0)
        return CLI_USAGE_ERROR;
    server_config *c = &a->cfg;
    c->images_dir = a->dir;
    c->recursive = a->given[OPT_RECURSIVE];
    c->host = a->value[OPT_HOST] ? a->value[OPT_HOST] : "127.0.0.1";
    c->port = (int)port;
    c->cache_bytes = (size_t)cache << 20;
    c->output_dir = NULL;
    if (a->value[OPT_OUTPUT]) {
        const char *o = a->value[OPT_OUTPUT];
        if (!*o)
            return cli_usage(CMD, "--output: empty");
        if (strlen(o) >= sizeof a->output)
            return cli_usage(CMD, "--output: path too long");
        strcpy(a->output, o);
        for (size_t n = strlen(a->output); n > 1 && a->output[n - 1] == '/'; n--)
            a->output[n - 1] = 0;
        c->output_dir = a->output;
    }
    c->token = token;
    c->max_body = (size_t)body << 20;
    c->timeout_s = (int)timeout;
    c->queue = (int)queue;
    return 0;
}

int cmd_serve_parse(int argc, char **argv)
{
    serve_args a;
    memset(&a, 0, sizeof a);
    return parse_args(&a, argc, argv);
}

int cmd_serve(int argc, char **argv)
{
    serve_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc < 0)
        return CLI_OK;
    if (rc)
        return rc;
    cli_session s;
    cli_session_init(&s, a.threads, a.precision);
    rc = CLI_DATA_ERROR;
    if (cli_session_weights(&s, a.value[OPT_WEIGHTS]) == 0 &&
        cli_session_model(&s) == 0) {
        a.cfg.threads = mobilesam_get_threads();
        rc = server_run(&a.cfg, s.model);
    }
    cli_session_free(&s);
    return rc;
}
