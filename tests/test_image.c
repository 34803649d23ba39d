/*
 * test_image.c - parity of the pre-processing resize with the official
 * pipeline on the fixture pack: for every image in refs/cases.json, the
 * target size must equal `input_size` and our Pillow-compatible bilinear
 * resize of images/<name>.png must reproduce refs/<name>/resized.png
 * (which the official ResizeLongestSide(1024) produced). Exact equality is
 * the aim; at most one level of difference is accepted and reported.
 * Also checks that the JPEG originals decode to nearly the lossless PNGs.
 * Needs MOBILESAM_TESTDATA; skipped (exit 77) without it.
 */
#include "io/image.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static void check_case(const char *td, const char *name, const cJSON *c)
{
    char path[1024], err[256];
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(c, "image");
    const cJSON *isz = cJSON_GetObjectItemCaseSensitive(c, "input_size");
    const cJSON *jw = cJSON_GetObjectItemCaseSensitive(c, "width");
    const cJSON *jh = cJSON_GetObjectItemCaseSensitive(c, "height");
    TU_CHECK(cJSON_IsString(img) && cJSON_IsArray(isz) && cJSON_GetArraySize(isz) == 2 &&
                 cJSON_IsNumber(jw) && cJSON_IsNumber(jh),
             "%s: cases.json entry lacks image/input_size/width/height", name);
    if (!cJSON_IsString(img) || !cJSON_IsArray(isz) || cJSON_GetArraySize(isz) != 2) return;
    int want_h = cJSON_GetArrayItem(isz, 0)->valueint;
    int want_w = cJSON_GetArrayItem(isz, 1)->valueint;

    msam_image im, ref;
    snprintf(path, sizeof path, "%s/images/%s", td, img->valuestring);
    if (image_load(path, &im, err, sizeof err) != 0) {
        TU_CHECK(0, "%s: %s", path, err);
        return;
    }
    if (cJSON_IsNumber(jw) && cJSON_IsNumber(jh))
        TU_CHECK(im.width == jw->valueint && im.height == jh->valueint,
                 "%s: decoded %dx%d, cases.json says %dx%d", name, im.width, im.height,
                 jw->valueint, jh->valueint);

    int nh, nw;
    image_target_size(im.height, im.width, 1024, &nh, &nw);
    TU_CHECK(nh == want_h && nw == want_w, "%s: target size %dx%d (h x w), input_size %dx%d", name,
             nh, nw, want_h, want_w);

    snprintf(path, sizeof path, "%s/refs/%s/resized.png", td, name);
    if (image_load(path, &ref, err, sizeof err) != 0) {
        TU_CHECK(0, "%s: %s", path, err);
        image_free(&im);
        return;
    }
    TU_CHECK(ref.width == nw && ref.height == nh, "%s: resized.png is %dx%d, expected %dx%d", name,
             ref.width, ref.height, nw, nh);
    if (ref.width == nw && ref.height == nh) {
        size_t n = (size_t)nw * nh * 3;
        uint8_t *out = malloc(n);
        TU_CHECK(out && image_resize_bilinear_pil(im.rgb, im.width, im.height, out, nw, nh) == 0,
                 "%s: resize failed", name);
        if (out) {
            int maxd = 0;
            size_t ndiff_px = 0;
            for (size_t p = 0; p < (size_t)nw * nh; p++) {
                int differs = 0;
                for (int k = 0; k < 3; k++) {
                    int d = abs((int)out[3 * p + k] - (int)ref.rgb[3 * p + k]);
                    if (d > maxd) maxd = d;
                    differs |= d != 0;
                }
                ndiff_px += (size_t)differs;
            }
            printf("  %-9s %4dx%-4d -> %4dx%-4d  max diff %d, %zu of %zu pixels differ: %s\n", name,
                   im.width, im.height, nw, nh, maxd, ndiff_px, (size_t)nw * nh,
                   maxd == 0 ? "EXACT" : "not exact");
            TU_CHECK(maxd <= 1,
                     "%s: resize differs from resized.png by up to %d levels (%zu pixels)", name,
                     maxd, ndiff_px);
            free(out);
        }
    }
    image_free(&ref);
    image_free(&im);
}

/* The JPEG originals: decoders legitimately differ by a level or so (IDCT
 * and chroma upsampling), so only the size and closeness to the PNG (which
 * was decoded from the same JPEG by the reference side) are checked. */
static void check_jpeg(const char *td, const char *name)
{
    char path[1024], err[256];
    msam_image jpg, png;
    snprintf(path, sizeof path, "%s/images/%s.jpg", td, name);
    if (image_load(path, &jpg, err, sizeof err) != 0) {
        TU_CHECK(0, "%s: %s", path, err);
        return;
    }
    snprintf(path, sizeof path, "%s/images/%s.png", td, name);
    if (image_load(path, &png, err, sizeof err) != 0) {
        TU_CHECK(0, "%s: %s", path, err);
        image_free(&jpg);
        return;
    }
    TU_CHECK(jpg.width == png.width && jpg.height == png.height, "%s.jpg size %dx%d vs png %dx%d",
             name, jpg.width, jpg.height, png.width, png.height);
    if (jpg.width == png.width && jpg.height == png.height) {
        size_t n = (size_t)png.width * png.height * 3;
        double sum = 0;
        int maxd = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs((int)jpg.rgb[i] - (int)png.rgb[i]);
            sum += d;
            if (d > maxd) maxd = d;
        }
        printf("  %s.jpg vs .png: mean |diff| %.4f, max %d\n", name, sum / (double)n, maxd);
        TU_CHECK(sum / (double)n < 1.0, "%s.jpg decodes far from the PNG (mean diff %.3f)", name,
                 sum / (double)n);
    }
    image_free(&jpg);
    image_free(&png);
}

int main(void)
{
    const char *td = tu_testdata();
    if (!td) tu_skip("MOBILESAM_TESTDATA is not set");

    char path[1024];
    snprintf(path, sizeof path, "%s/refs/cases.json", td);
    char *text = read_text(path);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    TU_CHECK(cJSON_IsObject(root), "refs/cases.json is not a JSON object");
    int ncases = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, root)
    {
        check_case(td, c->string, c);
        ncases++;
    }
    TU_CHECK(ncases >= 4, "cases.json lists %d images, expected at least 4", ncases);
    cJSON_Delete(root);

    check_jpeg(td, "zidane");
    check_jpeg(td, "bus");
    return tu_finish("test_image");
}
