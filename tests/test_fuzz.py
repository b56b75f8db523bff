"""Fuzz tests for the image loader (kerasgan.data): bad bytes must never crash or hang it.

A seeded corpus of broken files with image extensions is generated in a temporary folder:

* random bytes of lengths 0, 1, 7, 100 and 5000, bare, behind each format's magic number,
  and behind a real file's complete header (so Pillow identifies the file and reaches the
  decoder);
* mutated copies of small valid PNG / JPEG / GIF / BMP / WebP files (RGB, RGBA, LA, L, 1,
  P, I;16, CMYK, progressive, animated, EXIF-rotated): flipped bytes, truncation,
  duplicated / deleted / zeroed chunks, header fields set to edge values, and header
  dimensions overwritten with huge, zero or negative values (decompression-bomb headers);
* files of Pillow's other formats (TIFF, PPM, TGA, DDS, ...) under image extensions.

The properties: `load_image` returns an array of the requested shape or raises `DataError`
(never a raw Pillow / struct / zlib exception) and never takes more than a few seconds;
`load_image_folder` on the whole nested tree returns, names every file it did not load
in ONE `SkippedImageWarning` (count included), loads all the others (the same pixels as
`load_image`), and with ``strict=True`` raises a `DataError` listing every bad file.
Regression: the fuzzing found Pillow readers raising ValueError / NotImplementedError from
`Image.open` (see KNOWN_BUG below); the repros stay as tests.

Reproducible: the seed is fixed. Run more by hand, e.g.

    KERASGAN_FUZZ_SEED=7 KERASGAN_FUZZ_N=2000 python -m pytest -q tests/test_fuzz.py

(KERASGAN_FUZZ_N is the number of mutated files; each file's name says how it was made.)
"""

import io
import os
import re
import struct
import threading
import time
import traceback
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from kerasgan import data
from kerasgan.data import DataError, SkippedImageWarning

try:
    from tests import fixtures_images as fx
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    import fixtures_images as fx

DEFAULT_SEED, DEFAULT_N = 20240611, 180
SEED = int(os.environ.get("KERASGAN_FUZZ_SEED", DEFAULT_SEED))
N_MUTANTS = int(os.environ.get("KERASGAN_FUZZ_N", DEFAULT_N))
SIZE = 12  # output side: every decoded file is also resized
W, H = 16, 20  # the base images: not square, so crop/pad paths both matter
PER_FILE_LIMIT_S = 5.0  # "no single file takes more than a few seconds"
HANG_S = 60.0  # give up waiting on a call (it is then reported as a hang)

EXTS = (".png", ".jpg", ".gif", ".bmp", ".webp")
FORMAT = {".png": "PNG", ".jpg": "JPEG", ".gif": "GIF", ".bmp": "BMP", ".webp": "WEBP"}
LENGTHS = (0, 1, 7, 100, 5000)
MAGIC = {
    ".png": b"\x89PNG\r\n\x1a\n",
    ".jpg": b"\xff\xd8\xff\xe0",
    ".gif": b"GIF89a",
    ".bmp": b"BM",
    ".webp": b"RIFF\x00\x10\x00\x00WEBPVP8 ",
}


# --------------------------------------------------------------------------- valid base files


def _exif_rotated():
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW
    return exif.tobytes()


def _image(mode, seed=0):
    rgb = fx.gradient(H, W, seed=seed)
    alpha = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))
    if mode == "RGB":
        return Image.fromarray(rgb)
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    if mode == "LA":
        return Image.fromarray(np.dstack([rgb[..., 1], alpha]), "LA")
    if mode == "L":
        return Image.fromarray(rgb[..., 1])
    if mode == "1":
        return Image.fromarray(rgb[..., 0] > 127)
    if mode == "P":
        return Image.fromarray(rgb).quantize(16)
    if mode == "I;16":
        im = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
        assert im.mode.startswith("I;16"), im.mode
        return im
    if mode == "CMYK":
        return Image.fromarray(rgb).convert("CMYK")
    raise AssertionError(mode)


def _encode(ext, mode, **kwargs):
    im = _image(mode)
    if kwargs.pop("animated", False):
        kwargs.update(save_all=True, append_images=[_image(mode, seed=1)], duration=50, loop=0)
    buf = io.BytesIO()
    im.save(buf, FORMAT[ext], **kwargs)
    return buf.getvalue()


def base_files():
    """{name: (ext, bytes)}: small valid files covering the modes and variants of each format."""
    exif = _exif_rotated()
    specs = {
        "png-rgb": (".png", "RGB", {}),
        "png-rgba": (".png", "RGBA", {}),
        "png-la": (".png", "LA", {}),
        "png-l": (".png", "L", {}),
        "png-1": (".png", "1", {}),
        "png-p-trns": (".png", "P", {"transparency": 0}),
        "png-i16": (".png", "I;16", {}),
        "png-exif": (".png", "RGB", {"exif": exif}),
        "jpg-rgb": (".jpg", "RGB", {"quality": 90}),
        "jpg-l": (".jpg", "L", {}),
        "jpg-progressive": (".jpg", "RGB", {"progressive": True}),
        "jpg-cmyk": (".jpg", "CMYK", {}),
        "jpg-exif": (".jpg", "RGB", {"exif": exif}),
        "gif-p": (".gif", "P", {}),
        "gif-l": (".gif", "L", {}),
        "gif-trns": (".gif", "P", {"transparency": 0}),
        "gif-anim": (".gif", "RGB", {"animated": True}),
        "bmp-rgb": (".bmp", "RGB", {}),
        "bmp-rgba": (".bmp", "RGBA", {}),
        "bmp-p": (".bmp", "P", {}),
        "bmp-l": (".bmp", "L", {}),
        "bmp-1": (".bmp", "1", {}),
        "webp-lossy": (".webp", "RGB", {"quality": 80}),
        "webp-lossy-alpha": (".webp", "RGBA", {"quality": 80}),
        "webp-lossless": (".webp", "RGB", {"lossless": True}),
        "webp-lossless-alpha": (".webp", "RGBA", {"lossless": True}),
        "webp-anim": (".webp", "RGB", {"animated": True}),
        "webp-exif": (".webp", "RGB", {"exif": exif}),
    }
    return {name: (ext, _encode(ext, mode, **kw)) for name, (ext, mode, kw) in specs.items()}


# --------------------------------------------------------------------------- format structure


def _jpeg_markers(b):
    """(SOF offset, end of the header = start of the entropy-coded data after SOS)."""
    sof, pos = None, 2
    while pos + 4 <= len(b) and b[pos] == 0xFF:
        marker = b[pos + 1]
        seg = struct.unpack(">H", b[pos + 2 : pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            sof = pos if sof is None else sof
        if marker == 0xDA:
            return sof, pos + 2 + seg
        pos += 2 + seg
    raise AssertionError("no SOS marker")


def _gif_descriptor(b):
    """Offset of the first image descriptor (0x2C) of a GIF."""
    pos = 13 + (3 << ((b[10] & 7) + 1) if b[10] & 0x80 else 0)
    while b[pos] == 0x21:  # extension: label, then sub-blocks up to a 0 length
        pos += 2
        while b[pos]:
            pos += b[pos] + 1
        pos += 1
    assert b[pos] == 0x2C
    return pos


def header_end(ext, b):
    """Length of the file's header: the bytes Pillow needs to identify and size the image."""
    if ext == ".png":
        return b.index(b"IDAT") - 4
    if ext == ".jpg":
        return _jpeg_markers(b)[1]
    if ext == ".gif":
        return _gif_descriptor(b) + 10
    if ext == ".bmp":
        return struct.unpack("<I", b[10:14])[0]
    if ext == ".webp":
        return {b"VP8 ": 30, b"VP8L": 25, b"VP8X": 30}[b[12:16]]
    raise AssertionError(ext)


def set_dimensions(ext, b, w, h, rng):
    """Overwrite the header's width / height (clipped to what the field can hold)."""
    b = bytearray(b)

    def put(fmt, offset, value):
        bits = struct.calcsize(fmt) * 8
        if fmt[-1].islower():  # signed
            value = max(-(1 << (bits - 1)), min(value, (1 << (bits - 1)) - 1))
        else:
            value = max(0, min(value, (1 << bits) - 1))
        struct.pack_into(fmt, b, offset, value)

    if ext == ".png":
        put(">I", 16, w)
        put(">I", 20, h)
        if rng.random() < 0.7:  # usually a valid CRC, so the header itself is accepted
            struct.pack_into(">I", b, 29, zlib.crc32(bytes(b[12:29])) & 0xFFFFFFFF)
    elif ext == ".jpg":
        sof = _jpeg_markers(b)[0]
        put(">H", sof + 7, w)
        put(">H", sof + 5, h)
    elif ext == ".gif":
        where = rng.integers(3)  # logical screen, first frame, or both
        if where != 1:
            put("<H", 6, w)
            put("<H", 8, h)
        if where != 0:
            d = _gif_descriptor(b)
            put("<H", d + 5, w)
            put("<H", d + 7, h)
    elif ext == ".bmp":
        put("<i", 18, w)
        put("<i", 22, h)
    elif ext == ".webp":
        chunk = bytes(b[12:16])
        w, h = max(1, min(w, 1 << 14)), max(1, min(h, 1 << 14))
        if chunk == b"VP8 ":
            old_w, old_h = struct.unpack("<HH", b[26:30])
            struct.pack_into("<HH", b, 26, (old_w & 0xC000) | (w & 0x3FFF), (old_h & 0xC000) | (h & 0x3FFF))
        elif chunk == b"VP8L":
            v = struct.unpack("<I", b[21:25])[0] & ~0x0FFFFFFF
            struct.pack_into("<I", b, 21, v | (w - 1) | ((h - 1) << 14))
        else:  # VP8X: 24-bit canvas width-1 and height-1
            b[24:27] = (w - 1).to_bytes(3, "little")
            b[27:30] = (h - 1).to_bytes(3, "little")
    else:
        raise AssertionError(f"no dimension fields known for {ext}")
    return bytes(b)


# --------------------------------------------------------------------------- mutations

BIG = 1 << 31
BOMB_SIZES = [
    (BIG, BIG),
    (BIG, 1),
    (1, BIG),
    (65535, 65535),
    (10000, 10000),  # between Pillow's warning and error limits
    (9000, 9000),  # just under MAX_PIXELS: decoding is really attempted
    (3000, 3000),
    (0, 0),
    (0, H),
    (W, 0),
    (-W, H),
    (W, -BIG),
    (W + 1, H + 1),  # slightly larger than the real data
]


def mutate(ext, b, rng):
    """One seeded mutation of `b`; returns (bytes, short description)."""
    n = len(b)
    kinds = ["flip", "flip-header", "field", "truncate", "duplicate", "delete", "zero", "bomb", "tail", "multi"]
    kind = rng.choice(kinds)
    if kind == "multi":
        descs = []
        for _ in range(rng.integers(2, 4)):
            b, d = mutate(ext, b, rng)
            descs.append(d)
        return b, "+".join(descs)
    if n == 0:
        return b, "empty"
    if kind in ("bomb", "tail"):
        try:  # these need the header to be parseable (an earlier mutation may have broken it)
            if kind == "bomb":
                w, h = BOMB_SIZES[rng.integers(len(BOMB_SIZES))]
                return set_dimensions(ext, b, w, h, rng), f"bomb{w}x{h}"
            # keep the header (or a random prefix), random bytes after it
            end = min(header_end(ext, b), n) if rng.random() < 0.8 else int(rng.integers(0, n))
            return b[:end] + rng.bytes(max(0, n - end)), f"tail{end}"
        except (AssertionError, IndexError, KeyError, ValueError, struct.error):
            kind = "flip"
    out = bytearray(b)
    if kind in ("flip", "flip-header"):
        span = min(n, 64) if kind == "flip-header" else n
        for pos in rng.integers(0, span, rng.integers(1, 9)):
            out[pos] ^= int(rng.integers(1, 256))
        return bytes(out), kind
    if kind == "field":  # a 1/2/4-byte header field (a length, a size, a count) set to an edge value
        size = int(rng.choice([1, 2, 4]))
        off = int(rng.integers(0, max(1, min(n, 64) - size + 1)))
        value = int(rng.choice([0, 1, 2, 13, (1 << (8 * size - 1)) - 1, 1 << (8 * size - 1), (1 << (8 * size)) - 1]))
        order = "big" if rng.random() < 0.5 else "little"
        out[off : off + size] = value.to_bytes(size, order)[: len(out[off : off + size])]
        return bytes(out), f"field{off}:{size}{order[0]}={value}"
    if kind == "truncate":
        cut = int(rng.integers(1, n)) if n > 1 else 0
        return b[:cut], f"cut{cut}"
    start = int(rng.integers(0, n))
    length = int(rng.integers(1, max(2, n // 4)))
    chunk = b[start : start + length]
    if kind == "duplicate":
        at = int(rng.integers(0, n + 1))
        return b[:at] + chunk + b[at:], f"dup{start}+{length}@{at}"
    if kind == "delete":
        return b[:start] + b[start + length :], f"del{start}+{length}"
    out[start : start + length] = bytes(len(chunk))  # zero
    return bytes(out), f"zero{start}+{length}"


# --------------------------------------------------------------------------- the known bug
#
# Found by this fuzzing and fixed in `_open_checked`: Pillow's readers raise ValueError
# (PNG "Truncated IHDR chunk"; PPM / XBM / IM / SGI headers) and NotImplementedError (DDS)
# while opening, which escaped `load_image` raw and aborted `load_image_folder`. Pillow
# identifies files by content, so any ".png" can reach any of its ~40 readers. The repros
# stay as regression tests; a file that escapes again is kept out of the folder-level tests
# (they would all crash on it) and reported by test_no_file_escapes_image_open.

KNOWN_BUG = (
    "regression: kerasgan/data.py _open_checked let non-OSError exceptions from Image.open escape "
    "(ValueError 'Truncated IHDR chunk' for a PNG whose IHDR length is < 13; ValueError / "
    "NotImplementedError from Pillow's PPM, XBM, IM, SGI, DDS readers)"
)


def escaped_image_open(error):
    """Is `error` the known bug: a non-DataError raised inside `_open_checked` (Image.open)?"""
    return not isinstance(error, DataError) and any(
        frame.name == "_open_checked" for frame in traceback.extract_tb(error.__traceback__)
    )


def _png_ihdr_length_0():
    b = bytearray(fx.png_bytes(4))
    b[8:12] = bytes(4)  # the IHDR chunk's length field
    return bytes(b)


def _dds_unknown_pixel_format():
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "DDS")
    b = bytearray(buf.getvalue())
    struct.pack_into("<I", b, 80, 0)  # DDS_PIXELFORMAT.dwFlags = 0
    return bytes(b)


KNOWN_BUG_REPROS = {  # minimal files with image extensions; the exception Pillow raises in Image.open
    "png-ihdr-length0.png": _png_ihdr_length_0(),  # ValueError: Truncated IHDR chunk
    "ppm.png": b"P6\n1x 1\n255\n\x00\x00\x00",  # ValueError: invalid literal for int() ... b'1x'
    "xbm.gif": b"#define im_width Z6\n#define im_height 1\nstatic char im_bits[] = {0x00};\n",  # ValueError
    "sgi.bmp": struct.pack(">HBBHHHH", 474, 0, 1, 3, 1, 1, 7) + bytes(512),  # ValueError: Unsupported SGI mode
    "im.webp": b"Image type: RGB image\r\nImage size (x*y): 16\xf420\r\n\x1a" + bytes(600),  # ValueError
    "dds.jpg": _dds_unknown_pixel_format(),  # NotImplementedError: Unknown pixel format flags 0
}


# --------------------------------------------------------------------------- the corpus


class Corpus:
    def __init__(self, root, paths, good, recipe):
        self.root, self.paths, self.good, self.recipe = root, paths, good, recipe


def _write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)
    return path


def build_corpus(root, seed=SEED, n_mutants=N_MUTANTS):
    rng = np.random.default_rng(seed)
    root = str(root)
    paths, good, recipe = [], [], {}

    def add(sub, name, content, how):
        path = _write(os.path.join(root, sub, name), content)
        paths.append(path)
        recipe[path] = how
        return path

    bases = base_files()
    header_of = {ext: next(b for e, b in bases.values() if e == ext) for ext in EXTS}

    # 1. random bytes: bare, behind the magic number, behind a whole real header
    for ext in EXTS:
        real_header = header_of[ext][: header_end(ext, header_of[ext])]
        for length in LENGTHS:
            for kind, prefix in (("random", b""), ("magic", MAGIC[ext]), ("header", real_header)):
                content = (prefix + rng.bytes(length))[:length]
                how = f"{kind} + random bytes, {length} bytes"
                add(os.path.join("random", kind), f"{kind}{length}{ext}", content, how)

    # 2. the valid base files themselves (must all load) ...
    for name, (ext, content) in bases.items():
        good.append(add("good", name + ext, content, "valid base file"))
    for path in fx.good_images(os.path.join(root, "good", "fixtures"), n=5, size=W, nested=True):
        good.append(path)
        paths.append(path)
        recipe[path] = "valid fixture"

    # ... and seeded mutations of them, in nested folders, a few under another extension
    names = sorted(bases)
    for i in range(n_mutants):
        name = names[rng.integers(len(names))]
        ext, content = bases[name]
        mutated, how = mutate(ext, content, rng)
        out_ext = ext if rng.random() < 0.9 else EXTS[rng.integers(len(EXTS))].upper()
        sub = os.path.join("mutants", f"d{i % 4}", f"e{i % 3}") if i % 5 else "mutants"
        add(sub, f"m{i:04d}_{name}_{how}{out_ext}"[:180], mutated, f"{name} mutated: {how}")

    # 3. the known bug's PNG, so that every seed exercises it
    add("known", "png-ihdr-length0.png", KNOWN_BUG_REPROS["png-ihdr-length0.png"], "known bug repro")
    return Corpus(root, paths, good, recipe)


def call_with_deadline(fn, *args, **kwargs):
    """Run fn in a thread; returns (outcome, seconds, warnings). outcome: ('ok', value),
    ('raised', exception) or ('hang', None) if it did not return within HANG_S."""
    result = {}

    def target():
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                result["outcome"] = ("ok", fn(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - the point is to see everything
                result["outcome"] = ("raised", e)
        result["warnings"] = record

    thread = threading.Thread(target=target, daemon=True)
    start = time.perf_counter()
    thread.start()
    thread.join(HANG_S)
    seconds = time.perf_counter() - start
    if thread.is_alive():
        return ("hang", None), seconds, []
    return result["outcome"], seconds, result["warnings"]


def check_load_image(path, value, kind, seconds, shape):
    """'' if one load_image call kept its promise, else what went wrong."""
    if kind == "hang":
        return f"no answer after {HANG_S:.0f} s"
    if kind == "raised" and type(value) is not DataError:
        return f"{type(value).__name__}: {value!s:.200}"
    if kind == "raised" and not str(value).startswith(f"{path}: "):
        return f"DataError does not start with the path: {value!s:.200}"
    if kind == "ok" and not (isinstance(value, np.ndarray) and value.dtype == np.uint8 and shape(value.shape)):
        return f"returned {type(value).__name__} {getattr(value, 'dtype', '')} {getattr(value, 'shape', '')}"
    if seconds > PER_FILE_LIMIT_S:
        return f"took {seconds:.1f} s (limit {PER_FILE_LIMIT_S} s)"
    return ""


REPRO_HINT = f"(reproduce: KERASGAN_FUZZ_SEED={SEED} KERASGAN_FUZZ_N={N_MUTANTS}; file names say how each was made)"


# The tests of the corpus: one pytest-xdist group (one worker), which builds it once.
@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    c = build_corpus(tmp_path_factory.mktemp("fuzz"))
    assert sorted(c.paths) == data.find_images(c.root)  # every file is seen by the loader
    return c


@pytest.fixture(scope="module")
def single(corpus):
    """load_image(path, SIZE) on every file: {path: ((kind, value), seconds)}."""
    return {p: call_with_deadline(data.load_image, p, SIZE)[:2] for p in corpus.paths}


@pytest.fixture(scope="module")
def folder(corpus, single, tmp_path_factory):
    """The corpus without the files that hit the known bug (moved out of the tree): one
    such file aborts a whole folder, which would hide everything else."""
    quarantine = tmp_path_factory.mktemp("quarantine")
    kept = []
    for i, path in enumerate(corpus.paths):
        (kind, value), _ = single[path]
        if kind == "raised" and escaped_image_open(value):
            os.replace(path, os.path.join(quarantine, f"{i}_{os.path.basename(path)}"))
        else:
            kept.append(path)
    assert sorted(kept) == data.find_images(corpus.root)
    return Corpus(corpus.root, kept, corpus.good, corpus.recipe)


def describe(corpus, path):
    return f"{os.path.relpath(path, corpus.root)} [{corpus.recipe[path]}]"


# --------------------------------------------------------------------------- load_image, one file at a time


@pytest.mark.xdist_group("fuzz_corpus")
def test_corpus_is_varied(corpus, single):
    """Guard against a fuzzer that only ever produces files Pillow rejects at once."""
    assert len(corpus.paths) >= 150 or N_MUTANTS < DEFAULT_N
    outcomes = [single[p][0] for p in corpus.paths]
    loaded = [p for p in corpus.paths if single[p][0][0] == "ok" and p not in corpus.good]
    errors = [value for kind, value in outcomes if kind == "raised" and type(value) is DataError]
    assert len(errors) >= len(corpus.paths) // 3
    assert loaded, "no mutated file still decodes: mutations too coarse"
    reasons = {str(e).split(": ", 1)[1].split(" ")[0] for e in errors}
    assert len(reasons) >= 4, reasons  # empty, not recognised, truncated, decompression bomb, cannot decode ...


@pytest.mark.xdist_group("fuzz_corpus")
def test_load_image_returns_array_or_raises_data_error(corpus, single):
    problems = []
    for path, ((kind, value), seconds) in single.items():
        if kind == "raised" and escaped_image_open(value):
            continue  # the known bug: test_no_file_escapes_image_open
        problem = check_load_image(path, value, kind, seconds, lambda shape: shape == (SIZE, SIZE, 3))
        if problem:
            problems.append(f"{describe(corpus, path)}: {problem}")
    assert not problems, "\n".join([REPRO_HINT] + problems)


@pytest.mark.xdist_group("fuzz_corpus")
def test_no_file_escapes_image_open(corpus, single):
    escaped = [
        f"{describe(corpus, path)}: {type(value).__name__}: {value}"
        for path, ((kind, value), _) in single.items()
        if kind == "raised" and escaped_image_open(value)
    ]
    assert not escaped, "\n".join([REPRO_HINT] + escaped)


@pytest.mark.xdist_group("fuzz_corpus")
def test_good_files_load(corpus, single):
    failed = [f"{describe(corpus, p)}: {single[p][0][1]}" for p in corpus.good if single[p][0][0] != "ok"]
    assert not failed, "\n".join(failed)


@pytest.mark.xdist_group("fuzz_corpus")
def test_load_image_native_size_grey(corpus, single):
    """Other options on the files that decoded: native size, 1 channel, pad."""
    problems = []
    for path, ((kind, _), _) in single.items():
        if kind != "ok":
            continue
        (kind, value), seconds, _ = call_with_deadline(data.load_image, path, None, 1, resize="pad")
        problem = check_load_image(path, value, kind, seconds, lambda s: len(s) == 3 and s[2] == 1 and min(s) >= 1)
        if problem:
            problems.append(f"{describe(corpus, path)}: {problem}")
    assert not problems, "\n".join([REPRO_HINT] + problems)


# --------------------------------------------------------------------------- whole folder


SKIPPED_HEADER = re.compile(r"Skipped (\d+) of (\d+) image files that could not be used:")


def listed_paths(corpus, lines):
    """Paths named by '  PATH: reason' lines (each line must name exactly one corpus file)."""
    by_line = []
    for line in lines:
        hits = [p for p in corpus.paths if line.startswith(f"  {p}: ") and len(line) > len(p) + 4]
        assert len(hits) == 1, f"line names no (or several) files: {line!r}"
        by_line.append(hits[0])
    assert len(by_line) == len(set(by_line)), "a file is listed twice"
    return set(by_line)


def expected_outcome(corpus, single):
    """(files load_image decoded, in the loader's sorted order; the set of files it refused)."""
    loaded = [p for p in sorted(corpus.paths) if single[p][0][0] == "ok"]
    return loaded, set(corpus.paths) - set(loaded)


@pytest.mark.xdist_group("fuzz_corpus")
def test_folder_skips_and_names_every_bad_file(folder, single):
    (kind, images), seconds, record = call_with_deadline(data.load_image_folder, folder.root, SIZE)
    assert kind == "ok", f"load_image_folder: {kind} {images!r}"
    assert seconds < 30, f"load_image_folder took {seconds:.1f} s for {len(folder.paths)} small files"
    assert images.dtype == np.uint8 and images.shape[1:] == (SIZE, SIZE, 3)
    found = [w for w in record if issubclass(w.category, SkippedImageWarning)]
    assert len(found) == 1, [str(w.message) for w in record]
    header, *lines = str(found[0].message).splitlines()
    match = SKIPPED_HEADER.fullmatch(header)
    assert match, header
    skipped = listed_paths(folder, lines)
    assert int(match.group(1)) == len(skipped) == len(folder.paths) - len(images)
    assert int(match.group(2)) == len(folder.paths)
    assert not skipped & set(folder.good)
    # the same files as one at a time, and the same pixels in sorted-path order
    loaded, bad = expected_outcome(folder, single)
    assert skipped == bad
    np.testing.assert_array_equal(images, np.stack([single[p][0][1] for p in loaded]))


@pytest.mark.xdist_group("fuzz_corpus")
def test_folder_strict_names_every_bad_file(folder, single):
    (kind, error), _, _ = call_with_deadline(data.load_image_folder, folder.root, SIZE, strict=True)
    assert kind == "raised" and type(error) is DataError, f"{kind} {error!r}"
    header, *lines = str(error).splitlines()
    _, bad = expected_outcome(folder, single)
    assert header == (
        f"{len(bad)} of {len(folder.paths)} image files under {folder.root} could not be used "
        f"(strict=True; use strict=False to skip them):"
    )
    assert listed_paths(folder, lines) == bad  # every one, not only the first few


@pytest.mark.xdist_group("fuzz_corpus")
def test_image_dataset_over_fuzzed_folder(folder, single):
    loaded, bad = expected_outcome(folder, single)
    (kind, ds), _, record = call_with_deadline(data.image_dataset, folder.root, SIZE, batch_size=4, shuffle=False)
    assert kind == "ok", f"image_dataset: {kind} {ds!r}"
    found = [w for w in record if issubclass(w.category, SkippedImageWarning)]
    assert len(found) == 1 and str(found[0].message).startswith(f"Skipped {len(bad)} of {len(folder.paths)}")
    batches = [b.numpy() for b in ds]
    assert len(batches) == len(loaded) // 4 and all(b.shape == (4, SIZE, SIZE, 3) for b in batches)
    expected = np.stack([single[p][0][1] for p in loaded[: len(batches) * 4]]).astype(np.float32) / 127.5 - 1
    np.testing.assert_allclose(np.concatenate(batches), expected, atol=1e-6)


# --------------------------------------------------------------------------- the known bug, minimal


@pytest.mark.parametrize("name", sorted(KNOWN_BUG_REPROS))
def test_known_bug_repro_raises_data_error(tmp_path, name):
    path = _write(str(tmp_path / name), KNOWN_BUG_REPROS[name])
    with pytest.raises(DataError) as info:  # currently: the raw ValueError / NotImplementedError
        data.load_image(path, SIZE)
    assert str(info.value).startswith(f"{path}: ")


def test_known_bug_repro_is_skipped_in_a_folder(tmp_path):
    good = fx.good_images(tmp_path, n=3)
    bad = _write(str(tmp_path / "png-ihdr-length0.png"), KNOWN_BUG_REPROS["png-ihdr-length0.png"])
    with pytest.warns(SkippedImageWarning) as record:  # currently: ValueError aborts the whole folder
        images = data.load_image_folder(tmp_path, SIZE)
    assert len(images) == len(good)
    assert f"\n  {bad}: " in str(record[0].message)


# --------------------------------------------------------------------------- other formats, misnamed


OTHER_FORMATS = {  # Pillow writers: format -> modes
    "TIFF": ("RGB", "RGBA", "L", "I;16", "1", "P", "CMYK"),
    "ICO": ("RGBA",),
    "PCX": ("RGB", "P", "L"),
    "TGA": ("RGB", "RGBA", "P", "L"),
    "PPM": ("RGB", "L", "I;16"),
    "DDS": ("RGB", "RGBA"),
    "QOI": ("RGB", "RGBA"),
    "IM": ("RGB",),
    "SGI": ("RGB", "L"),
    "MSP": ("1",),
    "XBM": ("1",),
    "ICNS": ("RGBA",),
    "BLP": ("P",),
}


def other_format_files():
    """{name: bytes}: small valid files in formats other than the five documented ones."""
    files = {}
    for fmt, modes in OTHER_FORMATS.items():
        for mode in modes:
            buf = io.BytesIO()
            try:
                _image(mode).save(buf, fmt)
            except (OSError, KeyError, ValueError):  # writer not available in this Pillow build
                continue
            files[f"{fmt.lower()}-{mode.replace(';', '')}"] = buf.getvalue()
    for compression in ("tiff_lzw", "tiff_deflate", "packbits", "jpeg"):
        buf = io.BytesIO()
        try:
            _image("RGB").save(buf, "TIFF", compression=compression)
        except (OSError, KeyError, ValueError):
            continue
        files[f"tiff-{compression}"] = buf.getvalue()
    return files


def test_load_image_misnamed_other_formats_fuzz(tmp_path):
    """The load_image promise for files of Pillow's other formats under image extensions:
    each format valid, the known-bug repros, then seeded mutations."""
    rng = np.random.default_rng(SEED + 1)
    bases = other_format_files()
    names = sorted(bases)
    files = [(f"{name}_valid", bases[name]) for name in names]
    files += [(f"repro-{os.path.splitext(name)[0]}", content) for name, content in KNOWN_BUG_REPROS.items()]
    for _ in range(N_MUTANTS):
        name = names[rng.integers(len(names))]
        mutated, how = mutate(None, bases[name], rng)
        files.append((f"{name}_{how}", mutated))
    problems = []
    for i, (name, content) in enumerate(files):
        path = _write(str(tmp_path / f"o{i:04d}_{name}"[:180]) + EXTS[i % len(EXTS)], content)
        (kind, value), seconds, _ = call_with_deadline(data.load_image, path, SIZE)
        problem = check_load_image(path, value, kind, seconds, lambda shape: shape == (SIZE, SIZE, 3))
        if problem:
            problems.append(f"{os.path.basename(path)}: {problem}")
    assert not problems, "\n".join([REPRO_HINT] + problems)
