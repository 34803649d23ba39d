/*
 * cli_inputs.h - bad input files for the CLI error tests (test_cli_errors,
 * bad_inputs): a file copied cut short and/or patched, and an embedding
 * .npy with the metadata comment the engine writes. Header-only, like
 * cli_harness.h (include that first); the including test links the core
 * library (npy_write, image_target_size).
 */
#ifndef MOBILESAM_CLI_INPUTS_H
#define MOBILESAM_CLI_INPUTS_H

#include "cli_harness.h"
#include "io/image.h"
#include "io/npy.h"

/* from's first `keep` bytes (all when larger) with n bytes of patch at
 * offset (when they fall inside), written to `to`. 0 or -1. */
static inline int ci_copy_patched(const char *from, const char *to, size_t keep,
                                  size_t offset, const void *patch, size_t n)
{
    size_t len;
    char *data = ch_read(from, &len);
    if (!data)
        return -1;
    if (keep > len)
        keep = len;
    if (patch && offset + n <= keep)
        memcpy(data + offset, patch, n);
    int rc = ch_write(to, data, keep);
    free(data);
    return rc;
}

/* A zero embedding for a w x h image of the weights `weights_id`, with the
 * metadata comment (none when weights_id is NULL), of shape `shape` (NULL:
 * the real (1, 256, 64, 64)). 0 or -1. */
static inline int ci_write_embedding(const char *path, const char *weights_id, int w, int h,
                                     const long *shape)
{
    static const long full[4] = {1, 256, 64, 64};
    float *zeros = calloc((size_t)256 * 64 * 64, sizeof(float));
    char comment[256], err[256];
    int rh, rw;
    image_target_size(h, w, 1024, &rh, &rw);
    snprintf(comment, sizeof comment,
             "mobilesam {\"version\":1,\"weights_id\":\"%s\",\"width\":%d,"
             "\"height\":%d,\"resized_w\":%d,\"resized_h\":%d}",
             weights_id, w, h, rw, rh);
    int rc = zeros ? npy_write(path, zeros, shape ? shape : full, 4,
                               weights_id ? comment : NULL, err, sizeof err)
                   : -1;
    free(zeros);
    return rc;
}

#endif
