/*
 * bad_images.h - small image files that stb_image 2.27 decodes without a
 * word although pixel data is missing (it reads zeros past the end), or
 * refuses with an empty or wrong reason, each with the words its refusal
 * must contain; and well-formed files of the same kinds, which must load.
 * Used by test_image_basic.c (image_load) and bad_inputs.c (every command).
 * The bad ones are kept as fuzz seeds too, byte for byte:
 * tests/fuzz/corpus/image/regress-<name, '_' as '->.
 */
#ifndef MOBILESAM_TEST_BAD_IMAGES_H
#define MOBILESAM_TEST_BAD_IMAGES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *problem; /* in the reason; NULL: a good file, it loads */
    unsigned char data[128];
    size_t len;
} bi_file;

static void bi_le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void bi_le32(unsigned char *p, uint32_t v)
{
    bi_le16(p, v & 0xffff);
    bi_le16(p + 2, v >> 16);
}
static void bi_be16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}
static void bi_be32(unsigned char *p, uint32_t v)
{
    bi_be16(p, v >> 16);
    bi_be16(p + 2, v & 0xffff);
}

static uint32_t bi_crc32(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* A PNG chunk at p; returns its size. */
static size_t bi_png_chunk(unsigned char *p, const char *type,
                           const unsigned char *data, uint32_t len)
{
    bi_be32(p, len);
    memcpy(p + 4, type, 4);
    if (len)
        memcpy(p + 8, data, len);
    bi_be32(p + 8 + len, bi_crc32(p + 4, 4 + len));
    return 12 + len;
}

/* A w x h 8-bit RGB PNG, black, its pixels in one stored deflate block
 * (w * h small); returns its size. */
static size_t bi_png(unsigned char *p, uint32_t w, uint32_t h)
{
    unsigned char ihdr[13] = {0}, z[64] = {0x78, 0x01, 0x01};
    bi_be32(ihdr, w);
    bi_be32(ihdr + 4, h);
    ihdr[8] = 8; /* depth */
    ihdr[9] = 2; /* RGB */
    size_t n = 8;
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    n += bi_png_chunk(p + n, "IHDR", ihdr, 13);
    uint64_t raw = (uint64_t)h * (1 + 3 * (uint64_t)w);
    if (raw < 48) { /* else no pixels at all */
        uint32_t a = 1, b = 0;
        bi_le16(z + 3, (unsigned)raw);
        bi_le16(z + 5, ~(unsigned)raw & 0xffff);
        for (uint64_t i = 0; i < raw; i++) /* all-zero data: Adler-32 */
            b = (b + a) % 65521;
        bi_be32(z + 7 + raw, b << 16 | a);
        n += bi_png_chunk(p + n, "IDAT", z, (uint32_t)(7 + raw + 4));
    }
    n += bi_png_chunk(p + n, "IEND", NULL, 0);
    return n;
}

/* A 24-bit BMP header (BITMAPINFOHEADER) declaring w x h, pixels at 54. */
static void bi_bmp(unsigned char *p, size_t len, int32_t w, int32_t h)
{
    memcpy(p, "BM", 2);
    bi_le32(p + 2, (uint32_t)len);
    bi_le32(p + 10, 54);
    bi_le32(p + 14, 40);
    bi_le32(p + 18, (uint32_t)w);
    bi_le32(p + 22, (uint32_t)h);
    bi_le16(p + 26, 1);  /* planes */
    bi_le16(p + 28, 24); /* bits per pixel */
}

/* A TGA header: no colour map, image type, w x h, 24 bits per pixel. */
static void bi_tga(unsigned char *p, int type, unsigned w, unsigned h)
{
    p[2] = (unsigned char)type;
    bi_le16(p + 12, w);
    bi_le16(p + 14, h);
    p[16] = 24;
}

/* A PSD header (RGB, 8 bits, empty sections) and its compression field;
 * returns its size (28). */
static size_t bi_psd(unsigned char *p, unsigned channels, uint32_t w, uint32_t h,
                     unsigned compression)
{
    memcpy(p, "8BPS", 4);
    bi_be16(p + 4, 1);
    bi_be16(p + 12, channels);
    bi_be32(p + 14, h);
    bi_be32(p + 18, w);
    bi_be16(p + 22, 8);
    bi_be16(p + 24, 3); /* RGB */
    /* 26..37: three empty sections */
    bi_be16(p + 38, compression);
    return 40;
}

#define BI_MAX 24

/* Fills v[BI_MAX] and returns how many files. */
static int bi_files(bi_file *v)
{
    int n = 0;
    bi_file *f;
    memset(v, 0, BI_MAX * sizeof *v);

    /* BMP: 64x64 24-bit (12 KB of pixels) in 100 bytes */
    f = &v[n++];
    *f = (bi_file){"short.bmp", "truncated BMP", {0}, 100};
    bi_bmp(f->data, f->len, 64, 64);
    memset(f->data + 54, 0x80, 46);
    /* 3x2: rows of 9 bytes padded to 12; the last row's padding may go */
    f = &v[n++];
    *f = (bi_file){"nopad.bmp", NULL, {0}, 54 + 12 + 9};
    bi_bmp(f->data, f->len, 3, 2);
    memset(f->data + 54, 0x10, 21);

    /* TGA: 16x16 24-bit raw (768 bytes of pixels) in 50 bytes */
    f = &v[n++];
    *f = (bi_file){"short.tga", "truncated TGA", {0}, 50};
    bi_tga(f->data, 2, 16, 16);
    memset(f->data + 18, 0x55, 32);
    /* 8x8 RLE whose packets run out after 15 pixels: a run of 10, 5 raw */
    f = &v[n++];
    *f = (bi_file){"rle_short.tga", "truncated TGA", {0}, 18 + 4 + 1 + 15};
    bi_tga(f->data, 10, 8, 8);
    memcpy(f->data + 18, "\x89\x01\x02\x03\x04", 5);
    memset(f->data + 23, 7, 15);
    /* 8x8 RLE: two runs of 64, the second past the last pixel (stb stops) */
    f = &v[n++];
    *f = (bi_file){"rle.tga", NULL, {0}, 18 + 8};
    bi_tga(f->data, 10, 8, 8);
    memcpy(f->data + 18, "\xbf\x01\x02\x03\xbf\x04\x05\x06", 8);

    /* PSD: 4x4 RGB raw with no pixel data; with 0 channels; RLE with the
     * row table but 5 of its 12 rows; and good raw and RLE ones */
    f = &v[n++];
    *f = (bi_file){"nodata.psd", "truncated PSD", {0}, 0};
    f->len = bi_psd(f->data, 3, 4, 4, 0);
    f = &v[n++];
    *f = (bi_file){"nochannel.psd", "invalid PSD: 0 channels", {0}, 0};
    f->len = bi_psd(f->data, 0, 4, 4, 0);
    f = &v[n++];
    *f = (bi_file){"raw.psd", NULL, {0}, 0};
    f->len = bi_psd(f->data, 3, 4, 4, 0) + 3 * 16;
    for (int k = 0; k < 2; k++) {
        f = &v[n++];
        *f = (bi_file){k ? "rle.psd" : "rle_short.psd", k ? NULL : "truncated PSD",
                       {0}, 0};
        size_t at = bi_psd(f->data, 3, 4, 4, 1);
        for (int r = 0; r < 12; r++, at += 2)
            bi_be16(f->data + at, 2); /* each row: a run of 4 */
        for (int r = 0; r < (k ? 12 : 5); r++, at += 2)
            memcpy(f->data + at, "\xfd\x09", 2);
        f->len = at;
    }

    /* PPM with maxval 0 */
    f = &v[n++];
    *f = (bi_file){"maxval0.ppm", "invalid PPM: maxval 0", "P6\n2 2\n0\n", 9 + 12};

    /* GIF: the header, then the trailer; no image */
    f = &v[n++];
    *f = (bi_file){"noimage.gif", "GIF has no image",
                   "GIF89a\x02\x00\x02\x00\x00\x00\x00;", 14};

    /* PNG: 100000x100000 (stb's info calls it an unknown image type); a
     * good 2x2 one cut after its header (33 bytes), and without IEND */
    f = &v[n++];
    *f = (bi_file){"huge100k.png",
                   "100000x100000 image (10000 MP) exceeds the pixel limit",
                   {0}, 0};
    f->len = bi_png(f->data, 100000, 100000);
    f = &v[n++];
    *f = (bi_file){"cut33.png", "truncated PNG", {0}, 33};
    bi_png(f->data, 2, 2);
    f = &v[n++];
    *f = (bi_file){"noiend.png", "truncated PNG", {0}, 0};
    f->len = bi_png(f->data, 2, 2) - 12;
    f = &v[n++];
    *f = (bi_file){"small.png", NULL, {0}, 0};
    f->len = bi_png(f->data, 2, 2);
    return n;
}

#endif
