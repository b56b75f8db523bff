"""Decoding image files with Pillow, and the guards around it.

TF's decoders cannot do WebP, palette transparency or 16-bit grey properly, and a corrupt file
crashes ``fit`` mid-epoch inside the decode op; so files are decoded here, with Pillow, once.
Every way a file can be unusable (not a regular file, empty, not an image, truncated, a
decompression bomb, a decoder error) becomes a `DataError` whose message is the reason, so
that a folder can skip the file and name it.

`load_image` is the public single-file entry; `decode_into` / `decode_all` decode many files
in a thread pool for the folder sources.
"""
import concurrent.futures
import contextlib
import os
import stat
import warnings

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from kerasgan.data.errors import DataError
from kerasgan.data.options import MAX_PIXELS, ImageOptions


@contextlib.contextmanager
def strict_pillow(max_pixels):
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


def decode_file(path, options):
    """Decode one file to uint8 HxWxC; raises DataError(reason) for an unusable file.

    Assumes `strict_pillow` is active (set by the caller, once).
    """
    image_size = options.image_size
    with _open_checked(path, options.max_pixels) as im:
        try:
            if image_size is not None and im.format == "JPEG":
                im.draft(im.mode, (image_size, image_size))  # libjpeg DCT scaling: much faster
            im.load()  # decode everything now: truncated data raises here
            if im.getexif().get(ExifTags.Base.Orientation, 1) != 1:
                im = ImageOps.exif_transpose(im)  # phone photos of artworks carry an orientation
            im = _to_mode(im, options.mode, options.background)
            if image_size is not None:
                im = _resize_pil(im, image_size, options.resize, options.fill)
            arr = np.asarray(im, dtype=np.uint8)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise DataError(f"decompression bomb refused: {e}") from e
        except Exception as e:  # any decoder failure means this one file is unusable
            raise DataError(_decode_reason(e)) from e
    return arr.reshape(arr.shape[0], arr.shape[1], options.channels)


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
    options = ImageOptions(image_size, channels, resize, background, max_pixels)
    with strict_pillow(max_pixels):
        try:
            return decode_file(os.fspath(path), options)
        except DataError as e:
            raise DataError(f"{os.fspath(path)}: {e}") from e.__cause__


def _workers():
    # Decoding small images is mostly Python work under the GIL: more threads than
    # cores only add contention (measured: 2 threads fastest on 2 cores).
    return max(1, min(8, os.cpu_count() or 1))


def decode_into(out, paths, options):
    """Decode `paths` into the rows of `out` in a thread pool (Pillow releases the GIL).

    Returns the unusable files as `(index, reason)`; their rows are left as they were.
    """

    def work(i):
        try:
            out[i] = decode_file(paths[i], options)  # looked up per call: tests replace it
        except DataError as e:
            return i, str(e)
        return None

    with strict_pillow(options.max_pixels), concurrent.futures.ThreadPoolExecutor(_workers()) as pool:
        return [r for r in pool.map(work, range(len(paths))) if r is not None]


def decode_all(paths, options):
    """Decode `paths` into one in-memory array; returns (array, skipped as (index, reason))."""
    images = np.empty(options.shape(len(paths)), np.uint8)
    skipped = decode_into(images, paths, options)
    if skipped:
        images = np.delete(images, [i for i, _ in skipped], axis=0)
    return images, skipped  # no copy when all decoded
