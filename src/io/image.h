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

/* Decodes any format stb_image reads (JPEG incl. progressive, PNG, BMP, TGA,
 * GIF first frame, PSD, PNM...). Grayscale is replicated, alpha dropped, as
 * PIL's convert('RGB') does. Returns 0, or -1 with a one-line reason in err
 * (without the path; the caller names the file). */
int image_load(const char *path, msam_image *out, char *err, size_t errlen);
void image_free(msam_image *img);

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
