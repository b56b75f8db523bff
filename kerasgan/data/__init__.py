"""Training images for kerasgan: image folders, numpy arrays and tensorflow-datasets.

`image_dataset` turns any of these sources into a batched ``tf.data.Dataset`` of float32
images in [-1, 1]. Image folders are validated and decoded ONCE, with Pillow, when the
dataset is built: a corrupt file otherwise crashes ``fit`` mid-epoch inside the decode op,
and TF's decoders cannot do WebP, palette transparency or 16-bit grey properly. Files that
cannot be used are skipped and reported by name in one `SkippedImageWarning` (or refused
with a `DataError` when ``strict=True``).

The decoded images live in memory, or, when they would not fit comfortably, in a ``.npy``
file in a cache folder that later runs reuse (``cache="auto"``). Either way the batches are
drawn by index (indices shuffled, batched, then the rows gathered), so both give the same
batches for the same seed.
"""

import concurrent.futures
import contextlib
import difflib
import errno
import hashlib
import json
import os
import re
import stat
import tempfile
import warnings

import numpy as np
import PIL
import tensorflow as tf
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from kerasgan.paths import image_cache_dir

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "DataError",
    "SkippedImageWarning",
    "CACHE_CHOICES",
    "MEMORY_BUDGET",
    "bundled",
    "default_cache_dir",
    "find_images",
    "image_dataset",
    "load_image",
    "load_image_folder",
    "unpaired_dataset",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# Same default as Pillow's Image.MAX_IMAGE_PIXELS: larger headers are treated as
# decompression bombs and refused before any pixel is decoded.
MAX_PIXELS = 89_478_485
RESIZE_MODES = ("crop", "pad")

_ARRAY_CHUNK = 2048  # images converted per eager TF call for array sources
_TFDS_SHUFFLE_BUFFER = 10_000

CACHE_CHOICES = ("auto", "memory", "disk")
_CACHE_FORMAT = 1  # part of the disk cache's key: bump when decoding changes
_DISK_CHUNK_BYTES = 64 * 2**20  # decoded bytes per chunk, flushed to the cache file before the next


def _memory_budget():
    # 2 GiB at most: a larger in-memory tensor cannot be serialized into a tf.data graph
    # (distribution strategies do) and is better left to the page cache anyway.
    budget = 2 * 2**30
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on every platform
        return budget
    return min(budget, free // 4)


# cache="auto" keeps decoded folder images in memory up to this many bytes, else on disk.
MEMORY_BUDGET = _memory_budget()


BUNDLED = {  # licences: kerasgan/datasets/LICENSES.txt
    "clipart64": "clipart64",  # 1000 public-domain clip-art PNGs, 64x64 RGB
    "fashion_mnist": "fashion_mnist_5k.npz",  # 5000 Fashion-MNIST images, 28x28 grey (MIT)
    "photos": "photos",  # 3 photographs (CC0 / public domain), for translation examples
}


def bundled(name):
    """The path of a data set shipped inside the package, e.g. `bundled("clipart64")`."""
    if name not in BUNDLED:
        raise ValueError(f"Unknown bundled data set {name!r}; bundled: {', '.join(BUNDLED)}.")
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # kerasgan/, above data/
    return os.path.join(package, "datasets", BUNDLED[name])


class DataError(ValueError):
    """A data source that cannot be used for training (bad files, too few images, ...)."""


class SkippedImageWarning(UserWarning):
    """Some image files in a folder could not be used and were skipped."""


# --------------------------------------------------------------------------- arguments


def _check_options(image_size, channels, resize, background, max_pixels=MAX_PIXELS):
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size <= 0
    ):
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}")
    return _background_rgb(background)


def _background_rgb(background):
    if isinstance(background, (int, np.integer)) and not isinstance(background, bool):
        background = (background,) * 3
    try:
        rgb = tuple(int(v) for v in background)
    except (TypeError, ValueError):
        rgb = ()
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(f"background must be an (R, G, B) tuple of ints in 0-255, got {background!r}")
    return rgb


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def _luma(rgb):
    # ITU-R 601-2, the weights Pillow uses for RGB -> L.
    r, g, b = rgb
    return int(round((r * 299 + g * 587 + b * 114) / 1000))


# --------------------------------------------------------------------------- Pillow decoding


@contextlib.contextmanager
def _strict_pillow(max_pixels):
    """Make Pillow refuse truncated files and decompression bombs while decoding.

    These are process-wide Pillow/warnings settings, so they are set once around a whole
    decode (in the calling thread), never per file inside worker threads.
    """
    saved_truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    saved_limit = Image.MAX_IMAGE_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    if saved_limit is not None and max_pixels > saved_limit:
        Image.MAX_IMAGE_PIXELS = max_pixels  # honour a larger user limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved_truncated
        Image.MAX_IMAGE_PIXELS = saved_limit


def _open_checked(path, max_pixels):
    """Open `path` lazily (header only), refusing non-files, empty files and bombs."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise DataError(f"cannot read file ({e.strerror or e})") from e
    if not stat.S_ISREG(st.st_mode):
        raise DataError("not a regular file")  # a FIFO would block forever on open
    if st.st_size == 0:
        raise DataError("empty file (0 bytes)")
    try:
        im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"decompression bomb refused: {e}") from e
    except UnidentifiedImageError as e:
        raise DataError("not a recognised image file (corrupt or wrong format)") from e
    except OSError as e:
        raise DataError(f"cannot read file ({e.strerror or e})") from e
    except Exception as e:  # Pillow's readers raise ValueError, NotImplementedError, ...
        raise DataError(f"cannot read file ({type(e).__name__}: {e})") from e
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise DataError(f"decompression bomb refused: header claims {w}x{h} = {w * h} pixels (max_pixels={max_pixels})")
    if w == 0 or h == 0:
        im.close()
        raise DataError(f"image has zero size {w}x{h}")
    return im


def _sixteen_bit_to_l(im):
    """16/32-bit grey ('I;16*', 'I', 'F') to 8-bit 'L' by scaling, not by clipping at 255."""
    raw = np.asarray(im)
    if im.mode == "F":
        grey = np.clip(raw, 0, 255)
    else:
        grey = np.clip(raw.astype(np.float64) / 257.0, 0, 255)  # 65535 -> 255
    out = Image.fromarray(np.round(grey).astype(np.uint8), "L")
    if "transparency" in im.info:  # tRNS: one grey value is fully transparent
        alpha = np.where(raw == im.info["transparency"], 0, 255).astype(np.uint8)
        out = Image.merge("LA", (out, Image.fromarray(alpha, "L")))
    return out


def _has_alpha(im):
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def _to_mode(im, mode, background):
    """Convert to 'RGB' or 'L', compositing any transparency onto `background`."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        im = _sixteen_bit_to_l(im)
    if _has_alpha(im):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", im.size, background + (255,))
        canvas.alpha_composite(rgba)
        im = canvas
    return im if im.mode == mode else im.convert(mode)


def _resize_pil(im, size, resize, fill):
    """Square `size` x `size`: centre crop ('crop') or pad with `fill` ('pad'), then resample."""
    w, h = im.size
    if resize == "crop":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        box = (left, top, left + side, top + side)
        if side == size and (w, h) == (size, size):
            return im
        return im.resize((size, size), _filter(side, size), box=box, reducing_gap=3.0)
    scale = size / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new != (w, h):
        im = im.resize(new, _filter(max(w, h), size), reducing_gap=3.0)
    if new == (size, size):
        return im
    canvas = Image.new(im.mode, (size, size), fill)
    canvas.paste(im, ((size - new[0]) // 2, (size - new[1]) // 2))
    return canvas


def _filter(src, dst):
    # LANCZOS keeps detail when shrinking; BICUBIC rings less when enlarging.
    return Image.Resampling.LANCZOS if dst < src else Image.Resampling.BICUBIC


def _decode(path, image_size, channels, resize, background, max_pixels):
    """Decode one file to uint8 HxWxC; raises DataError(reason) for an unusable file.

    Assumes `_strict_pillow` is active (set by the caller, once).
    """
    mode = "RGB" if channels == 3 else "L"
    with _open_checked(path, max_pixels) as im:
        try:
            if image_size is not None and im.format == "JPEG":
                im.draft(im.mode, (image_size, image_size))  # libjpeg DCT scaling: much faster
            im.load()  # decode everything now: truncated data raises here
            if im.getexif().get(ExifTags.Base.Orientation, 1) != 1:
                im = ImageOps.exif_transpose(im)  # phone photos of artworks carry an orientation
            im = _to_mode(im, mode, background)
            if image_size is not None:
                fill = background if mode == "RGB" else _luma(background)
                im = _resize_pil(im, image_size, resize, fill)
            arr = np.asarray(im, dtype=np.uint8)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise DataError(f"decompression bomb refused: {e}") from e
        except Exception as e:  # any decoder failure means this one file is unusable
            raise DataError(_decode_reason(e)) from e
    return arr.reshape(arr.shape[0], arr.shape[1], channels)


def _decode_reason(e):
    text = str(e) or type(e).__name__
    if "truncated" in text.lower():
        return f"truncated file ({text})"
    return f"cannot decode image ({type(e).__name__}: {text})"


def load_image(path, image_size=None, channels=3, *, resize="crop", background=(255, 255, 255), max_pixels=MAX_PIXELS):
    """Load one image file with Pillow as a uint8 array.

    Args:
        path: image file (PNG, JPEG, BMP, GIF (first frame), WebP, ...).
        image_size: output side length; None keeps the file's own size.
        channels: 3 for RGB, 1 for grey.
        resize: "crop" (centre-crop to a square, then resize) or "pad" (pad to a
            square with `background`, then resize).
        background: (R, G, B) 0-255 colour that transparency is composited onto
            and that "pad" fills with.
        max_pixels: refuse files whose header claims more than this many pixels.

    Returns:
        np.ndarray uint8 of shape (H, W, channels).

    Raises:
        DataError: the file is unusable; the message names the path and the reason.
    """
    background = _check_options(image_size, channels, resize, background, max_pixels)
    with _strict_pillow(max_pixels):
        try:
            return _decode(os.fspath(path), image_size, channels, resize, background, max_pixels)
        except DataError as e:
            raise DataError(f"{os.fspath(path)}: {e}") from e.__cause__


# --------------------------------------------------------------------------- folders


def find_images(folder):
    """Sorted paths of all image files under `folder`, searched recursively.

    Args:
        folder: directory to search. Files are matched by extension
            (IMAGE_EXTENSIONS, case-insensitive); macOS "._*" metadata files are ignored.
            Symlinked sub-folders are followed (each real folder once).

    Returns:
        list[str] of file paths, sorted.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Image folder not found: {folder}")
    found, seen = [], set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a symlink loop: don't walk forever
            dirs[:] = []
            continue
        seen.add(real)
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("._"):
                found.append(os.path.join(root, name))
    return sorted(found)


def _workers():
    # Decoding small images is mostly Python work under the GIL: more threads than
    # cores only add contention (measured: 2 threads fastest on 2 cores).
    return max(1, min(8, os.cpu_count() or 1))


def _decode_into(out, paths, image_size, channels, resize, background, max_pixels):
    """Decode `paths` into the rows of `out` in a thread pool (Pillow releases the GIL).

    Returns the unusable files as `(index, reason)`; their rows are left as they were.
    """

    def work(i):
        try:
            out[i] = _decode(paths[i], image_size, channels, resize, background, max_pixels)
        except DataError as e:
            return i, str(e)
        return None

    with _strict_pillow(max_pixels), concurrent.futures.ThreadPoolExecutor(_workers()) as pool:
        return [r for r in pool.map(work, range(len(paths))) if r is not None]


def _decode_all(paths, image_size, channels, resize, background, max_pixels):
    """Decode `paths` into one in-memory array; returns (array, skipped as (index, reason))."""
    images = np.empty((len(paths), image_size, image_size, channels), np.uint8)
    skipped = _decode_into(images, paths, image_size, channels, resize, background, max_pixels)
    if skipped:
        images = np.delete(images, [i for i, _ in skipped], axis=0)
    return images, skipped  # no copy when all decoded


def default_cache_dir():
    """Where decoded image folders are cached on disk: `$KERASGAN_CACHE/images`, else
    `~/.cache/kerasgan/images` (beside the presets' `~/.cache/kerasgan/presets`)."""
    return image_cache_dir()


def _cache_key(paths, shape, resize, background, max_pixels):
    """A name for the decoded images of `paths`: any change to a file or an option changes it."""
    digest = hashlib.sha256(json.dumps(
        [_CACHE_FORMAT, PIL.__version__, list(shape[1:]), resize, list(background), int(max_pixels)]).encode())
    for path in paths:
        try:  # st_mode: a file made readable by chmod must be decoded again
            st = os.stat(path)
            stamp = [st.st_size, st.st_mtime_ns, st.st_mode]
        except OSError:  # unreadable now: skipped; a later fix changes the stamp
            stamp = None
        digest.update(json.dumps([os.path.abspath(path), stamp]).encode() + b"\n")
    return digest.hexdigest()[:32]


def _replace_atomically(target, write):
    """Write `target` through a temporary file in its folder, renamed only when complete."""
    folder, name = os.path.split(target)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".tmp")  # never *.npy
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:  # interrupted or failed: leave nothing that looks like a cache
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _reserve(path):
    """Allocate the blocks of a new memmap file now: on a full disk, writing a page of a sparse
    file kills the process with SIGBUS; here it raises OSError first, naming the file."""
    if not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):  # unsupported: carry on
            raise OSError(e.errno, f"cannot write the image cache ({e.strerror})", path) from e
    finally:
        os.close(fd)


def _read_disk_cache(npy, sidecar, shape, stacklevel):
    """The cached (memmap, skipped) for `npy`, or None when absent or damaged (warned)."""
    if not os.path.exists(sidecar):  # written last: without it the cache is incomplete
        return None
    try:
        with open(sidecar) as f:
            meta = json.load(f)
        images = np.load(npy, mmap_mode="r", allow_pickle=False)  # checks the file's length too
        skipped = [(int(i), str(reason)) for i, reason in meta["skipped"]]
        if images.dtype != np.uint8 or images.shape != shape or tuple(meta["shape"]) != shape:
            raise ValueError(f"holds {images.dtype} {images.shape}, expected uint8 {shape}")
        return images, skipped
    except Exception as e:  # any damage: decode again rather than train on garbage
        warnings.warn(f"Ignoring the damaged image cache {npy} ({type(e).__name__}: {e}); rebuilding it.",
                      UserWarning, stacklevel=stacklevel + 1)
        return None


def _disk_images(paths, image_size, channels, resize, background, max_pixels, cache_dir, stacklevel):
    """Decoded images of `paths` in a reusable .npy cache file; returns (memmap, skipped).

    Rows of skipped files stay in the file (zeros); the caller leaves them out by index.
    """
    shape = (len(paths), image_size, image_size, channels)
    key = _cache_key(paths, shape, resize, background, max_pixels)
    npy, sidecar = (os.path.join(cache_dir, key + ext) for ext in (".npy", ".json"))
    cached = _read_disk_cache(npy, sidecar, shape, stacklevel + 1)
    if cached is not None:
        return cached
    os.makedirs(cache_dir, exist_ok=True)
    skipped = []

    def decode(tmp):
        images = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        _reserve(tmp)
        step = max(1, _DISK_CHUNK_BYTES // (image_size * image_size * channels))
        for start in range(0, len(paths), step):  # chunks: dirty pages are written out as we go
            chunk = _decode_into(images[start : start + step], paths[start : start + step],
                                 image_size, channels, resize, background, max_pixels)
            skipped.extend((start + i, reason) for i, reason in chunk)
            images.flush()
        del images

    def describe(tmp):
        with open(tmp, "w") as f:
            json.dump({"shape": list(shape), "skipped": skipped, "folder_files": len(paths)}, f)

    _replace_atomically(npy, decode)
    _replace_atomically(sidecar, describe)
    return np.load(npy, mmap_mode="r", allow_pickle=False), skipped


def _cache_kind(cache, nbytes):
    """'memory' or 'disk' for a `cache` argument and the decoded size in bytes."""
    if cache is True:  # the old boolean: True meant "cache", False "keep in memory"
        cache = "auto"
    elif cache is False:
        cache = "memory"
    if not isinstance(cache, str) or cache not in CACHE_CHOICES:
        raise ValueError(f"cache must be one of {', '.join(map(repr, CACHE_CHOICES))} "
                         f"(or True = 'auto', False = 'memory'), got {cache!r}")
    if cache == "auto":
        return "memory" if nbytes <= MEMORY_BUDGET else "disk"
    return cache


def _folder_paths(folder):
    paths = find_images(folder)
    if not paths:
        raise DataError(
            f"No image files found under {folder} (searched recursively for extensions "
            f"{', '.join(IMAGE_EXTENSIONS)}, case-insensitive)."
        )
    return paths


def _report_skipped(folder, paths, skipped, usable, strict, stacklevel):
    """Raise or warn (ONE `SkippedImageWarning` naming every file) about unusable files."""
    listing = "\n".join(f"  {paths[i]}: {reason}" for i, reason in skipped)
    if usable == 0:
        raise DataError(f"None of the {len(paths)} image files under {folder} could be used:\n{listing}")
    if skipped and strict:
        raise DataError(
            f"{len(skipped)} of {len(paths)} image files under {folder} could not be used "
            f"(strict=True; use strict=False to skip them):\n{listing}"
        )
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} of {len(paths)} image files that could not be used:\n{listing}",
            SkippedImageWarning,
            stacklevel=stacklevel + 1,
        )


def _folder_images(folder, paths, kind, image_size, channels, resize, background, strict, max_pixels, cache_dir,
                   stacklevel):
    """(images, rows): the decoded images of `paths`, in memory or memory-mapped from the cache.

    `rows` are the usable rows of a disk cache (None: all rows of an in-memory array).
    Warnings point `stacklevel` frames up from here (at the user's call).
    """
    if kind == "memory":
        images, skipped = _decode_all(paths, image_size, channels, resize, background, max_pixels)
        rows = None
    else:
        cache_dir = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
        images, skipped = _disk_images(paths, image_size, channels, resize, background, max_pixels, cache_dir,
                                       stacklevel + 2)
        rows = np.delete(np.arange(len(paths)), [i for i, _ in skipped]) if skipped else None
    _report_skipped(folder, paths, skipped, len(paths) - len(skipped), strict, stacklevel + 1)
    return images, rows


def _folder_source(folder, image_size, channels, resize, background, strict, max_pixels, cache, cache_dir):
    """One folder for a dataset: (images, rows, kind), kind chosen by the decoded size."""
    if image_size is None:
        raise ValueError("image_size must be a positive int for a folder (images are stacked), got None")
    folder = os.fspath(folder)
    paths = _folder_paths(folder)
    kind = _cache_kind(cache, len(paths) * image_size * image_size * channels)
    return _folder_images(folder, paths, kind, image_size, channels, resize, background, strict, max_pixels,
                          cache_dir, stacklevel=3) + (kind,)


def load_image_folder(
    folder,
    image_size,
    channels=3,
    *,
    resize="crop",
    background=(255, 255, 255),
    strict=False,
    max_pixels=MAX_PIXELS,
):
    """Validate and decode every image under `folder` (recursively) into one uint8 array.

    Unusable files (corrupt, truncated, empty, not an image, unreadable, decompression
    bombs) are skipped and reported in ONE `SkippedImageWarning` naming each file.

    Args:
        folder: directory of images (see `find_images`).
        image_size: side length of the square output images.
        channels: 3 for RGB, 1 for grey.
        resize: "crop" or "pad" (see `load_image`).
        background: (R, G, B) 0-255 colour for transparency and padding.
        strict: raise `DataError` instead of skipping unusable files.
        max_pixels: refuse files whose header claims more than this many pixels.

    Returns:
        np.ndarray uint8 of shape (N, image_size, image_size, channels), in memory.

    Raises:
        FileNotFoundError: `folder` does not exist.
        DataError: no image files; every file unusable; any file unusable with strict=True.
    """
    if image_size is None:
        raise ValueError("image_size must be a positive int for a folder (images are stacked), got None")
    background = _check_options(image_size, channels, resize, background, max_pixels)
    folder = os.fspath(folder)
    images, _ = _folder_images(folder, _folder_paths(folder), "memory", image_size, channels, resize, background,
                               strict, max_pixels, None, stacklevel=2)
    return images


# --------------------------------------------------------------------------- arrays


def _convert_tf(x, image_size, channels, resize, background):
    """Channels and size of a float32 [0, 255] batch (N, H, W, C) with C in {1, 3, 4}."""
    bg = tf.constant(background, tf.float32)
    c = x.shape[-1]
    if c == 4:  # straight (non-premultiplied) alpha over the background colour
        alpha = x[..., 3:] / 255.0
        x = x[..., :3] * alpha + bg * (1.0 - alpha)
        c = 3
    if channels == 1 and c == 3:  # before resizing: fewer channels to resize
        x = tf.reduce_sum(x * tf.constant([0.299, 0.587, 0.114]), axis=-1, keepdims=True)
    if channels == 1:
        bg = tf.constant([float(_luma(background))])
    elif c == 1 and resize == "pad":  # the padding must be the RGB background
        x, c = tf.repeat(x, 3, axis=-1), 3
    h, w = x.shape[1], x.shape[2]
    if (h, w) != (image_size, image_size):
        # Antialiasing only matters (and costs ~7x) when shrinking.
        antialias = h is None or w is None or max(h, w) > image_size
        if h is None or w is None:
            h, w = tf.shape(x)[1], tf.shape(x)[2]
        size = (image_size, image_size)
        if resize == "crop":
            side = tf.minimum(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            x = x[:, top : top + side, left : left + side, :]
            x = tf.image.resize(x, size, method="bicubic", antialias=antialias)
        else:
            # Shift so the background is 0: resize_with_pad's zero padding then IS the background.
            x = tf.image.resize_with_pad(x - bg, *size, method="bicubic", antialias=antialias) + bg
        x = tf.clip_by_value(x, 0.0, 255.0)  # bicubic overshoots
    if channels == 3 and c == 1:
        x = tf.repeat(x, 3, axis=-1)
    return x


# Float arrays: [-1, 1] / [0, 1] up to this much float rounding (then clipped); floats above
# 1 + tolerance are [0, 255] only when their max is at least _FLOAT_0_255_MIN_MAX (a whole
# array of 0-255 images whose brightest pixel is below 16 is implausible; a standardised or
# overshooting [0, 1] array is not), else refused as ambiguous.
_RANGE_TOLERANCE = 1e-3
_FLOAT_0_255_MIN_MAX = 16.0


def _array_to_unit255(x, what):
    """Validate an image array; returns (array in its value range as float32 0-255 or uint8)."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(
            f"{what} has shape {x.shape}; expected images shaped (N, H, W) or (N, H, W, C) with C in (1, 3, 4)"
        )
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise DataError(f"{what} has shape {x.shape}: no images")
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{what} has dtype {x.dtype}; expected uint8 or float images")
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise DataError(f"{what} contains NaN or Inf values")
    is_float = np.issubdtype(x.dtype, np.floating)
    x = x.astype(np.float32)  # a copy: scaled and clipped in place below
    found = f"[{lo:.7g}, {hi:.7g}]"
    tol = _RANGE_TOLERANCE
    if is_float and lo >= -1.0 - tol and hi <= 1.0 + tol:
        # [-1, 1] or [0, 1]; float rounding (e.g. a max of 1.0000001) is within `tol` and clipped.
        detected, (low, high) = ("[-1, 1]", (-1.0, 1.0)) if lo < 0 else ("[0, 1]", (0.0, 1.0))
        if lo < low or hi > high:
            warnings.warn(f"{what} has float values in {found}: read as {detected}, the values "
                          f"outside it (by at most {tol:g}) clipped", stacklevel=4)
        np.clip(x, low, high, out=x)
        if low < 0:
            x += 1.0
            x *= 127.5
        else:
            x *= 255.0
        return x
    if lo < 0 or hi > 255.0 + tol or (is_float and hi < _FLOAT_0_255_MIN_MAX):
        # Floats a little above 1 (max 3.0, say) are neither [0, 1] / [-1, 1] nor plausibly
        # [0, 255] images (their brightest pixel that dark): refused rather than guessed.
        raise DataError(f"{what} has {'float ' if is_float else ''}values in {found}; expected "
                        f"[-1, 1] or [0, 1] (floats, within {tol:g}) or [0, 255]"
                        + (f" (floats: max at least {_FLOAT_0_255_MIN_MAX:g})" if is_float else ""))
    np.clip(x, 0.0, 255.0, out=x)
    return x


def _prepare_array(x, what, image_size, channels, resize, background):
    """Array source -> (N, S, S, channels), uint8 if given uint8 else float32 in [0, 255]."""
    integer_input = np.asarray(x).dtype == np.uint8
    x = _array_to_unit255(x, what)
    if x.shape[1:] == (image_size, image_size, channels):
        return x
    dtype = np.uint8 if integer_input else np.float32
    out = np.empty((len(x), image_size, image_size, channels), dtype)
    for start in range(0, len(x), _ARRAY_CHUNK):
        chunk = tf.cast(x[start : start + _ARRAY_CHUNK], tf.float32)
        chunk = _convert_tf(chunk, image_size, channels, resize, background)
        if integer_input:
            chunk = tf.cast(tf.round(chunk), tf.uint8)
        out[start : start + len(chunk)] = chunk.numpy()
    return out


def _load_array_file(path):
    """Images from an .npy or .npz file; returns (array, description for errors)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Array file not found: {path}")
    try:
        # allow_pickle=False: loading data must never execute code.
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise DataError(f"cannot read {path} as a numpy file: {e}") from e
    if isinstance(data, np.ndarray):
        return data, f"array in {path}"
    with data:
        keys = list(data.files)
        if not keys:
            raise DataError(f"{path} contains no arrays")
        key = "x_train" if "x_train" in keys else "images" if "images" in keys else keys[0]
        try:
            return data[key], f"array {key!r} in {path} (keys: {', '.join(keys)})"
        except Exception as e:
            raise DataError(f"cannot read array {key!r} from {path}: {e}") from e


# --------------------------------------------------------------------------- tensorflow-datasets


def _parse_tfds(source, split):
    """'tfds:NAME[/CONFIG][:VERSION][:SPLIT]' -> (name, split)."""
    name, _, rest = source[len("tfds:") :].partition(":")
    version = re.match(r"^\d+\.\d+\.\d+", rest)
    if version:  # "mnist:3.0.1:test"
        name = f"{name}:{version.group(0)}"
        rest = rest[version.end() :].lstrip(":")
    if not name:
        raise ValueError(f"expected 'tfds:NAME' or 'tfds:NAME:SPLIT', got {source!r}")
    return name, rest or split


def _tfds_builder(tfds, name, data_dir):
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError as e:
        base = name.split(":")[0].split("/")[0]
        close = difflib.get_close_matches(base, tfds.list_builders(), n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else " See tfds.list_builders() for the names."
        raise DataError(f"Unknown tensorflow-datasets name {base!r}.{hint}") from e
    except (AssertionError, ValueError) as e:  # e.g. an unknown version or config
        raise DataError(f"Cannot open tensorflow-datasets dataset {name!r}: {e}") from e


def _not_prepared_error(builder, name, data_dir):
    root = data_dir if data_dir is not None else getattr(builder, "data_dir_root", None)
    root = os.fspath(root) if root is not None else os.path.dirname(builder.data_dir)
    rel = os.path.relpath(builder.data_dir, root)
    base_dir = os.path.join(root, builder.name)
    versions = sorted(os.listdir(base_dir)) if os.path.isdir(base_dir) else []
    found = f" (found only: {', '.join(versions)} under {base_dir})" if versions else ""
    return FileNotFoundError(
        f"tensorflow-datasets dataset {name!r} is not prepared in data_dir {root}: "
        f"{builder.data_dir} does not exist{found}. Nothing was downloaded (download=False). "
        f"To provide it, either run with download=True (--download in the CLI) on a machine "
        f"with internet access, or copy a prepared '{rel}/' folder into {root}."
    )


def _image_feature_key(features, name):
    image_keys = [k for k, f in features.items() if type(f).__name__ == "Image"]
    if "image" in image_keys:
        return "image"
    if len(image_keys) == 1:
        return image_keys[0]
    raise DataError(
        f"tensorflow-datasets dataset {name!r} has image features {image_keys} among "
        f"{list(features)}; expected one feature named 'image' or exactly one Image feature"
    )


def _tfds_source(source, split, data_dir, download, shuffle, seed, image_size, channels, resize, background):
    """Dataset of uint8 (S, S, channels) images from tensorflow-datasets, and its size."""
    import tensorflow_datasets as tfds  # slow to import: only when asked for

    name, split = _parse_tfds(source, split)
    data_dir = os.fspath(data_dir) if data_dir is not None else None
    builder = _tfds_builder(tfds, name, data_dir)
    if download:
        builder.download_and_prepare()
    elif not builder.is_prepared():  # never touch the network: offline it hangs for minutes
        raise _not_prepared_error(builder, name, data_dir)
    key = _image_feature_key(builder.info.features, name)
    try:
        n = builder.info.splits[split].num_examples
        ds = builder.as_dataset(split=split, shuffle_files=shuffle, read_config=tfds.ReadConfig(shuffle_seed=seed))
    except (KeyError, ValueError, AssertionError) as e:
        raise DataError(
            f"Cannot read split {split!r} of {name!r} (splits: {', '.join(builder.info.splits)}): {e}"
        ) from e

    def prepare(example):
        image = tf.cast(example[key], tf.float32)
        if image.shape.rank == 2:
            image = image[..., None]
        out = _convert_tf(image[None], image_size, channels, resize, background)[0]
        out = tf.cast(tf.round(out), tf.uint8)  # uint8 keeps the cache 4x smaller
        return tf.ensure_shape(out, (image_size, image_size, channels))

    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE), n


# --------------------------------------------------------------------------- the dataset


def _memory_fetch(images):
    """Rows of an in-memory array by index, inside the graph (no Python, no GIL per batch)."""
    table = tf.constant(images)
    return lambda index: tf.gather(table, index)


def _disk_fetch(images, rows, batch_shape):
    """Rows of a memory-mapped cache by index: ONE numpy call per batch, read in file order."""

    def read(index):
        wanted = index if rows is None else rows[index]
        order = np.argsort(wanted, kind="stable")
        out = np.empty((len(wanted),) + images.shape[1:], np.uint8)
        out[order] = images[wanted[order]]  # sorted: sequential reads; `out` keeps the batch's order
        return out

    def fetch(index):
        batch = tf.numpy_function(read, [index], tf.uint8, stateful=False)
        return tf.ensure_shape(batch, batch_shape)  # static shape: the train step is traced once

    return fetch


def _fetch(images, rows, kind, batch_shape):
    """The fetch of batches of indices for images in memory or in a memory-mapped cache."""
    return _memory_fetch(images) if kind == "memory" else _disk_fetch(images, rows, batch_shape)


def _batches(n, fetch, batch_size, *, shuffle, shuffle_buffer, seed, flip, repeat, skip_batches=0, ds=None):
    """Common tail: shuffle, batch (drop_remainder), fetch, scale to [-1, 1], flip, repeat, prefetch.

    The stream is built on the indices `0..n-1` (`fetch` turns a batch of indices into a
    batch of images), so where the images live never changes which batches come out; a
    dataset of images `ds` (tensorflow-datasets) is used as it is, with `fetch=None`.
    With `repeat=True` the data never ends and pass `e` over it is shuffled and flipped with
    keys derived from `(seed, e)` and the batch index: batch `k` of the stream is the same in
    every run, so a resumed run continues it with `skip_batches` (exact resume). Without it,
    each pass is shuffled and flipped anew, reproducibly for a given seed.
    """
    seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
    if ds is None:
        ds = tf.data.Dataset.range(n)
    if repeat:

        def one_pass(epoch):
            d = ds.shuffle(shuffle_buffer, seed=seed * 100_003 + epoch,
                           reshuffle_each_iteration=False) if shuffle else ds
            return d.batch(batch_size, drop_remainder=True)

        batches = tf.data.Dataset.range(2**62).flat_map(one_pass).skip(skip_batches)
        batches = batches.enumerate(start=skip_batches)
    else:
        if shuffle:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        # drop_remainder: a ragged last batch would recompile the train step.
        batches = ds.batch(batch_size, drop_remainder=True)
        # Flip keys drawn anew each pass (a finite dataset restarts every epoch), from the seed.
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        batches = tf.data.Dataset.zip((keys, batches))

    def scale(key, x):
        if fetch is not None:
            x = fetch(x)
        x = tf.cast(x, tf.float32) / 127.5 - 1.0
        if flip:  # stateless, keyed: the same flips whatever order the parallel calls run in
            x = tf.image.stateless_random_flip_left_right(x, seed=tf.stack([tf.constant(seed, tf.int64), key]))
        return x

    # Parallel map: with the default deterministic=True the batches still come out in order.
    return batches.map(scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _too_few(n, batch_size, where):
    return DataError(
        f"Only {n} usable images in {where}, but batch_size={batch_size}: batches use "
        f"drop_remainder=True (a ragged last batch recompiles the train step), so at least "
        f"batch_size images are needed. Use a smaller batch size (--batch-size) or add images."
    )


def image_dataset(
    source,
    image_size=64,
    channels=3,
    batch_size=64,
    *,
    resize="crop",
    background=(255, 255, 255),
    shuffle=True,
    cache="auto",
    flip=False,
    strict=False,
    data_dir=None,
    download=False,
    split="train",
    seed=None,
    repeat=False,
    max_pixels=MAX_PIXELS,
    skip_batches=0,
    cache_dir=None,
):
    """A batched dataset of float32 images in [-1, 1], shaped (batch_size, S, S, channels).

    Args:
        source: one of
            - a folder (str or pathlib.Path), searched recursively for IMAGE_EXTENSIONS;
              every file is validated and decoded once, now (see `load_image_folder`), into
              memory or into a reusable cache file on disk (see `cache`);
            - an ``.npy`` / ``.npz`` file (key ``x_train``, else ``images``, else the first)
              or a numpy array, shaped (N, H, W) or (N, H, W, C), C in (1, 3, 4), uint8
              [0, 255] or float [0, 1] / [-1, 1] (up to 1e-3 of float rounding outside
              them is clipped, with a warning), or float [0, 255] (max at least 16; floats
              with a max between 1.001 and 16 are refused as ambiguous);
            - ``"tfds:NAME"``, ``"tfds:NAME:SPLIT"`` (or ``"tfds:NAME:VERSION:SPLIT"``):
              a tensorflow-datasets dataset, its image feature ``"image"`` (or its only Image
              feature). Never downloads unless ``download=True``.
        image_size: side length S of the square images.
        channels: 3 for RGB, 1 for grey.
        batch_size: images per batch; the last incomplete batch is dropped.
        resize: "crop" (centre-crop to a square, then resize) or "pad" (pad with `background`).
        background: (R, G, B) 0-255 colour for transparency and padding.
        shuffle: reshuffle every epoch.
        cache: where a folder's decoded images are kept:
            - ``"memory"``: one uint8 array in memory;
            - ``"disk"``: a uint8 ``.npy`` file in `cache_dir`, memory-mapped, read a batch at
              a time. Its name is a hash of the files (paths, sizes, modification times) and
              the options, so a later run over the same files reuses it without decoding (and
              still warns about the same skipped files), and any change decodes anew;
            - ``"auto"`` (default): memory if the decoded images (N * S * S * channels bytes)
              fit in `MEMORY_BUDGET` (2 GiB or a quarter of the free RAM, the smaller), else disk.
            True means "auto" and False "memory". Both give the same batches for the same seed.
            For tensorflow-datasets, True / "auto" / "memory" cache the decoded images in memory
            after the first pass and False does not cache ("disk" is refused). Arrays are in
            memory already.
        flip: random horizontal flips.
        strict: for folders, raise `DataError` on any unusable file instead of skipping it.
        data_dir: tensorflow-datasets data directory (default: tfds' own default).
        download: allow tensorflow-datasets to download and prepare the data.
        split: tensorflow-datasets split, unless given in `source`.
        seed: seed for shuffling and flips.
        repeat: repeat forever (pass ``steps_per_epoch`` to ``fit``); every pass is shuffled
            and flipped by keys from ``seed`` and the pass number, reproducibly.
        skip_batches: with ``repeat``, start this many batches into the stream (resuming
            a run after ``initial_epoch * steps_per_epoch`` steps).
        max_pixels: for folders, refuse files whose header claims more pixels.
        cache_dir: folder of the disk cache; default `default_cache_dir()`
            (``$KERASGAN_CACHE/images``, else ``~/.cache/kerasgan/images``).

    Returns:
        tf.data.Dataset whose elements are float32 tensors (batch_size, S, S, channels), with
        two attributes: ``batches_per_epoch``, the number of full batches in one pass, and
        ``cache_kind``, where the decoded images are: "memory", "disk" (folders), or "none"
        (tensorflow-datasets with ``cache=False``).

    Raises:
        FileNotFoundError: missing folder or file; tfds data not prepared in `data_dir`.
        DataError: unusable data, fewer than `batch_size` images, unknown tfds name.
        ValueError: bad arguments.
    """
    background = _check_options(image_size, channels, resize, background, max_pixels)
    _check_batch_size(batch_size)
    _cache_kind(cache, 0)  # a bad choice fails now, whatever the source
    if skip_batches and not repeat:
        raise ValueError("skip_batches needs repeat=True (a finite dataset restarts every epoch)")
    options = (image_size, channels, resize, background)
    ds = fetch = None
    kind = "memory"
    if isinstance(source, str) and source.startswith("tfds:"):
        if cache == "disk":
            raise ValueError("cache='disk' is for image folders; a tensorflow-datasets source is cached "
                             "in memory (cache=True, 'auto' or 'memory') or not at all (cache=False)")
        ds, n = _tfds_source(source, split, data_dir, download, shuffle, seed, *options)
        where = source
        if cache:
            ds = ds.cache()
        else:
            kind = "none"
        buffer = max(1, min(n, _TFDS_SHUFFLE_BUFFER))
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path.lower().endswith((".npz", ".npy")):
            array, where = _load_array_file(path)
            images = _prepare_array(array, where, *options)
            n = len(images)
        elif os.path.isdir(path):
            where = path
            images, rows, kind = _folder_source(path, image_size, channels, resize, background, strict, max_pixels,
                                                cache, cache_dir)
            n = len(images) if rows is None else len(rows)
            fetch = _fetch(images, rows, kind, (batch_size, image_size, image_size, channels))
        elif os.path.exists(path):
            raise DataError(f"{path} is not a folder, an .npz/.npy file or 'tfds:NAME'")
        else:
            raise FileNotFoundError(f"Image folder or file not found: {path}")
    elif isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        where = "the given array"
        images = _prepare_array(source, where, *options)
        n = len(images)
    else:
        raise TypeError(
            "source must be a folder path, an .npz/.npy path, a numpy array or 'tfds:NAME', "
            f"got {type(source).__name__}"
        )
    if n < batch_size:
        raise _too_few(n, batch_size, where)
    if ds is None:
        buffer = n
        if fetch is None:
            fetch = _memory_fetch(images)
    dataset = _batches(n, fetch, batch_size, shuffle=shuffle, shuffle_buffer=buffer, seed=seed, flip=flip,
                       repeat=repeat, skip_batches=skip_batches, ds=ds)
    dataset.batches_per_epoch = n // batch_size
    dataset.cache_kind = kind
    return dataset


# --------------------------------------------------------------------------- unpaired A/B folders


def unpaired_dataset(
    dir_a,
    dir_b,
    image_size=128,
    batch_size=1,
    load_size=None,
    flip=True,
    seed=None,
    repeat=False,
    *,
    shuffle=True,
    skip_batches=0,
    cache="auto",
    cache_dir=None,
    **image_kwargs,
):
    """Batches `(images_a, images_b)` from two unpaired image folders, for CycleGAN.

    Each folder is validated and decoded once with `load_image_folder` at `load_size`
    (unusable files are skipped with a `SkippedImageWarning` naming them); every image then
    gets a random `image_size` crop and (with `flip`) a random horizontal flip, as in
    CycleGAN's 286 -> 256 "resize_and_crop". The two domains are shuffled independently.
    One pass ("epoch") has the LONGER folder's length: `max(len_a, len_b) // batch_size`
    batches; the shorter folder is cycled through, reshuffled each time around.

    Args:
        dir_a, dir_b: the two image folders (searched recursively).
        image_size: side length of the training crops.
        batch_size: pairs per batch; the last incomplete batch is dropped.
        load_size: side length images are loaded at (centre-crop to a square, resize);
            default `round(image_size * 1.125)` (286 for 256). Must be >= image_size.
        flip: random horizontal flips.
        seed: seed for shuffling, crops and flips (drawn at random when None).
        repeat: repeat forever (pass `steps_per_epoch` to `fit`); batch `k` of the stream
            is the same in every run with the same seed, so `skip_batches` resumes it.
        shuffle: shuffle each domain.
        skip_batches: with `repeat`, start this many batches into the stream.
        cache: "auto" (default), "memory" or "disk", as in `image_dataset`; "auto" decides
            for both folders together, by their total decoded size.
        cache_dir: folder of the disk cache (default `default_cache_dir()`).
        **image_kwargs: passed on to `load_image_folder` (channels, resize, background,
            strict, max_pixels).

    Returns:
        tf.data.Dataset of tuples of two float32 tensors in [-1, 1], each
        (batch_size, image_size, image_size, channels); attributes `batches_per_epoch` and
        `cache_kind` ("memory" or "disk").
    """
    _check_batch_size(batch_size)
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size <= 0:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    if load_size is None:
        load_size = int(round(image_size * 1.125))
    if isinstance(load_size, bool) or not isinstance(load_size, (int, np.integer)) or load_size < image_size:
        raise ValueError(f"load_size must be an int >= image_size ({image_size}), got {load_size!r}")
    if skip_batches and not repeat:
        raise ValueError("skip_batches needs repeat=True (a finite dataset restarts every epoch)")
    load_size = int(load_size)
    options = dict(channels=3, resize="crop", background=(255, 255, 255), strict=False, max_pixels=MAX_PIXELS)
    unknown = set(image_kwargs) - set(options)
    if unknown:
        raise TypeError(f"unpaired_dataset() got unexpected keyword arguments {sorted(unknown)}")
    options.update(image_kwargs)
    options["background"] = _check_options(load_size, options["channels"], options["resize"],
                                           options["background"], options["max_pixels"])
    folders = [os.fspath(dir_a), os.fspath(dir_b)]
    paths = [_folder_paths(folder) for folder in folders]
    kind = _cache_kind(cache, sum(map(len, paths)) * load_size * load_size * options["channels"])
    domains = []
    for folder, p in zip(folders, paths):
        domains.append(_folder_images(folder, p, kind, load_size, cache_dir=cache_dir, stacklevel=2, **options))
    sizes = [len(images) if rows is None else len(rows) for images, rows in domains]
    n = max(sizes)
    if n < batch_size:
        raise _too_few(n, batch_size, f"{folders[0]} and {folders[1]}")
    seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
    crop_shape = (int(image_size), int(image_size), options["channels"])
    one_image = (1, load_size, load_size, options["channels"])
    fetches = [_fetch(images, rows, kind, one_image) for images, rows in domains]

    def stream(size, offset):  # indices: the images are fetched in `augment`
        ds = tf.data.Dataset.range(size)
        if shuffle:
            ds = ds.shuffle(size, seed=seed * 100_003 + offset, reshuffle_each_iteration=True)
        return ds.repeat()

    pairs = tf.data.Dataset.zip((stream(sizes[0], 1), stream(sizes[1], 2)))
    steps = n // batch_size
    if repeat:  # crops and flips keyed by the element's place in the stream
        start = skip_batches * batch_size
        keyed = pairs.skip(start).enumerate(start=start)
    else:  # a finite dataset restarts each epoch: new random keys every pass
        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        keyed = tf.data.Dataset.zip((randoms, pairs.take(steps * batch_size)))

    def augment(r, pair):
        out = []
        for j, index in enumerate(pair):
            image = fetches[j](index[None])[0]
            key = lambda k: tf.stack([tf.constant(seed, tf.int64) * 4 + k, tf.cast(r, tf.int64)])  # noqa: E731
            image = tf.image.stateless_random_crop(image, crop_shape, seed=key(2 * j))
            if flip:
                image = tf.image.stateless_random_flip_left_right(image, seed=key(2 * j + 1))
            out.append(image)
        return tuple(out)

    def scale(x, y):
        return tf.cast(x, tf.float32) / 127.5 - 1.0, tf.cast(y, tf.float32) / 127.5 - 1.0

    dataset = (keyed.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
               .batch(batch_size, drop_remainder=True)
               .map(scale, num_parallel_calls=tf.data.AUTOTUNE)
               .prefetch(tf.data.AUTOTUNE))
    dataset.batches_per_epoch = steps
    dataset.cache_kind = kind
    return dataset
