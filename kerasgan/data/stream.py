"""The keyed tf.data streams that `image_dataset`, `unpaired_dataset` and `paired_dataset` are drawn from.

Images are never shuffled themselves: a stream of indices is (shuffled, batched), and a fetch
turns indices into images inside the map, so where the images live (memory, a memory-mapped
cache) never changes which batches come out.

Every element of the stream carries a random key (`keyed`): with ``repeat=True`` the key is the
element's place in the endless stream, so element `k` is the same in every run with the same
seed and a resumed run continues it exactly by skipping; a finite dataset restarts every epoch,
so it draws fresh keys from the seed each pass. Flips and crops are stateless, seeded by
``(seed, key)``: the same whatever order the parallel map runs them in.

The seeds, key layout and order of operations here ARE the resume format (a run resumed later,
even by a newer kerasgan, must continue the same stream): change nothing without a new format.
"""
import numpy as np
import tensorflow as tf


def resolve_seed(seed):
    """`seed` as an int, drawn at random when None."""
    return int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)


def keyed(elements, seed, *, repeat, skip=0):
    """`(key, element)` for every element of `elements`.

    With `repeat` (`elements` endless): key = the element's place in the stream, starting
    `skip` elements in. Otherwise: keys drawn from `seed`, anew each pass.
    """
    if repeat:
        return elements.skip(skip).enumerate(start=skip)
    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip((keys, elements))


def to_unit_range(x):
    """uint8 (or float 0-255) images -> float32 in [-1, 1]."""
    return tf.cast(x, tf.float32) / 127.5 - 1.0


def shuffled_once(ds, buffer_size, seed):
    """`ds` shuffled with `seed` (a tensor, inside a `flat_map` over passes), the same order
    however many iterators are made of it."""
    # Traced in a graph of its own, which inherits a global seed (set by
    # keras.utils.set_random_seed, or `kerasgan train --deterministic`): tf.data would then
    # combine it with this tensor seed in Python and fail. Without it the stream is keyed by
    # `seed` alone, global seed or not, as it always was.
    tf.compat.v1.get_default_graph().seed = None
    return ds.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=False)


# --------------------------------------------------------------------------- fetching images by index


def memory_fetch(images):
    """Rows of an in-memory array by index, inside the graph (no Python, no GIL per batch)."""
    table = tf.constant(images)
    return lambda index: tf.gather(table, index)


def disk_fetch(images, rows, batch_shape):
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


def fetch_rows(images, rows, kind, batch_shape):
    """The fetch of batches of indices for images in memory or in a memory-mapped cache."""
    return memory_fetch(images) if kind == "memory" else disk_fetch(images, rows, batch_shape)


# --------------------------------------------------------------------------- the two datasets


def image_batches(n, fetch, batch_size, *, shuffle, shuffle_buffer, seed, flip, repeat, skip_batches=0, ds=None,
                  labels=None):
    """Batches of float32 images in [-1, 1]: shuffle, batch (drop_remainder), fetch, scale, flip;
    with `labels` (one int per index), `(images, labels)` batches.

    The stream is built on the indices `0..n-1` (`fetch` turns a batch of indices into a batch
    of images); a dataset of images `ds` (tensorflow-datasets) is used as it is, with
    `fetch=None`. Keyed per batch. With `repeat`, pass `e` is shuffled with seed
    ``seed * 100003 + e``, so batch `k` is the same in every run and `skip_batches` resumes it.
    Without it each pass is reshuffled, reproducibly for a given seed.
    """
    seed = resolve_seed(seed)
    if ds is None:
        ds = tf.data.Dataset.range(n)
    if repeat:

        def one_pass(epoch):
            d = shuffled_once(ds, shuffle_buffer, seed * 100_003 + epoch) if shuffle else ds
            return d.batch(batch_size, drop_remainder=True)

        batches = tf.data.Dataset.range(2**62).flat_map(one_pass)
    else:
        if shuffle:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        # drop_remainder: a ragged last batch would recompile the train step.
        batches = ds.batch(batch_size, drop_remainder=True)

    label_table = None if labels is None else tf.constant(labels, tf.int32)

    def scale(key, index):
        x = index if fetch is None else fetch(index)
        x = to_unit_range(x)
        if flip:
            x = tf.image.stateless_random_flip_left_right(x, seed=tf.stack([tf.constant(seed, tf.int64), key]))
        return x if label_table is None else (x, tf.gather(label_table, index))

    # Parallel map: with the default deterministic=True the batches still come out in order.
    return (keyed(batches, seed, repeat=repeat, skip=skip_batches)
            .map(scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))


def unpaired_batches(sizes, fetches, batch_size, crop_shape, *, shuffle, seed, flip, repeat, skip_batches,
                     steps):
    """Batches `(a, b)` of random `crop_shape` crops (float32 in [-1, 1]) from two domains.

    `sizes` and `fetches` are per domain (`fetch` of a batch of one index). Each domain's
    indices are reshuffled every time around and cycled endlessly; the pairs are keyed per
    element, crops and flips keyed by ``(seed * 4 + k, key)``. Each time around is shuffled
    with a seed of its own: with `repeat`, time around `p` of domain `j` (1, 2) with
    ``seed * 100003 + 2 * p + j``; otherwise (a finite pass of `steps` batches, reshuffled
    every pass) with seeds drawn, one stream per iterator, from ``seed * 100003 + j``. So the
    batches do not depend on how far an earlier iterator ran. (A reshuffling `shuffle` draws
    each order from a generator its iterators share: the sample grid's first batch,
    prefetched ahead as far as the threads allowed, moved the training batches.)
    """
    seed = resolve_seed(seed)

    def indices(size, domain):  # indices: the images are fetched in `augment`
        ds = tf.data.Dataset.range(size)
        if not shuffle:
            return ds.repeat()
        if repeat:
            seeds = tf.data.Dataset.range(2**62).map(lambda p: seed * 100_003 + 2 * p + domain)
        else:
            seeds = tf.data.Dataset.random(seed=seed * 100_003 + domain,
                                           rerandomize_each_iteration=True)

        return seeds.flat_map(lambda pass_seed: shuffled_once(ds, size, pass_seed))

    pairs = tf.data.Dataset.zip((indices(sizes[0], 1), indices(sizes[1], 2)))
    if not repeat:
        pairs = pairs.take(steps * batch_size)

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
        return to_unit_range(x), to_unit_range(y)

    return (keyed(pairs, seed, repeat=repeat, skip=skip_batches * batch_size)
            .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size, drop_remainder=True)
            .map(scale, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


def paired_batches(n, fetches, batch_size, crop_shape, *, shuffle, seed, flip, repeat, skip_batches):
    """Batches `(a, b)` of `n` pairs: pair `i` is row `i` of both fetches (a fetch of a batch
    of one index); float32 in [-1, 1]. The SAME random `crop_shape` crop and flip go to both
    images of a pair (keyed by ``(seed, key)``), so they stay aligned.

    With `repeat`, pass `e` is shuffled with seed ``seed * 100003 + e`` and keyed per pair, so
    pair `k` of the stream is the same in every run and `skip_batches` resumes it; each pass
    is its whole batches (the last incomplete one is dropped). Without it, one pass is
    reshuffled each time, reproducibly for a given seed.
    """
    seed = resolve_seed(seed)
    whole = n // batch_size * batch_size
    if repeat:

        def one_pass(epoch):
            d = tf.data.Dataset.range(n)
            return (shuffled_once(d, n, seed * 100_003 + epoch) if shuffle else d).take(whole)

        indices = tf.data.Dataset.range(2**62).flat_map(one_pass)
    else:
        indices = tf.data.Dataset.range(n)
        if shuffle:
            indices = indices.shuffle(n, seed=seed, reshuffle_each_iteration=True)

    channels = crop_shape[-1]

    def augment(key, index):
        both = tf.concat([fetch(index[None])[0] for fetch in fetches], axis=-1)
        stateless = lambda k: tf.stack([tf.constant(seed, tf.int64) * 2 + k, tf.cast(key, tf.int64)])  # noqa: E731
        both = tf.image.stateless_random_crop(both, tuple(crop_shape[:2]) + (2 * channels,), seed=stateless(0))
        if flip:
            both = tf.image.stateless_random_flip_left_right(both, seed=stateless(1))
        both = to_unit_range(both)
        return both[..., :channels], both[..., channels:]

    return (keyed(indices, seed, repeat=repeat, skip=skip_batches * batch_size)
            .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))
