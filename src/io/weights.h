/*
 * weights.h - the mmapped weight file (format: tools/WEIGHT_FORMAT.md).
 */
#ifndef MOBILESAM_WEIGHTS_H
#define MOBILESAM_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#define WT_MAGIC "MOBISAM"
#define WT_VERSION 1        /* vit_t files */
#define WT_VERSION_CONFIG 2 /* files with a configuration record */
#define WT_MODEL_VIT_T 1    /* MobileSAM (TinyViT encoder) */
#define WT_MODEL_SAM_VIT 2  /* SAM ImageEncoderViT (vit_b / vit_l / vit_h) */
#define WT_MAX_CONFIG 4096

typedef struct {
    const char *name; /* points into the mapping: NOT NUL-terminated */
    int name_len;
    int ndim;
    int shape[4];
    size_t numel;
    const float *data;
} wt_tensor;

typedef struct {
    void *map;
    size_t size;
    int n;
    wt_tensor *tensors;
    uint64_t checksum;
    int nonfinite; /* some tensor holds a NaN or an infinity */
    int kind;      /* WT_MODEL_* */
    const char *config; /* key=value lines (version 2), NOT NUL-terminated */
    size_t config_len;  /* 0 without a record */
    char id[17]; /* checksum as 16 hex digits */
} wt_file;

uint64_t wt_checksum(const uint8_t *p, size_t n);

/* Maps and validates the file. Returns 0, or -1 (-2 when out of memory)
 * with a one-line reason. */
int wt_open(const char *path, wt_file *f, char *err, size_t errlen);
/* Finds a tensor by name; NULL if absent. */
const wt_tensor *wt_find(const wt_file *f, const char *name);
void wt_close(wt_file *f);
/* Tells the system that the bytes [p, p + n) of the mapping will not be
 * read for a while (a tensor used in another form): their whole pages leave
 * the resident memory, and a later read brings them back from the file. */
void wt_release(const wt_file *f, const void *p, size_t n);

#endif
