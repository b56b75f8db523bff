"""The `kerasgan` command: list | train | sample | translate | restore | evaluate | export.

Every error is one line on stderr, `kerasgan: error: ...`: exit code 2 for a mistake in what
was asked (a bad flag, path or model), 1 for a failure while doing it (a full disk, out of
memory, anything unexpected). `--debug` (or KERASGAN_DEBUG=1) shows the traceback instead.
What kerasgan must tell you (skipped image files, an export over its tolerance) is a
`kerasgan: warning: ...` line. TensorFlow's log lines are not shown: KERASGAN_TF_LOGS=1
(or `kerasgan train --verbose 2`) shows them.
"""
import argparse
import errno
import json
import math
import os
import shlex
import sys

from kerasgan import console
from kerasgan.errors import TrainingDiverged, UsageError
from kerasgan.runs import LOCK_FILE, _json_type, _read_model_config
from kerasgan.training import TrainSettings, _check_memory

# Only kerasgan, argparse and the standard library are imported here: `kerasgan --help`,
# `kerasgan list` and argument errors answer without TensorFlow (~0.5 s instead of ~10 s).
# Each command imports what it needs.
__all__ = ["COMMANDS", "LOCK_FILE", "build_parser", "main"]  # LOCK_FILE: tests read cli's


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line, like every other error of the command (exit code 2)."""

    def error(self, message):
        self.exit(2, f"kerasgan: error: {message} (see `{self.prog} --help`)\n")


class _ArgumentError(Exception):
    pass


class _QuietParser(_Parser):
    """Raises instead of printing: for re-reading a recorded command line."""

    def error(self, message):
        raise _ArgumentError(message)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _float_in(low=-math.inf, high=math.inf, low_open=False, high_open=False):
    """A finite float in the given range (argparse type)."""
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    interval = "a finite number" if (low, high) == (-math.inf, math.inf) else \
        f"a number in {left}{low:g}, {high:g}{right}"

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < low or value > high \
                or (low_open and value == low) or (high_open and value == high):
            raise argparse.ArgumentTypeError(f"expected {interval}, got {text!r}")
        return value
    return parse


def _key_value(text):
    """`KEY=VALUE` with VALUE parsed as JSON when it can be (numbers, lists, true/false)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser(parser_class=None):
    parser = (parser_class or _Parser)(prog="kerasgan", description=__doc__,
                                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the Python traceback instead of one line "
                             "(also: environment variable KERASGAN_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list the architectures and the pretrained presets")
    listing.add_argument("--json", action="store_true",
                         help="one JSON object ({architectures: [...], presets: [...]}) for scripts")

    train = commands.add_parser("train", help="train an architecture on images")
    train.add_argument("arch", nargs="?",
                       help="architecture name (see `kerasgan list`); with --from, the source's")
    train.add_argument("--from", dest="start_from", metavar="PRESET_OR_RUN",
                       help="fine-tune: start from this preset's (or finished run's) weights "
                            "and architecture config, at half the recommended learning rate "
                            "unless --lr is given")
    train.add_argument("--freeze-d", type=_positive_int, metavar="N",
                       help="with --from: freeze the discriminator's first N convolutions "
                            "(FreezeD)")
    train.add_argument("--data", required=True,
                       help="image folder, .npz/.npy file, or tfds:NAME[:SPLIT]")
    train.add_argument("--data-b", help="domain B images, for image-to-image models (cyclegan): "
                                        "--data is domain A")
    train.add_argument("--out", required=True,
                       help="run directory to write: new or empty (see --resume, --overwrite); "
                            "a lock file in it keeps a second process from training there")
    train.add_argument("--image-size", type=_positive_int, help="default: the architecture's")
    train.add_argument("--channels", type=int, choices=(1, 3), help="default: the architecture's")
    train.add_argument("--epochs", type=_positive_int,
                       help="default 10; with --minutes or --kimg, until the budget is spent")
    train.add_argument("--minutes", type=_float_in(0, low_open=True), metavar="M",
                       help="stop after M minutes of training in this call (checkpointed, "
                            "model and metadata written; --resume continues)")
    train.add_argument("--kimg", type=_float_in(0, low_open=True), metavar="K",
                       help="stop once the run has trained on K thousand images in all")
    train.add_argument("--steps-per-epoch", type=_positive_int,
                       help="steps per epoch (the data repeats); default: one pass over the data")
    train.add_argument("--batch-size", type=_positive_int, default=64)
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its newest loadable checkpoint. "
                            "The run's own settings apply: --batch-size, --seed, --loss, "
                            "--lr, --beta1, --r1-gamma, --augment, --ema, --d-steps, --set, "
                            "--image-size, --channels, --precision, --steps-per-epoch, "
                            "--flip, --resize and --load-size need not be repeated, and one "
                            "given with another value than the run's is refused. --data and "
                            "--data-b may differ (a moved folder; warned), --jit is ignored "
                            "(warned); --epochs (the new total), --verbose, --sample-every, "
                            "--cache, --strict and the other flags apply as given")
    train.add_argument("--overwrite", action="store_true",
                       help="start a new run in a non-empty --out that is not a run to "
                            "resume (a folder with other files, a finished run): the files "
                            "of a previous run there (config.json, weights, metadata.json, "
                            "checkpoints/, samples/epoch-*.png) are replaced, other files are "
                            "left alone. Without it such an --out is refused")
    train.add_argument("--loss",
                       help="non_saturating | minimax | hinge | wasserstein | least_squares "
                            "(default: the architecture's, else non_saturating)")
    train.add_argument("--d-steps", type=_positive_int,
                       help="discriminator updates per generator update")
    train.add_argument("--r1-gamma", type=_float_in(0.0),
                       help="R1 penalty weight (default: the architecture's, else 0)")
    train.add_argument("--augment", nargs="?", const="diffaugment", metavar="NAME",
                       help="differentiable augmentation of every discriminator input, for "
                            "small data sets (default when given: diffaugment)")
    train.add_argument("--ema", type=_float_in(0.0, 1.0, True, True), metavar="DECAY",
                       help="keep an EMA of the generator with this decay (e.g. 0.999)")
    train.add_argument("--lr", type=_float_in(0.0, low_open=True),
                       help="Adam learning rate of both networks (default: the "
                            "architecture's, else 2e-4)")
    train.add_argument("--beta1", type=_float_in(0.0, 1.0, high_open=True),
                       help="Adam beta_1 (default: the architecture's, else 0.5)")
    train.add_argument("--jit", choices=("auto", "on", "off"), default="auto",
                       help="XLA for the train step; auto = on with a GPU, off on CPU")
    train.add_argument("--precision", default="auto",
                       choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"),
                       help="compute precision (weights stay float32); auto = bfloat16 where "
                            "the hardware has it natively, else float32. A resumed run keeps "
                            "its own.")
    train.add_argument("--seed", type=int, help="seed of the training noise and shuffling")
    train.add_argument("--set", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="an architecture argument, e.g. --set base_channels=32 (repeatable)")
    train.add_argument("--compile", dest="compile_set", type=_key_value, action="append",
                       default=[], metavar="KEY=VALUE",
                       help="an argument of the model's compile beyond the flags above, e.g. "
                            "--compile l1_weight=1000 for inpainting (repeatable)")
    train.add_argument("--load-size", type=_positive_int,
                       help="image-to-image models: images are loaded at this side length "
                            "and randomly cropped to --image-size (default 1.125x it)")
    train.add_argument("--resize", choices=("crop", "pad"), default="crop",
                       help="make non-square images square by center-crop or padding")
    train.add_argument("--flip", action="store_true", help="random horizontal flips")
    train.add_argument("--cache", choices=("auto", "memory", "disk"), default="auto",
                       help="where decoded folder images are kept: auto = in memory when "
                            "they fit the budget, else in a reusable file under "
                            "$KERASGAN_CACHE/images (~/.cache/kerasgan/images)")
    train.add_argument("--strict", action="store_true",
                       help="refuse bad image files instead of skipping them")
    train.add_argument("--data-dir", help="tensorflow-datasets data_dir for tfds:NAME")
    train.add_argument("--download", action="store_true",
                       help="let tensorflow-datasets download tfds:NAME (needs internet)")
    train.add_argument("--sample-every", type=_positive_int, default=1, metavar="EPOCHS",
                       help="write a sample grid every this many epochs")
    train.add_argument("--strategy", choices=("none", "mirrored", "multiworker"), default="none",
                       help="tf.distribute: mirrored = all local GPUs, multiworker = hosts "
                            "from TF_CONFIG; --batch-size is the global batch")
    train.add_argument("--deterministic", action="store_true",
                       help="TensorFlow op determinism: the same --seed gives the same weights")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="Keras fit verbosity: 0 = silent, 1 = progress bar, 2 = one "
                            "line per epoch, and TensorFlow's own log lines too")
    train.add_argument("--conditional", action="store_true",
                       help="class-conditional (vanilla, dcgan, stylegan_lite): one class per "
                            "sub-folder of --data, or an .npz's y_train/labels/y")
    train.add_argument("--tensorboard", action="store_true",
                       help="log the losses, learning rates and sample grids per epoch to "
                            "OUT/tensorboard/ (needs the tensorboard package)")

    sample = commands.add_parser("sample", help="write a grid of generated images")
    sample.add_argument("model", help="run directory, .keras file or preset name")
    sample.add_argument("--n", type=_positive_int, default=64)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--label", metavar="CLASS",
                        help="a class-conditional model's class (name or index) for every "
                             "sample; default: the classes in turn, one per grid column")
    sample.add_argument("--out", default="samples.png",
                        help="image grid to write (.png, .jpg, ...), or .npz for the raw "
                             "images in [-1, 1]; replaced only once it is complete")
    translate = commands.add_parser("translate", help="translate an image with an image-to-image "
                                                      "model (cyclegan)")
    translate.add_argument("model", help="run directory, .keras file or preset name")
    translate.add_argument("image", help="the image file to translate")
    translate.add_argument("--direction", choices=("a2b", "b2a"), default="a2b")
    translate.add_argument("--out", required=True,
                           help="image file to write (.png, .jpg, ...)")

    restore = commands.add_parser("restore", help="fill the damaged regions of an image with an "
                                                  "inpainting model")
    restore.add_argument("model", help="run directory, .keras file or preset name")
    restore.add_argument("image", help="the damaged image file")
    restore.add_argument("--mask", required=True,
                         help="mask image of the same size: white (> 50%% grey) = missing")
    restore.add_argument("--out", required=True, help="image file to write (.png, .jpg, ...)")

    evaluate = commands.add_parser("evaluate", help="FID and KID of a model against real images")
    evaluate.add_argument("model", help="run directory, .keras file or preset name")
    evaluate.add_argument("--data", required=True, help="real images: folder, .npz or tfds:NAME")
    evaluate.add_argument("--n", type=_positive_int, default=1000,
                          help="generated (and at most this many real) images")
    evaluate.add_argument("--seed", type=int, default=0)
    features = evaluate.add_mutually_exclusive_group()
    features.add_argument("--inception-weights", metavar="H5",
                          help="Inception-V3 no-top weights file (needed offline)")
    features.add_argument("--features", metavar="MODEL.keras",
                          help="any Keras model mapping images in [-1, 1] to feature vectors")

    nearest = commands.add_parser("nearest", help="memorisation check: generated images "
                                                  "beside their nearest training images")
    nearest.add_argument("model", help="run directory, .keras file or preset name")
    nearest.add_argument("--data", required=True,
                         help="the training images: folder, .npz/.npy file or tfds:NAME")
    nearest.add_argument("--out", required=True, help="image grid to write (.png, .jpg, ...)")
    nearest.add_argument("--n", type=_positive_int, default=8, help="generated images (rows)")
    nearest.add_argument("--k", type=_positive_int, default=3, help="neighbours per row")
    nearest.add_argument("--seed", type=int, default=0)
    nearest.add_argument("--features", metavar="MODEL.keras",
                         help="a Keras model mapping images in [-1, 1] to feature vectors "
                              "(default: pixels downscaled to 32x32)")

    project = commands.add_parser("project", help="find the latent from which a generator "
                                                  "best reproduces an image (GAN inversion)")
    project.add_argument("model", help="run directory, .keras file or preset name "
                                       "(a generation model)")
    project.add_argument("image", help="the image to reproduce (centre-cropped square and "
                                       "resized to the model's size)")
    project.add_argument("--out", required=True,
                         help="the latent as .npz (latent, space, image, losses, noise_*); the "
                              "reconstruction is written beside it as a .png")
    project.add_argument("--steps", type=_positive_int, default=300)
    project.add_argument("--space", choices=("auto", "w+", "w", "z"), default="auto",
                         help="auto: w+ for stylegan_lite, z for the others")
    project.add_argument("--feature-weight", type=_float_in(0.0), default=0.1,
                         help="weight of the discriminator-feature term (0: pixels only)")
    project.add_argument("--lr", type=_float_in(0.0, low_open=True), default=0.05)
    project.add_argument("--seed", type=int, default=0,
                         help="the noise inputs (stylegan_lite) and the random starts (z)")

    walk = commands.add_parser("interpolate", help="a looping latent walk as a .gif or .mp4")
    walk.add_argument("model", help="run directory, .keras file or preset name")
    walk.add_argument("--out", required=True,
                      help=".gif, or .mp4 where ffmpeg or OpenCV can encode it")
    walk.add_argument("--n", type=_positive_int, default=4, help="images per frame")
    walk.add_argument("--frames", type=_positive_int, default=60, help="frames of the loop")
    walk.add_argument("--keyframes", type=int, default=4,
                      help="latents each image walks through before it returns (>= 2)")
    walk.add_argument("--seed", type=int, default=0)
    walk.add_argument("--fps", type=_float_in(0, low_open=True), default=30.0)
    walk.add_argument("--space", choices=("auto", "z", "w"), default="auto",
                      help="auto: linear in w for StyleGAN-lite, spherical in z otherwise")
    walk.add_argument("--truncation-psi", type=_float_in(), default=1.0,
                      help="StyleGAN: truncation of the keyframes (default 1: off)")

    export = commands.add_parser("export", help="write SavedModel / TFLite artifacts of a "
                                                "generator, with a parity report")
    export.add_argument("model", help="run directory, .keras file or preset")
    export.add_argument("--out", required=True,
                        help="directory for the artifacts and export_report.json; they are "
                             "moved in only when all are done (files of the same names are "
                             "replaced, other files stay)")
    export.add_argument("--formats", type=_choices(("saved_model", "tflite")),
                        default=["saved_model", "tflite"], help="comma-separated "
                        "(default saved_model,tflite)")
    export.add_argument("--quantize", type=_choices(("float32", "float16", "dynamic", "int8")),
                        default=["float32", "float16", "dynamic", "int8"],
                        help="TFLite quantizations, comma-separated (default all four)")
    export.add_argument("--batch-size", type=_positive_int, default=1,
                        help="the signature's fixed batch (default 1)")
    export.add_argument("--uint8", action="store_true",
                        help="images in and out as uint8 RGB [0, 255] instead of [-1, 1]")
    export.add_argument("--direction", type=_choices(("a2b", "b2a")), default=["a2b", "b2a"],
                        help="translation models: which generators (default a2b,b2a)")
    export.add_argument("--image-size", type=_positive_int,
                        help="translation models: the artifact's input size (default: the "
                             "training size)")
    export.add_argument("--calibration-data", metavar="DIR",
                        help="images for int8 calibration and the parity check of translation "
                             "models (needed for their int8)")
    export.add_argument("--truncation-psi", type=_float_in(), default=1.0,
                        help="StyleGAN: truncation baked into the artifact (default 1: off)")
    export.add_argument("--threads", type=_choices(None, _positive_int), default=[1],
                        help="LiteRT threads to time, comma-separated (default 1)")
    export.add_argument("--strict", action="store_true",
                        help="exit 1 when an artifact's error exceeds its tolerance")
    export.add_argument("--keep-over-tolerance", action="store_true",
                        help="write artifacts whose error exceeds their tolerance too (by "
                             "default they are left out, and the report says why)")
    for command in commands.choices.values():  # `kerasgan COMMAND ... --debug` works too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=argparse.SUPPRESS)
    parser.commands = commands.choices
    return parser


def _choices(allowed, convert=str):
    """A comma-separated list of values from `allowed` (any value when None)."""
    def parse(text):
        try:
            values = [convert(v.strip()) for v in text.split(",") if v.strip()]
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, "
                                             f"got {text!r}")
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad or not values:
            expected = "values" if allowed is None else f"values from {', '.join(allowed)}"
            raise argparse.ArgumentTypeError(f"expected comma-separated {expected}, "
                                             f"got {text!r}")
        return values
    return parse


def cmd_list(args):
    """Reads the registry and the presets' JSON files: no TensorFlow."""
    from kerasgan import architectures, pretrained

    architecture_rows = [{"name": a.name, "task": a.task, "image_size": a.image_size}
                         for a in map(architectures.get, architectures.names())]
    presets = [pretrained.summary(name) for name in pretrained.preset_names()]
    if args.json:
        print(json.dumps({"architectures": architecture_rows, "presets": presets}, indent=2))
        return 0
    print("Architectures (kerasgan train NAME ...):")
    for a in architecture_rows:
        print(f"  {a['name']:<16} {a['task']:<12} default image_size={a['image_size']}")
    print("Pretrained presets (kerasgan sample|translate|restore NAME ...; KID x1000 on "
          "EfficientNet-Lite0 features, see each README.md):")
    for p in presets:
        size = "?" if p["size_bytes"] is None else f"{p['size_bytes'] / 1e6:.1f} MB"
        kid = "-" if p["kid_x1000"] is None else f"{p['kid_x1000']:.0f}"
        data = (p["data"] or "")[:60]
        print(f"  {p['name']:<26} {p['architecture'] or '?':<14} {size:>8}  KID {kid:>4}  {data}")
    return 0


def _given_flags(argv):
    """The train flags (dests) that `argv` gives explicitly."""
    parser = build_parser(_QuietParser)
    for action in parser.commands["train"]._actions:  # an argument left out is not set
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv))) - {"command", "debug"}


def cmd_train(args):
    """The run itself is `kerasgan.training.run`; here its settings come from the flags."""
    from kerasgan import training

    if args.arch is None and args.start_from is None:
        raise UsageError("train needs an architecture (see `kerasgan list`) or --from "
                         "PRESET_OR_RUN.")
    fields = {name: value for name, value in vars(args).items()
              if name in TrainSettings.__dataclass_fields__}
    settings = TrainSettings(**fields, given=frozenset(_given_flags(args.argv)),
                             command_line="kerasgan " + shlex.join(args.argv))
    try:
        training.run(settings)
    except TrainingDiverged as error:  # StopOnNaN has said where; exit code 1
        print(f"kerasgan: error: {error}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- models
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


def _out_of_memory(error):
    return isinstance(error, MemoryError) or any(
        cls.__name__ == "ResourceExhaustedError" for cls in type(error).__mro__)


def _load_model(source, command):
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
        if _out_of_memory(error):
            raise
        raise UsageError(f"cannot load the model {source}: {_describe(error)}") from error
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
    gan = _load_model(args.model, "sample")
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
    from PIL import Image

    from kerasgan import callbacks, data

    _check_image_out(args.out)
    model = _load_model(args.model, "translate")
    image = data.load_image(args.image).astype("float32") / 127.5 - 1.0  # DataError if bad
    result = model.translate(image, direction=args.direction)
    pixels = np.clip((result + 1.0) * 127.5 + 0.5, 0, 255).astype("uint8")
    with callbacks.atomic_file(args.out) as tmp:
        Image.fromarray(pixels).save(tmp, format=callbacks.image_format_of(args.out))
    print(f"Wrote {os.path.abspath(args.out)} ({pixels.shape[1]}x{pixels.shape[0]}, "
          f"{args.direction})")
    return 0


def cmd_restore(args):
    import numpy as np
    from PIL import Image

    from kerasgan import callbacks, data

    _check_image_out(args.out)
    model = _load_model(args.model, "restore")
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
    with callbacks.atomic_file(args.out) as tmp:
        Image.fromarray(pixels).save(tmp, format=callbacks.image_format_of(args.out))
    print(f"Wrote {os.path.abspath(args.out)} ({pixels.shape[1]}x{pixels.shape[0]}, "
          f"{missing.mean():.1%} of the pixels restored)")
    return 0


def _feature_extractor(args):
    import keras
    from kerasgan import metrics

    if args.features:
        _check_model_files(args.features)
        try:
            return keras.models.load_model(args.features)  # safe_mode stays on
        except Exception as error:  # noqa: BLE001 - said in one line
            if _out_of_memory(error):
                raise
            raise UsageError(f"cannot load the feature model {args.features}: "
                             f"{_describe(error)}") from error
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
    gan = _load_model(args.model, "evaluate")
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
    model = _load_model(args.model, "export")
    if args.truncation_psi != 1.0 and not model.truncates:
        raise UsageError("--truncation-psi applies to StyleGAN models only.")
    image_input = model.task != "generation"  # translation, inpainting: images in
    if not image_input and (args.image_size or args.calibration_data):
        raise UsageError("--image-size and --calibration-data apply to image-to-image models "
                         "(cyclegan, inpainting) only.")
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
    gan = _load_model(args.model, "nearest")
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
    gan = _load_model(args.model, "interpolate")
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
    model = _load_model(args.model, "project")
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


COMMANDS = {"list": cmd_list, "train": cmd_train, "sample": cmd_sample,
            "translate": cmd_translate, "restore": cmd_restore, "evaluate": cmd_evaluate,
            "export": cmd_export, "nearest": cmd_nearest, "interpolate": cmd_interpolate,
            "project": cmd_project}


# Path errors that say the path given was wrong (exit code 2); other OSErrors (a full disk,
# permissions, I/O errors) are failures of the work (exit code 1).
BAD_PATH_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG,
                   errno.ELOOP}


def _one_line(text, limit=None):
    text = " ".join(str(text).split())
    return text if limit is None or len(text) <= limit else text[:limit - 3] + "..."


def _describe(error):
    """An exception as one line: its type where the message alone would not say."""
    text = _one_line(_os_error_text(error) if isinstance(error, OSError) else error, 400)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _os_error_text(error):
    if error.errno and error.strerror and error.filename is not None:
        other = f" -> {error.filename2}" if error.filename2 is not None else ""
        return f"{error.filename}{other}: {error.strerror}"
    return str(error)


def _error_line(error):
    """(exit code, message) of an error that ended a command."""
    from kerasgan.export import ExportError

    if isinstance(error, KeyboardInterrupt):
        return 130, "interrupted."
    if isinstance(error, (UsageError, ValueError)):
        return 2, _one_line(error) or type(error).__name__
    if isinstance(error, OSError):
        bad_path = error.errno in BAD_PATH_ERRNOS or isinstance(
            error, (FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError))
        return (2 if bad_path else 1), _one_line(_os_error_text(error)) or type(error).__name__
    if _out_of_memory(error):
        return 1, f"out of memory ({_describe(error)}); use a smaller size, batch or --n."
    if isinstance(error, ExportError):
        return 1, _one_line(error)
    return 1, f"{_describe(error)} (run with --debug for the traceback)"


def _debug_requested(args):
    return getattr(args, "debug", False) or \
        os.environ.get("KERASGAN_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


# Commands that answer from files alone; every other one imports TensorFlow first.
WITHOUT_TENSORFLOW = ("list",)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)  # --help and argument errors: no TensorFlow
    args.argv = argv  # recorded in the run's metadata
    try:
        if args.command not in WITHOUT_TENSORFLOW:
            # Before any kerasgan module loads it, so that its start-up lines can be dropped.
            console.import_tensorflow(console.framework_logs_wanted(getattr(args, "verbose", None)))
        with console.warnings_as_lines():
            return COMMANDS[args.command](args) or 0
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - one line, or --debug
        if _debug_requested(args):
            raise
        code, message = _error_line(error)
        print(f"kerasgan: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
