/*
 * common.c - see common.h. All user-facing errors go through
 * report_vline() (format/report.h), so each is exactly one line on stderr,
 * whatever a file name contains.
 */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "format/report.h"
#include "imgfile.h"

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_vline("mobilesam: ", NULL, fmt, ap);
    va_end(ap);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cmd)
        report_cmd_error(cmd, "%s (see 'mobilesam %s --help')", msg, cmd);
    else
        cli_error("%s (see 'mobilesam --help')", msg);
    return CLI_USAGE_ERROR;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* <dir of the running executable>/../CLI_WEIGHTS_DEFAULT, or "" when the
 * executable cannot be located. */
static void weights_beside_exe(char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = 0;
    if (len <= 0)
        return;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = 0;
    snprintf(out, n, "%s/../%s", exe, CLI_WEIGHTS_DEFAULT);
}

/* A malloc'd path (see cli_session_weights), or NULL after an error. */
static char *resolve_weights(const char *flag)
{
    if (flag)
        return strdup(flag);
    const char *env = getenv("MOBILESAM_WEIGHTS");
    if (env && *env)
        return strdup(env);
    if (is_file(CLI_WEIGHTS_DEFAULT))
        return strdup(CLI_WEIGHTS_DEFAULT);
    char beside[PATH_MAX + 64];
    weights_beside_exe(beside, sizeof beside);
    if (beside[0] && is_file(beside))
        return strdup(beside);
    cli_error("no weights found (looked for %s here and beside the "
              "executable): run scripts/setup.sh, set MOBILESAM_WEIGHTS "
              "or pass -w FILE",
              CLI_WEIGHTS_DEFAULT);
    return NULL;
}

/* $MOBILESAM_ISA as the engine reads it (case-insensitive; empty: unset).
 * The library ignores a bad value; the tool refuses it, like a bad
 * $MOBILESAM_THREADS, rather than run silently with other kernels than
 * asked. Returns 0, or -1 after printing a usage error. */
static int check_isa_env(const char *cmd)
{
    static const char *const names[] = {"scalar", "avx2", "avx512", "neon"};
    const char *s = getenv("MOBILESAM_ISA");
    if (!s || !*s)
        return 0;
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, names[i]))
            return 0;
    cli_usage(cmd, "MOBILESAM_ISA: expected scalar, avx2, avx512 or neon, got '%s'",
              s);
    return -1;
}

int cli_parse_threads(const char *cmd, const char *flag)
{
    if (check_isa_env(cmd))
        return -1;
    const char *src = flag ? "--threads" : "MOBILESAM_THREADS";
    const char *s = flag ? flag : getenv("MOBILESAM_THREADS");
    if (!s || (!flag && !*s))
        return 0;
    long n;
    if (args_parse_int(s, 1, 4096, &n)) {
        cli_usage(cmd, "%s: expected a whole number from 1 to 4096, got '%s'", src, s);
        return -1;
    }
    return (int)n;
}

int cli_parse_precision(const char *cmd, const char *flag,
                        mobilesam_precision *out)
{
    const char *src = flag ? "--precision" : "MOBILESAM_PRECISION";
    const char *s = flag ? flag : getenv("MOBILESAM_PRECISION");
    *out = MOBILESAM_FP32;
    if (!s || (!flag && !*s))
        return 0;
    if (mobilesam_precision_parse(s, out) == 0)
        return 0;
    cli_usage(cmd, "%s: expected fp32, fp16 or int8, got '%s'", src, s);
    return -1;
}

/* Why a precision falls back, for the notice. */
static const char *precision_why(mobilesam_precision p)
{
#if defined(__aarch64__)
    return p == MOBILESAM_INT8   ? "it needs the ARMv8.2 dot-product instructions"
#else
    return p == MOBILESAM_INT8   ? "it needs AVX512-VNNI or AVX-VNNI"
#endif
           : p == MOBILESAM_FP16 ? "this version has no fp16 kernels"
                                 : "";
}

int cli_set_precision(mobilesam_model *model, const char *weights,
                      mobilesam_precision wanted, mobilesam_precision *used)
{
    static int noticed;
    mobilesam_error err = {{0}};
    mobilesam_precision p = MOBILESAM_FP32;
    /* fp32, what a model is loaded in: nothing to switch, nothing changes */
    if (wanted == MOBILESAM_FP32 && mobilesam_get_precision(model) == MOBILESAM_FP32) {
        if (used)
            *used = MOBILESAM_FP32;
        return 0;
    }
    if (mobilesam_set_precision(model, wanted, &p, &err) != MOBILESAM_OK) {
        report_file_error(weights, "%s", err.message);
        return -1;
    }
    if (p != wanted && !noticed) {
        noticed = 1;
        cli_error("%s is not available here (%s); running %s",
                  mobilesam_precision_name(wanted), precision_why(wanted),
                  mobilesam_precision_name(p));
    }
    if (used)
        *used = p;
    return 0;
}

int cli_set_max_pixels(const char *cmd, const char *value)
{
    if (!value) {
        image_set_max_pixels(0);
        return 0;
    }
    static const char suffixes[] = "kKmMgG";
    static const long long scale[] = {1000LL, 1000LL, 1000000LL, 1000000LL,
                                      1000000000LL, 1000000000LL};
    char digits[32];
    size_t len = strlen(value);
    long long mul = 1;
    const char *suffix = len ? strchr(suffixes, value[len - 1]) : NULL;
    if (suffix && *suffix) {
        mul = scale[suffix - suffixes];
        len--;
    }
    long n;
    if (len == 0 || len >= sizeof digits ||
        strspn(value, "0123456789") != len)
        n = 0;
    else {
        memcpy(digits, value, len);
        digits[len] = 0;
        if (args_parse_int(digits, 1, LONG_MAX, &n) || n > LLONG_MAX / mul)
            n = 0;
    }
    if (n <= 0)
        return cli_usage(cmd, "--max-pixels: expected a positive number of "
                              "pixels (like 50000000 or 50M), got '%s'",
                         value);
    image_set_max_pixels((long long)n * mul);
    return 0;
}

int cli_load_model(const char *path, mobilesam_model **model)
{
    mobilesam_error err = {{0}};
    if (mobilesam_load(path, model, &err) != MOBILESAM_OK) {
        report_file_error(path, "%s", err.message);
        return -1;
    }
    return 0;
}

int cli_encode(mobilesam_model *model, const msam_image *img,
               const char *name, mobilesam_embedding **emb)
{
    mobilesam_error err = {{0}};
    if (mobilesam_encode(model, img->rgb, img->width, img->height, emb,
                         &err) != MOBILESAM_OK) {
        report_file_error(name, "%s", err.message);
        return -1;
    }
    return 0;
}

void cli_session_init(cli_session *s, int threads,
                      mobilesam_precision precision)
{
    memset(s, 0, sizeof *s);
    s->precision = precision;
    mobilesam_set_threads(threads);
}

int cli_session_weights(cli_session *s, const char *flag)
{
    s->weights = resolve_weights(flag);
    return s->weights ? 0 : -1;
}

int cli_check_resizable(const char *name, int width, int height)
{
    int rh, rw;
    image_target_size(height, width, MOBILESAM_IMG_SIZE, &rh, &rw);
    if (rh > 0 && rw > 0)
        return 0;
    /* the message mobilesam_encode gives, before the weights are loaded */
    report_file_error(name,
                   "%dx%d is too elongated (the short side would resize to "
                   "0 pixels)",
                   width, height);
    return -1;
}

int cli_session_open(cli_session *s, const char *image, const char *flag)
{
    if (cli_image_load(image, &s->img) ||
        cli_check_resizable(image, s->img.width, s->img.height))
        return -1;
    return cli_session_weights(s, flag);
}

int cli_session_model(cli_session *s)
{
    if (cli_load_model(s->weights, &s->model))
        return -1;
    return cli_set_precision(s->model, s->weights, s->precision, NULL);
}

void cli_session_free(cli_session *s)
{
    if (s->model)
        mobilesam_free(s->model);
    free(s->weights);
    if (s->img.rgb)
        image_free(&s->img);
    memset(s, 0, sizeof *s);
}
