"""Where a folder's decoded images are kept: in memory, or in a reusable ``.npy`` file on disk.

A folder too large to keep decoded in memory is decoded once into ``<cache_dir>/HASH.npy``
(uint8, read back through a memmap a batch at a time) with a JSON sidecar listing the files it
skipped. HASH covers every file's path, size, mtime and mode plus the options, so a later run
over the same files reuses the file without decoding and any change decodes anew. Both files
are written under temporary names and renamed when complete: an interrupted decode leaves
nothing that looks like a cache.

Nothing here warns: a damaged cache is reported back as a warning for the public function to
issue (so it points at the user's call).
"""
import contextlib
import errno
import hashlib
import json
import os
import tempfile

import numpy as np
import PIL

from kerasgan.data.decode import decode_into
from kerasgan.errors import KerasganWarning
from kerasgan.paths import image_cache_dir

CACHE_CHOICES = ("auto", "memory", "disk")
_CACHE_FORMAT = 1  # part of the disk cache's key: bump when decoding changes
_DISK_CHUNK_BYTES = 64 * 2**20  # decoded bytes per chunk, flushed to the cache file before the next


def memory_budget():
    """How many decoded bytes ``cache="auto"`` keeps in memory: 2 GiB, or a quarter of the free
    RAM when that is less."""
    # 2 GiB at most: a larger in-memory tensor cannot be serialized into a tf.data graph
    # (distribution strategies do) and is better left to the page cache anyway.
    budget = 2 * 2**30
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on every platform
        return budget
    return min(budget, free // 4)


def cache_kind(cache, nbytes, budget):
    """'memory' or 'disk' for a `cache` argument, the decoded size in bytes and the memory budget."""
    if cache is True:  # the old boolean: True meant "cache", False "keep in memory"
        cache = "auto"
    elif cache is False:
        cache = "memory"
    if not isinstance(cache, str) or cache not in CACHE_CHOICES:
        raise ValueError(f"cache must be one of {', '.join(map(repr, CACHE_CHOICES))} "
                         f"(or True = 'auto', False = 'memory'), got {cache!r}")
    if cache == "auto":
        return "memory" if nbytes <= budget else "disk"
    return cache


def default_cache_dir():
    """Where decoded image folders are cached on disk: `$KERASGAN_CACHE/images`, else
    `~/.cache/kerasgan/images` (beside the presets' `~/.cache/kerasgan/presets`)."""
    return image_cache_dir()


def _cache_key(paths, shape, resize, background, max_pixels):
    """A name for the decoded images of `paths`: any change to a file or an option changes it."""
    # Exactly this JSON, in this order: caches written by earlier versions keep their names.
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


def _read_disk_cache(npy, sidecar, shape):
    """(cached, warning): the cached (memmap, skipped) for `npy`, or None when absent or
    damaged; a damaged cache also gives the warning to issue."""
    if not os.path.exists(sidecar):  # written last: without it the cache is incomplete
        return None, None
    try:
        with open(sidecar) as f:
            meta = json.load(f)
        images = np.load(npy, mmap_mode="r", allow_pickle=False)  # checks the file's length too
        skipped = [(int(i), str(reason)) for i, reason in meta["skipped"]]
        if images.dtype != np.uint8 or images.shape != shape or tuple(meta["shape"]) != shape:
            raise ValueError(f"holds {images.dtype} {images.shape}, expected uint8 {shape}")
        return (images, skipped), None
    except Exception as e:  # any damage: decode again rather than train on garbage
        return None, KerasganWarning(f"Ignoring the damaged image cache {npy} ({type(e).__name__}: {e}); rebuilding it.")


def disk_images(paths, options, cache_dir):
    """Decoded images of `paths` in a reusable .npy cache file in `cache_dir` (None: the default).

    Returns (memmap, skipped as (index, reason), warnings to issue). Rows of skipped files stay
    in the file (zeros); the caller leaves them out by index.
    """
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    shape = options.shape(len(paths))
    key = _cache_key(paths, shape, options.resize, options.background, options.max_pixels)
    npy, sidecar = (os.path.join(cache_dir, key + ext) for ext in (".npy", ".json"))
    cached, damaged = _read_disk_cache(npy, sidecar, shape)
    if cached is not None:
        return cached + ([],)
    notes = [damaged] if damaged is not None else []
    os.makedirs(cache_dir, exist_ok=True)
    skipped = []

    def decode(tmp):
        images = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        _reserve(tmp)
        step = max(1, _DISK_CHUNK_BYTES // (options.image_size * options.image_size * options.channels))
        for start in range(0, len(paths), step):  # chunks: dirty pages are written out as we go
            chunk = decode_into(images[start : start + step], paths[start : start + step], options)
            skipped.extend((start + i, reason) for i, reason in chunk)
            images.flush()
        del images

    def describe(tmp):
        with open(tmp, "w") as f:
            json.dump({"shape": list(shape), "skipped": skipped, "folder_files": len(paths)}, f)

    _replace_atomically(npy, decode)
    _replace_atomically(sidecar, describe)
    return np.load(npy, mmap_mode="r", allow_pickle=False), skipped, notes
