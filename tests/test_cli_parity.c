/*
 * test_cli_parity.c - the mobilesam executable against the official
 * references of the fixture pack (refs/cases.json): for every image,
 * `embed` once, then `seg --embedding` for every prompt case, built with the
 * flags a user would type (--point/--label/--box/--mask-input/--multimask,
 * or --prompts for batched cases). Checks the --logits output, the --json
 * scores, areas, boxes and file names, and every mask PNG; the saved
 * embedding where a reference exists; and one full run (encoder included)
 * that must equal the --embedding path. Needs MOBILESAM_TESTDATA.
 * With MOBILESAM_PARITY_PACK=sam_vit_b and MOBILESAM_PARITY_WEIGHTS (the
 * converted synthetic vit_b, made by the vit_b_weights fixture), the same
 * checks run on SAM ViT-B against that sub-pack's references;
 * MOBILESAM_PARITY_IMAGES (comma-separated) restricts the images.
 *
 * With MOBILESAM_PARITY_PRECISION=fp16 or int8 (ctest: test_cli_fidelity_fp16
 * and _int8), every command gets --precision P and the reduced-precision
 * tolerances replace the float32 ones: embedding relative RMS error
 * rms(ours - ref) / rms(ref) <= 2e-3 (fp16) / 3e-2 (int8); predicted IoU
 * within 0.002 / 0.02; every mask IoU >= 0.995 (fp16), or median >= 0.98
 * and every mask >= 0.95 (int8). The low-res logits are printed, not judged.
 * The precision used is read from the fallback notice of `embed` (none:
 * the one asked) and must be the one the embedding file records; a
 * fallback is announced loudly, and the figures are then the fallback's.
 */
#include "cli_harness.h"

#include <math.h>

#include <cJSON.h>
#include <stb_image.h>

#include "io/npy.h"

#define LOGITS_TOL 1e-4
#define SCORE_TOL 1e-4
#define EMBED_TOL 1e-3
#define MIN_IOU 0.995

static const char *g_td;
static char *g_dir, *g_weights;

/* MOBILESAM_PARITY_PRECISION (NULL: float32, the tolerances above) */
typedef struct {
    const char *name;
    double emb_rel_rms, score, min_iou, median_iou;
} precision_tol;
static const precision_tol g_tols[] = {
    {"fp16", 2e-3, 0.002, 0.995, 0.995},
    {"int8", 3e-2, 0.02, 0.95, 0.98},
};
static const precision_tol *g_prec;
static char g_used[8] = ""; /* the precision the CPU ran, from the notice */
/* every mask's IoU and |score - ref| (the medians), the worst embedding */
static double *g_ious, *g_scores, g_worst_rel_rms = 0;
static int g_n_masks, g_cap_masks;

static void record_mask(double iou, double score_diff)
{
    if (g_n_masks == g_cap_masks) {
        g_cap_masks = g_cap_masks ? 2 * g_cap_masks : 256;
        g_ious = realloc(g_ious, sizeof *g_ious * (size_t)g_cap_masks);
        g_scores = realloc(g_scores, sizeof *g_scores * (size_t)g_cap_masks);
        if (!g_ious || !g_scores) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    g_ious[g_n_masks] = iou;
    g_scores[g_n_masks++] = score_diff;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* rms(a - b) / rms(b) */
static double rel_rms(const float *a, const float *b, size_t n)
{
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return r > 0 ? sqrt(d / r) : INFINITY;
}

/* Adds "--precision P" to a command line when a precision is tested. */
static void arg_precision(const char **v, int *n)
{
    if (!g_prec)
        return;
    v[(*n)++] = "--precision";
    v[(*n)++] = g_prec->name;
}

/* ---- argument lists --------------------------------------------------------
 */

typedef struct {
    const char *v[CH_MAX_ARGS];
    char *owned[CH_MAX_ARGS];
    int n, n_owned;
} arglist;

static void arg(arglist *a, const char *s)
{
    if (a->n < CH_MAX_ARGS - 1)
        a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void argf(arglist *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void argf(arglist *a, const char *fmt, ...)
{
    char buf[CH_PATH];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *s = strdup(buf);
    if (a->n_owned < CH_MAX_ARGS)
        a->owned[a->n_owned++] = s;
    arg(a, s);
}

static void arglist_free(arglist *a)
{
    for (int i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
    a->n = a->n_owned = 0;
}

static double num(const cJSON *v)
{
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* ---- comparisons -----------------------------------------------------------
 */

typedef struct {
    double logits, score, min_iou, area; /* worst over the masks of a case */
} case_stats;

static int read_npy(const char *path, npy_array *a)
{
    char err[512];
    if (npy_read(path, a, err, sizeof err) == 0)
        return 0;
    TU_CHECK(0, "%s: %s", path, err);
    return -1;
}

/* IoU of two 8-bit masks of the same size, and the pixel count of a. */
static double png_iou(const char *ours, const char *ref, long *area)
{
    int w1, h1, c1, w2, h2, c2;
    unsigned char *a = stbi_load(ours, &w1, &h1, &c1, 1);
    unsigned char *b = stbi_load(ref, &w2, &h2, &c2, 1);
    double iou = -1;
    *area = -1;
    TU_CHECK(a && b, "cannot read %s or %s", ours, ref);
    if (a && b && w1 == w2 && h1 == h2) {
        long inter = 0, uni = 0, n = 0;
        for (long i = 0; i < (long)w1 * h1; i++) {
            inter += a[i] && b[i];
            uni += a[i] || b[i];
            n += a[i] != 0;
        }
        iou = uni ? (double)inter / (double)uni : 1.0;
        *area = n;
    } else if (a && b) {
        TU_CHECK(0, "%s is %dx%d, reference %dx%d", ours, w1, h1, w2, h2);
    }
    stbi_image_free(a);
    stbi_image_free(b);
    return iou;
}

static double compare_logits(const char *ours, const char *ref, int *b, int *c)
{
    npy_array x, y;
    double d = INFINITY;
    *b = *c = 0;
    if (read_npy(ours, &x))
        return d;
    if (read_npy(ref, &y) == 0) {
        int same = x.ndim == 4 && y.ndim == 4 && x.numel == y.numel;
        for (int i = 0; same && i < 4; i++)
            same = x.shape[i] == y.shape[i];
        TU_CHECK(same, "%s: shape differs from %s", ours, ref);
        if (same) {
            d = tu_max_abs_diff(x.data, y.data, x.numel);
            *b = (int)y.shape[0];
            *c = (int)y.shape[1];
        }
        npy_free(&y);
    }
    npy_free(&x);
    return d;
}

/* The mask file of object b, mask m, as `seg -o stem.png` names it. */
static void mask_name(char *buf, const char *dir, int single, int b, int m)
{
    if (single)
        ch_path(buf, "%s/m.png", dir);
    else
        ch_path(buf, "%s/m_%d_%d.png", dir, b, m);
}

/* Checks one mask entry of the JSON output against the PNG and the case. */
static void check_mask(const cJSON *mask, const char *file, const char *ref_png,
                       double ref_iou, double ref_area, case_stats *st)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(mask, "file");
    TU_CHECK(cJSON_IsString(f) && !strcmp(f->valuestring, file),
             "json file is %s, expected %s",
             cJSON_IsString(f) ? f->valuestring : "(none)", file);
    double ds =
        fabs(num(cJSON_GetObjectItemCaseSensitive(mask, "score")) - ref_iou);
    st->score = isnan(ds) || ds > st->score ? ds : st->score;
    long area;
    double iou = png_iou(file, ref_png, &area);
    st->min_iou = iou < st->min_iou ? iou : st->min_iou;
    record_mask(iou, isnan(ds) ? INFINITY : ds);
    double da = fabs((double)area - ref_area);
    st->area = da > st->area ? da : st->area;
    double json_area = num(cJSON_GetObjectItemCaseSensitive(mask, "area"));
    TU_CHECK(json_area == (double)area, "%s: json area %g, png has %ld pixels",
             file, json_area, area);
    const cJSON *bbox = cJSON_GetObjectItemCaseSensitive(mask, "bbox");
    TU_CHECK(cJSON_GetArraySize(bbox) == 4 &&
                 (area == 0) == (num(cJSON_GetArrayItem(bbox, 2)) == 0),
             "%s: bad bbox", file);
}

static void check_json(const char *dir, const cJSON *cs, const char *refs,
                       const char *id, int n_obj, int n_masks, case_stats *st)
{
    char path[CH_PATH], file[CH_PATH], ref_png[CH_PATH];
    ch_path(path, "%s/r.json", dir);
    char *text = ch_read(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *objs = cJSON_GetObjectItemCaseSensitive(j, "objects");
    const cJSON *iou = cJSON_GetObjectItemCaseSensitive(cs, "iou");
    const cJSON *area = cJSON_GetObjectItemCaseSensitive(cs, "mask_area");
    TU_CHECK(cJSON_GetArraySize(objs) == n_obj,
             "%s: %d objects in json, "
             "expected %d",
             path, cJSON_GetArraySize(objs), n_obj);
    int single = n_obj == 1 && n_masks == 1;
    for (int b = 0; b < n_obj && b < cJSON_GetArraySize(objs); b++) {
        const cJSON *masks = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(objs, b), "masks");
        TU_CHECK(cJSON_GetArraySize(masks) == n_masks,
                 "%s: object %d has %d "
                 "masks, expected %d",
                 path, b, cJSON_GetArraySize(masks), n_masks);
        for (int m = 0; m < n_masks && m < cJSON_GetArraySize(masks); m++) {
            mask_name(file, dir, single, b, m);
            ch_path(ref_png, "%s/%s.b%d.m%d.png", refs, id, b, m);
            check_mask(cJSON_GetArrayItem(masks, m), file, ref_png,
                       num(cJSON_GetArrayItem(cJSON_GetArrayItem(iou, b), m)),
                       num(cJSON_GetArrayItem(cJSON_GetArrayItem(area, b), m)),
                       st);
        }
    }
    cJSON_Delete(j);
}

/* ---- building the prompt of a case -----------------------------------------
 */

static void add_point_flags(arglist *a, const cJSON *cs)
{
    const cJSON *p, *l;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(cs, "points"))
        argf(a, "--point=%.9g,%.9g", num(p->child), num(p->child->next));
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(cs, "labels"))
        argf(a, "--label=%d", (int)num(l));
    const cJSON *box = cJSON_GetObjectItemCaseSensitive(cs, "box");
    if (box)
        argf(a, "--box=%.9g,%.9g,%.9g,%.9g", num(cJSON_GetArrayItem(box, 0)),
             num(cJSON_GetArrayItem(box, 1)), num(cJSON_GetArrayItem(box, 2)),
             num(cJSON_GetArrayItem(box, 3)));
}

/* batch_points / batch_labels / batch_boxes -> a --prompts file. */
static int write_batch_prompts(const cJSON *cs, const char *path)
{
    const cJSON *pts = cJSON_GetObjectItemCaseSensitive(cs, "batch_points");
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(cs, "batch_labels");
    const cJSON *box = cJSON_GetObjectItemCaseSensitive(cs, "batch_boxes");
    int n = cJSON_GetArraySize(pts ? pts : box);
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (pts)
            cJSON_AddItemToObject(
                o, "points", cJSON_Duplicate(cJSON_GetArrayItem(pts, i), 1));
        if (lab)
            cJSON_AddItemToObject(
                o, "labels", cJSON_Duplicate(cJSON_GetArrayItem(lab, i), 1));
        if (box)
            cJSON_AddItemToObject(
                o, "box", cJSON_Duplicate(cJSON_GetArrayItem(box, i), 1));
        cJSON_AddItemToArray(list, o);
    }
    char *text = cJSON_Print(list);
    int rc = text ? ch_write(path, text, strlen(text)) : -1;
    free(text);
    cJSON_Delete(list);
    return rc;
}

/* mask_input: low-res logits [0, mask_input_index] of another case's
 * reference, saved as (1, 256, 256). */
static int write_mask_input(const cJSON *cs, const char *refs, const char *path)
{
    const char *src =
        cJSON_GetObjectItemCaseSensitive(cs, "mask_input")->valuestring;
    int idx =
        (int)num(cJSON_GetObjectItemCaseSensitive(cs, "mask_input_index"));
    char ref[CH_PATH], err[512];
    ch_path(ref, "%s/%s.lowres.npy", refs, src);
    npy_array a;
    if (read_npy(ref, &a))
        return -1;
    const long shape[3] = {1, 256, 256};
    int rc = -1;
    if (a.ndim == 4 && idx < a.shape[1])
        rc = npy_write(path, a.data + (size_t)idx * 256 * 256, shape, 3, NULL,
                       err, sizeof err);
    npy_free(&a);
    return rc;
}

static int build_prompt(arglist *a, const cJSON *cs, const char *refs,
                        const char *dir)
{
    if (cJSON_GetObjectItemCaseSensitive(cs, "batch_points") ||
        cJSON_GetObjectItemCaseSensitive(cs, "batch_boxes")) {
        argf(a, "%s/prompts.json", dir);
        const char *file = a->v[a->n - 1];
        a->v[a->n - 1] = "--prompts";
        arg(a, file);
        if (write_batch_prompts(cs, file))
            return -1;
    } else {
        add_point_flags(a, cs);
    }
    if (cJSON_GetObjectItemCaseSensitive(cs, "mask_input")) {
        arg(a, "--mask-input");
        argf(a, "%s/mask_input.npy", dir);
        if (write_mask_input(cs, refs, a->v[a->n - 1]))
            return -1;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cs, "multimask")))
        arg(a, "--multimask");
    return 0;
}

/* ---- one image -------------------------------------------------------------
 */

static void run_case(const char *name, const char *image, const char *emb,
                     const cJSON *cs)
{
    const char *id = cJSON_GetObjectItemCaseSensitive(cs, "id")->valuestring;
    char dir[CH_PATH], refs[CH_PATH], ref_npy[CH_PATH];
    ch_path(dir, "%s/%s_%s", g_dir, name, id);
    ch_path(refs, "%s/refs/%s", g_td, name);
    ch_path(ref_npy, "%s/%s.lowres.npy", refs, id);
    mkdir(dir, 0755);
    arglist a = {0};
    arg(&a, "seg");
    arg(&a, image);
    arg(&a, "-w");
    arg(&a, g_weights);
    arg(&a, "--embedding");
    arg(&a, emb);
    argf(&a, "-o%s/m.png", dir);
    argf(&a, "--json=%s/r.json", dir);
    argf(&a, "--logits=%s/l.npy", dir);
    if (g_prec) {
        arg(&a, "--precision");
        arg(&a, g_prec->name);
    }
    TU_CHECK(build_prompt(&a, cs, refs, dir) == 0,
             "%s/%s: cannot build the "
             "prompt",
             name, id);
    ch_result r = ch_run(g_dir, a.v);
    TU_CHECK(r.code == 0, "%s/%s: exit %d: %s", name, id, r.code, r.err);
    if (r.code == 0) {
        char path[CH_PATH];
        int b, c;
        ch_path(path, "%s/l.npy", dir);
        case_stats st = {compare_logits(path, ref_npy, &b, &c), 0, 2, 0};
        check_json(dir, cs, refs, id, b, c, &st);
        printf("%-9s %-22s %dx%d masks  logits max|d| %.2e  score max|d| "
               "%.2e  min IoU %.5f  area max|d| %.0f\n",
               name, id, b, c, st.logits, st.score, st.min_iou, st.area);
        if (!g_prec) {
            TU_CHECK(st.logits <= LOGITS_TOL, "%s/%s: logits max|d| %g", name,
                     id, st.logits);
            TU_CHECK(st.score <= SCORE_TOL, "%s/%s: score max|d| %g", name, id,
                     st.score);
            TU_CHECK(st.min_iou >= MIN_IOU, "%s/%s: mask IoU %g", name, id,
                     st.min_iou);
        } else {
            TU_CHECK(st.score <= g_prec->score, "%s/%s %s: score max|d| %g > %g",
                     name, id, g_prec->name, st.score, g_prec->score);
            TU_CHECK(st.min_iou >= g_prec->min_iou,
                     "%s/%s %s: mask IoU %g < %g", name, id, g_prec->name,
                     st.min_iou, g_prec->min_iou);
        }
    }
    ch_free(&r);
    arglist_free(&a);
}

/* The precision `embed --precision P` ran: P, or the one its notice names
 * ("mobilesam: P is not available here (...); running Q"); it must be the
 * one the embedding file records, and the same for every image. */
static void check_used(const char *name, const char *emb, const char *err)
{
    char used[8] = "";
    const char *notice = strstr(err, "not available here");
    const char *running = notice ? strstr(notice, "; running ") : NULL;
    if (running)
        sscanf(running, "; running %7[a-z0-9]", used);
    else
        snprintf(used, sizeof used, "%s", g_prec->name);
    TU_CHECK(!notice || used[0], "embed %s: unreadable notice: %s", name, err);
    TU_CHECK(!g_used[0] || !strcmp(g_used, used),
             "embed %s: ran %s, the image before %s", name, used, g_used);
    if (!g_used[0]) {
        snprintf(g_used, sizeof g_used, "%s", used);
        if (strcmp(used, g_prec->name))
            printf("\n*** %s ASKED, %s USED: this CPU lacks the instructions "
                   "(%.*s); the figures below are the %s fallback's, not "
                   "%s's ***\n\n",
                   g_prec->name, used, (int)strcspn(err, "\n"), err, used,
                   g_prec->name);
        else
            printf("precision: %s asked, %s used (no fallback notice)\n",
                   g_prec->name, used);
    }
    npy_array x;
    if (read_npy(emb, &x))
        return;
    char want[32];
    snprintf(want, sizeof want, "\"precision\":\"%s\"", used);
    TU_CHECK(x.comment && strstr(x.comment, want),
             "%s: the metadata does not record %s: %s", emb, want,
             x.comment ? x.comment : "(none)");
    npy_free(&x);
}

/* embed once; compare with refs/<name>/embedding.npy when there is one. */
static int embed_image(const char *name, const char *image, const char *emb)
{
    const char *v[10] = {"embed", image, "-w", g_weights, "-o", emb};
    int n = 6;
    arg_precision(v, &n);
    v[n] = NULL;
    ch_result r = ch_run(g_dir, v);
    TU_CHECK(r.code == 0, "embed %s: exit %d: %s", name, r.code, r.err);
    int code = r.code;
    if (g_prec && code == 0)
        check_used(name, emb, r.err);
    ch_free(&r);
    char ref[CH_PATH];
    ch_path(ref, "%s/refs/%s/embedding.npy", g_td, name);
    npy_array x, y;
    if (code != 0 || !ch_exists(ref) || read_npy(emb, &x))
        return code;
    if (read_npy(ref, &y) == 0) {
        TU_CHECK(x.numel == y.numel && x.ndim == 4 && x.shape[1] == 256,
                 "%s: embedding shape", emb);
        double d = x.numel == y.numel ? tu_max_abs_diff(x.data, y.data, x.numel)
                                      : INFINITY;
        double rr = x.numel == y.numel ? rel_rms(x.data, y.data, x.numel)
                                       : INFINITY;
        g_worst_rel_rms = rr > g_worst_rel_rms ? rr : g_worst_rel_rms;
        printf("%-9s %-22s max|d| %.2e  relative RMS error %.2e\n", name,
               "embedding", d, rr);
        if (!g_prec)
            TU_CHECK(d <= EMBED_TOL, "%s: embedding max|d| %g", name, d);
        else
            TU_CHECK(rr <= g_prec->emb_rel_rms,
                     "%s %s: embedding relative RMS error %g > %g", name,
                     g_prec->name, rr, g_prec->emb_rel_rms);
        npy_free(&y);
    }
    npy_free(&x);
    return code;
}

/* The full pipeline (encoder in the same run) for zidane `point`: the single
 * mask goes to exactly -o's name and everything equals the --embedding run. */
static void full_pipeline(void)
{
    char image[CH_PATH], dir[CH_PATH], o[CH_PATH], l[CH_PATH], ov[CH_PATH],
        j[CH_PATH];
    ch_path(image, "%s/images/zidane.png", g_td);
    ch_path(dir, "%s/full", g_dir);
    mkdir(dir, 0755);
    ch_path(o, "%s/m.png", dir);
    ch_path(l, "%s/l.npy", dir);
    ch_path(ov, "%s/overlay.png", dir);
    ch_path(j, "%s/r.json", dir);
    const char *v[20] = {"seg",    image, "-w",        g_weights, "--point",
                         "900,370", "-o", o,           "--logits", l,
                         "--overlay", ov, "--json",    j};
    int n = 14;
    arg_precision(v, &n);
    v[n] = NULL;
    ch_result r = ch_run(g_dir, v);
    TU_CHECK(r.code == 0, "full pipeline: exit %d: %s", r.code, r.err);
    ch_free(&r);
    char emb_l[CH_PATH], emb_o[CH_PATH], other[CH_PATH];
    ch_path(emb_l, "%s/zidane_point/l.npy", g_dir);
    ch_path(emb_o, "%s/zidane_point/m.png", g_dir);
    ch_path(other, "%s/m_0_0.png", dir);
    TU_CHECK(ch_exists(o) && !ch_exists(other),
             "full pipeline: the single "
             "mask is not exactly %s",
             o);
    npy_array x, y;
    double d = INFINITY;
    if (read_npy(l, &x) == 0) {
        if (read_npy(emb_l, &y) == 0) {
            d = x.numel == y.numel ? tu_max_abs_diff(x.data, y.data, x.numel)
                                   : INFINITY;
            npy_free(&y);
        }
        npy_free(&x);
    }
    long area;
    double iou = png_iou(o, emb_o, &area);
    int w = 0, h = 0, comp = 0;
    stbi_info(ov, &w, &h, &comp);
    printf("%-9s %-22s vs --embedding: logits max|d| %.2e  mask IoU %.5f  "
           "overlay %dx%dx%d\n",
           "zidane", "point (full pipeline)", d, iou, w, h, comp);
    TU_CHECK(d <= 1e-6, "full pipeline differs from --embedding: %g", d);
    TU_CHECK(iou == 1.0, "full pipeline mask differs: IoU %g", iou);
    TU_CHECK(w == 1280 && h == 720 && comp == 3, "overlay is %dx%dx%d", w, h,
             comp);
}

/* The figures of the whole run, and the median IoU (int8: >= 0.98). */
static void summarize_precision(void)
{
    double worst_iou = 2, worst_score = 0;
    for (int i = 0; i < g_n_masks; i++) {
        worst_iou = g_ious[i] < worst_iou ? g_ious[i] : worst_iou;
        worst_score = g_scores[i] > worst_score ? g_scores[i] : worst_score;
    }
    double med_iou = median(g_ious, g_n_masks);
    double med_score = median(g_scores, g_n_masks);
    printf("\n%s (asked) / %s (used), %d masks: mask IoU worst %.5f median "
           "%.5f (>= %.3f / %.3f); score |d| worst %.2e median %.2e (<= %g); "
           "embedding relative RMS error worst %.2e (<= %g)\n",
           g_prec->name, g_used[0] ? g_used : "?", g_n_masks, worst_iou,
           med_iou, g_prec->min_iou, g_prec->median_iou, worst_score,
           med_score, g_prec->score, g_worst_rel_rms, g_prec->emb_rel_rms);
    if (g_used[0] && strcmp(g_used, g_prec->name))
        printf("*** these are the %s fallback's figures: %s itself was NOT "
               "measured on this CPU ***\n", g_used, g_prec->name);
    TU_CHECK(g_used[0], "the precision used is unknown");
    TU_CHECK(g_n_masks > 0, "no mask compared");
    TU_CHECK(med_iou >= g_prec->median_iou, "%s: median mask IoU %g < %g",
             g_prec->name, med_iou, g_prec->median_iou);
    free(g_ious);
    free(g_scores);
}

static void run_image(const cJSON *img)
{
    const char *name = img->string;
    const char *file =
        cJSON_GetObjectItemCaseSensitive(img, "image")->valuestring;
    char image[CH_PATH], emb[CH_PATH];
    ch_path(image, "%s/images/%s", g_td, file);
    ch_path(emb, "%s/%s.emb.npy", g_dir, name);
    if (embed_image(name, image, emb) != 0)
        return;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItemCaseSensitive(img, "cases"))
        run_case(name, image, emb, cs);
}

int main(void)
{
    g_td = tu_testdata();
    if (!g_td)
        tu_skip("MOBILESAM_TESTDATA is not set");
    static char pack_root[CH_PATH];
    const char *pack = getenv("MOBILESAM_PARITY_PACK");
    const char *weights = getenv("MOBILESAM_PARITY_WEIGHTS");
    const char *prec = getenv("MOBILESAM_PARITY_PRECISION");
    for (size_t i = 0; prec && *prec && i < sizeof g_tols / sizeof *g_tols; i++)
        if (!strcmp(prec, g_tols[i].name))
            g_prec = &g_tols[i];
    if (prec && *prec && !g_prec) {
        fprintf(stderr, "MOBILESAM_PARITY_PRECISION: expected fp16 or int8, "
                        "got '%s'\n", prec);
        return 1;
    }
    if (pack && *pack)
        g_td = ch_path(pack_root, "%s/%s", g_td, pack);
    char path[CH_PATH];
    ch_path(path, "%s/refs/cases.json", g_td);
    char *text = ch_read(path, NULL);
    cJSON *cases = text ? cJSON_Parse(text) : NULL;
    free(text);
    g_dir = ch_mkdtemp();
    if (weights && *weights)
        g_weights = ch_exists(weights) ? strdup(weights) : NULL;
    else
        g_weights = g_dir ? ch_convert_weights(g_td, g_dir) : NULL;
    if (!cases || !g_weights) {
        fprintf(stderr, "cannot read %s or convert the weights\n", path);
        ch_rmtree(g_dir);
        return 1;
    }
    const cJSON *img;
    int n_images = 0;
    /* MOBILESAM_PARITY_IMAGES=zidane,tiny: only those (the sanitizer build) */
    const char *only = getenv("MOBILESAM_PARITY_IMAGES");
    cJSON_ArrayForEach(img, cases)
    {
        if (only && *only && !strstr(only, img->string))
            continue;
        run_image(img);
        n_images++;
    }
    TU_CHECK(n_images >= (only && *only ? 1 : 4), "only %d images in cases.json",
             n_images);
    full_pipeline();
    if (g_prec)
        summarize_precision();
    cJSON_Delete(cases);
    if (!tu_failures)
        ch_rmtree(g_dir);
    else
        printf("outputs kept in %s\n", g_dir);
    free(g_dir);
    free(g_weights);
    return tu_finish("test_cli_parity");
}
