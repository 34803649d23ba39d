/*
 * test_cli_batch.c - `mobilesam batch` on a folder mixing good and bad
 * images: two good ones with YOLO detection labels (tiny.png and a
 * generated PNG), one without labels, a truncated JPEG, an empty file and a
 * text file named ".png". Checks that the good images get every output
 * (mask PNGs, YOLO segmentation labels whose vertices lie on the masks,
 * annotations.json whose RLEs decode to the PNGs), that the bad ones are
 * named in the summary with exit 1, that a second run skips the finished
 * images (no encode: the summary says so), that --overwrite redoes them,
 * that a run killed after its first finished image resumes to a complete,
 * parseable set, and that --shard 0/2 + 1/2 cover the set exactly once.
 * Also a list file with JSON Lines prompts (one bad prompt), and usage
 * errors. Needs MOBILESAM_TESTDATA.
 */
#include "cli_harness.h"

#include <signal.h>
#include <time.h>

#include <cJSON.h>
#include <stb_image.h>
#include <stb_image_write.h>

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define N_GOOD 3 /* a.png, b.png (labelled), e.png (no label file) */

static char *g_dir, *g_weights;
static const char *g_td;
static char g_images[CH_PATH], g_labels[CH_PATH];

static const char *at(const char *dir, const char *name)
{
    static char ring[32][CH_PATH];
    static int next;
    return ch_path(ring[next++ % 32], "%s/%s", dir, name);
}

/* ---- fixtures ---------------------------------------------------------- */

static void copy_file(const char *from, const char *to, size_t max_bytes)
{
    size_t len;
    char *data = ch_read(from, &len);
    if (!data || ch_write(to, data, len < max_bytes ? len : max_bytes)) {
        fprintf(stderr, "cannot copy %s to %s\n", from, to);
        exit(1);
    }
    free(data);
}

/* A 64x48 picture: a bright disc on a dark gradient. */
static void write_generated(const char *path)
{
    enum { W = 64, H = 48 };
    static uint8_t rgb[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int in = (x - 30) * (x - 30) + (y - 22) * (y - 22) < 14 * 14;
            uint8_t *p = rgb + 3 * (y * W + x);
            p[0] = in ? 230 : (uint8_t)(x * 2);
            p[1] = in ? 200 : (uint8_t)(y * 3);
            p[2] = in ? 40 : 90;
        }
    stbi_write_png(path, W, H, 3, rgb, W * 3);
}

static void make_fixtures(void)
{
    ch_path(g_images, "%s/images", g_dir);
    ch_path(g_labels, "%s/labels", g_dir);
    mkdir(g_images, 0755);
    mkdir(g_labels, 0755);
    copy_file(at(g_td, "images/tiny.png"), at(g_images, "a.png"), (size_t)-1);
    write_generated(at(g_images, "b.png"));
    write_generated(at(g_images, "e.png"));
    copy_file(at(g_td, "images/zidane.jpg"), at(g_images, "c.jpg"), 3000);
    ch_write(at(g_images, "d.png"), "", 0);
    ch_write(at(g_images, ".png"), "not an image\n", 13);
    ch_write(at(g_images, "notes.txt"), "ignored\n", 8);
    /* a: two boxes (classes 0 and 3) and one filtered out by --conf; b: one
     * box (class 2) partly outside the image, clipped; c: labels for the
     * corrupt image, so that it fails on the image itself. */
    const char *a = "0 0.5 0.5 0.6 0.6\n3 0.25 0.3 0.3 0.4 0.9\n"
                    "1 0.7 0.7 0.2 0.2 0.1\n";
    const char *b = "\n2 0.8 0.46 0.5 0.6\n";
    ch_write(at(g_labels, "a.txt"), a, strlen(a));
    ch_write(at(g_labels, "b.txt"), b, strlen(b));
    ch_write(at(g_labels, "c.txt"), "0 0.5 0.5 0.5 0.5\n", 18);
}

/* ---- checking one output folder ------------------------------------------ */

typedef struct {
    const char *stem;
    int w, h;
    int n_objects;
    int classes[2];
} good_image;

static const good_image goods[N_GOOD] = {{"a", 97, 61, 2, {0, 3}},
                                         {"b", 64, 48, 1, {2, 0}},
                                         {"e", 64, 48, 0, {0, 0}}};

static uint8_t *load_mask(const char *out, const char *stem, int o, int w,
                          int h)
{
    char name[64];
    snprintf(name, sizeof name, "%s_%d_0.png", stem, o);
    int pw, ph, c;
    uint8_t *m = stbi_load(at(out, name), &pw, &ph, &c, 1);
    TU_CHECK(m && pw == w && ph == h, "%s: missing or not %dx%d", name, w, h);
    if (m && (pw != w || ph != h)) {
        stbi_image_free(m);
        m = NULL;
    }
    return m;
}

/* Every line: class, then >= 3 (x, y) pairs in [0, 1], each vertex a pixel
 * of the object's mask. */
static void check_yolo(const char *out, const good_image *g, uint8_t **masks)
{
    char name[64];
    snprintf(name, sizeof name, "%s.txt", g->stem);
    char *text = ch_read(at(out, name), NULL);
    TU_CHECK(text != NULL, "%s missing", name);
    if (!text)
        return;
    int line = 0;
    for (char *save, *l = strtok_r(text, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save), line++) {
        double v[4096];
        int n = 0;
        for (char *s2, *tok = strtok_r(l, " ", &s2); tok && n < 4096;
             tok = strtok_r(NULL, " ", &s2))
            v[n++] = strtod(tok, NULL);
        TU_CHECK(n % 2 == 1 && n >= 7, "%s line %d: %d tokens", name, line,
                 n);
        TU_CHECK(line < g->n_objects && v[0] == g->classes[line],
                 "%s line %d: class %g", name, line, v[0]);
        if (line >= g->n_objects || !masks[line])
            continue;
        int off = 0;
        for (int k = 1; k + 1 < n; k += 2) {
            TU_CHECK(v[k] >= 0 && v[k] <= 1 && v[k + 1] >= 0 && v[k + 1] <= 1,
                     "%s line %d: value outside [0, 1]", name, line);
            int x = (int)(v[k] * g->w + 0.5), y = (int)(v[k + 1] * g->h + 0.5);
            off += x < 0 || y < 0 || x >= g->w || y >= g->h ||
                   !masks[line][y * g->w + x];
        }
        TU_CHECK(off == 0, "%s line %d: %d vertices off the mask", name, line,
                 off);
    }
    TU_CHECK(line == g->n_objects, "%s: %d lines for %d objects", name, line,
             g->n_objects);
    free(text);
}

static int num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* The annotation's RLE against the mask PNG: pixels that differ. */
static long rle_diff(const cJSON *ann, const uint8_t *mask, int w, int h)
{
    const cJSON *seg = cJSON_GetObjectItem(ann, "segmentation");
    const cJSON *size = cJSON_GetObjectItem(seg, "size");
    const cJSON *counts = cJSON_GetObjectItem(seg, "counts");
    if (cJSON_GetArraySize(size) != 2 ||
        cJSON_GetArrayItem(size, 0)->valueint != h ||
        cJSON_GetArrayItem(size, 1)->valueint != w || !cJSON_IsArray(counts))
        return -1;
    long pos = 0, diff = 0;
    int value = 0;
    for (const cJSON *c = counts->child; c; c = c->next, value = !value)
        for (int k = 0; k < c->valueint && pos < (long)w * h; k++, pos++)
            diff += (mask[(pos % h) * w + pos / h] != 0) != value;
    return pos == (long)w * h ? diff : -1;
}

static void check_coco(const char *out, uint8_t *masks[N_GOOD][2])
{
    char *text = ch_read(at(out, "annotations.json"), NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    TU_CHECK(root != NULL, "%s/annotations.json missing or not JSON", out);
    if (!root)
        return;
    const cJSON *images = cJSON_GetObjectItem(root, "images");
    const cJSON *anns = cJSON_GetObjectItem(root, "annotations");
    const cJSON *cats = cJSON_GetObjectItem(root, "categories");
    TU_CHECK(cJSON_GetArraySize(images) == N_GOOD,
             "annotations.json: %d images", cJSON_GetArraySize(images));
    TU_CHECK(cJSON_GetArraySize(anns) == 3, "annotations.json: %d annotations",
             cJSON_GetArraySize(anns));
    TU_CHECK(cJSON_GetArraySize(cats) == 3, "annotations.json: %d categories",
             cJSON_GetArraySize(cats));
    for (int i = 0; i < N_GOOD; i++) {
        const good_image *g = &goods[i];
        char file[64];
        snprintf(file, sizeof file, "%s.png", g->stem);
        const cJSON *img = NULL;
        for (const cJSON *c = images ? images->child : NULL; c; c = c->next)
            if (cJSON_IsString(cJSON_GetObjectItem(c, "file_name")) &&
                !strcmp(cJSON_GetObjectItem(c, "file_name")->valuestring,
                        file))
                img = c;
        TU_CHECK(img && num(img, "width") == g->w && num(img, "height") == g->h &&
                     num(img, "id") > 0,
                 "annotations.json: image %s missing or wrong", file);
        if (!img)
            continue;
        int o = 0;
        for (const cJSON *a = anns ? anns->child : NULL; a; a = a->next) {
            if (num(a, "image_id") != num(img, "id"))
                continue;
            static const char *const keys[] = {"id",   "image_id", "category_id",
                                               "segmentation", "area", "bbox",
                                               "iscrowd", "score"};
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
                TU_CHECK(cJSON_GetObjectItem(a, keys[k]),
                         "annotation of %s: no \"%s\"", file, keys[k]);
            TU_CHECK(o < g->n_objects && num(a, "category_id") == g->classes[o],
                     "annotation %d of %s: category %d", o, file,
                     num(a, "category_id"));
            if (o < g->n_objects && masks[i][o]) {
                long area = 0;
                for (int p = 0; p < g->w * g->h; p++)
                    area += masks[i][o][p] != 0;
                TU_CHECK(rle_diff(a, masks[i][o], g->w, g->h) == 0 &&
                             num(a, "area") == area && num(a, "iscrowd") == 0,
                         "annotation %d of %s: RLE/area differ from the PNG",
                         o, file);
            }
            o++;
        }
        TU_CHECK(o == g->n_objects, "%s: %d annotations for %d objects", file,
                 o, g->n_objects);
    }
    cJSON_Delete(root);
}

/* Every output of the good images exists and parses; no temporary files. */
static void check_outputs(const char *out)
{
    uint8_t *masks[N_GOOD][2] = {{NULL}};
    for (int i = 0; i < N_GOOD; i++) {
        const good_image *g = &goods[i];
        char marker[64];
        snprintf(marker, sizeof marker, ".mobilesam/%s.done", g->stem);
        TU_CHECK(ch_exists(at(out, marker)), "%s/%s missing", out, marker);
        for (int o = 0; o < g->n_objects; o++)
            masks[i][o] = load_mask(out, g->stem, o, g->w, g->h);
        check_yolo(out, g, masks[i]);
    }
    check_coco(out, masks);
    for (int i = 0; i < N_GOOD; i++)
        for (int o = 0; o < 2; o++)
            stbi_image_free(masks[i][o]);
    /* Outputs of good images only: 3 masks, 3 label files, the COCO file. */
    int n = ch_count_entries(out, NULL, 0);
    TU_CHECK(n == 3 + 3 + 1 + 1, "%s: %d entries (expected 8 with .mobilesam)",
             out, n);
    DIR *d = opendir(at(out, ".mobilesam"));
    struct dirent *e;
    while (d && (e = readdir(d)))
        TU_CHECK(!strstr(e->d_name, ".tmp."), "temporary file %s left",
                 e->d_name);
    if (d)
        closedir(d);
}

/* ---- runs ------------------------------------------------------------------ */

typedef struct {
    int processed, skipped, failed;
} counts;

static counts parse_summary(const ch_result *r)
{
    counts c = {-1, -1, -1};
    const char *s = strstr(r->out, "done: ");
    if (s)
        sscanf(s, "done: %d processed, %d skipped (already complete), %d "
                  "failed",
               &c.processed, &c.skipped, &c.failed);
    return c;
}

static ch_result run_batch(const char *out, const char *extra1,
                           const char *extra2)
{
    return ch_run(g_dir, ARGS("batch", g_images, "-o", out, "--boxes-from",
                              g_labels, "--format", "png,yolo,coco", "--conf",
                              "0.5", "-w", g_weights, extra1 ? extra1 : "--",
                              extra2));
}

static void expect_counts(const ch_result *r, const char *what, int processed,
                          int skipped, int failed)
{
    counts c = parse_summary(r);
    TU_CHECK(c.processed == processed && c.skipped == skipped &&
                 c.failed == failed,
             "%s: summary %d/%d/%d, expected %d processed, %d skipped, %d "
             "failed; stdout: %s",
             what, c.processed, c.skipped, c.failed, processed, skipped,
             failed, r->out);
    TU_CHECK(r->code == (failed ? 1 : 0), "%s: exit %d", what, r->code);
}

static void test_full_runs(void)
{
    char out[CH_PATH];
    ch_path(out, "%s/out", g_dir);
    ch_result r = run_batch(out, NULL, NULL);
    expect_counts(&r, "first run", N_GOOD, 0, 3);
    const char *failed = strstr(r.out, "failed:");
    TU_CHECK(failed && strstr(failed, ".png") && strstr(failed, "c.jpg") &&
                 strstr(failed, "d.png"),
             "first run: bad files not named: %s", r.out);
    TU_CHECK(strstr(r.out, "no label file") && strstr(r.out, "e.png"),
             "first run: e.png's missing labels not reported: %s", r.out);
    TU_CHECK(ch_lines(r.err) == 3 && strstr(r.err, "c.jpg") &&
                 strstr(r.err, "d.png") && strstr(r.err, "/.png"),
             "first run: expected one stderr line per bad file: %s", r.err);
    ch_free(&r);
    check_outputs(out);

    r = run_batch(out, NULL, NULL);
    expect_counts(&r, "second run", 0, N_GOOD, 3);
    ch_free(&r);
    check_outputs(out);

    r = run_batch(out, "--overwrite", NULL);
    expect_counts(&r, "--overwrite", N_GOOD, 0, 3);
    ch_free(&r);
    check_outputs(out);
}

static int any_marker(const char *out)
{
    DIR *d = opendir(at(out, ".mobilesam"));
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        found |= strstr(e->d_name, ".done") != NULL &&
                 !strstr(e->d_name, ".tmp.");
    if (d)
        closedir(d);
    return found;
}

static void test_kill_and_resume(void)
{
    char out[CH_PATH];
    ch_path(out, "%s/killed", g_dir);
    char *argv[] = {(char *)ch_bin(), "batch", g_images, "-o", (char *)out,
                    "--boxes-from", g_labels, "--format", "png,yolo,coco",
                    "--conf", "0.5", "-w", g_weights, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int status = 0, spawned = posix_spawn(&pid, argv[0], &fa, NULL, argv,
                                          environ) == 0;
    posix_spawn_file_actions_destroy(&fa);
    TU_CHECK(spawned, "cannot spawn %s", argv[0]);
    if (!spawned)
        return;
    struct timespec nap = {0, 2000000};
    int exited = 0;
    for (int i = 0; i < 60000 && !any_marker(out); i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = 1;
            break;
        }
        nanosleep(&nap, NULL);
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    TU_CHECK(!exited, "the run ended before it could be killed");
    ch_result r = ch_run(g_dir, ARGS("batch", g_images, "-o", out,
                                     "--boxes-from", g_labels, "--format",
                                     "png,yolo,coco", "--conf", "0.5", "-w",
                                     g_weights));
    counts c = parse_summary(&r);
    TU_CHECK(c.skipped >= 1 && c.processed + c.skipped == N_GOOD &&
                 c.failed == 3 && r.code == 1,
             "resumed run: %s", r.out);
    ch_free(&r);
    check_outputs(out);
}

static void test_shards(void)
{
    char out[CH_PATH];
    ch_path(out, "%s/sharded", g_dir);
    counts total = {0, 0, 0};
    for (int i = 0; i < 2; i++) {
        ch_result r = run_batch(out, "--shard", i ? "1/2" : "0/2");
        counts c = parse_summary(&r);
        total.processed += c.processed;
        total.skipped += c.skipped;
        total.failed += c.failed;
        TU_CHECK(c.processed + c.failed == 3 && c.skipped == 0,
                 "shard %d/2: %s", i, r.out);
        ch_free(&r);
    }
    TU_CHECK(total.processed == N_GOOD && total.failed == 3,
             "shards: %d processed, %d failed in all", total.processed,
             total.failed);
    /* The second shard assembled annotations.json from both. */
    check_outputs(out);
}

/* A list file (comment, blank line, a missing image) with JSON Lines
 * prompts, one of them outside its image. */
static void test_list_and_prompts(void)
{
    char list[CH_PATH], prompts[CH_PATH];
    ch_path(list, "%s/list.txt", g_dir);
    ch_path(prompts, "%s/prompts.jsonl", g_dir);
    char out[CH_PATH];
    ch_path(out, "%s/listed", g_dir);
    const char *l = "# images\nimages/a.png\n\nimages/missing.png\n"
                    "./images/e.png\n";
    const char *p =
        "{\"image\": \"images/a.png\", \"objects\": [{\"points\": [[40, 30]]}]}\n"
        "{\"image\": \"images/e.png\", \"objects\": [{\"box\": [0, 0, 99, 9]}]}\n";
    ch_write(list, l, strlen(l));
    ch_write(prompts, p, strlen(p));
    ch_result r = ch_run(g_dir, ARGS("batch", list, "-o", out, "--prompts",
                                     prompts, "-w", g_weights, "--multimask"));
    expect_counts(&r, "list + prompts", 1, 0, 2);
    TU_CHECK(strstr(r.err, "missing.png") &&
                 strstr(r.err, "prompts.jsonl: line 2") &&
                 ch_lines(r.err) == 2,
             "list + prompts: stderr %s", r.err);
    for (int m = 0; m < 3; m++) {
        char name[64];
        snprintf(name, sizeof name, "images/a_0_%d.png", m);
        TU_CHECK(ch_exists(at(out, name)), "%s missing", name);
    }
    ch_free(&r);
}

static void test_usage(void)
{
    char out[CH_PATH];
    ch_path(out, "%s/usage", g_dir);
    const char *const *cases[] = {
        ARGS("batch", g_images, "-o", out),
        ARGS("batch", g_images, "-o", out, "--everything", "--boxes-from",
             g_labels),
        ARGS("batch", g_images, "-o", out, "--everything", "--shard", "2/2"),
        ARGS("batch", g_images, "-o", out, "--everything", "--shard", "1"),
        ARGS("batch", g_images, "-o", out, "--everything", "--format", "png,x"),
        ARGS("batch", g_images, "-o", out, "--everything", "--conf", "0.5"),
        ARGS("batch", g_images, "--everything"),
        ARGS("batch", g_images, "-o", g_labels, "--boxes-from", g_labels,
             "--format", "yolo"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ch_result r = ch_run(g_dir, cases[i]);
        TU_CHECK(r.code == 2 && ch_lines(r.err) == 1, "%s: exit %d: %s",
                 ch_cmdline(cases[i]), r.code, r.err);
        ch_free(&r);
    }
    TU_CHECK(!ch_exists(out), "a usage error created OUTDIR");
}

/* batch --compare REFDIR: first against the full run's own masks (every
 * IoU 1), then against references that are not images, truncated, or
 * missing: each named on stderr (never handed to the image decoder
 * unchecked), counted as below the threshold, and the run finishes. */
static void test_compare(void)
{
    char out[CH_PATH], out2[CH_PATH], refs[CH_PATH];
    ch_path(out, "%s/out", g_dir);
    ch_path(out2, "%s/out_cmp", g_dir);
    ch_path(refs, "%s/refs", g_dir);
    ch_result r = ch_run(g_dir, ARGS("batch", g_images, "-o", out2, "--boxes-from", g_labels,
                                     "--format", "png", "--conf", "0.5", "-w", g_weights,
                                     "--compare", out));
    const char *c = strstr(r.out, "compare: ");
    TU_CHECK(c && strstr(c, "compare: 3 masks, min IoU 1.000000, mean IoU 1.000000, 0 below"),
             "--compare with its own masks: %s", r.out);
    ch_free(&r);
    TU_CHECK(mkdir(refs, 0755) == 0, "mkdir %s", refs);
    FILE *f = fopen(at(refs, "a_0_0.png"), "wb"); /* text named .png */
    if (f) {
        fputs("not a png\n", f);
        fclose(f);
    }
    copy_file(at(out, "a_1_0.png"), at(refs, "a_1_0.png"), 40); /* truncated */
    /* b_0_0.png: missing */
    r = ch_run(g_dir, ARGS("batch", g_images, "-o", out2, "--overwrite", "--boxes-from", g_labels,
                           "--format", "png", "--conf", "0.5", "-w", g_weights, "--compare", refs));
    c = strstr(r.out, "compare: ");
    TU_CHECK(c && strstr(c, "compare: 3 masks") && strstr(c, "3 below"),
             "--compare with bad references: %s", r.out);
    TU_CHECK(strstr(r.err, "refs/a_0_0.png") && strstr(r.err, "refs/a_1_0.png") &&
                 strstr(r.err, "refs/b_0_0.png"),
             "--compare: bad references not named: %s", r.err);
    TU_CHECK(r.code == 1, "--compare with bad references: exit %d", r.code);
    TU_CHECK(ch_exists(at(out2, "b_0_0.png")), "--compare: the run did not finish");
    ch_free(&r);
    /* a reference folder that does not exist is a usage error, found first */
    r = ch_run(g_dir, ARGS("batch", g_images, "-o", out2, "--overwrite", "--boxes-from", g_labels,
                           "-w", g_weights, "--compare", at(g_dir, "no_such_refs")));
    TU_CHECK(r.code == 2 && ch_lines(r.err) == 1 && strstr(r.err, "no_such_refs"),
             "--compare with a missing folder: exit %d: %s", r.code, r.err);
    ch_free(&r);
}


/* ---- resume rules and the files a run may touch ------------------------- */

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Images that sit in OUTDIR under mask-like names are inputs, never old
 * masks: neither the first run nor a redo deletes them; a redo deletes only
 * what the marker lists (a mask of an object gone), never a user's file;
 * a corrupt marker means a redo that deletes nothing. */
static void test_inputs_in_outdir(void)
{
    char ox[CH_PATH], list[CH_PATH], user[CH_PATH];
    ch_path(ox, "%s/ox", g_dir);
    ch_path(list, "%s/lx.txt", g_dir);
    mkdir(ox, 0755);
    copy_file(at(g_td, "images/tiny.png"), at(ox, "a_5_0.png"), (size_t)-1);
    copy_file(at(g_td, "images/tiny.png"), at(ox, "a_0_0.png"), (size_t)-1);
    long size = file_size(at(ox, "a_5_0.png"));
    char text[2 * CH_PATH + 64];
    /* absolute paths: stems "a", "a_5_0", "a_0_0"; a_0_0.png is an input
     * too: a's first mask may not be written over it */
    snprintf(text, sizeof text, "%s/a.png\n%s/a_5_0.png\nox/a_0_0.png\n",
             g_images, ox);
    ch_write(list, text, strlen(text));
    ch_result r = ch_run(g_dir, ARGS("batch", list, "-o", ox, "--boxes-from",
                                     g_labels, "-w", g_weights));
    TU_CHECK(file_size(at(ox, "a_5_0.png")) == size &&
                 file_size(at(ox, "a_0_0.png")) == size,
             "inputs in OUTDIR: an input image was deleted or overwritten");
    TU_CHECK(strstr(r.err, "is an input of this run") && r.code == 1,
             "inputs in OUTDIR: writing over an input not refused: %s", r.err);
    ch_free(&r);
    /* without the clashing input: a gets its masks, a_5_0.png stays */
    snprintf(text, sizeof text, "%s/a.png\n%s/a_5_0.png\n", g_images, ox);
    ch_write(list, text, strlen(text));
    unlink(at(ox, "a_0_0.png"));
    r = ch_run(g_dir, ARGS("batch", list, "-o", ox, "--boxes-from", g_labels,
                           "-w", g_weights));
    expect_counts(&r, "inputs in OUTDIR", 1, 1, 0);
    ch_free(&r);
    TU_CHECK(file_size(at(ox, "a_5_0.png")) == size,
             "inputs in OUTDIR: the input image was deleted");
    TU_CHECK(ch_exists(at(ox, "a_0_0.png")) && ch_exists(at(ox, "a_1_0.png")) &&
                 ch_exists(at(ox, "a_2_0.png")),
             "inputs in OUTDIR: a's 3 masks missing");
    /* a user's file of the same shape, never written by the tool */
    ch_path(user, "%s/a_7_0.png", ox);
    ch_write(user, "mine", 4);
    r = ch_run(g_dir, ARGS("batch", list, "-o", ox, "--boxes-from", g_labels,
                           "-w", g_weights, "--overwrite"));
    expect_counts(&r, "--overwrite, inputs in OUTDIR", 2, 0, 0);
    ch_free(&r);
    /* --conf 0.5 leaves a with 2 objects: a_2_0.png (listed) goes */
    r = ch_run(g_dir, ARGS("batch", list, "-o", ox, "--boxes-from", g_labels,
                           "-w", g_weights, "--conf", "0.5"));
    expect_counts(&r, "--conf, inputs in OUTDIR", 2, 0, 0);
    ch_free(&r);
    TU_CHECK(!ch_exists(at(ox, "a_2_0.png")) && ch_exists(at(ox, "a_1_0.png")),
             "a redo with fewer objects left the old mask a_2_0.png");
    TU_CHECK(ch_exists(user) && file_size(at(ox, "a_5_0.png")) == size,
             "a redo deleted a file it did not write");
    /* a corrupt marker: redone, nothing of the old list deleted */
    ch_write(at(ox, ".mobilesam/a.done"), "garbage\nfile _1_0.png\n", 22);
    r = ch_run(g_dir, ARGS("batch", list, "-o", ox, "--boxes-from", g_labels,
                           "-w", g_weights, "--conf", "0.5"));
    expect_counts(&r, "corrupt marker", 1, 1, 0);
    ch_free(&r);
    TU_CHECK(ch_exists(user) && ch_exists(at(ox, "a_1_0.png")),
             "corrupt marker: files deleted");
}

static ch_result run_labels(const char *out, const char *labels,
                            const char *x1, const char *x2, const char *x3,
                            const char *x4)
{
    return ch_run(g_dir, ARGS("batch", g_images, "-o", out, "--boxes-from",
                              labels, "--format", "png,yolo,coco", "-w",
                              g_weights, x1 ? x1 : "--", x2, x3, x4));
}

/* A rerun with other options, weights-determined outputs or edited labels
 * redoes the images concerned; unchanged ones are skipped. */
static void test_resume_options(void)
{
    char out[CH_PATH], labels[CH_PATH];
    ch_path(out, "%s/opts", g_dir);
    ch_path(labels, "%s/labels_opts", g_dir);
    mkdir(labels, 0755);
    const char *names[] = {"a.txt", "b.txt", "c.txt"};
    for (int i = 0; i < 3; i++)
        copy_file(at(g_labels, names[i]), at(labels, names[i]), (size_t)-1);
    ch_result r = run_labels(out, labels, "--conf", "0.5", NULL, NULL);
    expect_counts(&r, "options: first run", N_GOOD, 0, 3);
    ch_free(&r);
    r = run_labels(out, labels, "--conf", "0.5", NULL, NULL);
    expect_counts(&r, "options: same again", 0, N_GOOD, 3);
    ch_free(&r);
    r = run_labels(out, labels, "--conf", "0.5", "--multimask", NULL);
    expect_counts(&r, "options: --multimask added", N_GOOD, 0, 3);
    ch_free(&r);
    TU_CHECK(ch_exists(at(out, "b_0_2.png")) && ch_exists(at(out, "a_1_2.png")),
             "--multimask rerun: the 3 masks per object missing");
    r = run_labels(out, labels, "--conf", "0.95", "--multimask", NULL);
    expect_counts(&r, "options: --conf changed", N_GOOD, 0, 3);
    ch_free(&r);
    TU_CHECK(!ch_exists(at(out, "a_1_0.png")) && !ch_exists(at(out, "a_1_2.png")) &&
                 ch_exists(at(out, "a_0_2.png")),
             "--conf 0.95 rerun: a's second object's masks left behind");
    r = run_labels(out, labels, "--conf", "0.95", "--multimask", NULL);
    expect_counts(&r, "options: same again", 0, N_GOOD, 3);
    ch_free(&r);
    r = run_labels(out, labels, "--conf", "0.95", "--classes", "0,2");
    expect_counts(&r, "options: --classes", N_GOOD, 0, 3);
    ch_free(&r);
    TU_CHECK(!ch_exists(at(out, "a_0_2.png")), "--multimask's masks left");
    /* b's labels edited: b alone is redone */
    const char *b = "2 0.5 0.5 0.4 0.4\n";
    ch_write(at(labels, "b.txt"), b, strlen(b));
    r = run_labels(out, labels, "--conf", "0.95", "--classes", "0,2");
    expect_counts(&r, "options: b.txt edited", 1, N_GOOD - 1, 3);
    ch_free(&r);
    /* the prompt source switched to --everything, then its options */
    const char *const every[] = {"batch",  g_images, "-o", out, "--everything",
                                 "-w", g_weights, "--points-per-side", "2",
                                 NULL};
    r = ch_run(g_dir, every);
    expect_counts(&r, "options: --everything", N_GOOD, 0, 3);
    ch_free(&r);
    TU_CHECK(!ch_exists(at(out, "b.txt")), "--everything: old labels left");
    r = ch_run(g_dir, every);
    expect_counts(&r, "options: --everything again", 0, N_GOOD, 3);
    ch_free(&r);
    r = ch_run(g_dir, ARGS("batch", g_images, "-o", out, "--everything", "-w",
                           g_weights, "--points-per-side", "3"));
    expect_counts(&r, "options: --points-per-side", N_GOOD, 0, 3);
    ch_free(&r);
}

/* Outputs deleted after the run: the image is redone; a COCO record gone
 * too (annotations.json is whole again); one that does not parse fails the
 * assembly, which the summary counts. */
static void test_resume_missing(void)
{
    char out[CH_PATH];
    ch_path(out, "%s/gone", g_dir);
    ch_result r = run_batch(out, NULL, NULL);
    expect_counts(&r, "missing: first run", N_GOOD, 0, 3);
    ch_free(&r);
    unlink(at(out, "a_1_0.png"));
    unlink(at(out, "b.txt"));
    r = run_batch(out, NULL, NULL);
    expect_counts(&r, "missing: masks and labels deleted", 2, 1, 3);
    ch_free(&r);
    check_outputs(out);
    unlink(at(out, ".mobilesam/e.coco.json"));
    unlink(at(out, "annotations.json"));
    r = run_batch(out, NULL, NULL);
    expect_counts(&r, "missing: COCO record deleted", 1, 2, 3);
    TU_CHECK(!strstr(r.err, "COCO record"), "missing record: %s", r.err);
    ch_free(&r);
    check_outputs(out);
    ch_write(at(out, ".mobilesam/e.coco.json"), "{", 1);
    r = run_batch(out, NULL, NULL);
    expect_counts(&r, "corrupt COCO record", 0, 3, 4);
    TU_CHECK(strstr(r.out, "annotations.json"), "corrupt record: %s", r.out);
    ch_free(&r);
}

/* --compare REFDIR where REFDIR is OUTDIR, or another path to it. */
static void test_compare_self(void)
{
    char out[CH_PATH], dot[CH_PATH];
    ch_path(out, "%s/gone", g_dir);
    ch_path(dot, "%s/gone/.", g_dir);
    const char *refs[] = {out, dot};
    for (int i = 0; i < 2; i++) {
        ch_result r = ch_run(g_dir, ARGS("batch", g_images, "-o", out,
                                         "--boxes-from", g_labels, "-w",
                                         g_weights, "--compare", refs[i]));
        TU_CHECK(r.code == 2 && ch_lines(r.err) == 1 &&
                     strstr(r.err, "must not be OUTDIR"),
                 "--compare OUTDIR: exit %d: %s", r.code, r.err);
        ch_free(&r);
    }
}

/* --recursive: a folder below 64 levels and a symlinked folder are each
 * named in a warning line. */
static void test_recursive_limits(void)
{
    char top[CH_PATH], dir[CH_PATH], out[CH_PATH];
    ch_path(top, "%s/deep", g_dir);
    ch_path(out, "%s/deep_out", g_dir);
    mkdir(top, 0755);
    copy_file(at(g_td, "images/tiny.png"), at(top, "x.png"), (size_t)-1);
    TU_CHECK(symlink(g_images, at(top, "link")) == 0, "symlink");
    snprintf(dir, sizeof dir, "%s", top);
    for (int i = 0; i < 66; i++) {
        strcat(dir, "/d");
        mkdir(dir, 0755);
    }
    copy_file(at(g_td, "images/tiny.png"), at(dir, "y.png"), (size_t)-1);
    ch_result r = ch_run(g_dir, ARGS("batch", top, "-r", "-o", out,
                                     "--boxes-from", g_labels, "-w",
                                     g_weights));
    expect_counts(&r, "--recursive limits", 1, 0, 0);
    TU_CHECK(ch_lines(r.err) == 2 &&
                 strstr(r.err, "skipped: deeper than 64 folders") &&
                 strstr(r.err, "deep/link: symlinked folder not followed"),
             "--recursive limits: stderr %s", r.err);
    ch_free(&r);
}

/* stdout closed: the summary cannot be written, exit 1 and one line. */
static void test_closed_stdout(void)
{
    char out[CH_PATH], list[CH_PATH], err[CH_PATH];
    ch_path(out, "%s/closed", g_dir);
    ch_path(list, "%s/one.txt", g_dir);
    ch_path(err, "%s/closed.err", g_dir);
    char line[CH_PATH + 8];
    snprintf(line, sizeof line, "%s/b.png\n", g_images);
    ch_write(list, line, strlen(line));
    char *argv[] = {(char *)ch_bin(), "batch", list, "-o", out,
                    "--boxes-from", g_labels, "-w", g_weights, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, 1);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    pid_t pid;
    int status = 0;
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) == 0)
        waitpid(pid, &status, 0);
    posix_spawn_file_actions_destroy(&fa);
    char *text = ch_read(err, NULL);
    TU_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1 && text &&
                 ch_lines(text) == 1 &&
                 strstr(text, "mobilesam batch: cannot write the summary: "),
             "closed stdout: status %d, stderr %s", status, text ? text : "");
    free(text);
    char *marker = ch_read(at(out, ".mobilesam/b.done"), NULL);
    TU_CHECK(marker && !strstr(marker, "done:") &&
                 ch_exists(at(out, "b_0_0.png")),
             "closed stdout: outputs missing or written into");
    free(marker);
}

/* A newline in a failed file's name, an image given as INPUT, a label file
 * with a byte order mark, a zero-area box. */
static void test_small_fixes(void)
{
    char dir[CH_PATH], out[CH_PATH], labels[CH_PATH];
    ch_path(dir, "%s/odd", g_dir);
    ch_path(out, "%s/odd_out", g_dir);
    ch_path(labels, "%s/odd_labels", g_dir);
    mkdir(dir, 0755);
    mkdir(labels, 0755);
    ch_write(at(dir, "bad\nname.png"), "", 0);
    copy_file(at(g_td, "images/tiny.png"), at(dir, "bom.png"), (size_t)-1);
    copy_file(at(g_td, "images/tiny.png"), at(dir, "zero.png"), (size_t)-1);
    const char *bom = "\xef\xbb\xbf" "0 0.5 0.5 0.6 0.6\n";
    ch_write(at(labels, "bom.txt"), bom, strlen(bom));
    ch_write(at(labels, "zero.txt"), "0 0.5 0.5 0 0\n", 14);
    ch_result r = ch_run(g_dir, ARGS("batch", dir, "-o", out, "--boxes-from",
                                     labels, "-w", g_weights));
    expect_counts(&r, "odd names and labels", 2, 0, 1);
    TU_CHECK(strstr(r.out, "failed: bad?name.png\n"), "stdout: %s", r.out);
    TU_CHECK(ch_lines(r.err) == 1, "odd labels: stderr %s", r.err);
    TU_CHECK(ch_exists(at(out, "bom_0_0.png")) &&
                 ch_exists(at(out, "zero_0_0.png")),
             "BOM or zero-area box: no mask");
    ch_free(&r);
    const char *inputs[] = {at(g_images, "a.png"), at(g_dir, "image.bin")};
    copy_file(at(g_td, "images/tiny.png"), inputs[1], (size_t)-1);
    for (int i = 0; i < 2; i++) {
        r = ch_run(g_dir, ARGS("batch", inputs[i], "-o", out, "--boxes-from",
                               labels, "-w", g_weights));
        TU_CHECK(r.code == 1 && ch_lines(r.err) == 1 &&
                     strstr(r.err, "expected a folder or a text file listing "
                                   "images (this looks like an image)"),
                 "image as INPUT: exit %d: %s", r.code, r.err);
        ch_free(&r);
    }
}

int main(void)
{
    g_td = tu_testdata();
    if (!g_td)
        tu_skip("MOBILESAM_TESTDATA is not set");
    ch_bin();
    g_dir = ch_mkdtemp();
    if (!g_dir || !(g_weights = ch_convert_weights(g_td, g_dir))) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    make_fixtures();
    test_usage();
    test_full_runs();
    test_kill_and_resume();
    test_shards();
    test_list_and_prompts();
    test_compare();
    test_inputs_in_outdir();
    test_resume_options();
    test_resume_missing();
    test_compare_self();
    test_recursive_limits();
    test_closed_stdout();
    test_small_fixes();
    ch_rmtree(g_dir);
    free(g_dir);
    free(g_weights);
    return tu_finish("test_cli_batch");
}
