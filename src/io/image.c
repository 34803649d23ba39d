/*
 * image.c - decoding images to packed RGB (stb_image) and the resize of the
 * official pre-processing, reproducing Pillow's Image.resize(BILINEAR) on RGB
 * uint8 bit for bit.
 *
 * The official MobileSAM pipeline (ResizeLongestSide.apply_image) resizes with
 * torchvision on a PIL image, which calls PIL's Image.resize(size, BILINEAR)
 * with no reducing_gap. Pillow implements that in src/libImaging/Resample.c as
 * a separable convolution: a triangle filter whose support widens by the
 * shrink factor (antialiasing), double-precision weights normalised per output
 * pixel, converted to 22-bit fixed point, applied horizontally then
 * vertically, each pass rounded and clipped to uint8. Every floating-point
 * step below mirrors Pillow's order of operations, so the coefficients (and
 * therefore the integer results) are identical.
 */
#define _POSIX_C_SOURCE 200809L

#include "io/image.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image.h>

static long long g_max_pixels = IMAGE_MAX_PIXELS_DEFAULT;

void image_set_max_pixels(long long n)
{
    g_max_pixels = n > 0 ? n : IMAGE_MAX_PIXELS_DEFAULT;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "400 MP", "12.19 MP", "5917 pixels"; exact when `exact`. */
static void format_pixels(long long n, int exact, char *buf, size_t len)
{
    if (exact || n < 1000000)
        snprintf(buf, len, "%lld pixels", n);
    else if (n % 1000000 == 0)
        snprintf(buf, len, "%lld MP", n / 1000000);
    else
        snprintf(buf, len, "%.2f MP", (double)n / 1e6);
}

/* 0 when a w x h image is within the limit, else -1 with the reason. */
static int image_check_pixels(int w, int h, char *err, size_t errlen)
{
    long long npix = (long long)w * (long long)h;
    if (npix <= g_max_pixels) return 0;
    /* Exact counts when the rounded ones would read the same. */
    int exact = npix / 10000 == g_max_pixels / 10000;
    char have[48], limit[48];
    format_pixels(npix, exact, have, sizeof have);
    format_pixels(g_max_pixels, exact, limit, sizeof limit);
    set_err(err, errlen, "%dx%d image (%s) " IMAGE_ERR_OVER_LIMIT " of %s", w, h, have,
            limit);
    return -1;
}

/* ---- guards against known stb_image 2.27 bugs ----------------------------
 * The system stb_image (Debian 12's libstb, v2.27) crashes, hangs, reads
 * out of bounds or hands back uninitialised pixels on some corrupt files;
 * most of it is fixed upstream in 2.28 (found by fuzzing image_load:
 * tests/fuzz/fuzz_image.c; each case is a tests/fuzz/corpus/image/regress-*
 * input). These checks refuse such files before stb parses them. With
 * stb >= 2.28 only the PIC refusal is still needed (2.30 has that bug too).
 * Each leaves f rewound to the start. */

/* JPEG Huffman tables, which stb < 2.28 trusts (nothings/stb issues 1289
 * and 1291):
 *  - a DHT segment can declare a table of up to 16 * 255 codes, and stb
 *    writes that many entries into 256/257-entry arrays of its decoder
 *    state. libjpeg refuses tables of more than 256 codes ("Bogus Huffman
 *    table definition"); so do we.
 *  - a scan can name a table that no DHT defined; stb then decodes with
 *    uninitialised memory (its decoder state is malloc'd) and indexes its
 *    tables with garbage, reading far out of bounds. libjpeg refuses that
 *    too ("Huffman table 0x.. was not defined").
 * The markers are walked as stb's decoder sees them: its header parse and
 * every scan (progressive files define tables between scans). Returns what
 * is wrong, or NULL if nothing is (or f is not a JPEG). */
static const char *jpeg_check_huffman_tables(FILE *f)
{
    const char *bad = NULL;
    unsigned defined = 0; /* bit 4 * class + id: the tables defined so far */
    int progressive = -1; /* unknown until the frame header (SOF0/1/2) */
    int c = getc(f);
    if (c != 0xFF) goto done;
    while ((c = getc(f)) == 0xFF) {
    }
    if (c != 0xD8) goto done; /* stb's JPEG test: fill bytes, then SOI */
    for (;;) {
        /* Between segments and in entropy-coded data alike, the next marker
         * is 0xFF (fill 0xFF...) then a byte that is not 0 (a stuffed 0xFF)
         * or RSTn; anything else is skipped, as stb skips it. */
        c = getc(f);
        if (c == EOF) break;
        if (c != 0xFF) continue;
        while ((c = getc(f)) == 0xFF) {
        }
        if (c == EOF || c == 0xD9) break; /* end of file, EOI */
        if (c == 0x00 || c == 0x01 || (c >= 0xD0 && c <= 0xD8)) continue; /* no length */
        int hi = getc(f), lo = getc(f);
        if (hi == EOF || lo == EOF) break;
        long len = (long)hi << 8 | lo;
        if (c == 0xC4) {
            /* DHT: tables back to back, read as stb reads them: it checks
             * the segment length only after parsing every table, and reads
             * zeros past the end of the file. */
            for (long left = len - 2; left > 0;) {
                int q = getc(f);
                long n = 0;
                for (int i = 0; i < 16; i++) {
                    int sz = getc(f);
                    n += sz == EOF ? 0 : sz;
                }
                if (n > 256) {
                    bad = "a Huffman table has more than 256 codes";
                    goto done;
                }
                if (q == EOF || (q >> 4) > 1 || (q & 15) > 3) goto done; /* stb refuses */
                defined |= 1u << (4 * (q >> 4) + (q & 15));
                if (feof(f) || fseek(f, n, SEEK_CUR) != 0) goto done;
                left -= 17 + n;
            }
        } else if (c == 0xDA) {
            /* SOS: Ns, Ns * (component, DC table << 4 | AC table), Ss, Se,
             * Ah << 4 | Al. Baseline scans use both tables; progressive DC
             * scans the DC table (first pass only), AC scans the AC table. */
            unsigned char b[13];
            if (progressive < 0 || len < 8 || len > 14 ||
                fread(b, 1, (size_t)len - 2, f) != (size_t)len - 2 ||
                b[0] < 1 || b[0] > 4 || len != 6 + 2 * b[0])
                goto done; /* stb refuses it */
            int ns = b[0], ss = b[1 + 2 * ns], ah = b[3 + 2 * ns] >> 4;
            for (int i = 0; i < ns; i++) {
                int dc = b[2 + 2 * i] >> 4, ac = b[2 + 2 * i] & 15;
                if (dc > 3 || ac > 3) goto done; /* stb refuses it */
                int use_dc = !progressive || (ss == 0 && ah == 0);
                int use_ac = !progressive || ss > 0;
                if ((use_dc && !(defined & 1u << dc)) || (use_ac && !(defined & 1u << (4 + ac)))) {
                    bad = "a scan uses a Huffman table that was never defined";
                    goto done;
                }
            }
        } else {
            if (progressive < 0 && (c == 0xC0 || c == 0xC1 || c == 0xC2))
                progressive = c == 0xC2;
            if (len < 2 || fseek(f, len - 2, SEEK_CUR) != 0) break;
        }
    }
done:
    rewind(f);
    return bad;
}

/* PNG: stb grows its IDAT buffer to each chunk's declared length before
 * reading the chunk, so a 100-byte file declaring a 2 GB chunk makes it
 * allocate 2 GB (found by fuzzing; stb 2.28 only caps it at 1 GB), which the
 * pixel limit of image.h is meant to prevent. Such a file is truncated
 * (stb fails on it anyway, after the allocation). Returns 1 if f is a PNG
 * with a chunk longer than the rest of the file. */
static int png_chunk_overruns(FILE *f, long long file_size)
{
    int overruns = 0;
    unsigned char b[8];
    if (fread(b, 1, 8, f) != 8 || memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0) goto done;
    while (fread(b, 1, 8, f) == 8) {
        long long len = (long long)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
        long pos = ftell(f);
        if (pos < 0) break;
        if (len > file_size - pos) {
            overruns = 1;
            break;
        }
        if (memcmp(b + 4, "IEND", 4) == 0 || fseek(f, (long)len + 4, SEEK_CUR) != 0) break;
    }
done:
    rewind(f);
    return overruns;
}

/* Binary PNM (P5/P6; header parsed as stb parses it): stb 2.27 ignores a
 * short read of the pixel data and returns the image with the missing
 * pixels uninitialised (heap garbage; fixed in stb 2.28). Returns 1 if f is
 * such a PNM with less pixel data than its header declares. */
static int pnm_is_truncated(FILE *f, long long file_size)
{
    int truncated = 0;
    int p = getc(f), t = getc(f);
    if (p != 'P' || (t != '5' && t != '6')) goto done;
    long long v[3]; /* width, height, maxval */
    int c = getc(f);
    for (int i = 0; i < 3; i++) {
        for (;;) { /* blanks, and comments up to the end of their line */
            while (c == ' ' || (c >= '\t' && c <= '\r')) c = getc(f);
            if (c != '#') break;
            while (c != EOF && c != '\n' && c != '\r') c = getc(f);
        }
        v[i] = 0;
        for (; c >= '0' && c <= '9'; c = getc(f))
            if (v[i] < (1LL << 32)) v[i] = v[i] * 10 + (c - '0');
    }
    /* The pixels start after the one character that ended the maxval. */
    long header = ftell(f);
    if (header < 0 || v[0] > (1LL << 24) || v[1] > (1LL << 24)) goto done; /* stb refuses */
    long long need = v[0] * v[1] * (t == '6' ? 3 : 1) * (v[2] > 255 ? 2 : 1);
    truncated = file_size - header < need;
done:
    rewind(f);
    return truncated;
}

/* Two formats that Pillow, whose decoding the official pipeline uses, does
 * not read at all, and whose stb 2.27 decoders fail badly on corrupt files,
 * are refused outright (recognised as stb recognises them). Returns the
 * format's name, or NULL.
 *  - Softimage PIC: stbi__pic_load hands a NULL result to
 *    stbi__convert_format, which dereferences it (a crash) when the pixel
 *    data is corrupt or truncated.
 *  - Radiance HDR: a run-length byte of 128 (a run of 0) in an RLE scanline
 *    makes stbi__hdr_load loop forever (a hang; fixed in stb 2.28). */
static const char *unsupported_format(FILE *f)
{
    unsigned char h[92];
    size_t n = fread(h, 1, sizeof h, f);
    rewind(f);
    if (n == sizeof h && memcmp(h, "\x53\x80\xF6\x34", 4) == 0 &&
        memcmp(h + 88, "PICT", 4) == 0)
        return "Softimage PIC";
    if ((n >= 11 && memcmp(h, "#?RADIANCE\n", 11) == 0) ||
        (n >= 7 && memcmp(h, "#?RGBE\n", 7) == 0))
        return "Radiance HDR";
    return NULL;
}

/* Every check of image_load before decoding: the file, the formats and
 * files refused, the header's size and the pixel limit. Returns the open
 * file, at its start, or NULL with the reason in err. */
static FILE *open_image(const char *path, int *width, int *height, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "cannot open file: %s", strerror(errno));
        return NULL;
    }
    /* fopen succeeds on a directory under Linux; reads would then fail with
     * a confusing "not a supported image". Check what it is first. */
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        set_err(err, errlen, "cannot open file: %s", strerror(errno));
        fclose(f);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, "cannot open file: not a regular file");
        fclose(f);
        return NULL;
    }
    if (st.st_size == 0) {
        set_err(err, errlen, "empty file");
        fclose(f);
        return NULL;
    }

    const char *refused = unsupported_format(f);
    if (refused) {
        set_err(err, errlen, "not a supported image (%s is not supported)", refused);
        fclose(f);
        return NULL;
    }
    if (png_chunk_overruns(f, (long long)st.st_size)) {
        set_err(err, errlen, "not a supported image (truncated PNG: a chunk is longer "
                             "than the rest of the file)");
        fclose(f);
        return NULL;
    }
    if (pnm_is_truncated(f, (long long)st.st_size)) {
        set_err(err, errlen, "not a supported image (truncated PNM: less pixel data "
                             "than its header declares)");
        fclose(f);
        return NULL;
    }
    const char *bad_jpeg = jpeg_check_huffman_tables(f);
    if (bad_jpeg) {
        set_err(err, errlen, "not a supported image (corrupt JPEG: %s)", bad_jpeg);
        fclose(f);
        return NULL;
    }

    /* Read only the header first: stb would otherwise allocate whatever the
     * header declares before noticing the data is missing. */
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_file(f, &w, &h, &comp)) {
        set_err(err, errlen, "not a supported image (stb: %s)",
                stbi_failure_reason() ? stbi_failure_reason() : "unknown");
        fclose(f);
        return NULL;
    }
    /* stb's BMP info passes the header's height through as it is, and a
     * top-down BMP (a valid, common variant that PIL reads) declares a
     * negative one; the decoder itself flips it to positive. Take the
     * magnitude, or every top-down BMP would be refused here. The size check
     * after decoding still makes sure that header and pixels agree. */
    if (h < 0 && h != INT_MIN) h = -h;
    if (w <= 0 || h <= 0) {
        set_err(err, errlen, "not a supported image (declared size %dx%d)", w, h);
        fclose(f);
        return NULL;
    }
    if (image_check_pixels(w, h, err, errlen)) {
        fclose(f);
        return NULL;
    }
    *width = w;
    *height = h;
    return f; /* stbi_info_from_file left it at the start */
}

int image_info(const char *path, int *width, int *height, char *err, size_t errlen)
{
    FILE *f = open_image(path, width, height, err, errlen);
    if (!f) return -1;
    fclose(f);
    return 0;
}

int image_load(const char *path, msam_image *out, char *err, size_t errlen)
{
    out->rgb = NULL;
    out->width = out->height = 0;
    int w = 0, h = 0;
    FILE *f = open_image(path, &w, &h, err, errlen);
    if (!f) return -1;

    /* Converting to RGB below replicates gray (and gray+alpha) into R=G=B
     * and drops alpha without compositing; stb expands palettes (ignoring
     * tRNS): the same as PIL's convert('RGB'), checked against Pillow for
     * L, LA, RGBA, P, 1-bit, BMP, TGA, PPM and GIF. 16-bit samples are
     * reduced by taking the high byte, as PIL does for 16-bit RGB PNGs and
     * OpenCV's imread for all; PIL alone differs on 16-bit grayscale, which
     * it opens as mode I and clips at 255 (mostly white). Like PIL's
     * Image.open, EXIF orientation is not applied.
     * The file's own channels are asked for (0), not 3: stb 2.27's channel
     * conversion treats 16-bit PNM samples as 8-bit ones and then reads past
     * its buffer on every 16-bit PGM (found by fuzzing; fixed in stb 2.28),
     * so the conversion is done here, the same way stb does it. */
    int lw = 0, lh = 0, lc = 0;
    stbi_uc *pix = stbi_load_from_file(f, &lw, &lh, &lc, 0);
    fclose(f);
    if (!pix) {
        set_err(err, errlen, "not a supported image (stb: %s)",
                stbi_failure_reason() ? stbi_failure_reason() : "unknown");
        return -1;
    }
    if (lw != w || lh != h || lc < 1 || lc > 4) {
        /* Cannot happen for a well-behaved decoder; refuse rather than trust
         * a size the limit check did not see. */
        stbi_image_free(pix);
        set_err(err, errlen, "not a supported image (header says %dx%d, decoded %dx%d)",
                w, h, lw, lh);
        return -1;
    }

    /* Hand back memory the caller frees with image_free (free()), so callers
     * never need to know it came from stb. */
    size_t n = (size_t)w * (size_t)h * 3;
    out->rgb = malloc(n);
    if (!out->rgb) {
        stbi_image_free(pix);
        set_err(err, errlen, "out of memory for a %dx%d image", w, h);
        return -1;
    }
    if (lc == 3) {
        memcpy(out->rgb, pix, n);
    } else {
        /* 1 gray, 2 gray+alpha: R=G=B=gray; 4: RGBA, alpha dropped */
        for (size_t i = 0, np = (size_t)w * (size_t)h; i < np; i++) {
            const stbi_uc *p = pix + i * (size_t)lc;
            uint8_t *q = out->rgb + 3 * i;
            q[0] = p[0];
            q[1] = lc <= 2 ? p[0] : p[1];
            q[2] = lc <= 2 ? p[0] : p[2];
        }
    }
    stbi_image_free(pix);
    out->width = w;
    out->height = h;
    return 0;
}

void image_free(msam_image *img)
{
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

/* a * b rounded to double before anything else touches it. With GCC's
 * default -ffp-contract=fast (GNU C modes) a multiply followed by an add can
 * be fused into one FMA on targets that have it (aarch64, x86 with -march
 * flags), which rounds once instead of twice and could move a value across a
 * rounding boundary. Python and Pillow's reference builds round the product;
 * the volatile store forces the same here. */
static double mul_rounded(double a, double b)
{
    volatile double p = a * b;
    return p;
}

void image_target_size(int h, int w, int target, int *newh, int *neww)
{
    /* ResizeLongestSide.get_preprocess_shape:
     *   scale = long_side_length * 1.0 / max(oldh, oldw)
     *   newh, neww = oldh * scale, oldw * scale
     *   neww = int(neww + 0.5); newh = int(newh + 0.5)
     * int() truncates toward zero; the values are positive here. */
    int longest = h > w ? h : w;
    if (longest <= 0 || target <= 0) {
        *newh = *neww = 0;
        return;
    }
    double scale = (double)target * 1.0 / (double)longest;
    double fh = mul_rounded((double)h, scale);
    double fw = mul_rounded((double)w, scale);
    *newh = (int)(fh + 0.5);
    *neww = (int)(fw + 0.5);
}

/* ---- Pillow-compatible bilinear resampling --------------------------- */

/* Fixed-point fraction bits of the 8-bit resampler: 32 bits minus 8 for the
 * pixel value minus 2 of headroom for filters with negative lobes. */
#define PIL_PRECISION_BITS (32 - 8 - 2)

/* Coefficients of one 1-D pass: for output index i, the inputs
 * first[i] .. first[i] + count[i] - 1 weighted by k[i * ksize + j]. */
typedef struct {
    int ksize;
    int *first;
    int *count;
    int32_t *k;
} resample_coeffs;

static void coeffs_free(resample_coeffs *c)
{
    free(c->first);
    free(c->count);
    free(c->k);
    c->first = c->count = NULL;
    c->k = NULL;
}

/* Pillow's bilinear (triangle) filter. */
static double triangle(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Mirrors Pillow's precompute_coeffs (box = the whole image, support 1.0)
 * followed by normalize_coeffs_8bpc. */
static int coeffs_build(int in_size, int out_size, resample_coeffs *c)
{
    memset(c, 0, sizeof(*c));
    /* Pillow computes (double)(in1 - in0) / outSize with the box as floats;
     * with in0 = 0 and integer sizes below 2^24 that is exactly this. The
     * box origin in0 = 0 is also added to each centre; adding 0.0 changes
     * nothing, so it is left out (which also leaves no multiply-add to fuse). */
    double scale = (double)in_size / (double)out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale; /* bilinear support is 1.0 */
    double inv_filterscale = 1.0 / filterscale;
    double ceil_support = ceil(support);
    if (ceil_support > (double)(INT_MAX / 4)) return -1;
    int ksize = (int)ceil_support * 2 + 1;

    size_t nk = (size_t)out_size * (size_t)ksize;
    if (nk / (size_t)ksize != (size_t)out_size) return -1;
    double *w = malloc(nk * sizeof(double));
    c->first = malloc((size_t)out_size * sizeof(int));
    c->count = malloc((size_t)out_size * sizeof(int));
    c->k = malloc(nk * sizeof(int32_t));
    if (!w || !c->first || !c->count || !c->k) {
        free(w);
        coeffs_free(c);
        return -1;
    }
    c->ksize = ksize;

    for (int xx = 0; xx < out_size; xx++) {
        double center = mul_rounded((double)xx + 0.5, scale);
        /* "Round the value": (int) truncates toward zero, exactly as Pillow;
         * a negative xmin is clamped to 0 right after, so truncation versus
         * floor does not matter. */
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        int n = xmax - xmin;
        double *k = &w[(size_t)xx * ksize];
        double ww = 0.0;
        for (int x = 0; x < n; x++) {
            /* Same evaluation order as Pillow:
             * ((x + xmin) - center + 0.5) * inv_filterscale. */
            double t = (double)(x + xmin) - center + 0.5;
            double v = triangle(mul_rounded(t, inv_filterscale));
            k[x] = v;
            ww += v;
        }
        if (ww != 0.0) {
            for (int x = 0; x < n; x++) k[x] /= ww;
        }
        for (int x = n < 0 ? 0 : n; x < ksize; x++) k[x] = 0.0;
        c->first[xx] = xmin;
        c->count[xx] = n < 0 ? 0 : n;
    }

    /* normalize_coeffs_8bpc: round half away from zero to 22-bit fixed
     * point. Multiplying by a power of two is exact, so no fusion issue. */
    for (size_t i = 0; i < nk; i++) {
        double v = w[i] * (double)(1 << PIL_PRECISION_BITS);
        c->k[i] = (int32_t)(w[i] < 0 ? v - 0.5 : v + 0.5);
    }
    free(w);
    return 0;
}

/* Pillow's clip8: the accumulator started at half a unit, so the arithmetic
 * shift rounds to nearest; out-of-range sums saturate. */
static uint8_t clip8(int32_t ss)
{
    if (ss < 0) return 0;
    int32_t v = ss >> PIL_PRECISION_BITS;
    return v > 255 ? 255 : (uint8_t)v;
}

/* Horizontal pass over rows [y0, y1) of src (width sw), writing rows
 * 0 .. y1-y0-1 of dst (width dw). */
static void pass_horizontal(const uint8_t *src, int sw, int y0, int y1,
                            uint8_t *dst, int dw, const resample_coeffs *c)
{
    for (int y = y0; y < y1; y++) {
        const uint8_t *in = src + (size_t)y * sw * 3;
        uint8_t *out = dst + (size_t)(y - y0) * dw * 3;
        for (int xx = 0; xx < dw; xx++) {
            const int32_t *k = &c->k[(size_t)xx * c->ksize];
            const uint8_t *p = in + (size_t)c->first[xx] * 3;
            int n = c->count[xx];
            int32_t s0 = 1 << (PIL_PRECISION_BITS - 1);
            int32_t s1 = s0, s2 = s0;
            for (int x = 0; x < n; x++) {
                s0 += p[3 * x + 0] * k[x];
                s1 += p[3 * x + 1] * k[x];
                s2 += p[3 * x + 2] * k[x];
            }
            out[3 * xx + 0] = clip8(s0);
            out[3 * xx + 1] = clip8(s1);
            out[3 * xx + 2] = clip8(s2);
        }
    }
}

/* Vertical pass: src has rows starting at source row `row0` (the rows the
 * horizontal pass produced), width w; dst has dh rows of width w. */
static void pass_vertical(const uint8_t *src, int w, int row0, uint8_t *dst,
                          int dh, const resample_coeffs *c)
{
    size_t stride = (size_t)w * 3;
    for (int yy = 0; yy < dh; yy++) {
        const int32_t *k = &c->k[(size_t)yy * c->ksize];
        const uint8_t *base = src + (size_t)(c->first[yy] - row0) * stride;
        int n = c->count[yy];
        uint8_t *out = dst + (size_t)yy * stride;
        for (size_t i = 0; i < stride; i++) {
            int32_t s = 1 << (PIL_PRECISION_BITS - 1);
            for (int y = 0; y < n; y++) s += base[(size_t)y * stride + i] * k[y];
            out[i] = clip8(s);
        }
    }
}

int image_resize_bilinear_pil(const uint8_t *src, int sw, int sh, uint8_t *dst,
                              int dw, int dh)
{
    if (!src || !dst || sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0) return -1;

    /* Pillow skips a pass whose dimension is unchanged (and returns a copy
     * when neither changes). An identity pass would give the same values
     * anyway: its only non-zero weight is exactly 1.0. */
    int need_h = dw != sw;
    int need_v = dh != sh;
    if (!need_h && !need_v) {
        memmove(dst, src, (size_t)sw * sh * 3);
        return 0;
    }

    resample_coeffs cv = {0}, ch = {0};
    uint8_t *tmp = NULL;
    int rc = -1;

    if (!need_v) {
        if (coeffs_build(sw, dw, &ch) != 0) goto done;
        pass_horizontal(src, sw, 0, sh, dst, dw, &ch);
        rc = 0;
        goto done;
    }

    if (coeffs_build(sh, dh, &cv) != 0) goto done;
    if (!need_h) {
        pass_vertical(src, sw, 0, dst, dh, &cv);
        rc = 0;
        goto done;
    }

    /* Like Pillow, the horizontal pass only produces the source rows the
     * vertical pass reads: from the first row of output row 0 to the end of
     * the last output row's window. (Windows move monotonically.) */
    int row0 = cv.first[0];
    int row1 = cv.first[dh - 1] + cv.count[dh - 1];
    if (coeffs_build(sw, dw, &ch) != 0) goto done;
    tmp = malloc((size_t)(row1 - row0) * dw * 3);
    if (!tmp) goto done;
    pass_horizontal(src, sw, row0, row1, tmp, dw, &ch);
    pass_vertical(tmp, dw, row0, dst, dh, &cv);
    rc = 0;

done:
    free(tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    return rc;
}
