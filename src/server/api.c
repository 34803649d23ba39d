/*
 * api.c - see api.h. The endpoints, in the order of the README:
 * health, images (post, list, get, embedding), predict, everything,
 * annotations. Masks come from the calls `mobilesam seg` makes
 * (prompts_parse, prompts_validate, prompts_to_api, mobilesam_predict), so
 * that they are the CLI's bit for bit; prompt errors are the CLI's words,
 * captured from the format room (report.h) instead of printed.
 */
#include "server/api.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <nettle/base64.h>

#include "format/amgopts.h"
#include "format/coco.h"
#include "format/contour.h"
#include "format/embfile.h"
#include "format/output.h"
#include "format/prompts.h"
#include "format/report.h"
#include "format/yolo.h"
#include "io/file.h"
#include "io/image.h"

#define PLANE ((size_t)MOBILESAM_LOWRES * MOBILESAM_LOWRES)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- replies ------------------------------------------------------------ */

/* A growable text buffer; `failed` once an allocation failed. */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_reserve(sbuf *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) {
        b->failed = 1;
        return;
    }
    b->s = p;
    b->cap = cap;
}

static void sb_add(sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    sb_reserve(b, (size_t)n);
    if (b->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Appends non-negative ints, comma-separated (the RLE counts: ~75,000 of
 * them for a noisy mask, so no printf). */
static void sb_ints(sbuf *b, const int *v, int n)
{
    sb_reserve(b, (size_t)n * 12);
    if (b->failed)
        return;
    char *p = b->s + b->len;
    for (int i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        char tmp[12];
        int k = 0;
        unsigned x = (unsigned)v[i];
        do {
            tmp[k++] = (char)('0' + x % 10);
            x /= 10;
        } while (x);
        while (k)
            *p++ = tmp[--k];
    }
    *p = 0;
    b->len = (size_t)(p - b->s);
}

static void reply_text(api_reply *r, int status, const char *type, char *body,
                       size_t len)
{
    r->status = status;
    r->type = type;
    r->body = body;
    r->len = len;
}

static void reply_json(api_reply *r, int status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        api_error(r, 500, "out of memory");
        return;
    }
    reply_text(r, status, "application/json", text, strlen(text));
}

void api_error(api_reply *r, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *j = cJSON_CreateObject();
    char *text = NULL;
    if (j && cJSON_AddStringToObject(j, "error", msg))
        text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    free(r->body);
    r->status = status;
    r->type = "application/json";
    r->body = text;
    r->len = text ? strlen(text) : 0;
}

/* A capture of the format room's error line: the message without its
 * "file: " prefix, and without "line N: " (the body is one object). */
static const char *captured(char *buf)
{
    const char *m = buf;
    if (!strncmp(m, "line ", 5)) {
        const char *colon = strstr(m, ": ");
        if (colon)
            m = colon + 2;
    }
    return m;
}

/* ---- set-up ------------------------------------------------------------- */

/* One encode and one predict of a small grey image on the engine thread,
 * before the server says it is ready: the first client's image then meets
 * a warm engine (its threads started, its buffers mapped) instead of paying
 * for that itself. */
static void warm_up(void *arg)
{
    mobilesam_model *model = arg;
    enum { W = 64, H = 48 };
    static uint8_t grey[W * H * 3];
    memset(grey, 128, sizeof grey);
    mobilesam_embedding *emb = NULL;
    if (mobilesam_encode(model, grey, W, H, &emb, NULL) != MOBILESAM_OK)
        return;
    const float pt[2] = {W / 2.0f, H / 2.0f};
    const int label = 1;
    mobilesam_prompt p = {pt, &label, 1, NULL, NULL, 0};
    mobilesam_result r;
    if (mobilesam_predict(model, emb, &p, 1, &r, NULL) == MOBILESAM_OK)
        mobilesam_result_free(&r);
    mobilesam_embedding_free(emb);
}

int api_init(api_ctx *a, const server_config *cfg, mobilesam_model *model)
{
    memset(a, 0, sizeof *a);
    a->cfg = cfg;
    a->model = model;
    if (cfg->images_dir) {
        struct stat st;
        if (stat(cfg->images_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            report_file_error(cfg->images_dir, "not a folder");
            return -1;
        }
        if (imglist_read(cfg->images_dir, cfg->recursive, cfg->output_dir,
                         &a->folder))
            return -1;
        a->folder_real = realpath(cfg->images_dir, NULL);
        if (!a->folder_real) {
            report_file_error(cfg->images_dir, "cannot open: %s", strerror(errno));
            imglist_free(&a->folder);
            return -1;
        }
    }
    if (cfg->output_dir && out_mkdirs(cfg->output_dir, NULL)) {
        imglist_free(&a->folder);
        free(a->folder_real);
        return -1;
    }
    if (gate_init(&a->gate, cfg->queue)) {
        report_cmd_error("serve", "cannot start the engine thread");
        imglist_free(&a->folder);
        free(a->folder_real);
        return -1;
    }
    store_init(&a->images, cfg->cache_bytes);
    pthread_mutex_init(&a->save_mu, NULL);
    gate_run(&a->gate, 1, warm_up, model);
    return 0;
}

void api_free(api_ctx *a)
{
    store_destroy(&a->images);
    gate_destroy(&a->gate);
    pthread_mutex_destroy(&a->save_mu);
    imglist_free(&a->folder);
    free(a->folder_real);
}

/* ---- health ------------------------------------------------------------- */

static void get_health(api_ctx *a, api_reply *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", "ok");
    cJSON_AddStringToObject(j, "version", MOBILESAM_VERSION);
    cJSON *m = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(m, "id", mobilesam_model_id(a->model));
    cJSON_AddStringToObject(m, "type", mobilesam_model_type(a->model));
    cJSON_AddStringToObject(m, "precision",
                            mobilesam_precision_name(mobilesam_get_precision(a->model)));
    cJSON_AddNumberToObject(j, "threads", a->cfg->threads);
    reply_json(r, 200, j);
}

/* ---- images -------------------------------------------------------------- */

/* The folder image whose key is `rel`, or NULL. Only listed images can be
 * opened, and only when their real path is inside the folder: "..", an
 * absolute path or a symlink out of IMAGES_DIR is not found. */
static const img_item *folder_item(api_ctx *a, const char *rel)
{
    for (int i = 0; i < a->folder.n; i++) {
        const img_item *it = &a->folder.items[i];
        if (strcmp(it->key, rel))
            continue;
        char *real = realpath(it->path, NULL);
        size_t n = strlen(a->folder_real);
        int inside = real && !strncmp(real, a->folder_real, n) && real[n] == '/';
        free(real);
        return inside ? it : NULL;
    }
    return NULL;
}

/* Reads a folder image's bytes (at most max bytes). Returns 0, or an HTTP
 * status with the message in msg. */
static int read_image_file(const char *path, size_t max, char **data, size_t *len,
                           char *msg, size_t n)
{
    struct stat st;
    char why[128];
    FILE *f = file_fopen_input(path, &st, why, sizeof why);
    if (!f) {
        snprintf(msg, n, "cannot open file: %s", why);
        return 404;
    }
    if ((unsigned long long)st.st_size > max) {
        fclose(f);
        snprintf(msg, n, "file of %lld bytes exceeds --max-body-mib", (long long)st.st_size);
        return 413;
    }
    *data = malloc((size_t)st.st_size + 1);
    if (!*data) {
        fclose(f);
        snprintf(msg, n, "out of memory");
        return 503;
    }
    *len = fread(*data, 1, (size_t)st.st_size, f);
    int bad = ferror(f) || *len != (size_t)st.st_size;
    fclose(f);
    if (bad) {
        free(*data);
        snprintf(msg, n, "cannot read file");
        return 500;
    }
    return 0;
}

static cJSON *image_json(const store_entry *e, int cached)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", e->id);
    cJSON_AddNumberToObject(j, "width", e->width);
    cJSON_AddNumberToObject(j, "height", e->height);
    cJSON_AddNumberToObject(j, "encoder_ms", round(e->encoder_ms * 10) / 10);
    cJSON_AddBoolToObject(j, "cached", cached);
    return j;
}

static void post_image(api_ctx *a, const char *query_path, const char *body,
                       size_t len, api_reply *r)
{
    char msg[600];
    char *file = NULL;
    const char *rel = NULL;
    if (query_path) {
        if (!a->cfg->images_dir) {
            api_error(r, 400, "?path= needs the server started on a folder "
                              "(mobilesam serve IMAGES_DIR)");
            return;
        }
        const img_item *it = folder_item(a, query_path);
        if (!it) {
            api_error(r, 404, "%s: no such image in the folder", query_path);
            return;
        }
        int st = read_image_file(it->path, a->cfg->max_body, &file, &len, msg,
                                 sizeof msg);
        if (st) {
            api_error(r, st, "%s: %s", query_path, msg);
            return;
        }
        body = file;
        rel = it->key;
    }
    /* the header first: the pixel limit and the format, before any copy */
    int w, h;
    if (image_info_memory(body, len, &w, &h, msg, sizeof msg)) {
        api_error(r, strstr(msg, IMAGE_ERR_OVER_LIMIT) ? 413 : 400, "%s", msg);
        free(file);
        return;
    }
    int existed;
    store_entry *e = store_put(&a->images, body, len, w, h, rel, &existed);
    free(file);
    if (!e) {
        api_error(r, 503, "out of memory");
        return;
    }
    int encoded;
    int st = store_embed(&a->images, e, &a->gate, a->model, &encoded, msg, sizeof msg);
    if (st)
        api_error(r, st, "%s", msg);
    else
        reply_json(r, 200, image_json(e, !encoded));
    store_release(&a->images, e);
}

/* OUTDIR/.mobilesam/<stem>.objects.json: the saved annotations of an image
 * (the PUT body as kept). */
static int objects_path(api_ctx *a, const char *stem, char *buf, size_t n)
{
    int k = snprintf(buf, n, "%s/.mobilesam/%s.objects.json", a->cfg->output_dir, stem);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

static int annotated(api_ctx *a, const char *stem)
{
    char path[PATH_MAX];
    struct stat st;
    return a->cfg->output_dir && !objects_path(a, stem, path, sizeof path) &&
           stat(path, &st) == 0;
}

/* The name of an image's outputs: its stem in the folder, else its id. */
static const char *image_stem(api_ctx *a, const store_entry *e)
{
    if (e->path)
        for (int i = 0; i < a->folder.n; i++)
            if (!strcmp(a->folder.items[i].key, e->path))
                return a->folder.items[i].stem;
    return e->id;
}

static void list_images(api_ctx *a, api_reply *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(j, "images");
    for (int i = 0; i < a->folder.n; i++) {
        const img_item *it = &a->folder.items[i];
        store_entry *e = store_get_path(&a->images, it->key);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "id", e ? cJSON_CreateString(e->id) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "width", e ? cJSON_CreateNumber(e->width) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "height", e ? cJSON_CreateNumber(e->height) : cJSON_CreateNull());
        cJSON_AddStringToObject(o, "path", it->key);
        cJSON_AddBoolToObject(o, "annotated", annotated(a, it->stem));
        cJSON_AddItemToArray(list, o);
        store_release(&a->images, e);
    }
    /* then the uploads, most recent first */
    pthread_mutex_lock(&a->images.mu);
    for (store_entry *e = a->images.head; e; e = e->next) {
        if (e->path)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", e->id);
        cJSON_AddNumberToObject(o, "width", e->width);
        cJSON_AddNumberToObject(o, "height", e->height);
        cJSON_AddNullToObject(o, "path");
        cJSON_AddBoolToObject(o, "annotated", annotated(a, e->id));
        cJSON_AddItemToArray(list, o);
    }
    pthread_mutex_unlock(&a->images.mu);
    reply_json(r, 200, j);
}

static const char *image_type(const uint8_t *b, size_t n)
{
    if (n >= 8 && !memcmp(b, "\x89PNG", 4)) return "image/png";
    if (n >= 3 && !memcmp(b, "\xff\xd8\xff", 3)) return "image/jpeg";
    if (n >= 4 && !memcmp(b, "GIF8", 4)) return "image/gif";
    if (n >= 2 && !memcmp(b, "BM", 2)) return "image/bmp";
    return "application/octet-stream";
}

static void get_image(api_ctx *a, store_entry *e, api_reply *r)
{
    pthread_mutex_lock(&a->images.mu);
    char *copy = e->bytes ? malloc(e->n_bytes ? e->n_bytes : 1) : NULL;
    if (copy)
        memcpy(copy, e->bytes, e->n_bytes);
    size_t n = e->n_bytes;
    int evicted = !e->bytes;
    pthread_mutex_unlock(&a->images.mu);
    if (evicted)
        api_error(r, 404, "image %s was evicted from the cache: post it again", e->id);
    else if (!copy)
        api_error(r, 503, "out of memory");
    else
        reply_text(r, 200, image_type((uint8_t *)copy, n), copy, n);
}

static void get_embedding(api_ctx *a, store_entry *e, api_reply *r)
{
    char msg[600];
    int encoded;
    int st = store_embed(&a->images, e, &a->gate, a->model, &encoded, msg, sizeof msg);
    if (st) {
        api_error(r, st, "%s", msg);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f || embfile_fwrite(f, a->model, e->emb, msg, sizeof msg) || fclose(f)) {
        if (f && buf == NULL)
            fclose(f);
        free(buf);
        api_error(r, 503, "out of memory");
        return;
    }
    reply_text(r, 200, "application/octet-stream", buf, len);
}

/* ---- predict ------------------------------------------------------------- */

enum { FMT_RLE, FMT_COCO_RLE, FMT_PNG, FMT_POLYGON };

typedef struct {
    int multimask;
    int format;
    long mask_input; /* result id, or -1 */
    int mask_index;  /* -1: the best */
} predict_opts;

/* Splits the body into the prompt object (points, labels, box: for the
 * CLI's parser) and the request's own options. Returns the prompt object
 * as JSON text ("[{...}]", malloc'd), or NULL after a 400 reply. */
static char *split_predict_body(const cJSON *root, predict_opts *o, api_reply *r)
{
    o->multimask = 0;
    o->format = FMT_RLE;
    o->mask_input = -1;
    o->mask_index = -1;
    if (!cJSON_IsObject(root)) {
        api_error(r, 400, "expected a JSON object (points, labels, box, ...)");
        return NULL;
    }
    cJSON *prompt = cJSON_CreateObject();
    cJSON *list = cJSON_CreateArray();
    if (!prompt || !list) {
        cJSON_Delete(prompt);
        cJSON_Delete(list);
        api_error(r, 503, "out of memory");
        return NULL;
    }
    cJSON_AddItemToArray(list, prompt);
    int seen_index = 0;
    for (const cJSON *m = root->child; m; m = m->next) {
        const char *k = m->string;
        if (!strcmp(k, "points") || !strcmp(k, "labels") || !strcmp(k, "box")) {
            cJSON_AddItemToObject(prompt, k, cJSON_Duplicate(m, 1));
        } else if (!strcmp(k, "multimask")) {
            if (!cJSON_IsBool(m)) {
                api_error(r, 400, "multimask: expected true or false");
                goto fail;
            }
            o->multimask = cJSON_IsTrue(m);
        } else if (!strcmp(k, "format")) {
            static const char *const names[] = {"rle", "coco_rle", "png", "polygon"};
            int f = -1;
            for (int i = 0; i < 4 && cJSON_IsString(m); i++)
                if (!strcmp(m->valuestring, names[i]))
                    f = i;
            if (f < 0) {
                api_error(r, 400, "format: expected \"rle\", \"coco_rle\", \"png\" or "
                                  "\"polygon\"");
                goto fail;
            }
            o->format = f;
        } else if (!strcmp(k, "mask_input")) {
            double v = cJSON_IsNumber(m) ? m->valuedouble : -1;
            if (!(v >= 1 && v <= 1e15 && v == floor(v))) {
                api_error(r, 400, "mask_input: expected the \"result\" id of an "
                                  "earlier prediction of this image");
                goto fail;
            }
            o->mask_input = (long)v;
        } else if (!strcmp(k, "mask_index")) {
            double v = cJSON_IsNumber(m) ? m->valuedouble : -1;
            if (!(v >= 0 && v <= 2 && v == floor(v))) {
                api_error(r, 400, "mask_index: expected 0, 1 or 2");
                goto fail;
            }
            o->mask_index = (int)v;
            seen_index = 1;
        } else {
            api_error(r, 400,
                      "unknown key \"%s\" (expected points, labels, box, multimask, "
                      "mask_input, mask_index, format)",
                      k);
            goto fail;
        }
    }
    if (seen_index && o->mask_input < 0) {
        api_error(r, 400, "mask_index: needs mask_input");
        goto fail;
    }
    char *text = cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    if (!text)
        api_error(r, 503, "out of memory");
    return text;
fail:
    cJSON_Delete(list);
    return NULL;
}

static void add_mask_json(sbuf *b, int format, const uint8_t *mask, int w, int h,
                          float score, int *ok)
{
    int bbox[4];
    long area = coco_mask_stats(mask, w, h, bbox);
    char num[32];
    if (isfinite(score))
        snprintf(num, sizeof num, "%.7g", (double)score);
    else
        snprintf(num, sizeof num, "null");
    sb_printf(b, "{\"score\":%s,\"area\":%ld,\"bbox\":[%d,%d,%d,%d],", num, area, bbox[0],
              bbox[1], bbox[2], bbox[3]);
    if (format == FMT_RLE || format == FMT_COCO_RLE) {
        int *counts = NULL;
        int n = mobilesam_mask_to_rle(mask, w, h, &counts);
        if (n < 0) {
            *ok = 0;
            return;
        }
        sb_printf(b, "\"rle\":{\"size\":[%d,%d],\"counts\":", h, w);
        if (format == FMT_RLE) {
            sb_add(b, "[", 1);
            sb_ints(b, counts, n);
            sb_add(b, "]", 1);
        } else {
            char *s = coco_rle_string(counts, n);
            if (!s) {
                *ok = 0;
            } else {
                /* characters 48..111: only the backslash needs escaping */
                sb_add(b, "\"", 1);
                for (const char *c = s; *c; c++)
                    sb_add(b, *c == '\\' ? "\\\\" : c, *c == '\\' ? 2 : 1);
                sb_add(b, "\"", 1);
                free(s);
            }
        }
        sb_add(b, "}}", 2);
        free(counts);
    } else if (format == FMT_PNG) {
        size_t len;
        unsigned char *png = out_png_memory(mask, w, h, 1, &len);
        if (!png) {
            *ok = 0;
            return;
        }
        size_t b64 = BASE64_ENCODE_RAW_LENGTH(len);
        sb_add(b, "\"png\":\"", 7);
        sb_reserve(b, b64);
        if (!b->failed) {
            base64_encode_raw(b->s + b->len, len, png);
            b->len += b64;
            b->s[b->len] = 0;
        }
        sb_add(b, "\"}", 2);
        free(png);
    } else {
        int *xy = NULL;
        int n = contour_largest(mask, w, h, &xy);
        if (n < 0) {
            *ok = 0;
            return;
        }
        sb_add(b, "\"polygons\":[", 12);
        if (n > 0) {
            sb_add(b, "[", 1);
            sb_ints(b, xy, 2 * n);
            sb_add(b, "]", 1);
        }
        sb_add(b, "]}", 2);
        free(xy);
    }
}

/* Parses and checks a predict body for a width x height image into ps and
 * o. Returns 0, or -1 after a 400 reply (ps freed by the caller either
 * way). */
static int parse_predict(const char *body, size_t len, int width, int height,
                         prompt_set *ps, predict_opts *o, api_reply *r)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) {
        api_error(r, 400, "malformed JSON");
        return -1;
    }
    char *prompt_text = split_predict_body(root, o, r);
    cJSON_Delete(root);
    if (!prompt_text)
        return -1;
    char msg[1024];
    report_capture_begin(msg, sizeof msg);
    int bad = prompts_parse(ps, "request", prompt_text, strlen(prompt_text));
    report_capture_end();
    free(prompt_text);
    if (bad) {
        api_error(r, 400, "%s", captured(msg));
        return -1;
    }
    char field[32];
    report_capture_begin(msg, sizeof msg);
    bad = prompts_validate_field(ps, width, height, field, sizeof field);
    report_capture_end();
    if (bad) {
        api_error(r, 400, "%s%s%s", field, field[0] ? ": " : "", captured(msg));
        return -1;
    }
    return 0;
}

typedef struct {
    mobilesam_model *model;
    const mobilesam_embedding *emb;
    mobilesam_prompt prompt;
    mobilesam_result res;
    mobilesam_error err;
    mobilesam_status st;
    double decoder_ms;
} predict_job;

static void predict_on_engine(void *arg)
{
    predict_job *j = arg;
    j->st = mobilesam_predict(j->model, j->emb, &j->prompt, 1, &j->res, &j->err);
    mobilesam_timing t;
    mobilesam_last_timing(j->model, &t);
    j->decoder_ms = t.decoder_ms;
}

static void predict(api_ctx *a, store_entry *e, const char *body, size_t len,
                    api_reply *r)
{
    predict_opts o;
    prompt_set ps;
    prompts_init(&ps, "serve");
    if (parse_predict(body, len, e->width, e->height, &ps, &o, r)) {
        prompts_free(&ps);
        return;
    }
    char msg[1024];
    float *mask_in = NULL;
    if (o.mask_input >= 0) {
        mask_in = malloc(PLANE * sizeof(float));
        int rc = mask_in ? store_get_result(&a->images, e, o.mask_input, o.mask_index, mask_in)
                         : -3;
        if (rc) {
            if (rc == -3)
                api_error(r, 503, "out of memory");
            else if (rc == -2)
                api_error(r, 400, "mask_index: result %ld has fewer masks", o.mask_input);
            else
                api_error(r, 400, "mask_input: no result %ld for image %s", o.mask_input,
                          e->id);
            free(mask_in);
            prompts_free(&ps);
            return;
        }
        ps.objects[0].mask = mask_in; /* freed with the set */
    }

    int encoded;
    int st = store_embed(&a->images, e, &a->gate, a->model, &encoded, msg, sizeof msg);
    if (st) {
        api_error(r, st, "%s", msg);
        prompts_free(&ps);
        return;
    }
    predict_job job = {a->model, e->emb, {0}, {0}, {{0}}, MOBILESAM_OK, 0};
    prompts_to_api(&ps, o.multimask, &job.prompt);
    if (gate_run(&a->gate, 1, predict_on_engine, &job)) {
        api_error(r, 503, "the server is busy (work queue full): try again");
        prompts_free(&ps);
        return;
    }
    prompts_free(&ps);
    if (job.st != MOBILESAM_OK) {
        api_error(r, job.st == MOBILESAM_ERR_NOMEM ? 503 : 400, "%s", job.err.message);
        return;
    }
    mobilesam_result res = job.res;
    mobilesam_timing t = {0, 0, job.decoder_ms};

    double t0 = now_ms();
    long id = store_add_result(&a->images, e, &res);
    sbuf b = {0};
    int ok = id > 0;
    sb_printf(&b, "{\"result\":%ld,\"decoder_ms\":%.2f,\"encode_ms\":", id, t.decoder_ms);
    size_t encode_at = b.len;
    sb_add(&b, "          ,\"masks\":[", 20); /* room for encode_ms */
    size_t plane = (size_t)res.width * res.height;
    for (int m = 0; m < res.n_masks && ok; m++) {
        if (m)
            sb_add(&b, ",", 1);
        add_mask_json(&b, o.format, res.masks + m * plane, res.width, res.height,
                      res.scores[m], &ok);
    }
    sb_add(&b, "]}", 2);
    mobilesam_result_free(&res);
    if (!ok || b.failed) {
        free(b.s);
        api_error(r, 503, "out of memory");
        return;
    }
    char num[16];
    int n = snprintf(num, sizeof num, "%.2f", now_ms() - t0);
    if (n > 0 && n <= 10)
        memcpy(b.s + encode_at + 10 - n, num, (size_t)n); /* right-aligned */
    snprintf(r->timing, sizeof r->timing, "decoder;dur=%.2f", t.decoder_ms);
    reply_text(r, 200, "application/json", b.s, b.len);
}

/* ---- everything ---------------------------------------------------------- */

static int parse_amg_options(const char *body, size_t len, mobilesam_amg_options *o,
                             api_reply *r)
{
    mobilesam_amg_defaults(o);
    int empty = 1;
    for (size_t i = 0; i < len; i++)
        empty &= body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t';
    if (empty)
        return 0;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) {
        api_error(r, 400, "malformed JSON");
        return -1;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        api_error(r, 400, "expected a JSON object of generator options");
        return -1;
    }
    unsigned seen = 0;
    for (const cJSON *m = root->child; m; m = m->next) {
        int i = amgopt_find(m->string);
        if (i < 0 || strchr(m->string, '-')) {
            api_error(r, 400, "unknown key \"%s\" (expected points_per_side, "
                              "pred_iou_thresh, ... as 'mobilesam everything' takes them)",
                      m->string);
            cJSON_Delete(root);
            return -1;
        }
        const amgopt_info *info = &amgopts[i];
        if (seen & (1u << i)) {
            api_error(r, 400, "duplicate key \"%s\"", m->string);
            cJSON_Delete(root);
            return -1;
        }
        seen |= 1u << i;
        if (!cJSON_IsNumber(m) || !amgopt_in_range(i, m->valuedouble)) {
            if (info->is_int)
                api_error(r, 400, "%s: expected an integer in %ld..%ld", info->key,
                          (long)info->lo, (long)info->hi);
            else
                api_error(r, 400, "%s: expected a number in [%g, %g%c", info->key,
                          info->lo, info->hi, info->open_hi ? ')' : ']');
            cJSON_Delete(root);
            return -1;
        }
        amgopt_set(o, i, m->valuedouble);
    }
    cJSON_Delete(root);
    return 0;
}

typedef struct {
    mobilesam_model *model;
    const msam_image *img;
    const mobilesam_amg_options *opt;
    mobilesam_amg_result res;
    mobilesam_error err;
    mobilesam_status st;
    double ms;
} generate_job;

static void generate_on_engine(void *arg)
{
    generate_job *j = arg;
    double t0 = now_ms();
    j->st = mobilesam_generate(j->model, j->img->rgb, j->img->width, j->img->height, j->opt,
                               &j->res, &j->err);
    j->ms = now_ms() - t0;
}

static void everything(api_ctx *a, store_entry *e, const char *body, size_t len,
                       api_reply *r)
{
    mobilesam_amg_options opt;
    if (parse_amg_options(body, len, &opt, r))
        return;
    /* the request holds e: its bytes stay (store.h) */
    char msg[600];
    msam_image img;
    if (!e->bytes) {
        api_error(r, 404, "image %s was evicted from the cache: post it again", e->id);
        return;
    }
    if (image_load_memory(e->bytes, e->n_bytes, &img, msg, sizeof msg)) {
        api_error(r, strstr(msg, IMAGE_ERR_OVER_LIMIT) ? 413 : 400, "%s", msg);
        return;
    }
    generate_job job = {a->model, &img, &opt, {0}, {{0}}, MOBILESAM_OK, 0};
    int busy = gate_run(&a->gate, 0, generate_on_engine, &job);
    image_free(&img);
    if (busy) {
        api_error(r, 503, "the server is busy (work queue full): try again");
        return;
    }
    if (job.st != MOBILESAM_OK) {
        api_error(r, job.st == MOBILESAM_ERR_NOMEM ? 503 : 400, "%s", job.err.message);
        return;
    }
    mobilesam_amg_result res = job.res;
    double ms = job.ms;
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; list && i < res.n; i++) {
        cJSON *rec = coco_amg_record(&res.masks[i], res.width, res.height);
        if (!rec) {
            cJSON_Delete(list);
            list = NULL;
        } else {
            cJSON_AddItemToArray(list, rec);
        }
    }
    mobilesam_amg_result_free(&res);
    snprintf(r->timing, sizeof r->timing, "generator;dur=%.1f", ms);
    reply_json(r, 200, list);
}

/* ---- annotations --------------------------------------------------------- */

/* snprintf into a PATH_MAX buffer; -1 (after a captured error line) when
 * the path would not fit. */
static int pathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pathf(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_MAX) {
        report_file_error(buf, "path too long");
        return -1;
    }
    return 0;
}

/* Every "<stem>.coco.json" record of OUTDIR/.mobilesam, sorted, as the
 * inputs of the run-wide COCO file. Returns the count, or -1. */
static int gather_records(const char *meta_dir, char ***paths)
{
    DIR *d = opendir(meta_dir);
    *paths = NULL;
    if (!d)
        return -1;
    int n = 0, cap = 0, failed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l <= 10 || strcmp(de->d_name + l - 10, ".coco.json"))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **p = realloc(*paths, (size_t)cap * sizeof *p);
            if (!p) {
                failed = 1;
                break;
            }
            *paths = p;
        }
        size_t len = strlen(meta_dir) + l + 2;
        (*paths)[n] = malloc(len);
        if (!(*paths)[n]) {
            failed = 1;
            break;
        }
        snprintf((*paths)[n++], len, "%s/%s", meta_dir, de->d_name);
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: names, byte order */
        for (int j = i; j > 0 && strcmp((*paths)[j - 1], (*paths)[j]) > 0; j--) {
            char *t = (*paths)[j];
            (*paths)[j] = (*paths)[j - 1];
            (*paths)[j - 1] = t;
        }
    if (failed) {
        for (int i = 0; i < n; i++)
            free((*paths)[i]);
        free(*paths);
        *paths = NULL;
        return -1;
    }
    return n;
}

/* Reads the masks of the PUT body into masks (n * w * h) and checks every
 * object. Returns the number of objects, or -1 after a 400 reply. */
static int read_objects(const cJSON *objects, int w, int h, uint8_t **masks, int **classes,
                        api_reply *r)
{
    if (!cJSON_IsArray(objects)) {
        api_error(r, 400, "objects: expected a list");
        return -1;
    }
    int n = cJSON_GetArraySize(objects);
    if (n > MOBILESAM_MAX_OBJECTS) {
        api_error(r, 400, "objects: %d objects (at most %d per image)", n,
                  MOBILESAM_MAX_OBJECTS);
        return -1;
    }
    size_t plane = (size_t)w * h;
    *masks = malloc(plane * (size_t)(n ? n : 1));
    *classes = malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (!*masks || !*classes) {
        api_error(r, 503, "out of memory");
        return -1;
    }
    int i = 0;
    for (const cJSON *o = objects->child; o; o = o->next, i++) {
        if (!cJSON_IsObject(o)) {
            api_error(r, 400, "objects[%d]: expected an object", i);
            return -1;
        }
        for (const cJSON *m = o->child; m; m = m->next)
            if (strcmp(m->string, "label") && strcmp(m->string, "class") &&
                strcmp(m->string, "prompt") && strcmp(m->string, "rle")) {
                api_error(r, 400, "objects[%d]: unknown key \"%s\" (expected label, class, "
                                  "prompt, rle)",
                          i, m->string);
                return -1;
            }
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(o, "label");
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(o, "class");
        const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(o, "prompt");
        if (label && !cJSON_IsString(label)) {
            api_error(r, 400, "objects[%d].label: expected a string", i);
            return -1;
        }
        double c = cls ? (cJSON_IsNumber(cls) ? cls->valuedouble : -1) : 0;
        if (!(c >= 0 && c <= 1e6 && c == floor(c))) {
            api_error(r, 400, "objects[%d].class: expected an integer in 0..1000000", i);
            return -1;
        }
        (*classes)[i] = (int)c;
        if (prompt && !cJSON_IsObject(prompt)) {
            api_error(r, 400, "objects[%d].prompt: expected an object", i);
            return -1;
        }
        char why[256];
        if (coco_rle_decode(cJSON_GetObjectItemCaseSensitive(o, "rle"), w, h,
                            *masks + plane * (size_t)i, why, sizeof why)) {
            api_error(r, 400, "objects[%d].rle: %s", i, why);
            return -1;
        }
    }
    return n;
}

/* Writes an image's annotations with the batch writers: OUTDIR/<stem>_<k>_0.png,
 * OUTDIR/<stem>.txt (YOLO-seg), OUTDIR/.mobilesam/<stem>.coco.json (its COCO
 * record), OUTDIR/annotations.json (every saved record), and the objects as
 * given in .mobilesam/<stem>.objects.json. All files or none, each complete. */
static void put_annotations(api_ctx *a, store_entry *e, const char *body, size_t len,
                            api_reply *r)
{
    const char *outdir = a->cfg->output_dir;
    if (!outdir) {
        api_error(r, 404, "saving needs the server started with --output DIR");
        return;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        api_error(r, 400, root ? "expected {\"objects\": [...]}" : "malformed JSON");
        return;
    }
    for (const cJSON *m = root->child; m; m = m->next)
        if (strcmp(m->string, "objects")) {
            api_error(r, 400, "unknown key \"%s\" (expected objects)", m->string);
            cJSON_Delete(root);
            return;
        }
    uint8_t *masks = NULL;
    int *classes = NULL;
    int w = e->width, h = e->height;
    int n = read_objects(cJSON_GetObjectItemCaseSensitive(root, "objects"), w, h, &masks,
                         &classes, r);
    if (n < 0) {
        free(masks);
        free(classes);
        cJSON_Delete(root);
        return;
    }
    const char *stem = image_stem(a, e);
    char meta[PATH_MAX], path[PATH_MAX];
    if (pathf(meta, "%s/.mobilesam", outdir)) {
        api_error(r, 500, "cannot save: --output path too long");
        free(masks);
        free(classes);
        cJSON_Delete(root);
        return;
    }
    char msg[1024];
    cJSON *files = cJSON_CreateArray();
    pthread_mutex_lock(&a->save_mu);
    report_capture_begin(msg, sizeof msg);
    out_set outs;
    out_init(&outs);
    int failed = out_mkdirs(meta, NULL);
    size_t plane = (size_t)w * h;
    for (int k = 0; k < n && !failed; k++) {
        failed = pathf(path, "%s/%s_%d_0.png", outdir, stem, k) ||
                 out_png(&outs, path, masks + plane * (size_t)k, w, h, 1);
        cJSON_AddItemToArray(files, cJSON_CreateString(path));
    }
    if (!failed) {
        FILE *fp = pathf(path, "%s/%s.txt", outdir, stem) ? NULL
                                                          : out_stream_open(&outs, path);
        failed = !fp;
        for (int k = 0; k < n && !failed; k++)
            failed = yolo_write_segment(fp, classes[k], masks + plane * (size_t)k, w, h) < 0;
        if (fp)
            failed |= out_stream_close(fp, path) != 0;
        cJSON_AddItemToArray(files, cJSON_CreateString(path));
    }
    cJSON *rec = NULL;
    if (!failed) {
        char file_name[PATH_MAX];
        snprintf(file_name, sizeof file_name, "%s", e->path ? e->path : e->id);
        rec = coco_record(file_name, w, h);
        failed = !rec;
        for (int k = 0; k < n && !failed; k++)
            failed = coco_add(rec, masks + plane * (size_t)k, classes[k], 1.0f) != 0;
        if (!failed)
            failed = pathf(path, "%s/%s.coco.json", meta, stem) ||
                     out_json(&outs, path, rec);
    }
    if (!failed) {
        failed = objects_path(a, stem, path, sizeof path) || out_json(&outs, path, root);
    }
    /* stale masks of an earlier save with more objects */
    for (int k = n; !failed; k++)
        if (pathf(path, "%s/%s_%d_0.png", outdir, stem, k) || unlink(path) != 0)
            break;
    if (!failed)
        failed = out_commit(&outs);
    else
        out_abort(&outs);
    /* the run-wide COCO file, from every saved record (as batch assembles it) */
    if (!failed) {
        char **paths;
        int m = gather_records(meta, &paths);
        coco_input *in = m > 0 ? calloc((size_t)m, sizeof *in) : NULL;
        if (m > 0 && in) {
            for (int i = 0; i < m; i++)
                in[i] = (coco_input){paths[i], i + 1};
            out_init(&outs);
            failed = pathf(path, "%s/annotations.json", outdir) ||
                     coco_assemble(&outs, path, in, m, NULL, 0, "class_%d");
            failed = failed ? (out_abort(&outs), 1) : out_commit(&outs);
            cJSON_AddItemToArray(files, cJSON_CreateString(path));
        }
        for (int i = 0; i < m; i++)
            free(paths[i]);
        if (m > 0)
            free(paths);
        free(in);
    }
    report_capture_end();
    pthread_mutex_unlock(&a->save_mu);
    cJSON_Delete(rec);
    cJSON_Delete(root);
    free(masks);
    free(classes);
    if (failed) {
        cJSON_Delete(files);
        api_error(r, 500, "cannot save: %s", msg[0] ? msg : "out of memory");
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "saved", n);
    cJSON_AddItemToObject(j, "files", files);
    reply_json(r, 200, j);
}

static void get_annotations(api_ctx *a, store_entry *e, api_reply *r)
{
    char path[PATH_MAX], why[128];
    if (!a->cfg->output_dir) {
        api_error(r, 404, "saving needs the server started with --output DIR");
        return;
    }
    objects_path(a, image_stem(a, e), path, sizeof path);
    struct stat st;
    FILE *f = file_fopen_input(path, &st, why, sizeof why);
    if (!f) {
        api_error(r, 404, "no annotations saved for image %s", e->id);
        return;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf || n != (size_t)st.st_size) {
        free(buf);
        api_error(r, 500, "cannot read %s", path);
        return;
    }
    reply_text(r, 200, "application/json", buf, n);
}

/* ---- the parsers alone (fuzzing) ----------------------------------------- */

int api_parse_only(int which, const char *body, size_t len, int width, int height)
{
    api_reply r = {0};
    int rc;
    if (which == 0) {
        predict_opts o;
        prompt_set ps;
        prompts_init(&ps, "serve");
        rc = parse_predict(body, len, width, height, &ps, &o, &r);
        prompts_free(&ps);
    } else if (which == 1) {
        mobilesam_amg_options opt;
        rc = parse_amg_options(body, len, &opt, &r);
    } else {
        cJSON *root = cJSON_ParseWithLength(body, len);
        uint8_t *masks = NULL;
        int *classes = NULL;
        rc = root ? read_objects(cJSON_GetObjectItemCaseSensitive(root, "objects"), width,
                                 height, &masks, &classes, &r)
                  : -1;
        rc = rc < 0 ? -1 : 0;
        free(masks);
        free(classes);
        cJSON_Delete(root);
    }
    free(r.body);
    return rc;
}

/* ---- routing ------------------------------------------------------------- */

static int method_is(const char *m, const char *want) { return !strcmp(m, want); }

void api_handle(api_ctx *a, const char *method, const char *path, const char *query_path,
                const char *body, size_t len, api_reply *r)
{
    memset(r, 0, sizeof *r);
    int get = method_is(method, "GET") || method_is(method, "HEAD");
    int post = method_is(method, "POST"), put = method_is(method, "PUT");
    if (!strcmp(path, "/health")) {
        if (!get) goto not_allowed_get;
        get_health(a, r);
        return;
    }
    if (!strcmp(path, "/images") || !strcmp(path, "/images/")) {
        if (post)
            post_image(a, query_path, body, len, r);
        else if (get)
            list_images(a, r);
        else {
            r->allow = "GET, HEAD, POST";
            api_error(r, 405, "%s not allowed here (GET, POST)", method);
        }
        return;
    }
    if (strncmp(path, "/images/", 8)) {
        api_error(r, 404, "no such endpoint: /v1%s", path);
        return;
    }
    const char *id = path + 8, *slash = strchr(id, '/');
    size_t id_len = slash ? (size_t)(slash - id) : strlen(id);
    const char *sub = slash ? slash + 1 : "";
    static const char *const subs[] = {"", "embedding", "predict", "everything",
                                       "annotations"};
    int which = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(sub, subs[i]))
            which = i;
    if (which < 0) {
        api_error(r, 404, "no such endpoint: /v1%s", path);
        return;
    }
    static const char *const allowed[] = {"GET, HEAD", "GET, HEAD", "POST", "POST",
                                          "GET, HEAD, PUT"};
    int ok = (which <= 1 && get) || ((which == 2 || which == 3) && post) ||
             (which == 4 && (get || put));
    if (!ok) {
        r->allow = allowed[which];
        api_error(r, 405, "%s not allowed here (%s)", method, allowed[which]);
        return;
    }
    char key[STORE_ID_LEN + 1];
    if (id_len != STORE_ID_LEN) {
        api_error(r, 404, "no image %.*s", (int)(id_len > 64 ? 64 : id_len), id);
        return;
    }
    memcpy(key, id, STORE_ID_LEN);
    key[STORE_ID_LEN] = 0;
    store_entry *e = store_get(&a->images, key);
    if (!e) {
        api_error(r, 404, "no image %s (post it to /v1/images first)", key);
        return;
    }
    switch (which) {
    case 0: get_image(a, e, r); break;
    case 1: get_embedding(a, e, r); break;
    case 2: predict(a, e, body, len, r); break;
    case 3: everything(a, e, body, len, r); break;
    default:
        if (put) put_annotations(a, e, body, len, r);
        else get_annotations(a, e, r);
    }
    store_release(&a->images, e);
    return;
not_allowed_get:
    r->allow = "GET, HEAD";
    api_error(r, 405, "%s not allowed here (GET)", method);
}
