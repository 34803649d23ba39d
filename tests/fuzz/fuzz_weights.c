/*
 * fuzz_weights.c - libFuzzer harness of the weight-file loader
 * (src/io/weights.c, format tools/WEIGHT_FORMAT.md).
 *
 * Each input is opened twice: as it is, and with its header's file-size and
 * checksum fields patched to the right values, so that mutations get past
 * the checksum and reach the tensor-table parser. For every file that opens,
 * the loader's promises are checked (every tensor inside the mapping,
 * aligned, in order and without overlap, numel = product of the shape) and
 * each tensor is looked up by name and its first and last float read.
 *
 * Seeds: tests/fuzz/corpus/weights (tests/fuzz/make_seeds.py). Build and
 * run: scripts/fuzz.sh.
 */
#include <stdint.h>

#include "fuzz_util.h"
#include "io/weights.h"
#include "model/model.h"

static const char *g_path;

static void check_open_file(const wt_file *f)
{
    const uint8_t *base = f->map;
    FUZZ_CHECK(base != NULL && f->size >= 64);
    FUZZ_CHECK(f->n >= 1 && f->tensors != NULL);
    FUZZ_CHECK(strlen(f->id) == 16);
    const uint8_t *prev_end = NULL;
    for (int i = 0; i < f->n; i++) {
        const wt_tensor *t = &f->tensors[i];
        const uint8_t *name = (const uint8_t *)t->name;
        FUZZ_CHECK(t->name_len >= 1 && t->name_len <= 1024);
        FUZZ_CHECK(name >= base + 64 && name + t->name_len <= base + f->size);
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= 4);
        size_t numel = 1;
        for (int d = 0; d < 4; d++) {
            FUZZ_CHECK(t->shape[d] >= 1);
            FUZZ_CHECK(d < t->ndim || t->shape[d] == 1);
            numel *= (size_t)t->shape[d];
        }
        FUZZ_CHECK(numel == t->numel && numel >= 1);
        const uint8_t *data = (const uint8_t *)t->data;
        FUZZ_CHECK(data >= base + 64 && (size_t)(data - base) % 64 == 0);
        FUZZ_CHECK((size_t)(data - base) <= f->size &&
                   numel * 4 <= f->size - (size_t)(data - base));
        FUZZ_CHECK(prev_end == NULL || data >= prev_end);
        prev_end = data + numel * 4;
        /* The mapping is not heap memory, so ASan would not see a read past
         * it: the checks above are what guard these. */
        volatile float first = t->data[0], last = t->data[numel - 1];
        (void)first;
        (void)last;

        if (memchr(t->name, 0, (size_t)t->name_len) == NULL) {
            char key[1025];
            memcpy(key, t->name, (size_t)t->name_len);
            key[t->name_len] = '\0';
            const wt_tensor *found = wt_find(f, key);
            /* the first tensor of that name (names may repeat) */
            FUZZ_CHECK(found != NULL && found <= t);
            FUZZ_CHECK(found->name_len == t->name_len &&
                       memcmp(found->name, t->name, (size_t)t->name_len) == 0);
        }
    }
    FUZZ_CHECK(wt_find(f, "") == NULL);
    (void)wt_find(f, "image_encoder.neck.0.weight");
    /* A configuration record lies inside the header's room and is text; the
     * model's parser takes it or refuses it with a reason. */
    FUZZ_CHECK((f->config == NULL) == (f->config_len == 0));
    if (f->config) {
        FUZZ_CHECK((const uint8_t *)f->config == base + 64 && f->config_len <= WT_MAX_CONFIG);
        vit_config_t cfg;
        char err[256];
        err[0] = '\0';
        if (vit_config_parse(f->config, f->config_len, &cfg, err, sizeof err) == 0) {
            FUZZ_CHECK(cfg.heads * cfg.head_dim == cfg.width && cfg.depth >= 1 &&
                       cfg.depth <= VIT_MAX_DEPTH);
        } else {
            FUZZ_CHECK(err[0] != '\0');
        }
    }
}

static void try_open(const uint8_t *data, size_t size)
{
    fuzz_write_file(g_path, data, size);
    wt_file f;
    char err[256];
    err[0] = '\0';
    if (wt_open(g_path, &f, err, sizeof err) == 0) {
        check_open_file(&f);
        wt_close(&f);
        FUZZ_CHECK(f.map == NULL && f.tensors == NULL && f.n == 0);
    } else {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
        FUZZ_CHECK(f.map == NULL && f.tensors == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_path) g_path = fuzz_temp_path("weights", ".msam");
    try_open(data, size);

    if (size >= 64) {
        uint8_t *fixed = malloc(size);
        FUZZ_CHECK(fixed != NULL);
        memcpy(fixed, data, size);
        uint64_t n = size, sum = wt_checksum(fixed + 64, size - 64);
        for (int i = 0; i < 8; i++) {
            fixed[40 + i] = (uint8_t)(n >> (8 * i));
            fixed[48 + i] = (uint8_t)(sum >> (8 * i));
        }
        if (memcmp(fixed, data, size) != 0) try_open(fixed, size);
        free(fixed);
    }
    return 0;
}
