/*
 * fuzz_npy.c - libFuzzer harness of the .npy reader (src/io/npy.c).
 *
 * Each input is read with npy_read. For every array that reads, the
 * promises of npy.h are checked (numel = product of the shape, ndim within
 * bounds, comment a NUL-terminated string without a newline), every element
 * is touched, and the array is written back with npy_write and read again:
 * shape, comment and every float's bits must survive the round trip.
 *
 * Seeds: tests/fuzz/corpus/npy (tests/fuzz/make_seeds.py). Build and run:
 * scripts/fuzz.sh.
 */
#include <stdint.h>

#include "fuzz_util.h"
#include "io/npy.h"

static const char *g_in, *g_out;

/* npy_write takes printable ASCII comments only. */
static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_in) {
        g_in = fuzz_temp_path("npy-in", ".npy");
        g_out = fuzz_temp_path("npy-out", ".npy");
    }
    fuzz_write_file(g_in, data, size);

    npy_array a;
    char err[256];
    err[0] = '\0';
    if (npy_read(g_in, &a, err, sizeof err) != 0) {
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(a.data == NULL && a.comment == NULL && a.numel == 0);
        npy_free(&a); /* documented as harmless */
        return 0;
    }
    FUZZ_CHECK(a.ndim >= 0 && a.ndim <= NPY_MAX_DIMS);
    size_t numel = 1;
    for (int d = 0; d < a.ndim; d++) {
        FUZZ_CHECK(a.shape[d] >= 0);
        numel *= (size_t)a.shape[d];
    }
    FUZZ_CHECK(numel == a.numel);
    FUZZ_CHECK(a.data != NULL);
    /* The data came from the file, so there are at most size / 2 elements. */
    FUZZ_CHECK(numel <= size / 2);
    uint32_t acc = 0;
    for (size_t i = 0; i < numel; i++) {
        uint32_t b;
        memcpy(&b, &a.data[i], 4);
        acc ^= b;
    }
    volatile uint32_t sink = acc;
    (void)sink;
    if (a.comment) FUZZ_CHECK(strchr(a.comment, '\n') == NULL);

    const char *comment = a.comment && printable(a.comment) ? a.comment : NULL;
    if (npy_write(g_out, a.data, a.shape, a.ndim, comment, err, sizeof err) == 0) {
        npy_array b;
        FUZZ_CHECK(npy_read(g_out, &b, err, sizeof err) == 0);
        FUZZ_CHECK(b.ndim == a.ndim && b.numel == a.numel);
        FUZZ_CHECK(memcmp(b.shape, a.shape, sizeof(long) * (size_t)a.ndim) == 0);
        FUZZ_CHECK(numel == 0 || memcmp(b.data, a.data, numel * sizeof(float)) == 0);
        if (comment) {
            /* npy_read trims the blanks around a comment */
            size_t n = strlen(comment);
            while (n > 0 && (comment[n - 1] == ' ' || comment[n - 1] == '\t')) n--;
            const char *s = comment;
            while (*s == ' ' || *s == '\t') s++, n--;
            if (n > 0) {
                FUZZ_CHECK(b.comment != NULL && strlen(b.comment) == n &&
                           memcmp(b.comment, s, n) == 0);
            }
        } else {
            FUZZ_CHECK(b.comment == NULL);
        }
        npy_free(&b);
    } else {
        /* only an over-long comment may be refused */
        FUZZ_CHECK(comment != NULL);
    }
    npy_free(&a);
    FUZZ_CHECK(a.data == NULL && a.comment == NULL);
    return 0;
}
