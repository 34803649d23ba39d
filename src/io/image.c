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

int image_load(const char *path, msam_image *out, char *err, size_t errlen)
{
    out->rgb = NULL;
    out->width = out->height = 0;

    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "cannot open file: %s", strerror(errno));
        return -1;
    }
    /* fopen succeeds on a directory under Linux; reads would then fail with
     * a confusing "not a supported image". Check what it is first. */
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        set_err(err, errlen, "cannot open file: %s", strerror(errno));
        fclose(f);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, "cannot open file: not a regular file");
        fclose(f);
        return -1;
    }
    if (st.st_size == 0) {
        set_err(err, errlen, "empty file");
        fclose(f);
        return -1;
    }

    /* Read only the header first: stb would otherwise allocate whatever the
     * header declares before noticing the data is missing. */
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_file(f, &w, &h, &comp)) {
        set_err(err, errlen, "not a supported image (stb: %s)",
                stbi_failure_reason() ? stbi_failure_reason() : "unknown");
        fclose(f);
        return -1;
    }
    if (w <= 0 || h <= 0) {
        set_err(err, errlen, "not a supported image (declared size %dx%d)", w, h);
        fclose(f);
        return -1;
    }
    long long npix = (long long)w * (long long)h;
    if (npix > g_max_pixels) {
        set_err(err, errlen,
                "image declares %dx%d = %lld pixels, over the limit of %lld",
                w, h, npix, g_max_pixels);
        fclose(f);
        return -1;
    }

    /* Asking for 3 channels makes stb replicate gray (and gray+alpha) into
     * R=G=B and drop alpha without compositing, and expand palettes
     * (ignoring tRNS): the same as PIL's convert('RGB'), checked against
     * Pillow for L, LA, RGBA, P, 1-bit, BMP, TGA, PPM and GIF. 16-bit
     * samples are reduced by taking the high byte, as PIL does for 16-bit
     * RGB PNGs and OpenCV's imread for all; PIL alone differs on 16-bit
     * grayscale, which it opens as mode I and clips at 255 (mostly white).
     * Like PIL's Image.open, EXIF orientation is not applied. */
    int lw = 0, lh = 0, lc = 0;
    stbi_uc *pix = stbi_load_from_file(f, &lw, &lh, &lc, 3);
    fclose(f);
    if (!pix) {
        set_err(err, errlen, "not a supported image (stb: %s)",
                stbi_failure_reason() ? stbi_failure_reason() : "unknown");
        return -1;
    }
    if (lw != w || lh != h) {
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
    memcpy(out->rgb, pix, n);
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
