"""Input pipeline: DCGAN-64 trained from a folder of images vs from an in-memory tensor.

    python bench/pipeline.py --data ../shared/data/clipart64                     # 30 steps x 3 rounds
    python bench/pipeline.py --data ../shared/data/clipart64 --steps 50 --rounds 4
    python bench/pipeline.py --data kerasgan/datasets/clipart64 --steps 3 --rounds 1  # smoke run

Three feeds of the SAME images (64x64 RGB, batch 64, shuffled with seed 0, endless):
    tensor  the folder decoded once (`kerasgan.data.load_image_folder`) to a float32 array in
            [-1, 1], then `Dataset.from_tensor_slices(x).shuffle(n, seed).batch(64,
            drop_remainder=True).repeat().prefetch(AUTOTUNE)`: the baseline, nothing left to do
            but slicing;
    memory  `kerasgan.data.image_dataset(folder, cache="memory", repeat=True, seed=0)`;
    disk    `kerasgan.data.image_dataset(folder, cache="disk", cache_dir=<new temporary folder>,
            repeat=True, seed=0)`.
One DCGAN-64 (`zoo.create("dcgan", image_size=64, latent_dim=100, base_channels=64)`, default
`compile()`) trains on each feed in turn, `--steps` steps a fit, in rounds (tensor memory disk
tensor memory disk ...) so that drift of the machine hits all three alike. A warm-up round
(tracing; `min(steps, 5)` steps) comes first and is not timed, then `--rounds` timed rounds.
Step times come from a Keras callback (`on_train_batch_begin/end`).

Reported per feed (one JSON line each): median and mean s/step over the timed rounds and the
median's ratio to the tensor feed's; the pipeline alone (median s per batch pulled from a fresh
iterator with no training); the one-off build time (decoding; for disk a cold build that
decodes and writes the cache and a warm build that reuses it). Every file is read once before
the builds, so all of them find the files in the page cache. A last line sums up.
"""
import argparse
import json
import os
import platform
import tempfile
import time

from kerasgan import zoo  # first: kerasgan sets TensorFlow's environment before its import

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from kerasgan import data  # noqa: E402

SEED = 0
FEEDS = ("tensor", "memory", "disk")


class StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def tensor_feed(folder, image_size, batch_size):
    images = data.load_image_folder(folder, image_size)
    x = images.astype(np.float32) / 127.5 - 1.0
    return (tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=SEED)
            .batch(batch_size, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE))


def build_feeds(folder, image_size, batch_size, cache_dir):
    """{feed: dataset} and {feed: build seconds}."""
    for path in data.find_images(folder):  # into the page cache: every build reads alike
        with open(path, "rb") as f:
            f.read()
    common = dict(image_size=image_size, batch_size=batch_size, seed=SEED, repeat=True)
    feeds, build = {}, {}
    feeds["tensor"], build["tensor"] = timed(tensor_feed, folder, image_size, batch_size)
    feeds["memory"], build["memory"] = timed(data.image_dataset, folder, cache="memory", **common)
    _, build["disk_cold"] = timed(data.image_dataset, folder, cache="disk", cache_dir=cache_dir, **common)
    feeds["disk"], build["disk"] = timed(data.image_dataset, folder, cache="disk", cache_dir=cache_dir, **common)
    assert (feeds["memory"].cache_kind, feeds["disk"].cache_kind) == ("memory", "disk")
    return feeds, build


def pipeline_alone(dataset, batches):
    """Median seconds per batch pulled from a fresh iterator, with no training."""
    iterator = iter(dataset)
    next(iterator)  # start-up: threads, first prefetch
    times = []
    for _ in range(batches):
        start = time.perf_counter()
        next(iterator)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="folder of images")
    parser.add_argument("--steps", type=int, default=30, help="train steps per fit")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (after one warm-up round)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    n_files = len(data.find_images(args.data))
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.2f}, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"oneDNN={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}; {args.data}: {n_files} files; "
          f"DCGAN-64 batch {args.batch_size}, {args.steps} steps x {args.rounds} rounds", flush=True)
    with tempfile.TemporaryDirectory(prefix="kerasgan-pipeline-") as cache_dir:
        feeds, build = build_feeds(args.data, args.image_size, args.batch_size, cache_dir)
        gan = zoo.create("dcgan", image_size=args.image_size, latent_dim=100, base_channels=64)
        gan.compile()
        times = {feed: [] for feed in FEEDS}
        for round_ in range(args.rounds + 1):
            for feed in FEEDS:
                timer = StepTimer()
                steps = min(args.steps, 5) if round_ == 0 else args.steps
                gan.fit(feeds[feed], epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
                if round_ > 0:  # round 0: tracing and warm-up
                    times[feed] += timer.times
        alone = {feed: pipeline_alone(feeds[feed], max(args.steps, 20)) for feed in FEEDS}
    base = float(np.median(times["tensor"]))
    results = {}
    for feed in FEEDS:
        median = float(np.median(times[feed]))
        results[feed] = {
            "feed": feed, "cache_kind": getattr(feeds[feed], "cache_kind", "tensor"),
            "steps_timed": len(times[feed]), "median_s_per_step": round(median, 4),
            "mean_s_per_step": round(float(np.mean(times[feed])), 4),
            "ratio_to_tensor": round(median / base, 4),
            "pipeline_alone_s_per_batch": round(alone[feed], 5),
            "build_s": round(build[feed], 3)}
        if feed == "disk":
            results[feed].update(build_cold_s=round(build["disk_cold"], 3), build_warm_s=round(build["disk"], 3))
        print(json.dumps(results[feed]), flush=True)
    worst = max(results[feed]["ratio_to_tensor"] for feed in ("memory", "disk"))
    print(json.dumps({"summary": "folder feeds vs in-memory tensor", "files": n_files,
                      "worst_ratio": worst, "within_5_percent": worst <= 1.05}), flush=True)


if __name__ == "__main__":
    main()
