/*
 * npy.c - reading and writing NumPy .npy files for the reference tensors
 * (fixtures, intermediate dumps) and the tool's own tensor outputs.
 *
 * Format (numpy/lib/format.py): the magic "\x93NUMPY", a version byte pair
 * (1.0: 16-bit header length; 2.0 and 3.0: 32-bit; 3.0 only makes the header
 * UTF-8), the little-endian header length, then the header: the repr of a
 * Python dict {'descr': ..., 'fortran_order': ..., 'shape': (...)} padded
 * with spaces and ending in '\n', so that the data starts 64-byte aligned.
 * numpy parses the header with ast.literal_eval, so a Python comment after
 * the dict is legal; we use it to carry a short provenance note.
 *
 * Reading never trusts the header: sizes are computed overflow-safely and
 * checked against the file size before anything large is allocated.
 */
#define _POSIX_C_SOURCE 200809L

#include "io/npy.h"
#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* Headers numpy writes are ~128 bytes; ours grow with the comment. This only
 * stops a corrupt length field from making us allocate gigabytes. */
#define NPY_MAX_HEADER_LEN (16u << 20)
/* Largest element count accepted: far beyond any tensor of this project,
 * small enough that every byte count below fits comfortably in 64 bits. */
#define NPY_MAX_NUMEL ((uint64_t)1 << 40)

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ---- half / little-endian decoding ------------------------------------ */

/* IEEE 754 binary16 to binary32; exact for every input (including
 * subnormals, infinities and NaN payloads). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exactly representable in float */
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf, or NaN keeping payload */
    } else {
        bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

/* Converts n little-endian elements of `itemsize` bytes (2, 4 or 8) to float. */
static void decode_le(const unsigned char *src, size_t n, int itemsize, float *dst)
{
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = src + i * (size_t)itemsize;
        if (itemsize == 2) {
            dst[i] = half_to_float(le16(p));
        } else if (itemsize == 4) {
            uint32_t b = le32(p);
            memcpy(&dst[i], &b, 4);
        } else {
            uint64_t b = le64(p);
            double d;
            memcpy(&d, &b, 8);
            dst[i] = (float)d; /* round to nearest; overflow gives inf, as numpy */
        }
    }
}

/* ---- header parsing --------------------------------------------------- */

typedef struct {
    const char *p, *end;
} cursor;

/* Whitespace as Python sees it inside brackets (implicit line joining), and
 * comments there too, which literal_eval would accept. */
static void skip_ws(cursor *c)
{
    while (c->p < c->end) {
        char ch = *c->p;
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' ||
            ch == '\v') {
            c->p++;
        } else if (ch == '#') {
            while (c->p < c->end && *c->p != '\n') c->p++;
        } else {
            break;
        }
    }
}

static int accept(cursor *c, char ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static int accept_word(cursor *c, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
    /* the word must not continue as an identifier (e.g. "Trueish") */
    if ((size_t)(c->end - c->p) > n) {
        char nx = c->p[n];
        if (nx == '_' || (nx >= 'a' && nx <= 'z') || (nx >= 'A' && nx <= 'Z') ||
            (nx >= '0' && nx <= '9'))
            return 0;
    }
    c->p += n;
    return 1;
}

/* A simple quoted string without escapes (all numpy writes); copied into buf. */
static int parse_string(cursor *c, char *buf, size_t buflen)
{
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
    char q = *c->p++;
    const char *s = c->p;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p == '\n') return -1;
        c->p++;
    }
    if (c->p >= c->end) return -1;
    size_t n = (size_t)(c->p - s);
    c->p++; /* closing quote */
    /* A NUL inside would cut the C string short: '<f4\0' would pass as
     * '<f4' (and a key 'descr\0x' as 'descr'); Python sees another string. */
    if (n + 1 > buflen || memchr(s, '\0', n)) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

/* A non-negative decimal integer, optionally with Python 2's 'L' suffix
 * (old numpy on Python 2 wrote shapes like (3L, 4L)). */
static int parse_dim(cursor *c, long *out)
{
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
    unsigned long long v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        v = v * 10 + (unsigned long long)(*c->p - '0');
        if (v > (unsigned long long)LONG_MAX) return -2;
        c->p++;
    }
    if (c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++;
    *out = (long)v;
    return 0;
}

typedef struct {
    char descr[32];
    int fortran;
    int ndim;
    long shape[NPY_MAX_DIMS];
    char *comment; /* malloc'd, or NULL */
} npy_header;

static int parse_shape(cursor *c, npy_header *h, char *err, size_t errlen)
{
    if (!accept(c, '(')) {
        set_err(err, errlen, "bad header: 'shape' is not a tuple");
        return -1;
    }
    int n = 0, commas = 0;
    skip_ws(c);
    while (!accept(c, ')')) {
        if (n > 0 && commas < n) {
            set_err(err, errlen, "bad header: malformed 'shape' tuple");
            return -1;
        }
        if (n == NPY_MAX_DIMS) {
            set_err(err, errlen, "array has more than %d dimensions", NPY_MAX_DIMS);
            return -1;
        }
        long d;
        int r = parse_dim(c, &d);
        if (r == -2) {
            set_err(err, errlen, "absurd shape: a dimension does not fit in a long");
            return -1;
        }
        if (r != 0) {
            set_err(err, errlen, "bad header: 'shape' must hold non-negative integers");
            return -1;
        }
        h->shape[n++] = d;
        skip_ws(c);
        if (accept(c, ',')) {
            commas++;
            skip_ws(c);
        } else if (c->p >= c->end || *c->p != ')') {
            set_err(err, errlen, "bad header: malformed 'shape' tuple");
            return -1;
        }
    }
    /* "(5)" is the integer 5 in Python, not a tuple: numpy refuses it. */
    if (n == 1 && commas == 0) {
        set_err(err, errlen, "bad header: 'shape' (%ld) is not a tuple (missing comma)",
                h->shape[0]);
        return -1;
    }
    h->ndim = n;
    return 0;
}

/* Parses the header text (len bytes, not NUL-terminated). */
static int parse_header(const char *text, size_t len, npy_header *h, char *err,
                        size_t errlen)
{
    cursor c = {text, text + len};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    memset(h, 0, sizeof *h);

    skip_ws(&c);
    if (!accept(&c, '{')) {
        set_err(err, errlen, "bad header: not a Python dict literal");
        return -1;
    }
    for (;;) {
        skip_ws(&c);
        if (accept(&c, '}')) break;
        char key[32];
        if (parse_string(&c, key, sizeof key) != 0) {
            set_err(err, errlen, "bad header: expected a quoted key or '}'");
            return -1;
        }
        skip_ws(&c);
        if (!accept(&c, ':')) {
            set_err(err, errlen, "bad header: expected ':' after '%s'", key);
            return -1;
        }
        skip_ws(&c);
        int *seen;
        if (strcmp(key, "descr") == 0) {
            seen = &have_descr;
            if (parse_string(&c, h->descr, sizeof h->descr) != 0) {
                set_err(err, errlen, "unsupported dtype: 'descr' is not a simple type string");
                return -1;
            }
        } else if (strcmp(key, "fortran_order") == 0) {
            seen = &have_fortran;
            if (accept_word(&c, "True")) {
                h->fortran = 1;
            } else if (accept_word(&c, "False")) {
                h->fortran = 0;
            } else {
                set_err(err, errlen, "bad header: 'fortran_order' is not True or False");
                return -1;
            }
        } else if (strcmp(key, "shape") == 0) {
            seen = &have_shape;
            if (parse_shape(&c, h, err, errlen) != 0) return -1;
        } else {
            /* numpy itself refuses headers with extra keys */
            set_err(err, errlen, "bad header: unexpected key '%s'", key);
            return -1;
        }
        if (*seen) {
            set_err(err, errlen, "bad header: key '%s' appears twice", key);
            return -1;
        }
        *seen = 1;
        skip_ws(&c);
        if (accept(&c, ',')) continue;
        if (accept(&c, '}')) break;
        set_err(err, errlen, "bad header: expected ',' or '}' after '%s'", key);
        return -1;
    }
    if (!have_descr || !have_fortran || !have_shape) {
        set_err(err, errlen, "bad header: missing key '%s'",
                !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
        return -1;
    }

    /* After the dict: blanks, then optionally "# comment" up to the end of
     * the line, then only whitespace (the padding and the final '\n'). */
    while (c.p < c.end && (*c.p == ' ' || *c.p == '\t')) c.p++;
    if (c.p < c.end && *c.p == '#') {
        const char *s = ++c.p;
        while (c.p < c.end && *c.p != '\n') c.p++;
        const char *e = c.p;
        while (s < e && (*s == ' ' || *s == '\t')) s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
        h->comment = malloc((size_t)(e - s) + 1);
        if (!h->comment) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
        memcpy(h->comment, s, (size_t)(e - s));
        h->comment[e - s] = '\0';
    }
    skip_ws(&c); /* later lines may only hold whitespace or comments */
    if (c.p < c.end) {
        free(h->comment);
        h->comment = NULL;
        set_err(err, errlen, "bad header: unexpected text after the dict");
        return -1;
    }
    return 0;
}

/* Maps descr to the element size; refuses what we cannot convert. */
static int descr_itemsize(const char *descr, char *err, size_t errlen)
{
    char order = descr[0];
    const char *t = descr;
    if (order == '<' || order == '>' || order == '=' || order == '|') t++;
    int size = 0;
    if (strcmp(t, "f2") == 0) size = 2;
    else if (strcmp(t, "f4") == 0) size = 4;
    else if (strcmp(t, "f8") == 0) size = 8;
    if (!size) {
        set_err(err, errlen, "unsupported dtype '%s' (only float16/32/64: '<f2', '<f4', '<f8')",
                descr);
        return -1;
    }
    if (order == '>') {
        set_err(err, errlen, "unsupported dtype '%s': big-endian data", descr);
        return -1;
    }
    /* '=', '|' and no mark mean the writer's native order, which for files
     * made on any common machine is little-endian; we can only assume it is
     * ours, so accept them where native is little-endian. */
    if (order != '<' && !host_is_little_endian()) {
        set_err(err, errlen, "unsupported dtype '%s': native byte order on a big-endian host",
                descr);
        return -1;
    }
    return size;
}

static void fmt_shape(const npy_header *h, char *buf, size_t len)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "(");
    for (int i = 0; i < h->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%ld", i ? ", " : "", h->shape[i]);
    if (h->ndim == 1 && o < len) o += (size_t)snprintf(buf + o, len - o, ",");
    if (o < len) snprintf(buf + o, len - o, ")");
}

/* Reorders Fortran-order data (first index fastest) into C order. */
static void fortran_to_c(const float *src, float *dst, int ndim, const long *shape,
                         size_t numel)
{
    size_t fstride[NPY_MAX_DIMS];
    size_t idx[NPY_MAX_DIMS] = {0};
    size_t s = 1;
    for (int d = 0; d < ndim; d++) {
        fstride[d] = s;
        s *= (size_t)shape[d];
    }
    size_t off = 0; /* Fortran offset of the C-order multi-index idx */
    for (size_t i = 0; i < numel; i++) {
        dst[i] = src[off];
        for (int d = ndim - 1; d >= 0; d--) {
            if (++idx[d] < (size_t)shape[d]) {
                off += fstride[d];
                break;
            }
            off -= (idx[d] - 1) * fstride[d];
            idx[d] = 0;
        }
    }
}

int npy_read(const char *path, npy_array *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    npy_header h;
    memset(&h, 0, sizeof h);
    char *text = NULL;
    unsigned char *raw = NULL;
    float *data = NULL, *tmp = NULL;
    int rc = -1;

    /* Without blocking on a FIFO; only regular files (see io/file.h). */
    struct stat st;
    char why[128];
    FILE *f = file_fopen_input(path, &st, why, sizeof why);
    if (!f) {
        set_err(err, errlen, "cannot open file: %s", why);
        return -1;
    }
    if (st.st_size == 0) {
        set_err(err, errlen, "empty file");
        goto done;
    }

    unsigned char pre[12];
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        set_err(err, errlen, "not a .npy file (bad magic)");
        goto done;
    }
    int major = pre[6], minor = pre[7];
    size_t hlen, prelen;
    if (major == 1 && minor == 0) {
        if (fread(pre + 8, 1, 2, f) != 2) {
            set_err(err, errlen, "truncated header");
            goto done;
        }
        hlen = le16(pre + 8);
        prelen = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (fread(pre + 8, 1, 4, f) != 4) {
            set_err(err, errlen, "truncated header");
            goto done;
        }
        hlen = le32(pre + 8);
        prelen = 12;
    } else {
        set_err(err, errlen, "unsupported .npy format version %d.%d", major, minor);
        goto done;
    }
    if (hlen > NPY_MAX_HEADER_LEN) {
        set_err(err, errlen, "header length %zu is absurd", hlen);
        goto done;
    }
    if ((uint64_t)st.st_size < prelen + hlen) {
        set_err(err, errlen, "truncated header");
        goto done;
    }
    text = malloc(hlen + 1);
    if (!text) {
        set_err(err, errlen, "out of memory");
        goto done;
    }
    if (fread(text, 1, hlen, f) != hlen) {
        set_err(err, errlen, "truncated header");
        goto done;
    }
    text[hlen] = '\0';
    if (parse_header(text, hlen, &h, err, errlen) != 0) goto done;

    int itemsize = descr_itemsize(h.descr, err, errlen);
    if (itemsize < 0) goto done;

    /* Overflow-safe element count. */
    uint64_t numel = 1;
    for (int d = 0; d < h.ndim; d++) {
        uint64_t dim = (uint64_t)h.shape[d];
        if (dim != 0 && numel > NPY_MAX_NUMEL / dim) {
            char sb[256];
            fmt_shape(&h, sb, sizeof sb);
            set_err(err, errlen, "absurd shape %s: more than 2^40 elements", sb);
            goto done;
        }
        numel *= dim;
    }
    if (numel > NPY_MAX_NUMEL) {
        set_err(err, errlen, "absurd shape: more than 2^40 elements");
        goto done;
    }
    uint64_t need = numel * (uint64_t)itemsize;
    uint64_t have = (uint64_t)st.st_size - prelen - hlen;
    if (have != need) {
        char sb[256];
        fmt_shape(&h, sb, sizeof sb);
        if (have < need)
            set_err(err, errlen,
                    "truncated data: shape %s of '%s' needs %llu bytes, file has %llu",
                    sb, h.descr, (unsigned long long)need, (unsigned long long)have);
        else
            set_err(err, errlen,
                    "data size mismatch: shape %s of '%s' needs %llu bytes, file has %llu",
                    sb, h.descr, (unsigned long long)need, (unsigned long long)have);
        goto done;
    }
    if (need > SIZE_MAX / 2 || numel > SIZE_MAX / sizeof(float)) {
        set_err(err, errlen, "array too large for this machine");
        goto done;
    }

    /* Only now, with the size confirmed by the file itself, allocate. */
    size_t n = (size_t)numel;
    data = malloc(n ? n * sizeof(float) : 1);
    if (!data) {
        set_err(err, errlen, "out of memory for %zu elements", n);
        goto done;
    }
    float *dst = data;
    if (h.fortran && h.ndim > 1) {
        tmp = malloc(n ? n * sizeof(float) : 1);
        if (!tmp) {
            set_err(err, errlen, "out of memory for %zu elements", n);
            goto done;
        }
        dst = tmp;
    }
    /* Read and convert in chunks so float16/64 need no second full copy. */
    const size_t chunk = 1u << 16;
    raw = malloc(chunk * (size_t)itemsize);
    if (!raw) {
        set_err(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i += chunk) {
        size_t m = n - i < chunk ? n - i : chunk;
        if (fread(raw, (size_t)itemsize, m, f) != m) {
            if (ferror(f))
                set_err(err, errlen, "read error: %s", strerror(errno));
            else
                set_err(err, errlen, "truncated data (file shrank while reading)");
            goto done;
        }
        decode_le(raw, m, itemsize, dst + i);
    }
    if (tmp) fortran_to_c(tmp, data, h.ndim, h.shape, n);

    out->data = data;
    data = NULL;
    out->ndim = h.ndim;
    memcpy(out->shape, h.shape, sizeof out->shape);
    out->numel = n;
    out->comment = h.comment;
    h.comment = NULL;
    rc = 0;

done:
    fclose(f);
    free(text);
    free(raw);
    free(tmp);
    free(data);
    free(h.comment);
    return rc;
}

void npy_free(npy_array *a)
{
    if (!a) return;
    free(a->data);
    free(a->comment);
    memset(a, 0, sizeof *a);
}

/* ---- writing ------------------------------------------------------------ */

/* Builds the padded header (dict, optional comment, spaces, '\n'); returns
 * its malloc'd text and sets *len and *version. */
static char *build_header(const long *shape, int ndim, const char *comment,
                          size_t *len, int *version)
{
    size_t clen = comment ? strlen(comment) : 0;
    size_t cap = 128 + (size_t)ndim * 24 + clen + 64 + 16;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t o = (size_t)snprintf(buf, cap, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%ld", i ? ", " : "", shape[i]);
    o += (size_t)snprintf(buf + o, cap - o, "%s), }", ndim == 1 ? "," : "");
    if (comment) {
        memcpy(buf + o, " # ", 3);
        memcpy(buf + o + 3, comment, clen);
        o += 3 + clen;
    }
    /* numpy pads so that magic + version + length field + header is a
     * multiple of 64; the header ends in '\n'. Version 1.0's length field is
     * 16 bits; a longer header needs 2.0 (4-byte field). */
    size_t pre = 10;
    *version = 1;
    size_t total = ((pre + o + 1 + 63) / 64) * 64;
    if (total - pre > 65535) {
        pre = 12;
        *version = 2;
        total = ((pre + o + 1 + 63) / 64) * 64;
    }
    size_t hlen = total - pre;
    memset(buf + o, ' ', hlen - 1 - o);
    buf[hlen - 1] = '\n';
    *len = hlen;
    return buf;
}

int npy_all_finite(const npy_array *a)
{
    for (size_t i = 0; i < a->numel; i++)
        if (!isfinite(a->data[i])) return 0;
    return 1;
}

/* The shape and comment checks of a write; 0, or -1 with a reason. */
static int check_write(const float *data, const long *shape, int ndim, const char *comment,
                       uint64_t *numel_out, char *err, size_t errlen)
{
    if (ndim < 0 || ndim > NPY_MAX_DIMS) {
        set_err(err, errlen, "cannot write %d dimensions (0..%d)", ndim, NPY_MAX_DIMS);
        return -1;
    }
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            set_err(err, errlen, "negative dimension %ld", shape[d]);
            return -1;
        }
        uint64_t dim = (uint64_t)shape[d];
        if (dim != 0 && numel > NPY_MAX_NUMEL / dim) {
            set_err(err, errlen, "absurd shape: more than 2^40 elements");
            return -1;
        }
        numel *= dim;
    }
    if (numel > 0 && !data) {
        set_err(err, errlen, "no data to write");
        return -1;
    }
    if (comment) {
        /* Printable ASCII only: a newline would end the Python comment and
         * make the rest of it part of the header expression; other control
         * or non-ASCII bytes would depend on the header's text encoding. */
        for (const unsigned char *s = (const unsigned char *)comment; *s; s++) {
            if (*s < 0x20 || *s > 0x7e) {
                set_err(err, errlen,
                        "comment must be printable ASCII on one line (byte 0x%02x at %zu)",
                        *s, (size_t)(s - (const unsigned char *)comment));
                return -1;
            }
        }
        if (strlen(comment) > NPY_MAX_HEADER_LEN / 2) {
            set_err(err, errlen, "comment too long");
            return -1;
        }
    }
    *numel_out = numel;
    return 0;
}

int npy_fwrite(FILE *f, const float *data, const long *shape, int ndim, const char *comment,
               char *err, size_t errlen)
{
    uint64_t numel;
    if (check_write(data, shape, ndim, comment, &numel, err, errlen)) return -1;
    size_t hlen;
    int version;
    char *header = build_header(shape, ndim, comment, &hlen, &version);
    if (!header) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    unsigned char pre[12];
    memcpy(pre, NPY_MAGIC, NPY_MAGIC_LEN);
    pre[6] = (unsigned char)version;
    pre[7] = 0;
    size_t prelen;
    if (version == 1) {
        pre[8] = (unsigned char)(hlen & 0xff);
        pre[9] = (unsigned char)(hlen >> 8);
        prelen = 10;
    } else {
        for (int i = 0; i < 4; i++) pre[8 + i] = (unsigned char)(hlen >> (8 * i));
        prelen = 12;
    }
    errno = 0;
    int ok = fwrite(pre, 1, prelen, f) == prelen && fwrite(header, 1, hlen, f) == hlen;
    free(header);
    if (ok && numel > 0) {
        size_t n = (size_t)numel;
        if (host_is_little_endian()) {
            ok = fwrite(data, sizeof(float), n, f) == n;
        } else {
            unsigned char b[4 * 1024];
            for (size_t i = 0; ok && i < n; i += 1024) {
                size_t m = n - i < 1024 ? n - i : 1024;
                for (size_t j = 0; j < m; j++) {
                    uint32_t u;
                    memcpy(&u, &data[i + j], 4);
                    for (int k = 0; k < 4; k++) b[4 * j + k] = (unsigned char)(u >> (8 * k));
                }
                ok = fwrite(b, 4, m, f) == m;
            }
        }
    }
    if (!ok) {
        set_err(err, errlen, "cannot write: %s", errno ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

/* file_temp_name() into a malloc'd buffer, or NULL. */
static char *temp_name(const char *target)
{
    static unsigned counter;
    size_t len = strlen(target) + 64;
    char *tmp = malloc(len);
    if (tmp) file_temp_name(target, tmp, len, "npy", counter++);
    return tmp;
}

int npy_write(const char *path, const float *data, const long *shape, int ndim,
              const char *comment, char *err, size_t errlen)
{
    uint64_t numel;
    if (check_write(data, shape, ndim, comment, &numel, err, errlen)) return -1;

    /* A symlink is followed: the file it names is replaced, the link stays.
     * A device or FIFO is written in place (no temporary file): renaming
     * over it would replace it with a regular file. */
    struct stat st;
    char *target = file_follow_links(path, &st);
    if (!target) {
        set_err(err, errlen, "cannot create file: %s", strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        set_err(err, errlen, "is a directory");
        free(target);
        return -1;
    }
    int in_place = st.st_mode && !S_ISREG(st.st_mode);
    char *tmp = in_place ? NULL : temp_name(target);
    if (!in_place && !tmp) {
        free(target);
        set_err(err, errlen, "out of memory");
        return -1;
    }

    FILE *f = NULL;
    if (tmp) {
        if (!(f = fopen(tmp, "wb")))
            set_err(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    } else {
        /* no O_CREAT or O_TRUNC: only what is there; a FIFO waits for its
         * reader */
        int fd = open(target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || !(f = fdopen(fd, "wb"))) {
            set_err(err, errlen, "cannot write: %s", strerror(errno));
            if (fd >= 0) close(fd);
        }
    }
    if (!f) {
        free(tmp);
        free(target);
        return -1;
    }
    int ok = npy_fwrite(f, data, shape, ndim, comment, err, errlen) == 0;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        set_err(err, errlen, "cannot write: %s", strerror(errno));
    }
    if (ok && tmp && rename(tmp, target) != 0) {
        set_err(err, errlen, "cannot rename %s to the output: %s", tmp, strerror(errno));
        ok = 0;
    }
    if (!ok && tmp) remove(tmp);
    free(tmp);
    free(target);
    return ok ? 0 : -1;
}
