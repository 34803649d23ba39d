/*
 * test_cli_everything.c - `mobilesam everything`: on tiny.png with every
 * filter off, masks.json parses, has the official record keys, one record
 * per mask_<i>.png, and each RLE decodes (column-major) to exactly its PNG,
 * with "area" its pixel count and "bbox" its box (official XYWH, w = x1 -
 * x0); mask files of an earlier, bigger run are removed; a failed run
 * leaves no output folder; bad option values are usage errors. With the
 * default thresholds the synthetic weights give no mask on bus.png, as the
 * official generator does (8x8 grid: the 32x32 default takes minutes on a
 * small machine). Needs MOBILESAM_TESTDATA.
 */
#include "cli_harness.h"

#include <cJSON.h>
#include <stb_image.h>

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char *g_dir, *g_weights;
static const char *g_td;

static const char *path_in(const char *dir, const char *name)
{
    static char ring[16][CH_PATH];
    static int next;
    return ch_path(ring[next++ % 16], "%s/%s", dir, name);
}

static cJSON *read_json(const char *path)
{
    char *text = ch_read(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

static int num_at(const cJSON *arr, int i)
{
    const cJSON *v = cJSON_GetArrayItem(arr, i);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* One record against mask_<i>.png. */
static void check_record(const char *out, int i, const cJSON *r, int W, int H)
{
    static const char *const keys[] = {"segmentation",    "area",
                                       "bbox",            "predicted_iou",
                                       "point_coords",    "stability_score",
                                       "crop_box"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        TU_CHECK(cJSON_GetObjectItem(r, keys[k]) != NULL,
                 "record %d: no \"%s\"", i, keys[k]);
    const cJSON *seg = cJSON_GetObjectItem(r, "segmentation");
    const cJSON *size = cJSON_GetObjectItem(seg, "size");
    const cJSON *counts = cJSON_GetObjectItem(seg, "counts");
    TU_CHECK(num_at(size, 0) == H && num_at(size, 1) == W,
             "record %d: size is not [h, w]", i);
    char name[64];
    snprintf(name, sizeof name, "mask_%d.png", i);
    int w, h, c;
    uint8_t *png = stbi_load(path_in(out, name), &w, &h, &c, 1);
    TU_CHECK(png && w == W && h == H, "%s: missing or wrong size", name);
    if (!png || !cJSON_IsArray(counts))
        return;
    /* Decode the RLE column-major, starting with a run of zeros. */
    long pos = 0, area = 0, mismatches = 0;
    int value = 0, n = cJSON_GetArraySize(counts);
    for (int k = 0; k < n; k++, value = !value) {
        int run = num_at(counts, k);
        for (int j = 0; j < run && pos < (long)W * H; j++, pos++) {
            int x = (int)(pos / H), y = (int)(pos % H);
            mismatches += (png[y * W + x] > 127) != value;
            area += value;
        }
    }
    TU_CHECK(pos == (long)W * H, "record %d: counts cover %ld of %d pixels",
             i, pos, W * H);
    TU_CHECK(mismatches == 0, "record %d: RLE differs from %s in %ld pixels",
             i, name, mismatches);
    long popcount = 0;
    int x0 = W, y0 = H, x1 = -1, y1 = -1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (png[y * W + x] == 255) {
                popcount++;
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0;
                y1 = y;
            } else
                TU_CHECK(png[y * W + x] == 0, "%s: value %d", name,
                         png[y * W + x]);
    const cJSON *bbox = cJSON_GetObjectItem(r, "bbox");
    TU_CHECK(area == popcount &&
                 cJSON_GetObjectItem(r, "area")->valuedouble == popcount,
             "record %d: RLE area %ld, PNG %ld, \"area\" %g", i, area,
             popcount, cJSON_GetObjectItem(r, "area")->valuedouble);
    if (popcount)
        TU_CHECK(num_at(bbox, 0) == x0 && num_at(bbox, 1) == y0 &&
                     num_at(bbox, 2) == x1 - x0 && num_at(bbox, 3) == y1 - y0,
                 "record %d: bbox [%d, %d, %d, %d], mask box x %d..%d y %d..%d",
                 i, num_at(bbox, 0), num_at(bbox, 1), num_at(bbox, 2),
                 num_at(bbox, 3), x0, x1, y0, y1);
    const cJSON *pt = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "point_coords"), 0);
    TU_CHECK(cJSON_GetArraySize(pt) == 2, "record %d: point_coords", i);
    const cJSON *crop = cJSON_GetObjectItem(r, "crop_box");
    TU_CHECK(num_at(crop, 0) == 0 && num_at(crop, 1) == 0 &&
                 num_at(crop, 2) == W && num_at(crop, 3) == H,
             "record %d: crop_box is not the whole image", i);
    stbi_image_free(png);
}

static int count_masks(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += !strncmp(e->d_name, "mask_", 5);
    if (d)
        closedir(d);
    return n;
}

static void test_tiny(void)
{
    const char *tiny = path_in(g_td, "images/tiny.png");
    const char *out = path_in(g_dir, "tiny_out");
    mkdir(out, 0755);
    ch_write(path_in(out, "mask_99.png"), "stale", 5);
    ch_result r = ch_run(g_dir, ARGS("everything", tiny, "-o", out, "-w",
                                     g_weights, "--points-per-side", "4",
                                     "--pred-iou-thresh", "0",
                                     "--stability-score-thresh", "0",
                                     "--overlay",
                                     path_in(g_dir, "tiny_overlay.png")));
    TU_CHECK(r.code == 0, "everything tiny: exit %d: %s", r.code, r.err);
    cJSON *list = read_json(path_in(out, "masks.json"));
    TU_CHECK(cJSON_IsArray(list), "masks.json does not parse as a list");
    int n = cJSON_GetArraySize(list);
    TU_CHECK(n >= 1, "no mask with every filter off");
    TU_CHECK(count_masks(out) == n, "%d mask PNGs for %d records (the stale "
                                    "mask_99.png should be gone)",
             count_masks(out), n);
    int printed = -1;
    sscanf(r.out, "%d", &printed);
    TU_CHECK(printed == n, "prints '%s', %d records", r.out, n);
    for (int i = 0; i < n; i++)
        check_record(out, i, cJSON_GetArrayItem(list, i), 97, 61);
    int w, h, c;
    uint8_t *ov = stbi_load(path_in(g_dir, "tiny_overlay.png"), &w, &h, &c, 0);
    TU_CHECK(ov && w == 97 && h == 61 && c == 3, "overlay missing or wrong");
    stbi_image_free(ov);
    cJSON_Delete(list);
    ch_free(&r);

    /* --format json alone: no PNG at all. */
    const char *json_only = path_in(g_dir, "json_only");
    r = ch_run(g_dir, ARGS("everything", tiny, "-o", json_only, "-w",
                           g_weights, "--points-per-side", "2", "--format",
                           "json"));
    TU_CHECK(r.code == 0 && ch_exists(path_in(json_only, "masks.json")) &&
                 count_masks(json_only) == 0,
             "--format json: exit %d, %s", r.code, r.err);
    ch_free(&r);
}

static void test_failures(void)
{
    const char *tiny = path_in(g_td, "images/tiny.png");
    const char *out = path_in(g_dir, "never/made");
    ch_result r = ch_run(g_dir, ARGS("everything", path_in(g_dir, "nope.png"),
                                     "-o", out, "-w", g_weights));
    TU_CHECK(r.code == 1 && strstr(r.err, "nope.png") && ch_lines(r.err) == 1,
             "missing image: exit %d: %s", r.code, r.err);
    TU_CHECK(!ch_exists(path_in(g_dir, "never")), "output folder left behind");
    ch_free(&r);
    const char *const bad[][2] = {{"--points-per-side", "0"},
                                  {"--pred-iou-thresh", "1.5"},
                                  {"--crop-overlap-ratio", "1"},
                                  {"--crop-n-layers", "-1"},
                                  {"--format", "gif"},
                                  {"--min-mask-region-area", "x"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = ch_run(g_dir, ARGS("everything", tiny, "-o", out, "-w", g_weights,
                               bad[i][0], bad[i][1]));
        TU_CHECK(r.code == 2 && strstr(r.err, bad[i][0] + 2),
                 "%s %s: exit %d: %s", bad[i][0], bad[i][1], r.code, r.err);
        ch_free(&r);
    }
    TU_CHECK(!ch_exists(path_in(g_dir, "never")), "output folder left behind");
}

static void test_bus_defaults(void)
{
    const char *out = path_in(g_dir, "bus_out");
    ch_result r = ch_run(g_dir, ARGS("everything",
                                     path_in(g_td, "images/bus.png"), "-o",
                                     out, "-w", g_weights, "--points-per-side",
                                     "8"));
    TU_CHECK(r.code == 0, "everything bus: exit %d: %s", r.code, r.err);
    cJSON *list = read_json(path_in(out, "masks.json"));
    TU_CHECK(cJSON_IsArray(list) && cJSON_GetArraySize(list) == 0,
             "bus with default thresholds: expected no mask, got %d",
             cJSON_GetArraySize(list));
    TU_CHECK(count_masks(out) == 0, "bus: mask PNGs written");
    cJSON_Delete(list);
    ch_free(&r);
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
    test_failures();
    test_tiny();
    test_bus_defaults();
    ch_rmtree(g_dir);
    free(g_dir);
    free(g_weights);
    return tu_finish("test_cli_everything");
}
