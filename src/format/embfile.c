/*
 * embfile.c - see embfile.h.
 */
#include "format/embfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "format/report.h"
#include "io/image.h"
#include "io/npy.h"

#define META_PREFIX "mobilesam "

typedef struct {
    int version;
    char weights_id[17];
    int width, height, resized_w, resized_h;
    mobilesam_precision precision; /* fp32 when the file has no key */
} emb_meta;

/* The data and metadata comment of an embedding file; returns the
 * malloc'd (256, 64, 64) data, or NULL when out of memory. */
static float *emb_contents(const mobilesam_model *model,
                           const mobilesam_embedding *emb, char *comment,
                           size_t len)
{
    const size_t n = (size_t)MOBILESAM_EMBED_DIM * MOBILESAM_EMBED_SIZE *
                     MOBILESAM_EMBED_SIZE;
    float *chw = malloc(n * sizeof(float));
    if (!chw)
        return NULL;
    mobilesam_embedding_data(emb, chw);
    emb_meta m = {EMBFILE_VERSION, {0}, 0, 0, 0, 0,
                  mobilesam_embedding_precision(emb)};
    mobilesam_embedding_size(emb, &m.width, &m.height, &m.resized_w,
                             &m.resized_h);
    snprintf(comment, len,
             META_PREFIX "{\"version\":%d,\"weights_id\":\"%s\",\"width\":%d,"
                         "\"height\":%d,\"resized_w\":%d,\"resized_h\":%d,"
                         "\"precision\":\"%s\"}",
             m.version, mobilesam_model_id(model), m.width, m.height,
             m.resized_w, m.resized_h, mobilesam_precision_name(m.precision));
    return chw;
}

static const long emb_shape[4] = {1, MOBILESAM_EMBED_DIM, MOBILESAM_EMBED_SIZE,
                                  MOBILESAM_EMBED_SIZE};

int embfile_write(out_set *outs, const char *path, const mobilesam_model *model,
                  const mobilesam_embedding *emb)
{
    char comment[256];
    float *chw = emb_contents(model, emb, comment, sizeof comment);
    if (!chw) {
        report_file_error(path, "out of memory");
        return -1;
    }
    int rc = out_npy(outs, path, chw, emb_shape, 4, comment);
    free(chw);
    return rc;
}

int embfile_fwrite(FILE *fp, const mobilesam_model *model,
                   const mobilesam_embedding *emb, char *err, size_t errlen)
{
    char comment[256];
    float *chw = emb_contents(model, emb, comment, sizeof comment);
    if (!chw) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = npy_fwrite(fp, chw, emb_shape, 4, comment, err, errlen);
    free(chw);
    return rc ? -1 : 0;
}

static int get_int(const cJSON *obj, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)v->valueint)
        return -1;
    *out = v->valueint;
    return 0;
}

/* Parses the comment; returns 0, or -1 with a reason in why. */
static int parse_meta(const char *comment, emb_meta *m, const char **why)
{
    const size_t plen = strlen(META_PREFIX);
    *why = "not a mobilesam embedding (no metadata; make it with "
           "'mobilesam embed')";
    if (!comment || strncmp(comment, META_PREFIX, plen) != 0)
        return -1;
    *why = "malformed mobilesam metadata";
    cJSON *j = cJSON_Parse(comment + plen);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "weights_id");
    /* files written before the key existed were all made in fp32 */
    const cJSON *prec = cJSON_GetObjectItemCaseSensitive(j, "precision");
    m->precision = MOBILESAM_FP32;
    if (prec && (!cJSON_IsString(prec) ||
                 mobilesam_precision_parse(prec->valuestring, &m->precision))) {
        cJSON_Delete(j);
        *why = "bad \"precision\" in the mobilesam metadata (expected "
               "\"fp32\", \"fp16\" or \"int8\")";
        return -1;
    }
    int bad = !cJSON_IsObject(j) || get_int(j, "version", &m->version) ||
              !cJSON_IsString(id) || strlen(id->valuestring) != 16 ||
              get_int(j, "width", &m->width) ||
              get_int(j, "height", &m->height) ||
              get_int(j, "resized_w", &m->resized_w) ||
              get_int(j, "resized_h", &m->resized_h);
    if (!bad)
        memcpy(m->weights_id, id->valuestring, 17);
    cJSON_Delete(j);
    if (bad)
        return -1;
    if (m->version != EMBFILE_VERSION) {
        *why = "unsupported mobilesam embedding version";
        return -1;
    }
    int rh, rw;
    image_target_size(m->height, m->width, MOBILESAM_IMG_SIZE, &rh, &rw);
    if (m->width <= 0 || m->height <= 0 || rw != m->resized_w ||
        rh != m->resized_h)
        return -1;
    return 0;
}

static int check_array(const char *path, const npy_array *a,
                       const mobilesam_model *model, int width, int height,
                       mobilesam_precision *precision)
{
    emb_meta m;
    const char *why;
    if (parse_meta(a->comment, &m, &why)) {
        report_file_error(path, "%s", why);
        return -1;
    }
    const char *loaded = mobilesam_model_id(model);
    if (strcmp(m.weights_id, loaded) != 0) {
        report_file_error(path,
                       "embedding was made with other weights (id %s, "
                       "loaded %s)",
                       m.weights_id, loaded);
        return -1;
    }
    if (m.width != width || m.height != height) {
        report_file_error(path,
                       "embedding is of a %dx%d image, the image is %dx%d",
                       m.width, m.height, width, height);
        return -1;
    }
    int lead = a->ndim == 4 ? 1 : 0;
    if ((a->ndim != 3 && a->ndim != 4) || (lead && a->shape[0] != 1) ||
        a->shape[lead] != MOBILESAM_EMBED_DIM ||
        a->shape[lead + 1] != MOBILESAM_EMBED_SIZE ||
        a->shape[lead + 2] != MOBILESAM_EMBED_SIZE) {
        report_file_error(path, "embedding must have shape (1, 256, 64, 64)");
        return -1;
    }
    *precision = m.precision;
    return 0;
}

int embfile_read(const char *path, const mobilesam_model *model, int width,
                 int height, mobilesam_embedding **out)
{
    npy_array a;
    char err[512];
    if (npy_read(path, &a, err, sizeof err) != 0) {
        report_file_error(path, "%s", err);
        return -1;
    }
    mobilesam_precision precision = MOBILESAM_FP32;
    int rc = check_array(path, &a, model, width, height, &precision);
    /* NaN or infinity would run through the decoder into all-NaN logits,
     * an empty mask and a made-up score */
    if (rc == 0 && !npy_all_finite(&a)) {
        report_file_error(path, "contains NaN or infinite values");
        rc = -1;
    }
    mobilesam_error e = {{0}};
    if (rc == 0 && mobilesam_embedding_from_data(model, a.data, width, height,
                                                 out, &e) != MOBILESAM_OK) {
        report_file_error(path, "%s", e.message);
        rc = -1;
    }
    if (rc == 0)
        mobilesam_embedding_set_precision(*out, precision);
    npy_free(&a);
    return rc;
}
