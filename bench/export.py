"""Export benchmark: artifact size, error and latency per format and quantization.

    python bench/export.py                         # the zoo's DCGAN, StyleGAN-lite, CycleGAN presets
    python bench/export.py runs/my_dcgan new:dcgan # a run directory; an untrained standard model
    python bench/export.py tiny:inpainting new:inpainting --train-steps 100  # briefly trained

For every model: Keras `predict` and SavedModel latency per image, then each TFLite
quantization's size, max/mean abs error against Keras (on the [-1, 1] scale) and LiteRT
latency per image with 1 and 2 threads. Batch 1, median of --repeats calls after a warm-up.
A Markdown table goes to stdout, the full reports to --out/NAME/export_report.json.
`new:ARCH` and `tiny:ARCH` (the zoo's test-sized config) are built with Keras seeded 0; with
--train-steps N they are first trained N steps on the bundled clipart64 (batch 16).
Translation and inpainting models are calibrated (int8) and checked on --calibration-data,
default the 3 bundled photos.
"""
import argparse
import os
import platform
import time

from kerasgan import export, zoo  # first: kerasgan sets TensorFlow's environment before its import

import numpy as np  # noqa: E402

DEFAULT_MODELS = ("dcgan_clipart64", "stylegan_lite_clipart64", "cyclegan_photo2painting")
NEW_CONFIGS = {"dcgan": {"image_size": 64, "latent_dim": 100, "base_channels": 64},
               "stylegan_lite": {"image_size": 64},
               "cyclegan": {"image_size": 128},
               "inpainting": {"image_size": 64}}


def load(source, train_steps=0):
    for prefix, configs in (("new:", NEW_CONFIGS), ("tiny:", None)):
        if source.startswith(prefix):
            import keras

            arch = source[len(prefix):]
            config = configs.get(arch, {}) if configs is not None else zoo.tiny_config(arch)
            keras.utils.set_random_seed(0)
            model = zoo.create(arch, **config, seed=0)
            if train_steps:
                train(model, train_steps)
            return model
    return zoo.load(source)


def train(model, steps):
    """`steps` training steps on the bundled clipart64 (a translation model on it both ways)."""
    import tensorflow as tf

    from kerasgan import data

    images = data.image_dataset(data.bundled("clipart64"), image_size=model.image_shape[0],
                                channels=model.image_shape[-1], batch_size=16,
                                seed=0).repeat()
    if model.task == "translation":
        images = tf.data.Dataset.zip((images, images.skip(1)))
    model.compile()
    model.fit(images, steps_per_epoch=steps, epochs=1, verbose=0)


def median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def keras_and_saved_model_ms(model, target, out, repeats, uint8_images=False):
    import tensorflow as tf

    inputs = export._sample_inputs(target, 1, 0, None)
    batch = [inputs[name] for name in target.input_names]
    batch = batch if len(batch) > 1 else batch[0]
    predict = median_ms(lambda: target.model.predict(batch, verbose=0), repeats)
    serve = tf.saved_model.load(os.path.join(out, f"{target.name}_saved_model")) \
        .signatures["serving_default"]
    feed = {k: tf.constant(v)
            for k, v in export._as_feed(inputs, uint8_images, target.kind).items()}
    return predict, median_ms(lambda: serve(**feed), repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", default=list(DEFAULT_MODELS),
                        help="presets, run directories or new:ARCH (untrained)")
    parser.add_argument("--out", default="runs/bench_export")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--calibration-data", help="images for CycleGAN and inpainting int8 "
                        "and parity")
    parser.add_argument("--uint8", action="store_true",
                        help="uint8 images (and masks) at the artifacts' boundary")
    parser.add_argument("--train-steps", type=int, default=0,
                        help="train new: and tiny: models this many steps first")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"batch 1, median of {args.repeats} calls\n")
    print("| model | artifact | size MB | max abs err | mean abs err | ms/image (1 thr) "
          "| ms/image (2 thr) |")
    print("|---|---|---|---|---|---|---|")
    for source in args.models:
        model = load(source, args.train_steps)
        name = os.path.basename(source.rstrip("/"))
        if ":" in name:
            kind, arch = name.split(":", 1)
            name = (f"{kind}_{arch}_trained{args.train_steps}" if args.train_steps else
                    f"untrained_{arch}" if kind == "new" else f"{kind}_{arch}")
        out = os.path.join(args.out, name)
        calibration = None
        if model.task in export.IMAGE_KINDS:
            calibration = calibration_images(args.calibration_data, model)
        report = export.export(model, out, calibration_images=calibration,
                               latency_threads=(1, 2), source=source,
                               uint8_images=args.uint8)
        _, targets = export._targets(model)
        for target in targets:
            predict, saved = keras_and_saved_model_ms(model, target, out, args.repeats,
                                                     args.uint8)
            print(f"| {name} | {target.name}: Keras predict | | | | {predict:.1f} | |")
            print(f"| {name} | {target.name}: SavedModel | | | | {saved:.1f} | |")
            for a in report["artifacts"]:
                if a["name"] != target.name:
                    continue
                latency = a.get("latency_ms_per_image", {})
                ms = [f"{latency[t]:.1f}" if t in latency else "-" for t in ("1", "2")]
                print(f"| {name} | {a['path']} | {a['size_bytes'] / 1e6:.2f} | "
                      f"{a['max_abs_error']:.2e} | {a['mean_abs_error']:.2e} | "
                      f"{ms[0]} | {ms[1]} |", flush=True)


def calibration_images(directory, model):
    from kerasgan import data

    if directory is None:
        directory = data.bundled("photos") if "photos" in data.BUNDLED else None
    if directory is None:
        return None
    pixels = data.load_image_folder(directory, model.image_size,
                                    model.image_shape[-1])[:export.CALIBRATION_SAMPLES]
    return pixels.astype("float32") / 127.5 - 1.0


if __name__ == "__main__":
    main()
