/*
 * test_cli_errors.c - bad data given to the mobilesam executable: each case
 * is one change to a command that works, and must fail with exit 1 (2 for
 * usage), exactly one line on stderr naming the offending file, nothing on
 * stdout and no output file left behind (not even a temporary one).
 * Needs the fixture pack (MOBILESAM_TESTDATA) for the weights; runs the
 * decoder only (the embedding is a made-up one with valid metadata).
 */
#include "cli_harness.h"
#include "cli_inputs.h"

#include <math.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "io/image.h"
#include "io/npy.h"
#include "mobilesam.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char g_dir[1024], g_out[1100];
static char g_tiny[1200], g_bus[1200], g_weights[1200];

/* dir/name in a static ring of buffers, for building argument lists. */
static const char *at(const char *dir, const char *name)
{
    static char ring[32][4096];
    static int next;
    char *p = ring[next++ % 32];
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}

static const char *scratch(const char *name)
{
    return at(g_dir, name);
}
static const char *out(const char *name)
{
    return at(g_out, name);
}

static void clear_outputs(void)
{
    ch_rmtree(g_out);
    mkdir(g_out, 0755);
}

/* Runs args, expecting `code`, one stderr line containing `mention`, empty
 * stdout and an empty output directory. */
static void expect_error(int code, const char *mention, const char *const *args)
{
    ch_result r = ch_run(g_dir, args);
    const char *cmd = ch_cmdline(args);
    TU_CHECK(r.code == code, "%s: exit %d, expected %d (stderr: %s)", cmd,
             r.code, code, r.err);
    TU_CHECK(ch_lines(r.err) == 1 && r.err[strlen(r.err) - 1] == '\n',
             "%s: expected one line on stderr, got: %s", cmd, r.err);
    TU_CHECK(strstr(r.err, mention) != NULL,
             "%s: stderr does not mention "
             "'%s': %s",
             cmd, mention, r.err);
    TU_CHECK(r.out[0] == 0, "%s: stdout not empty: %s", cmd, r.out);
    char name[256];
    int left = ch_count_entries(g_out, name, sizeof name);
    TU_CHECK(left == 0, "%s: %d file(s) left behind, e.g. %s", cmd, left, name);
    printf("ok exit %d: %s", r.code, r.err);
    ch_free(&r);
    clear_outputs();
}

/* A w x h binary PGM, black but its first pixel white. */
static int write_gray(const char *path, int w, int h)
{
    char head[64];
    int n = snprintf(head, sizeof head, "P5\n%d %d\n255\n", w, h);
    size_t len = (size_t)n + (size_t)w * h;
    char *data = malloc(len);
    if (!data)
        return -1;
    memcpy(data, head, (size_t)n);
    memset(data + n, 0, (size_t)w * h);
    data[n] = (char)255;
    int rc = ch_write(path, data, len);
    free(data);
    return rc;
}

/* Mask inputs and an embedding (valid metadata) with one NaN or infinity
 * among zeros, and a prompts file that names the infinite mask. */
static int write_nan_inputs(const char *id)
{
    const long mshape[2] = {256, 256};
    float *mask = calloc(256 * 256, sizeof(float));
    char err[256], comment[256];
    int rh, rw;
    image_target_size(61, 97, 1024, &rh, &rw);
    snprintf(comment, sizeof comment,
             "mobilesam {\"version\":1,\"weights_id\":\"%s\",\"width\":97,"
             "\"height\":61,\"resized_w\":%d,\"resized_h\":%d}",
             id, rw, rh);
    const long eshape[4] = {1, 256, 64, 64};
    float *emb = calloc((size_t)256 * 64 * 64, sizeof(float));
    int rc = -1;
    if (mask && emb) {
        mask[1000] = NAN;
        rc = npy_write(scratch("nan_mask.npy"), mask, mshape, 2, NULL, err,
                       sizeof err);
        mask[1000] = INFINITY;
        rc |= npy_write(scratch("inf_mask.npy"), mask, mshape, 2, NULL, err,
                        sizeof err);
        emb[4242] = -INFINITY;
        rc |= npy_write(scratch("inf_emb.npy"), emb, eshape, 4, comment, err,
                        sizeof err);
        emb[4242] = NAN;
        rc |= npy_write(scratch("nan_emb.npy"), emb, eshape, 4, comment, err,
                        sizeof err);
        rc |= ch_write(scratch("nan_prompts.json"),
                       "[{\"points\": [[1, 2]], \"mask_input\": "
                       "\"inf_mask.npy\"}]\n",
                       53);
    }
    free(mask);
    free(emb);
    return rc;
}

/* An embedding of tiny.png (zeros) whose metadata has "precision": `value`
 * (JSON text). */
static int write_precision_embedding(const char *path, const char *id,
                                     const char *value)
{
    char comment[256], err[256];
    int rh, rw;
    image_target_size(61, 97, 1024, &rh, &rw);
    snprintf(comment, sizeof comment,
             "mobilesam {\"version\":1,\"weights_id\":\"%s\",\"width\":97,"
             "\"height\":61,\"resized_w\":%d,\"resized_h\":%d,"
             "\"precision\":%s}",
             id, rw, rh, value);
    const long shape[4] = {1, 256, 64, 64};
    float *emb = calloc((size_t)256 * 64 * 64, sizeof(float));
    int rc = emb ? npy_write(path, emb, shape, 4, comment, err, sizeof err) : -1;
    free(emb);
    return rc;
}

static int make_inputs(const char *id)
{
    static const uint32_t version2 = 2;
    size_t wlen;
    free(ch_read(g_weights, &wlen));
    float *mask = calloc(128 * 128, sizeof(float));
    const long mshape[2] = {128, 128};
    char err[256];
    int rc =
        ch_write(scratch("empty.png"), "", 0) ||
        ch_write(scratch("text.png"), "not a PNG\n", 10) ||
        ch_write(scratch("bad.json"), "[{\"points\": [[1, 2]]},\n", 23) ||
        ch_write(scratch("label2.json"),
                 "[{\"points\": [[1, 2]]},\n {\"points\": [[3, 4]], "
                 "\"labels\": [2]}]\n",
                 60) ||
        ch_write(scratch("labelcount.json"),
                 "[{\"points\": [[1, 2]], \"labels\": [1, 0]}]\n", 41) ||
        ch_write(scratch("neg.ppm"), "P6\n-5 5\n255\n", 12) ||
        ch_write(scratch("huge.ppm"), "P6\n4294967295 4294967295\n255\n",
                 29) ||
        write_gray(scratch("wide.pgm"), 3000, 1) ||
        write_gray(scratch("tall.pgm"), 1, 3000) ||
        write_gray(scratch("a.pgm"), 3, 1) ||
        write_nan_inputs(id) ||
        ci_copy_patched(g_weights, scratch("magic.msam"), wlen, 0, "NOTSAM", 6) ||
        ci_copy_patched(g_weights, scratch("trunc.msam"), wlen / 2, 0, NULL, 0) ||
        ci_copy_patched(g_weights, scratch("version.msam"), wlen, 8, &version2,
                     4) ||
        ci_write_embedding(scratch("emb.npy"), id, 97, 61, NULL) ||
        ci_write_embedding(scratch("other.npy"), "0123456789abcdef", 97, 61, NULL) ||
        ci_write_embedding(scratch("nometa.npy"), NULL, 97, 61, NULL) ||
        write_precision_embedding(scratch("int8.npy"), id, "\"int8\"") ||
        write_precision_embedding(scratch("int4.npy"), id, "\"int4\"") ||
        write_precision_embedding(scratch("prec8.npy"), id, "8") ||
        npy_write(scratch("mask128.npy"), mask, mshape, 2, NULL, err,
                  sizeof err);
    free(mask);
    return rc;
}

/* The command every case changes one thing of, checked to work first. */
static void test_baseline(void)
{
    const char *const *args =
        ARGS("seg", g_tiny, "-w", g_weights, "--embedding", scratch("emb.npy"),
             "--point", "10,10", "-o", out("m.png"), "--json", out("m.json"),
             "--logits", out("l.npy"));
    ch_result r = ch_run(g_dir, args);
    TU_CHECK(r.code == 0, "baseline%s: exit %d: %s", ch_cmdline(args), r.code,
             r.err);
    TU_CHECK(ch_exists(out("m.png")) && ch_exists(out("m.json")) &&
                 ch_exists(out("l.npy")),
             "baseline: missing outputs");
    TU_CHECK(r.out[0] == 0 && r.err[0] == 0,
             "baseline: printed something: %s%s", r.out, r.err);
    ch_free(&r);
    clear_outputs();
}

static void test_images(void)
{
    const char *w = g_weights, *o = out("m.png");
    const char *missing = scratch("missing.png");
    const char *empty = scratch("empty.png"), *text = scratch("text.png");
    expect_error(1, missing,
                 ARGS("seg", missing, "-w", w, "--point", "1,1", "-o", o));
    expect_error(1, empty,
                 ARGS("seg", empty, "-w", w, "--point", "1,1", "-o", o));
    expect_error(1, text,
                 ARGS("seg", text, "-w", w, "--point", "1,1", "-o", o));
    /* with an embedding only the image header is read: same refusals */
    const char *e = scratch("emb.npy");
    expect_error(1, missing,
                 ARGS("seg", missing, "-w", w, "--embedding", e, "--point",
                      "1,1", "-o", o));
    expect_error(1, empty,
                 ARGS("seg", empty, "-w", w, "--embedding", e, "--point", "1,1",
                      "-o", o));
    expect_error(1, text,
                 ARGS("seg", text, "-w", w, "--embedding", e, "--point", "1,1",
                      "-o", o));
    expect_error(1, text, ARGS("embed", text, "-w", w, "-o", out("e.npy")));
}

static void test_weights(void)
{
    static const char *const bad[] = {"missing.msam", "magic.msam",
                                      "trunc.msam", "version.msam"};
    for (int i = 0; i < 4; i++) {
        const char *w = scratch(bad[i]);
        expect_error(1, w,
                     ARGS("seg", g_tiny, "-w", w, "--embedding",
                          scratch("emb.npy"), "--point", "1,1", "-o",
                          out("m.png")));
        expect_error(1, w, ARGS("embed", g_tiny, "-w", w, "-o", out("e.npy")));
    }
}

/* Prompt errors, found before the encoder would run (no --embedding). */
static void test_prompts(void)
{
    const char *t = g_tiny, *w = g_weights, *o = out("m.png");
    const char *bad = scratch("bad.json"), *l2 = scratch("label2.json");
    expect_error(1, bad, ARGS("seg", t, "-w", w, "--prompts", bad, "-o", o));
    expect_error(1, "line 2",
                 ARGS("seg", t, "-w", w, "--prompts", l2, "-o", o));
    /* the same checks on the command line are usage errors (exit 2) */
    expect_error(2, "2 labels for 1 point",
                 ARGS("seg", t, "-w", w, "--point", "1,1", "--label", "1",
                      "--label", "0", "-o", o));
    expect_error(
        2, "--label: expected 0 or 1, got '2'",
        ARGS("seg", t, "-w", w, "--point", "1,1", "--label", "2", "-o", o));
    expect_error(2, "1 label for 2 points",
                 ARGS("seg", t, "-w", w, "--point", "1,1", "--point", "2,2",
                      "--label", "1", "-o", o));
    const char *lc = scratch("labelcount.json");
    expect_error(1, lc, ARGS("seg", t, "-w", w, "--prompts", lc, "-o", o));
    expect_error(1, "x1 < x0",
                 ARGS("seg", t, "-w", w, "--box", "50,10,40,20", "-o", o));
    expect_error(1, "y1 < y0",
                 ARGS("seg", t, "-w", w, "--box", "10,20,40,10", "-o", o));
    expect_error(1, "97x61",
                 ARGS("seg", t, "-w", w, "--point", "97.5,10", "-o", o));
    expect_error(1, "97x61",
                 ARGS("seg", t, "-w", w, "--point", "10,-1", "-o", o));
    expect_error(1, "97x61",
                 ARGS("seg", t, "-w", w, "--box", "0,0,97,62", "-o", o));
    const char *m = scratch("mask128.npy");
    expect_error(
        1, "(128, 128)",
        ARGS("seg", t, "-w", w, "--point", "1,1", "--mask-input", m, "-o", o));
    expect_error(
        1, m,
        ARGS("seg", t, "-w", w, "--point", "1,1", "--mask-input", m, "-o", o));
}

static void test_embeddings(void)
{
    const char *w = g_weights, *o = out("m.png");
    const char *other = scratch("other.npy"), *nometa = scratch("nometa.npy");
    const char *emb = scratch("emb.npy");
    expect_error(1, other,
                 ARGS("seg", g_tiny, "-w", w, "--embedding", other, "--point",
                      "1,1", "-o", o));
    expect_error(1, "other weights",
                 ARGS("seg", g_tiny, "-w", w, "--embedding", other, "--point",
                      "1,1", "-o", o));
    expect_error(1, nometa,
                 ARGS("seg", g_tiny, "-w", w, "--embedding", nometa, "--point",
                      "1,1", "-o", o));
    expect_error(1, emb,
                 ARGS("seg", g_bus, "-w", w, "--embedding", emb, "--point",
                      "1,1", "-o", o));
    /* "precision": one of fp32, fp16, int8 (emb.npy, without the key,
     * loads as fp32: test_baseline) */
    static const char *const bad[] = {"int4.npy", "prec8.npy"};
    for (int i = 0; i < 2; i++) {
        const char *e = scratch(bad[i]);
        expect_error(1, e,
                     ARGS("seg", g_tiny, "-w", w, "--embedding", e, "--point",
                          "1,1", "-o", o));
        expect_error(1, "bad \"precision\"",
                     ARGS("seg", g_tiny, "-w", w, "--embedding", e, "--point",
                          "1,1", "-o", o));
    }
    const char *const *args =
        ARGS("seg", g_tiny, "-w", w, "--embedding", scratch("int8.npy"),
             "--point", "1,1", "-o", o);
    ch_result r = ch_run(g_dir, args);
    TU_CHECK(r.code == 0 && r.err[0] == 0, "%s: exit %d: %s",
             ch_cmdline(args), r.code, r.err);
    ch_free(&r);
    clear_outputs();
}

/* A failure after some outputs were written (the JSON goes to a socket,
 * which cannot be opened) removes them; an existing file is not clobbered.
 * An overlay named like one of the mask files is refused up front. */
static void test_rollback(void)
{
    const char *emb = scratch("emb.npy");
    expect_error(2, "m_0_1.png",
                 ARGS("seg", g_tiny, "-w", g_weights, "--embedding", emb,
                      "--point", "1,1", "--multimask", "-o", out("m.png"),
                      "--logits", out("l.npy"), "--overlay", out("m_0_1.png")));
    const char *sock = scratch("sock");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int bound = fd >= 0 && strlen(sock) < sizeof sa.sun_path &&
                bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (bound)
        expect_error(1, "cannot write",
                     ARGS("seg", g_tiny, "-w", g_weights, "--embedding", emb,
                          "--point", "1,1", "--multimask", "-o", out("m.png"),
                          "--logits", out("l.npy"), "--json", sock));
    else
        printf("skipped: cannot make a socket file at %s\n", sock);
    if (fd >= 0)
        close(fd);
    unlink(sock);
    const char *keep = scratch("keep.png");
    ch_write(keep, "old", 3);
    ch_result r = ch_run(g_dir, ARGS("seg", g_tiny, "-w", g_weights, "--point",
                                     "1,1", "--label", "2", "-o", keep));
    size_t len;
    char *data = ch_read(keep, &len);
    TU_CHECK(r.code == 2 && data && len == 3 && !memcmp(data, "old", 3),
             "a failed run changed an existing output file (exit %d)", r.code);
    free(data);
    ch_free(&r);
}

/* NaN or infinity in a mask input or an embedding: refused, naming the
 * file, not decoded into an empty mask with a made-up score. */
static void test_non_finite(void)
{
    const char *t = g_tiny, *w = g_weights, *o = out("m.png");
    static const char *const masks[] = {"nan_mask.npy", "inf_mask.npy"};
    for (int i = 0; i < 2; i++) {
        char want[1300];
        snprintf(want, sizeof want, "%s: contains NaN or infinite values",
                 scratch(masks[i]));
        expect_error(1, want,
                     ARGS("seg", t, "-w", w, "--point", "1,1", "--mask-input",
                          scratch(masks[i]), "-o", o));
    }
    static const char *const embs[] = {"nan_emb.npy", "inf_emb.npy"};
    for (int i = 0; i < 2; i++) {
        char want[1300];
        snprintf(want, sizeof want, "%s: contains NaN or infinite values",
                 scratch(embs[i]));
        expect_error(1, want,
                     ARGS("seg", t, "-w", w, "--embedding", scratch(embs[i]),
                          "--point", "1,1", "-o", o));
    }
    expect_error(1, "inf_mask.npy: contains NaN or infinite values",
                 ARGS("seg", t, "-w", w, "--prompts",
                      scratch("nan_prompts.json"), "-o", o));
}

/* A PNM header's size as written, not as stb misread it. */
static void test_pnm_size(void)
{
    const char *w = g_weights, *o = out("m.png");
    expect_error(1, "declared size -5x5",
                 ARGS("seg", scratch("neg.ppm"), "-w", w, "--point", "1,1",
                      "-o", o));
    expect_error(1, "declared size 4294967295x4294967295",
                 ARGS("seg", scratch("huge.ppm"), "-w", w, "--point", "1,1",
                      "-o", o));
}

/* An image whose short side would resize to 0 pixels: refused with the
 * reason (it was "out of memory"). */
static void test_elongated(void)
{
    const char *w = g_weights, *wide = scratch("wide.pgm");
    const char *tall = scratch("tall.pgm");
    const char *why = "is too elongated (the short side would resize to 0 "
                      "pixels)";
    expect_error(1, "3000x1 is too elongated",
                 ARGS("seg", wide, "-w", w, "--point", "1,0", "-o",
                      out("m.png")));
    expect_error(1, why, ARGS("embed", tall, "-w", w, "-o", out("e.npy")));
    expect_error(1, "1x3000 is too elongated",
                 ARGS("everything", tall, "-w", w, "-o", out("od")));
    expect_error(1, why, ARGS("bench", "--image", wide, "-w", w));
    /* the library says the same */
    mobilesam_model *model = NULL;
    mobilesam_error err = {{0}};
    uint8_t *rgb = calloc(3000 * 3, 1);
    mobilesam_embedding *emb = NULL;
    TU_CHECK(rgb && mobilesam_load(w, &model, &err) == MOBILESAM_OK,
             "load: %s", err.message);
    if (model && rgb) {
        mobilesam_status st = mobilesam_encode(model, rgb, 3000, 1, &emb, &err);
        TU_CHECK(st == MOBILESAM_ERR_INVALID &&
                     strstr(err.message, "3000x1 is too elongated"),
                 "mobilesam_encode 3000x1: status %d: %s", (int)st,
                 err.message);
        mobilesam_amg_result res;
        st = mobilesam_generate(model, rgb, 1, 3000, NULL, &res, &err);
        TU_CHECK(st == MOBILESAM_ERR_INVALID &&
                     strstr(err.message, "1x3000 is too elongated"),
                 "mobilesam_generate 1x3000: status %d: %s", (int)st,
                 err.message);
    }
    if (model)
        mobilesam_free(model);
    free(rgb);
}

/* compare's --min-iou failure names the two files. */
static void test_compare_names(void)
{
    const char *a = scratch("a.pgm");
    ch_result r = ch_run(g_dir, ARGS("compare", a, a, "--min-iou", "1"));
    TU_CHECK(r.code == 0, "compare a a: exit %d: %s", r.code, r.err);
    ch_free(&r);
    char b[1300];
    snprintf(b, sizeof b, "%s", scratch("b.pgm"));
    ch_write(b, "P5\n3 1\n255\n\xff\xff\xff", 14);
    r = ch_run(g_dir, ARGS("compare", a, b, "--min-iou", "1"));
    char want[3000];
    snprintf(want, sizeof want, "of %s and %s is below --min-iou 1", a, b);
    TU_CHECK(r.code == 1 && ch_lines(r.err) == 1 && strstr(r.err, want),
             "compare below --min-iou: exit %d: %s", r.code, r.err);
    printf("ok exit %d: %s", r.code, r.err);
    ch_free(&r);
}

int main(void)
{
    const char *td = tu_testdata();
    if (!td)
        tu_skip("MOBILESAM_TESTDATA is not set");
    char *dir, *weights;
    mobilesam_model *model = ch_fixture_model(td, &dir, &weights);
    if (!model)
        return 1;
    snprintf(g_dir, sizeof g_dir, "%s", dir);
    snprintf(g_out, sizeof g_out, "%s/out", dir);
    snprintf(g_weights, sizeof g_weights, "%s", weights);
    snprintf(g_tiny, sizeof g_tiny, "%s/images/tiny.png", td);
    snprintf(g_bus, sizeof g_bus, "%s/images/bus.png", td);
    mkdir(g_out, 0755);
    TU_CHECK(make_inputs(mobilesam_model_id(model)) == 0,
             "cannot write inputs");
    mobilesam_free(model);

    test_baseline();
    test_images();
    test_weights();
    test_prompts();
    test_embeddings();
    test_rollback();
    test_non_finite();
    test_pnm_size();
    test_elongated();
    test_compare_names();
    ch_rmtree(dir);
    free(dir);
    free(weights);
    return tu_finish("test_cli_errors");
}
