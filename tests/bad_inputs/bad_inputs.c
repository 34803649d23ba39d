/*
 * bad_inputs.c - the bad-input suite (ctest "bad_inputs"): every subcommand
 * of the mobilesam executable (seg, embed, bench, compare, batch,
 * everything) given each kind of bad input that applies to it: missing,
 * empty, directory, mislabelled text, truncated or corrupt images, absurd
 * header dimensions, files known to crash or hang stb_image, bad weights,
 * malformed or ill-typed prompts JSON, out-of-range, non-finite or too many
 * coordinates, malformed .npy embeddings and mask inputs, bad option values.
 *
 * Every case must end with exit 2 (bad command line) or 1 (bad data),
 * exactly one line on stderr naming the offending file (data errors) or the
 * option (usage errors, which also point to --help), nothing on stdout and
 * nothing in the output location, not even a temporary file. Batch runs go
 * on past bad images: the good ones get their outputs, the bad ones are
 * counted in the summary and named once each on stderr.
 *
 * All bad files are made here, at run time (two tiny crash samples are
 * spelled out below). Needs the fixture pack (MOBILESAM_TESTDATA) for the
 * weights and tiny.png; bad inputs are refused before the encoder, which
 * runs only three times (the good images of the batch runs).
 */
#include "cli_harness.h"
#include "cli_inputs.h"
#include "bad_images.h"

#include <sys/resource.h>

#include <stb_image_write.h>

#include "io/image.h"
#include "io/npy.h"
#include "io/weights.h"
#include "mobilesam.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char g_dir[1024];  /* the inputs, good and bad */
static char g_out[1100];  /* the output location: must stay empty */
static char g_tiny[1200]; /* the fixture's tiny.png, 97x61 */
static char g_weights[1200];

static const char *const g_cmds[] = {"seg",     "embed", "bench",
                                     "compare", "batch", "everything"};
#define N_CMDS 6
static int g_cases[N_CMDS];

/* dir/name in a static ring of buffers, for building argument lists. */
static const char *at(const char *dir, const char *name)
{
    static char ring[64][4096];
    static int next;
    char *p = ring[next++ % 64];
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}
static const char *in(const char *name) { return at(g_dir, name); }
static const char *out(const char *name) { return at(g_out, name); }

/* A path that outlives the ring; all freed by free_kept() at the end (so
 * that LeakSanitizer stays quiet). */
static char *g_kept[256];
static int g_n_kept;
static const char *keep(const char *path)
{
    char *p = strdup(path);
    if (p && g_n_kept < (int)(sizeof g_kept / sizeof *g_kept))
        g_kept[g_n_kept++] = p;
    return p;
}
static void free_kept(void)
{
    while (g_n_kept > 0)
        free(g_kept[--g_n_kept]);
}

static void count_case(const char *cmd)
{
    for (int i = 0; i < N_CMDS; i++)
        if (!strcmp(cmd, g_cmds[i]))
            g_cases[i]++;
}

static void clear_outputs(void)
{
    ch_rmtree(g_out);
    mkdir(g_out, 0755);
}

/* Runs args: exit `code`, one stderr line mentioning m1 and m2 (either may
 * be NULL) and, for a usage error, --help; empty stdout and g_out. */
static void expect(int code, const char *m1, const char *m2,
                   const char *const *args)
{
    count_case(args[0]);
    /* ch_run() takes CH_MAX_ARGS arguments: the 1001 --point flags are more */
    int n = 0;
    while (args[n])
        n++;
    char **argv = calloc((size_t)n + 2, sizeof *argv);
    argv[0] = (char *)ch_bin();
    memcpy(argv + 1, args, (size_t)n * sizeof *argv);
    ch_result r = ch_spawn(g_dir, argv);
    free(argv);
    const char *cmd = ch_cmdline(args);
    TU_CHECK(r.code == code, "%s: exit %d, expected %d (stderr: %s)", cmd,
             r.code, code, r.err);
    TU_CHECK(ch_lines(r.err) == 1 && r.err[strlen(r.err) - 1] == '\n',
             "%s: expected one line on stderr, got: %s", cmd, r.err);
    TU_CHECK(!m1 || strstr(r.err, m1), "%s: stderr does not mention '%s': %s",
             cmd, m1, r.err);
    TU_CHECK(!m2 || strstr(r.err, m2), "%s: stderr does not mention '%s': %s",
             cmd, m2, r.err);
    TU_CHECK(code != 2 || strstr(r.err, "--help"), "%s: no hint to --help: %s",
             cmd, r.err);
    TU_CHECK(r.out[0] == 0, "%s: stdout not empty: %s", cmd, r.out);
    char name[256];
    int left = ch_count_entries(g_out, name, sizeof name);
    TU_CHECK(left == 0, "%s: %d file(s) left in the output location, e.g. %s",
             cmd, left, name);
    printf("ok exit %d: %s", r.code, r.err);
    ch_free(&r);
    clear_outputs();
}

/* A usage error mentioning `what` (an option, usually). */
static void usage(const char *what, const char *const *args)
{
    expect(2, what, NULL, args);
}

/* ---- making the inputs --------------------------------------------------- */

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put32be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void put32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* A PNG whose header declares w x h 8-bit gray (gray, because stb's own
 * check refuses 3-channel headers past 2^30 bytes first), with no pixels. */
static int write_huge_png(const char *path, uint32_t w, uint32_t h)
{
    unsigned char f[8 + 25 + 12] = {0x89, 'P',  'N',  'G',
                                    '\r', '\n', 0x1a, '\n'};
    unsigned char *ihdr = f + 8;
    put32be(ihdr, 13);
    memcpy(ihdr + 4, "IHDR", 4);
    put32be(ihdr + 8, w);
    put32be(ihdr + 12, h);
    ihdr[16] = 8; /* bit depth; colour type 0 (gray), the rest 0 */
    put32be(ihdr + 21, crc32_of(ihdr + 4, 17));
    unsigned char *iend = ihdr + 25;
    memcpy(iend + 4, "IEND", 4);
    put32be(iend + 8, crc32_of(iend + 4, 4));
    return ch_write(path, f, sizeof f);
}

/* A 24-bit BMP whose header declares w x h, with no pixels. */
static int write_huge_bmp(const char *path, uint32_t w, uint32_t h)
{
    unsigned char f[54] = {'B', 'M'};
    put32le(f + 2, sizeof f);
    put32le(f + 10, 54);
    put32le(f + 14, 40);
    put32le(f + 18, w);
    put32le(f + 22, h);
    f[26] = 1;  /* planes */
    f[28] = 24; /* bits per pixel */
    return ch_write(path, f, sizeof f);
}

/* stb_image 2.27 dereferences NULL on this Softimage PIC, and loops forever
 * on this Radiance HDR (tests/fuzz/corpus/image/regress-*). */
static const unsigned char pic_crash[116] = {
    0x53, 0x80, 0xf6, 0x34, [32] = 0x74, [58] = 0x40, [88] = 0x50, 0x49, 0x43,
    0x54, 0x00, 0x04, 0x40, 0x80,        0x02,        0x00,        0x00, 0x00,
    0x3f, 0x00, 0x00, 0x00, 0x00,        0x08,        0x02,        0xe0, 0x83,
    0x5a, 0x50, 0x46, 0x83, 0x5a,        0x50,        0x46};
static const char hdr_hang[] = "#?RADIANCE\n# made by make_seeds.py\n"
                               "FORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 9\n"
                               "\x02\x02\x00\t\x82\x80\x81"
                               "c\x82\x80\x81\x82";

static void jpg_to_mem(void *ctx, void *data, int size)
{
    FILE *fp = ctx;
    fwrite(data, 1, (size_t)size, fp);
}

/* tiny.png as a JPEG; then that JPEG cut short (only decoding notices), and
 * without its Huffman tables (each DHT segment made a comment): stb 2.27
 * would decode it with uninitialised tables. */
static int write_jpegs(void)
{
    msam_image img;
    char err[256];
    if (image_load(g_tiny, &img, err, sizeof err))
        return -1;
    FILE *fp = fopen(in("good.jpg"), "wb");
    int ok = fp && stbi_write_jpg_to_func(jpg_to_mem, fp, img.width, img.height,
                                          3, img.rgb, 90);
    image_free(&img);
    if (!fp || fclose(fp) || !ok)
        return -1;
    size_t len;
    unsigned char *jpg = (unsigned char *)ch_read(in("good.jpg"), &len);
    if (!jpg)
        return -1;
    int rc = ch_write(in("trunc.jpg"), jpg, len * 2 / 3), dht = 0;
    /* the segments before the scan (SOS): marker, 2-byte length, data */
    for (size_t i = 2; i + 4 < len && jpg[i] == 0xff && jpg[i + 1] != 0xda;
         i += 2 + ((size_t)jpg[i + 2] << 8 | jpg[i + 3])) {
        if (jpg[i + 1] == 0xc4) {
            jpg[i + 1] = 0xfe;
            dht++;
        }
    }
    rc |= dht ? 0 : -1;
    rc |= ch_write(in("corrupt.jpg"), jpg, len);
    free(jpg);
    return rc;
}

static int write_text(const char *name, const char *text)
{
    return ch_write(in(name), text, strlen(text));
}

/* The weights with the first value of the first tensor set to NaN and the
 * checksum made right again: a file that is intact but poisoned. */
static int write_nan_weights(const char *path)
{
    size_t len;
    uint8_t *w = (uint8_t *)ch_read(g_weights, &len);
    if (!w || len < 64)
        return -1;
    uint64_t data_off, sum;
    memcpy(&data_off, w + 32, 8); /* header fields: tools/WEIGHT_FORMAT.md */
    uint32_t nan_bits = 0x7fc00000u;
    int rc = -1;
    if (data_off + 4 <= len) {
        memcpy(w + data_off, &nan_bits, 4);
        sum = wt_checksum(w + 64, len - 64);
        memcpy(w + 48, &sum, 8);
        rc = ch_write(path, w, len);
    }
    free(w);
    return rc;
}

/* 1001 points (the engine takes at most 1000 per object), as a prompts
 * file, and as --point flags. */
#define MANY 1001
static char *g_many_args[2 * MANY];

static int write_many(void)
{
    size_t cap = 32 * MANY, n = 0;
    char *s = malloc(cap);
    if (!s)
        return -1;
    n += (size_t)snprintf(s + n, cap - n, "[{\"points\": [");
    for (int i = 0; i < MANY; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s[%d, %d]", i ? ", " : "",
                              i % 90, i % 60);
    snprintf(s + n, cap - n, "]}]\n");
    int rc = write_text("p_many.json", s);
    /* 1001 objects of one point (at most 1000 per image) */
    n = (size_t)snprintf(s, cap, "[");
    for (int i = 0; i < MANY; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s{\"points\": [[1, 1]]}", i ? ", " : "");
    snprintf(s + n, cap - n, "]\n");
    rc |= write_text("p_objects.json", s);
    free(s);
    for (int i = 0; i < MANY; i++) {
        g_many_args[2 * i] = "--point";
        g_many_args[2 * i + 1] = malloc(16);
        snprintf(g_many_args[2 * i + 1], 16, "%d,%d", i % 90, i % 60);
    }
    return rc;
}

static int make_inputs(const char *id)
{
    size_t wlen;
    free(ch_read(g_weights, &wlen));
    static const uint32_t version2 = 2;
    char err[256];
    float *mask = calloc(256 * 256, sizeof(float)); /* also written as 256x256 */
    const long m128[2] = {128, 128}, m256[2] = {256, 256};
    const long small[4] = {1, 256, 32, 32};
    int rc = ci_copy_patched(g_tiny, in("good.png"), (size_t)-1, 0, NULL, 0);
    /* images */
    rc |= ch_write(in("empty.png"), "", 0);
    rc |= mkdir(in("dir.png"), 0755);
    rc |= write_text("text.png", "not a PNG\n");
    rc |= write_text("text.jpg", "not a JPEG either\n");
    rc |= ci_copy_patched(g_tiny, in("trunc.png"), 100, 0, NULL, 0);
    rc |= write_jpegs();
    rc |= write_huge_png(in("huge.png"), 20000, 20000);
    rc |= write_huge_bmp(in("huge.bmp"), 30000, 30000);
    rc |= ch_write(in("softimage.png"), pic_crash, sizeof pic_crash);
    rc |= ch_write(in("radiance.hdr"), hdr_hang, sizeof hdr_hang - 1);
    /* pixel data missing, or refused with an empty reason (bad_images.h) */
    bi_file bi[BI_MAX];
    for (int i = 0, n = bi_files(bi); i < n; i++)
        if (bi[i].problem)
            rc |= ch_write(in(bi[i].name), bi[i].data, bi[i].len);
    /* FIFOs with no writer: opening one blocked forever */
    rc |= mkfifo(in("fifo.png"), 0600);
    rc |= mkfifo(in("fifo.msam"), 0600);
    rc |= mkfifo(in("p_fifo.json"), 0600);
    rc |= mkfifo(in("e_fifo.npy"), 0600);
    rc |= mkfifo(in("fifo_list.txt"), 0600);
    /* weights */
    rc |= ch_write(in("empty.msam"), "", 0);
    rc |= mkdir(in("dir.msam"), 0755);
    rc |= write_text("text.msam", "weights\n");
    rc |= ci_copy_patched(g_weights, in("magic.msam"), wlen, 0, "NOTSAM", 6);
    rc |= ci_copy_patched(g_weights, in("trunc.msam"), wlen / 2, 0, NULL, 0);
    rc |= ci_copy_patched(g_weights, in("version.msam"), wlen, 8, &version2, 4);
    rc |= write_nan_weights(in("nan.msam"));
    /* prompts */
    rc |= ch_write(in("p_empty.json"), "", 0);
    rc |= mkdir(in("p_dir.json"), 0755);
    rc |= write_text("p_malformed.json", "[{\"points\": [[1, 2]]},\n");
    rc |= write_text("p_trunc.json",
                     "[{\"points\": [[10, 10]], \"labels\": [1]},\n"
                     " {\"box\": [1, 2, 3");
    rc |= write_text("p_object.json", "{\"points\": [[1, 2]]}\n");
    rc |= write_text("p_null.json", "null\n");
    rc |= write_text("p_points_str.json", "[{\"points\": \"1,2\"}]\n");
    rc |= write_text("p_point_str.json", "[{\"points\": [[\"a\", 2]]}]\n");
    rc |= write_text("p_point_3.json", "[{\"points\": [[1, 2, 3]]}]\n");
    rc |= write_text("p_labels_str.json",
                     "[{\"points\": [[1, 2]], \"labels\": \"1\"}]\n");
    rc |= write_text("p_label_half.json",
                     "[{\"points\": [[1, 2]], \"labels\": [0.5]}]\n");
    rc |= write_text("p_label_2.json",
                     "[{\"points\": [[1, 2]], \"labels\": [2]}]\n");
    rc |= write_text("p_box_short.json", "[{\"box\": [1, 2, 3]}]\n");
    rc |= write_text("p_box_str.json", "[{\"box\": \"1,2,3,4\"}]\n");
    rc |= write_text("p_mask_num.json",
                     "[{\"points\": [[1, 2]], \"mask_input\": 5}]\n");
    rc |=
        write_text("p_mask_missing.json",
                   "[{\"points\": [[1, 2]], \"mask_input\": \"nope.npy\"}]\n");
    rc |= write_text("p_noprompt.json", "[{}]\n");
    rc |= write_text("p_far.json", "[{\"points\": [[1e30, 5]]}]\n");
    rc |= write_text("p_neg.json", "[{\"points\": [[-1, 5]]}]\n");
    rc |= write_text("p_inf.json", "[{\"points\": [[1e999, 5]]}]\n");
    rc |= write_text("p_nan.json", "[{\"points\": [[NaN, 5]]}]\n");
    rc |= write_text("p_boxfar.json", "[{\"box\": [0, 0, 1e30, 10]}]\n");
    rc |= write_text("p_dup_box.json",
                     "[{\"box\": [1, 2, 3, 4],\n  \"box\": [5, 6, 7, 8]}]\n");
    rc |= write_many();
    /* embeddings and mask inputs */
    rc |= ci_write_embedding(in("emb.npy"), id, 97, 61, NULL);
    rc |= ch_write(in("e_empty.npy"), "", 0);
    rc |= mkdir(in("e_dir.npy"), 0755);
    rc |= write_text("e_text.npy", "not a .npy file\n");
    size_t elen;
    free(ch_read(in("emb.npy"), &elen));
    rc |= ci_copy_patched(in("emb.npy"), in("e_trunc.npy"), elen / 2, 0, NULL, 0);
    rc |= ci_copy_patched(in("emb.npy"), in("e_header.npy"), elen, 10,
                       "{'descr': ''''", 14);
    rc |= ci_write_embedding(in("e_shape.npy"), id, 97, 61, small);
    rc |= ci_write_embedding(in("e_nometa.npy"), NULL, 97, 61, NULL);
    rc |= ci_write_embedding(in("e_other.npy"), "0123456789abcdef", 97, 61, NULL);
    rc |= ci_write_embedding(in("e_size.npy"), id, 200, 100, NULL);
    rc |= npy_write(in("m_128.npy"), mask, m128, 2, NULL, err, sizeof err);
    rc |= npy_write(in("m_256.npy"), mask, m256, 2, NULL, err, sizeof err);
    size_t mlen;
    free(ch_read(in("m_256.npy"), &mlen));
    rc |= ci_copy_patched(in("m_256.npy"), in("m_trunc.npy"), mlen - 100, 0, NULL,
                       0);
    free(mask);
    return rc;
}

/* ---- images, weights, options: the same for several commands ------------ */

typedef struct {
    const char *name;
    const char *problem;
    int header; /* refused from the header alone (no decoding) */
} bad_image;

static const bad_image g_images[] = {
    {"missing.png", "No such file", 1},
    {"empty.png", "empty file", 1},
    {"dir.png", "not a regular file", 1},
    {"text.png", "not a supported image", 1},
    {"text.jpg", "not a supported image", 1},
    {"trunc.png", "truncated PNG", 1},
    {"trunc.jpg", "not a supported image", 0},
    {"corrupt.jpg", "corrupt JPEG", 1},
    {"huge.png",
     "20000x20000 image (400 MP) exceeds the pixel limit of "
     "100 MP (--max-pixels)",
     1},
    {"huge.bmp", "30000x30000 image (900 MP) exceeds the pixel limit", 1},
    {"softimage.png", "Softimage PIC is not supported", 1},
    {"radiance.hdr", "Radiance HDR is not supported", 1},
};
#define N_IMAGES ((int)(sizeof g_images / sizeof g_images[0]))

/* g_images, then the files of bad_images.h and a FIFO: set up by
 * all_images(). */
static bad_image g_all[N_IMAGES + BI_MAX + 1];
static int g_n_all;
static bi_file g_bi[BI_MAX];

static void all_images(void)
{
    for (int i = 0; i < N_IMAGES; i++)
        g_all[g_n_all++] = g_images[i];
    for (int i = 0, n = bi_files(g_bi); i < n; i++)
        if (g_bi[i].problem)
            g_all[g_n_all++] = (bad_image){g_bi[i].name, g_bi[i].problem, 1};
    g_all[g_n_all++] = (bad_image){"fifo.png", "not a regular file", 1};
}

static const char *const g_bad_weights[] = {
    "missing.msam", "empty.msam", "dir.msam",    "text.msam",
    "magic.msam",   "trunc.msam", "version.msam", "fifo.msam", "nan.msam"};
#define N_WEIGHTS ((int)(sizeof g_bad_weights / sizeof g_bad_weights[0]))

#define OVER_LIMIT                                                             \
    "97x61 image (5917 pixels) exceeds the pixel limit of 1000 pixels "        \
    "(--max-pixels)"

/* Options every image-reading command takes, with bad values, after `pre`
 * (the command and what it needs to get that far). */
static void bad_common_options(const char *const *pre, int n_pre)
{
    static const char *const values[][2] = {
        {"--threads", "abc"},
        {"--threads", "-1"},
        {"--threads", "0"},
        {"--threads", "1e3"},
        {"--max-pixels", "0"},
        {"--max-pixels", "-5"},
        {"--max-pixels", "abc"},
        {"--max-pixels", "1.5M"},
        {"--max-pixels", "5X"},
        {"--max-pixels", ""},
        {"--max-pixels", "99999999999999999999"}};
    const char *args[48];
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
        memcpy(args, pre, (size_t)n_pre * sizeof *args);
        args[n_pre] = values[v][0];
        args[n_pre + 1] = values[v][1];
        args[n_pre + 2] = NULL;
        if (!strcmp(pre[0], "compare") && !strcmp(values[v][0], "--threads"))
            continue; /* compare has no --threads */
        usage(values[v][0], args);
    }
    /* a missing value, an unknown option */
    memcpy(args, pre, (size_t)n_pre * sizeof *args);
    args[n_pre] = "--max-pixels";
    args[n_pre + 1] = NULL;
    usage("--max-pixels", args);
    args[n_pre] = "--no-such-option";
    usage("--no-such-option", args);
    args[n_pre] = "-Z";
    usage("-Z", args);
}

/* ---- seg -------------------------------------------------------------------
 */

static void test_seg(void)
{
    const char *w = g_weights, *t = g_tiny, *o = keep(out("m.png"));
    const char *e = keep(in("emb.npy"));
    for (int i = 0; i < g_n_all; i++) {
        const char *img = in(g_all[i].name);
        expect(1, img, g_all[i].problem,
               ARGS("seg", img, "-w", w, "--point", "1,1", "-o", o));
        /* with an embedding only the header is read */
        if (g_all[i].header)
            expect(1, img, g_all[i].problem,
                   ARGS("seg", img, "-w", w, "--embedding", e, "--point", "1,1",
                        "-o", o));
    }
    expect(1, t, OVER_LIMIT,
           ARGS("seg", t, "-w", w, "--point", "1,1", "-o", o, "--max-pixels",
                "1000"));
    expect(1, t, OVER_LIMIT,
           ARGS("seg", t, "-w", w, "--embedding", e, "--point", "1,1", "-o", o,
                "--max-pixels", "1K"));
    for (int i = 0; i < N_WEIGHTS; i++) {
        const char *bw = in(g_bad_weights[i]);
        expect(1, bw, NULL,
               ARGS("seg", t, "-w", bw, "--point", "1,1", "-o", o));
    }

    /* prompts files */
    static const char *const prompts[] = {
        "p_missing.json",   "p_empty.json",      "p_dir.json",
        "p_malformed.json", "p_trunc.json",      "p_object.json",
        "p_null.json",      "p_points_str.json", "p_point_str.json",
        "p_point_3.json",   "p_labels_str.json", "p_label_half.json",
        "p_label_2.json",   "p_box_short.json",  "p_box_str.json",
        "p_mask_num.json",  "p_noprompt.json",   "p_far.json",
        "p_neg.json",       "p_inf.json",        "p_nan.json",
        "p_boxfar.json",    "p_fifo.json",       "p_dup_box.json"};
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++) {
        const char *p = in(prompts[i]);
        expect(1, p, NULL, ARGS("seg", t, "-w", w, "--prompts", p, "-o", o));
    }
    expect(1, in("nope.npy"), NULL,
           ARGS("seg", t, "-w", w, "--prompts", in("p_mask_missing.json"), "-o",
                o));
    /* cJSON keeps both of a repeated key; its lookups silently took the
     * first */
    expect(1, in("p_dup_box.json"), "line 2: duplicate key \"box\"",
           ARGS("seg", t, "-w", w, "--prompts", in("p_dup_box.json"), "-o", o));
    expect(1, in("p_fifo.json"), "not a regular file",
           ARGS("seg", t, "-w", w, "--prompts", in("p_fifo.json"), "-o", o));
    /* too many points or objects: found when the prompts are read */
    expect(1, in("p_many.json"), "1001 points",
           ARGS("seg", t, "-w", w, "--embedding", e, "--prompts",
                in("p_many.json"), "-o", o));
    expect(1, in("p_objects.json"), "1001 objects",
           ARGS("seg", t, "-w", w, "--prompts", in("p_objects.json"), "-o", o));
    {
        const char *args[2 * MANY + 16];
        int n = 0;
        const char *head[] = {"seg", t, "-w", w, "--embedding", e, "-o", o};
        for (int i = 0; i < 8; i++)
            args[n++] = head[i];
        for (int i = 0; i < 2 * MANY; i++)
            args[n++] = g_many_args[i];
        args[n] = NULL;
        expect(1, "1001 points", NULL, args);
    }

    /* coordinates from flags: out of range is bad data, not a number is a
     * bad command line */
    expect(1, "97x61", NULL,
           ARGS("seg", t, "-w", w, "--point", "1e30,5", "-o", o));
    expect(1, "97x61", NULL,
           ARGS("seg", t, "-w", w, "--point", "-1,5", "-o", o));
    expect(1, "97x61", NULL,
           ARGS("seg", t, "-w", w, "--point", "5,61.01", "-o", o));
    expect(1, "97x61", NULL,
           ARGS("seg", t, "-w", w, "--box", "0,0,1e30,10", "-o", o));
    expect(1, "97x61", NULL,
           ARGS("seg", t, "-w", w, "--box", "-5,-5,10,10", "-o", o));
    static const char *const bad_points[] = {
        "nan,5", "5,inf", "1e39,5", "1", "1,2,3", "x,y", "", "1,,2"};
    for (size_t i = 0; i < sizeof bad_points / sizeof bad_points[0]; i++)
        usage("--point",
              ARGS("seg", t, "-w", w, "--point", bad_points[i], "-o", o));
    usage("--box", ARGS("seg", t, "-w", w, "--box", "1,2,3", "-o", o));
    usage("--box", ARGS("seg", t, "-w", w, "--box", "1,2,nan,4", "-o", o));
    usage("--label",
          ARGS("seg", t, "-w", w, "--point", "1,1", "--label", "x", "-o", o));
    usage("--point", ARGS("seg", t, "-w", w, "-o", o, "--point"));
    usage("-o", ARGS("seg", t, "-w", w, "--point", "1,1", "-o", "-"));
    usage("no prompt", ARGS("seg", t, "-w", w, "-o", o));
    usage("no output", ARGS("seg", t, "-w", w, "--point", "1,1"));
    usage("--prompts", ARGS("seg", t, "-w", w, "--point", "1,1", "--prompts",
                            in("p_far.json"), "-o", o));
    usage("unexpected", ARGS("seg", t, t, "-w", w, "--point", "1,1", "-o", o));
    bad_common_options(ARGS("seg", t, "-w", w, "--point", "1,1", "-o", o), 8);

    /* saved embeddings and mask inputs */
    static const char *const embs[] = {
        "e_missing.npy", "e_empty.npy",  "e_dir.npy",   "e_text.npy",
        "e_trunc.npy",   "e_header.npy", "e_shape.npy", "e_nometa.npy",
        "e_other.npy",   "e_size.npy",   "e_fifo.npy"};
    for (size_t i = 0; i < sizeof embs / sizeof embs[0]; i++) {
        const char *bad = in(embs[i]);
        expect(1, bad, NULL,
               ARGS("seg", t, "-w", w, "--embedding", bad, "--point", "1,1",
                    "-o", o));
    }
    static const char *const masks[] = {"m_missing.npy", "e_empty.npy",
                                        "e_text.npy",    "m_128.npy",
                                        "m_trunc.npy",   "e_dir.npy",
                                        "e_fifo.npy"};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        const char *bad = in(masks[i]);
        expect(1, bad, NULL,
               ARGS("seg", t, "-w", w, "--embedding", e, "--point", "1,1",
                    "--mask-input", bad, "-o", o));
    }
    /* an output folder that does not exist */
    expect(1, out("no/such/dir/m.png"), NULL,
           ARGS("seg", t, "-w", w, "--embedding", e, "--point", "1,1", "-o",
                out("no/such/dir/m.png")));
}

/* ---- embed --------------------------------------------------------------- */

static void test_embed(void)
{
    const char *w = g_weights, *t = g_tiny, *o = keep(out("e.npy"));
    for (int i = 0; i < g_n_all; i++) {
        const char *img = in(g_all[i].name);
        expect(1, img, g_all[i].problem,
               ARGS("embed", img, "-w", w, "-o", o));
    }
    expect(1, t, OVER_LIMIT,
           ARGS("embed", t, "-w", w, "-o", o, "--max-pixels", "1000"));
    for (int i = 0; i < N_WEIGHTS; i++) {
        const char *bw = in(g_bad_weights[i]);
        expect(1, bw, NULL, ARGS("embed", t, "-w", bw, "-o", o));
    }
    expect(1, out("no/such/dir/e.npy"), NULL,
           ARGS("embed", t, "-w", w, "-o", out("no/such/dir/e.npy")));
    usage("-o", ARGS("embed", t, "-w", w));
    usage("-o", ARGS("embed", t, "-w", w, "-o", "-"));
    usage("'-o' needs a value", ARGS("embed", t, "-w", w, "-o"));
    usage("IMAGE", ARGS("embed", "-w", w, "-o", o));
    usage("unexpected", ARGS("embed", t, t, "-w", w, "-o", o));
    usage("--point", ARGS("embed", t, "-w", w, "-o", o, "--point", "1,1"));
    bad_common_options(ARGS("embed", t, "-w", w, "-o", o), 6);
}

/* ---- bench --------------------------------------------------------------- */

static void test_bench(void)
{
    const char *w = g_weights, *t = g_tiny;
    for (int i = 0; i < g_n_all; i++) {
        const char *img = in(g_all[i].name);
        expect(1, img, g_all[i].problem,
               ARGS("bench", "--image", img, "-w", w, "--runs", "1"));
    }
    expect(1, t, OVER_LIMIT,
           ARGS("bench", "--image", t, "-w", w, "--max-pixels", "1000"));
    for (int i = 0; i < N_WEIGHTS; i++) {
        const char *bw = in(g_bad_weights[i]);
        expect(1, bw, NULL,
               ARGS("bench", "--image", t, "-w", bw, "--runs", "1"));
    }
    /* the point is checked against the image before anything is timed */
    expect(1, "97x61", "--point",
           ARGS("bench", "--image", t, "-w", w, "--point", "1e30,1"));
    expect(1, "97x61", "--point",
           ARGS("bench", "--image", t, "-w", w, "--point", "-1,1"));
    expect(1, "97x61", "--point",
           ARGS("bench", "--image", t, "-w", w, "--point", "98,1"));
    static const char *const runs[] = {"0", "-1", "abc", "1001", "1.5", ""};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        usage("--runs",
              ARGS("bench", "--image", t, "-w", w, "--runs", runs[i]));
    static const char *const points[] = {"nan,1", "1e39,1", "x", "1,2,3"};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++)
        usage("--point",
              ARGS("bench", "--image", t, "-w", w, "--point", points[i]));
    usage("--image", ARGS("bench", "-w", w, "--image"));
    usage("--json", ARGS("bench", "--image", t, "-w", w, "--json=yes"));
    usage("unexpected", ARGS("bench", t, "-w", w));
    bad_common_options(ARGS("bench", "--image", t, "-w", w), 5);
}

/* ---- compare ------------------------------------------------------------- */

static void test_compare(void)
{
    const char *t = g_tiny;
    for (int i = 0; i < g_n_all; i++) {
        const char *img = in(g_all[i].name);
        expect(1, img, g_all[i].problem, ARGS("compare", img, t));
        expect(1, img, g_all[i].problem, ARGS("compare", t, img));
    }
    expect(1, t, OVER_LIMIT, ARGS("compare", t, t, "--max-pixels", "1000"));
    unsigned char px[20 * 20] = {0};
    TU_CHECK(stbi_write_png(in("small.png"), 20, 20, 1, px, 20) != 0,
             "write small.png");
    expect(1, "same size", in("small.png"),
           ARGS("compare", t, in("small.png")));
    static const char *const ious[] = {"abc", "-0.1", "1.5", "nan", ""};
    for (size_t i = 0; i < sizeof ious / sizeof ious[0]; i++)
        usage("--min-iou", ARGS("compare", t, t, "--min-iou", ious[i]));
    usage("--min-iou", ARGS("compare", t, t, "--min-iou"));
    usage("two masks", ARGS("compare", t));
    usage("unexpected", ARGS("compare", t, t, t));
    bad_common_options(ARGS("compare", t, t), 3);
}

/* ---- batch --------------------------------------------------------------- */

/* 1 when a name under dir (recursively) contains `part`. */
static int tree_has(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (!found && d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        found = strstr(e->d_name, part) != NULL ||
                (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
                 tree_has(path, part));
    }
    if (d)
        closedir(d);
    return found;
}

/* A batch run that goes on past bad images: exit 1, the summary's counts,
 * one stderr line per bad file naming it, the good images' outputs there,
 * nothing of the bad ones, no temporary file. */
static void expect_batch(int processed, int failed, const char *const *bad,
                         const char *const *good_outputs,
                         const char *const *args)
{
    count_case("batch");
    ch_result r = ch_run(g_dir, args);
    const char *cmd = ch_cmdline(args);
    const char *outdir = keep(out("batch"));
    int p = -1, s = -1, f = -1;
    const char *sum = strstr(r.out, "done: ");
    if (sum)
        sscanf(sum,
               "done: %d processed, %d skipped (already complete), %d "
               "failed",
               &p, &s, &f);
    TU_CHECK(r.code == (failed ? 1 : 0), "%s: exit %d (stderr: %s)", cmd,
             r.code, r.err);
    TU_CHECK(p == processed && s == 0 && f == failed,
             "%s: summary %d/%d/%d, expected %d processed, %d failed: %s", cmd,
             p, s, f, processed, failed, r.out);
    int n_bad = 0;
    for (; bad[n_bad]; n_bad++) {
        const char *line = strstr(r.err, bad[n_bad]);
        TU_CHECK(line != NULL, "%s: %s not named on stderr: %s", cmd,
                 bad[n_bad], r.err);
        TU_CHECK(!line || !strstr(line + 1, bad[n_bad]),
                 "%s: %s named twice on stderr: %s", cmd, bad[n_bad], r.err);
        char stem[256];
        const char *base = strrchr(bad[n_bad], '/');
        snprintf(stem, sizeof stem, "%s_", base ? base + 1 : bad[n_bad]);
        char *dot = strchr(stem, '.');
        if (dot)
            strcpy(dot, "_");
        TU_CHECK(!tree_has(outdir, stem), "%s: outputs of bad %s written", cmd,
                 bad[n_bad]);
    }
    TU_CHECK(ch_lines(r.err) == n_bad,
             "%s: %d lines on stderr for %d bad inputs: %s", cmd,
             ch_lines(r.err), n_bad, r.err);
    for (; *good_outputs; good_outputs++)
        TU_CHECK(ch_exists(at(outdir, *good_outputs)), "%s: no %s written", cmd,
                 *good_outputs);
    TU_CHECK(!tree_has(outdir, ".tmp."), "%s: a temporary file was left", cmd);
    ch_free(&r);
    clear_outputs();
}

static void copy_tiny(const char *dir, const char *name)
{
    TU_CHECK(ci_copy_patched(g_tiny, at(dir, name), (size_t)-1, 0, NULL, 0) == 0,
             "copy tiny.png to %s/%s", dir, name);
}

/* name.ext as name_ext.ext: the bad images of one folder (text.png and
 * text.jpg) must not share their outputs' stem. */
static const char *unique_name(const char *name)
{
    static char ring[16][256];
    static int next;
    char *p = ring[next++ % 16];
    const char *dot = strrchr(name, '.');
    snprintf(p, 256, "%.*s_%s%s", (int)(dot - name), name, dot + 1, dot);
    return p;
}

static void test_batch(void)
{
    const char *w = g_weights, *o = keep(out("batch"));
    const char *pts = keep(in("b_prompts.json")), *ok = keep(in("b_ok.json"));
    char folder[2048], listed[2048], one[2048], labels[2048], prompted[2048];
    snprintf(folder, sizeof folder, "%s", in("b_images"));
    snprintf(listed, sizeof listed, "%s", in("b_listed"));
    snprintf(one, sizeof one, "%s", in("b_one"));
    snprintf(labels, sizeof labels, "%s", in("b_labels"));
    snprintf(prompted, sizeof prompted, "%s", in("b_prompted"));
    mkdir(folder, 0755);
    mkdir(listed, 0755);
    mkdir(one, 0755);
    mkdir(labels, 0755);
    mkdir(prompted, 0755);
    TU_CHECK(write_text("b_ok.json",
                        "{\"good.png\": [{\"points\": [[10, 10]]}]}\n") == 0,
             "write b_ok.json");

    /* one good image among every kind of bad one (but the missing file and
     * the folder: a folder lists neither) */
    copy_tiny(folder, "good.png");
    const char *bad[N_IMAGES + BI_MAX + 2];
    int n = 0;
    FILE *fp = fopen(pts, "w");
    fprintf(fp, "{\"good.png\": [{\"points\": [[10, 10]]}]");
    for (int i = 0; i < g_n_all; i++) {
        const char *name = g_all[i].name;
        if (!strcmp(name, "missing.png") || !strcmp(name, "dir.png"))
            continue;
        const char *copy = unique_name(name);
        if (!strcmp(name, "fifo.png")) {
            /* found by the folder scan; it stalled the whole run */
            TU_CHECK(mkfifo(at(folder, copy), 0600) == 0, "mkfifo %s", copy);
            fprintf(fp, ", \"%s\": [{\"points\": [[1, 1]]}]", copy);
            bad[n++] = keep(at(folder, copy));
            continue;
        }
        size_t len;
        char *data = ch_read(in(name), &len);
        TU_CHECK(data && ch_write(at(folder, copy), data, len) == 0, "copy %s",
                 name);
        free(data);
        if (!strcmp(name, "radiance.hdr"))
            continue; /* not an image extension of the folder scan: ignored */
        fprintf(fp, ", \"%s\": [{\"points\": [[1, 1]]}]", copy);
        bad[n++] = keep(at(folder, copy));
    }
    fprintf(fp, "}\n");
    fclose(fp);
    bad[n] = NULL;
    expect_batch(1, n, bad, ARGS("good_0_0.png"),
                 ARGS("batch", folder, "-o", o, "-w", w, "--prompts", pts));

    /* a list naming a missing file and a folder; YOLO labels: none for
     * good.png (no objects: not an error, and no encoder), a malformed
     * line, a box outside the image */
    const char *list = keep(at(listed, "list.txt"));
    TU_CHECK(write_text("b_listed/list.txt", "good.png\nmissing.png\nsub.png\n"
                                             "lab1.png\nlab2.png\nlab3.png\n") == 0,
             "write list.txt");
    mkdir(at(listed, "sub.png"), 0755);
    copy_tiny(listed, "good.png");
    copy_tiny(listed, "lab1.png");
    copy_tiny(listed, "lab2.png");
    copy_tiny(listed, "lab3.png");
    TU_CHECK(mkfifo(at(labels, "lab3.txt"), 0600) == 0, "mkfifo lab3.txt");
    TU_CHECK(ch_write(at(labels, "lab1.txt"), "0 0.5 abc 0.1 0.1\n", 18) == 0 &&
                 ch_write(at(labels, "lab2.txt"), "0 5 5 0.1 0.1\n", 14) == 0,
             "write labels");
    expect_batch(1, 5,
                 ARGS(at(listed, "missing.png"), at(listed, "sub.png"),
                      at(labels, "lab1.txt"), at(labels, "lab2.txt"),
                      at(labels, "lab3.txt")),
                 ARGS(".mobilesam/good.done"),
                 ARGS("batch", list, "-o", o, "-w", w, "--boxes-from", labels));

    /* bad prompts for single images of a good folder: each fails alone */
    static const char *const names[] = {"good.png",  "far.png",  "types.png",
                                        "label.png", "many.png", "list.png",
                                        "mask.png"};
    for (int i = 0; i < 7; i++)
        copy_tiny(prompted, names[i]);
    fp = fopen(pts, "w");
    fprintf(fp, "{\"good.png\": [{\"points\": [[10, 10]]}],\n"
                " \"far.png\": [{\"points\": [[1e30, 1]]}],\n"
                " \"types.png\": [{\"points\": \"x\"}],\n"
                " \"label.png\": [{\"points\": [[1, 1]], \"labels\": [2]}],\n"
                " \"list.png\": 5,\n"
                " \"mask.png\": [{\"points\": [[1, 1]], \"mask_input\": "
                "\"nope.npy\"}],\n"
                " \"many.png\": [{\"points\": [");
    for (int i = 0; i < MANY; i++)
        fprintf(fp, "%s[%d, %d]", i ? ", " : "", i % 90, i % 60);
    fprintf(fp, "]}]}\n");
    fclose(fp);
    /* the prompts file is named once per image, so its lines are counted
     * here rather than by expect_batch() */
    count_case("batch");
    ch_result r = ch_run(
        g_dir, ARGS("batch", prompted, "-o", o, "-w", w, "--prompts", pts));
    TU_CHECK(r.code == 1 && strstr(r.out, "done: 1 processed, 0 skipped "
                                          "(already complete), 6 failed"),
             "batch bad prompts: exit %d: %s%s", r.code, r.out, r.err);
    TU_CHECK(ch_lines(r.err) == 6, "batch bad prompts: %d lines: %s",
             ch_lines(r.err), r.err);
    int named = 0;
    for (const char *c = r.err; (c = strstr(c, pts)); c++)
        named++;
    TU_CHECK(named == 5 && strstr(r.err, in("nope.npy")),
             "batch bad prompts: files not named: %s", r.err);
    TU_CHECK(strstr(r.err, "1001 points"), "batch: 1001 points: %s", r.err);
    TU_CHECK(ch_exists(at(o, "good_0_0.png")) && !tree_has(o, "far_") &&
                 !tree_has(o, "types_") && !tree_has(o, "label_") &&
                 !tree_has(o, "many_") && !tree_has(o, "list_") &&
                 !tree_has(o, "mask_") && !tree_has(o, ".tmp."),
             "batch bad prompts: outputs");
    ch_free(&r);
    clear_outputs();

    /* the one image over --max-pixels */
    copy_tiny(one, "good.png");
    expect_batch(0, 1, ARGS(at(one, "good.png")), (const char *const[]){NULL},
                 ARGS("batch", one, "-o", o, "-w", w, "--prompts", ok,
                      "--max-pixels", "1000"));

    /* whole-run errors: nothing created */
    const char *bp[] = {"p_missing.json",   "p_empty.json", "p_dir.json",
                        "p_malformed.json", "p_trunc.json", "p_null.json",
                        "p_points_str.json", "p_fifo.json"};
    for (size_t i = 0; i < sizeof bp / sizeof bp[0]; i++)
        expect(1, in(bp[i]), NULL,
               ARGS("batch", one, "-o", o, "-w", w, "--prompts", in(bp[i])));
    TU_CHECK(write_text("b_noimage.jsonl", "{\"objects\": []}\n") == 0,
             "write jsonl");
    expect(1, in("b_noimage.jsonl"), NULL,
           ARGS("batch", one, "-o", o, "-w", w, "--prompts",
                in("b_noimage.jsonl")));
    /* a repeated key: silently, the first one won */
    TU_CHECK(write_text("b_dupimage.jsonl",
                        "{\"image\": \"good.png\", \"objects\": []}\n"
                        "{\"image\": \"good.png\", \"image\": \"x.png\", "
                        "\"objects\": []}\n") == 0 &&
                 write_text("b_dupmap.json",
                            "{\"good.png\": [],\n \"good.png\": []}\n") == 0,
             "write duplicate keys");
    expect(1, in("b_dupimage.jsonl"), "line 2: duplicate key \"image\"",
           ARGS("batch", one, "-o", o, "-w", w, "--prompts",
                in("b_dupimage.jsonl")));
    expect(1, in("b_dupmap.json"), "line 2: duplicate key \"good.png\"",
           ARGS("batch", one, "-o", o, "-w", w, "--prompts", in("b_dupmap.json")));
    /* a list file that is a FIFO */
    expect(1, in("fifo_list.txt"), "not a regular file",
           ARGS("batch", in("fifo_list.txt"), "-o", o, "-w", w, "--prompts", ok));
    for (int i = 0; i < N_WEIGHTS; i++) {
        const char *bw = in(g_bad_weights[i]);
        expect(1, bw, NULL,
               ARGS("batch", one, "-o", o, "-w", bw, "--prompts", ok));
    }
    expect(1, in("missing_dir"), NULL,
           ARGS("batch", in("missing_dir"), "-o", o, "-w", w, "--prompts", ok));
    expect(
        1, in("no_labels"), NULL,
        ARGS("batch", one, "-o", o, "-w", w, "--boxes-from", in("no_labels")));

    /* bad command lines */
    usage("-o", ARGS("batch", one, "-w", w, "--prompts", ok));
    usage("no prompts", ARGS("batch", one, "-o", o, "-w", w));
    usage("only one", ARGS("batch", one, "-o", o, "-w", w, "--prompts", ok,
                           "--everything"));
    static const char *const shards[] = {"abc", "2/2", "-1/2", "1/0", "1"};
    for (size_t i = 0; i < sizeof shards / sizeof shards[0]; i++)
        usage("--shard", ARGS("batch", one, "-o", o, "-w", w, "--prompts", ok,
                              "--shard", shards[i]));
    usage("--conf", ARGS("batch", one, "-o", o, "-w", w, "--boxes-from", labels,
                         "--conf", "abc"));
    usage("--classes", ARGS("batch", one, "-o", o, "-w", w, "--boxes-from",
                            labels, "--classes", "1,x"));
    usage("--format", ARGS("batch", one, "-o", o, "-w", w, "--prompts", ok,
                           "--format", "png,tiff"));
    usage("--min-iou", ARGS("batch", one, "-o", o, "-w", w, "--prompts", ok,
                            "--min-iou", "0.5"));
    usage("--points-per-side", ARGS("batch", one, "-o", o, "-w", w,
                                    "--everything", "--points-per-side", "0"));
    usage("'-o' needs a value",
          ARGS("batch", one, "-w", w, "--prompts", ok, "-o"));
    bad_common_options(ARGS("batch", one, "-o", o, "-w", w, "--prompts", ok),
                       8);
}

/* ---- everything ------------------------------------------------------------
 */

static void test_everything(void)
{
    const char *w = g_weights, *t = g_tiny, *o = keep(out("all"));
    for (int i = 0; i < g_n_all; i++) {
        const char *img = in(g_all[i].name);
        expect(1, img, g_all[i].problem,
               ARGS("everything", img, "-w", w, "-o", o));
    }
    expect(1, t, OVER_LIMIT,
           ARGS("everything", t, "-w", w, "-o", o, "--max-pixels", "1000"));
    /* the output folder is made before the weights load: removed again */
    for (int i = 0; i < N_WEIGHTS; i++) {
        const char *bw = in(g_bad_weights[i]);
        expect(1, bw, NULL, ARGS("everything", t, "-w", bw, "-o", o));
    }
    expect(1, out("no/such/o.png"), NULL,
           ARGS("everything", t, "-w", w, "-o", o, "--overlay",
                out("no/such/o.png")));
    usage("-o", ARGS("everything", t, "-w", w));
    usage("-o", ARGS("everything", t, "-w", w, "-o", "-"));
    usage("--overlay", ARGS("everything", t, "-w", w, "-o", o, "--overlay"));
    usage("--format", ARGS("everything", t, "-w", w, "-o", o, "--format", "x"));
    static const char *const amg[][2] = {
        {"--points-per-side", "0"},       {"--points-per-side", "abc"},
        {"--points-per-side", "2000"},    {"--pred-iou-thresh", "2"},
        {"--pred-iou-thresh", "nan"},     {"--crop-overlap-ratio", "1"},
        {"--min-mask-region-area", "-1"}, {"--crop-n-layers", "7"}};
    for (size_t i = 0; i < sizeof amg / sizeof amg[0]; i++)
        usage(amg[i][0],
              ARGS("everything", t, "-w", w, "-o", o, amg[i][0], amg[i][1]));
    usage("IMAGE", ARGS("everything", "-w", w, "-o", o));
    bad_common_options(ARGS("everything", t, "-w", w, "-o", o), 6);
}

int main(void)
{
    /* A command that hangs (stb_image 2.27 on some files) is killed by
     * SIGXCPU and fails its case, instead of the whole suite timing out. */
    struct rlimit cpu = {30, 30};
    setrlimit(RLIMIT_CPU, &cpu);
    const char *td = tu_testdata();
    if (!td)
        tu_skip("MOBILESAM_TESTDATA is not set (the fixture pack: weights, "
                "tiny.png)");
    ch_bin();
    char *dir, *weights;
    mobilesam_model *model = ch_fixture_model(td, &dir, &weights);
    if (!model)
        return 1;
    snprintf(g_dir, sizeof g_dir, "%s", dir);
    snprintf(g_out, sizeof g_out, "%s/out", dir);
    snprintf(g_weights, sizeof g_weights, "%s", weights);
    snprintf(g_tiny, sizeof g_tiny, "%s/images/tiny.png", td);
    mkdir(g_out, 0755);
    all_images();
    TU_CHECK(make_inputs(mobilesam_model_id(model)) == 0,
             "cannot write the inputs");
    mobilesam_free(model);

    test_seg();
    test_embed();
    test_bench();
    test_compare();
    test_batch();
    test_everything();

    int total = 0;
    for (int i = 0; i < N_CMDS; i++) {
        printf("%-10s %3d cases\n", g_cmds[i], g_cases[i]);
        total += g_cases[i];
    }
    printf("%-10s %3d cases\n", "total", total);
    for (int i = 0; i < 2 * MANY; i += 2)
        free(g_many_args[i + 1]);
    free_kept();
    ch_rmtree(dir);
    free(dir);
    free(weights);
    return tu_finish("bad_inputs");
}
