/*
 * coco.c - see coco.h. annotations.json is written one image or one
 * annotation per line (compact, yet greppable) in two passes over the
 * records: the images, then the annotations with their ids.
 */
#include "format/coco.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/report.h"
#include "io/file.h"
#include "mobilesam.h"

cJSON *coco_rle(const uint8_t *mask, int width, int height)
{
    int *counts = NULL;
    int n = mobilesam_mask_to_rle(mask, width, height, &counts);
    if (n < 0)
        return NULL;
    cJSON *rle = cJSON_CreateObject();
    int size[2] = {height, width};
    cJSON *c = cJSON_CreateIntArray(counts, n);
    free(counts);
    if (!rle || !c || !cJSON_AddItemToObject(rle, "size",
                                             cJSON_CreateIntArray(size, 2))) {
        cJSON_Delete(rle);
        cJSON_Delete(c);
        return NULL;
    }
    cJSON_AddItemToObject(rle, "counts", c);
    return rle;
}

long coco_mask_stats(const uint8_t *mask, int width, int height, int bbox[4])
{
    long area = 0;
    int x0 = width, y0 = height, x1 = -1, y1 = -1;
    for (int y = 0; y < height; y++) {
        const uint8_t *row = mask + (size_t)y * width;
        for (int x = 0; x < width; x++)
            if (row[x]) {
                area++;
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0;
                y1 = y;
            }
    }
    memset(bbox, 0, 4 * sizeof *bbox);
    if (area) {
        bbox[0] = x0;
        bbox[1] = y0;
        bbox[2] = x1 - x0 + 1;
        bbox[3] = y1 - y0 + 1;
    }
    return area;
}

cJSON *coco_record(const char *file_name, int width, int height)
{
    cJSON *r = cJSON_CreateObject();
    if (!r || !cJSON_AddStringToObject(r, "file_name", file_name) ||
        !cJSON_AddNumberToObject(r, "width", width) ||
        !cJSON_AddNumberToObject(r, "height", height) ||
        !cJSON_AddArrayToObject(r, "annotations")) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

int coco_add(cJSON *record, const uint8_t *mask, int category, float score)
{
    int w = cJSON_GetObjectItem(record, "width")->valueint;
    int h = cJSON_GetObjectItem(record, "height")->valueint;
    int bbox[4];
    long area = coco_mask_stats(mask, w, h, bbox);
    cJSON *a = cJSON_CreateObject();
    cJSON *rle = coco_rle(mask, w, h);
    if (!a || !rle) {
        cJSON_Delete(a);
        cJSON_Delete(rle);
        return -1;
    }
    cJSON_AddNumberToObject(a, "category_id", category);
    cJSON_AddItemToObject(a, "segmentation", rle);
    cJSON_AddNumberToObject(a, "area", (double)area);
    cJSON_AddItemToObject(a, "bbox", cJSON_CreateIntArray(bbox, 4));
    cJSON_AddNumberToObject(a, "iscrowd", 0);
    cJSON_AddNumberToObject(a, "score", (double)score);
    cJSON_AddItemToArray(cJSON_GetObjectItem(record, "annotations"), a);
    return 0;
}

/* ---- assembly ------------------------------------------------------------ */

typedef struct {
    int *v;
    int n, cap;
} int_set; /* sorted, distinct */

static int set_add(int_set *s, int x)
{
    int lo = 0, hi = s->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (s->v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n && s->v[lo] == x)
        return 0;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        int *v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    memmove(s->v + lo + 1, s->v + lo, (size_t)(s->n - lo) * sizeof *s->v);
    s->v[lo] = x;
    s->n++;
    return 0;
}

/* Reads and checks a record; NULL after an error naming it. */
static cJSON *read_record(const char *path)
{
    FILE *fp = file_fopen_input(path, NULL, NULL, 0); /* a FIFO: no wait */
    char *text = NULL;
    size_t len = 0;
    if (fp) {
        fseek(fp, 0, SEEK_END);
        long n = ftell(fp);
        rewind(fp);
        text = n >= 0 ? malloc((size_t)n + 1) : NULL;
        len = text ? fread(text, 1, (size_t)n, fp) : 0;
        if (text)
            text[len] = 0;
        fclose(fp);
    }
    if (!text) {
        report_file_error(path, "cannot read the image's COCO record");
        return NULL;
    }
    cJSON *r = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *anns = cJSON_GetObjectItem(r, "annotations");
    int ok = cJSON_IsString(cJSON_GetObjectItem(r, "file_name")) &&
             cJSON_IsNumber(cJSON_GetObjectItem(r, "width")) &&
             cJSON_IsNumber(cJSON_GetObjectItem(r, "height")) &&
             cJSON_IsArray(anns);
    for (const cJSON *a = anns ? anns->child : NULL; ok && a; a = a->next)
        ok = cJSON_IsObject(a) && a->child &&
             cJSON_IsNumber(cJSON_GetObjectItem(a, "category_id"));
    if (!ok) {
        report_file_error(path, "damaged COCO record (delete it and the image's "
                             ".done marker, or run with --overwrite)");
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

/* Prints an item compactly; returns -1 when out of memory. */
static int put_json(FILE *fp, const cJSON *item, const char *prefix)
{
    char *text = cJSON_PrintUnformatted(item);
    if (!text)
        return -1;
    /* prefix goes right after the opening brace */
    if (prefix)
        fprintf(fp, "{%s%s%s", prefix, text[1] == '}' ? "" : ",", text + 1);
    else
        fputs(text, fp);
    free(text);
    return 0;
}

static int write_images(FILE *fp, const coco_input *in, int n, int_set *cats)
{
    fputs("\"images\":[", fp);
    for (int i = 0; i < n; i++) {
        cJSON *r = read_record(in[i].path);
        if (!r)
            return -1;
        cJSON *img = cJSON_CreateObject();
        int rc = -1;
        if (img) {
            cJSON_AddNumberToObject(img, "id", in[i].image_id);
            cJSON_AddStringToObject(
                img, "file_name",
                cJSON_GetObjectItem(r, "file_name")->valuestring);
            cJSON_AddNumberToObject(
                img, "width", cJSON_GetObjectItem(r, "width")->valuedouble);
            cJSON_AddNumberToObject(
                img, "height", cJSON_GetObjectItem(r, "height")->valuedouble);
            fputs(i ? ",\n" : "\n", fp);
            rc = put_json(fp, img, NULL);
        }
        const cJSON *a = cJSON_GetObjectItem(r, "annotations")->child;
        for (; rc == 0 && a; a = a->next)
            rc = set_add(cats, cJSON_GetObjectItem(a, "category_id")->valueint);
        cJSON_Delete(img);
        cJSON_Delete(r);
        if (rc) {
            report_file_error(in[i].path, "out of memory");
            return -1;
        }
    }
    fputs("],\n", fp);
    return 0;
}

static int write_annotations(FILE *fp, const coco_input *in, int n)
{
    fputs("\"annotations\":[", fp);
    long id = 0;
    for (int i = 0; i < n; i++) {
        cJSON *r = read_record(in[i].path);
        if (!r)
            return -1;
        const cJSON *a = cJSON_GetObjectItem(r, "annotations")->child;
        for (; a; a = a->next) {
            char prefix[64];
            snprintf(prefix, sizeof prefix, "\"id\":%ld,\"image_id\":%d",
                     ++id, in[i].image_id);
            fputs(id > 1 ? ",\n" : "\n", fp);
            if (put_json(fp, a, prefix)) {
                cJSON_Delete(r);
                report_file_error(in[i].path, "out of memory");
                return -1;
            }
        }
        cJSON_Delete(r);
    }
    fputs("],\n", fp);
    return 0;
}

static void write_categories(FILE *fp, const int_set *cats,
                             const char *name_format)
{
    fputs("\"categories\":[", fp);
    for (int i = 0; i < cats->n; i++) {
        char name[64];
        snprintf(name, sizeof name, name_format, cats->v[i]);
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "id", cats->v[i]);
        cJSON_AddStringToObject(c, "name", name);
        cJSON_AddStringToObject(c, "supercategory", "");
        fputs(i ? ",\n" : "\n", fp);
        put_json(fp, c, NULL);
        cJSON_Delete(c);
    }
    fputs("]}\n", fp);
}

int coco_assemble(out_set *outs, const char *path, const coco_input *in,
                  int n, const int *extra, int n_extra,
                  const char *name_format)
{
    int_set cats = {NULL, 0, 0};
    for (int i = 0; i < n_extra; i++)
        if (set_add(&cats, extra[i])) {
            report_file_error(path, "out of memory");
            return -1;
        }
    FILE *fp = out_stream_open(outs, path);
    int rc = -1;
    if (fp) {
        fprintf(fp, "{\"info\":{\"description\":\"mobilesam batch\","
                    "\"version\":\"%s\"},\n",
                MOBILESAM_VERSION);
        if (write_images(fp, in, n, &cats) == 0 &&
            write_annotations(fp, in, n) == 0) {
            write_categories(fp, &cats, name_format);
            rc = 0;
        }
        if (out_stream_close(fp, path))
            rc = -1;
    }
    free(cats.v);
    return rc;
}

cJSON *coco_amg_record(const mobilesam_amg_mask *m, int w, int h)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *rle = coco_rle(m->mask, w, h);
    if (!r || !rle) {
        cJSON_Delete(r);
        cJSON_Delete(rle);
        return NULL;
    }
    cJSON_AddItemToObject(r, "segmentation", rle);
    cJSON_AddNumberToObject(r, "area", m->area);
    cJSON_AddItemToObject(r, "bbox", cJSON_CreateIntArray(m->bbox, 4));
    cJSON_AddNumberToObject(r, "predicted_iou", (double)m->predicted_iou);
    cJSON *pts = cJSON_AddArrayToObject(r, "point_coords");
    cJSON *pt = cJSON_CreateArray();
    cJSON_AddItemToArray(pt, cJSON_CreateNumber((double)m->point[0]));
    cJSON_AddItemToArray(pt, cJSON_CreateNumber((double)m->point[1]));
    cJSON_AddItemToArray(pts, pt);
    cJSON_AddNumberToObject(r, "stability_score", (double)m->stability_score);
    cJSON_AddItemToObject(r, "crop_box", cJSON_CreateIntArray(m->crop_box, 4));
    return r;
}

char *coco_rle_string(const int *counts, int n)
{
    /* pycocotools' rleToString: each count (from the third on, minus the
     * count two before) as 5-bit groups, low first, 0x20 = more follow,
     * plus 48; at most 7 characters for a 32-bit difference. */
    char *s = malloc((size_t)n * 7 + 1), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < n; i++) {
        long x = counts[i];
        if (i > 2)
            x -= counts[i - 2];
        for (int more = 1; more;) {
            long c = x & 0x1f;
            x >>= 5; /* arithmetic: the sign stays */
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more)
                c |= 0x20;
            *p++ = (char)(c + 48);
        }
    }
    *p = 0;
    return s;
}

/* pycocotools' rleFrString: the counts of a compressed string, or -1. */
static long rle_from_string(const char *s, int **out)
{
    size_t len = strlen(s);
    int *cnts = malloc((len ? len : 1) * sizeof *cnts);
    if (!cnts)
        return -2;
    long m = 0;
    for (size_t p = 0; p < len;) {
        long x = 0;
        int k = 0, more = 1;
        while (more) {
            if (p >= len || k > 6) {
                free(cnts);
                return -1;
            }
            long c = (long)s[p] - 48;
            if (c < 0 || c > 63) {
                free(cnts);
                return -1;
            }
            x |= (c & 0x1f) << (5 * k);
            more = (c & 0x20) != 0;
            p++;
            k++;
            if (!more && (c & 0x10))
                x |= (long)(~0UL << (5 * k));
        }
        if (m > 2)
            x += cnts[m - 2];
        if (x < 0 || x > INT_MAX) {
            free(cnts);
            return -1;
        }
        cnts[m++] = (int)x;
    }
    *out = cnts;
    return m;
}

int coco_rle_decode(const cJSON *rle, int width, int height, uint8_t *mask,
                    char *why, size_t n)
{
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(rle, "size");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(rle, "counts");
    if (!cJSON_IsObject(rle) || !cJSON_IsArray(size) ||
        cJSON_GetArraySize(size) != 2 || !cJSON_IsNumber(size->child) ||
        !cJSON_IsNumber(size->child->next)) {
        snprintf(why, n, "expected {\"size\": [h, w], \"counts\": ...}");
        return -1;
    }
    if (size->child->valuedouble != height ||
        size->child->next->valuedouble != width) {
        snprintf(why, n, "size [%g, %g] is not the image's [%d, %d]",
                 size->child->valuedouble, size->child->next->valuedouble,
                 height, width);
        return -1;
    }
    int *cnts = NULL;
    long m = 0;
    if (cJSON_IsString(counts)) {
        m = rle_from_string(counts->valuestring, &cnts);
        if (m == -2) {
            snprintf(why, n, "out of memory");
            return -1;
        }
        if (m < 0) {
            snprintf(why, n, "\"counts\" is not a compressed RLE string");
            return -1;
        }
    } else if (cJSON_IsArray(counts)) {
        int k = cJSON_GetArraySize(counts);
        cnts = malloc((size_t)(k ? k : 1) * sizeof *cnts);
        if (!cnts) {
            snprintf(why, n, "out of memory");
            return -1;
        }
        for (const cJSON *c = counts->child; c; c = c->next) {
            double v = cJSON_IsNumber(c) ? c->valuedouble : -1;
            if (!(v >= 0 && v <= INT_MAX && v == (double)(int)v)) {
                free(cnts);
                snprintf(why, n, "\"counts\" must be non-negative integers");
                return -1;
            }
            cnts[m++] = (int)v;
        }
    } else {
        snprintf(why, n, "\"counts\" must be a list or a string");
        return -1;
    }
    size_t total = (size_t)width * (size_t)height, pos = 0;
    for (long i = 0; i < m; i++) {
        if ((size_t)cnts[i] > total - pos) {
            free(cnts);
            snprintf(why, n, "the runs cover more than %dx%d pixels", width,
                     height);
            return -1;
        }
        uint8_t v = (i & 1) ? 255 : 0;
        for (size_t k = 0; k < (size_t)cnts[i]; k++, pos++) {
            /* column-major: pixel (x, y) is run position x * height + y */
            size_t x = pos / (size_t)height, y = pos % (size_t)height;
            mask[y * (size_t)width + x] = v;
        }
    }
    free(cnts);
    if (pos != total) {
        snprintf(why, n, "the runs cover %zu of the %dx%d pixels", pos, width,
                 height);
        return -1;
    }
    return 0;
}
