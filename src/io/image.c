/*
 * image.c - decoding images to packed RGB (stb_image) and the resize of the
 * official pre-processing, reproducing Pillow's Image.resize(BILINEAR) on RGB
 * uint8 bit for bit.
 *
 * The official MobileSAM pipeline (ResizeLongestSide.apply_image) resizes with
 * torchvision on a PIL image, which calls PIL's Image.resize(size, BILINEAR)
 * with no reducing_gap. Pillow implements that in src/libImaging/Resample.c as
 * a separable convolution: a triangle filter whose support widens by the
 * shrink factor (antialiasing), double-precision weights normalised per output
 * pixel, converted to 22-bit fixed point, applied horizontally then
 * vertically, each pass rounded and clipped to uint8. Every floating-point
 * step below mirrors Pillow's order of operations, so the coefficients (and
 * therefore the integer results) are identical.
 */
#define _POSIX_C_SOURCE 200809L

#include "io/image.h"
#include "io/file.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image.h>

static long long g_max_pixels = IMAGE_MAX_PIXELS_DEFAULT;

void image_set_max_pixels(long long n)
{
    g_max_pixels = n > 0 ? n : IMAGE_MAX_PIXELS_DEFAULT;
}

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

/* "400 MP", "12.19 MP", "5917 pixels"; exact when `exact`. */
static void format_pixels(long long n, int exact, char *buf, size_t len)
{
    if (exact || n < 1000000)
        snprintf(buf, len, "%lld pixels", n);
    else if (n % 1000000 == 0)
        snprintf(buf, len, "%lld MP", n / 1000000);
    else
        snprintf(buf, len, "%.2f MP", (double)n / 1e6);
}

/* 0 when a w x h image is within the limit, else -1 with the reason. */
static int image_check_pixels(int w, int h, char *err, size_t errlen)
{
    long long npix = (long long)w * (long long)h;
    if (npix <= g_max_pixels) return 0;
    /* Exact counts when the rounded ones would read the same. */
    int exact = npix / 10000 == g_max_pixels / 10000;
    char have[48], limit[48];
    format_pixels(npix, exact, have, sizeof have);
    format_pixels(g_max_pixels, exact, limit, sizeof limit);
    set_err(err, errlen, "%dx%d image (%s) " IMAGE_ERR_OVER_LIMIT " of %s", w, h, have,
            limit);
    return -1;
}

/* ---- guards against known stb_image 2.27 bugs ----------------------------
 * The system stb_image (Debian 12's libstb, v2.27) crashes, hangs, reads
 * out of bounds or hands back uninitialised pixels on some corrupt files;
 * most of it is fixed upstream in 2.28 (found by fuzzing image_load:
 * tests/fuzz/fuzz_image.c; each case is a tests/fuzz/corpus/image/regress-*
 * input). These checks refuse such files before stb parses them. With
 * stb >= 2.28 only the PIC refusal is still needed (2.30 has that bug too).
 * Each leaves f rewound to the start. */

/* JPEG Huffman tables, which stb < 2.28 trusts (nothings/stb issues 1289
 * and 1291):
 *  - a DHT segment can declare a table of up to 16 * 255 codes, and stb
 *    writes that many entries into 256/257-entry arrays of its decoder
 *    state. libjpeg refuses tables of more than 256 codes ("Bogus Huffman
 *    table definition"); so do we.
 *  - a scan can name a table that no DHT defined; stb then decodes with
 *    uninitialised memory (its decoder state is malloc'd) and indexes its
 *    tables with garbage, reading far out of bounds. libjpeg refuses that
 *    too ("Huffman table 0x.. was not defined").
 * The markers are walked as stb's decoder sees them: its header parse and
 * every scan (progressive files define tables between scans). Returns what
 * is wrong, or NULL if nothing is (or f is not a JPEG). */
static const char *jpeg_check_huffman_tables(FILE *f)
{
    const char *bad = NULL;
    unsigned defined = 0; /* bit 4 * class + id: the tables defined so far */
    int progressive = -1; /* unknown until the frame header (SOF0/1/2) */
    int c = getc(f);
    if (c != 0xFF) goto done;
    while ((c = getc(f)) == 0xFF) {
    }
    if (c != 0xD8) goto done; /* stb's JPEG test: fill bytes, then SOI */
    for (;;) {
        /* Between segments and in entropy-coded data alike, the next marker
         * is 0xFF (fill 0xFF...) then a byte that is not 0 (a stuffed 0xFF)
         * or RSTn; anything else is skipped, as stb skips it. */
        c = getc(f);
        if (c == EOF) break;
        if (c != 0xFF) continue;
        while ((c = getc(f)) == 0xFF) {
        }
        if (c == EOF || c == 0xD9) break; /* end of file, EOI */
        if (c == 0x00 || c == 0x01 || (c >= 0xD0 && c <= 0xD8)) continue; /* no length */
        int hi = getc(f), lo = getc(f);
        if (hi == EOF || lo == EOF) break;
        long len = (long)hi << 8 | lo;
        if (c == 0xC4) {
            /* DHT: tables back to back, read as stb reads them: it checks
             * the segment length only after parsing every table, and reads
             * zeros past the end of the file. */
            for (long left = len - 2; left > 0;) {
                int q = getc(f);
                long n = 0;
                for (int i = 0; i < 16; i++) {
                    int sz = getc(f);
                    n += sz == EOF ? 0 : sz;
                }
                if (n > 256) {
                    bad = "a Huffman table has more than 256 codes";
                    goto done;
                }
                if (q == EOF || (q >> 4) > 1 || (q & 15) > 3) goto done; /* stb refuses */
                defined |= 1u << (4 * (q >> 4) + (q & 15));
                if (feof(f) || fseek(f, n, SEEK_CUR) != 0) goto done;
                left -= 17 + n;
            }
        } else if (c == 0xDA) {
            /* SOS: Ns, Ns * (component, DC table << 4 | AC table), Ss, Se,
             * Ah << 4 | Al. Baseline scans use both tables; progressive DC
             * scans the DC table (first pass only), AC scans the AC table. */
            unsigned char b[13];
            if (progressive < 0 || len < 8 || len > 14 ||
                fread(b, 1, (size_t)len - 2, f) != (size_t)len - 2 ||
                b[0] < 1 || b[0] > 4 || len != 6 + 2 * b[0])
                goto done; /* stb refuses it */
            int ns = b[0], ss = b[1 + 2 * ns], ah = b[3 + 2 * ns] >> 4;
            for (int i = 0; i < ns; i++) {
                int dc = b[2 + 2 * i] >> 4, ac = b[2 + 2 * i] & 15;
                if (dc > 3 || ac > 3) goto done; /* stb refuses it */
                int use_dc = !progressive || (ss == 0 && ah == 0);
                int use_ac = !progressive || ss > 0;
                if ((use_dc && !(defined & 1u << dc)) || (use_ac && !(defined & 1u << (4 + ac)))) {
                    bad = "a scan uses a Huffman table that was never defined";
                    goto done;
                }
            }
        } else {
            if (progressive < 0 && (c == 0xC0 || c == 0xC1 || c == 0xC2))
                progressive = c == 0xC2;
            if (len < 2 || fseek(f, len - 2, SEEK_CUR) != 0) break;
        }
    }
done:
    rewind(f);
    return bad;
}

/* Big- and little-endian fields of a header read into memory. */
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static unsigned be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static unsigned le16(const unsigned char *p) { return (unsigned)p[1] << 8 | p[0]; }

/* n bytes at offset off of f into buf; 0, or -1 if the file is shorter. */
static int read_at(FILE *f, long long off, void *buf, size_t n)
{
    return fseeko(f, (off_t)off, SEEK_SET) == 0 && fread(buf, 1, n, f) == n ? 0 : -1;
}

/* PNG, walked chunk by chunk (the header of each, the data skipped):
 *  - stb grows its IDAT buffer to each chunk's declared length before
 *    reading the chunk, so a 100-byte file declaring a 2 GB chunk makes it
 *    allocate 2 GB (found by fuzzing; stb 2.28 only caps it at 1 GB), which
 *    the pixel limit of image.h is meant to prevent;
 *  - a file that ends before its IEND chunk makes stb read a chunk of type
 *    0 past the end, which it refuses with an empty reason.
 * Also hands back the size IHDR declares (*w = *h = 0 if none): stb's info
 * refuses sizes over 2^30 bytes as an "unknown image type", before our
 * pixel limit could name them. Returns what is wrong, or NULL if nothing is
 * (or f is not a PNG). */
static const char *png_check(FILE *f, long long file_size, long long *w, long long *h)
{
    const char *bad = NULL;
    unsigned char b[16];
    *w = *h = 0;
    if (fread(b, 1, 8, f) != 8 || memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0) goto done;
    for (long long pos = 8;; ) {
        if (file_size - pos < 8) {
            bad = "truncated PNG: the file ends before its IEND chunk";
            break;
        }
        if (read_at(f, pos, b, 8) != 0) break;
        long long len = be32(b);
        if (pos == 8 && memcmp(b + 4, "IHDR", 4) == 0 && read_at(f, pos + 8, b + 8, 8) == 0) {
            *w = be32(b + 8);
            *h = be32(b + 12);
        }
        pos += 8;
        if (len > file_size - pos) {
            bad = "truncated PNG: a chunk is longer than the rest of the file";
            break;
        }
        if (memcmp(b + 4, "IEND", 4) == 0) break; /* stb reads no further */
        pos += len + 4;                            /* data, CRC */
    }
done:
    rewind(f);
    return bad;
}

/* ---- pixel data shorter than the header declares --------------------------
 * stb 2.27 reads past the end of a file as zeros (stbi__get8 and friends
 * return 0 at EOF) and hands back whatever it made of them: a BMP, TGA or
 * PSD cut short, or with no pixel data at all, loads as an image with black
 * (or repeated) pixels, and a GIF with no frame at all fails with an empty
 * reason. So do PNMs, with heap garbage rather than zeros. Pillow refuses
 * them all ("image file is truncated"). These checks run once the header
 * has passed stbi_info and the pixel limit, so the sizes they multiply are
 * bounded; each reads headers (and only for RLE, the run headers), never
 * the pixels, and leaves f rewound. Each formats its reason into why and
 * returns 1, or returns 0 if the file is fine or not of its format. */

/* BMP: stb reads uncompressed rows (BI_RGB, BI_BITFIELDS; it refuses the
 * RLE and embedded JPEG/PNG compressions itself) from the pixel data offset,
 * each padded to 4 bytes (the last row's padding is not needed). */
static int bmp_short(FILE *f, long long file_size, char *why, size_t len)
{
    int bad = 0;
    unsigned char b[34] = {0};
    if (fread(b, 1, 30, f) != 30 || b[0] != 'B' || b[1] != 'M') goto done;
    uint32_t offset = le32(b + 10), hsz = le32(b + 14), compress = 0;
    long long w, h;
    unsigned bpp;
    if (hsz == 12) {
        w = le16(b + 18);
        h = le16(b + 20);
        bpp = le16(b + 24);
    } else if (hsz == 40 || hsz == 56 || hsz == 108 || hsz == 124) {
        if (fread(b + 30, 1, 4, f) != 4) goto done; /* stb fails on it */
        w = (int32_t)le32(b + 18);
        h = (int32_t)le32(b + 22);
        h = h < 0 ? -h : h; /* top-down */
        bpp = le16(b + 28);
        compress = le32(b + 30);
    } else {
        goto done; /* stb refuses the header */
    }
    long long row;
    switch (bpp) {
    case 1: row = (w + 7) / 8; break;
    case 4: row = (w + 1) / 2; break;
    case 8: row = w; break;
    case 16: row = 2 * w; break;
    case 24: row = 3 * w; break;
    case 32: row = 4 * w; break;
    default: goto done; /* stb refuses it */
    }
    if ((compress != 0 && compress != 3) || w <= 0 || h <= 0) goto done;
    long long need = (h - 1) * ((row + 3) & ~3LL) + row;
    if ((long long)offset > file_size || file_size - offset < need) {
        snprintf(why, len, "truncated BMP: the pixel data ends early");
        bad = 1;
    }
done:
    rewind(f);
    return bad;
}

/* TGA, recognised as stb recognises it (it has no magic number; stb tries
 * it last, and every format tried before has a second byte above 1). The
 * pixels start after the header, the image ID and (colour-mapped) the
 * palette, which stb reads after skipping "first entry index" bytes. Raw
 * pixels take w * h * bytes; RLE data is counted packet by packet, as stb
 * decodes it (a packet may run past the last pixel: stb stops there). */
static int tga_short(FILE *f, long long file_size, char *why, size_t len)
{
    int bad = 0;
    unsigned char b[18];
    if (fread(b, 1, 18, f) != 18) goto done;
    int cmap = b[1], type = b[2], cbits = b[7], bpp = b[16];
    long long w = le16(b + 12), h = le16(b + 14);
    int bits_ok = bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32;
    if (cmap == 1) {
        if ((type != 1 && type != 9) || (bpp != 8 && bpp != 16) || le16(b + 5) == 0 ||
            (cbits != 8 && cbits != 15 && cbits != 16 && cbits != 24 && cbits != 32))
            goto done; /* not a TGA stb reads, or one it refuses */
    } else if (cmap != 0 || (type != 2 && type != 3 && type != 10 && type != 11) || !bits_ok) {
        goto done;
    }
    if (w < 1 || h < 1) goto done;
    long long pos = 18 + b[0], npix = w * h, pb = (bpp + 7) / 8;
    if (cmap == 1) pos += le16(b + 3) + (long long)le16(b + 5) * ((cbits + 7) / 8);
    if (type < 8) {
        bad = pos > file_size || file_size - pos < npix * pb;
    } else {
        /* Each packet takes at least one byte, so this ends within the file
         * even for a header that lies about the size. */
        for (long long done = 0; done < npix && !bad;) {
            int c = EOF;
            if (pos < file_size && fseeko(f, (off_t)pos, SEEK_SET) == 0) c = getc(f);
            if (c == EOF) {
                bad = 1;
                break;
            }
            long long run = 1 + (c & 127);
            if (run > npix - done) run = npix - done;
            pos += 1 + (c & 128 ? pb : run * pb);
            done += run;
            bad = pos > file_size;
        }
    }
    if (bad) snprintf(why, len, "truncated TGA: the pixel data ends early");
done:
    rewind(f);
    return bad;
}

/* PSD (RGB, 8 or 16 bits, as stb reads it): the channel count (the format
 * allows 1 to 56; stb reads up to 16, the first 4 of them, and fills absent
 * ones with black, so 0 channels gave a black image), then the three
 * length-prefixed sections, the compression, and the pixels: raw, channel
 * after channel, or RLE, after a table of every row's byte count (one per
 * row and channel), which Pillow also relies on. */
static int psd_short(FILE *f, long long file_size, char *why, size_t len)
{
    int bad = 0;
    unsigned char b[26];
    if (fread(b, 1, 26, f) != 26 || memcmp(b, "8BPS", 4) != 0 || be16(b + 4) != 1) goto done;
    unsigned channels = be16(b + 12), depth = be16(b + 22);
    long long h = be32(b + 14), w = be32(b + 18);
    if ((depth != 8 && depth != 16) || be16(b + 24) != 3 || w <= 0 || h <= 0)
        goto done; /* stb refuses it */
    if (channels < 1 || channels > 56) {
        snprintf(why, len, "invalid PSD: %u channels", channels);
        bad = 1;
        goto done;
    }
    long long pos = 26;
    for (int section = 0; section < 3 && !bad; section++) { /* mode data, resources, layers */
        bad = read_at(f, pos, b, 4) != 0;
        pos += 4 + (long long)(bad ? 0 : be32(b));
        bad = bad || pos > file_size;
    }
    if (bad || read_at(f, pos, b, 2) != 0) {
        bad = 1;
        snprintf(why, len, "truncated PSD: the file ends before its pixel data");
        goto done;
    }
    unsigned compression = be16(b);
    pos += 2;
    long long used = channels < 4 ? channels : 4; /* the channels stb reads */
    long long need = used * w * h * (depth / 8);
    if (compression == 1) {
        /* the row table, then the rows of the channels stb reads */
        long long table = 2 * h * channels;
        need = table;
        if (pos + table <= file_size && fseeko(f, (off_t)pos, SEEK_SET) == 0) {
            for (long long r = 0; r < used * h; r++) {
                int hi = getc(f), lo = getc(f);
                if (lo == EOF) break;
                need += hi << 8 | lo;
            }
        }
    } else if (compression != 0) {
        goto done; /* stb refuses it */
    }
    if (file_size - pos < need) {
        snprintf(why, len, "truncated PSD: the pixel data ends early");
        bad = 1;
    }
done:
    rewind(f);
    return bad;
}

/* Binary PNM (P5/P6; header parsed as stb parses it): stb 2.27 ignores a
 * short read of the pixel data and returns the image with the missing
 * pixels uninitialised (heap garbage; fixed in stb 2.28); and it takes a
 * maxval of 0 (no valid sample) as 8-bit. */
static int pnm_short(FILE *f, long long file_size, char *why, size_t len)
{
    int bad = 0;
    int p = getc(f), t = getc(f);
    if (p != 'P' || (t != '5' && t != '6')) goto done;
    const char *name = t == '5' ? "PGM" : "PPM";
    long long v[3]; /* width, height, maxval */
    int c = getc(f);
    for (int i = 0; i < 3; i++) {
        for (;;) { /* blanks, and comments up to the end of their line */
            while (c == ' ' || (c >= '\t' && c <= '\r')) c = getc(f);
            if (c != '#') break;
            while (c != EOF && c != '\n' && c != '\r') c = getc(f);
        }
        v[i] = 0;
        for (; c >= '0' && c <= '9'; c = getc(f))
            if (v[i] < (1LL << 32)) v[i] = v[i] * 10 + (c - '0');
    }
    /* The pixels start after the one character that ended the maxval. */
    long header = ftell(f);
    if (header < 0 || v[0] > (1LL << 24) || v[1] > (1LL << 24) || v[2] > 65535)
        goto done; /* stb refuses it */
    if (v[2] == 0) {
        snprintf(why, len, "invalid %s: maxval 0", name);
        bad = 1;
        goto done;
    }
    long long need = v[0] * v[1] * (t == '6' ? 3 : 1) * (v[2] > 255 ? 2 : 1);
    if (file_size - header < need) {
        snprintf(why, len, "truncated %s: less pixel data than its header declares", name);
        bad = 1;
    }
done:
    rewind(f);
    return bad;
}

/* Binary PNM: the width and height tokens as the header writes them (at
 * most n-1 bytes each, "..." when cut), for the error about a size stb
 * misreads: it stops at a '-' ("-5" reads as 0) and wraps numbers past
 * INT_MAX. Returns 1 when the file is a P5/P6 whose tokens are not the
 * plain decimal numbers w and h, else 0; rewinds f. */
static int pnm_size_differs(FILE *f, int w, int h, char *ws, char *hs, size_t n)
{
    int differs = 0;
    int p = getc(f), t = getc(f);
    if (p != 'P' || (t != '5' && t != '6')) goto done;
    char *tok[2] = {ws, hs};
    const int want[2] = {w, h};
    int c = getc(f);
    for (int i = 0; i < 2; i++) {
        for (;;) { /* blanks and comments, as pnm_short skips them */
            while (c == ' ' || (c >= '\t' && c <= '\r')) c = getc(f);
            if (c != '#') break;
            while (c != EOF && c != '\n' && c != '\r') c = getc(f);
        }
        size_t len = 0;
        long long v = 0;
        int digits = 1;
        for (; c != EOF && c != '#' && c != ' ' && !(c >= '\t' && c <= '\r'); c = getc(f)) {
            if (len + 4 < n) tok[i][len++] = (char)c;
            else if (len + 4 == n) {
                memcpy(tok[i] + len, "...", 3);
                len += 3;
            }
            if (c < '0' || c > '9') digits = 0;
            else if (v <= INT_MAX) v = v * 10 + (c - '0');
        }
        tok[i][len] = 0;
        if (!len) snprintf(tok[i], n, "?");
        if (!len || !digits || v != want[i]) differs = 1;
    }
done:
    rewind(f);
    return differs;
}

/* GIF: stb decodes the first image (frame); a file whose blocks end (the
 * trailer, or the end of the file) before any image made it fail with an
 * empty reason. Walks the blocks before the first image descriptor:
 * extensions are chains of length-prefixed sub-blocks. */
static int gif_short(FILE *f, long long file_size, char *why, size_t len)
{
    (void)file_size;
    int bad = 0;
    unsigned char b[13];
    if (fread(b, 1, 13, f) != 13 || memcmp(b, "GIF8", 4) != 0 || (b[4] != '7' && b[4] != '9') ||
        b[5] != 'a')
        goto done;
    if (b[10] & 0x80 && fseek(f, 3L << ((b[10] & 7) + 1), SEEK_CUR) != 0) goto done;
    for (;;) {
        int c = getc(f);
        if (c == 0x2C) break; /* an image */
        if (c == 0x3B || c == EOF) {
            snprintf(why, len, c == EOF ? "truncated GIF: the file ends before its first image"
                                        : "GIF has no image");
            bad = 1;
            break;
        }
        if (c != 0x21) break; /* stb refuses it */
        getc(f);              /* the extension's label */
        for (int n; (n = getc(f)) > 0;)
            if (fseek(f, n, SEEK_CUR) != 0) goto done;
    }
done:
    rewind(f);
    return bad;
}

/* Two formats that Pillow, whose decoding the official pipeline uses, does
 * not read at all, and whose stb 2.27 decoders fail badly on corrupt files,
 * are refused outright (recognised as stb recognises them). Returns the
 * format's name, or NULL.
 *  - Softimage PIC: stbi__pic_load hands a NULL result to
 *    stbi__convert_format, which dereferences it (a crash) when the pixel
 *    data is corrupt or truncated.
 *  - Radiance HDR: a run-length byte of 128 (a run of 0) in an RLE scanline
 *    makes stbi__hdr_load loop forever (a hang; fixed in stb 2.28). */
static const char *unsupported_format(FILE *f)
{
    unsigned char h[92];
    size_t n = fread(h, 1, sizeof h, f);
    rewind(f);
    if (n == sizeof h && memcmp(h, "\x53\x80\xF6\x34", 4) == 0 &&
        memcmp(h + 88, "PICT", 4) == 0)
        return "Softimage PIC";
    if ((n >= 11 && memcmp(h, "#?RADIANCE\n", 11) == 0) ||
        (n >= 7 && memcmp(h, "#?RGBE\n", 7) == 0))
        return "Radiance HDR";
    return NULL;
}

/* stb's reason for its last failure, never empty: for a PNG chunk type it
 * does not know, it gives the type's four bytes, which can all be 0. */
static const char *stb_reason(void)
{
    const char *r = stbi_failure_reason();
    return r && *r ? r : "corrupt or truncated data";
}

/* Every check of image_load but the file's own: the formats and files
 * refused, the header's size and the pixel limit, on a stream of `size`
 * bytes at its start. Returns 0 with the stream back at its start, or -1
 * with the reason in err (the stream is left open either way). */
static int check_stream(FILE *f, long long size, int *width, int *height, char *err,
                        size_t errlen)
{
    char why[128];
    const char *refused = unsupported_format(f);
    if (refused) {
        set_err(err, errlen, "not a supported image (%s is not supported)", refused);
        return -1;
    }
    long long png_w, png_h;
    const char *bad_png = png_check(f, size, &png_w, &png_h);
    /* The pixel limit first, as for the other formats (checked below). */
    if (png_w > 0 && png_h > 0 && png_w <= INT_MAX && png_h <= INT_MAX &&
        image_check_pixels((int)png_w, (int)png_h, err, errlen)) {
        return -1;
    }
    if (bad_png) {
        set_err(err, errlen, "not a supported image (%s)", bad_png);
        return -1;
    }
    const char *bad_jpeg = jpeg_check_huffman_tables(f);
    if (bad_jpeg) {
        set_err(err, errlen, "not a supported image (corrupt JPEG: %s)", bad_jpeg);
        return -1;
    }

    /* Read only the header first: stb would otherwise allocate whatever the
     * header declares before noticing the data is missing. */
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_file(f, &w, &h, &comp)) {
        set_err(err, errlen, "not a supported image (stb: %s)", stb_reason());
        return -1;
    }
    /* stb's BMP info passes the header's height through as it is, and a
     * top-down BMP (a valid, common variant that PIL reads) declares a
     * negative one; the decoder itself flips it to positive. Take the
     * magnitude, or every top-down BMP would be refused here. The size check
     * after decoding still makes sure that header and pixels agree. */
    if (h < 0 && h != INT_MIN) h = -h;
    char ws[24], hs[24];
    if (pnm_size_differs(f, w, h, ws, hs, sizeof ws)) {
        set_err(err, errlen, "not a supported image (declared size %sx%s)", ws, hs);
        return -1;
    }
    if (w <= 0 || h <= 0) {
        set_err(err, errlen, "not a supported image (declared size %dx%d)", w, h);
        return -1;
    }
    if (image_check_pixels(w, h, err, errlen)) {
        return -1;
    }
    /* Only now: the sizes these multiply are within the limit. stb would
     * decode a file with pixels missing without a word (see above). */
    if (bmp_short(f, size, why, sizeof why) || tga_short(f, size, why, sizeof why) ||
        psd_short(f, size, why, sizeof why) || pnm_short(f, size, why, sizeof why) ||
        gif_short(f, size, why, sizeof why)) {
        set_err(err, errlen, "not a supported image (%s)", why);
        return -1;
    }
    *width = w;
    *height = h;
    return 0; /* stbi_info_from_file left it at the start */
}

/* Every check of image_load before decoding: the file, then
 * check_stream(). Returns the open file, at its start, or NULL with the
 * reason in err. */
static FILE *open_image(const char *path, int *width, int *height, char *err, size_t errlen)
{
    /* Opened without blocking (a FIFO would hang open()), and refused if it
     * is not a regular file: a directory would otherwise fail later with a
     * confusing "not a supported image". */
    struct stat st;
    char why[128];
    FILE *f = file_fopen_input(path, &st, why, sizeof why);
    if (!f) {
        set_err(err, errlen, "cannot open file: %s", why);
        return NULL;
    }
    if (st.st_size == 0) {
        set_err(err, errlen, "empty file");
        fclose(f);
        return NULL;
    }
    if (check_stream(f, (long long)st.st_size, width, height, err, errlen)) {
        fclose(f);
        return NULL;
    }
    return f;
}

/* A read-only stream over data[0..size), or NULL with the reason in err. */
static FILE *open_memory(const void *data, size_t size, char *err, size_t errlen)
{
    if (size == 0) {
        set_err(err, errlen, "empty file");
        return NULL;
    }
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f) set_err(err, errlen, "out of memory");
    return f;
}

int image_info_memory(const void *data, size_t size, int *width, int *height, char *err,
                      size_t errlen)
{
    FILE *f = open_memory(data, size, err, errlen);
    if (!f) return -1;
    int rc = check_stream(f, (long long)size, width, height, err, errlen);
    fclose(f);
    return rc;
}

int image_info(const char *path, int *width, int *height, char *err, size_t errlen)
{
    FILE *f = open_image(path, width, height, err, errlen);
    if (!f) return -1;
    fclose(f);
    return 0;
}

/* Decodes the checked stream f (at its start, w x h), closes it. */
static int decode_stream(FILE *f, int w, int h, msam_image *out, char *err, size_t errlen)
{
    /* Converting to RGB below replicates gray (and gray+alpha) into R=G=B
     * and drops alpha without compositing; stb expands palettes (ignoring
     * tRNS): the same as PIL's convert('RGB'), checked against Pillow for
     * L, LA, RGBA, P, 1-bit, BMP, TGA, PPM and GIF. 16-bit samples are
     * reduced by taking the high byte, as PIL does for 16-bit RGB PNGs and
     * OpenCV's imread for all; PIL alone differs on 16-bit grayscale, which
     * it opens as mode I and clips at 255 (mostly white). Like PIL's
     * Image.open, EXIF orientation is not applied.
     * The file's own channels are asked for (0), not 3: stb 2.27's channel
     * conversion treats 16-bit PNM samples as 8-bit ones and then reads past
     * its buffer on every 16-bit PGM (found by fuzzing; fixed in stb 2.28),
     * so the conversion is done here, the same way stb does it. */
    int lw = 0, lh = 0, lc = 0;
    stbi_uc *pix = stbi_load_from_file(f, &lw, &lh, &lc, 0);
    fclose(f);
    if (!pix) {
        set_err(err, errlen, "not a supported image (stb: %s)", stb_reason());
        return -1;
    }
    if (lw != w || lh != h || lc < 1 || lc > 4) {
        /* Cannot happen for a well-behaved decoder; refuse rather than trust
         * a size the limit check did not see. */
        stbi_image_free(pix);
        set_err(err, errlen, "not a supported image (header says %dx%d, decoded %dx%d)",
                w, h, lw, lh);
        return -1;
    }

    /* Hand back memory the caller frees with image_free (free()), so callers
     * never need to know it came from stb. */
    size_t n = (size_t)w * (size_t)h * 3;
    out->rgb = malloc(n);
    if (!out->rgb) {
        stbi_image_free(pix);
        set_err(err, errlen, "out of memory for a %dx%d image", w, h);
        return -1;
    }
    if (lc == 3) {
        memcpy(out->rgb, pix, n);
    } else {
        /* 1 gray, 2 gray+alpha: R=G=B=gray; 4: RGBA, alpha dropped */
        for (size_t i = 0, np = (size_t)w * (size_t)h; i < np; i++) {
            const stbi_uc *p = pix + i * (size_t)lc;
            uint8_t *q = out->rgb + 3 * i;
            q[0] = p[0];
            q[1] = lc <= 2 ? p[0] : p[1];
            q[2] = lc <= 2 ? p[0] : p[2];
        }
    }
    stbi_image_free(pix);
    out->width = w;
    out->height = h;
    return 0;
}

int image_load(const char *path, msam_image *out, char *err, size_t errlen)
{
    out->rgb = NULL;
    out->width = out->height = 0;
    int w = 0, h = 0;
    FILE *f = open_image(path, &w, &h, err, errlen);
    if (!f) return -1;
    return decode_stream(f, w, h, out, err, errlen);
}

int image_load_memory(const void *data, size_t size, msam_image *out, char *err,
                      size_t errlen)
{
    out->rgb = NULL;
    out->width = out->height = 0;
    int w = 0, h = 0;
    FILE *f = open_memory(data, size, err, errlen);
    if (!f) return -1;
    if (check_stream(f, (long long)size, &w, &h, err, errlen)) {
        fclose(f);
        return -1;
    }
    return decode_stream(f, w, h, out, err, errlen);
}

void image_free(msam_image *img)
{
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

/* a * b rounded to double before anything else touches it. With GCC's
 * default -ffp-contract=fast (GNU C modes) a multiply followed by an add can
 * be fused into one FMA on targets that have it (aarch64, x86 with -march
 * flags), which rounds once instead of twice and could move a value across a
 * rounding boundary. Python and Pillow's reference builds round the product;
 * the volatile store forces the same here. */
static double mul_rounded(double a, double b)
{
    volatile double p = a * b;
    return p;
}

void image_target_size(int h, int w, int target, int *newh, int *neww)
{
    /* ResizeLongestSide.get_preprocess_shape:
     *   scale = long_side_length * 1.0 / max(oldh, oldw)
     *   newh, neww = oldh * scale, oldw * scale
     *   neww = int(neww + 0.5); newh = int(newh + 0.5)
     * int() truncates toward zero; the values are positive here. */
    int longest = h > w ? h : w;
    if (longest <= 0 || target <= 0) {
        *newh = *neww = 0;
        return;
    }
    double scale = (double)target * 1.0 / (double)longest;
    double fh = mul_rounded((double)h, scale);
    double fw = mul_rounded((double)w, scale);
    *newh = (int)(fh + 0.5);
    *neww = (int)(fw + 0.5);
}

/* ---- Pillow-compatible bilinear resampling --------------------------- */

/* Fixed-point fraction bits of the 8-bit resampler: 32 bits minus 8 for the
 * pixel value minus 2 of headroom for filters with negative lobes. */
#define PIL_PRECISION_BITS (32 - 8 - 2)

/* Coefficients of one 1-D pass: for output index i, the inputs
 * first[i] .. first[i] + count[i] - 1 weighted by k[i * ksize + j]. */
typedef struct {
    int ksize;
    int *first;
    int *count;
    int32_t *k;
} resample_coeffs;

static void coeffs_free(resample_coeffs *c)
{
    free(c->first);
    free(c->count);
    free(c->k);
    c->first = c->count = NULL;
    c->k = NULL;
}

/* Pillow's bilinear (triangle) filter. */
static double triangle(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Mirrors Pillow's precompute_coeffs (box = the whole image, support 1.0)
 * followed by normalize_coeffs_8bpc. */
static int coeffs_build(int in_size, int out_size, resample_coeffs *c)
{
    memset(c, 0, sizeof(*c));
    /* Pillow computes (double)(in1 - in0) / outSize with the box as floats;
     * with in0 = 0 and integer sizes below 2^24 that is exactly this. The
     * box origin in0 = 0 is also added to each centre; adding 0.0 changes
     * nothing, so it is left out (which also leaves no multiply-add to fuse). */
    double scale = (double)in_size / (double)out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale; /* bilinear support is 1.0 */
    double inv_filterscale = 1.0 / filterscale;
    double ceil_support = ceil(support);
    if (ceil_support > (double)(INT_MAX / 4)) return -1;
    int ksize = (int)ceil_support * 2 + 1;

    size_t nk = (size_t)out_size * (size_t)ksize;
    if (nk / (size_t)ksize != (size_t)out_size) return -1;
    double *w = malloc(nk * sizeof(double));
    c->first = malloc((size_t)out_size * sizeof(int));
    c->count = malloc((size_t)out_size * sizeof(int));
    c->k = malloc(nk * sizeof(int32_t));
    if (!w || !c->first || !c->count || !c->k) {
        free(w);
        coeffs_free(c);
        return -1;
    }
    c->ksize = ksize;

    for (int xx = 0; xx < out_size; xx++) {
        double center = mul_rounded((double)xx + 0.5, scale);
        /* "Round the value": (int) truncates toward zero, exactly as Pillow;
         * a negative xmin is clamped to 0 right after, so truncation versus
         * floor does not matter. */
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        int n = xmax - xmin;
        double *k = &w[(size_t)xx * ksize];
        double ww = 0.0;
        for (int x = 0; x < n; x++) {
            /* Same evaluation order as Pillow:
             * ((x + xmin) - center + 0.5) * inv_filterscale. */
            double t = (double)(x + xmin) - center + 0.5;
            double v = triangle(mul_rounded(t, inv_filterscale));
            k[x] = v;
            ww += v;
        }
        if (ww != 0.0) {
            for (int x = 0; x < n; x++) k[x] /= ww;
        }
        for (int x = n < 0 ? 0 : n; x < ksize; x++) k[x] = 0.0;
        c->first[xx] = xmin;
        c->count[xx] = n < 0 ? 0 : n;
    }

    /* normalize_coeffs_8bpc: round half away from zero to 22-bit fixed
     * point. Multiplying by a power of two is exact, so no fusion issue. */
    for (size_t i = 0; i < nk; i++) {
        double v = w[i] * (double)(1 << PIL_PRECISION_BITS);
        c->k[i] = (int32_t)(w[i] < 0 ? v - 0.5 : v + 0.5);
    }
    free(w);
    return 0;
}

/* Pillow's clip8: the accumulator started at half a unit, so the arithmetic
 * shift rounds to nearest; out-of-range sums saturate. */
static uint8_t clip8(int32_t ss)
{
    if (ss < 0) return 0;
    int32_t v = ss >> PIL_PRECISION_BITS;
    return v > 255 ? 255 : (uint8_t)v;
}

/* Horizontal pass over rows [y0, y1) of src (width sw), writing rows
 * 0 .. y1-y0-1 of dst (width dw). */
static void pass_horizontal(const uint8_t *src, int sw, int y0, int y1,
                            uint8_t *dst, int dw, const resample_coeffs *c)
{
    for (int y = y0; y < y1; y++) {
        const uint8_t *in = src + (size_t)y * sw * 3;
        uint8_t *out = dst + (size_t)(y - y0) * dw * 3;
        for (int xx = 0; xx < dw; xx++) {
            const int32_t *k = &c->k[(size_t)xx * c->ksize];
            const uint8_t *p = in + (size_t)c->first[xx] * 3;
            int n = c->count[xx];
            int32_t s0 = 1 << (PIL_PRECISION_BITS - 1);
            int32_t s1 = s0, s2 = s0;
            for (int x = 0; x < n; x++) {
                s0 += p[3 * x + 0] * k[x];
                s1 += p[3 * x + 1] * k[x];
                s2 += p[3 * x + 2] * k[x];
            }
            out[3 * xx + 0] = clip8(s0);
            out[3 * xx + 1] = clip8(s1);
            out[3 * xx + 2] = clip8(s2);
        }
    }
}

/* Vertical pass: src has rows starting at source row `row0` (the rows the
 * horizontal pass produced), width w; dst has dh rows of width w. */
static void pass_vertical(const uint8_t *src, int w, int row0, uint8_t *dst,
                          int dh, const resample_coeffs *c)
{
    size_t stride = (size_t)w * 3;
    for (int yy = 0; yy < dh; yy++) {
        const int32_t *k = &c->k[(size_t)yy * c->ksize];
        const uint8_t *base = src + (size_t)(c->first[yy] - row0) * stride;
        int n = c->count[yy];
        uint8_t *out = dst + (size_t)yy * stride;
        for (size_t i = 0; i < stride; i++) {
            int32_t s = 1 << (PIL_PRECISION_BITS - 1);
            for (int y = 0; y < n; y++) s += base[(size_t)y * stride + i] * k[y];
            out[i] = clip8(s);
        }
    }
}

int image_resize_bilinear_pil(const uint8_t *src, int sw, int sh, uint8_t *dst,
                              int dw, int dh)
{
    if (!src || !dst || sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0) return -1;

    /* Pillow skips a pass whose dimension is unchanged (and returns a copy
     * when neither changes). An identity pass would give the same values
     * anyway: its only non-zero weight is exactly 1.0. */
    int need_h = dw != sw;
    int need_v = dh != sh;
    if (!need_h && !need_v) {
        memmove(dst, src, (size_t)sw * sh * 3);
        return 0;
    }

    resample_coeffs cv = {0}, ch = {0};
    uint8_t *tmp = NULL;
    int rc = -1;

    if (!need_v) {
        if (coeffs_build(sw, dw, &ch) != 0) goto done;
        pass_horizontal(src, sw, 0, sh, dst, dw, &ch);
        rc = 0;
        goto done;
    }

    if (coeffs_build(sh, dh, &cv) != 0) goto done;
    if (!need_h) {
        pass_vertical(src, sw, 0, dst, dh, &cv);
        rc = 0;
        goto done;
    }

    /* Like Pillow, the horizontal pass only produces the source rows the
     * vertical pass reads: from the first row of output row 0 to the end of
     * the last output row's window. (Windows move monotonically.) */
    int row0 = cv.first[0];
    int row1 = cv.first[dh - 1] + cv.count[dh - 1];
    if (coeffs_build(sw, dw, &ch) != 0) goto done;
    tmp = malloc((size_t)(row1 - row0) * dw * 3);
    if (!tmp) goto done;
    pass_horizontal(src, sw, row0, row1, tmp, dw, &ch);
    pass_vertical(tmp, dw, row0, dst, dh, &cv);
    rc = 0;

done:
    free(tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    return rc;
}
