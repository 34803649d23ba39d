/*
 * test_image_basic.c - data-free checks of image decoding and of the
 * Pillow-compatible resize: small hand-computed cases, channel handling of
 * gray / gray+alpha / RGBA / palette images, refusal of bad files and of
 * absurd declared sizes. Needs no fixture pack; always runs.
 */
#define _POSIX_C_SOURCE 200809L

#include "io/image.h"
#include "testutil.h"
#include "bad_inputs/bad_images.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h>

static char g_dir[256];

static const char *tmp_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

/* ---- a tiny PNG writer for files stb_image_write cannot make ---------- */

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void write_chunk(FILE *f, const char *type, const unsigned char *data, uint32_t len)
{
    unsigned char hdr[8];
    put_be32(hdr, len);
    memcpy(hdr + 4, type, 4);
    fwrite(hdr, 1, 8, f);
    if (len) fwrite(data, 1, len, f);
    uint32_t crc = crc32_update(0, (const unsigned char *)type, 4);
    crc = crc32_update(crc, data, len);
    unsigned char c[4];
    put_be32(c, crc);
    fwrite(c, 1, 4, f);
}

/* Writes a PNG with the given IHDR fields. `raw` (filter byte + samples per
 * row, rawlen bytes, < 65536) goes into one IDAT as a zlib stream made of a
 * single stored (uncompressed) deflate block; raw == NULL writes no IDAT.
 * Optional PLTE and tRNS chunks. */
static int write_png_raw(const char *path, uint32_t w, uint32_t h, int depth, int color,
                         const unsigned char *plte, uint32_t plte_len, const unsigned char *trns,
                         uint32_t trns_len, const unsigned char *raw, uint32_t rawlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    unsigned char ihdr[13];
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = (unsigned char)depth;
    ihdr[9] = (unsigned char)color;
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    write_chunk(f, "IHDR", ihdr, 13);
    if (plte) write_chunk(f, "PLTE", plte, plte_len);
    if (trns) write_chunk(f, "tRNS", trns, trns_len);
    if (raw) {
        uint32_t zlen = 2 + 5 + rawlen + 4;
        unsigned char *z = malloc(zlen);
        z[0] = 0x78;
        z[1] = 0x01;
        z[2] = 0x01; /* final block, stored */
        z[3] = (unsigned char)(rawlen & 0xff);
        z[4] = (unsigned char)(rawlen >> 8);
        z[5] = (unsigned char)(~rawlen & 0xff);
        z[6] = (unsigned char)((~rawlen >> 8) & 0xff);
        memcpy(z + 7, raw, rawlen);
        uint32_t a = 1, b = 0;
        for (uint32_t i = 0; i < rawlen; i++) {
            a = (a + raw[i]) % 65521;
            b = (b + a) % 65521;
        }
        put_be32(z + 7 + rawlen, (b << 16) | a);
        write_chunk(f, "IDAT", z, zlen);
        free(z);
    }
    write_chunk(f, "IEND", NULL, 0);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- resize ------------------------------------------------------------ */

static void test_resize_identity(void)
{
    enum { W = 7, H = 5 };
    uint8_t src[W * H * 3], dst[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) src[i] = (uint8_t)(i * 37 + 11);
    TU_CHECK(image_resize_bilinear_pil(src, W, H, dst, W, H) == 0, "identity resize failed");
    TU_CHECK(memcmp(src, dst, sizeof src) == 0, "identity resize changed pixels");
}

static void test_resize_constant(void)
{
    /* Each pass's fixed-point weights sum to 2^22 within a few units, far
     * less than the half unit of rounding, so a flat image stays flat
     * whatever the scale, for the extreme values too. */
    static const int sizes[][4] = {
        {37, 23, 100, 9}, {37, 23, 5, 61},     {1, 1, 13, 7},
        {300, 2, 1, 1},   {97, 61, 1024, 644}, {1280, 720, 1024, 576},
    };
    static const uint8_t colors[][3] = {{0, 0, 0}, {255, 255, 255}, {200, 17, 128}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int sw = sizes[s][0], sh = sizes[s][1], dw = sizes[s][2], dh = sizes[s][3];
        uint8_t *src = malloc((size_t)sw * sh * 3);
        uint8_t *dst = malloc((size_t)dw * dh * 3);
        for (size_t c = 0; c < sizeof colors / sizeof colors[0]; c++) {
            for (int i = 0; i < sw * sh; i++) memcpy(src + 3 * i, colors[c], 3);
            TU_CHECK(image_resize_bilinear_pil(src, sw, sh, dst, dw, dh) == 0,
                     "resize %dx%d->%dx%d failed", sw, sh, dw, dh);
            int bad = 0;
            for (int i = 0; i < dw * dh; i++) bad += memcmp(dst + 3 * i, colors[c], 3) != 0;
            TU_CHECK(bad == 0, "constant %d,%d,%d not kept by %dx%d->%dx%d (%d pixels)",
                     colors[c][0], colors[c][1], colors[c][2], sw, sh, dw, dh, bad);
        }
        free(src);
        free(dst);
    }
}

static void test_resize_hand_computed(void)
{
    /* Shrinking 4x1 -> 2x1, following Pillow's algorithm by hand:
     * scale = 4/2 = 2, so filterscale = 2 and support = 1.0 * 2 = 2.
     * Output 0: center = 0.5 * 2 = 1.0; xmin = (int)(1 - 2 + 0.5) = 0;
     *   xmax = (int)(1 + 2 + 0.5) = 3: inputs 0, 1, 2 with triangle weights
     *   of (x - 1 + 0.5) / 2 = -0.25, 0.25, 0.75 -> 0.75, 0.75, 0.25; sum
     *   1.75, normalised 3/7, 3/7, 1/7. In 22-bit fixed point (x 4194304,
     *   + 0.5, truncated): 1797559, 1797559, 599186.
     * Output 1: center = 3.0; xmin = (int)(1.5) = 1; xmax = (int)(5.5) = 5,
     *   clipped to 4: inputs 1, 2, 3 with weights 1/7, 3/7, 3/7.
     * The sum starts at 2^21 (half a unit) and is shifted right by 22:
     *   R = [10, 50, 100, 200]:
     *     out0 = (60*1797559 + 100*599186 + 2097152) >> 22 = 169869292 >> 22 = 40
     *     out1 = (50*599186 + 300*1797559 + 2097152) >> 22 = 571324152 >> 22 = 136
     *   G = [0, 0, 255, 0] (weight 1/7 in out0, 3/7 in out1):
     *     out0 = (255*599186 + 2097152) >> 22 = 154889582 >> 22 = 36
     *     out1 = (255*1797559 + 2097152) >> 22 = 460474697 >> 22 = 109
     *   B = [0, 255, 0, 0] (weight 3/7 in out0, 1/7 in out1): 109, 36. */
    const uint8_t src[12] = {10, 0, 0, 50, 0, 255, 100, 255, 0, 200, 0, 0};
    uint8_t dst[6] = {0};
    const uint8_t want[6] = {40, 36, 109, 136, 109, 36};
    TU_CHECK(image_resize_bilinear_pil(src, 4, 1, dst, 2, 1) == 0, "4x1->2x1 failed");
    TU_CHECK(memcmp(dst, want, 6) == 0, "4x1->2x1 gave %d,%d,%d %d,%d,%d want %d,%d,%d %d,%d,%d",
             dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], want[0], want[1], want[2], want[3],
             want[4], want[5]);

    /* Enlarging 2x1 -> 4x1 (scale 0.5, filterscale 1, support 1): centers
     * 0.25, 0.75, 1.25, 1.75. Output 0: xmin 0, xmax (int)1.75 = 1: only
     * input 0. Output 1: xmin (int)0.25 = 0, xmax (int)2.25 = 2: weights
     * triangle(-0.25) = 0.75, triangle(0.75) = 0.25. Output 2: 0.25, 0.75.
     * Output 3: xmin (int)1.25 = 1: only input 1. So edges are replicated,
     * not interpolated towards a border (unlike align_corners).
     * With [0, 255]: (255*1048576 + 2097152) >> 22 = 64 (exact 63.75) and
     * (255*3145728 + 2097152) >> 22 = 191 (exact 191.25). Vertically the
     * same 1 -> 1 is skipped. */
    const uint8_t s2[6] = {0, 0, 0, 255, 255, 255};
    uint8_t d2[12];
    TU_CHECK(image_resize_bilinear_pil(s2, 2, 1, d2, 4, 1) == 0, "2x1->4x1 failed");
    const int want2[4] = {0, 64, 191, 255};
    for (int i = 0; i < 4; i++)
        TU_CHECK(d2[3 * i] == want2[i] && d2[3 * i + 1] == want2[i] && d2[3 * i + 2] == want2[i],
                 "2x1->4x1 pixel %d = %d want %d", i, d2[3 * i], want2[i]);

    /* The same along the vertical axis (1x2 -> 1x4), horizontal skipped. */
    uint8_t d3[12];
    TU_CHECK(image_resize_bilinear_pil(s2, 1, 2, d3, 1, 4) == 0, "1x2->1x4 failed");
    for (int i = 0; i < 4; i++)
        TU_CHECK(d3[3 * i] == want2[i], "1x2->1x4 pixel %d = %d want %d", i, d3[3 * i], want2[i]);

    /* Bad arguments. */
    TU_CHECK(image_resize_bilinear_pil(s2, 2, 1, d2, 0, 1) == -1, "zero width accepted");
    TU_CHECK(image_resize_bilinear_pil(NULL, 2, 1, d2, 4, 1) == -1, "NULL source accepted");
}

static void test_target_size(void)
{
    static const int cases[][4] = {
        /* h, w, want h, want w  (the fixture images and edge cases) */
        {720, 1280, 576, 1024}, {1080, 810, 1024, 768},   {61, 97, 644, 1024},
        {770, 769, 1024, 1023}, {1024, 1024, 1024, 1024}, {1, 2048, 1, 1024},
        {3, 2048, 2, 1024},     {1, 1, 1024, 1024},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int nh = -1, nw = -1;
        image_target_size(cases[i][0], cases[i][1], 1024, &nh, &nw);
        TU_CHECK(nh == cases[i][2] && nw == cases[i][3],
                 "target of %dx%d (h x w) = %dx%d want %dx%d", cases[i][0], cases[i][1], nh, nw,
                 cases[i][2], cases[i][3]);
    }
}

/* ---- decoding ---------------------------------------------------------- */

static void test_channels(void)
{
    enum { W = 3, H = 2 };
    unsigned char gray[W * H], ga[W * H * 2], rgba[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        gray[i] = (unsigned char)(i * 40 + 5);
        ga[2 * i] = (unsigned char)(i * 40 + 7);
        ga[2 * i + 1] = (unsigned char)(i * 30); /* alpha, some 0 */
        rgba[4 * i + 0] = (unsigned char)(i * 10);
        rgba[4 * i + 1] = (unsigned char)(i * 20 + 1);
        rgba[4 * i + 2] = (unsigned char)(i * 30 + 2);
        rgba[4 * i + 3] = (unsigned char)(i * 11);
    }
    char err[256];
    msam_image im;

    TU_CHECK(stbi_write_png(tmp_path("gray.png"), W, H, 1, gray, W) != 0, "write gray.png");
    TU_CHECK(image_load(tmp_path("gray.png"), &im, err, sizeof err) == 0, "gray: %s", err);
    if (im.rgb) {
        TU_CHECK(im.width == W && im.height == H, "gray size %dx%d", im.width, im.height);
        int bad = 0;
        for (int i = 0; i < W * H; i++)
            bad += im.rgb[3 * i] != gray[i] || im.rgb[3 * i + 1] != gray[i] ||
                   im.rgb[3 * i + 2] != gray[i];
        TU_CHECK(bad == 0, "gray not replicated into R=G=B (%d pixels)", bad);
    }
    image_free(&im);

    /* gray+alpha: PIL's LA -> RGB replicates L and drops A (no compositing). */
    TU_CHECK(stbi_write_png(tmp_path("ga.png"), W, H, 2, ga, W * 2) != 0, "write ga.png");
    TU_CHECK(image_load(tmp_path("ga.png"), &im, err, sizeof err) == 0, "gray+alpha: %s", err);
    if (im.rgb) {
        int bad = 0;
        for (int i = 0; i < W * H; i++)
            bad += im.rgb[3 * i] != ga[2 * i] || im.rgb[3 * i + 1] != ga[2 * i] ||
                   im.rgb[3 * i + 2] != ga[2 * i];
        TU_CHECK(bad == 0, "gray+alpha not replicated / alpha not dropped (%d pixels)", bad);
    }
    image_free(&im);

    TU_CHECK(stbi_write_png(tmp_path("rgba.png"), W, H, 4, rgba, W * 4) != 0, "write rgba.png");
    TU_CHECK(image_load(tmp_path("rgba.png"), &im, err, sizeof err) == 0, "rgba: %s", err);
    if (im.rgb) {
        int bad = 0;
        for (int i = 0; i < W * H; i++) bad += memcmp(im.rgb + 3 * i, rgba + 4 * i, 3) != 0;
        TU_CHECK(bad == 0, "RGBA alpha not simply dropped (%d pixels)", bad);
    }
    image_free(&im);

    /* Palette PNG (8-bit indices) with a tRNS chunk: PIL's P -> RGB looks up
     * the palette and ignores transparency; stb expands the same way. */
    const unsigned char plte[9] = {255, 0, 0, 0, 128, 0, 10, 20, 30};
    const unsigned char trns[3] = {0, 128, 255};
    const unsigned char idx[W * H] = {0, 1, 2, 2, 1, 0};
    unsigned char raw[H * (W + 1)];
    for (int y = 0; y < H; y++) {
        raw[y * (W + 1)] = 0; /* filter: none */
        memcpy(raw + y * (W + 1) + 1, idx + y * W, W);
    }
    TU_CHECK(write_png_raw(tmp_path("pal.png"), W, H, 8, 3, plte, 9, trns, 3, raw, sizeof raw) == 0,
             "write pal.png");
    TU_CHECK(image_load(tmp_path("pal.png"), &im, err, sizeof err) == 0, "palette: %s", err);
    if (im.rgb) {
        int bad = 0;
        for (int i = 0; i < W * H; i++) bad += memcmp(im.rgb + 3 * i, plte + 3 * idx[i], 3) != 0;
        TU_CHECK(bad == 0, "palette not expanded to RGB (%d pixels)", bad);
    }
    image_free(&im);

    /* Other formats stb writes: JPEG (lossy, so only the size) and BMP. */
    TU_CHECK(stbi_write_jpg(tmp_path("a.jpg"), W, H, 4, rgba, 90) != 0, "write a.jpg");
    TU_CHECK(image_load(tmp_path("a.jpg"), &im, err, sizeof err) == 0, "jpeg: %s", err);
    TU_CHECK(im.width == W && im.height == H, "jpeg size %dx%d", im.width, im.height);
    image_free(&im);
    TU_CHECK(stbi_write_bmp(tmp_path("a.bmp"), W, H, 1, gray) != 0, "write a.bmp");
    TU_CHECK(image_load(tmp_path("a.bmp"), &im, err, sizeof err) == 0, "bmp: %s", err);
    if (im.rgb)
        TU_CHECK(im.rgb[4 * 3 + 1] == gray[4], "bmp pixel 4 = %d want %d", im.rgb[13], gray[4]);
    image_free(&im);
}

static void test_bad_files(void)
{
    char err[256];
    msam_image im;

    FILE *f = fopen(tmp_path("empty.png"), "wb");
    if (f) fclose(f);
    err[0] = 0;
    TU_CHECK(image_load(tmp_path("empty.png"), &im, err, sizeof err) == -1, "empty file loaded");
    TU_CHECK(strcmp(err, "empty file") == 0, "empty file reason: '%s'", err);
    TU_CHECK(im.rgb == NULL && im.width == 0, "output not cleared on failure");
    printf("  empty file: %s\n", err);

    f = fopen(tmp_path("text.png"), "wb");
    if (f) {
        fputs("this is not an image, just text\n", f);
        fclose(f);
    }
    err[0] = 0;
    TU_CHECK(image_load(tmp_path("text.png"), &im, err, sizeof err) == -1, "text file loaded");
    TU_CHECK(strncmp(err, "not a supported image (stb: ", 28) == 0, "text file reason: '%s'", err);
    printf("  text file: %s\n", err);

    err[0] = 0;
    TU_CHECK(image_load(tmp_path("does-not-exist.png"), &im, err, sizeof err) == -1,
             "missing file loaded");
    TU_CHECK(strncmp(err, "cannot open file: ", 18) == 0 && strstr(err, "No such file"),
             "missing file reason: '%s'", err);
    printf("  missing file: %s\n", err);

    err[0] = 0;
    TU_CHECK(image_load(g_dir, &im, err, sizeof err) == -1, "directory loaded");
    TU_CHECK(strncmp(err, "cannot open file: ", 18) == 0, "directory reason: '%s'", err);
    printf("  directory: %s\n", err);

    /* A PNG that is only a header declaring 20000x20000 grayscale (1.2 GB
     * once expanded to RGB), with no pixel data at all. It must be refused
     * from the header, by the pixel limit: the reason names the declared
     * size, which only the pre-decoding check knows (stb itself would fail
     * later, after trying to allocate, with a different reason). Gray,
     * because stb's own header check already refuses more than 2^30 bytes
     * of 3-channel data (20000x20000 RGB), which would hide our limit. */
    TU_CHECK(write_png_raw(tmp_path("huge.png"), 20000, 20000, 8, 0, NULL, 0, NULL, 0, NULL, 0) ==
                 0,
             "write huge.png");
    err[0] = 0;
    TU_CHECK(image_load(tmp_path("huge.png"), &im, err, sizeof err) == -1, "huge image loaded");
    TU_CHECK(strstr(err, "20000x20000") && strstr(err, "limit"), "huge reason: '%s'", err);
    printf("  huge header: %s\n", err);

    /* The limit is adjustable: a valid 20x20 image (400 pixels) is refused
     * under a 100-pixel limit and loads again with the default restored. */
    unsigned char px[20 * 20 * 3];
    memset(px, 77, sizeof px);
    TU_CHECK(stbi_write_png(tmp_path("small.png"), 20, 20, 3, px, 60) != 0, "write small.png");
    image_set_max_pixels(100);
    err[0] = 0;
    TU_CHECK(image_load(tmp_path("small.png"), &im, err, sizeof err) == -1,
             "limit 100 not applied");
    TU_CHECK(strstr(err, "20x20") != NULL, "limit reason: '%s'", err);
    image_set_max_pixels(400);
    TU_CHECK(image_load(tmp_path("small.png"), &im, err, sizeof err) == 0, "limit 400: %s", err);
    image_free(&im);
    image_set_max_pixels(0); /* default again */
    TU_CHECK(image_load(tmp_path("small.png"), &im, err, sizeof err) == 0, "default limit: %s",
             err);
    TU_CHECK(im.rgb && im.rgb[0] == 77 && im.width == 20, "small.png content");
    image_free(&im);

    /* Truncated PNG: a valid header but the data cut short. */
    FILE *in = fopen(tmp_path("small.png"), "rb");
    unsigned char buf[4096];
    size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
    if (in) fclose(in);
    f = fopen(tmp_path("cut.png"), "wb");
    if (f) {
        fwrite(buf, 1, n > 60 ? 60 : n, f);
        fclose(f);
    }
    err[0] = 0;
    TU_CHECK(image_load(tmp_path("cut.png"), &im, err, sizeof err) == -1, "truncated PNG loaded");
    TU_CHECK(strncmp(err, "not a supported image", 21) == 0, "truncated reason: '%s'", err);
    printf("  truncated png: %s\n", err);
}

/* Files whose pixel data is missing (stb 2.27 decoded them as black or
 * repeated pixels, without a word), or that stb refused with an empty or
 * misleading reason: each refused with the reason named in bad_images.h,
 * by image_info too (no decoding); the good files of the same kinds load. */
static void test_short_files(void)
{
    bi_file v[BI_MAX];
    int n = bi_files(v);
    for (int i = 0; i < n; i++) {
        char err[256] = "", path[512];
        snprintf(path, sizeof path, "%s", tmp_path(v[i].name));
        FILE *f = fopen(path, "wb");
        TU_CHECK(f && fwrite(v[i].data, 1, v[i].len, f) == v[i].len && fclose(f) == 0,
                 "write %s", v[i].name);
        msam_image im;
        int rc = image_load(path, &im, err, sizeof err);
        int w = 0, h = 0;
        char ierr[256] = "";
        int irc = image_info(path, &w, &h, ierr, sizeof ierr);
        if (v[i].problem) {
            TU_CHECK(rc == -1 && strstr(err, v[i].problem), "%s: %s, want '%s'", v[i].name,
                     rc ? err : "loaded", v[i].problem);
            TU_CHECK(irc == -1 && !strcmp(err, ierr), "%s: image_info: %s", v[i].name,
                     irc ? ierr : "accepted");
            printf("  %s: %s\n", v[i].name, err);
        } else {
            TU_CHECK(rc == 0 && irc == 0 && w == im.width && h == im.height, "%s: %s",
                     v[i].name, err);
        }
        image_free(&im);
        remove(path);
    }
}

/* A FIFO with no writer: opening it for reading used to block forever
 * before the "not a regular file" check. */
static void test_fifo(void)
{
    char err[256] = "";
    msam_image im;
    const char *path = tmp_path("fifo.png");
    TU_CHECK(mkfifo(path, 0600) == 0, "mkfifo %s", path);
    alarm(20); /* a regression hangs: fail instead */
    TU_CHECK(image_load(path, &im, err, sizeof err) == -1 && strstr(err, "not a regular file"),
             "fifo: '%s'", err);
    alarm(0);
    printf("  fifo: %s\n", err);
    remove(path);
}

static void cleanup(void)
{
    static const char *names[] = {"gray.png", "ga.png",    "rgba.png",  "pal.png",
                                  "a.jpg",    "a.bmp",     "empty.png", "text.png",
                                  "huge.png", "small.png", "cut.png"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) remove(tmp_path(names[i]));
    rmdir(g_dir);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/msam_test_image_basic.%ld", (long)getpid());
    if (mkdir(g_dir, 0700) != 0) {
        fprintf(stderr, "cannot create %s\n", g_dir);
        return 1;
    }
    test_resize_identity();
    test_resize_constant();
    test_resize_hand_computed();
    test_target_size();
    test_channels();
    test_bad_files();
    test_short_files();
    test_fifo();
    cleanup();
    return tu_finish("test_image_basic");
}
