/*
 * npy.h - NumPy .npy files (format 1.0/2.0), C order, little-endian.
 */
#ifndef MOBILESAM_NPY_H
#define MOBILESAM_NPY_H

#include <stddef.h>

#define NPY_MAX_DIMS 8

typedef struct {
    float *data;              /* converted to float32 */
    int ndim;
    long shape[NPY_MAX_DIMS];
    size_t numel;
    char *comment;            /* text after '#' in the header dict line, or NULL */
} npy_array;

/* Reads '<f4', '<f2' or '<f8' (converted to float32). Fortran order and other
 * dtypes are refused. Returns 0, or -1 with a one-line reason in err. */
int npy_read(const char *path, npy_array *out, char *err, size_t errlen);
void npy_free(npy_array *a);

/* Writes float32 '<f4'. `comment` (may be NULL, single line, no '\n') is
 * stored as a Python comment after the header dict, which numpy.load
 * ignores; npy_read gives it back. Written to a temporary file and renamed,
 * so no partial file is left. Returns 0, or -1 with a reason in err. */
int npy_write(const char *path, const float *data, const long *shape, int ndim,
              const char *comment, char *err, size_t errlen);

#endif
