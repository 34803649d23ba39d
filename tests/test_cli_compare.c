/*
 * test_cli_compare.c - `mobilesam compare` on small masks written here with
 * stbi_write_png, whose IoUs are counted by hand: the gray threshold (> 127),
 * colour and gray inputs, two empty masks, the --json keys, the --min-iou
 * exit codes, and the errors (size mismatch, missing or non-image file, bad
 * command lines). Needs no fixture pack.
 */
#include "cli_harness.h"

#include <math.h>

#include <cJSON.h>
#include <stb_image_write.h>

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define W 10
#define H 10

static char *g_dir;

static const char *path(const char *name)
{
    static char ring[16][CH_PATH];
    static int next;
    return ch_path(ring[next++ % 16], "%s/%s", g_dir, name);
}

/* A W x H (or w x h) gray mask: `on` in columns [x0, x1), `off` elsewhere. */
static void write_columns(const char *name, int w, int h, int x0, int x1,
                          unsigned char on, unsigned char off)
{
    unsigned char px[64 * 64];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            px[y * w + x] = (x >= x0 && x < x1) ? on : off;
    TU_CHECK(stbi_write_png(path(name), w, h, 1, px, w) != 0, "write %s",
             name);
}

/* The same mask as write_columns(255, 0), as RGB with coloured pixels:
 * white inside; outside, a red that is dark in gray (77 * 200 / 256 = 60). */
static void write_rgb_columns(const char *name, int x0, int x1)
{
    unsigned char px[W * H * 3];
    for (int i = 0; i < W * H; i++) {
        int in = i % W >= x0 && i % W < x1;
        px[3 * i + 0] = in ? 255 : 200;
        px[3 * i + 1] = in ? 255 : 0;
        px[3 * i + 2] = in ? 255 : 0;
    }
    TU_CHECK(stbi_write_png(path(name), W, H, 3, px, W * 3) != 0, "write %s",
             name);
}

/* Runs args; checks the exit code and returns the result (caller frees). */
static ch_result expect(int code, const char *const *args)
{
    ch_result r = ch_run(g_dir, args);
    TU_CHECK(r.code == code, "%s: exit %d, expected %d (stderr: %s)",
             ch_cmdline(args), r.code, code, r.err);
    return r;
}

/* Checks the human output: "iou <value>" first, then the counts. */
static void expect_iou(const char *a, const char *b, double iou, int area_a,
                       int area_b)
{
    ch_result r = expect(0, ARGS("compare", path(a), path(b)));
    double got = -1;
    int ga = -1, gb = -1;
    int n = sscanf(r.out, "iou %lf\narea_a %d\narea_b %d", &got, &ga, &gb);
    TU_CHECK(n == 3, "compare %s %s: unexpected output: %s", a, b, r.out);
    TU_CHECK(fabs(got - iou) < 1e-9 && ga == area_a && gb == area_b,
             "compare %s %s: iou %g areas %d %d, expected %g %d %d", a, b, got,
             ga, gb, iou, area_a, area_b);
    TU_CHECK(r.err[0] == 0, "compare %s %s: stderr not empty: %s", a, b,
             r.err);
    ch_free(&r);
}

static double json_number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    TU_CHECK(cJSON_IsNumber(v), "json: no number '%s'", key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_json(void)
{
    ch_result r = expect(0, ARGS("compare", "--json", path("a.png"),
                                 path("b.png")));
    TU_CHECK(ch_lines(r.out) == 1, "--json: expected one line, got: %s",
             r.out);
    cJSON *o = cJSON_Parse(r.out);
    TU_CHECK(cJSON_IsObject(o), "--json: not a JSON object: %s", r.out);
    if (cJSON_IsObject(o)) {
        TU_CHECK(fabs(json_number(o, "iou") - 0.3) < 1e-12, "--json: iou");
        TU_CHECK(json_number(o, "area_a") == 60, "--json: area_a");
        TU_CHECK(json_number(o, "area_b") == 70, "--json: area_b");
        TU_CHECK(json_number(o, "intersection") == 30, "--json: intersection");
        TU_CHECK(json_number(o, "union") == 100, "--json: union");
    }
    cJSON_Delete(o);
    ch_free(&r);
}

static void test_threshold(void)
{
    const char *a = path("a.png"), *b = path("b.png");
    ch_result r = expect(0, ARGS("compare", a, b, "--min-iou", "0.3"));
    ch_free(&r);
    r = expect(0, ARGS("compare", a, "--min-iou=0", b));
    ch_free(&r);
    r = expect(1, ARGS("compare", a, b, "--min-iou", "0.31"));
    TU_CHECK(strncmp(r.out, "iou 0.3\n", 8) == 0,
             "below --min-iou: the IoU is still printed: %s", r.out);
    TU_CHECK(ch_lines(r.err) == 1 && strstr(r.err, "below --min-iou"),
             "below --min-iou: expected one line on stderr: %s", r.err);
    ch_free(&r);
    r = expect(0, ARGS("compare", a, path("a_rgb.png"), "--min-iou", "1"));
    ch_free(&r);
    r = expect(1, ARGS("compare", a, path("empty.png"), "--min-iou", "0.5",
                       "--json"));
    ch_free(&r);
}

static void expect_one_line_error(int code, const char *mention,
                                  const char *const *args)
{
    ch_result r = expect(code, args);
    TU_CHECK(ch_lines(r.err) == 1 && strstr(r.err, mention),
             "%s: expected one line on stderr mentioning '%s': %s",
             ch_cmdline(args), mention, r.err);
    TU_CHECK(r.out[0] == 0, "%s: stdout not empty: %s", ch_cmdline(args),
             r.out);
    printf("ok exit %d: %s", r.code, r.err);
    ch_free(&r);
}

static void test_errors(void)
{
    const char *a = path("a.png");
    expect_one_line_error(1, "10x10", ARGS("compare", a, path("wide.png")));
    expect_one_line_error(1, "12x10", ARGS("compare", a, path("wide.png")));
    expect_one_line_error(1, "missing.png",
                          ARGS("compare", a, path("missing.png")));
    expect_one_line_error(1, "text.png", ARGS("compare", path("text.png"), a));
    expect_one_line_error(2, "two masks", ARGS("compare", a));
    expect_one_line_error(2, "two masks", ARGS("compare"));
    expect_one_line_error(2, "unexpected", ARGS("compare", a, a, a));
    expect_one_line_error(2, "--min-iou", ARGS("compare", a, a, "--min-iou",
                                               "1.5"));
    expect_one_line_error(2, "--min-iou", ARGS("compare", a, a, "--min-iou",
                                               "abc"));
    expect_one_line_error(2, "--min-iou", ARGS("compare", a, a, "--min-iou"));
    expect_one_line_error(2, "--bogus", ARGS("compare", a, a, "--bogus"));
    ch_result r = expect(0, ARGS("compare", "--help"));
    TU_CHECK(strstr(r.out, "usage: mobilesam compare") != NULL,
             "--help: no usage line: %s", r.out);
    ch_free(&r);
}

int main(void)
{
    ch_bin();
    g_dir = ch_mkdtemp();
    if (!g_dir)
        tu_skip("cannot create a temporary directory");
    write_columns("a.png", W, H, 0, 6, 255, 0);     /* 60 pixels */
    write_columns("b.png", W, H, 3, 10, 255, 0);    /* 70, 30 shared */
    write_columns("a_edge.png", W, H, 0, 6, 128, 127); /* the same as a */
    write_columns("c.png", W, H, 8, 10, 200, 0);    /* 20, none with a */
    write_columns("empty.png", W, H, 0, 0, 255, 0);
    write_columns("empty2.png", W, H, 0, 0, 255, 127);
    write_columns("wide.png", 12, H, 0, 6, 255, 0);
    write_rgb_columns("a_rgb.png", 0, 6);
    ch_write(path("text.png"), "not a png\n", 10);

    expect_iou("a.png", "b.png", 0.3, 60, 70);
    expect_iou("b.png", "a.png", 0.3, 70, 60);
    expect_iou("a.png", "a.png", 1.0, 60, 60);
    expect_iou("a.png", "a_edge.png", 1.0, 60, 60);
    expect_iou("a_rgb.png", "a.png", 1.0, 60, 60);
    expect_iou("a.png", "c.png", 0.0, 60, 20);
    expect_iou("b.png", "c.png", 20.0 / 70.0, 70, 20);
    expect_iou("a.png", "empty.png", 0.0, 60, 0);
    expect_iou("empty.png", "empty2.png", 1.0, 0, 0);
    test_json();
    test_threshold();
    test_errors();

    ch_rmtree(g_dir);
    free(g_dir);
    return tu_finish("cli_compare");
}
