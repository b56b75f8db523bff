"""Generate good, odd and bad image files for the data tests (no binary fixtures in git).

Every writer takes a folder and returns the path it wrote.
"""

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

# --------------------------------------------------------------------------- good images


def gradient(h=24, w=24, seed=0):
    """An RGB uint8 image whose columns all differ (so a mirror image is distinguishable)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((h, w, 3), np.uint8)
    x[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    x[..., 1] = rng.integers(0, 256, (h, 1), dtype=np.uint8)
    x[..., 2] = 255 - x[..., 0]
    return x


def write(folder, name, array_or_image, **save_kwargs):
    """Save an array / PIL image to folder/name (format from the extension)."""
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    im.save(path, **save_kwargs)
    return path


def good_images(folder, n=10, size=24, nested=False):
    """`n` valid images cycling through PNG, JPEG, BMP, GIF and WebP; optionally in sub-folders."""
    exts = [".png", ".jpg", ".bmp", ".gif", ".webp"]
    paths = []
    for i in range(n):
        sub = os.path.join(f"d{i % 3}", f"e{i % 2}") if nested else ""
        ext = exts[i % len(exts)]
        name = os.path.join(sub, f"img{i:03d}{ext.upper() if i % 4 == 3 else ext}")
        kwargs = {"quality": 95} if ext in (".jpg", ".webp") else {}
        paths.append(write(folder, name, gradient(size, size, seed=i), **kwargs))
    return paths


def palette_transparent_png(folder, name="palette.png"):
    """A 'P' image: left half colour 0 is transparent, right half opaque red."""
    im = Image.new("P", (8, 8), 0)
    im.putpalette([0, 255, 0] + [255, 0, 0] + [0, 0, 0] * 254)  # transparent index is green underneath
    im.paste(1, (4, 0, 8, 8))
    return write(folder, name, im, transparency=0)


def rgba_png(folder, name="rgba.png"):
    """RGBA: left half fully transparent (green underneath), right half opaque blue."""
    x = np.zeros((8, 8, 4), np.uint8)
    x[:, :4] = (0, 255, 0, 0)
    x[:, 4:] = (0, 0, 255, 255)
    return write(folder, name, Image.fromarray(x, "RGBA"))


def grey_png(folder, name="grey.png", value=100):
    return write(folder, name, Image.fromarray(np.full((8, 8), value, np.uint8), "L"))


def grey16_png(folder, name="grey16.png"):
    """16-bit grey PNG (mode I;16): left half 65535, right half 32768."""
    x = np.zeros((8, 8), np.uint16)
    x[:, :4] = 65535
    x[:, 4:] = 32768
    im = Image.fromarray(x)
    assert im.mode.startswith("I;16"), im.mode
    return write(folder, name, im)


def animated_gif(folder, name="anim.gif"):
    """Two frames: red then blue; the first frame is the one to use."""
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = os.path.join(folder, name)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def left_right(folder, name="wide.png", w=40, h=20):
    """A w x h image: left half red, right half blue."""
    x = np.zeros((h, w, 3), np.uint8)
    x[:, : w // 2] = (255, 0, 0)
    x[:, w // 2 :] = (0, 0, 255)
    return write(folder, name, x)


# --------------------------------------------------------------------------- bad images


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(folder, name="bomb.png", width=30000, height=30000):
    """A tiny, valid-looking PNG whose IHDR claims width x height (must not be decoded)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
    data += _chunk(b"IEND", b"")
    return _write_bytes(folder, name, data)


def png_bytes(size=32):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def truncated_png(folder, name="truncated.png"):
    """A valid (noisy, so incompressible) PNG cut in half."""
    data = png_bytes()
    return _write_bytes(folder, name, data[: len(data) // 2])


def truncated_jpeg(folder, name="truncated.jpg"):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    return _write_bytes(folder, name, data[: len(data) // 2])


def corrupt_png(folder, name="corrupt.png"):
    """Random bytes with a .png name."""
    return _write_bytes(folder, name, np.random.default_rng(3).integers(0, 256, 500, dtype=np.uint8).tobytes())


def corrupt_idat_png(folder, name="corrupt_idat.png"):
    """Valid signature and header, garbage compressed pixel data."""
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"not zlib at all" * 4) + _chunk(b"IEND", b"")
    return _write_bytes(folder, name, data)


def empty_file(folder, name="empty.png"):
    return _write_bytes(folder, name, b"")


def text_as_png(folder, name="notes.png"):
    return _write_bytes(folder, name, b"this is not an image\n")


def broken_symlink(folder, name="dangling.png"):
    """An unreadable entry that works as root too (a link to nothing)."""
    path = os.path.join(folder, name)
    os.symlink(os.path.join(folder, "does-not-exist.png"), path)
    return path


BAD_WRITERS = (bomb_png, truncated_png, truncated_jpeg, corrupt_png, corrupt_idat_png, empty_file, text_as_png)


def bad_images(folder):
    """One file of every bad kind; returns their paths."""
    return [w(folder) for w in BAD_WRITERS] + [broken_symlink(folder)]


def ignored_files(folder):
    """Files that are not images by extension: silently ignored."""
    for name in ("README.txt", ".DS_Store", "._img000.png", "data.csv"):
        _write_bytes(folder, name, b"junk")


def _write_bytes(folder, name, data):
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(data)
    return path
