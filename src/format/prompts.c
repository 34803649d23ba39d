/*
 * prompts.c - see prompts.h. cJSON does the parsing; since it keeps no
 * positions, a small scanner over the (already valid) text finds the line of
 * an offending object or key so that messages can say "line 3: ...".
 */
#include "format/prompts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "format/report.h"
#include "io/file.h"
#include "io/npy.h"

void prompts_init(prompt_set *s, const char *cmd)
{
    memset(s, 0, sizeof *s);
    s->cmd = cmd;
}

static void free_object(prompt_object *o)
{
    free(o->points);
    free(o->labels);
    free(o->mask_path);
    free(o->mask);
}

void prompts_free(prompt_set *s)
{
    for (int i = 0; i < s->n; i++)
        free_object(&s->objects[i]);
    free(s->objects);
    free(s->file);
    prompts_init(s, s->cmd);
}

prompt_object *prompts_append(prompt_set *s)
{
    prompt_object *objs =
        realloc(s->objects, (size_t)(s->n + 1) * sizeof *objs);
    if (!objs)
        return NULL;
    s->objects = objs;
    memset(&objs[s->n], 0, sizeof objs[0]);
    return &objs[s->n++];
}

/* One error about an object: "file: line N: ..." or "mobilesam <cmd>: ...". */
static void object_error(const prompt_set *s, const prompt_object *o,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void object_error(const prompt_set *s, const prompt_object *o,
                         const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->file)
        report_file_error(s->file, "line %d: %s", o->line, msg);
    else
        report_cmd_error(s->cmd, "%s", msg);
}

/* ---- positions in the JSON text ---------------------------------------- */

typedef struct {
    const char *text; /* whole file, NUL-terminated */
    const char *root; /* the top-level value */
    const char *file;
    /* A position at or before root and its line, where line_at() counts
     * from (so that the lines of a batch entry's objects are not counted
     * from the start of the file each time); NULL: the text, line 1. */
    const char *mark;
    int mark_line;
} json_doc;

/* Whitespace as cJSON skips it: every byte from 1 to 32 (not only JSON's
 * four), so that the scanner and the parser agree on where values start. */
static const char *skip_ws(const char *p)
{
    while (*p && (unsigned char)*p <= ' ')
        p++;
    return p;
}

static const char *skip_string(const char *p)
{
    for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && p[1])
            p++;
    return *p ? p + 1 : p;
}

static const char *skip_value(const char *p)
{
    if (*p == '"')
        return skip_string(p);
    if (*p != '[' && *p != '{') {
        while ((unsigned char)*p > ' ' && !strchr(",]}", *p))
            p++;
        return p;
    }
    int depth = 0;
    while (*p) {
        if (*p == '"') {
            p = skip_string(p);
            continue;
        }
        if (*p == '[' || *p == '{')
            depth++;
        else if ((*p == ']' || *p == '}') && --depth == 0)
            return p + 1;
        p++;
    }
    return p;
}

/* Start of the array element after the one at p (p at the end). */
static const char *next_element(const char *p)
{
    if (!*p || *p == ']')
        return p;
    p = skip_ws(skip_value(p));
    if (*p == ',')
        p = skip_ws(p + 1);
    return p;
}

/* Start of element i of the array at p (p itself if p is no array: the
 * scanners never step past the text's end, whatever they are given). */
static const char *array_element(const char *p, int i)
{
    if (*p != '[')
        return p;
    p = skip_ws(p + 1);
    for (int k = 0; k < i; k++)
        p = next_element(p);
    return p;
}

/* At q, the start of a member ("key": value) of an object's text: sets
 * *value to the start of its value and returns the start of the next
 * member (or what ends the object). */
static const char *next_member(const char *q, const char **value)
{
    q = skip_ws(skip_string(q));
    if (*q == ':')
        q = skip_ws(q + 1);
    *value = q;
    q = skip_ws(skip_value(q));
    if (*q == ',')
        q = skip_ws(q + 1);
    return q;
}

/* Start of the value of `key` in the object at p (p itself if absent, or
 * if p is no object). */
static const char *object_member(const char *p, const char *key)
{
    if (*p != '{')
        return p;
    size_t len = strlen(key);
    const char *q = skip_ws(p + 1);
    while (*q == '"') {
        const char *end = skip_string(q);
        int match = (size_t)(end - q) == len + 2 && !strncmp(q + 1, key, len);
        q = skip_ws(end);
        if (*q == ':')
            q = skip_ws(q + 1);
        if (match)
            return q;
        q = skip_ws(skip_value(q));
        if (*q == ',')
            q = skip_ws(q + 1);
    }
    return p;
}

/* Position of the value of member `target` of the object `obj` whose text
 * starts at p: the members are walked in order, as cJSON keeps them (so a
 * key with escapes or a repeated key is found all the same); p itself if
 * it is not found, or if p is no object. */
static const char *member_value_at(const char *p, const cJSON *obj,
                                   const cJSON *target)
{
    if (*p != '{')
        return p;
    const char *q = skip_ws(p + 1), *value;
    for (const cJSON *m = obj->child; m && *q == '"'; m = m->next) {
        q = next_member(q, &value);
        if (m == target)
            return value;
    }
    return p;
}

typedef struct {
    const cJSON *m;
    int i; /* its place among the members */
} keyed_member;

static int keyed_cmp(const void *x, const void *y)
{
    const keyed_member *a = x, *b = y;
    int c = strcmp(a->m->string, b->m->string);
    return c ? c : (a->i > b->i) - (a->i < b->i);
}

/* The first member of obj, in document order, whose key an earlier member
 * already has (cJSON keeps both; its lookups take the first, silently
 * dropping the other); NULL if none. *oom is set when it cannot tell. */
static const cJSON *duplicate_member(const cJSON *obj, int *oom)
{
    *oom = 0;
    int n = 0;
    for (const cJSON *m = obj->child; m; m = m->next)
        n++;
    if (n <= 16) { /* the usual case: a few keys, no allocation */
        for (const cJSON *m = obj->child; m; m = m->next)
            for (const cJSON *k = obj->child; k != m; k = k->next)
                if (!strcmp(k->string, m->string))
                    return m;
        return NULL;
    }
    /* Many keys (a batch file's map of image names): sorted, so that a
     * large map costs n log n, not n^2. */
    keyed_member *v = malloc((size_t)n * sizeof *v);
    if (!v) {
        *oom = 1;
        return NULL;
    }
    int i = 0;
    for (const cJSON *m = obj->child; m; m = m->next, i++)
        v[i] = (keyed_member){m, i};
    qsort(v, (size_t)n, sizeof *v, keyed_cmp);
    const cJSON *dup = NULL;
    int dup_at = n;
    for (i = 1; i < n; i++)
        if (v[i].i < dup_at && !strcmp(v[i - 1].m->string, v[i].m->string)) {
            dup = v[i].m;
            dup_at = v[i].i;
        }
    free(v);
    return dup;
}

static int count_lines(const char *from, const char *to)
{
    int n = 0;
    for (const char *c = from; c < to && *c; c++)
        n += *c == '\n';
    return n;
}

static int line_at(const json_doc *d, const char *pos)
{
    if (d->mark && pos >= d->mark)
        return d->mark_line + count_lines(d->mark, pos);
    return 1 + count_lines(d->text, pos);
}

/* The lines of positions met in file order, each counted once: `at` and
 * its line, updated to each position asked for. */
typedef struct {
    const json_doc *d;
    const char *at;
    int line;
} line_counter;

static void line_counter_init(line_counter *c, const json_doc *d)
{
    c->d = d;
    c->at = d->mark ? d->mark : d->text;
    c->line = d->mark ? d->mark_line : 1;
}

static int line_of(line_counter *c, const char *pos)
{
    c->line = pos >= c->at ? c->line + count_lines(c->at, pos)
                           : line_at(c->d, pos);
    c->at = pos;
    return c->line;
}

static int doc_error(const json_doc *d, const char *pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int doc_error(const json_doc *d, const char *pos, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    report_file_error(d->file, "line %d: %s", line_at(d, pos), msg);
    return -1;
}

/* ---- reading the file ---------------------------------------------------- */

/* Checks that buf[0..len) (NUL-terminated at len) is text: returns buf, or
 * NULL after printing an error and freeing it. */
static char *as_text(const char *path, char *buf, size_t len)
{
    if (strlen(buf) != len) {
        report_file_error(path, "not a JSON text file (contains NUL bytes)");
        free(buf);
        return NULL;
    }
    return buf;
}

/* Reads a whole file, NUL-terminated; NULL after printing an error. */
static char *read_text(const char *path)
{
    /* Without blocking on a FIFO; only regular files (see io/file.h). */
    char why[128];
    FILE *fp = file_fopen_input(path, NULL, why, sizeof why);
    if (!fp) {
        report_file_error(path, "cannot open file: %s", why);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len - 1, fp);
        if (len < cap - 1)
            break;
        char *bigger = realloc(buf, cap *= 2);
        if (!bigger)
            free(buf);
        buf = bigger;
    }
    int failed = ferror(fp);
    fclose(fp);
    if (!buf || failed) {
        report_file_error(path, buf ? "cannot read file" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[len] = 0;
    return as_text(path, buf, len);
}

/* read_text() of data[0..size) given as the contents of `path`. */
static char *copy_text(const char *path, const char *data, size_t size)
{
    char *buf = size < (size_t)-1 ? malloc(size + 1) : NULL;
    if (!buf) {
        report_file_error(path, "out of memory");
        return NULL;
    }
    if (size)
        memcpy(buf, data, size);
    buf[size] = 0;
    return as_text(path, buf, size);
}

static int is_coord(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
           fabs(v->valuedouble) < 1e30;
}

static int parse_points(const json_doc *d, const char *at, const cJSON *v,
                        prompt_object *o)
{
    const char *pos = object_member(at, "points");
    const char *want = "\"points\" must be a list of [x, y] pairs";
    if (!cJSON_IsArray(v))
        return doc_error(d, pos, "%s", want);
    int n = cJSON_GetArraySize(v);
    o->points = malloc(2 * (size_t)(n ? n : 1) * sizeof(float));
    if (!o->points)
        return doc_error(d, pos, "out of memory");
    int i = 0;
    for (const cJSON *pt = v->child; pt; pt = pt->next, i++) {
        if (!cJSON_IsArray(pt) || cJSON_GetArraySize(pt) != 2 ||
            !is_coord(pt->child) || !is_coord(pt->child->next))
            return doc_error(d, array_element(pos, i), "%s", want);
        o->points[2 * i] = (float)pt->child->valuedouble;
        o->points[2 * i + 1] = (float)pt->child->next->valuedouble;
    }
    o->n_points = n;
    return 0;
}

static int parse_labels(const json_doc *d, const char *at, const cJSON *v,
                        prompt_object *o)
{
    const char *pos = object_member(at, "labels");
    if (!cJSON_IsArray(v))
        return doc_error(d, pos, "\"labels\" must be a list of 0 or 1");
    int n = cJSON_GetArraySize(v);
    o->labels = malloc((size_t)(n ? n : 1) * sizeof(int));
    if (!o->labels)
        return doc_error(d, pos, "out of memory");
    int i = 0;
    for (const cJSON *l = v->child; l; l = l->next, i++) {
        double x = cJSON_IsNumber(l) ? l->valuedouble : NAN;
        if (!(x == floor(x) && fabs(x) < 1e6))
            return doc_error(d, array_element(pos, i),
                             "\"labels\" must be a list of 0 or 1");
        o->labels[i] = (int)x;
    }
    o->n_labels = n;
    return 0;
}

static int parse_box(const json_doc *d, const char *at, const cJSON *v,
                     prompt_object *o)
{
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 4)
        return doc_error(d, object_member(at, "box"),
                         "\"box\" must be [x0, y0, x1, y1]");
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        if (!is_coord(c))
            return doc_error(d, object_member(at, "box"),
                             "\"box\" must be [x0, y0, x1, y1]");
        o->box[i] = (float)c->valuedouble;
    }
    o->has_box = 1;
    return 0;
}

/* mask_input is relative to the directory of the prompts file. */
static int parse_mask_input(const json_doc *d, const char *at, const cJSON *v,
                            prompt_object *o)
{
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return doc_error(d, object_member(at, "mask_input"),
                         "\"mask_input\" must be the path of a .npy file");
    const char *name = v->valuestring;
    const char *slash = strrchr(d->file, '/');
    int dir_len = (name[0] == '/' || !slash) ? 0 : (int)(slash - d->file) + 1;
    size_t len = (size_t)dir_len + strlen(name) + 1;
    o->mask_path = malloc(len);
    if (!o->mask_path)
        return doc_error(d, at, "out of memory");
    snprintf(o->mask_path, len, "%.*s%s", dir_len, d->file, name);
    return 0;
}

static int all_foreground(const json_doc *d, const char *at, prompt_object *o)
{
    o->labels = malloc((size_t)(o->n_points ? o->n_points : 1) * sizeof(int));
    if (!o->labels)
        return doc_error(d, at, "out of memory");
    for (int i = 0; i < o->n_points; i++)
        o->labels[i] = 1;
    o->n_labels = o->n_points;
    return 0;
}

/* The object `item`, whose text starts at `at`, on line `line`. */
static int parse_object(const json_doc *d, const cJSON *item, const char *at,
                        int line, prompt_object *o)
{
    static const char *const keys[] = {"points", "labels", "box", "mask_input"};
    o->line = line;
    if (!cJSON_IsObject(item))
        return doc_error(d, at, "expected a list of objects");
    for (const cJSON *m = item->child; m; m = m->next) {
        int known = 0;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            known |= strcmp(m->string, keys[k]) == 0;
        if (!known)
            return doc_error(d, object_member(at, m->string),
                             "unknown key \"%s\" (expected points, labels, "
                             "box, mask_input)",
                             m->string);
    }
    int oom;
    const cJSON *dup = duplicate_member(item, &oom);
    if (oom)
        return doc_error(d, at, "out of memory");
    if (dup)
        return doc_error(d, member_value_at(at, item, dup),
                         "duplicate key \"%s\"", dup->string);
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(item, "points")) &&
        parse_points(d, at, v, o))
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(item, "labels");
    if (v ? parse_labels(d, at, v, o) : all_foreground(d, at, o))
        return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(item, "box")) &&
        parse_box(d, at, v, o))
        return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(item, "mask_input")) &&
        parse_mask_input(d, at, v, o))
        return -1;
    if (!o->n_points && !o->has_box)
        return doc_error(d, at, "object has neither \"points\" nor \"box\"");
    return 0;
}

/* The list of objects at d->root; `allow_empty` for batch files, where an
 * image may have no objects. */
static int parse_list(prompt_set *s, const json_doc *d, const cJSON *root,
                      int allow_empty)
{
    if (!cJSON_IsArray(root) ||
        (!allow_empty && cJSON_GetArraySize(root) == 0))
        return doc_error(d, d->root, "expected a list of objects");
    /* The items' texts and lines, walking the text once. */
    line_counter lines;
    line_counter_init(&lines, d);
    const char *at = array_element(d->root, 0);
    for (const cJSON *item = root->child; item; item = item->next) {
        prompt_object *o = prompts_append(s);
        if (!o)
            return doc_error(d, d->root, "out of memory");
        if (parse_object(d, item, at, line_of(&lines, at), o))
            return -1;
        at = next_element(at);
    }
    return 0;
}

/* Parses `text` (malloc'd, freed here), the contents of `path`. */
static int parse_text(prompt_set *s, const char *path, char *text)
{
    if (!text)
        return -1;
    s->file = strdup(path);
    json_doc d = {text, text, path, NULL, 0};
    if (!strncmp(text, "\xEF\xBB\xBF", 3))
        d.root += 3;
    d.root = skip_ws(d.root);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    int rc;
    if (!s->file)
        rc = doc_error(&d, text, "out of memory");
    else if (!root && !*d.root)
        rc = doc_error(&d, d.root, "empty file (expected a list of objects)");
    else if (!root)
        rc = doc_error(&d, end ? end : text, "malformed JSON");
    else
        rc = parse_list(s, &d, root, 0);
    cJSON_Delete(root);
    free(text);
    return rc;
}

int prompts_read_file(prompt_set *s, const char *path)
{
    return parse_text(s, path, read_text(path));
}

int prompts_parse(prompt_set *s, const char *path, const char *data,
                  size_t size)
{
    return parse_text(s, path, copy_text(path, data, size));
}

/* ---- validation ---------------------------------------------------------- */

static int inside(float x, float y, int width, int height)
{
    return x >= 0 && y >= 0 && x <= (float)width && y <= (float)height;
}

/* The field at fault, as the server's API names it ("points[1]"), into
 * field[0..n) when field is given. */
static void name_field(char *field, size_t n, const char *fmt, int i)
{
    if (field)
        snprintf(field, n, fmt, i);
}

static int validate_labels(const prompt_set *s, const prompt_object *o, char *field,
                           size_t n)
{
    if (o->n_labels != o->n_points) {
        name_field(field, n, "labels", 0);
        object_error(s, o, "%d label%s for %d point%s", o->n_labels,
                     o->n_labels == 1 ? "" : "s", o->n_points,
                     o->n_points == 1 ? "" : "s");
        return -1;
    }
    for (int i = 0; i < o->n_labels; i++) {
        if (o->labels[i] != 0 && o->labels[i] != 1) {
            name_field(field, n, "labels[%d]", i);
            object_error(s, o,
                         "label %d is not 0 (background) or 1 "
                         "(foreground)",
                         o->labels[i]);
            return -1;
        }
    }
    return 0;
}

static int validate_geometry(const prompt_set *s, const prompt_object *o,
                             int width, int height, char *field, size_t n)
{
    for (int i = 0; i < o->n_points; i++) {
        float x = o->points[2 * i], y = o->points[2 * i + 1];
        if (!inside(x, y, width, height)) {
            name_field(field, n, "points[%d]", i);
            object_error(s, o, "point (%g, %g) is outside the image (%dx%d)", x,
                         y, width, height);
            return -1;
        }
    }
    if (!o->has_box)
        return 0;
    const float *b = o->box;
    if (b[2] < b[0] || b[3] < b[1]) {
        name_field(field, n, "box", 0);
        object_error(s, o, "box (%g, %g, %g, %g): %s", b[0], b[1], b[2], b[3],
                     b[2] < b[0] ? "x1 < x0" : "y1 < y0");
        return -1;
    }
    if (!inside(b[0], b[1], width, height) ||
        !inside(b[2], b[3], width, height)) {
        name_field(field, n, "box", 0);
        object_error(s, o, "box (%g, %g, %g, %g) is outside the image (%dx%d)",
                     b[0], b[1], b[2], b[3], width, height);
        return -1;
    }
    return 0;
}

int prompts_validate_field(const prompt_set *s, int width, int height, char *field,
                           size_t n)
{
    if (field && n)
        field[0] = 0;
    if (s->n > MOBILESAM_MAX_OBJECTS) { /* before any model work */
        object_error(s, &s->objects[MOBILESAM_MAX_OBJECTS],
                     "%d objects (at most %d per image)", s->n, MOBILESAM_MAX_OBJECTS);
        return -1;
    }
    for (int i = 0; i < s->n; i++) {
        const prompt_object *o = &s->objects[i];
        if (!o->n_points && !o->has_box) {
            object_error(s, o, "no prompt: give --point, --box or --prompts");
            return -1;
        }
        if (o->n_points > MOBILESAM_MAX_POINTS) { /* before any model work */
            object_error(s, o, "%d points (at most %d per object)", o->n_points,
                         MOBILESAM_MAX_POINTS);
            return -1;
        }
        if (validate_labels(s, o, field, n) ||
            validate_geometry(s, o, width, height, field, n))
            return -1;
    }
    return 0;
}

int prompts_validate(const prompt_set *s, int width, int height)
{
    return prompts_validate_field(s, width, height, NULL, 0);
}

static int load_mask(prompt_object *o)
{
    npy_array a;
    char err[512];
    const size_t n = (size_t)MOBILESAM_LOWRES * MOBILESAM_LOWRES;
    if (npy_read(o->mask_path, &a, err, sizeof err) != 0) {
        report_file_error(o->mask_path, "%s", err);
        return -1;
    }
    /* Leading 1s are allowed so that a (1, 1, 256, 256) --logits file of a
     * single mask can be fed back as is. */
    int ok = a.ndim >= 2 && a.shape[a.ndim - 1] == MOBILESAM_LOWRES &&
             a.shape[a.ndim - 2] == MOBILESAM_LOWRES && a.numel == n;
    if (!ok) {
        char shape[128] = "(";
        for (int d = 0; d < a.ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape),
                     d ? ", %ld" : "%ld", a.shape[d]);
        strcat(shape, a.ndim == 1 ? ",)" : ")");
        report_file_error(o->mask_path,
                       "mask input has shape %s, expected "
                       "(256, 256) or (1, 256, 256)",
                       shape);
        npy_free(&a);
        return -1;
    }
    /* NaN or infinite logits would decode to an empty mask with a made-up
     * score, not an error */
    if (!npy_all_finite(&a)) {
        report_file_error(o->mask_path, "contains NaN or infinite values");
        npy_free(&a);
        return -1;
    }
    o->mask = malloc(n * sizeof(float));
    if (o->mask)
        memcpy(o->mask, a.data, n * sizeof(float));
    npy_free(&a);
    if (!o->mask)
        report_file_error(o->mask_path, "out of memory");
    return o->mask ? 0 : -1;
}

int prompts_load_masks(prompt_set *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->objects[i].mask_path && !s->objects[i].mask &&
            load_mask(&s->objects[i]))
            return -1;
    return 0;
}

void prompts_to_api(const prompt_set *s, int multimask, mobilesam_prompt *out)
{
    for (int i = 0; i < s->n; i++) {
        const prompt_object *o = &s->objects[i];
        out[i].points = o->n_points ? o->points : NULL;
        out[i].labels = o->n_points ? o->labels : NULL;
        out[i].n_points = o->n_points;
        out[i].box = o->has_box ? o->box : NULL;
        out[i].mask_input = o->mask;
        out[i].multimask = multimask;
    }
}

/* ---- batch prompt files -------------------------------------------------- */

typedef struct {
    const char *image;  /* as written, without leading "./" */
    const cJSON *list;  /* the objects; checked when the image is processed */
    const char *pos;    /* where the list (or its line) starts in the text */
    int line;           /* the line of pos */
    int order;          /* in the file */
} batch_entry;

struct prompt_batch {
    char *path;
    char *text;
    cJSON **roots; /* one document, or one per line */
    int n_roots;
    batch_entry *e;
    int n;
};

static const char *skip_dot_slash(const char *s)
{
    while (s[0] == '.' && s[1] == '/') {
        s += 2;
        while (*s == '/')
            s++;
    }
    return s;
}

static int add_root(prompt_batch *b, cJSON *root)
{
    cJSON **r = realloc(b->roots, (size_t)(b->n_roots + 1) * sizeof *r);
    if (!r) {
        cJSON_Delete(root);
        return -1;
    }
    b->roots = r;
    r[b->n_roots++] = root;
    return 0;
}

static int add_entry(prompt_batch *b, const char *image, const cJSON *list,
                     const char *pos, int line)
{
    batch_entry *e = realloc(b->e, (size_t)(b->n + 1) * sizeof *e);
    if (!e)
        return -1;
    b->e = e;
    e[b->n] = (batch_entry){skip_dot_slash(image), list, pos, line, b->n};
    b->n++;
    return 0;
}

static int open_map(prompt_batch *b, const json_doc *d)
{
    static const char want[] =
        "expected an object mapping image names to lists of objects";
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(d->root, &end, 1);
    if (!root && !*d->root)
        return doc_error(d, d->root, "empty file (%s)", want);
    if (!root)
        return doc_error(d, end ? end : d->root, "malformed JSON");
    if (add_root(b, root))
        return doc_error(d, d->root, "out of memory");
    if (!cJSON_IsObject(root))
        return doc_error(d, d->root, "%s", want);
    /* The same image name twice as a key: JSON readers disagree on what it
     * means (Python's json keeps the last list), so refuse, not guess. */
    int oom;
    const cJSON *dup = duplicate_member(root, &oom);
    if (oom)
        return doc_error(d, d->root, "out of memory");
    if (dup)
        return doc_error(d, member_value_at(d->root, root, dup),
                         "duplicate key \"%s\"", dup->string);
    /* The members' values and lines, walking the text once (as
     * member_value_at() would find them one by one). */
    line_counter lines;
    line_counter_init(&lines, d);
    const char *q = *d->root == '{' ? skip_ws(d->root + 1) : "";
    for (const cJSON *m = root->child; m; m = m->next) {
        const char *pos = d->root;
        if (*q == '"')
            q = next_member(q, &pos);
        else
            q = ""; /* out of step: the rest at the object's start */
        if (add_entry(b, m->string, m, pos, line_of(&lines, pos)))
            return doc_error(d, d->root, "out of memory");
    }
    return 0;
}

static int open_line(prompt_batch *b, const json_doc *d, const char *line,
                     const char *line_end, int line_no)
{
    static const char want[] =
        "expected {\"image\": \"name\", \"objects\": [...]} on each line";
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(line, &end, 0);
    if (!root)
        return doc_error(d, end && end < line_end ? end : line,
                         "malformed JSON");
    if (add_root(b, root))
        return doc_error(d, line, "out of memory");
    if (end > line_end || (*skip_ws(end) && skip_ws(end) < line_end))
        return doc_error(d, line, "malformed JSON line (one object per "
                                  "line)");
    int oom;
    const cJSON *dup = cJSON_IsObject(root) ? duplicate_member(root, &oom)
                                            : (oom = 0, NULL);
    if (oom)
        return doc_error(d, line, "out of memory");
    if (dup)
        return doc_error(d, member_value_at(line, root, dup),
                         "duplicate key \"%s\"", dup->string);
    const cJSON *image = cJSON_GetObjectItemCaseSensitive(root, "image");
    if (!cJSON_IsObject(root) || !cJSON_IsString(image) ||
        !image->valuestring[0])
        return doc_error(d, line, "%s", want);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "objects");
    const char *pos = list ? member_value_at(line, root, list) : line;
    if (add_entry(b, image->valuestring, list, pos,
                  line_no + count_lines(line, pos)))
        return doc_error(d, line, "out of memory");
    return 0;
}

static int open_lines(prompt_batch *b, const json_doc *d)
{
    const char *p = d->root;
    for (int line_no = 1 + count_lines(d->text, p); *p; line_no++) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        const char *line = p;
        while (line < eol && (*line == ' ' || *line == '\t' || *line == '\r'))
            line++;
        if (line < eol && open_line(b, d, line, eol, line_no))
            return -1;
        p = *eol ? eol + 1 : eol;
    }
    return 0;
}

static int entry_cmp(const void *x, const void *y)
{
    const batch_entry *a = x, *b = y;
    int c = strcmp(a->image, b->image);
    return c ? c : (a->order > b->order) - (a->order < b->order);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

/* Opens `text` (malloc'd, then owned by the batch), the contents of
 * `path`; frees it on failure. */
static int batch_open_text(const char *path, char *text, prompt_batch **out)
{
    *out = NULL;
    if (!text)
        return -1;
    prompt_batch *b = calloc(1, sizeof *b);
    if (!b || !(b->path = strdup(path))) {
        free(b);
        free(text);
        report_file_error(path, "out of memory");
        return -1;
    }
    b->text = text;
    json_doc d = {b->text, b->text, path, NULL, 0};
    if (!strncmp(b->text, "\xEF\xBB\xBF", 3))
        d.root += 3;
    int lines = has_suffix(path, ".jsonl") || has_suffix(path, ".ndjson");
    if (!lines)
        d.root = skip_ws(d.root);
    if (lines ? open_lines(b, &d) : open_map(b, &d)) {
        prompts_batch_free(b);
        return -1;
    }
    if (b->n > 1)
        qsort(b->e, (size_t)b->n, sizeof *b->e, entry_cmp);
    *out = b;
    return 0;
}

int prompts_batch_open(const char *path, prompt_batch **out)
{
    *out = NULL;
    return batch_open_text(path, read_text(path), out);
}

int prompts_batch_parse(const char *path, const char *data, size_t size,
                        prompt_batch **out)
{
    *out = NULL;
    return batch_open_text(path, copy_text(path, data, size), out);
}

int prompts_batch_count(const prompt_batch *b)
{
    return b->n;
}

const char *prompts_batch_image(const prompt_batch *b, int i)
{
    return b->e[i].image;
}

int prompts_batch_get(const prompt_batch *b, const char *image,
                      prompt_set *s)
{
    image = skip_dot_slash(image);
    int lo = 0, hi = b->n; /* first entry >= image */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(b->e[mid].image, image) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int found = 0;
    for (int i = lo; i < b->n && !strcmp(b->e[i].image, image); i++) {
        if (!s->file && !(s->file = strdup(b->path))) {
            report_file_error(b->path, "out of memory");
            return -1;
        }
        json_doc d = {b->text, b->e[i].pos, b->path, b->e[i].pos,
                      b->e[i].line};
        if (parse_list(s, &d, b->e[i].list, 1))
            return -1;
        found++;
    }
    return found;
}

void prompts_batch_free(prompt_batch *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->n_roots; i++)
        cJSON_Delete(b->roots[i]);
    free(b->roots);
    free(b->e);
    free(b->text);
    free(b->path);
    free(b);
}
