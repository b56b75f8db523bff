"""Image folders as a source: finding the files, decoding them all once, judging the skipped.

A folder is decoded when the dataset is built (the validation has to open every file anyway),
into memory or into the disk cache. Unusable files are skipped and named in ONE
`SkippedImageWarning`, or refused with a `DataError` (``strict=True``, or nothing usable).
`read_folder` returns that warning and error instead of issuing them: the public functions
issue them, so that they point at the user's call.
"""
import dataclasses
import os
import warnings

import numpy as np

from kerasgan.data import disk_cache
from kerasgan.data.decode import decode_all
from kerasgan.data.errors import DataError, SkippedImageWarning
from kerasgan.data.options import MAX_PIXELS, ImageOptions

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


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


def folder_paths(folder):
    """`find_images(folder)`, refusing a folder without any image file."""
    paths = find_images(folder)
    if not paths:
        raise DataError(
            f"No image files found under {folder} (searched recursively for extensions "
            f"{', '.join(IMAGE_EXTENSIONS)}, case-insensitive)."
        )
    return paths


def check_image_size(image_size):
    if image_size is None:
        raise ValueError("image_size must be a positive int for a folder (images are stacked), got None")


@dataclasses.dataclass
class Folder:
    """A decoded folder, and what its caller has to tell the user about it.

    images: uint8 (N, S, S, C), in memory or memory-mapped from the disk cache.
    rows: the usable rows of a disk cache (None: every row of `images`).
    warnings: to issue, in order (a damaged cache rebuilt, the skipped files).
    error: a `DataError` to raise after them (nothing usable, or skipped files with strict).
    kept: the indices (into the paths read) of the usable images, in `images`' order.
    """

    images: np.ndarray
    rows: np.ndarray | None
    warnings: list
    error: DataError | None
    kept: np.ndarray

    def __len__(self):
        return len(self.images) if self.rows is None else len(self.rows)


def _judge_skipped(folder, paths, skipped, strict):
    """(warning, error) about unusable files: ONE `SkippedImageWarning` naming every file."""
    listing = "\n".join(f"  {paths[i]}: {reason}" for i, reason in skipped)
    if len(skipped) == len(paths):
        return None, DataError(f"None of the {len(paths)} image files under {folder} could be used:\n{listing}")
    if skipped and strict:
        return None, DataError(
            f"{len(skipped)} of {len(paths)} image files under {folder} could not be used "
            f"(strict=True; use strict=False to skip them):\n{listing}"
        )
    if skipped:
        return SkippedImageWarning(
            f"Skipped {len(skipped)} of {len(paths)} image files that could not be used:\n{listing}"), None
    return None, None


def read_folder(folder, paths, kind, options, *, strict=False, cache_dir=None):
    """The decoded images of `paths` (found under `folder`), in memory (`kind` "memory") or
    memory-mapped from the disk cache ("disk"), as a `Folder`."""
    if kind == "memory":
        images, skipped = decode_all(paths, options)
        rows, notes = None, []
    else:
        images, skipped, notes = disk_cache.disk_images(paths, options, cache_dir)
        rows = np.delete(np.arange(len(paths)), [i for i, _ in skipped]) if skipped else None
    warning, error = _judge_skipped(folder, paths, skipped, strict)
    kept = np.delete(np.arange(len(paths)), [i for i, _ in skipped])
    return Folder(images, rows, notes + ([warning] if warning else []), error, kept)


def class_folders(folder, paths):
    """Classes from sub-folder names (one sub-folder of `folder` per class, searched
    recursively inside): `(paths in a class folder, their class indices, sorted class names,
    warnings)`. Images lying directly in `folder` belong to no class: skipped, and named in
    a `SkippedImageWarning`. Fewer than two classes is a `DataError`."""
    tops = [os.path.relpath(path, folder).split(os.sep) for path in paths]
    inside = [(path, parts[0]) for path, parts in zip(paths, tops) if len(parts) > 1]
    outside = [path for path, parts in zip(paths, tops) if len(parts) == 1]
    class_names = sorted({name for _, name in inside})
    if len(class_names) < 2:
        raise DataError(
            f"labels='inferred' takes one sub-folder per class under {folder}, found "
            f"{len(class_names)} ({', '.join(class_names) or 'none'}): at least two are needed.")
    notes = []
    if outside:
        listing = "\n".join(f"  {path}: not in a class sub-folder" for path in outside)
        notes.append(SkippedImageWarning(
            f"Skipped {len(outside)} of {len(paths)} image files that are in no class "
            f"folder (labels='inferred'):\n{listing}"))
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([index[name] for _, name in inside], "int32")
    inside = [path for path, _ in inside]
    return inside, labels, class_names, notes


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
    check_image_size(image_size)
    options = ImageOptions(image_size, channels, resize, background, max_pixels)
    folder = os.fspath(folder)
    loaded = read_folder(folder, folder_paths(folder), "memory", options, strict=strict)
    for warning in loaded.warnings:
        warnings.warn(warning, stacklevel=2)
    if loaded.error is not None:
        raise loaded.error
    return loaded.images


def pair_key(folder, path):
    """What pairs a file with its partner: its path under `folder` without the extension
    (`sketches/cat.png` pairs with `paintings/cat.jpg`; sub-folders must match too)."""
    return os.path.splitext(os.path.relpath(path, folder))[0]


def match_pairs(folder_a, paths_a, folder_b, paths_b, strict=False):
    """The files of two folders paired by `pair_key`: `(paths_a, paths_b, warnings, error)`,
    the pairs in sorted order. Files without a partner, and names that two files of one
    folder share (`cat.png` and `cat.jpg`: which is meant?), are left out and named in ONE
    `SkippedImageWarning`, or refused with a `DataError` (``strict``, or no pair at all)."""
    keyed, notes = [], []
    for folder, paths in ((folder_a, paths_a), (folder_b, paths_b)):
        by_key = {}
        for path in paths:
            by_key.setdefault(pair_key(folder, path), []).append(path)
        keyed.append(by_key)
    for folder, by_key in zip((folder_a, folder_b), keyed):
        for key, paths in by_key.items():
            if len(paths) > 1:
                notes.extend(f"  {path}: {len(paths)} files in {folder} are named {key!r} "
                             "(which one is meant is not clear)" for path in paths)
    a, b = keyed
    for by_key, partners, other_folder in ((a, b, folder_b), (b, a, folder_a)):
        for key, paths in by_key.items():
            if key not in partners and len(paths) == 1:
                notes.append(f"  {paths[0]}: no file named {key}.* in {other_folder}")
    keys = sorted(k for k in a if k in b and len(a[k]) == 1 and len(b[k]) == 1)
    listing = "\n".join(notes)
    where = f"{folder_a} and {folder_b}"
    if not keys:
        return [], [], [], DataError(f"No file of {folder_a} has a partner of the same name in "
                                     f"{folder_b} (pairs are matched by file name without the "
                                     f"extension):\n{listing}")
    if notes and strict:
        return [], [], [], DataError(f"{len(notes)} files of {where} could not be paired "
                                     f"(strict=True; use strict=False to skip them):\n{listing}")
    warning = [SkippedImageWarning(f"Skipped {len(notes)} files of {where} that could not be "
                                   f"paired by name:\n{listing}")] if notes else []
    return [a[k][0] for k in keys], [b[k][0] for k in keys], warning, None
