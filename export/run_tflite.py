"""Run a kerasgan `.tflite` generator with LiteRT alone: numpy, Pillow and ai-edge-litert.

No TensorFlow and no kerasgan are imported, so this is what a device-side runtime needs.

    pip install numpy pillow ai-edge-litert
    # latent -> image (vanilla, DCGAN, StyleGAN-lite): a grid of --n samples
    python export/run_tflite.py generator_float16.tflite --n 16 --seed 0 --out grid.png
    # a class-conditional generator: every sample of class 3 (default: the classes in turn;
    # the names are in export_report.json's "class_names")
    python export/run_tflite.py generator_float16.tflite --label 3 --out class3.png
    # image -> image (CycleGAN): centre-crop, resize to the model's size, translate
    python export/run_tflite.py a2b_float16.tflite --image photo.jpg --out painting.png
    # inpainting: the image and a mask (white, > 127, where pixels are missing), both
    # centre-cropped and resized to the model's size; the known pixels are kept
    python export/run_tflite.py inpaint_float16.tflite --image painting.png --mask damage.png --out restored.png
    # check a runtime against golden inputs and the Keras generator's outputs
    python export/run_tflite.py generator_float32.tflite --check golden_generator.npz --tolerance 1e-4

Latents (and StyleGAN noise) are drawn as `kerasgan` draws them for a seed, so the grid
matches `kerasgan sample RUN --n 16 --seed 0` up to the artifact's error.
"""
import argparse
import math
import sys

import numpy as np
from PIL import Image

NOISE_STREAM = 0x5E1D  # kerasgan.models.stylegan: noise is drawn from rng([seed, NOISE_STREAM])


def load(model_path, num_threads=1):
    """The model's `serving_default` signature runner."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=model_path, num_threads=num_threads)
    return interpreter.get_signature_runner("serving_default")


def input_details(runner):
    """`{name: (shape, dtype)}` of the signature's inputs."""
    return {name: (tuple(int(d) for d in d_["shape"]), d_["dtype"])
            for name, d_ in runner.get_input_details().items()}


def to_unit_range(image):
    """Model output (float [-1, 1] or uint8 [0, 255]) as float32 in [-1, 1]."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 127.5 - 1.0
    return image.astype(np.float32)


def run(runner, inputs):
    """Runs every row of `inputs` (`{name: array}`) in the model's fixed batch."""
    details = input_details(runner)
    batch = next(iter(details.values()))[0][0]
    n = len(next(iter(inputs.values())))
    if n % batch:
        raise ValueError(f"the model takes batches of {batch}; got {n} rows.")
    outputs = []
    for i in range(0, n, batch):
        feed = {name: np.asarray(inputs[name][i:i + batch]).astype(details[name][1])
                for name in details}
        outputs.append(runner(**feed)["image"])
    return np.concatenate(outputs)


def latent_inputs(runner, n, seed, label=None, num_classes=None):
    """Latents and StyleGAN noise for `n` images, drawn as kerasgan draws them, and a
    conditional generator's labels: `label` for all, or the classes in turn (0 .. 
    `num_classes` - 1, as kerasgan's `generate` takes them)."""
    details = input_details(runner)
    latent_dim = details["latent"][0][1]
    inputs = {"latent": np.random.default_rng(seed).standard_normal((n, latent_dim))}
    labels = None
    if "label" in details:
        if label is None and num_classes is None:
            raise ValueError("this generator is class-conditional: pass --label INDEX or "
                             "--num-classes K (the classes in turn)")
        labels = (np.full(n, label) if label is not None else np.arange(n) % num_classes)
    elif label is not None:
        raise ValueError("--label applies to class-conditional generators only")
    noise = sorted((name for name in details if name.startswith("noise_")),
                   key=lambda name: int(name.split("_")[1]))
    rng = np.random.default_rng([seed, NOISE_STREAM])
    for name in noise:
        inputs[name] = rng.standard_normal((n,) + details[name][0][1:])
    inputs = {name: value.astype(np.float32) for name, value in inputs.items()}
    if labels is not None:
        inputs["label"] = labels.astype(np.int32)
    return inputs


def grid(images, columns=None):
    """Images in [-1, 1] `(n, H, W, C)` tiled into one uint8 RGB (or grey) array."""
    pixels = np.clip((to_unit_range(images) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    n, h, w, c = pixels.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    out = np.full((rows * h, columns * w, c), 255, np.uint8)
    for i, image in enumerate(pixels):
        r, col = divmod(i, columns)
        out[r * h:(r + 1) * h, col * w:(col + 1) * w] = image
    return out[..., 0] if c == 1 else out


def _square(image, size, resample):
    """`image` centre-cropped to a square and resized to `size` (unchanged if it is already
    `size` x `size`)."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), resample)


def photo_input(runner, path):
    """A photo centre-cropped to a square and resized to the model's input, as its dtype."""
    shape, dtype = input_details(runner)["image"]
    size, channels = shape[1], shape[3]
    image = _square(Image.open(path).convert("RGB" if channels == 3 else "L"), size,
                    Image.BICUBIC)
    pixels = np.asarray(image, np.float32).reshape(1, size, size, channels)
    if dtype == np.uint8:
        return {"image": pixels.astype(np.uint8)}
    return {"image": pixels / 127.5 - 1.0}


def mask_input(runner, path):
    """A mask image (grey or colour; a pixel > 127 in grey is missing) cropped and resized
    as `photo_input` crops and resizes the photo: a pixel of the model's size is missing if
    any part of its area is. As the model's dtype: 0 / 255 (uint8) or 0 / 1 (float)."""
    shape, dtype = input_details(runner)["mask"]
    size = shape[1]
    missing = Image.open(path).convert("L").point(lambda v: 255 if v > 127 else 0)
    missing = np.asarray(_square(missing, size, Image.BOX)) > 0
    mask = missing.reshape(1, size, size, 1)
    return {"mask": mask.astype(np.uint8) * 255 if dtype == np.uint8
            else mask.astype(np.float32)}


def check(runner, golden_path, tolerance):
    """Max and mean absolute error of the model against a golden fixture."""
    golden = np.load(golden_path)
    inputs = {name: golden[name] for name in input_details(runner)}
    error = np.abs(to_unit_range(run(runner, inputs)) - golden["expected_image"])
    return float(error.max()), float(error.mean()), bool(error.max() <= tolerance)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a .tflite file exported by kerasgan")
    parser.add_argument("--out", help="PNG to write")
    parser.add_argument("--n", type=int, default=16, help="images in the grid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image", help="photo to translate or restore (image-to-image "
                        "models)")
    parser.add_argument("--mask", help="inpainting models: the mask of --image, white "
                        "(> 127) where pixels are missing")
    parser.add_argument("--label", type=int, metavar="INDEX",
                        help="a class-conditional generator's class for every sample")
    parser.add_argument("--num-classes", type=int, metavar="K",
                        help="a class-conditional generator without --label: the classes "
                             "0..K-1 in turn")
    parser.add_argument("--check", metavar="GOLDEN.npz", help="compare with golden outputs")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="max abs error allowed by --check, on the [-1, 1] scale")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    runner = load(args.model, args.threads)
    if args.check:
        max_error, mean_error, ok = check(runner, args.check, args.tolerance)
        print(f"max abs error {max_error:.3g}, mean {mean_error:.3g}, tolerance "
              f"{args.tolerance:g}: {'OK' if ok else 'FAILED'}")
        return 0 if ok else 1
    if not args.out:
        parser.error("--out is required unless --check is given")
    details = input_details(runner)
    if "latent" in details:
        batch = details["latent"][0][0]
        n = -(-args.n // batch) * batch
        try:
            inputs = latent_inputs(runner, n, args.seed, args.label, args.num_classes)
        except ValueError as error:
            parser.error(str(error))
        images = run(runner, inputs)[:args.n]
    elif "mask" in details:
        if not (args.image and args.mask):
            parser.error("this model restores images: pass --image PHOTO --mask MASK")
        images = run(runner, {**photo_input(runner, args.image),
                              **mask_input(runner, args.mask)})
    elif args.mask:
        parser.error("--mask applies to inpainting models only")
    elif args.image:
        images = run(runner, photo_input(runner, args.image))
    else:
        parser.error("this model translates images: pass --image PHOTO")
    Image.fromarray(grid(images)).save(args.out)
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
