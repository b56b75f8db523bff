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

The package: this module holds the public dataset builders and re-exports the public names
(`__all__`); the work is done in
    options     `ImageOptions`, the image arguments checked once, in one immutable object
    decode      Pillow decoding and its guards; `load_image`
    disk_cache  memory or disk, and the reusable ``.npy`` cache; `default_cache_dir`
    folders     folder sources (`find_images`, `load_image_folder`) and their skipped files
    arrays      numpy array / ``.npy`` / ``.npz`` sources
    tfdatasets  ``"tfds:NAME"`` sources
    stream      the keyed tf.data streams of `image_dataset`, `unpaired_dataset`, `paired_dataset`
    errors      `DataError`, `SkippedImageWarning`
Only the public functions warn (`image_dataset`, `unpaired_dataset`, `paired_dataset`,
`load_image_folder`):
everything below them hands its warnings back, so each is issued once, at ``stacklevel=2``,
and points at the user's call. The package imports nothing else of kerasgan but
`kerasgan.paths` (it knows no model registry).
"""

import os
import warnings

import numpy as np

from kerasgan.data import arrays, disk_cache, folders, stream, tfdatasets
from kerasgan.data.decode import load_image
from kerasgan.data.disk_cache import CACHE_CHOICES, default_cache_dir
from kerasgan.data.errors import DataError, SkippedImageWarning
from kerasgan.data.folders import IMAGE_EXTENSIONS, find_images, load_image_folder
from kerasgan.data.options import MAX_PIXELS, RESIZE_MODES, ImageOptions, check_positive_int

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "RESIZE_MODES",
    "DataError",
    "SkippedImageWarning",
    "CACHE_CHOICES",
    "MEMORY_BUDGET",
    "bundled",
    "class_names",
    "default_cache_dir",
    "find_images",
    "image_dataset",
    "load_image",
    "load_image_folder",
    "paired_dataset",
    "unpaired_dataset",
]

# cache="auto" keeps decoded folder images in memory up to this many bytes, else on disk.
# Defined here, and read by the builders below at each call, so that setting
# `kerasgan.data.MEMORY_BUDGET` changes what "auto" picks (tests and users do).
MEMORY_BUDGET = disk_cache.memory_budget()


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


def class_names(source):
    """The class names `image_dataset(source, labels="inferred")` gives (a folder's class
    sub-folders, an `.npz`'s labels), read without decoding any image."""
    path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    if path is not None and os.path.isdir(path):
        return folders.class_folders(path, folders.folder_paths(path))[2]
    if path is not None and path.lower().endswith(".npz"):
        labels, names = arrays.load_label_file(arrays.existing_file(path))
        return arrays.class_indices(labels, len(labels), names, f"the labels of {path}")[1]
    raise DataError(f"classes are read from a folder of class sub-folders or an .npz with "
                    f"labels, got {source!r}")


def _too_few(n, batch_size, where):
    return DataError(
        f"Only {n} usable images in {where}, but batch_size={batch_size}: batches use "
        f"drop_remainder=True (a ragged last batch recompiles the train step), so at least "
        f"batch_size images are needed. Use a smaller batch size (--batch-size) or add images."
    )


def _check_skip(skip_batches, repeat):
    if skip_batches and not repeat:
        raise ValueError("skip_batches needs repeat=True (a finite dataset restarts every epoch)")


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
    labels=None,
):
    """A batched dataset of float32 images in [-1, 1], shaped (batch_size, S, S, channels),
    or of `(images, labels)` for a class-conditional model (see `labels`).

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
        labels: None (images only), or the images' classes, for a class-conditional model:
            - ``"inferred"``: a folder's class is the name of its sub-folder (one per class;
              images lying in the folder itself are skipped with a warning naming them);
              an ``.npz``'s are its ``y_train`` (else ``labels``, else ``y``) array, named by
              its ``class_names`` array if it has one;
            - an array of one integer per image (array sources).
            Classes are indices 0..K-1; without names, the distinct label values, sorted,
            named by their values.

    Returns:
        tf.data.Dataset whose elements are float32 tensors (batch_size, S, S, channels) (with
        `labels`: tuples of them and int32 class indices (batch_size,)), with the attributes
        ``batches_per_epoch``, the number of full batches in one pass, ``cache_kind``, where
        the decoded images are: "memory", "disk" (folders), or "none" (tensorflow-datasets
        with ``cache=False``), and ``class_names`` (None without `labels`).

    Raises:
        FileNotFoundError: missing folder or file; tfds data not prepared in `data_dir`.
        DataError: unusable data, fewer than `batch_size` images, unknown tfds name.
        ValueError: bad arguments.
    """
    options = ImageOptions(image_size, channels, resize, background, max_pixels)
    check_positive_int(batch_size, "batch_size")
    disk_cache.cache_kind(cache, 0, MEMORY_BUDGET)  # a bad choice fails now, whatever the source
    _check_skip(skip_batches, repeat)
    inferred = isinstance(labels, str)
    if inferred and labels != "inferred":
        raise ValueError(f"labels must be None, 'inferred' or an array of class indices, got {labels!r}")
    ds = images = rows = class_names = None
    kind = "memory"
    notes, error = [], None  # to issue here, after the source is read: they point at our caller
    if labels is not None and tfdatasets.is_tfds(source):
        raise ValueError("labels are read from image folders and arrays; a tensorflow-datasets "
                         "source gives images only (export it to an .npz with its labels as y_train)")
    if labels is not None and not inferred and isinstance(source, (str, os.PathLike)):
        if os.path.isdir(os.fspath(source)):
            raise ValueError("a folder's labels are its sub-folder names: use labels='inferred'")
    if tfdatasets.is_tfds(source):
        if cache == "disk":
            raise ValueError("cache='disk' is for image folders; a tensorflow-datasets source is cached "
                             "in memory (cache=True, 'auto' or 'memory') or not at all (cache=False)")
        ds, n = tfdatasets.tfds_source(source, split, data_dir, download, shuffle, seed, options)
        where = source
        if cache:
            ds = ds.cache()
        else:
            kind = "none"
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path.lower().endswith((".npz", ".npy")):
            array, where = arrays.load_array_file(path)
            if inferred:
                labels, class_names = arrays.load_label_file(path)
            images, notes = arrays.prepare_array(array, where, options)
        elif os.path.isdir(path):
            where = path
            folders.check_image_size(image_size)
            paths = folders.folder_paths(path)
            if inferred:
                paths, labels, class_names, notes = folders.class_folders(path, paths)
            kind = disk_cache.cache_kind(cache, len(paths) * image_size * image_size * channels, MEMORY_BUDGET)
            folder = folders.read_folder(path, paths, kind, options, strict=strict, cache_dir=cache_dir)
            images, rows, error = folder.images, folder.rows, folder.error
            notes = notes + folder.warnings
            if labels is not None:
                labels = labels[folder.kept]
        elif os.path.exists(path):
            raise DataError(f"{path} is not a folder, an .npz/.npy file or 'tfds:NAME'")
        else:
            raise FileNotFoundError(f"Image folder or file not found: {path}")
    elif isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        where = "the given array"
        if inferred:
            raise ValueError("an array's labels cannot be inferred: pass them, labels=y")
        images, notes = arrays.prepare_array(source, where, options)
    else:
        raise TypeError(
            "source must be a folder path, an .npz/.npy path, a numpy array or 'tfds:NAME', "
            f"got {type(source).__name__}"
        )
    for note in notes:
        warnings.warn(note, stacklevel=2)
    if error is not None:
        raise error
    if ds is None:
        n = len(images) if rows is None else len(rows)
    if labels is not None:
        labels, class_names = arrays.class_indices(labels, n, class_names, f"the labels of {where}")
    if n < batch_size:
        raise _too_few(n, batch_size, where)
    if ds is None:  # images by index, from memory or the disk cache
        fetch, buffer = stream.fetch_rows(images, rows, kind, options.shape(batch_size)), n
    else:  # tensorflow-datasets: the images themselves, too many to shuffle all at once
        fetch, buffer = None, tfdatasets.shuffle_buffer(n)
    dataset = stream.image_batches(n, fetch, batch_size, shuffle=shuffle, shuffle_buffer=buffer, seed=seed,
                                   flip=flip, repeat=repeat, skip_batches=skip_batches, ds=ds, labels=labels)
    dataset.batches_per_epoch = n // batch_size
    dataset.cache_kind = kind
    dataset.class_names = class_names
    return dataset


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
    options, strict = _two_folder_options("unpaired_dataset", image_size, batch_size, load_size,
                                          skip_batches, repeat, image_kwargs)
    names = [os.fspath(dir_a), os.fspath(dir_b)]
    paths = [folders.folder_paths(name) for name in names]
    kind = _two_folder_cache(cache, paths, options)
    domains = []
    for name, p in zip(names, paths):
        folder = _read_two_folder_part(name, p, kind, options, strict, cache_dir)
        if folder.error is not None:
            raise folder.error
        domains.append(folder)
    sizes = [len(folder) for folder in domains]
    n = max(sizes)
    if n < batch_size:
        raise _too_few(n, batch_size, f"{names[0]} and {names[1]}")
    one_image = options.shape(1)
    fetches = [stream.fetch_rows(folder.images, folder.rows, kind, one_image) for folder in domains]
    crop_shape = (int(image_size), int(image_size), options.channels)
    steps = n // batch_size
    dataset = stream.unpaired_batches(sizes, fetches, batch_size, crop_shape, shuffle=shuffle, seed=seed,
                                      flip=flip, repeat=repeat, skip_batches=skip_batches, steps=steps)
    dataset.batches_per_epoch = steps
    dataset.cache_kind = kind
    return dataset


def paired_dataset(
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
    """Batches `(images_a, images_b)` of image pairs, for paired translation (pix2pix):
    each file of `dir_a` with the file of `dir_b` that has the same name without the
    extension, in the same sub-folder (`sketch/cat.png` with `painting/cat.jpg`).

    Files without a partner (or sharing a name in one folder) are left out and named in ONE
    `SkippedImageWarning`; so are files that cannot be decoded, and their partners with
    them (`strict=True`: a `DataError` instead). Both folders are decoded once at
    `load_size`; each pair then gets the SAME random `image_size` crop and horizontal flip
    (with `flip`), so the two images stay aligned. One pass has `n_pairs // batch_size`
    batches.

    Args:
        dir_a, dir_b: the input and target image folders (searched recursively).
        image_size: side length of the training crops.
        batch_size: pairs per batch; the last incomplete batch is dropped.
        load_size: side length images are loaded at (centre-crop to a square, resize);
            default `round(image_size * 1.125)`. Must be >= image_size.
        flip: random horizontal flips (of both images of a pair).
        seed: seed for shuffling, crops and flips (drawn at random when None).
        repeat: repeat forever; batch `k` is the same in every run with the same seed, so
            `skip_batches` resumes it.
        shuffle: shuffle the pairs.
        skip_batches: with `repeat`, start this many batches into the stream.
        cache: "auto" (default), "memory" or "disk", as in `image_dataset`.
        cache_dir: folder of the disk cache (default `default_cache_dir()`).
        **image_kwargs: as for `unpaired_dataset` (channels, resize, background, strict,
            max_pixels).

    Returns:
        tf.data.Dataset of tuples of two float32 tensors in [-1, 1], each
        (batch_size, image_size, image_size, channels); attributes `batches_per_epoch`,
        `cache_kind` and `pairs` (the `(path_a, path_b)` pairs used, in order).
    """
    options, strict = _two_folder_options("paired_dataset", image_size, batch_size, load_size,
                                          skip_batches, repeat, image_kwargs)
    names = [os.fspath(dir_a), os.fspath(dir_b)]
    found = [folders.folder_paths(name) for name in names]
    paths_a, paths_b, notes, error = folders.match_pairs(names[0], found[0], names[1], found[1],
                                                         strict=strict)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    if error is not None:
        raise error
    kind = _two_folder_cache(cache, [paths_a, paths_b], options)
    domains = []
    for name, paths in zip(names, (paths_a, paths_b)):
        folder = _read_two_folder_part(name, paths, kind, options, strict, cache_dir)
        if folder.error is not None:
            raise folder.error
        domains.append(folder)
    usable = np.intersect1d(domains[0].kept, domains[1].kept)  # pair indices, both decoded
    kept_a = set(domains[0].kept.tolist())
    lost = sorted(kept_a ^ set(domains[1].kept.tolist()))  # decoded, but the partner was not
    if lost:
        listing = "\n".join(f"  {paths_a[i] if i in kept_a else paths_b[i]}: its partner "
                            "could not be used" for i in lost)
        warnings.warn(SkippedImageWarning(f"Left out {len(lost)} files whose partner could not "
                                          f"be used:\n{listing}"), stacklevel=2)
    n = len(usable)
    if n < batch_size:
        raise _too_few(n, batch_size, f"pairs of {names[0]} and {names[1]}")
    fetches = [_pair_fetch(folder, usable, kind, options.shape(1)) for folder in domains]
    crop_shape = (int(image_size), int(image_size), options.channels)
    dataset = stream.paired_batches(n, fetches, batch_size, crop_shape, shuffle=shuffle, seed=seed,
                                    flip=flip, repeat=repeat, skip_batches=skip_batches)
    dataset.batches_per_epoch = n // batch_size
    dataset.cache_kind = kind
    dataset.pairs = [(paths_a[i], paths_b[i]) for i in usable]
    return dataset


def _pair_fetch(folder, usable, kind, one_image):
    """The fetch of pair `i`'s image of this folder (`usable`: the pairs' indices into the
    paths it was read from)."""
    if kind == "memory":  # `images` holds the decoded files only, in order
        return stream.memory_fetch(folder.images[np.searchsorted(folder.kept, usable)])
    return stream.disk_fetch(folder.images, usable, one_image)  # the cache has every file's row


def _two_folder_options(function, image_size, batch_size, load_size, skip_batches, repeat,
                        image_kwargs):
    """The checked `ImageOptions` (at `load_size`) and `strict` of a two-folder dataset."""
    check_positive_int(batch_size, "batch_size")
    check_positive_int(image_size, "image_size")
    if load_size is None:
        load_size = int(round(image_size * 1.125))
    if isinstance(load_size, bool) or not isinstance(load_size, (int, np.integer)) or load_size < image_size:
        raise ValueError(f"load_size must be an int >= image_size ({image_size}), got {load_size!r}")
    _check_skip(skip_batches, repeat)
    settings = dict(channels=3, resize="crop", background=(255, 255, 255), strict=False, max_pixels=MAX_PIXELS)
    unknown = set(image_kwargs) - set(settings)
    if unknown:
        raise TypeError(f"{function}() got unexpected keyword arguments {sorted(unknown)}")
    settings.update(image_kwargs)
    strict = settings.pop("strict")
    return ImageOptions(int(load_size), **settings), strict


def _two_folder_cache(cache, paths, options):
    """"memory" or "disk" for both folders together, by their total decoded size."""
    side = options.image_size
    return disk_cache.cache_kind(cache, sum(map(len, paths)) * side * side * options.channels,
                                 MEMORY_BUDGET)


def _read_two_folder_part(name, paths, kind, options, strict, cache_dir):
    """One folder of two, its warnings issued before the next is read (or refused)."""
    folder = folders.read_folder(name, paths, kind, options, strict=strict, cache_dir=cache_dir)
    for note in folder.warnings:
        warnings.warn(note, stacklevel=3)
    return folder
