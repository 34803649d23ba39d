/*
 * cmd_bench.c - `mobilesam bench`: times each stage of the engine on one
 * image, the way the ONNX Runtime peer (shared/peer) is timed: one warm-up
 * run, then the median of N runs. Stages: model load (mobilesam_load alone,
 * the unmapping is not counted), pre-processing and encoder (split by
 * mobilesam_last_timing), decoder (the wall time of mobilesam_predict for one
 * point, single mask, up to the final mask at the original size). Also the
 * process's peak resident memory. Prints a table, or one JSON line.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cJSON.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "format/output.h"

#define CMD "bench"
#define RUNS_DEFAULT 5
#define RUNS_MAX 1000

/* clang-format off */
static const char usage_text[] =
    "usage: mobilesam bench [--image IMAGE] [options]\n"
    "\n"
    "Times model load, pre-processing, encoder and decoder on IMAGE: one\n"
    "warm-up run, then median, min and max of N runs each; and the peak\n"
    "resident memory of the process. The decoder is one foreground point,\n"
    "single mask, from prompt to the final mask at the original size. A\n"
    "load includes the switch to --precision (quantizing the weights).\n"
    "\n"
    "options:\n"
    "  --image IMAGE          the image (default:\n"
    "                         $MOBILESAM_TESTDATA/images/zidane.png if set)\n"
    "  --point X,Y            the decoder's point (default: the image centre)\n"
    "  --runs N               timed runs per stage (default: 5)\n"
    "  --json                 print one JSON object instead of a table: load_ms,\n"
    "                         preprocess_ms, encoder_ms, decoder_ms (medians),\n"
    "                         peak_rss_mib, threads, runs, model, precision\n"
    "                         (in use; precision_wanted: asked), and more\n"
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
    OPT_IMAGE,
    OPT_POINT,
    OPT_RUNS,
    OPT_JSON,
    OPT_MAX_PIXELS,
    OPT_COUNT
};

static const args_option options[] = {{"help", 'h', 0, OPT_HELP},
                                      {"weights", 'w', 1, OPT_WEIGHTS},
                                      {"threads", 0, 1, OPT_THREADS},
                                      {"precision", 0, 1, OPT_PRECISION},
                                      {"image", 0, 1, OPT_IMAGE},
                                      {"point", 0, 1, OPT_POINT},
                                      {"runs", 0, 1, OPT_RUNS},
                                      {"json", 0, 0, OPT_JSON},
                                      {"max-pixels", 0, 1, OPT_MAX_PIXELS},
                                      {NULL, 0, 0, 0}};

typedef struct {
    const char *value[OPT_COUNT];
    int given[OPT_COUNT];
    char default_image[4096];
    const char *image;
    int has_point;
    float point[2];
    int runs;
    int threads;
    mobilesam_precision precision;
} bench_args;

enum { ST_LOAD, ST_PRE, ST_ENC, ST_DEC, N_STAGES };
static const char *const stage_key[N_STAGES] = {"load_ms", "preprocess_ms",
                                                "encoder_ms", "decoder_ms"};
static const char *const stage_name[N_STAGES] = {"load", "preprocess",
                                                 "encoder", "decoder"};

/* Milliseconds of each timed run per stage, then their summary; and of
 * the warm-up run, which pays what a one-shot process pays (page faults on
 * fresh buffers, thread pool start-up). */
typedef struct {
    double *ms[N_STAGES];
    double warmup[N_STAGES];
    double median[N_STAGES], min[N_STAGES], max[N_STAGES];
    double peak_rss_mib;
    char model[16]; /* mobilesam_model_type: vit_t, vit_b, ... */
    mobilesam_precision precision; /* in use (the CPU's for the wanted) */
} bench_times;

/* Returns 0 to go on, -1 when --help was printed, or CLI_USAGE_ERROR. */
static int parse_args(bench_args *a, int argc, char **argv)
{
    const args_spec spec = {.cmd = CMD,
                            .options = options,
                            .help_id = OPT_HELP,
                            .usage = usage_text,
                            .extra_hint = " (the image goes with --image)",
                            .value = a->value,
                            .given = a->given};
    int rc = args_run(&spec, argc, argv);
    if (rc)
        return rc;
    a->image = a->value[OPT_IMAGE];
    const char *testdata = getenv("MOBILESAM_TESTDATA");
    if (!a->image && testdata && *testdata) {
        snprintf(a->default_image, sizeof a->default_image,
                 "%s/images/zidane.png", testdata);
        a->image = a->default_image;
    }
    if (!a->image)
        return cli_usage(CMD, "missing --image IMAGE (or set "
                              "MOBILESAM_TESTDATA for the fixture's zidane.png)");
    a->runs = RUNS_DEFAULT;
    long n;
    if (a->value[OPT_RUNS] && args_parse_int(a->value[OPT_RUNS], 1, RUNS_MAX, &n))
        return cli_usage(CMD, "--runs: expected an integer from 1 to %d, got '%s'",
                         RUNS_MAX, a->value[OPT_RUNS]);
    if (a->value[OPT_RUNS])
        a->runs = (int)n;
    if (a->value[OPT_POINT]) {
        if (args_parse_floats(a->value[OPT_POINT], 2, a->point))
            return cli_usage(CMD, "--point: expected X,Y, got '%s'",
                             a->value[OPT_POINT]);
        a->has_point = 1;
    }
    if (cli_set_max_pixels(CMD, a->value[OPT_MAX_PIXELS]))
        return CLI_USAGE_ERROR;
    if (cli_parse_precision(CMD, a->value[OPT_PRECISION], &a->precision))
        return CLI_USAGE_ERROR;
    a->threads = cli_parse_threads(CMD, a->value[OPT_THREADS]);
    return a->threads < 0 ? CLI_USAGE_ERROR : 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median (the mean of the middle two for an even count), min, max. */
static void summarize(const double *ms, int n, double *median, double *min,
                      double *max)
{
    double *s = malloc(sizeof *s * (size_t)n);
    if (!s) {
        *median = *min = *max = ms[0];
        return;
    }
    memcpy(s, ms, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    *median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    *min = s[0];
    *max = s[n - 1];
    free(s);
}

/* Run i of a stage: the warm-up when i < 0. */
static void record(bench_times *t, int stage, int i, double ms)
{
    if (i >= 0)
        t->ms[stage][i] = ms;
    else
        t->warmup[stage] = ms;
}

/* Warm-up load, then `runs` timed loads; the last model is kept. A load
 * includes the switch to the wanted precision (quantizing the weights),
 * which every process pays. */
static int time_load(const char *weights, int runs, mobilesam_precision wanted,
                     bench_times *t, mobilesam_model **model)
{
    *model = NULL;
    for (int i = -1; i < runs; i++) {
        mobilesam_model *m = NULL;
        double t0 = now_ms();
        if (cli_load_model(weights, &m))
            return -1;
        if (cli_set_precision(m, weights, wanted, &t->precision)) {
            mobilesam_free(m);
            return -1;
        }
        record(t, ST_LOAD, i, now_ms() - t0);
        if (i < runs - 1)
            mobilesam_free(m);
        else
            *model = m;
    }
    return 0;
}

/* Warm-up encode, then `runs` timed ones; the last embedding is kept. */
static int time_encode(const bench_args *a, mobilesam_model *model,
                       const msam_image *img, bench_times *t,
                       mobilesam_embedding **emb)
{
    *emb = NULL;
    for (int i = -1; i < a->runs; i++) {
        mobilesam_embedding *e = NULL;
        if (cli_encode(model, img, a->image, &e))
            return -1;
        mobilesam_timing tm;
        mobilesam_last_timing(model, &tm);
        record(t, ST_PRE, i, tm.preprocess_ms);
        record(t, ST_ENC, i, tm.encoder_ms);
        if (i < a->runs - 1)
            mobilesam_embedding_free(e);
        else
            *emb = e;
    }
    return 0;
}

/* Warm-up predict, then `runs` timed ones of one point, single mask. */
static int time_decode(const bench_args *a, mobilesam_model *model,
                       const mobilesam_embedding *emb, bench_times *t)
{
    const int label = 1;
    mobilesam_prompt prompt = {a->point, &label, 1, NULL, NULL, 0};
    for (int i = -1; i < a->runs; i++) {
        mobilesam_error err = {{0}};
        mobilesam_result res;
        double t0 = now_ms();
        if (mobilesam_predict(model, emb, &prompt, 1, &res, &err) !=
            MOBILESAM_OK) {
            report_cmd_error(CMD, "--point %g,%g: %s", a->point[0], a->point[1],
                          err.message);
            return -1;
        }
        record(t, ST_DEC, i, now_ms() - t0);
        mobilesam_result_free(&res);
    }
    return 0;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

static double round3(double x)
{
    return round(x * 1000.0) / 1000.0;
}

static int print_json(const bench_args *a, const char *weights,
                      const msam_image *img, const bench_times *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *mins = cJSON_CreateObject(), *maxs = cJSON_CreateObject();
    cJSON *warm = cJSON_CreateObject();
    for (int s = 0; s < N_STAGES; s++) {
        cJSON_AddNumberToObject(o, stage_key[s], round3(t->median[s]));
        cJSON_AddNumberToObject(mins, stage_key[s], round3(t->min[s]));
        cJSON_AddNumberToObject(maxs, stage_key[s], round3(t->max[s]));
        cJSON_AddNumberToObject(warm, stage_key[s], round3(t->warmup[s]));
    }
    cJSON_AddNumberToObject(o, "peak_rss_mib", round3(t->peak_rss_mib));
    cJSON_AddNumberToObject(o, "threads", mobilesam_get_threads());
    cJSON_AddNumberToObject(o, "runs", a->runs);
    cJSON_AddItemToObject(o, "min", mins);
    cJSON_AddItemToObject(o, "max", maxs);
    cJSON_AddItemToObject(o, "warmup", warm);
    cJSON_AddStringToObject(o, "image", a->image);
    cJSON_AddNumberToObject(o, "width", img->width);
    cJSON_AddNumberToObject(o, "height", img->height);
    cJSON *pt = cJSON_CreateFloatArray(a->point, 2);
    cJSON_AddItemToObject(o, "point", pt);
    cJSON_AddStringToObject(o, "weights", weights);
    cJSON_AddStringToObject(o, "model", t->model);
    cJSON_AddStringToObject(o, "precision", mobilesam_precision_name(t->precision));
    cJSON_AddStringToObject(o, "precision_wanted",
                            mobilesam_precision_name(a->precision));
    cJSON_AddStringToObject(o, "version", MOBILESAM_VERSION);
    return out_print_json_line(CMD, o);
}

static void print_table(const bench_args *a, const msam_image *img,
                        const bench_times *t)
{
    printf("mobilesam bench: %s, %s, %s (%dx%d), point (%g, %g), %d thread%s, "
           "%d run%s after 1 warm-up\n\n",
           t->model, mobilesam_precision_name(t->precision), a->image, img->width, img->height, a->point[0], a->point[1],
           mobilesam_get_threads(), mobilesam_get_threads() == 1 ? "" : "s",
           a->runs, a->runs == 1 ? "" : "s");
    printf("%-12s %10s %10s %10s %10s\n", "stage (ms)", "median", "min",
           "max", "warm-up");
    for (int s = 0; s < N_STAGES; s++)
        printf("%-12s %10.2f %10.2f %10.2f %10.2f\n", stage_name[s],
               t->median[s], t->min[s], t->max[s], t->warmup[s]);
    printf("\npeak RSS: %.1f MiB\n", t->peak_rss_mib);
}

static int measure(const bench_args *a, const char *weights,
                   const msam_image *img, bench_times *t)
{
    mobilesam_model *model = NULL;
    mobilesam_embedding *emb = NULL;
    int rc = -1;
    if (time_load(weights, a->runs, a->precision, t, &model) == 0 &&
        time_encode(a, model, img, t, &emb) == 0 &&
        time_decode(a, model, emb, t) == 0)
        rc = 0;
    /* Taken while the model and the embedding are still alive. */
    t->peak_rss_mib = peak_rss_mib();
    if (model)
        snprintf(t->model, sizeof t->model, "%s", mobilesam_model_type(model));
    mobilesam_embedding_free(emb);
    mobilesam_free(model);
    if (rc == 0)
        for (int s = 0; s < N_STAGES; s++)
            summarize(t->ms[s], a->runs, &t->median[s], &t->min[s], &t->max[s]);
    return rc;
}

static int run(bench_args *a)
{
    cli_session s;
    const msam_image *img = &s.img;
    bench_times t;
    memset(&t, 0, sizeof t);
    int rc = CLI_DATA_ERROR;
    cli_session_init(&s, a->threads, a->precision);
    for (int i = 0; i < N_STAGES; i++)
        if (!(t.ms[i] = calloc((size_t)a->runs, sizeof(double)))) {
            report_cmd_error(CMD, "out of memory");
            goto done;
        }
    if (cli_session_open(&s, a->image, a->value[OPT_WEIGHTS]) != 0)
        goto done;
    if (!a->has_point) {
        a->point[0] = (float)(img->width / 2);
        a->point[1] = (float)(img->height / 2);
    } else if (a->point[0] < 0 || a->point[0] > (float)img->width ||
               a->point[1] < 0 || a->point[1] > (float)img->height) {
        /* Checked here, as the library would, but before the encoder runs. */
        report_cmd_error(CMD, "--point %g,%g is outside the image (%dx%d)",
                      a->point[0], a->point[1], img->width, img->height);
        goto done;
    }
    if (measure(a, s.weights, img, &t) != 0)
        goto done;
    if (a->given[OPT_JSON]) {
        if (print_json(a, s.weights, img, &t) != 0)
            goto done;
    } else {
        print_table(a, img, &t);
    }
    if (out_flush_results(CMD) != 0)
        goto done;
    rc = CLI_OK;
done:
    for (int i = 0; i < N_STAGES; i++)
        free(t.ms[i]);
    cli_session_free(&s);
    return rc;
}

int cmd_bench_parse(int argc, char **argv)
{
    bench_args a;
    memset(&a, 0, sizeof a);
    return parse_args(&a, argc, argv);
}

int cmd_bench(int argc, char **argv)
{
    bench_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc < 0)
        return CLI_OK;
    return rc ? rc : run(&a);
}
