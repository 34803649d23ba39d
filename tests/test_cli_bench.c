/*
 * test_cli_bench.c - `mobilesam bench` end to end on the fixture's zidane.png
 * with the converted synthetic weights: the --json line has every key as a
 * positive number (runs and threads as given), the table has a row per
 * stage, and bad command lines or prompts fail before the encoder runs.
 * Needs the fixture pack (MOBILESAM_TESTDATA); --runs 1 keeps it short.
 */
#include "cli_harness.h"

#include <cJSON.h>

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char *g_dir;
static char g_image[CH_PATH];

static void test_json(const char *weights)
{
    const char *const *args = ARGS("bench", "-w", weights, "--image", g_image,
                                   "--runs", "1", "--threads", "2", "--json");
    ch_result r = ch_run(g_dir, args);
    TU_CHECK(r.code == 0, "%s: exit %d (stderr: %s)", ch_cmdline(args), r.code,
             r.err);
    TU_CHECK(ch_lines(r.out) == 1, "--json: expected one line, got: %s",
             r.out);
    cJSON *o = cJSON_Parse(r.out);
    TU_CHECK(cJSON_IsObject(o), "--json: not a JSON object: %s", r.out);
    static const char *const keys[] = {"load_ms",    "preprocess_ms",
                                       "encoder_ms", "decoder_ms",
                                       "peak_rss_mib", "threads",
                                       "runs",       "width",
                                       "height"};
    for (size_t i = 0; o && i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        TU_CHECK(cJSON_IsNumber(v) && v->valuedouble > 0,
                 "--json: '%s' is not a positive number: %s", keys[i], r.out);
    }
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(o, "runs");
    const cJSON *threads = cJSON_GetObjectItemCaseSensitive(o, "threads");
    const cJSON *width = cJSON_GetObjectItemCaseSensitive(o, "width");
    const cJSON *rss = cJSON_GetObjectItemCaseSensitive(o, "peak_rss_mib");
    TU_CHECK(cJSON_IsNumber(runs) && runs->valuedouble == 1, "runs != 1");
    TU_CHECK(cJSON_IsNumber(threads) && threads->valuedouble == 2,
             "threads != 2");
    TU_CHECK(cJSON_IsNumber(width) && width->valuedouble == 1280,
             "width != 1280");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(o, "model");
    TU_CHECK(cJSON_IsString(model) && strcmp(model->valuestring, "vit_t") == 0,
             "model is not vit_t: %s", r.out);
    /* the default precision, in use and asked */
    const cJSON *prec = cJSON_GetObjectItemCaseSensitive(o, "precision");
    const cJSON *wanted = cJSON_GetObjectItemCaseSensitive(o, "precision_wanted");
    TU_CHECK(cJSON_IsString(prec) && !strcmp(prec->valuestring, "fp32") &&
                 cJSON_IsString(wanted) && !strcmp(wanted->valuestring, "fp32"),
             "precision / precision_wanted are not fp32: %s", r.out);
    /* The weights alone are 37 MiB and the encoder's activations more. */
    TU_CHECK(cJSON_IsNumber(rss) && rss->valuedouble > 40,
             "peak_rss_mib implausibly small: %s", r.out);
    printf("bench --json: %s", r.out);
    cJSON_Delete(o);
    ch_free(&r);
}

static void test_table(const char *weights)
{
    /* the header names the precision in use: fp16 here (no flag), or the
     * fp32 it falls back to on a CPU without AVX512-FP16 */
    setenv("MOBILESAM_PRECISION", "fp16", 1);
    const char *const *args = ARGS("bench", "-w", weights, "--image", g_image,
                                   "--runs", "1", "--point", "900,370");
    ch_result r = ch_run(g_dir, args);
    unsetenv("MOBILESAM_PRECISION");
    TU_CHECK(r.code == 0, "%s: exit %d (stderr: %s)", ch_cmdline(args), r.code,
             r.err);
    int fallback = strstr(r.err, "fp16 is not available here") != NULL;
    TU_CHECK(fallback ? ch_lines(r.err) == 1 : r.err[0] == 0,
             "stderr: %s", r.err);
    const char *used = fallback ? "vit_t, fp32, " : "vit_t, fp16, ";
    TU_CHECK(strstr(r.out, used) != NULL, "table header does not name '%s': %s",
             used, r.out);
    static const char *const rows[] = {"\nload ", "\npreprocess ",
                                       "\nencoder ", "\ndecoder ",
                                       "peak RSS:", "point (900, 370)"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        TU_CHECK(strstr(r.out, rows[i]) != NULL, "table: no '%s' in: %s",
                 rows[i] + (rows[i][0] == '\n'), r.out);
    ch_free(&r);
}

static void expect_error(int code, const char *mention,
                         const char *const *args)
{
    ch_result r = ch_run(g_dir, args);
    TU_CHECK(r.code == code, "%s: exit %d, expected %d (stderr: %s)",
             ch_cmdline(args), r.code, code, r.err);
    TU_CHECK(ch_lines(r.err) == 1 && strstr(r.err, mention),
             "%s: expected one line on stderr mentioning '%s': %s",
             ch_cmdline(args), mention, r.err);
    TU_CHECK(r.out[0] == 0, "%s: stdout not empty: %s", ch_cmdline(args),
             r.out);
    printf("ok exit %d: %s", r.code, r.err);
    ch_free(&r);
}

static void test_errors(const char *weights)
{
    char missing[CH_PATH];
    ch_path(missing, "%s/missing.png", g_dir);
    expect_error(2, "--runs", ARGS("bench", "--runs", "0"));
    expect_error(2, "--runs", ARGS("bench", "--runs", "x"));
    expect_error(2, "--point", ARGS("bench", "--point", "1"));
    expect_error(2, "--threads", ARGS("bench", "--threads", "0"));
    expect_error(2, "unexpected", ARGS("bench", g_image));
    expect_error(1, "missing.png",
                 ARGS("bench", "-w", weights, "--image", missing));
    expect_error(1, "outside", ARGS("bench", "-w", weights, "--image", g_image,
                                    "--point", "1281,10"));
    ch_result r = ch_run(g_dir, ARGS("bench", "--help"));
    TU_CHECK(r.code == 0 && strstr(r.out, "usage: mobilesam bench"),
             "--help: exit %d: %s", r.code, r.out);
    ch_free(&r);
    /* Without MOBILESAM_TESTDATA there is no default image. */
    char *saved = strdup(getenv("MOBILESAM_TESTDATA"));
    unsetenv("MOBILESAM_TESTDATA");
    expect_error(2, "--image", ARGS("bench", "-w", weights));
    setenv("MOBILESAM_TESTDATA", saved, 1);
    free(saved);
}

int main(void)
{
    ch_bin();
    const char *testdata = tu_testdata();
    if (!testdata)
        tu_skip("MOBILESAM_TESTDATA is not set");
    ch_path(g_image, "%s/images/zidane.png", testdata);
    g_dir = ch_mkdtemp();
    if (!g_dir)
        tu_skip("cannot create a temporary directory");
    char *weights = ch_convert_weights(testdata, g_dir);
    TU_CHECK(weights != NULL, "converting the fixture weights");
    if (weights) {
        test_errors(weights);
        test_json(weights);
        test_table(weights);
    }
    free(weights);
    ch_rmtree(g_dir);
    free(g_dir);
    return tu_finish("cli_bench");
}
