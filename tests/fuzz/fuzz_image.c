/*
 * fuzz_image.c - libFuzzer harness of image decoding and the PIL-exact
 * resize (src/io/image.c; scripts/fuzz.sh compiles stb_image into the
 * harness with the same instrumentation, so the decoders are covered too).
 *
 * Each input is decoded with image_load. For a decoded image, the promises
 * of image.h are checked and, with the work per input capped so the fuzzer
 * stays fast, it is resized by image_resize_bilinear_pil to: the official
 * ResizeLongestSide(1024) size (when that output is small enough), 1x1,
 * 3x500, 500x3, half and double size, its own size, and a size taken from
 * the input's last two bytes. Every resize must succeed for positive sizes
 * and fail for empty ones, and write exactly its output (ASan sees the
 * exact-size heap buffers).
 *
 * Seeds: tests/fuzz/corpus/image (tests/fuzz/make_seeds.py). Build and
 * run: scripts/fuzz.sh.
 */
#include <stdint.h>

#include "fuzz_util.h"
#include "io/image.h"

/* Images over this many pixels are refused (image_set_max_pixels, the
 * documented knob) so that a hostile header cannot make one input take
 * seconds; the default limit only changes the number compared against. */
#define FUZZ_MAX_PIXELS (1 << 18)
/* Resizes are skipped when their estimated work (multiply-adds per channel)
 * exceeds this. */
#define FUZZ_MAX_RESIZE_WORK (1 << 19)

static const char *g_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    image_set_max_pixels(FUZZ_MAX_PIXELS);
    return 0;
}

static void resize_to(const msam_image *im, int dw, int dh)
{
    /* The horizontal pass makes up to sh rows of dw pixels, each from about
     * 2 * sw / dw + 2 taps; the vertical pass dh rows of dw pixels from
     * about 2 * sh / dh + 2 taps. */
    long long sw = im->width, sh = im->height;
    if (dw > 0 && dh > 0 &&
        2 * sh * (sw + dw) + 2 * (long long)dw * (sh + dh) > FUZZ_MAX_RESIZE_WORK)
        return;
    size_t n = dw > 0 && dh > 0 ? (size_t)dw * (size_t)dh * 3 : 1;
    uint8_t *dst = malloc(n);
    FUZZ_CHECK(dst != NULL);
    int rc = image_resize_bilinear_pil(im->rgb, im->width, im->height, dst, dw, dh);
    if (dw > 0 && dh > 0) {
        FUZZ_CHECK(rc == 0);
        /* a uniform image stays uniform (the weights sum to one) */
        int uniform = 1;
        for (size_t i = 3; i < (size_t)im->width * im->height * 3 && uniform; i++)
            uniform = im->rgb[i] == im->rgb[i % 3];
        if (uniform) {
            for (size_t i = 0; i < n; i++) FUZZ_CHECK(dst[i] == im->rgb[i % 3]);
        }
    } else {
        FUZZ_CHECK(rc == -1);
    }
    free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_path) g_path = fuzz_temp_path("image", ".img");
    fuzz_write_file(g_path, data, size);

    msam_image im;
    char err[256];
    err[0] = '\0';
    if (image_load(g_path, &im, err, sizeof err) != 0) {
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(im.rgb == NULL && im.width == 0 && im.height == 0);
        return 0;
    }
    FUZZ_CHECK(im.rgb != NULL && im.width > 0 && im.height > 0);
    FUZZ_CHECK((long long)im.width * im.height <= FUZZ_MAX_PIXELS);
    /* touch the first and last byte: ASan checks the buffer's extent */
    volatile uint8_t first = im.rgb[0];
    volatile uint8_t last = im.rgb[(size_t)im.width * im.height * 3 - 1];
    (void)first;
    (void)last;

    int targets[] = {1024, 64, 17, 1};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        int nh = -1, nw = -1;
        image_target_size(im.height, im.width, targets[i], &nh, &nw);
        FUZZ_CHECK(nh >= 0 && nw >= 0 && nh <= targets[i] && nw <= targets[i]);
        FUZZ_CHECK(nh == targets[i] || nw == targets[i]);
        /* a zero side is possible for extreme aspect ratios (as upstream) */
        resize_to(&im, nw, nh);
    }
    resize_to(&im, 1, 1);
    resize_to(&im, 3, 500);
    resize_to(&im, 500, 3);
    resize_to(&im, (im.width + 1) / 2, (im.height + 1) / 2);
    resize_to(&im, im.width * 2, im.height * 2);
    resize_to(&im, im.width, im.height);
    resize_to(&im, im.width, im.height + 1);
    resize_to(&im, im.width + 1, im.height);
    if (size >= 2) resize_to(&im, 1 + data[size - 1], 1 + data[size - 2]);
    resize_to(&im, 0, 5);

    image_free(&im);
    FUZZ_CHECK(im.rgb == NULL && im.width == 0 && im.height == 0);
    return 0;
}
