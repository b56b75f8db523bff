"""Training speed of a zoo architecture: seconds per step and images/s, XLA on and off.

    python bench/train_speed.py                       # standard DCGAN-64, batch 64
    python bench/train_speed.py --arch dcgan --image-size 32 --jit off --steps 30
    python bench/train_speed.py --arch stylegan_lite --image-size 64 --batch-size 32 --jit off
    python bench/train_speed.py --arch cyclegan --image-size 128 --batch-size 1 --jit off

Each architecture is compiled with its own recipe (`default_compile_args` where it has one:
StyleGAN-lite's lazy R1 runs every 16th step, so the mean step is reported beside the median).

Data is an in-memory tensor (random images in [-1, 1]), so the number is the train step
alone; the first epoch (tracing, XLA compilation) is run and not timed. Also reported: the
model's sampling throughput (`generate`, or `translate` for CycleGAN, one batch of
`--batch-size` images, best of 3) and the process's peak resident memory (with `--jit both`
the second row's peak includes the first's).
"""
import argparse
import json
import os
import platform
import time

from kerasgan import zoo  # first: kerasgan sets TensorFlow's environment before its import

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from memory import rss_mb  # noqa: E402  (bench/memory.py)


def step_gflop(gan, batch_size):
    """Floating-point operations of one train step, counted by TensorFlow's graph profiler."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    spec = tf.TensorSpec((batch_size,) + gan.image_shape, tf.float32)
    if zoo.kind(gan.spec["architecture"]) == "translation":
        spec = (spec, spec)  # (images_a, images_b)
    graph = tf.function(gan.train_step).get_concrete_function(spec).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return model_analyzer.profile(graph, options=options).total_float_ops / 1e9


def matmul_gflops(n=4096, repeats=5, dtype="float32"):
    """What this machine's TensorFlow reaches on a large `dtype` matmul: a practical peak."""
    a = tf.cast(tf.random.normal((n, n)), dtype)
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, a)))
    matmul()
    start = time.perf_counter()
    for _ in range(repeats):
        matmul().numpy()
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9


def sampling_images_per_s(gan, n, repeats=3):
    """Inference throughput of the model's own sampling call, best of `repeats`."""
    if zoo.kind(gan.spec["architecture"]) == "translation":
        images = np.random.default_rng(1).uniform(-1, 1, (n,) + gan.image_shape)
        run = lambda: gan.translate(images.astype("float32"), batch_size=n)  # noqa: E731
    else:
        run = lambda: gan.generate(n, seed=0, batch_size=n)  # noqa: E731
    run()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return n / best


class StepTimer(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.start)

    def on_epoch_begin(self, epoch, logs=None):
        self.times = []


def measure(arch, config, batch_size, steps, jit, precision="auto"):
    gan = zoo.create(arch, **config)
    recipe = gan.default_compile_args(batch_size) if hasattr(gan, "default_compile_args") else {}
    gan.compile(**recipe, jit_compile=jit, precision=precision)
    gflop = step_gflop(gan, batch_size)
    x = np.random.default_rng(0).uniform(-1, 1, (batch_size * steps,) + gan.image_shape)
    data = tf.data.Dataset.from_tensor_slices(x.astype("float32"))
    if zoo.kind(arch) == "translation":
        data = tf.data.Dataset.zip((data, data.map(lambda image: -image)))
    data = data.batch(batch_size, drop_remainder=True).cache().prefetch(2)
    gan.fit(data.take(3), epochs=1, verbose=0)  # trace / compile
    timer = StepTimer()
    gan.fit(data, epochs=1, verbose=0, callbacks=[timer])
    median = float(np.median(timer.times))
    sample_rate = sampling_images_per_s(gan, batch_size)
    return {"arch": arch, "config": config, "batch_size": batch_size, "jit_compile": jit,
            "precision": gan.compute_precision,
            "steps_timed": len(timer.times), "median_s_per_step": round(median, 4),
            "mean_s_per_step": round(float(np.mean(timer.times)), 4),
            "images_per_s": round(batch_size / median, 1), "gflop_per_step": round(gflop, 1),
            "gflops_achieved": round(gflop / median, 1),
            "sample_images_per_s": round(sample_rate, 1), "peak_rss_mb": round(rss_mb())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="dcgan")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--jit", choices=("on", "off", "both"), default="both")
    parser.add_argument("--precision", default="auto",
                        choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="architecture argument (JSON value), e.g. base_channels=64")
    args = parser.parse_args()
    config = {"image_size": args.image_size}
    if args.arch == "dcgan":
        config.update(latent_dim=100, base_channels=64)
    config.update({k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)})
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"oneDNN={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}, "
          f"float32 matmul 4096^2: {matmul_gflops():.0f} GFLOP/s")
    for jit in {"on": [True], "off": [False], "both": [False, True]}[args.jit]:
        print(json.dumps(measure(args.arch, config, args.batch_size, args.steps, jit,
                                 args.precision)), flush=True)


if __name__ == "__main__":
    main()
