/*
 * image.h - decoding images to RGB and the reference resize of the
 * official pre-processing (PIL Image.resize with BILINEAR, antialiased).
 */
#ifndef MOBILESAM_IMAGE_H
#define MOBILESAM_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *rgb; /* height * width * 3, row-major, no padding */
    int width, height;
} msam_image;

/* Decodes what stb_image reads (JPEG incl. progressive, PNG, BMP, TGA,
 * GIF first frame, PSD, PNM), except Softimage PIC and Radiance HDR, and
 * refuses files known to crash or hang stb_image 2.27 (see image.c). Grayscale is replicated, alpha dropped, as
 * PIL's convert('RGB') does. Returns 0, or -1 with a one-line reason in err
 * (without the path; the caller names the file). */
int image_load(const char *path, msam_image *out, char *err, size_t errlen);
void image_free(msam_image *img);

/* The same for a file's bytes already in memory (data[0..size), not kept):
 * every check and message of image_load and image_info but those of the
 * file system. */
int image_load_memory(const void *data, size_t size, msam_image *out, char *err,
                      size_t errlen);
int image_info_memory(const void *data, size_t size, int *width, int *height, char *err,
                      size_t errlen);

/* Every check of image_load (same refusals, same messages) but the decoding:
 * the size from the header, for callers that need no pixels. A file whose
 * damage only decoding would show (a JPEG cut short) passes. Returns 0, or
 * -1 with a one-line reason in err. */
int image_info(const char *path, int *width, int *height, char *err, size_t errlen);

/* image_load refuses, before decoding anything, images whose header declares
 * more than this many pixels (width * height), so that an absurd or hostile
 * header cannot make us allocate gigabytes. */
#define IMAGE_MAX_PIXELS_DEFAULT 100000000

/* Sets the pixel limit used by image_load; n <= 0 restores the default.
 * Process-wide: set it once at start-up, not while loads run in threads. */
void image_set_max_pixels(long long n);
/* The refusal of an image over the limit reads "<w>x<h> image (400 MP)
 * exceeds the pixel limit of 100 MP": IMAGE_ERR_OVER_LIMIT is always in it,
 * so that a caller can tell it from the others and say how to raise it. */
#define IMAGE_ERR_OVER_LIMIT "exceeds the pixel limit"

/* The official ResizeLongestSide target: scale = target / max(h, w),
 * newh = (int)(h * scale + 0.5), neww = (int)(w * scale + 0.5), in double. */
void image_target_size(int h, int w, int target, int *newh, int *neww);

/* Pillow's Image.resize(..., BILINEAR) for RGB uint8, bit-exact: separable
 * triangle filter with support scaled when shrinking, fixed-point
 * coefficients, horizontal pass first, each pass rounded to uint8.
 * Returns 0, or -1 on allocation failure. */
int image_resize_bilinear_pil(const uint8_t *src, int sw, int sh, uint8_t *dst,
                              int dw, int dh);

#endif
