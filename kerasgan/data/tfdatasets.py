"""tensorflow-datasets as a source: ``"tfds:NAME[/CONFIG][:VERSION][:SPLIT]"``.

Names are resolved with helpful errors (close matches for a typo, what is missing when the data
is not prepared); nothing is downloaded unless asked, since offline the attempt hangs for
minutes. The examples' image feature is converted with the array source's `convert_tf`.
"""
import difflib
import os
import re

import tensorflow as tf

from kerasgan.data.arrays import convert_tf
from kerasgan.data.errors import DataError

_TFDS_SHUFFLE_BUFFER = 10_000


def is_tfds(source):
    return isinstance(source, str) and source.startswith("tfds:")


def shuffle_buffer(n):
    """The shuffle buffer for a tensorflow-datasets split of `n` examples (not all in memory)."""
    return max(1, min(n, _TFDS_SHUFFLE_BUFFER))


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


def tfds_source(source, split, data_dir, download, shuffle, seed, options):
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
    shape = (options.image_size, options.image_size, options.channels)

    def prepare(example):
        image = tf.cast(example[key], tf.float32)
        if image.shape.rank == 2:
            image = image[..., None]
        out = convert_tf(image[None], options)[0]
        out = tf.cast(tf.round(out), tf.uint8)  # uint8 keeps the cache 4x smaller
        return tf.ensure_shape(out, shape)

    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE), n
