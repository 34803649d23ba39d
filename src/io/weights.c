/*
 * weights.c - maps a weight file (tools/WEIGHT_FORMAT.md) read-only and
 * validates everything before the model looks at it: magic, version, model
 * kind, size, checksum, and that every table entry lies inside the file.
 * Version 2 files carry a configuration record (key=value lines) that the
 * model code interprets; here it is only checked to be printable text.
 */
#define _GNU_SOURCE
#include "io/weights.h"
#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_SIZE 64
#define BLOCK_WORDS 1024

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* The checksum of p[0..n); and, in the same pass (the data is read
 * anyway), whether a word from word `scan_from` on is a float32 NaN or
 * infinity: an all-ones exponent carries into bit 31 of (bits & exponent
 * mask) + one exponent step. */
static uint64_t checksum_scan(const uint8_t *p, size_t n, size_t scan_from, int *nonfinite)
{
    size_t words = n / 4;
    uint64_t total = 0;
    uint32_t acc = 0;
    for (size_t b = 0; b * BLOCK_WORDS < words; b++) {
        size_t start = b * BLOCK_WORDS;
        size_t end = start + BLOCK_WORDS < words ? start + BLOCK_WORDS : words;
        uint64_t s = 0;
        size_t i = start;
        for (; i < end && i < scan_from; i++) s += rd32(p + 4 * i);
        for (; i < end; i++) {
            uint32_t v = rd32(p + 4 * i);
            s += v;
            acc |= (v & 0x7f800000u) + 0x00800000u;
        }
        total += (uint64_t)(b + 1) * s;
    }
    *nonfinite = (acc & 0x80000000u) != 0;
    return total;
}

uint64_t wt_checksum(const uint8_t *p, size_t n)
{
    int unused;
    return checksum_scan(p, n, (size_t)-1, &unused);
}

static int fail(char *err, size_t errlen, const char *fmt, const char *detail)
{
    snprintf(err, errlen, fmt, detail);
    return -1;
}

/* Parses the tensor table; the header has been validated already. */
static int parse_table(wt_file *f, uint64_t table_off, uint64_t table_size,
                       uint64_t data_off, char *err, size_t errlen)
{
    const uint8_t *base = f->map;
    const uint8_t *p = base + table_off, *end = p + table_size;
    uint64_t prev_end = data_off;
    for (int i = 0; i < f->n; i++) {
        wt_tensor *t = &f->tensors[i];
        if (end - p < 2) goto corrupt;
        int name_len = p[0] | p[1] << 8;
        p += 2;
        if (name_len < 1 || name_len > 1024 || end - p < name_len + 2) goto corrupt;
        t->name = (const char *)p;
        t->name_len = name_len;
        p += name_len;
        int dtype = p[0], ndim = p[1];
        p += 2;
        if (dtype != 1) return fail(err, errlen, "%s: unsupported tensor dtype", "weights");
        if (ndim > 4 || end - p < 4 * ndim + 16) goto corrupt;
        t->ndim = ndim;
        uint64_t numel = 1;
        for (int d = 0; d < 4; d++) t->shape[d] = 1;
        for (int d = 0; d < ndim; d++) {
            uint32_t s = rd32(p + 4 * d);
            if (s == 0 || s > (1u << 28)) goto corrupt;
            t->shape[d] = (int)s;
            numel *= s;
            if (numel > ((uint64_t)1 << 32)) goto corrupt;
        }
        p += 4 * ndim;
        uint64_t off = rd64(p), nbytes = rd64(p + 8);
        p += 16;
        if (nbytes != numel * 4 || off % 64 || off < prev_end ||
            off > f->size || nbytes > f->size - off)
            goto corrupt;
        prev_end = off + nbytes;
        t->numel = (size_t)numel;
        t->data = (const float *)(base + off);
    }
    return 0;
corrupt:
    return fail(err, errlen, "%s: corrupt tensor table", "weight file");
}

int wt_open(const char *path, wt_file *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    /* Without blocking on a FIFO; only regular files (see io/file.h). */
    struct stat st;
    char why[128];
    int fd = file_open_input(path, &st, why, sizeof why);
    if (fd < 0) return fail(err, errlen, "cannot open weights: %s", why);
    if (st.st_size < HEADER_SIZE) {
        close(fd);
        return fail(err, errlen, "%s", "not a mobilesam weight file (too small); "
                                       "convert mobile_sam.pt with tools/convert.py");
    }
    f->size = (size_t)st.st_size;
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return fail(err, errlen, "cannot map weights: %s", strerror(errno));
    }
    const uint8_t *h = f->map;
    char e[256];
    if (memcmp(h, WT_MAGIC, 8) != 0) {
        snprintf(e, sizeof e, "not a mobilesam weight file (bad magic); "
                              "convert mobile_sam.pt with tools/convert.py");
        goto bad;
    }
    uint32_t version = rd32(h + 8);
    if (version != WT_VERSION && version != WT_VERSION_CONFIG) {
        snprintf(e, sizeof e, "weight file format version %u, this build reads versions %d-%d; "
                              "re-convert with this version's tools/convert.py",
                 version, WT_VERSION, WT_VERSION_CONFIG);
        goto bad;
    }
    uint32_t n = rd32(h + 12);
    uint64_t table_off = rd64(h + 16), table_size = rd64(h + 24);
    uint64_t data_off = rd64(h + 32), file_size = rd64(h + 40);
    uint64_t checksum = rd64(h + 48);
    uint32_t kind = rd32(h + 56);
    uint32_t config_len = version == WT_VERSION_CONFIG ? rd32(h + 60) : 0;
    if (file_size != f->size) {
        snprintf(e, sizeof e, "weight file is %zu bytes but its header says %llu (truncated?)",
                 f->size, (unsigned long long)file_size);
        goto bad;
    }
    /* vit_t files have no record; the others need one (their shapes). */
    if (version == WT_VERSION ? kind != WT_MODEL_VIT_T : kind != WT_MODEL_SAM_VIT) {
        snprintf(e, sizeof e, "weight file holds model kind %u, which this build does not "
                              "know in a version %u file", kind, version);
        goto bad;
    }
    uint64_t want_table = HEADER_SIZE + ((uint64_t)config_len + 7) / 8 * 8;
    if ((version == WT_VERSION_CONFIG && (config_len == 0 || config_len > WT_MAX_CONFIG)) ||
        n == 0 || n > 100000 || table_off != want_table || table_size > f->size ||
        data_off < table_off + table_size || data_off > f->size || data_off % 64) {
        snprintf(e, sizeof e, "corrupt weight file header");
        goto bad;
    }
    int nonfinite;
    uint64_t sum = checksum_scan(h + HEADER_SIZE, f->size - HEADER_SIZE,
                                 (data_off - HEADER_SIZE) / 4, &nonfinite);
    if (sum != checksum) {
        snprintf(e, sizeof e, "weight file checksum mismatch (corrupt or truncated file)");
        goto bad;
    }
    for (uint32_t i = 0; i < config_len; i++) {
        uint8_t ch = h[HEADER_SIZE + i];
        if (ch != '\n' && (ch < 0x20 || ch > 0x7e)) {
            snprintf(e, sizeof e, "corrupt weight file configuration record");
            goto bad;
        }
    }
    f->kind = (int)kind;
    f->config = config_len ? (const char *)h + HEADER_SIZE : NULL;
    f->config_len = config_len;
    f->n = (int)n;
    f->tensors = calloc(n, sizeof *f->tensors);
    if (!f->tensors) {
        wt_close(f);
        fail(err, errlen, "%s", "out of memory");
        return -2;
    }
    if (parse_table(f, table_off, table_size, data_off, e, sizeof e) != 0) goto bad;
    f->checksum = checksum;
    f->nonfinite = nonfinite;
    snprintf(f->id, sizeof f->id, "%016llx", (unsigned long long)checksum);
    return 0;
bad:
    wt_close(f);
    return fail(err, errlen, "%s", e);
}

const wt_tensor *wt_find(const wt_file *f, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < f->n; i++) {
        const wt_tensor *t = &f->tensors[i];
        if ((size_t)t->name_len == len && memcmp(t->name, name, len) == 0) return t;
    }
    return NULL;
}

void wt_close(wt_file *f)
{
    if (f->map) munmap(f->map, f->size);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

void wt_release(const wt_file *f, const void *p, size_t n)
{
    const uintptr_t lo = (uintptr_t)f->map, hi = lo + f->size, a = (uintptr_t)p;
    if (!f->map || a < lo || a + n > hi) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t s = (a + page - 1) / page * page, e = (a + n) / page * page;
    if (e > s) madvise((void *)s, e - s, MADV_DONTNEED);
}
