"""The `kerasgan` command: list | train | sample | translate | restore | evaluate | export |
nearest | interpolate | project. Here: the flags, `list` and `train`, and the error lines;
the commands that load a model are `kerasgan.model_commands`.

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

from kerasgan import architectures, console
from kerasgan import model_commands
from kerasgan.errors import TrainingDiverged, UsageError, describe, one_line, os_error_text, out_of_memory
from kerasgan.runs import LOCK_FILE
from kerasgan.training import TrainSettings

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


def _add_list(commands):
    """`kerasgan list`'s flags."""
    listing = commands.add_parser("list", help="list the architectures and the pretrained presets")
    listing.add_argument("--json", action="store_true",
                         help="one JSON object ({architectures: [...], presets: [...]}) for scripts")


def _add_train(commands):
    """`kerasgan train`'s flags."""
    train = commands.add_parser("train", help="train an architecture on images")
    train.add_argument("arch", nargs="?",
                       help="architecture name (see `kerasgan list`); with --from, the source's; "
                            "with --resume, the run's")
    train.add_argument("--from", dest="start_from", metavar="PRESET_OR_RUN",
                       help="fine-tune: start from this preset's (or finished run's, or "
                            ".keras checkpoint's) weights and architecture config, at half the "
                            "recommended learning rate unless --lr is given; cut starts "
                            "from a cyclegan's a2b generator and its discriminator")
    train.add_argument("--freeze-d", type=_positive_int, metavar="N",
                       help="with --from: freeze the discriminator's first N convolutions "
                            "(FreezeD)")
    train.add_argument("--data",
                       help="image folder, .npz/.npy file, or tfds:NAME[:SPLIT] (required; "
                            "with --resume, default: the run's)")
    train.add_argument("--data-b", help="domain B images, for image-to-image models (cyclegan, "
                                        "cut, pix2pix): --data is domain A")
    train.add_argument("--paired", action="store_true",
                       help="--data and --data-b are aligned pairs: each file pairs with the "
                            "file of the same name (any extension) in the other folder; files "
                            "without a partner are named and left out (pix2pix, which "
                            "implies it)")
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
    batches = ", ".join(f"{name} {architectures.get(name).batch_size}"
                        for name in architectures.names())
    train.add_argument("--batch-size", type=_positive_int,
                       help=f"default: the batch the architecture's recipe was measured "
                            f"with ({batches})")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its newest loadable checkpoint. "
                            "The run's own settings apply: --batch-size, --seed, --loss, "
                            "--lr, --beta1, --r1-gamma, --augment, --ema, --d-steps, --set, "
                            "--image-size, --channels, --precision, --steps-per-epoch, "
                            "--flip, --resize and --load-size need not be repeated, and one "
                            "given with another value than the run's is refused. The "
                            "architecture, --data and --data-b default to the run's; --data "
                            "and --data-b may differ (a moved folder; warned), --jit is ignored "
                            "(warned); --epochs (the new total), --verbose, --sample-every, "
                            "--snapshot-every, --cache, --strict and the other flags apply "
                            "as given")
    train.add_argument("--overwrite", action="store_true",
                       help="start a new run in a non-empty --out that is not a run to "
                            "resume (a folder with other files, a finished run): the files "
                            "of a previous run there (config.json, weights, metadata.json, "
                            "checkpoints/, snapshots/, samples/epoch-*.png) are replaced, "
                            "other files are left alone. Without it such an --out is refused")
    train.add_argument("--loss",
                       help="non_saturating | minimax | hinge | wasserstein | least_squares "
                            "(default: the architecture's, else non_saturating)")
    train.add_argument("--d-steps", type=_positive_int,
                       help="discriminator updates per generator update")
    train.add_argument("--r1-gamma", type=_float_in(0.0),
                       help="R1 penalty weight (default: the architecture's, else 0)")
    train.add_argument("--augment", nargs="?", const="diffaugment", metavar="NAME",
                       help="differentiable augmentation of every discriminator input, for "
                            "small data sets: diffaugment (the default when given) or ada "
                            "(adds flips, turns, scaling and rotation at a strength adapted "
                            "while training, against a discriminator that overfits; "
                            "fastgan's default), ada_gated (every transform at that "
                            "strength, StyleGAN2-ADA's way: none at the start); none turns "
                            "fastgan's off; cyclegan takes "
                            "diffaugment")
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
    train.add_argument("--snapshot-every", type=_positive_int, metavar="EPOCHS",
                       help="also keep the checkpoint of every this many epochs in "
                            "OUT/snapshots/, never pruned (default: only the newest two "
                            "checkpoints are kept), to sample or fine-tune from a point "
                            "before a long run got worse")
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


def _add_sample(commands):
    """`kerasgan sample`'s flags."""
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


def _add_translate(commands):
    """`kerasgan translate`'s flags."""
    translate = commands.add_parser("translate", help="translate an image with an image-to-image "
                                                      "model (cyclegan, cut, pix2pix)")
    translate.add_argument("model", help="run directory, .keras file or preset name")
    translate.add_argument("image", help="the image file to translate")
    translate.add_argument("--direction", choices=("a2b", "b2a"), default="a2b")
    translate.add_argument("--out", required=True,
                           help="image file to write (.png, .jpg, ...)")


def _add_restore(commands):
    """`kerasgan restore`'s flags."""
    restore = commands.add_parser("restore", help="fill the damaged regions of an image with an "
                                                  "inpainting model")
    restore.add_argument("model", help="run directory, .keras file or preset name")
    restore.add_argument("image", help="the damaged image file")
    restore.add_argument("--mask", required=True,
                         help="mask image of the same size: white (> 50%% grey) = missing")
    restore.add_argument("--out", required=True, help="image file to write (.png, .jpg, ...)")


def _add_evaluate(commands):
    """`kerasgan evaluate`'s flags."""
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


def _add_nearest(commands):
    """`kerasgan nearest`'s flags."""
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


def _add_project(commands):
    """`kerasgan project`'s flags."""
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


def _add_interpolate(commands):
    """`kerasgan interpolate`'s flags."""
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


def _add_export(commands):
    """`kerasgan export`'s flags."""
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
    export.add_argument("--direction", type=_choices(("a2b", "b2a")),
                        help="translation models: which generators (default: all the model "
                             "has: a2b,b2a for cyclegan, a2b for cut and pix2pix)")
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


def build_parser(parser_class=None):
    parser = (parser_class or _Parser)(prog="kerasgan", description=__doc__,
                                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the Python traceback instead of one line "
                             "(also: environment variable KERASGAN_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_list(commands)
    _add_train(commands)
    _add_sample(commands)
    _add_translate(commands)
    _add_restore(commands)
    _add_evaluate(commands)
    _add_nearest(commands)
    _add_project(commands)
    _add_interpolate(commands)
    _add_export(commands)
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
    from kerasgan import pretrained

    architecture_rows = [{"name": a.name, "task": a.task, "image_size": a.image_size,
                          "batch_size": a.batch_size}
                         for a in map(architectures.get, architectures.names())]
    presets = [pretrained.summary(name) for name in pretrained.preset_names()]
    if args.json:
        print(json.dumps({"architectures": architecture_rows, "presets": presets}, indent=2))
        return 0
    print("Architectures (kerasgan train NAME ...):")
    for a in architecture_rows:
        print(f"  {a['name']:<16} {a['task']:<12} default image_size={a['image_size']} "
              f"batch_size={a['batch_size']}")
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

    if args.arch is None and args.start_from is None and not args.resume:
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


COMMANDS = {"list": cmd_list, "train": cmd_train,
            **{name: getattr(model_commands, f"cmd_{name}") for name in (
                "sample", "translate", "restore", "evaluate", "export", "nearest",
                "interpolate", "project")}}


# Path errors that say the path given was wrong (exit code 2); other OSErrors (a full disk,
# permissions, I/O errors) are failures of the work (exit code 1).
BAD_PATH_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG,
                   errno.ELOOP}


def _error_line(error):
    """(exit code, message) of an error that ended a command."""
    from kerasgan.export import ExportError

    if isinstance(error, KeyboardInterrupt):
        return 130, "interrupted."
    if isinstance(error, (UsageError, ValueError)):
        return 2, one_line(error) or type(error).__name__
    if isinstance(error, OSError):
        bad_path = error.errno in BAD_PATH_ERRNOS or isinstance(
            error, (FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError))
        return (2 if bad_path else 1), one_line(os_error_text(error)) or type(error).__name__
    if out_of_memory(error):
        return 1, f"out of memory ({describe(error)}); use a smaller size, batch or --n."
    if isinstance(error, ExportError):
        return 1, one_line(error)
    return 1, f"{describe(error)} (run with --debug for the traceback)"


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
