/*
 * test_npy.c - .npy reading and writing: round trips (with and without a
 * header comment), the on-disk layout numpy expects, every dtype and header
 * form we accept, a refusal with a reason for each malformed file, and the
 * fixture pack's float16 (Fortran-order) and float32 tensors when
 * MOBILESAM_TESTDATA is set. If python3 is on PATH, it also checks that
 * Python's ast.literal_eval (what numpy.load uses) accepts our headers.
 */
#define _POSIX_C_SOURCE 200809L

#include "io/npy.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];

static const char *tmp_path(const char *name)
{
    static char buf[2][512];
    static int which = 0;
    which ^= 1;
    snprintf(buf[which], sizeof buf[which], "%s/%s", g_dir, name);
    return buf[which];
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    *len = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Writes an .npy file by hand: magic, version major.minor, the header text
 * padded with spaces to a 64-byte boundary plus '\n' (when pad is set),
 * then `nbytes` of data. */
/* make_npy() of a header of hl bytes, which may hold NUL bytes. */
static void make_npy_len(const char *path, int major, int minor, const char *header, size_t hl,
                         int pad, const void *data, size_t nbytes)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    size_t pre = major == 1 ? 10 : 12;
    size_t total = pad ? ((pre + hl + 1 + 63) / 64) * 64 - pre : hl;
    fwrite("\x93NUMPY", 1, 6, f);
    fputc(major, f);
    fputc(minor, f);
    for (size_t i = 0; i < pre - 8; i++) fputc((int)((total >> (8 * i)) & 0xff), f);
    fwrite(header, 1, hl, f);
    if (pad) {
        for (size_t i = hl; i + 1 < total; i++) fputc(' ', f);
        fputc('\n', f);
    }
    if (nbytes) fwrite(data, 1, nbytes, f);
    fclose(f);
}

static void make_npy(const char *path, int major, int minor, const char *header, int pad,
                     const void *data, size_t nbytes)
{
    make_npy_len(path, major, minor, header, strlen(header), pad, data, nbytes);
}

static void expect_fail(const char *path, const char *want, const char *what)
{
    npy_array a;
    char err[512] = "";
    int rc = npy_read(path, &a, err, sizeof err);
    TU_CHECK(rc == -1, "%s: read succeeded", what);
    TU_CHECK(a.data == NULL && a.comment == NULL, "%s: output not cleared", what);
    TU_CHECK(strstr(err, want) != NULL, "%s: reason '%s' lacks '%s'", what, err, want);
    TU_CHECK(strchr(err, '\n') == NULL, "%s: reason is not one line", what);
    printf("  %-28s -> %s\n", what, err);
    npy_free(&a);
}

/* ---- writing and round trips ------------------------------------------ */

static void check_layout(const char *path, const char *want_dict, size_t numel)
{
    size_t len = 0;
    unsigned char *b = read_all(path, &len);
    TU_CHECK(b && len >= 10, "%s unreadable", path);
    if (!b || len < 10) {
        free(b);
        return;
    }
    TU_CHECK(memcmp(b, "\x93NUMPY\x01\x00", 8) == 0, "%s: magic/version 1.0", path);
    size_t hl = (size_t)b[8] | ((size_t)b[9] << 8);
    TU_CHECK((10 + hl) % 64 == 0, "%s: data offset %zu not 64-aligned", path, 10 + hl);
    TU_CHECK(10 + hl <= len && b[10 + hl - 1] == '\n', "%s: header does not end in newline", path);
    TU_CHECK(len == 10 + hl + numel * 4, "%s: size %zu, expected %zu", path, len,
             10 + hl + numel * 4);
    TU_CHECK(strncmp((const char *)b + 10, want_dict, strlen(want_dict)) == 0,
             "%s: header starts '%.60s', want '%s'", path, (const char *)b + 10, want_dict);
    free(b);
}

static void roundtrip(const char *name, const long *shape, int ndim, const char *comment)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *x = malloc((n ? n : 1) * sizeof(float));
    uint32_t seed = 1234u + (uint32_t)n;
    tu_rand_fill(x, n, -3.0f, 3.0f, &seed);
    if (n >= 3) {
        x[0] = INFINITY;
        x[1] = -0.0f;
        x[2] = NAN;
    }
    char err[256] = "";
    const char *path = tmp_path(name);
    TU_CHECK(npy_write(path, x, shape, ndim, comment, err, sizeof err) == 0, "%s: write: %s", name,
             err);
    npy_array a;
    TU_CHECK(npy_read(path, &a, err, sizeof err) == 0, "%s: read: %s", name, err);
    TU_CHECK(a.ndim == ndim && a.numel == n, "%s: ndim %d numel %zu", name, a.ndim, a.numel);
    for (int i = 0; i < ndim && i < a.ndim; i++)
        TU_CHECK(a.shape[i] == shape[i], "%s: shape[%d] = %ld want %ld", name, i, a.shape[i],
                 shape[i]);
    if (a.data && a.numel == n)
        TU_CHECK(memcmp(a.data, x, n * sizeof(float)) == 0, "%s: data not bit-identical", name);
    if (comment)
        TU_CHECK(a.comment && strcmp(a.comment, comment) == 0, "%s: comment '%s' want '%s'", name,
                 a.comment ? a.comment : "(null)", comment);
    else
        TU_CHECK(a.comment == NULL, "%s: unexpected comment '%s'", name, a.comment);
    npy_free(&a);
    TU_CHECK(a.data == NULL && a.comment == NULL, "npy_free did not clear");

    char tmpname[600];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
    TU_CHECK(!file_exists(tmpname), "%s: temporary file left behind", name);
    free(x);
}

static void test_write(void)
{
    const long s0[1] = {0};
    const long s1[1] = {3};
    const long s4[4] = {1, 4, 8, 8};
    const long sz[3] = {2, 0, 3};
    roundtrip("scalar.npy", s0, 0, NULL);
    roundtrip("vec.npy", s1, 1, NULL);
    roundtrip("vec_c.npy", s1, 1, "made by test_npy; sha256=abc # the rest is comment too");
    roundtrip("t4.npy", s4, 4, NULL);
    roundtrip("t4_c.npy", s4, 4, "embedding of zidane.png");
    roundtrip("empty.npy", sz, 3, NULL);
    roundtrip("empty_comment.npy", s1, 1, "");

    check_layout(tmp_path("scalar.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                 1);
    check_layout(tmp_path("vec.npy"),
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\x20\x20", 3);
    check_layout(tmp_path("t4_c.npy"),
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, 8, 8), } # embedding of "
                 "zidane.png",
                 256);

    /* A header over 65535 bytes needs format 2.0 (32-bit length). */
    size_t cl = 70000;
    char *big = malloc(cl + 1);
    for (size_t i = 0; i < cl; i++) big[i] = (char)('a' + i % 26);
    big[cl] = '\0';
    roundtrip("bigcomment.npy", s1, 1, big);
    size_t len = 0;
    unsigned char *b = read_all(tmp_path("bigcomment.npy"), &len);
    if (b && len > 12) {
        size_t hl =
            (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        TU_CHECK(b[6] == 2 && b[7] == 0, "big header: version %d.%d, want 2.0", b[6], b[7]);
        TU_CHECK((12 + hl) % 64 == 0 && b[12 + hl - 1] == '\n', "big header: not aligned");
    }
    free(b);
    free(big);

    /* Overwriting an existing file replaces it. */
    const float one = 1.0f, two = 2.0f, three[3] = {1, 2, 3};
    char err[256] = "";
    npy_array a;
    TU_CHECK(npy_write(tmp_path("over.npy"), &one, s1, 0, NULL, err, sizeof err) == 0, "over 1: %s",
             err);
    TU_CHECK(npy_write(tmp_path("over.npy"), &two, s1, 0, NULL, err, sizeof err) == 0, "over 2: %s",
             err);
    TU_CHECK(npy_read(tmp_path("over.npy"), &a, err, sizeof err) == 0 && a.data[0] == 2.0f,
             "overwrite did not replace the file");
    npy_free(&a);

    /* Refusals, leaving nothing behind. */
    const char *bad_comments[] = {"two\nlines", "tab\there", "bell\a", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad_comments / sizeof bad_comments[0]; i++) {
        err[0] = 0;
        TU_CHECK(npy_write(tmp_path("badc.npy"), three, s1, 1, bad_comments[i], err, sizeof err) ==
                     -1,
                 "comment %zu accepted", i);
        TU_CHECK(strstr(err, "comment") != NULL, "bad comment reason: '%s'", err);
    }
    printf("  bad comment                  -> %s\n", err);
    TU_CHECK(!file_exists(tmp_path("badc.npy")), "file written despite a bad comment");

    err[0] = 0;
    TU_CHECK(npy_write("/nonexistent-dir-msam/x.npy", three, s1, 1, NULL, err, sizeof err) == -1,
             "write into a missing directory succeeded");
    TU_CHECK(strstr(err, "cannot create") != NULL, "missing dir reason: '%s'", err);
    printf("  write into missing dir       -> %s\n", err);

    /* rename() onto an existing directory fails: the temporary file must go. */
    const char *dirtarget = tmp_path("isadir.npy");
    mkdir(dirtarget, 0700);
    err[0] = 0;
    TU_CHECK(npy_write(dirtarget, three, s1, 1, NULL, err, sizeof err) == -1,
             "write onto a directory succeeded");
    printf("  write onto a directory       -> %s\n", err);
    char tmpname[600];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", dirtarget, (long)getpid());
    TU_CHECK(!file_exists(tmpname), "temporary file left after a failed rename");
    rmdir(dirtarget);

    const long neg[2] = {2, -1};
    err[0] = 0;
    TU_CHECK(npy_write(tmp_path("neg.npy"), &one, neg, 2, NULL, err, sizeof err) == -1,
             "negative dimension accepted");
    TU_CHECK(npy_write(tmp_path("neg.npy"), three, s1, NPY_MAX_DIMS + 1, NULL, err, sizeof err) ==
                 -1,
             "too many dimensions accepted");
}

/* ---- reading hand-made files -------------------------------------------- */

static void test_dtypes(void)
{
    char err[256] = "";
    npy_array a;

    /* float16: zeros, normal, subnormal (min and max), limits, inf, NaN. */
    const uint16_t h[] = {0x0000, 0x8000, 0x3c00, 0xc000, 0x0001, 0x03ff,
                          0x0400, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x3555};
    const float hv[] = {0.0f,
                        -0.0f,
                        1.0f,
                        -2.0f,
                        5.9604644775390625e-08f,
                        6.0975551605224609e-05f,
                        6.103515625e-05f,
                        65504.0f,
                        INFINITY,
                        -INFINITY,
                        NAN,
                        0.333251953125f};
    unsigned char hb[sizeof h];
    for (size_t i = 0; i < sizeof h / 2; i++) {
        hb[2 * i] = (unsigned char)(h[i] & 0xff);
        hb[2 * i + 1] = (unsigned char)(h[i] >> 8);
    }
    make_npy(tmp_path("f2.npy"), 1, 0, "{'descr': '<f2', 'fortran_order': False, 'shape': (12,), }",
             1, hb, sizeof hb);
    TU_CHECK(npy_read(tmp_path("f2.npy"), &a, err, sizeof err) == 0, "f2: %s", err);
    if (a.data) {
        for (int i = 0; i < 12; i++) {
            int ok = isnan(hv[i]) ? isnan(a.data[i]) != 0
                                  : (a.data[i] == hv[i] && signbit(a.data[i]) == signbit(hv[i]));
            TU_CHECK(ok, "f2 0x%04x -> %.9g want %.9g", h[i], a.data[i], hv[i]);
        }
    }
    npy_free(&a);

    /* float64, rounded to float32 (and beyond its range to inf, as numpy). */
    const double dv[] = {0.1, -1e-3, 3.0, 1e300, -1e-300};
    make_npy(tmp_path("f8.npy"), 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
             1, dv, sizeof dv);
    TU_CHECK(npy_read(tmp_path("f8.npy"), &a, err, sizeof err) == 0, "f8: %s", err);
    if (a.data)
        for (int i = 0; i < 5; i++)
            TU_CHECK(a.data[i] == (float)dv[i], "f8[%d] = %g want %g", i, a.data[i], (float)dv[i]);
    npy_free(&a);

    /* Native-order spellings of float32 (this test runs on little-endian). */
    const float fv[2] = {1.5f, -7.25f};
    const char *forms[] = {"'|f4'", "'=f4'", "'f4'", "\"<f4\""};
    for (size_t i = 0; i < 4; i++) {
        char hdr[200];
        snprintf(hdr, sizeof hdr, "{'descr': %s, 'fortran_order': False, 'shape': (2,), }",
                 forms[i]);
        make_npy(tmp_path("form.npy"), 1, 0, hdr, 1, fv, sizeof fv);
        TU_CHECK(npy_read(tmp_path("form.npy"), &a, err, sizeof err) == 0 && a.data[1] == -7.25f,
                 "descr %s: %s", forms[i], err);
        npy_free(&a);
    }
}

static void test_header_forms(void)
{
    char err[256] = "";
    npy_array a;
    const float v6[6] = {0, 1, 2, 3, 4, 5};
    static const char *ok_headers[] = {
        "{'shape': (2, 3), 'descr': '<f4', 'fortran_order': False}",
        "{ \"descr\" : \"<f4\" ,\n  \"fortran_order\" : False ,\n  \"shape\" : ( 2 , 3 , ) , }",
        "{'descr':'<f4','fortran_order':False,'shape':(2,3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }   # a comment",
    };
    for (size_t i = 0; i < sizeof ok_headers / sizeof ok_headers[0]; i++) {
        make_npy(tmp_path("hf.npy"), 1, 0, ok_headers[i], 1, v6, sizeof v6);
        err[0] = 0;
        int rc = npy_read(tmp_path("hf.npy"), &a, err, sizeof err);
        TU_CHECK(rc == 0 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.data[5] == 5.0f,
                 "header form %zu: %s", i, err);
        if (i == 4)
            TU_CHECK(a.comment && strcmp(a.comment, "a comment") == 0, "comment not trimmed");
        npy_free(&a);
    }

    /* Versions 2.0 and 3.0 (32-bit header length). */
    for (int major = 2; major <= 3; major++) {
        make_npy(tmp_path("v.npy"), major, 0,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 1, v6, sizeof v6);
        TU_CHECK(npy_read(tmp_path("v.npy"), &a, err, sizeof err) == 0 && a.numel == 6,
                 "version %d.0: %s", major, err);
        npy_free(&a);
    }

    /* Empty shape tuple written with a space, and a zero-sized array. */
    make_npy(tmp_path("s.npy"), 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': ( ), }", 1,
             v6, 4);
    TU_CHECK(npy_read(tmp_path("s.npy"), &a, err, sizeof err) == 0 && a.ndim == 0 && a.numel == 1,
             "scalar '( )': %s", err);
    npy_free(&a);
    make_npy(tmp_path("z.npy"), 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }",
             1, v6, 0);
    TU_CHECK(npy_read(tmp_path("z.npy"), &a, err, sizeof err) == 0 && a.numel == 0 &&
                 a.data != NULL,
             "zero-size: %s", err);
    npy_free(&a);
}

static void test_fortran(void)
{
    char err[256] = "";
    npy_array a;
    /* 2x3 in Fortran order: column by column. C order is [[0,1,2],[3,4,5]]
     * whose columns are (0,3), (1,4), (2,5). */
    const float f23[6] = {0, 3, 1, 4, 2, 5};
    make_npy(tmp_path("fo.npy"), 1, 0, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
             1, f23, sizeof f23);
    TU_CHECK(npy_read(tmp_path("fo.npy"), &a, err, sizeof err) == 0, "fortran 2x3: %s", err);
    if (a.data)
        for (int i = 0; i < 6; i++)
            TU_CHECK(a.data[i] == (float)i, "fortran 2x3 [%d] = %g", i, a.data[i]);
    npy_free(&a);

    /* 2x3x4: element (i,j,k) sits at i + 2j + 6k in the file; store its C
     * index 12i + 4j + k there and expect 0..23 back in order. */
    float f234[24];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) f234[i + 2 * j + 6 * k] = (float)(12 * i + 4 * j + k);
    make_npy(tmp_path("fo3.npy"), 1, 0,
             "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }", 1, f234, sizeof f234);
    TU_CHECK(npy_read(tmp_path("fo3.npy"), &a, err, sizeof err) == 0, "fortran 2x3x4: %s", err);
    int bad = 0;
    if (a.data)
        for (int i = 0; i < 24; i++) bad += a.data[i] != (float)i;
    TU_CHECK(a.data && bad == 0, "fortran 2x3x4: %d elements misplaced", bad);
    npy_free(&a);
}

static void test_bad_files(void)
{
    const float v6[6] = {0, 1, 2, 3, 4, 5};
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    const char *p = tmp_path("bad.npy");

    make_npy(p, 1, 0, good, 1, v6, sizeof v6 - 4);
    expect_fail(p, "truncated data", "truncated data");
    make_npy(p, 1, 0, good, 1, v6, 0);
    expect_fail(p, "truncated data", "header only");
    float v7[7] = {0};
    make_npy(p, 1, 0, good, 1, v7, sizeof v7);
    expect_fail(p, "data size mismatch", "extra data");
    make_npy(p, 1, 0, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 1, v6,
             sizeof v6);
    expect_fail(p, "big-endian", "'>f4'");
    make_npy(p, 1, 0, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", 1, v6,
             sizeof v6);
    expect_fail(p, "unsupported dtype '<i8'", "'<i8'");
    make_npy(p, 1, 0, "{'descr': '|u1', 'fortran_order': False, 'shape': (6,), }", 1, v6, 6);
    expect_fail(p, "unsupported dtype", "'|u1'");
    make_npy(p, 1, 0, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", 1, v6,
             sizeof v6);
    expect_fail(p, "unsupported dtype", "structured dtype");
    make_npy(p, 1, 0, "[1, 2]", 1, v6, sizeof v6);
    expect_fail(p, "not a Python dict", "header not a dict");
    make_npy(p, 1, 0, "{'descr': '<f4', 'shape': (2, 3), }", 1, v6, sizeof v6);
    expect_fail(p, "missing key 'fortran_order'", "missing key");
    make_npy(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 1, v6,
             sizeof v6);
    expect_fail(p, "unexpected key 'x'", "unknown key");
    make_npy(p, 1, 0, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", 1,
             v6, sizeof v6);
    expect_fail(p, "twice", "duplicate key");
    make_npy(p, 1, 0, "{'descr': '<f4', 'fortran_order': 0, 'shape': (6,), }", 1, v6, sizeof v6);
    expect_fail(p, "True or False", "fortran_order not bool");
    make_npy(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", 1, v6, sizeof v6);
    expect_fail(p, "not a tuple", "shape (6) without comma");
    make_npy(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': [6], }", 1, v6, sizeof v6);
    expect_fail(p, "not a tuple", "shape as a list");
    make_npy(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (-6,), }", 1, v6,
             sizeof v6);
    expect_fail(p, "non-negative", "negative dimension");
    make_npy(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,, 3), }", 1, v6,
             sizeof v6);
    expect_fail(p, "non-negative integers", "shape (2,, 3)");
    make_npy(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,6), }", 1,
             v6, sizeof v6);
    expect_fail(p, "more than 8 dimensions", "9 dimensions");
    make_npy(p, 1, 0,
             "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 1, v6,
             sizeof v6);
    expect_fail(p, "absurd shape", "product overflows");
    make_npy(p, 1, 0,
             "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 1,
             v6, sizeof v6);
    expect_fail(p, "absurd shape", "dimension overflows");
    make_npy(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }", 1, v6,
             sizeof v6);
    expect_fail(p, "truncated data", "huge shape, small file");
    make_npy(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), } junk", 1, v6,
             sizeof v6);
    expect_fail(p, "after the dict", "text after the dict");
    make_npy(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), ", 1, v6, sizeof v6);
    expect_fail(p, "bad header", "unterminated dict");
    make_npy(p, 4, 0, good, 1, v6, sizeof v6);
    expect_fail(p, "version 4.0", "version 4.0");
    make_npy(p, 1, 1, good, 1, v6, sizeof v6);
    expect_fail(p, "version 1.1", "version 1.1");

    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite("\x93NUMPZ\x01\x00\x10\x00", 1, 10, f);
        fclose(f);
    }
    expect_fail(p, "bad magic", "bad magic");
    f = fopen(p, "wb");
    if (f) {
        fwrite("\x93NUM", 1, 4, f);
        fclose(f);
    }
    expect_fail(p, "bad magic", "4-byte file");
    f = fopen(p, "wb");
    if (f) {
        /* declares a 60000-byte header, holds 10 bytes of it */
        fwrite("\x93NUMPY\x01\x00\x60\xea{'descr':", 1, 20, f);
        fclose(f);
    }
    expect_fail(p, "truncated header", "header length past EOF");
    f = fopen(p, "wb");
    if (f) fclose(f);
    expect_fail(p, "empty file", "empty file");
    expect_fail(tmp_path("missing.npy"), "cannot open file", "missing file");

    /* A NUL byte inside a string: '<f4\0' read as a C string was '<f4',
     * and a key 'descr\0x' was 'descr'; numpy sees other strings. */
    static const char nul_descr[] = "{'descr': '<f4\0', 'fortran_order': False, 'shape': (6,), }";
    make_npy_len(p, 1, 0, nul_descr, sizeof nul_descr - 1, 1, v6, sizeof v6);
    expect_fail(p, "'descr' is not a simple type string", "NUL in descr");
    static const char nul_key[] = "{'descr\0x': '<f4', 'fortran_order': False, 'shape': (6,), }";
    make_npy_len(p, 1, 0, nul_key, sizeof nul_key - 1, 1, v6, sizeof v6);
    expect_fail(p, "bad header", "NUL in a key");

    /* A FIFO with no writer: open() used to block forever on it, before
     * the "not a regular file" check. */
    TU_CHECK(mkfifo(tmp_path("fifo.npy"), 0600) == 0, "mkfifo");
    alarm(20); /* a regression hangs: fail instead */
    expect_fail(tmp_path("fifo.npy"), "not a regular file", "FIFO");
    alarm(0);
    remove(tmp_path("fifo.npy"));
    expect_fail(g_dir, "not a regular file", "directory");
}

/* ---- fixture pack ------------------------------------------------------ */

static void test_fixtures(const char *td)
{
    char path[1024], err[256] = "";
    npy_array a;

    /* layer0 is float16 saved in Fortran order. The expected values are
     * numpy.load(...)[idx] of the fixture, i.e. in C (logical) order. */
    snprintf(path, sizeof path, "%s/inter/layer0.f16.npy", td);
    TU_CHECK(npy_read(path, &a, err, sizeof err) == 0, "layer0: %s", err);
    if (a.data) {
        TU_CHECK(a.ndim == 3 && a.shape[0] == 1 && a.shape[1] == 16384 && a.shape[2] == 128,
                 "layer0 shape %d:[%ld,%ld,%ld]", a.ndim, a.shape[0], a.shape[1], a.shape[2]);
        size_t nonfinite = 0;
        for (size_t i = 0; i < a.numel; i++) nonfinite += !isfinite(a.data[i]);
        TU_CHECK(nonfinite == 0, "layer0: %zu non-finite values", nonfinite);
        static const struct {
            long t, c;
            float v;
        } known[] = {
            {0, 0, 0.2034912109375f},       {0, 1, -0.243408203125f},
            {1, 0, 0.2049560546875f},       {16383, 127, 0.056304931640625f},
            {100, 7, -0.0311126708984375f}, {5000, 64, -0.146484375f},
        };
        if (a.numel == 16384u * 128u)
            for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
                float got = a.data[known[i].t * 128 + known[i].c];
                TU_CHECK(got == known[i].v, "layer0[0,%ld,%ld] = %.10g want %.10g", known[i].t,
                         known[i].c, got, known[i].v);
            }
        printf("  layer0.f16.npy: [1,16384,128] float16 (Fortran order), all finite\n");
    }
    npy_free(&a);

    snprintf(path, sizeof path, "%s/inter/neck.f16.npy", td);
    TU_CHECK(npy_read(path, &a, err, sizeof err) == 0, "neck: %s", err);
    if (a.data && a.numel == 256u * 64 * 64) {
        TU_CHECK(a.ndim == 4 && a.shape[1] == 256 && a.shape[3] == 64, "neck shape");
        TU_CHECK(a.data[(1 * 64 + 2) * 64 + 3] == 1.0703125f, "neck[0,1,2,3] = %.9g",
                 a.data[(1 * 64 + 2) * 64 + 3]);
        TU_CHECK(a.data[a.numel - 1] == 0.205810546875f, "neck[-1] = %.9g", a.data[a.numel - 1]);
    }
    npy_free(&a);

    snprintf(path, sizeof path, "%s/refs/zidane/point.lowres.npy", td);
    TU_CHECK(npy_read(path, &a, err, sizeof err) == 0, "point.lowres: %s", err);
    if (a.data) {
        TU_CHECK(a.ndim == 4 && a.shape[0] == 1 && a.shape[1] == 1 && a.shape[2] == 256 &&
                     a.shape[3] == 256,
                 "point.lowres shape");
        TU_CHECK(a.comment == NULL, "point.lowres: unexpected comment");
        TU_CHECK(a.data[0] == 0.014668973162770271f, "point.lowres[0] = %.9g", a.data[0]);
        TU_CHECK(a.data[a.numel - 1] == -0.0834522694349289f, "point.lowres[-1] = %.9g",
                 a.data[a.numel - 1]);
        size_t nonfinite = 0;
        for (size_t i = 0; i < a.numel; i++) nonfinite += !isfinite(a.data[i]);
        TU_CHECK(nonfinite == 0, "point.lowres: %zu non-finite values", nonfinite);
    }
    npy_free(&a);
}

/* ---- Python's view of our headers --------------------------------------- */

static void test_python(void)
{
    if (system("python3 -c 'import ast' >/dev/null 2>&1") != 0) {
        printf("  python3 not available: ast.literal_eval check not run\n");
        return;
    }
    const long shape[2] = {2, 3};
    const float v[6] = {0, 1, 2, 3, 4, 5};
    char err[256] = "";
    const char *p = tmp_path("py.npy");
    TU_CHECK(npy_write(p, v, shape, 2, "written by 'test_npy' (quotes, #hash, {braces})", err,
                       sizeof err) == 0,
             "py write: %s", err);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import ast,sys; b=open(sys.argv[1],'rb').read(); "
             "n=b[8]|(b[9]<<8); d=ast.literal_eval(b[10:10+n].decode('latin1')); "
             "sys.exit(0 if d=={'descr':'<f4','fortran_order':False,'shape':(2,3)} else 1)\" '%s'",
             p);
    TU_CHECK(system(cmd) == 0, "ast.literal_eval rejects or misreads our header with a comment");
    printf("  python3 ast.literal_eval accepts the commented header\n");

    /* numpy itself, where installed (not required). */
    if (system("python3 -c 'import numpy' >/dev/null 2>&1") == 0) {
        snprintf(
            cmd, sizeof cmd,
            "python3 -c \"import numpy as np,sys; a=np.load(sys.argv[1]); "
            "sys.exit(0 if a.shape==(2,3) and a.dtype==np.float32 and a[1,2]==5 else 1)\" '%s'",
            p);
        TU_CHECK(system(cmd) == 0, "numpy.load rejects or misreads our file");
        printf("  numpy.load reads our file\n");
    } else {
        printf("  numpy not available: numpy.load check not run\n");
    }
}

static void cleanup(void)
{
    static const char *names[] = {"scalar.npy",
                                  "vec.npy",
                                  "vec_c.npy",
                                  "t4.npy",
                                  "t4_c.npy",
                                  "empty.npy",
                                  "empty_comment.npy",
                                  "bigcomment.npy",
                                  "over.npy",
                                  "badc.npy",
                                  "neg.npy",
                                  "f2.npy",
                                  "f8.npy",
                                  "form.npy",
                                  "hf.npy",
                                  "v.npy",
                                  "s.npy",
                                  "z.npy",
                                  "fo.npy",
                                  "fo3.npy",
                                  "bad.npy",
                                  "py.npy"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) remove(tmp_path(names[i]));
    if (rmdir(g_dir) != 0) fprintf(stderr, "note: %s not empty after the test\n", g_dir);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/msam_test_npy.%ld", (long)getpid());
    if (mkdir(g_dir, 0700) != 0) {
        fprintf(stderr, "cannot create %s\n", g_dir);
        return 1;
    }
    test_write();
    test_dtypes();
    test_header_forms();
    test_fortran();
    test_bad_files();
    test_python();
    const char *td = tu_testdata();
    if (td)
        test_fixtures(td);
    else
        printf("  MOBILESAM_TESTDATA is not set: fixture files not read (the rest ran)\n");
    cleanup();
    return tu_finish("test_npy");
}
