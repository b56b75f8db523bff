"""What the `kerasgan` commands that load a model do: sample, translate, restore, evaluate,
export, nearest, interpolate and project (the command line itself, its flags and its error
lines are in `kerasgan.cli`).

Each checks what it can before loading anything (output paths, model files: a damaged one is
one line, exit code 2), loads the model with `load_model` (checked to be of a kind the command
can use) and imports TensorFlow-heavy modules only inside the command.
"""
import json
import math
import os
import shlex
import sys

from kerasgan import console
from kerasgan.errors import UsageError, describe, out_of_memory
from kerasgan.runs import _json_type, _read_model_config
from kerasgan.training import _check_memory

def _check_model_files(source):
    """What can be checked before loading: a `.keras` file is a zip archive; a model
    folder's config.json is sound and its weight files are HDF5 files."""
    import zipfile

    path = os.fspath(source)
    if path.endswith(".keras") and os.path.isfile(path):
        if not zipfile.is_zipfile(path):
            what = "empty" if os.path.getsize(path) == 0 else "not a zip archive"
            raise UsageError(f"{path} is not a .keras model file: it is {what} (damaged, or "
                             "not completely copied?).")
        return
    if not os.path.isdir(path):
        return  # a preset name: zoo checks every file against its SHA-256
    _read_model_config(path)
    import h5py

    for name in sorted(os.listdir(path)):
        file = os.path.join(path, name)
        if name.endswith(".weights.h5") and not name.startswith(".") and os.path.isfile(file):
            if os.path.getsize(file) == 0:
                raise UsageError(f"{file} is empty: the model folder is damaged (a save or "
                                 "copy that did not finish?).")
            if not h5py.is_hdf5(file):
                raise UsageError(f"{file} is not an HDF5 weights file: the model folder is "
                                 "damaged.")


def load_model(source, command):
    """The model `source` names (run folder, preset, .keras file), checked to be one that
    `kerasgan COMMAND` can use: a damaged file, a model that does not load or one of
    another kind is one line and exit code 2."""
    from kerasgan import zoo

    _check_model_files(source)
    try:
        model = zoo.load(source)
    except (UsageError, FileNotFoundError, zoo.PresetError):
        raise
    except Exception as error:  # noqa: BLE001 - any failure to load is said in one line
        if out_of_memory(error):
            raise
        raise UsageError(f"cannot load the model {source}: {describe(error)}") from error
    _check_kind(model, source, command)
    return model


def _check_kind(model, source, command):
    """Refuses a model whose declared task `kerasgan COMMAND` cannot use, in one line."""
    from kerasgan.adversarial import AdversarialModel

    if not isinstance(model, AdversarialModel):
        raise UsageError(f"{source} is not a kerasgan model (it is a Keras "
                         f"{type(model).__name__} model); `kerasgan {command}` needs a run "
                         "folder, a preset, or a .keras file saved from a kerasgan model.")
    if command in ("sample", "evaluate", "project") and model.task != "generation":
        use = "translate" if model.task == "translation" else "restore"
        raise UsageError(f"{source} is an image-to-image model ({model.architecture or model.task})"
                         f": it {use}s images and has no latents to sample for `kerasgan "
                         f"{command}`; use `kerasgan {use}`.")
    if command == "translate" and model.task != "translation":
        raise UsageError(f"{source} generates images from latents; translate needs an "
                         "image-to-image model such as cyclegan (use `kerasgan sample`).")
    if command == "restore" and model.task != "inpainting":
        raise UsageError(f"{source} is a {model.architecture or model.task} model; restore "
                         "needs an inpainting model (`kerasgan list`).")


def _check_output(path, flag="--out", folder=False):
    """Refuses an output path that cannot be written, before any work: a folder where a
    file is asked (or the reverse), a file in the way of its folder, no write permission."""
    if not path:
        raise UsageError(f"{flag} is empty.")
    absolute = os.path.abspath(path)
    if os.path.isdir(absolute) and not folder:
        raise UsageError(f"{flag} {path} is a folder; give a file name.")
    if os.path.lexists(absolute) and not os.path.isdir(absolute) and folder:
        raise UsageError(f"{flag} {path} is a file; a folder is written there.")
    existing = os.path.dirname(absolute)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"cannot write {flag} {path}: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {flag} {path}: the folder {existing} is not writable.")


def _check_image_out(path, extra=()):
    from kerasgan import callbacks

    if os.path.splitext(path)[1].lower() not in (*callbacks.IMAGE_FORMATS, *extra):
        raise UsageError(f"--out {path}: expected a file name ending in "
                         f"{', '.join((*callbacks.IMAGE_FORMATS, *extra))}.")
    _check_output(path)


def cmd_sample(args):
    import numpy as np

    from kerasgan import callbacks

    _check_image_out(args.out, extra=(".npz",))
    gan = load_model(args.model, "sample")
    height, width, channels = gan.image_shape
    _check_memory(args.n * (height * width * channels * 4 + gan.latent_dim * 8),
                  f"--n {args.n} samples of {height}x{width}x{channels}",
                  "ask for fewer (run the command several times with other --seed values)")
    label = args.label
    if label is not None and gan.num_classes and label not in gan.class_names \
            and label.isdigit():
        label = int(label)  # an index, unless a class is named so
    try:
        images = gan.generate(args.n, seed=args.seed, labels=label)
    except ValueError as error:
        raise UsageError(f"--label {args.label}: {error}") from error
    if args.out.lower().endswith(".npz"):  # raw samples in [-1, 1], e.g. for a KID/FID tool
        with callbacks.atomic_file(args.out) as tmp:  # the old file stays until it is done
            with open(tmp, "wb") as f:
                np.savez_compressed(f, images=images)
        path = args.out
    else:
        path = callbacks.save_grid(images, args.out,
                                   gan.num_classes if label is None and gan.num_classes else None)
    print(f"Wrote {args.n} samples to {os.path.abspath(path)}")
    return 0


def cmd_translate(args):
    import numpy as np

    from kerasgan import data

    _check_image_out(args.out)
    model = load_model(args.model, "translate")
    image = data.load_image(args.image).astype("float32") / 127.5 - 1.0  # DataError if bad
    result = model.translate(image, direction=args.direction)
    pixels = np.clip((result + 1.0) * 127.5 + 0.5, 0, 255).astype("uint8")
    _write_image(pixels, args.out, args.direction)
    return 0


def _write_image(pixels, path, note):
    """Writes uint8 `pixels` to `path` (its format from the extension) through a temporary
    file, and says so."""
    from PIL import Image

    from kerasgan import callbacks

    with callbacks.atomic_file(path) as tmp:
        Image.fromarray(pixels).save(tmp, format=callbacks.image_format_of(path))
    print(f"Wrote {os.path.abspath(path)} ({pixels.shape[1]}x{pixels.shape[0]}, {note})")


def cmd_restore(args):
    import numpy as np

    from kerasgan import data

    _check_image_out(args.out)
    model = load_model(args.model, "restore")
    image = data.load_image(args.image)  # DataError (one line) if unreadable
    mask = data.load_image(args.mask, channels=1)
    if mask.shape[:2] != image.shape[:2]:
        raise UsageError(f"the mask must have the image's size {image.shape[1]}x"
                         f"{image.shape[0]}, got {mask.shape[1]}x{mask.shape[0]} ({args.mask}).")
    if image.shape[-1] != model.channels:
        image = data.load_image(args.image, channels=model.channels)
    missing = mask[..., 0] > 127
    result = model.restore(image.astype("float32") / 127.5 - 1.0, missing)
    pixels = np.clip((result + 1.0) * 127.5 + 0.5, 0, 255).astype("uint8")
    pixels[~missing] = image[~missing]  # the known pixels, exactly as read
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    _write_image(pixels, args.out, f"{missing.mean():.1%} of the pixels restored")
    return 0


def _feature_extractor(args):
    import keras
    from kerasgan import metrics

    if args.features:
        _check_model_files(args.features)
        try:
            return keras.models.load_model(args.features)  # safe_mode stays on
        except Exception as error:  # noqa: BLE001 - said in one line
            if out_of_memory(error):
                raise
            raise UsageError(f"cannot load the feature model {args.features}: "
                             f"{describe(error)}") from error
    try:
        return metrics.inception_v3(weights=args.inception_weights or "imagenet")
    except RuntimeError as error:
        raise UsageError(f"{error} On the command line: --inception-weights PATH, or "
                         "--features MODEL.keras for another feature extractor.") from error


def _evaluation_history(args):
    """The evaluation.json next to a run folder (checked before any work), or None."""
    if not os.path.isdir(args.model):
        return None
    path = os.path.join(args.model, "evaluation.json")
    if not os.path.isfile(path):
        return path, []
    try:
        with open(path) as f:
            history = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path} is damaged ({error}); move it away to start a new one.") \
            from None
    if not isinstance(history, list):
        raise UsageError(f"{path} is damaged: expected a JSON list of results, got "
                         f"{_json_type(history)}; move it away to start a new one.")
    return path, history


def cmd_evaluate(args):
    from kerasgan import callbacks, data, metrics

    history = _evaluation_history(args)
    if history is not None:
        _check_output(history[0], "the results file")
    gan = load_model(args.model, "evaluate")
    extractor = _feature_extractor(args) if args.features else None
    features = 2048  # Inception-V3's
    if extractor is not None:
        try:
            features = math.prod(int(d) for d in extractor.output_shape[1:])
        except (AttributeError, TypeError, ValueError):
            pass
    _check_memory(args.n * (gan.latent_dim * 8 + features * 16),
                  f"--n {args.n} images' features", "ask for fewer with --n")
    extractor = extractor or _feature_extractor(args)
    height, _, channels = gan.image_shape
    real = data.image_dataset(args.data, image_size=height, channels=channels,
                              batch_size=min(50, args.n), shuffle=False)
    result = metrics.evaluate(gan, real, n=args.n, feature_extractor=extractor, seed=args.seed)
    result.update(data=str(args.data), features=args.features or "inception_v3",
                  command="kerasgan " + shlex.join(args.argv))
    print(json.dumps(result, indent=2))
    if history is not None:  # results live next to the run
        path, previous = history
        callbacks.write_json(previous + [result], path)
    return 0


def _calibration_images(args, model):
    from kerasgan import data
    from kerasgan.export import CALIBRATION_SAMPLES

    if args.calibration_data is None:
        return None
    size = args.image_size or model.image_shape[0]
    pixels = data.load_image_folder(args.calibration_data, size, model.image_shape[-1])
    return pixels[:CALIBRATION_SAMPLES].astype("float32") / 127.5 - 1.0


def cmd_export(args):
    from kerasgan import export

    _check_output(args.out, folder=True)
    model = load_model(args.model, "export")
    if args.truncation_psi != 1.0 and not model.truncates:
        raise UsageError("--truncation-psi applies to StyleGAN models only.")
    image_input = model.task != "generation"  # translation, inpainting: images in
    if not image_input and (args.image_size or args.calibration_data):
        raise UsageError("--image-size and --calibration-data apply to image-to-image models "
                         "(cyclegan, pix2pix, inpainting) only.")
    if image_input:
        size = args.image_size or model.image_size
        per_item = 2 * size * size * (model.channels + 1)
    else:
        per_item = gan_pixels = math.prod(model.image_shape)
        per_item += model.latent_dim + gan_pixels // model.image_shape[-1]  # latent, noise
    _check_memory(args.batch_size * per_item * 4 * 8, f"--batch-size {args.batch_size}",
                  "use a smaller --batch-size")
    # export.export checks every other argument before any work, writes into a temporary
    # folder next to --out and moves the artifacts in at the end.
    calibration_images = _calibration_images(args, model)
    with console.native_stderr_hidden(console.framework_logs_wanted()):  # TFLite's own lines
        report = export.export(model, args.out, formats=args.formats,
                               quantizations=args.quantize, batch_size=args.batch_size,
                               uint8_images=args.uint8, directions=args.direction,
                               truncation_psi=args.truncation_psi,
                               calibration_images=calibration_images,
                               image_size=args.image_size, latency_threads=args.threads,
                               source=args.model, keep_over_tolerance=args.keep_over_tolerance)
    print(f"{'artifact':<34} {'size':>10} {'max err':>9} {'mean err':>9} {'tol':>8}  latency")
    for artifact in report["artifacts"]:
        latency = ", ".join(f"{ms:.2f} ms ({t} thr)" for t, ms in
                            artifact.get("latency_ms_per_image", {}).items())
        print(f"{artifact['path']:<34} {artifact['size_bytes'] / 1e6:>8.2f}MB "
              f"{artifact['max_abs_error']:>9.2e} {artifact['mean_abs_error']:>9.2e} "
              f"{artifact['tolerance']:>8.1e}  {latency}")
    bad = export.flagged(report)
    for artifact in bad:
        if "refused" in artifact:
            print(f"kerasgan: warning: {artifact['path']} not written: {artifact['refused']} "
                  "(--keep-over-tolerance writes it)", file=sys.stderr)
        else:
            print(f"kerasgan: warning: {artifact['path']}: max abs error "
                  f"{artifact['max_abs_error']:.3g} exceeds the tolerance "
                  f"{artifact['tolerance']:.3g}", file=sys.stderr)
    print(f"Wrote {os.path.join(os.path.abspath(args.out), export.REPORT_FILE)}")
    return 1 if bad and args.strict else 0


def cmd_nearest(args):
    from kerasgan import nearest

    _check_image_out(args.out)
    gan = load_model(args.model, "nearest")
    grid, found = nearest.nearest_grid(gan, args.data, n=args.n, k=args.k, seed=args.seed,
                                       features=args.features, return_result=True)
    nearest.save_image(grid, args.out)
    names = nearest.source_names(args.data, found.n_real)  # file names, else positions
    for row, (indices, distances) in enumerate(zip(found.indices, found.distances), 1):
        print(f"row {row}: " + ", ".join(f"{names[i] if names else f'#{i}'} ({d:.4f})"
                                         for i, d in zip(indices, distances)))
    space = args.features or "pixels downscaled to at most 32x32 (RMS difference)"
    print(f"Wrote {os.path.abspath(args.out)}: {args.n} generated images (seed {args.seed}), "
          f"each beside its {args.k} nearest of {found.n_real} images of {args.data}; "
          f"distance in {space}")
    return 0


def cmd_interpolate(args):
    from kerasgan import walks

    walks.check_animation(args.out, args.fps, args.frames)  # before any work
    _check_output(args.out)
    gan = load_model(args.model, "interpolate")
    walks.walk_space(gan, args.space)  # a model that cannot walk: one line
    height, width, channels = gan.image_shape
    _check_memory(args.frames * args.n * (height * width * channels * 5 + gan.latent_dim * 8),
                  f"--frames {args.frames} of --n {args.n} images", "ask for fewer")
    frames = walks.interpolate(gan, n=args.n, frames=args.frames, seed=args.seed,
                               space=args.space, keyframes=args.keyframes,
                               truncation_psi=args.truncation_psi)
    walks.save_animation(frames, args.out, fps=args.fps)
    print(walks.describe(args.out, gan, args))
    return 0


def cmd_project(args):
    import numpy as np

    from kerasgan import callbacks, data, projection

    if not args.out.endswith(".npz"):
        raise UsageError(f"--out {args.out}: expected a file name ending in .npz.")
    _check_output(args.out)
    picture = os.path.splitext(args.out)[0] + ".png"
    _check_output(picture, "the reconstruction")
    model = load_model(args.model, "project")
    height, _, channels = model.image_shape
    # Centre-cropped to a square and resized, as training data is; DataError if unreadable.
    target = data.load_image(args.image, height, channels).astype("float32") / 127.5 - 1.0
    try:
        projection.check_request(model, target, args.space, args.steps)
    except ValueError as error:
        raise UsageError(str(error)) from error
    result = projection.project(model, target, steps=args.steps, space=args.space,
                                learning_rate=args.lr, feature_weight=args.feature_weight,
                                seed=args.seed, verbose=1)
    with callbacks.atomic_file(args.out) as tmp:
        with open(tmp, "wb") as f:
            projection.save(result, f)
    callbacks.save_grid(np.stack([target, result.image]), picture, columns=2)
    error = float(np.abs(result.image - target).mean())
    print(f"Wrote {os.path.abspath(args.out)} ({result.space} latent, loss {result.losses[0]:.4f}"
          f" -> {result.losses[-1]:.4f}, mean absolute pixel error {error:.4f} on [-1, 1]) and "
          f"{os.path.abspath(picture)} (the image, then its reconstruction)")
    return 0
