/*
 * npy.h - NumPy .npy files (format 1.0/2.0/3.0), little-endian floats.
 */
#ifndef MOBILESAM_NPY_H
#define MOBILESAM_NPY_H

#include <stddef.h>
#include <stdio.h>

#define NPY_MAX_DIMS 8

typedef struct {
    float *data;              /* converted to float32 */
    int ndim;
    long shape[NPY_MAX_DIMS];
    size_t numel;
    char *comment;            /* text after '#' in the header dict line, or NULL */
} npy_array;

/* Reads '<f4', '<f2' or '<f8' (converted to float32; '=', '|' or no byte
 * order mark are accepted on little-endian hosts). Header versions 1.0, 2.0
 * and 3.0. Fortran-order arrays (fortran_order: True, as np.save writes for a
 * Fortran-contiguous array; the fixture pack's inter/layer*.f16.npy are) are
 * transposed on reading, so `data` is always C order, as numpy.load gives.
 * Big-endian data, other dtypes, a data size that does not match the shape,
 * and malformed headers are refused. Returns 0, or -1 with a one-line reason
 * in err (out is then zeroed; npy_free on it is harmless). */
int npy_read(const char *path, npy_array *out, char *err, size_t errlen);
void npy_free(npy_array *a);
/* 1 when every element is finite (no NaN, no infinity), else 0. */
int npy_all_finite(const npy_array *a);

/* Writes float32 '<f4', C order, format 1.0 (2.0 if the header outgrows
 * 65535 bytes), the data 64-byte aligned. `comment` (may be NULL; printable
 * ASCII only, so no '\n') is stored as a Python comment after the header
 * dict, which numpy.load ignores; npy_read gives it back (trimmed of
 * surrounding blanks). Keep it short: numpy >= 1.24 refuses headers over
 * 10000 bytes unless numpy.load is given max_header_size (or allow_pickle).
 * Written to `path`.tmp.<pid> (a shorter name in the same directory when
 * that one would be too long) and renamed, so no partial file is left.
 * Returns 0, or -1 with a reason in err. */
int npy_write(const char *path, const float *data, const long *shape, int ndim,
              const char *comment, char *err, size_t errlen);
/* The same file written to an open stream (not closed; a write error may
 * show only when it is): for a caller that manages its own temporary file.
 * Returns 0, or -1 with a reason in err. */
int npy_fwrite(FILE *f, const float *data, const long *shape, int ndim, const char *comment,
               char *err, size_t errlen);

#endif
