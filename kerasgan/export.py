"""Export generators to SavedModel and TFLite, with a parity report.

    from kerasgan import export
    export.saved_model(gan, "out/saved_model")
    export.tflite(gan, "out/generator.tflite", quantization="float16")
    report = export.export(gan, "out")          # every format, plus out/export_report.json

`model` is a live zoo model (`GAN`, `StyleGAN`, `CycleGAN`), a run directory, a saved
`.keras` file or a preset (anything `kerasgan.zoo.load` takes). The exported signature is
`serving_default`, batch 1 unless asked, with named tensors:

- generation: inputs `latent (batch, latent_dim)` float32 standard normal, and for StyleGAN
  `noise_0 .. noise_K (batch, H, W, 1)` float32 standard normal (random ops cannot be
  exported, so the noise is an input), and for a class-conditional model `label (batch,)`
  int32, the class index; output `image (batch, H, W, C)`;
- translation (CycleGAN, one artifact per direction): input `image (batch, H, W, C)`;
  output `image`;
- inpainting (one artifact, "inpaint"): inputs `image (batch, H, W, C)` and
  `mask (batch, H, W, 1)`, 1 where pixels are missing; output `image`, the restored image
  with the known pixels kept (exactly, but for int8).

Images are float32 in [-1, 1], or with `uint8_images=True` uint8 RGB in [0, 255] (the
translation and inpainting inputs too), so an app needs no pre- or post-processing. Masks
are float32 0 or 1, or with `uint8_images=True` uint8 0 or 255 (a value > 127 is missing).

TFLite artifacts use builtin ops only: a model that would need TensorFlow (Flex) ops raises
`ExportError` naming the ops. Quantizations: "float32", "float16" (weights in float16),
"dynamic" (dynamic-range: int8 weights, float activations) and "int8" (full integer, with a
representative set drawn from the generator's own input distribution, or from calibration
images for translation and inpainting, with masks drawn by `kerasgan.masks`; inputs and
outputs stay float32 / uint8).

Why one module of ~700 lines: the writers (SavedModel, TFLite at each quantization), the
inputs they are checked on and the parity report are one pipeline over the same targets; the
device side is `export/run_tflite.py`, without TensorFlow.
"""
import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import warnings

import numpy as np

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
FORMATS = ("saved_model", "tflite")
DIRECTIONS = ("a2b", "b2a")
REPORT_FILE = "export_report.json"
# Max abs error against the Keras generator on the [-1, 1] scale above which an artifact is
# flagged. Measured on the zoo's presets and tiny configs (docs/export.md); uint8 outputs
# add up to 1/127.5 of rounding.
TOLERANCES = {"saved_model": 1e-5, "float32": 1e-4, "float16": 0.05, "dynamic": 0.25,
              "int8": 0.35}
CALIBRATION_SAMPLES = 64
PARITY_SAMPLES = 8
IMAGE_KINDS = ("translation", "inpainting")  # tasks whose inputs are images (and masks)


class ExportError(RuntimeError):
    """A generator cannot be exported as asked (e.g. it needs non-builtin TFLite ops)."""


# --------------------------------------------------------------------------- the models
class _Target:
    """One exportable generator: its Keras model and how to feed it."""

    def __init__(self, name, model, input_names, kind, input_shapes, preprocess=None,
                 num_classes=0):
        self.name = name  # "generator", "a2b" or "b2a": used in file names
        self.num_classes = num_classes  # of a conditional generator's `label` input
        self.model = model
        self.input_names = input_names
        self.kind = kind
        self._input_shapes = [tuple(int(d) for d in s) for s in input_shapes]
        self.preprocess = preprocess  # e.g. StyleGAN's truncation, applied inside the graph

    def input_shapes(self):
        return list(self._input_shapes)

    def role(self, name):
        """What input `name` is: "latent" (latents and noise), "label" (a conditional
        generator's class index), "image" or "mask"."""
        if self.kind not in IMAGE_KINDS:
            return "label" if name == "label" and self.num_classes else "latent"
        return "mask" if name == "mask" else "image"

    def output_shape(self):
        if self.kind in IMAGE_KINDS:  # the image input's shape
            return self._input_shapes[self.input_names.index("image")]
        return tuple(int(d) for d in self.model.output_shape[1:])


def _resolve(model):
    from kerasgan import zoo

    if isinstance(model, (str, os.PathLike)):
        return zoo.load(os.fspath(model))
    return model


def _targets(model, directions=None, truncation_psi=1.0, image_size=None):
    """The generators of `model` to export: what the model declares (`export_signatures`)."""
    from kerasgan.adversarial import AdversarialModel

    model = _resolve(model)
    if not isinstance(model, AdversarialModel):
        raise TypeError(f"Expected a kerasgan model (GAN, StyleGAN or CycleGAN), a run "
                        f"directory or a preset, got {type(model).__name__}.")
    signatures = model.export_signatures(directions=directions, truncation_psi=truncation_psi,
                                         image_size=image_size)
    return model, [_Target(sig.name, sig.model, sig.input_names, model.task, sig.input_shapes,
                           sig.run, sig.num_classes) for sig in signatures]


def _serving_function(target, batch_size, uint8_images):
    import tensorflow as tf

    shapes = target.input_shapes()
    roles = [target.role(name) for name in target.input_names]
    specs = [tf.TensorSpec((batch_size,) + shape, _input_dtype(role, uint8_images), name=name)
             for name, shape, role in zip(target.input_names, shapes, roles)]
    run = target.preprocess or (lambda inputs: target.model(inputs, training=False))

    def serve(*inputs):
        inputs = list(inputs)
        if uint8_images:
            inputs = [_from_uint8_graph(x, role) for x, role in zip(inputs, roles)]
        image = run(inputs if len(inputs) > 1 else inputs[0])
        if uint8_images:
            image = tf.cast(tf.clip_by_value(tf.round((image + 1.0) * 127.5), 0.0, 255.0),
                            tf.uint8)
        return {"image": image}
    return serve, specs


def _input_dtype(role, uint8_images):
    import tensorflow as tf

    if role == "label":
        return tf.int32
    return tf.uint8 if (role != "latent" and uint8_images) else tf.float32


def _from_uint8_graph(x, role):
    """An input of the uint8 signature as the model takes it: images to [-1, 1], masks
    (0 or 255) to 0 or 1, a value > 127 missing; latents as they are."""
    import tensorflow as tf

    if role == "image":
        return tf.cast(x, tf.float32) / 127.5 - 1.0
    if role == "mask":  # (x > 127) in arithmetic: a uint8 comparison has no int8 kernel
        return tf.clip_by_value(tf.cast(x, tf.float32) - 127.0, 0.0, 1.0)
    return x


# --------------------------------------------------------------------------- inputs
def _sample_inputs(target, n, seed, images=None):
    """`n` inputs by name, float32: standard normal for latents and noise (the training
    distribution), int32 class indices in turn for a conditional generator's label; for
    translation and inpainting the given images, or smooth random ones, and for inpainting
    masks (1 = missing) drawn by `kerasgan.masks` with key (seed, 0)."""
    shapes = target.input_shapes()
    if target.kind not in IMAGE_KINDS:
        rng = np.random.default_rng(seed)
        return {name: (np.arange(n) % target.num_classes).astype("int32")
                if target.role(name) == "label" else
                rng.standard_normal((n,) + shape).astype("float32")
                for name, shape in zip(target.input_names, shapes)}
    shape = shapes[target.input_names.index("image")]
    if images is None:
        images = _smooth_images(n, shape, seed)
    images = np.asarray(images, "float32")
    if images.shape[1:] != shape:
        raise ValueError(f"calibration images must have shape (n,) + {shape}, floats in "
                         f"[-1, 1], got {images.shape}.")
    reps = -(-n // len(images))
    inputs = {"image": np.concatenate([images] * reps)[:n]}
    if "mask" in target.input_names:
        inputs["mask"] = _masks(n, shape[:2], seed)
    return inputs


def _masks(n, size, seed):
    """`n` masks `(n, H, W, 1)`, float32 0 or 1 (1 = missing), drawn by
    `kerasgan.masks.draw` (a family chosen per mask) from the stateless key (seed, 0): the
    same masks for the same seed."""
    import tensorflow as tf

    from kerasgan import masks

    key = tf.constant([int(seed), 0], tf.int64)
    return np.asarray(masks.draw(key, n, int(size[0]), int(size[1])), "float32")


def _smooth_images(n, shape, seed):
    """Deterministic blurry colour fields in [-1, 1]: photo-like low frequencies."""
    rng = np.random.default_rng(seed)
    h, w, c = shape
    coarse = rng.uniform(-1, 1, (n, 4, 4, c))
    rows = np.linspace(0, 3, h)
    cols = np.linspace(0, 3, w)
    r0, c0 = np.floor(rows).astype(int).clip(0, 2), np.floor(cols).astype(int).clip(0, 2)
    fr, fc = (rows - r0)[None, :, None, None], (cols - c0)[None, None, :, None]
    top = coarse[:, r0][:, :, c0] * (1 - fc) + coarse[:, r0][:, :, c0 + 1] * fc
    bottom = coarse[:, r0 + 1][:, :, c0] * (1 - fc) + coarse[:, r0 + 1][:, :, c0 + 1] * fc
    return (top * (1 - fr) + bottom * fr).astype("float32")


def _as_feed(inputs, uint8_images, kind):
    """`inputs` (float32) as the artifact takes them: with `uint8_images` images rounded to
    [0, 255] and masks as 0 or 255."""
    if uint8_images and kind in IMAGE_KINDS:
        return {k: (np.where(v > 0.5, 255, 0).astype("uint8") if k == "mask" else
                    np.clip(np.round((v + 1.0) * 127.5), 0, 255).astype("uint8"))
                for k, v in inputs.items()}
    return inputs


def _to_unit_range(image):
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype("float32") / 127.5 - 1.0
    return image.astype("float32")


def _batches(inputs, batch_size):
    n = len(next(iter(inputs.values())))
    for i in range(0, n - batch_size + 1, batch_size):
        yield {k: v[i:i + batch_size] for k, v in inputs.items()}


def _reference(target, inputs, uint8_images, batch_size=16):
    """What the Keras generator outputs for `inputs`, float32 on [-1, 1]."""
    import keras

    from kerasgan import precision

    run = target.preprocess or (lambda x: target.model(x, training=False))
    feed = inputs
    if uint8_images and target.kind in IMAGE_KINDS:  # the artifact sees rounded pixels
        feed = {k: ((v > 127).astype("float32") if k == "mask" else _to_unit_range(v))
                for k, v in _as_feed(inputs, True, target.kind).items()}
    out = []
    n = len(next(iter(feed.values())))
    with precision.float32_layers(target.model):  # as the artifact computes
        for i in range(0, n, batch_size):
            batch = [feed[name][i:i + batch_size] for name in target.input_names]
            out.append(keras.ops.convert_to_numpy(run(batch if len(batch) > 1 else batch[0])))
    return np.concatenate(out).astype("float32")


# --------------------------------------------------------------------------- writers
def _write_saved_model(target, path, batch_size, uint8_images):
    import keras

    from kerasgan import precision

    serve, specs = _serving_function(target, batch_size, uint8_images)
    path = os.path.abspath(path.rstrip("/\\") or path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    # A unique scratch folder next to `path`: a SavedModel is renamed into place only when
    # it is complete, and a failure removes the scratch folder and leaves `path` as it was.
    scratch = tempfile.mkdtemp(prefix=f".tmp-{os.path.basename(path)}-", dir=parent)
    try:
        tmp = os.path.join(scratch, "saved_model")
        with precision.float32_layers(target.model):  # a model trained in mixed precision too
            archive = keras.export.ExportArchive()
            archive.track(target.model)
            archive.add_endpoint("serve", serve, input_signature=specs)
            archive.write_out(tmp, verbose=False)
        if os.path.lexists(path):  # replaced as asked: moved aside, removed with the scratch
            os.replace(path, os.path.join(scratch, "replaced"))
        os.replace(tmp, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path


def _converter(saved_model_dir, quantization, representative):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter


def _convert(converter):
    import tensorflow as tf

    try:
        with warnings.catch_warnings():  # calibration uses the deprecated tf.lite.Interpreter
            warnings.simplefilter("ignore")
            return converter.convert()
    except Exception as error:  # ConverterError and friends: say which ops, not a stack
        text = str(error)
        ops = sorted(set(re.findall(r"'?tf\.(\w+)'?", text)))
        if isinstance(error, getattr(tf.lite, "ConverterError", ())) or ops:
            raise ExportError(
                "TFLite conversion with builtin ops only failed"
                + (f"; the model needs these TensorFlow ops: {', '.join(ops)}" if ops else "")
                + f". Converter said: {text.strip().splitlines()[0] if text.strip() else ''}"
            ) from error
        raise


def _interpreter(model_path=None, model_content=None, num_threads=1):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # TensorFlow's own, deprecated but present
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Interpreter(model_path=model_path, model_content=model_content,
                           num_threads=num_threads)


def tflite_ops(path_or_bytes):
    """The sorted op names of a `.tflite` model (what the interpreter will run)."""
    kwargs = ({"model_content": path_or_bytes} if isinstance(path_or_bytes, bytes)
              else {"model_path": os.fspath(path_or_bytes)})
    return sorted({op["op_name"] for op in _interpreter(**kwargs)._get_ops_details()})


def _check_builtin(content):
    ops = tflite_ops(content)
    custom = [op for op in ops if op.startswith("Flex") or op in ("CUSTOM", "DELEGATE")]
    if custom:
        raise ExportError(f"The TFLite model needs non-builtin ops {custom}; it would not run "
                          "on the plain LiteRT runtime.")
    return ops


_CALIBRATION_NEEDED = ("int8 export of an image-to-image generator needs calibration images "
                       "(calibration_images=, or --calibration-data DIR on the command line): "
                       "photos like those it will translate.")
_CALIBRATION_NEEDED_INPAINTING = (
    "int8 export of an inpainting generator needs calibration images (calibration_images=, "
    "or --calibration-data DIR on the command line): photos like those it will restore (the "
    "masks are drawn by kerasgan.masks). int8 fixes every activation's range from them, and "
    "random fields would set the ranges for images unlike the photos.")


def _calibration_needed(kind):
    return _CALIBRATION_NEEDED_INPAINTING if kind == "inpainting" else _CALIBRATION_NEEDED


def _tflite_bytes(target, quantization, batch_size, uint8_images, calibration, seed,
                  saved_model_dir=None):
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}.")
    if quantization == "int8" and target.kind in IMAGE_KINDS and calibration is None:
        raise ValueError(_calibration_needed(target.kind))
    with contextlib.ExitStack() as stack:
        if saved_model_dir is None:
            saved_model_dir = os.path.join(stack.enter_context(tempfile.TemporaryDirectory()),
                                           "saved_model")
            _write_saved_model(target, saved_model_dir, batch_size, uint8_images)

        def representative():
            samples = _sample_inputs(target, CALIBRATION_SAMPLES, seed + 1, calibration)
            for batch in _batches(_as_feed(samples, uint8_images, target.kind), batch_size):
                yield batch
        content = _convert(_converter(saved_model_dir, quantization, representative))
    return content, _check_builtin(content)


def _write_bytes(content, path):
    from kerasgan.callbacks import atomic_file

    with atomic_file(path) as tmp:  # a unique temporary name, removed if the write fails
        with open(tmp, "wb") as f:
            f.write(content)
    return path


# --------------------------------------------------------------------------- public API
def _positive_int(value):
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= 1


def _check_batch_size(batch_size):
    if not _positive_int(batch_size):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    return int(batch_size)


def _check_threads(latency_threads):
    threads = list(latency_threads) if isinstance(latency_threads, (list, tuple)) else None
    if not threads or not all(_positive_int(t) for t in threads):
        raise ValueError(f"latency_threads must be a non-empty list of positive integers "
                         f"(LiteRT threads), got {latency_threads!r}.")
    return [int(t) for t in threads]


def _check_tolerances(tolerances):
    tolerances = dict(tolerances or {})
    bad = {k: v for k, v in tolerances.items() if k not in TOLERANCES or isinstance(v, bool)
           or not isinstance(v, (int, float)) or not v >= 0}
    if bad:
        raise ValueError(f"tolerances must map keys of {sorted(TOLERANCES)} to numbers >= 0, "
                         f"got {bad!r}.")
    return {**TOLERANCES, **tolerances}


def _single_target(model, direction, truncation_psi, image_size):
    directions = None if direction is None else (direction,)
    model, targets = _targets(model, directions, truncation_psi, image_size)
    if len(targets) > 1:
        raise ValueError("A CycleGAN has two generators: pass direction='a2b' or 'b2a'.")
    return targets[0]


def saved_model(model, path, batch_size=1, uint8_images=False, direction=None,
                truncation_psi=1.0, image_size=None):
    """Writes the generator of `model` as a SavedModel with a `serving_default` signature.

    Args:
        model: a zoo model, run directory, `.keras` file or preset.
        path: the SavedModel directory (replaced if it exists).
        batch_size: the signature's fixed batch (1 for phones).
        uint8_images: images at the boundary are uint8 RGB [0, 255] instead of floats.
        direction: "a2b" or "b2a" for a CycleGAN.
        truncation_psi: StyleGAN's truncation baked into the graph (1: off).
        image_size: a CycleGAN or inpainting artifact's input size (default: its training
            size).

    Returns:
        `path`.
    """
    target = _single_target(model, direction, truncation_psi, image_size)
    return _write_saved_model(target, os.fspath(path), _check_batch_size(batch_size),
                              uint8_images)


def tflite(model, path, quantization="float32", batch_size=1, uint8_images=False,
           direction=None, truncation_psi=1.0, calibration_images=None, seed=0,
           image_size=None):
    """Writes the generator of `model` as a `.tflite` file of builtin ops only.

    Args:
        model, batch_size, uint8_images, direction, truncation_psi, image_size: as in
            `saved_model`.
        path: the `.tflite` file.
        quantization: "float32", "float16", "dynamic" or "int8".
        calibration_images: for int8 translation and inpainting models (required), floats
            in [-1, 1] `(n, H, W, C)` at the artifact's image size; inpainting masks are drawn
            by `kerasgan.masks`.
        seed: seed of the representative latents (or masks) drawn for int8.

    Returns:
        `path`. Raises `ExportError` if the model needs non-builtin ops.
    """
    target = _single_target(model, direction, truncation_psi, image_size)
    content, _ = _tflite_bytes(target, quantization, _check_batch_size(batch_size),
                               uint8_images, calibration_images, int(seed))
    return _write_bytes(content, os.fspath(path))


def run_tflite(path, inputs, num_threads=1):
    """Runs a `.tflite` signature on `inputs` (a dict of arrays, any number of rows, batched
    to the model's batch) and returns its `image` output."""
    runner = _interpreter(model_path=os.fspath(path), num_threads=num_threads) \
        .get_signature_runner("serving_default")
    batch = next(iter(runner.get_input_details().values()))["shape"][0]
    return np.concatenate([runner(**chunk)["image"] for chunk in _batches(inputs, batch)])


def _latency_ms(path, inputs, num_threads, repeats=5):
    runner = _interpreter(model_path=path, num_threads=num_threads) \
        .get_signature_runner("serving_default")
    feed = next(_batches(inputs, next(iter(runner.get_input_details().values()))["shape"][0]))
    runner(**feed)  # warm-up: allocation, XNNPACK packing
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner(**feed)
        times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)) / len(next(iter(feed.values()))), 3)


def _saved_model_outputs(path, inputs):
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]
    batch = int(serve.structured_input_signature[1][next(iter(inputs))].shape[0])
    return np.concatenate([serve(**{k: tf.constant(v) for k, v in chunk.items()})["image"]
                           .numpy() for chunk in _batches(inputs, batch)])


def _parity(output, reference, tolerance, uint8_images):
    error = np.abs(_to_unit_range(output) - reference)
    tolerance = tolerance + (1 / 127.5 if uint8_images else 0.0)
    return {"max_abs_error": float(error.max()), "mean_abs_error": float(error.mean()),
            "tolerance": round(tolerance, 6), "within_tolerance": bool(error.max() <= tolerance)}


def _signature(target, batch_size, uint8_images):
    image_dtype = "uint8" if uint8_images else "float32"
    dtypes = {"latent": "float32", "label": "int32"}
    inputs = [{"name": name, "shape": [batch_size, *shape],
               "dtype": dtypes.get(target.role(name), image_dtype)}
              for name, shape in zip(target.input_names, target.input_shapes())]
    signature = {"inputs": inputs,
                 "outputs": [{"name": "image", "shape": [batch_size, *target.output_shape()],
                              "dtype": image_dtype}],
                 "image_range": "[0, 255] RGB" if uint8_images else "[-1, 1] RGB"}
    if "mask" in target.input_names:
        signature["mask_values"] = ("0 or 255, > 127 missing" if uint8_images
                                    else "0 or 1, 1 missing")
    return signature


def export(model, out, formats=FORMATS, quantizations=QUANTIZATIONS, batch_size=1,
           uint8_images=False, directions=None, truncation_psi=1.0,
           calibration_images=None, seed=0, tolerances=None, latency_threads=(1,),
           image_size=None, source=None, parity_samples=PARITY_SAMPLES,
           keep_over_tolerance=False):
    """Writes every requested artifact of `model` into `out` and `out/export_report.json`.

    An artifact whose error exceeds its tolerance is not written (a phone would draw
    visibly other pictures than the model): the report keeps its entry with the error,
    `"written": false` and the reason, and `flagged(report)` lists it. `keep_over_tolerance`
    writes it anyway.

    For each artifact the report holds its path, size, signature, op list (TFLite), the max
    and mean absolute error against the Keras generator on `PARITY_SAMPLES` fixed inputs
    (drawn with `seed`; for translation and inpainting the calibration images when given,
    and for inpainting masks drawn by `kerasgan.masks` with `seed`), the tolerance
    (`TOLERANCES`, overridable per format with `tolerances`) and whether it was met, and the
    LiteRT latency per image for each of `latency_threads`; `parity_samples` inputs are used. The parity inputs and the Keras
    outputs are saved as `golden_NAME.npz` so any runtime can be checked against them.

    Every argument is checked before any work. The artifacts are written into a temporary
    folder next to `out` and moved into `out` only when all of them are done: files of the
    same names are replaced, other files in `out` are left alone, and a failure (an error, a
    full disk) removes the temporary folder and leaves `out` as it was.

    Returns:
        the report (a dict).
    """
    formats, quantizations = list(formats), list(quantizations)
    for value, allowed, what in ((formats, FORMATS, "formats"),
                                 (quantizations, QUANTIZATIONS, "quantizations")):
        bad = [v for v in value if v not in allowed]
        if bad or not value:
            raise ValueError(f"{what} must be a non-empty subset of {allowed}, got {value!r}.")
    batch_size = _check_batch_size(batch_size)
    latency_threads = _check_threads(latency_threads)
    tolerances = _check_tolerances(tolerances)
    if not _positive_int(parity_samples):
        raise ValueError(f"parity_samples must be a positive integer, got {parity_samples!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out) and not os.path.isdir(out):
        raise FileExistsError(f"{out} is a file; export writes a folder of artifacts there.")
    if source is None and isinstance(model, (str, os.PathLike)):
        source = model
    model, targets = _targets(model, directions, truncation_psi, image_size)
    if calibration_images is not None:
        calibration_images = np.asarray(calibration_images, "float32")
    for target in targets:  # what _tflite_bytes and _sample_inputs would refuse, up front
        if target.kind not in IMAGE_KINDS:
            continue
        if "tflite" in formats and "int8" in quantizations and calibration_images is None:
            raise ValueError(_calibration_needed(target.kind))
        if calibration_images is not None:
            _sample_inputs(target, 1, seed, calibration_images)  # checks their shape
    # The nearest existing folder above `out`: nothing is created before the end.
    parent = os.path.dirname(out)
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise NotADirectoryError(f"cannot write {out}: {parent} is a file, not a folder.")
    work = tempfile.mkdtemp(prefix=f".tmp-{os.path.basename(out)}-", dir=parent)
    try:
        report = _export_into(work, model, targets, formats, quantizations, batch_size,
                              uint8_images, truncation_psi, calibration_images, seed,
                              tolerances, latency_threads, source, parity_samples,
                              keep_over_tolerance)
        _move_into(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _move_into(work, out):
    """Moves every entry of `work` into `out` (created if need be), replacing entries of the
    same names; on a failure the entries moved so far are put back as they were."""
    names = sorted(os.listdir(work))
    created = not os.path.isdir(out)
    os.makedirs(out, exist_ok=True)
    replaced = os.path.join(work, ".replaced")
    os.mkdir(replaced)
    done = []  # (name, displaced an old entry, moved the new one)
    try:
        for name in names:
            target = os.path.join(out, name)
            done.append([name, False, False])
            if os.path.lexists(target):
                os.replace(target, os.path.join(replaced, name))
                done[-1][1] = True
            os.replace(os.path.join(work, name), target)
            done[-1][2] = True
    except BaseException:
        for name, displaced, moved in reversed(done):
            target = os.path.join(out, name)
            try:
                if moved:
                    os.replace(target, os.path.join(work, name))
                if displaced:
                    os.replace(os.path.join(replaced, name), target)
            except OSError:
                pass
        if created:
            try:
                os.rmdir(out)
            except OSError:
                pass
        raise


def _export_into(out, model, targets, formats, quantizations, batch_size, uint8_images,
                 truncation_psi, calibration_images, seed, tolerances, latency_threads, source,
                 parity_samples, keep_over_tolerance):
    report = {"source": os.fspath(source) if source else type(model).__name__,
              "architecture": model.architecture,
              "batch_size": batch_size, "uint8_images": bool(uint8_images),
              "truncation_psi": float(truncation_psi),
              "parity": f"{parity_samples} inputs drawn with seed {seed}; errors on the "
                        "[-1, 1] scale against the Keras generator",
              "artifacts": []}
    if model.task == "generation" and model.num_classes:  # the `label` input's indices
        report["class_names"] = list(model.class_names)
    for target in targets:
        n = max(int(parity_samples), batch_size) // batch_size * batch_size
        inputs = _sample_inputs(target, n, seed, calibration_images)
        reference = _reference(target, inputs, uint8_images)
        feed = _as_feed(inputs, uint8_images, target.kind)
        np.savez_compressed(os.path.join(out, f"golden_{target.name}.npz"), **feed,
                            expected_image=reference)
        signature = _signature(target, batch_size, uint8_images)
        sm_dir = os.path.join(out, f"{target.name}_saved_model")
        keep_saved_model = "saved_model" in formats
        _write_saved_model(target, sm_dir, batch_size, uint8_images)
        if keep_saved_model:
            report["artifacts"].append({
                "name": target.name, "format": "saved_model", "quantization": "float32",
                "path": os.path.basename(sm_dir), "size_bytes": _size(sm_dir), **signature,
                **_parity(_saved_model_outputs(sm_dir, feed), reference,
                          tolerances["saved_model"], uint8_images)})
        if "tflite" in formats:
            for quantization in quantizations:
                path = os.path.join(out, f"{target.name}_{quantization}.tflite")
                content, ops = _tflite_bytes(target, quantization, batch_size, uint8_images,
                                             calibration_images, int(seed), sm_dir)
                _write_bytes(content, path)
                report["artifacts"].append({
                    "name": target.name, "format": "tflite", "quantization": quantization,
                    "path": os.path.basename(path), "size_bytes": os.path.getsize(path),
                    **signature, "ops": ops,
                    **_parity(run_tflite(path, feed), reference, tolerances[quantization],
                              uint8_images),
                    "latency_ms_per_image": {str(t): _latency_ms(path, feed, t)
                                             for t in latency_threads}})
                if not keep_over_tolerance:
                    _refuse_over_tolerance(report["artifacts"][-1], path)
        if not keep_saved_model:
            shutil.rmtree(sm_dir)
    _write_bytes(json.dumps(report, indent=2).encode(), os.path.join(out, REPORT_FILE))
    return report


def _size(path):
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(path) for f in files)


def _refuse_over_tolerance(artifact, path):
    """Removes the artifact at `path` if its error exceeds its tolerance, saying so in
    `artifact`."""
    artifact["written"] = artifact["within_tolerance"]
    if not artifact["within_tolerance"]:
        os.remove(path)
        artifact["refused"] = (
            f"max abs error {artifact['max_abs_error']:.3g} exceeds the tolerance "
            f"{artifact['tolerance']:.3g} of {artifact['quantization']} on [-1, 1]: this "
            "model's outputs change visibly under it")


def flagged(report):
    """The artifacts of a report whose error exceeds their tolerance (not written unless
    the export kept them)."""
    return [a for a in report["artifacts"] if not a["within_tolerance"]]
