#!/usr/bin/env python3
"""make_seeds.py - (re)writes the generated seed corpora of the fuzzers.

    python3 tests/fuzz/make_seeds.py [CORPUS_DIR]   (default tests/fuzz/corpus)

Writes CORPUS_DIR/weights/*, CORPUS_DIR/npy/* and CORPUS_DIR/image/*: small
valid files of every variant the readers accept, and broken ones (truncated,
patched fields); CORPUS_DIR/prompts/* (prompts JSON, JSON Lines) and
CORPUS_DIR/args/* (command lines, one word per line), valid and not. Standard library only, deterministic. JPEG seeds need cjpeg
(Debian: libjpeg-turbo-progs); without it they are left as they are.

Only files named here are (re)written: regression inputs found by fuzzing
(named crash-*, leak-*, timeout-*, regress-*) live next to them and are kept.
"""
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- weights
# tools/WEIGHT_FORMAT.md: 64-byte header, tensor table, 64-aligned data.

def align64(n):
    return (n + 63) // 64 * 64


def wt_checksum(b):
    """Checksum of bytes b (= file[64:]): u32 words in blocks of 1024."""
    words = len(b) // 4
    total = 0
    for blk in range(0, (words + 1023) // 1024):
        s = 0
        for i in range(blk * 1024, min(words, blk * 1024 + 1024)):
            s += struct.unpack_from("<I", b, 4 * i)[0]
        total = (total + (blk + 1) * s) % (1 << 64)
    return total


def wt_file(tensors, version=1, kind=1, config=b""):
    """tensors: list of (name, shape); data is a deterministic ramp. With a
    configuration record (version 2), the table follows it."""
    table_size = sum(2 + len(n.encode()) + 2 + 4 * len(s) + 16 for n, s in tensors)
    table_off = 64 + (len(config) + 7) // 8 * 8
    off = align64(table_off + table_size)
    data_off = off
    table = b""
    blobs = []
    for i, (name, shape) in enumerate(tensors):
        numel = 1
        for d in shape:
            numel *= d
        nb = name.encode()
        table += struct.pack("<H", len(nb)) + nb + struct.pack("<BB", 1, len(shape))
        table += b"".join(struct.pack("<I", d) for d in shape)
        table += struct.pack("<QQ", off, 4 * numel)
        vals = [((j * 7 + i * 3) % 23 - 11) / 8.0 for j in range(numel)]
        blobs.append((off, struct.pack("<%df" % numel, *vals)))
        off = align64(off + 4 * numel)
    size = max(off, data_off)
    body = bytearray(size)
    body[64:64 + len(config)] = config
    body[table_off:table_off + len(table)] = table
    for o, b in blobs:
        body[o:o + len(b)] = b
    return finish_wt(body, len(tensors), table_size, data_off, version, kind,
                     config, table_off)


def finish_wt(body, n, table_size, data_off, version=1, kind=1, config=b"",
              table_off=64):
    body = bytearray(body)
    struct.pack_into("<8sIIQQQQQII", body, 0, b"MOBISAM\0", version, n,
                     table_off, table_size, data_off, len(body), 0, kind,
                     len(config))
    struct.pack_into("<Q", body, 48, wt_checksum(bytes(body[64:])))
    return bytes(body)


def rechecksum(b):
    b = bytearray(b)
    struct.pack_into("<Q", b, 40, len(b))
    struct.pack_into("<Q", b, 48, wt_checksum(bytes(b[64:])))
    return bytes(b)


def weight_seeds(d):
    tensors = [("image_encoder.neck.0.weight", (2, 3)),
               ("bias", (5,)),
               ("scalar", ()),
               ("conv.w", (1, 2, 2, 3)),
               ("odd", (17,))]
    valid = wt_file(tensors)
    write(d, "valid.msam", valid)
    write(d, "one.msam", wt_file([("x", (1,))]))
    write(d, "dup_names.msam", wt_file([("a", (2,)), ("a", (3,)), ("b", (1, 1))]))
    # Truncations (the header's size no longer matches).
    write(d, "trunc_64.msam", valid[:-64])
    write(d, "trunc_hdr.msam", valid[:63])
    write(d, "only_hdr.msam", valid[:64])
    # Bad header fields.
    b = bytearray(valid); b[0] = ord("X"); write(d, "bad_magic.msam", bytes(b))
    write(d, "bad_version.msam", wt_file(tensors, version=2))
    write(d, "bad_kind.msam", wt_file(tensors, kind=7))
    b = bytearray(valid); b[-1] ^= 1; write(d, "bad_checksum.msam", bytes(b))
    b = bytearray(valid); struct.pack_into("<I", b, 12, 0)
    write(d, "zero_tensors.msam", bytes(b))
    b = bytearray(valid); struct.pack_into("<I", b, 12, 6)  # one more than the table has
    write(d, "too_many_tensors.msam", rechecksum(b))
    # Corrupt table entries, checksum recomputed so the table parser sees them.
    first = 64  # name_len of the first entry
    nl = len(tensors[0][0])
    b = bytearray(valid); struct.pack_into("<H", b, first, 0)
    write(d, "name_len0.msam", rechecksum(b))
    b = bytearray(valid); struct.pack_into("<H", b, first, 2000)
    write(d, "name_len_big.msam", rechecksum(b))
    b = bytearray(valid); b[first + 2 + nl] = 2
    write(d, "dtype2.msam", rechecksum(b))
    b = bytearray(valid); b[first + 2 + nl + 1] = 5
    write(d, "ndim5.msam", rechecksum(b))
    shape0 = first + 2 + nl + 2
    b = bytearray(valid); struct.pack_into("<I", b, shape0, 0)
    write(d, "dim0.msam", rechecksum(b))
    b = bytearray(valid); struct.pack_into("<I", b, shape0, 3)  # size no longer 4*numel
    write(d, "size_mismatch.msam", rechecksum(b))
    offp = shape0 + 8
    b = bytearray(valid); struct.pack_into("<Q", b, offp, len(valid))
    write(d, "off_at_end.msam", rechecksum(b))
    b = bytearray(valid); struct.pack_into("<Q", b, offp, 1 << 63)
    write(d, "off_huge.msam", rechecksum(b))
    b = bytearray(valid); struct.pack_into("<Q", b, offp, 65)
    write(d, "off_unaligned.msam", rechecksum(b))
    b = bytearray(valid); struct.pack_into("<Q", b, offp + 8, (1 << 64) - 4)
    write(d, "nbytes_huge.msam", rechecksum(b))
    # Second tensor overlapping the first.
    b = bytearray(valid)
    second = first + 2 + nl + 2 + 8 + 16
    nl2 = len(tensors[1][0])
    struct.pack_into("<Q", b, second + 2 + nl2 + 2 + 4, struct.unpack_from("<Q", b, offp)[0])
    write(d, "overlap.msam", rechecksum(b))
    b = bytearray(valid); struct.pack_into("<Q", b, 24, 1 << 40)
    write(d, "table_size_huge.msam", rechecksum(b))
    b = bytearray(valid); struct.pack_into("<Q", b, 32, 64)
    write(d, "data_in_table.msam", rechecksum(b))
    # Version 2: a SAM ViT configuration record before the table.
    vit_b = (b"model=vit_b\nimg_size=1024\npatch=16\nwidth=768\ndepth=12\n"
             b"heads=12\nhead_dim=64\nmlp_dim=3072\nwindow=14\n"
             b"global=2,5,8,11\nout_chans=256\n")
    v2 = wt_file([("image_encoder.pos_embed", (1, 2, 2, 3)), ("bias", (5,))],
                 version=2, kind=2, config=vit_b)
    write(d, "v2_vit_b.msam", v2)
    write(d, "v2_bad_record.msam", wt_file(tensors, version=2, kind=2,
                                           config=b"model=vit_b\n\x01width=7\n"))
    write(d, "v2_no_record.msam", wt_file(tensors, version=2, kind=2))


# -------------------------------------------------------------------- npy

def npy_file(descr, shape, payload, fortran=False, version=(1, 0), comment=None,
             header=None, quote="'"):
    if header is None:
        q = quote
        if len(shape) == 1:
            st = "(%d,)" % shape[0]
        else:
            st = "(" + ", ".join(str(s) for s in shape) + ")"
        header = "{%sdescr%s: %s%s%s, %sfortran_order%s: %s, %sshape%s: %s, }" % (
            q, q, q, descr, q, q, q, "True" if fortran else "False", q, q, st)
        if comment is not None:
            header += " # " + comment
    hb = header.encode("utf-8")
    pre = 10 if version[0] == 1 else 12
    total = align64(pre + len(hb) + 1)
    hb = hb + b" " * (total - pre - len(hb) - 1) + b"\n"
    out = b"\x93NUMPY" + bytes(version)
    out += struct.pack("<H", len(hb)) if version[0] == 1 else struct.pack("<I", len(hb))
    return out + hb + payload


def floats(fmt, n, start=0):
    vals = [(i + start) * 0.25 - 1.0 for i in range(n)]
    return struct.pack("<%d%s" % (n, fmt), *vals)


def npy_seeds(d):
    write(d, "f4_2x3.npy", npy_file("<f4", (2, 3), floats("f", 6)))
    write(d, "f2_3.npy", npy_file("<f2", (3,), floats("e", 3)))
    write(d, "f8_2x2.npy", npy_file("<f8", (2, 2), floats("d", 4)))
    write(d, "f4_fortran.npy", npy_file("<f4", (2, 3, 2), floats("f", 12), fortran=True))
    write(d, "f2_fortran.npy", npy_file("<f2", (3, 2), floats("e", 6), fortran=True))
    write(d, "scalar.npy", npy_file("<f4", (), floats("f", 1)))
    write(d, "empty.npy", npy_file("<f4", (0,), b""))
    write(d, "empty_0x5.npy", npy_file("<f8", (0, 5), b""))
    write(d, "comment.npy", npy_file("<f4", (2,), floats("f", 2), comment="from test 1.5"))
    write(d, "v2.npy", npy_file("<f4", (1, 2), floats("f", 2), version=(2, 0)))
    write(d, "v3.npy", npy_file("<f4", (2, 1), floats("f", 2), version=(3, 0), comment="\u00e9"))
    write(d, "native.npy", npy_file("=f8", (1,), floats("d", 1)))
    write(d, "noorder.npy", npy_file("f2", (2,), floats("e", 2)))
    write(d, "pipe.npy", npy_file("|f4", (1,), floats("f", 1)))
    write(d, "dquote.npy", npy_file("<f4", (3,), floats("f", 3), quote='"'))
    write(d, "long_suffix.npy",
          npy_file(None, None, floats("f", 6),
                   header="{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }"))
    write(d, "reordered.npy",
          npy_file(None, None, floats("f", 4),
                   header="{'shape': (4,),'fortran_order':False,'descr':'<f4'}"))
    write(d, "dims8.npy", npy_file("<f4", (1, 2, 1, 1, 2, 1, 1, 1), floats("f", 4)))
    write(d, "dims8_fortran.npy",
          npy_file("<f4", (2, 1, 2, 1, 1, 1, 2, 1), floats("f", 8), fortran=True))
    special = struct.pack("<6H", 0x7c00, 0xfc00, 0x7e01, 0x0001, 0x8000, 0x3bff)
    write(d, "f2_special.npy", npy_file("<f2", (6,), special))
    big = struct.pack("<3d", 1e300, -1e300, 5e-324)
    write(d, "f8_overflow.npy", npy_file("<f8", (3,), big))
    # Broken ones.
    good = npy_file("<f4", (2, 3), floats("f", 6))
    write(d, "bad_magic.npy", b"\x93NUMPX" + good[6:])
    write(d, "v4.npy", good[:6] + b"\x04\x00" + good[8:])
    write(d, "trunc_header.npy", good[:40])
    write(d, "trunc_prefix.npy", good[:9])
    write(d, "trunc_data.npy", good[:-4])
    write(d, "extra_data.npy", good + b"\0\0\0\0")
    b = bytearray(good); struct.pack_into("<H", b, 8, 0xffff)
    write(d, "hlen_big.npy", bytes(b))
    v2 = npy_file("<f4", (1, 2), floats("f", 2), version=(2, 0))
    b = bytearray(v2); struct.pack_into("<I", b, 8, 0xffffffff)
    write(d, "hlen_huge.npy", bytes(b))
    write(d, "big_endian.npy", npy_file(">f4", (2,), struct.pack(">2f", 1, 2)))
    write(d, "int.npy", npy_file("<i4", (2,), struct.pack("<2i", 1, 2)))
    write(d, "no_comma.npy",
          npy_file(None, None, floats("f", 5),
                   header="{'descr': '<f4', 'fortran_order': False, 'shape': (5), }"))
    write(d, "dims9.npy", npy_file("<f4", (1,) * 9, floats("f", 1)))
    write(d, "missing_key.npy",
          npy_file(None, None, floats("f", 1), header="{'descr': '<f4', 'shape': (1,), }"))
    write(d, "extra_key.npy",
          npy_file(None, None, floats("f", 1),
                   header="{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}"))
    write(d, "dup_key.npy",
          npy_file(None, None, floats("f", 1),
                   header="{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}"))
    write(d, "huge_dims.npy",
          npy_file(None, None, b"",
                   header="{'descr': '<f4', 'fortran_order': False, "
                          "'shape': (99999999999999999999, 0), }"))
    write(d, "overflow_dims.npy",
          npy_file(None, None, b"",
                   header="{'descr': '<f8', 'fortran_order': False, "
                          "'shape': (4294967296, 4294967296, 4294967296), }"))
    write(d, "trailing_text.npy",
          npy_file(None, None, floats("f", 1),
                   header="{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x"))
    write(d, "escape.npy",
          npy_file(None, None, floats("f", 1),
                   header="{'descr': '<f\\4', 'fortran_order': False, 'shape': (1,), }"))
    write(d, "multiline_comment.npy",
          npy_file(None, None, floats("f", 2),
                   header="{'descr': '<f4', # a\n 'fortran_order': False,\n"
                          " 'shape': (2,), } # note\n# more"))


# ------------------------------------------------------------------ images

def pixels(w, h, ch, depth=8):
    """Deterministic test pattern: rows of channel tuples."""
    mx = (1 << depth) - 1
    rows = []
    for y in range(h):
        row = []
        for x in range(w):
            row.append(tuple((x * 37 + y * 91 + c * 53 + x * y) % (mx + 1)
                             for c in range(ch)))
        rows.append(row)
    return rows


def png_chunk(t, data):
    return (struct.pack(">I", len(data)) + t + data +
            struct.pack(">I", zlib.crc32(t + data) & 0xffffffff))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png_filter_rows(raw_rows, bpp):
    """Filters each row with type (row index % 5); returns the byte stream."""
    out = b""
    prev = bytes(len(raw_rows[0])) if raw_rows else b""
    for i, r in enumerate(raw_rows):
        ft = i % 5
        f = bytearray()
        for x in range(len(r)):
            a = r[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
            f.append((r[x] - pred) & 0xff)
        out += bytes([ft]) + bytes(f)
        prev = r
    return out


def pack_row(row, depth):
    """Packs one row of channel tuples at the given bit depth."""
    if depth == 8:
        return bytes(v for px in row for v in px)
    if depth == 16:
        return b"".join(struct.pack(">H", v) for px in row for v in px)
    bits = "".join(format(v, "0%db" % depth) for px in row for v in px)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_file(w, h, ctype, depth, rows, palette=None, trns=None, interlace=False,
             extra_chunks=(), idat_split=1):
    ch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    bpp = max(1, ch * depth // 8)
    if interlace:
        data = b""
        for x0, y0, dx, dy in ADAM7:
            sub = [rows[y][x0::dx] for y in range(y0, h, dy)]
            if not sub or not sub[0]:
                continue
            data += png_filter_rows([pack_row(r, depth) for r in sub], bpp)
    else:
        data = png_filter_rows([pack_row(r, depth) for r in rows], bpp)
    z = zlib.compress(data, 9)
    out = b"\x89PNG\r\n\x1a\n"
    out += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0,
                                          1 if interlace else 0))
    for c in extra_chunks:
        out += c
    if palette is not None:
        out += png_chunk(b"PLTE", bytes(v for px in palette for v in px))
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    step = (len(z) + idat_split - 1) // idat_split
    for i in range(0, len(z), step):
        out += png_chunk(b"IDAT", z[i:i + step])
    return out + png_chunk(b"IEND", b"")


def bmp_file(w, h, bpp, rows, top_down=False, palette=None):
    if bpp in (1, 4, 8):
        ncol = len(palette)
        pal = b"".join(bytes((b, g, r, 0)) for r, g, b in palette)
        stride = ((w * bpp + 31) // 32) * 4
        body = b""
        for r in rows:
            bits = "".join(format(px[0], "0%db" % bpp) for px in r)
            bits += "0" * (-len(bits) % 8)
            line = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
            body += line + bytes(stride - len(line))
    else:
        ncol = 0
        pal = b""
        stride = ((w * bpp + 31) // 32) * 4
        body = b""
        for r in rows:
            if bpp == 24:
                line = bytes(v for px in r for v in (px[2], px[1], px[0]))
            else:
                line = bytes(v for px in r for v in (px[2], px[1], px[0], 255))
            body += line + bytes(stride - len(line))
    if not top_down:
        lines = [body[i:i + stride] for i in range(0, len(body), stride)]
        body = b"".join(reversed(lines))
    off = 14 + 40 + len(pal)
    hdr = b"BM" + struct.pack("<IHHI", off + len(body), 0, 0, off)
    info = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bpp, 0,
                       len(body), 2835, 2835, ncol, 0)
    return hdr + info + pal + body


def lzw_encode(indices, min_code_size):
    """GIF LZW: variable-length codes, LSB-first bit packing."""
    clear = 1 << min_code_size
    eoi = clear + 1
    codes = []
    table = {(i,): i for i in range(clear)}
    next_code = eoi + 1
    size = min_code_size + 1
    out_bits = []

    def emit(code, nbits):
        out_bits.append((code, nbits))

    emit(clear, size)
    cur = ()
    for v in indices:
        nxt = cur + (v,)
        if nxt in table:
            cur = nxt
            continue
        emit(table[cur], size)
        if next_code < 4096:
            table[nxt] = next_code
            next_code += 1
            if next_code > (1 << size) and size < 12:
                size += 1
        else:
            emit(clear, size)
            table = {(i,): i for i in range(clear)}
            next_code = eoi + 1
            size = min_code_size + 1
        cur = (v,)
    if cur:
        emit(table[cur], size)
    emit(eoi, size)
    acc = nacc = 0
    data = bytearray()
    for code, nbits in out_bits:
        acc |= code << nacc
        nacc += nbits
        while nacc >= 8:
            data.append(acc & 0xff)
            acc >>= 8
            nacc -= 8
    if nacc:
        data.append(acc & 0xff)
    del codes
    return bytes(data)


def gif_blocks(data):
    out = b""
    for i in range(0, len(data), 255):
        chunk = data[i:i + 255]
        out += bytes([len(chunk)]) + chunk
    return out + b"\0"


def gif_file(w, h, frames, palette, interlace=False, transparent=None):
    ncol = len(palette)
    bits = max(1, math.ceil(math.log2(ncol)))
    pal = b"".join(bytes(c) for c in palette) + bytes(3 * ((1 << bits) - ncol))
    out = b"GIF89a" + struct.pack("<HHBBB", w, h, 0x80 | (bits - 1), 0, 0) + pal
    for fx, fy, fw, fh, idx in frames:
        if transparent is not None:
            out += b"\x21\xf9\x04" + bytes([1, 10, 0, transparent, 0])
        order = list(range(fh))
        if interlace:
            order = (list(range(0, fh, 8)) + list(range(4, fh, 8)) +
                     list(range(2, fh, 4)) + list(range(1, fh, 2)))
        seq = [idx[y * fw + x] for y in order for x in range(fw)]
        out += b"\x2c" + struct.pack("<HHHHB", fx, fy, fw, fh, 0x40 if interlace else 0)
        mcs = max(2, bits)
        out += bytes([mcs]) + gif_blocks(lzw_encode(seq, mcs))
    return out + b"\x3b"


def tga_file(w, h, rows, kind="rgb", rle=False, top_left=False):
    desc = 0x20 if top_left else 0
    if kind == "rgb":
        itype, cmap, bpp = (10 if rle else 2), b"", 24
        pxs = [bytes((px[2], px[1], px[0])) for r in rows for px in r]
        cm_spec = struct.pack("<HHB", 0, 0, 0)
        cmtype = 0
    elif kind == "gray":
        itype, cmap, bpp = (11 if rle else 3), b"", 8
        pxs = [bytes((px[0],)) for r in rows for px in r]
        cm_spec = struct.pack("<HHB", 0, 0, 0)
        cmtype = 0
    else:  # colour-mapped, 4 entries of 24 bits
        itype, bpp = (9 if rle else 1), 8
        cmap = bytes((0, 0, 255, 0, 255, 0, 255, 0, 0, 40, 80, 120))
        pxs = [bytes((px[0] % 4,)) for r in rows for px in r]
        cm_spec = struct.pack("<HHB", 0, 4, 24)
        cmtype = 1
    if not top_left:
        pxs = [p for y in reversed(range(h)) for p in pxs[y * w:(y + 1) * w]]
    if rle:
        body = b""
        i = 0
        while i < len(pxs):
            j = i
            while j + 1 < len(pxs) and pxs[j + 1] == pxs[i] and j - i < 127:
                j += 1
            if j > i:
                body += bytes([0x80 | (j - i)]) + pxs[i]
                i = j + 1
            else:
                body += b"\x00" + pxs[i]
                i += 1
    else:
        body = b"".join(pxs)
    hdr = struct.pack("<BBB", 0, cmtype, itype) + cm_spec
    hdr += struct.pack("<HHHHBB", 0, 0, w, h, bpp, desc)
    return hdr + cmap + body


def hdr_file(w, h, rle):
    out = b"#?RADIANCE\n# made by make_seeds.py\nFORMAT=32-bit_rle_rgbe\n\n"
    out += b"-Y %d +X %d\n" % (h, w)
    for y in range(h):
        px = [((x * 40 + y * 10) % 256, (x * 7) % 256, (y * 60) % 256, 128 + (x % 3))
              for x in range(w)]
        if not rle:
            out += b"".join(bytes(p) for p in px)
            continue
        out += bytes((2, 2, w >> 8, w & 0xff))
        for c in range(4):
            comp = bytes(p[c] for p in px)
            # one run of the first value, then literals
            out += bytes((128 + 2, comp[0])) + bytes((w - 2,)) + comp[2:]
    return out


def psd_file(w, h, channels=3, rle=False):
    out = b"8BPS" + struct.pack(">H6xHIIHH", 1, channels, h, w, 8, 3)
    out += struct.pack(">III", 0, 0, 0)
    planes = [bytes((x * 30 + y * 50 + c * 70) % 256 for y in range(h) for x in range(w))
              for c in range(channels)]
    if not rle:
        return out + struct.pack(">H", 0) + b"".join(planes)
    rows = []
    for p in planes:
        for y in range(h):
            line = p[y * w:(y + 1) * w]
            rows.append(bytes((len(line) - 1,)) + line)  # one literal packet
    return (out + struct.pack(">H", 1) + b"".join(struct.pack(">H", len(r)) for r in rows)
            + b"".join(rows))


def pic_file(w, h, mode):
    out = b"\x53\x80\xf6\x34" + bytes(84) + b"PICT"
    out += struct.pack(">HHIHH", w, h, 0x3f800000, 0, 0)
    out += bytes((0, 8, mode, 0xe0))  # one packet: 8 bits, R G B
    for y in range(h):
        if mode == 0:
            out += b"".join(bytes(((x * 50) % 256, y * 30 % 256, 7)) for x in range(w))
        elif mode == 1:
            out += bytes((w, 10, 20, 30))
        else:
            out += bytes((127 + w, 90, 80, 70))
    return out


def image_seeds(d):
    rgb = pixels(5, 4, 3)
    write(d, "rgb.png", png_file(5, 4, 2, 8, rgb))
    write(d, "gray.png", png_file(3, 3, 0, 8, pixels(3, 3, 1)))
    write(d, "gray1.png", png_file(9, 2, 0, 1, pixels(9, 2, 1, 1)))
    write(d, "gray_alpha.png", png_file(3, 2, 4, 8, pixels(3, 2, 2)))
    write(d, "rgba.png", png_file(4, 3, 6, 8, pixels(4, 3, 4)))
    write(d, "rgb16.png", png_file(3, 2, 2, 16, pixels(3, 2, 3, 16)))
    write(d, "gray16.png", png_file(2, 2, 0, 16, pixels(2, 2, 1, 16)))
    pal = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 99, 199)]
    write(d, "palette2.png", png_file(5, 3, 3, 2, pixels(5, 3, 1, 2), palette=pal,
                                      trns=b"\x00\x80"))
    write(d, "palette8.png", png_file(4, 4, 3, 8, [[(v[0] % 4,) for v in r]
                                                   for r in pixels(4, 4, 1)], palette=pal))
    write(d, "interlaced.png", png_file(9, 9, 2, 8, pixels(9, 9, 3), interlace=True))
    write(d, "interlaced_tiny.png", png_file(2, 1, 0, 8, pixels(2, 1, 1), interlace=True))
    write(d, "split_idat.png", png_file(6, 5, 2, 8, pixels(6, 5, 3), idat_split=3,
                                        extra_chunks=[png_chunk(b"gAMA", b"\0\0\xb1\x8f"),
                                                      png_chunk(b"tEXt", b"k\0v")]))
    write(d, "wide.png", png_file(600, 1, 0, 8, pixels(600, 1, 1)))
    write(d, "tall.png", png_file(1, 300, 2, 8, pixels(1, 300, 3)))
    write(d, "one.png", png_file(1, 1, 2, 8, pixels(1, 1, 3)))
    # Apple's CgBI variant (stb de-iphones it).
    cgbi = png_file(2, 2, 6, 8, pixels(2, 2, 4))
    raw = zlib.compress(png_filter_rows([pack_row(r, 8) for r in pixels(2, 2, 4)], 4))[2:-4]
    # (+4 bytes: stb's inflate wants some lookahead past a short final block,
    # which the zlib trailer of ordinary PNGs provides)
    cgbi = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"CgBI", b"\x50\x00\x20\x02") +
            cgbi[8:33] + png_chunk(b"IDAT", raw + bytes(4)) + png_chunk(b"IEND", b""))
    write(d, "cgbi.png", cgbi)
    write(d, "trunc.png", png_file(5, 4, 2, 8, rgb)[:60])
    write(d, "rgb24.bmp", bmp_file(5, 3, 24, pixels(5, 3, 3)))
    write(d, "rgb32.bmp", bmp_file(3, 2, 32, pixels(3, 2, 3)))
    write(d, "topdown.bmp", bmp_file(3, 3, 24, pixels(3, 3, 3), top_down=True))
    write(d, "pal8.bmp", bmp_file(5, 2, 8, [[(v[0] % 4,) for v in r] for r in pixels(5, 2, 1)],
                                  palette=pal))
    write(d, "pal4.bmp", bmp_file(3, 3, 4, [[(v[0] % 4,) for v in r] for r in pixels(3, 3, 1)],
                                  palette=pal))
    write(d, "mono.bmp", bmp_file(10, 2, 1, pixels(10, 2, 1, 1),
                                  palette=[(0, 0, 0), (255, 255, 255)]))
    idx = [(x + y) % 4 for y in range(6) for x in range(7)]
    write(d, "simple.gif", gif_file(7, 6, [(0, 0, 7, 6, idx)], pal))
    write(d, "interlaced.gif", gif_file(7, 6, [(0, 0, 7, 6, idx)], pal, interlace=True))
    write(d, "anim.gif", gif_file(4, 4, [(0, 0, 4, 4, [1] * 16), (1, 1, 2, 2, [2, 3, 0, 1])],
                                  pal, transparent=0))
    write(d, "rgb.tga", tga_file(4, 3, pixels(4, 3, 3)))
    write(d, "rle.tga", tga_file(6, 2, [[(1, 2, 3)] * 4 + [(9, 8, 7), (5, 5, 5)]] * 2, rle=True))
    write(d, "gray_topleft.tga", tga_file(3, 3, pixels(3, 3, 1), kind="gray", top_left=True))
    write(d, "cmap.tga", tga_file(3, 2, pixels(3, 2, 1), kind="cmap"))
    write(d, "cmap_rle.tga", tga_file(5, 2, [[(1,)] * 5, [(2,), (3,), (3,), (3,), (0,)]],
                                      kind="cmap", rle=True))
    write(d, "rgb.ppm", b"P6\n# comment\n3 2\n255\n" +
          bytes(v for r in pixels(3, 2, 3) for px in r for v in px))
    write(d, "gray.pgm", b"P5 4 2 255\n" + bytes(v for r in pixels(4, 2, 1) for px in r for v in px))
    write(d, "trunc.ppm", b"P6\n4 4\n255\n" + bytes(range(40)))
    write(d, "gray16.pgm", b"P5\n3 2\n65535\n" +
          b"".join(struct.pack(">H", v) for r in pixels(3, 2, 1, 16) for px in r for v in px))
    write(d, "rgb16.ppm", b"P6\n2 2\n65535\n" +
          b"".join(struct.pack(">H", v) for r in pixels(2, 2, 3, 16) for px in r for v in px))
    write(d, "flat.hdr", hdr_file(3, 2, rle=False))
    write(d, "rle.hdr", hdr_file(9, 2, rle=True))
    write(d, "raw.psd", psd_file(3, 2))
    write(d, "rle.psd", psd_file(4, 2, channels=4, rle=True))
    write(d, "raw.pic", pic_file(3, 2, 0))
    write(d, "pure_rle.pic", pic_file(4, 2, 1))
    write(d, "mixed_rle.pic", pic_file(4, 2, 2))
    jpeg_seeds(d)


def jpeg_seeds(d):
    cjpeg = shutil.which("cjpeg")
    if not cjpeg:
        print("make_seeds: no cjpeg (libjpeg-turbo-progs): JPEG seeds left as they are",
              file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        ppm = os.path.join(tmp, "in.ppm")
        with open(ppm, "wb") as f:
            f.write(b"P6\n17 9\n255\n" +
                    bytes(v for r in pixels(17, 9, 3) for px in r for v in px))
        pgm = os.path.join(tmp, "in.pgm")
        with open(pgm, "wb") as f:
            f.write(b"P5\n8 8\n255\n" + bytes(v for r in pixels(8, 8, 1) for px in r for v in px))
        variants = [
            ("baseline.jpg", ["-quality", "75"], ppm),
            ("q100_444.jpg", ["-quality", "100", "-sample", "1x1"], ppm),
            ("h2v1.jpg", ["-sample", "2x1"], ppm),
            ("progressive.jpg", ["-progressive"], ppm),
            ("restart.jpg", ["-restart", "1B", "-optimize"], ppm),
            ("gray.jpg", [], pgm),
            ("gray_progressive.jpg", ["-progressive"], pgm),
            ("arithmetic.jpg", ["-arithmetic"], ppm),  # stb refuses it
        ]
        for name, args, src in variants:
            out = subprocess.run([cjpeg] + args + [src], check=True,
                                 stdout=subprocess.PIPE).stdout
            write(d, name, out)


# ----------------------------------------------------------------- prompts
# src/format/prompts.h: seg's list of objects; batch's map and JSON Lines. The
# harness hands every input to all three parsers.

def prompts_seeds(d):
    def w(name, text):
        write(d, name, text.encode("utf-8") if isinstance(text, str) else text)
    # seg --prompts: a list of objects
    w("points.json", '[{"points": [[10, 20], [30.5, 40]], "labels": [1, 0]}]\n')
    w("box.json", '[{"box": [1, 2, 300, 400]}]')
    w("all.json", '[\n  {"points": [[5, 5]], "labels": [1], "box": [0, 0, 9, 9],\n'
                  '   "mask_input": "m.npy"},\n  {"box": [1e-3, 2, 3, 4.5e2]},\n'
                  '  {"points": [[0, 0]], "mask_input": "/abs/m.npy"}\n]\n')
    w("no_labels.json", '[{"points": [[1, 1], [2, 2], [3, 3]]}]')
    w("bom_crlf.json", b'\xef\xbb\xbf[{"box": [0, 0, 1, 1]}]\r\n')
    # seg errors
    w("empty.json", "")
    w("blank.json", " \n\t\n")
    w("empty_list.json", "[]")
    w("malformed.json", '[{"points": [[1, 2]], }]')
    w("trailing.json", '[{"box": [0, 0, 1, 1]}] x')
    w("unknown_key.json", '[{"box": [0, 0, 1, 1], "pointz": []}]')
    w("bad_point.json", '[\n{"points": [[1, 2], [3], [4, 5]]}]')
    w("bad_label.json", '[{"points": [[1, 2]], "labels": [0.5]}]')
    w("label_count.json", '[{"points": [[1, 2]], "labels": [1, 0, 2]}]')
    w("bad_box.json", '[{"box": [0, 0, 1]}]')
    w("box_order.json", '[{"box": [9, 9, 1, 1]}, {"points": [[-1, 700]]}]')
    w("huge.json", '[{"box": [1e30, 0, 1e308, 1]}, {"points": [[1e400, 0]]}]')
    w("mask_empty.json", '[{"box": [0, 0, 1, 1], "mask_input": ""}]')
    w("neither.json", '[{"labels": []}]')
    w("not_object.json", '[{"box": [0, 0, 1, 1]}, 3, "x"]')
    w("nul.json", b'[{"box": [0, 0, 1, 1]}]\x00')
    w("escapes.json", '[{"po\\u0069nts": [[1, 2]], "mask_input": "a\\u0000b.npy"}]')
    w("dup_key.json", '[{"box": [0, 0, 1, 1], "box": [1, 1, 2, 2]}]')
    w("nested.json", "[" * 200 + "]" * 200)
    # batch --prompts FILE.json: image names to lists
    w("map.json", '{"a.jpg": [{"box": [0, 0, 5, 5]}], "./b.png": [],\n'
                  ' "sub/c.jpg": [{"points": [[1, 1]], "labels": [0]}]}\n')
    w("map_dup.json", '{"a.jpg": [{"box": [0, 0, 5, 5]}], "./a.jpg": [{"box": [1, 1, 2, 2]}],'
                      ' "": []}')
    w("map_bad.json", '{"a.jpg": {"box": [0, 0, 5, 5]}, "b.jpg": [1]}')
    # batch --prompts FILE.jsonl: one image per line
    w("lines.jsonl", '{"image": "a.jpg", "objects": [{"box": [0, 0, 5, 5]}]}\n'
                     '\n  {"image": "./b.jpg", "objects": [], "extra": 1}\r\n'
                     '{"image": "a.jpg", "objects": [{"points": [[2, 3]]}]}')
    w("lines_bad.jsonl", '{"image": "a.jpg", "objects": [{"box": [0, 0, 5, 5]}]} {"x": 1}\n'
                         '{"objects": []}\n{"image": "", "objects": []}\n[1, 2]\n')
    w("line_split.jsonl", '{"image": "a.jpg",\n "objects": []}\n')
    w("line_no_objects.jsonl", '{"image": "a.jpg"}\n{"image": "b.jpg", "objects": 5}\n')


# -------------------------------------------------------------------- args
# fuzz_args.c: one word per line, the subcommand first.

def args_seeds(d):
    def w(name, *words):
        write(d, name, "\n".join(words).encode("utf-8"))
    w("seg_point", "seg", "img.jpg", "--point", "10,20", "-o", "out.png")
    w("seg_all", "seg", "--point=1.5,2", "--point", " 3 , 4 ", "--label", "1", "--label=0",
      "--box", "0,0,10,10", "--mask-input", "m.npy", "--multimask", "img.jpg",
      "--json", "-", "--logits", "l.npy", "--overlay", "ov.png", "-wweights.msam",
      "--threads", "4", "--embedding", "e.npy")
    w("seg_prompts", "seg", "img.jpg", "--prompts", "p.json", "--json", "r.json")
    w("seg_errors", "seg", "img.jpg", "--prompts", "p.json", "--point", "1,2", "-o", "-")
    w("seg_same_file", "seg", "img.jpg", "--box", "1,2,3,4", "-o", "x.png", "--overlay", "x.png")
    w("seg_bad_point", "seg", "img.jpg", "--point", "1,2,3", "-o", "x.png")
    w("seg_help", "seg", "--help")
    w("seg_twice", "seg", "a.jpg", "--box", "1,2,3,4", "--box", "1,2,3,4", "-o", "o.png")
    w("seg_dashdash", "seg", "--point", "1,2", "-o", "o.png", "--", "-img.jpg")
    w("seg_empty_words", "seg", "", "--point", "", "-o", "")
    w("embed", "embed", "img.jpg", "-o", "e.npy", "--threads=2", "-w", "w.msam")
    w("embed_stdout", "embed", "img.jpg", "-o", "-")
    w("everything", "everything", "img.jpg", "-o", "out", "--format", "png,json",
      "--overlay", "o.png", "--points-per-side", "16", "--pred-iou-thresh", "0.5",
      "--stability-score-thresh=0.9", "--stability-score-offset", "1", "--box-nms-thresh", "0.7",
      "--crop-n-layers", "1", "--crop-nms-thresh", "0.7", "--crop-overlap-ratio", "0.3413",
      "--crop-n-points-downscale-factor", "2", "--min-mask-region-area", "100",
      "--points-per-batch", "64")
    w("everything_bad", "everything", "img.jpg", "-o", "out", "--format", "png,png",
      "--crop-overlap-ratio", "1", "--points-per-side", "0")
    w("batch_prompts", "batch", "imgs/", "-o", "out", "--prompts", "p.jsonl", "--format",
      "png,yolo,coco", "--overlay", "-r", "--overwrite", "--shard", "1/4", "--multimask",
      "--compare", "ref", "--min-iou", "0.99")
    w("batch_boxes", "batch", "list.txt", "-o", "out", "--boxes-from", "labels", "--conf",
      "0.25", "--classes", "0,2,5")
    w("batch_everything", "batch", "imgs", "-o", "out", "--everything", "--points-per-side", "8")
    w("batch_errors", "batch", "imgs", "-o", "out", "--everything", "--prompts", "p.json",
      "--shard", "4/4", "--classes", "1,,2")
    w("batch_same_dir", "batch", ".", "-o", ".", "--everything")
    w("bench", "bench", "--image", "img.jpg", "--point", "5,5", "--runs", "3", "--json",
      "--threads", "1")
    w("bench_positional", "bench", "img.jpg", "--runs", "1001")
    w("compare", "compare", "a.png", "b.png", "--min-iou", "0.5", "--json")
    w("compare_bad", "compare", "a.png", "--min-iou=1.5", "--json=x", "-x", "--nope")
    w("unknown_cmd", "segment", "img.jpg")
    w("missing_value", "seg", "img.jpg", "--point")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    weight_seeds(os.path.join(out, "weights"))
    npy_seeds(os.path.join(out, "npy"))
    image_seeds(os.path.join(out, "image"))
    prompts_seeds(os.path.join(out, "prompts"))
    args_seeds(os.path.join(out, "args"))


if __name__ == "__main__":
    main()
