"""The `kerasgan` command: list | train | sample | translate | evaluate | export.

Every error is one line on stderr, `kerasgan: error: ...`: exit code 2 for a mistake in what
was asked (a bad flag, path or model), 1 for a failure while doing it (a full disk, out of
memory, anything unexpected). `--debug` (or KERASGAN_DEBUG=1) shows the traceback instead.
"""
import argparse
import errno
import json
import math
import os
import platform
import random
import shlex
import shutil
import socket
import sys
import time

from kerasgan.errors import UsageError  # noqa: F401 - raised here, and kerasgan.cli.UsageError


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

    commands.add_parser("list", help="list the registered architectures")

    train = commands.add_parser("train", help="train an architecture on images")
    train.add_argument("arch", help="architecture name (see `kerasgan list`)")
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
                       help="Keras fit verbosity (1 = progress bar)")

    sample = commands.add_parser("sample", help="write a grid of generated images")
    sample.add_argument("model", help="run directory, .keras file or preset name")
    sample.add_argument("--n", type=_positive_int, default=64)
    sample.add_argument("--seed", type=int, default=0)
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
    from kerasgan import zoo

    for name in zoo.list():
        defaults = zoo.resolve_config(name)
        size = defaults.get("image_size")
        print(f"{name:<16} default image_size={size}")


def _arch_config(args, seed):
    """The architecture arguments the flags ask for."""
    config = dict(args.set)
    for key, value in (("image_size", args.image_size), ("channels", args.channels),
                       ("ema_decay", args.ema), ("d_steps", args.d_steps)):
        if value is not None:
            config[key] = value
    config["seed"] = seed
    return config


def _compile_args(args, gan, total_steps):
    """The architecture's recommended compile arguments, overridden by the flags given."""
    import keras

    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    if gan.task != "generation":
        unused = [flag for flag, value in (("--loss", args.loss), ("--r1-gamma", args.r1_gamma),
                                           ("--augment", args.augment), ("--lr", args.lr),
                                           ("--beta1", args.beta1)) if value is not None]
        if unused:
            raise UsageError(f"{', '.join(unused)} do not apply to {args.arch} (its own "
                             "losses; Adam(2e-4, 0.5) decaying linearly over the second half).")
        return {**gan.default_compile_args(args.batch_size, total_steps=total_steps),
                "jit_compile": jit, "precision": args.precision}

    compile_args = {"loss": "non_saturating", "r1_gamma": 0.0}
    compile_args.update(gan.default_compile_args(args.batch_size))
    if args.lr is not None or args.beta1 is not None:
        for key in ("d_optimizer", "g_optimizer"):
            adam = compile_args.get(key) or keras.optimizers.Adam(2e-4, beta_1=0.5)
            config = adam.get_config()
            config.update({k: v for k, v in (("learning_rate", args.lr), ("beta_1", args.beta1))
                           if v is not None})
            compile_args[key] = keras.optimizers.Adam.from_config(config)
    compile_args.update({k: v for k, v in (("loss", args.loss), ("r1_gamma", args.r1_gamma))
                         if v is not None})
    if args.augment is not None:  # else the architecture's recipe decides (fastgan: on)
        compile_args["augment"] = args.augment
    compile_args.update(jit_compile=jit, precision=args.precision)
    return compile_args


def _resumed_gan(args, checkpoint_dir):
    """The run's newest loadable checkpoint, its epoch and the run's training settings.

    `_resume_settings` has checked the run's architecture and the flags already."""
    from kerasgan import callbacks

    spec = _read_model_config(args.out, required=True)
    loaded = callbacks.load_latest_checkpoint(checkpoint_dir)
    if loaded is None:
        raise UsageError(f"--resume: no loadable checkpoint in {checkpoint_dir}; start the run "
                         "without --resume.")
    gan, epoch = loaded
    if gan.architecture is None:  # a checkpoint written before models kept their spec
        gan.architecture, gan.architecture_config = spec["architecture"], spec["config"]
    print(f"Resuming {args.out} from epoch {epoch} (step {int(gan.step.numpy())}).")
    return gan, epoch, dict(spec.get("train") or {})


def _check_writable(path):
    """Refuses an --out that cannot be created, before anything is written."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the run directory {path}: {existing} is not a writable "
                         "folder.")


# --------------------------------------------------------------------------- run folder
LOCK_FILE = ".kerasgan.lock"
_UNTIL_BUDGET = 10**6  # --epochs when only --minutes / --kimg ends the run
# Flags that define a run: on --resume the run's recorded value applies, and a different
# value given is refused. (dest, flag)
RUN_FLAGS = (("channels", "--channels"), ("ema", "--ema"), ("d_steps", "--d-steps"),
             ("seed", "--seed"), ("loss", "--loss"), ("r1_gamma", "--r1-gamma"),
             ("augment", "--augment"), ("lr", "--lr"), ("beta1", "--beta1"),
             ("precision", "--precision"), ("batch_size", "--batch-size"),
             ("steps_per_epoch", "--steps-per-epoch"), ("flip", "--flip"),
             ("resize", "--resize"), ("load_size", "--load-size"))
_UNKNOWN = object()


def _check_out_is_free(args):
    """Refuses a non-empty --out that is not a run being resumed (unless --overwrite): a
    user's folder, a copy of a preset, a finished run. Reads only."""
    from kerasgan import callbacks, zoo

    out = args.out
    if not os.path.isdir(out):
        return
    entries = sorted(e for e in os.listdir(out) if e != LOCK_FILE)
    if not entries or args.overwrite:
        return
    if callbacks.latest_checkpoint(os.path.join(out, "checkpoints")) is not None:
        raise UsageError(f"{out} already holds a run; pass --resume to continue it, "
                         "--overwrite to start it again, or choose another --out.")
    if zoo.CONFIG_FILE in entries:
        raise UsageError(f"{out} holds a kerasgan model ({zoo.CONFIG_FILE}) without checkpoints "
                         "to resume from (a finished run whose checkpoints were deleted, a "
                         "preset, or a run stopped in its first epoch); choose another --out, "
                         "or pass --overwrite to replace it.")
    shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
    raise UsageError(f"{out} is not empty ({shown}) and is not a kerasgan run; choose a new "
                     "or empty --out, or pass --overwrite to write the run into it (files of "
                     "the same names are replaced, other files stay).")


def _clear_previous_run(out):
    """--overwrite: removes the files a previous run left in `out` that the new run would
    not replace by name (checkpoints and sample grids of other epochs, an EMA generator
    this run may not have), so they cannot be taken for this run's. Nothing else."""
    from kerasgan import callbacks, zoo

    names = [zoo.CONFIG_FILE, zoo.METADATA_FILE]
    names += [name for name in os.listdir(out) if name.endswith(".weights.h5")]
    paths = [os.path.join(out, name) for name in names]
    checkpoints = os.path.join(out, "checkpoints")
    paths += [path for path, _ in callbacks.list_checkpoints(checkpoints)]
    paths.append(os.path.join(checkpoints, callbacks.FINGERPRINT_FILE))
    samples = os.path.join(out, "samples")
    if os.path.isdir(samples):
        paths += [os.path.join(samples, n) for n in os.listdir(samples)
                  if n.startswith("epoch-") and n.endswith(".png")]
    for path in paths:
        if os.path.isfile(path):
            os.remove(path)


def _remove_stale_temporaries(*folders):
    """Temporary files of a process killed while writing (the lock is ours: no one else is
    writing here)."""
    from kerasgan.callbacks import TEMP_PREFIX

    for folder in folders:
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                path = os.path.join(folder, name)
                if name.startswith(TEMP_PREFIX) and os.path.isfile(path):
                    os.remove(path)


def _process_alive(pid):
    """Whether process `pid` of this host runs (True when that cannot be told)."""
    # On Windows os.kill(pid, 0) would stop the process, and pid <= 0 means process groups.
    if os.name == "nt" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, as another user
        return True
    return True


def _lock_holder(path):
    """`{"pid", "host", "stale"}` of the lock at `path`, or None when there is none."""
    try:
        with open(path) as f:
            text = f.read()
        age = time.time() - os.path.getmtime(path)
    except FileNotFoundError:
        return None
    except OSError:
        return {"pid": None, "host": None, "stale": False}
    try:
        record = json.loads(text)
        pid, host = int(record["pid"]), str(record["host"])
    except (ValueError, KeyError, TypeError):  # being written now, or left so by a kill
        return {"pid": None, "host": None, "stale": age > 60}
    return {"pid": pid, "host": host,
            "stale": host == socket.gethostname() and not _process_alive(pid)}


def _lock_message(out, path, holder):
    if holder["pid"] is None:
        return (f"{out} is locked by another kerasgan process ({path} is being written or is "
                "damaged); if no kerasgan process is training there, delete that file.")
    return (f"{out} is being trained by another process (PID {holder['pid']} on "
            f"{holder['host']}, lock file {path}); wait for it to end, or delete the lock "
            "file if that process is gone.")


def _check_lock(out):
    """Refuses at once an --out that a live process trains into. Reads only."""
    path = os.path.join(out, LOCK_FILE)
    holder = _lock_holder(path)
    if holder is not None and not holder["stale"]:
        raise UsageError(_lock_message(out, path, holder))


def _take_lock(out, argv):
    """Creates `out/.kerasgan.lock` (O_CREAT | O_EXCL) holding this PID and host: one
    training process per run folder. A stale lock (a dead process of this host) is taken
    over with a warning. Returns what `_release_lock` needs."""
    created = not os.path.isdir(out)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, LOCK_FILE)
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": "kerasgan " + shlex.join(argv)}
    try:
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _lock_holder(path)
                if holder is not None and not holder["stale"]:
                    raise UsageError(_lock_message(out, path, holder))
                if holder is not None:
                    who = (f"process {holder['pid']} on {holder['host']}, which is no longer "
                           "running" if holder["pid"] is not None else "a damaged lock file")
                    print(f"kerasgan: warning: taking over the lock of {out} from {who}.",
                          file=sys.stderr)
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
                continue
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(record, f)
            except BaseException:
                os.unlink(path)
                raise
            return {"path": path, "out": out, "created": created, "record": record}
        raise UsageError(f"could not take the lock {path}: other processes keep taking it.")
    except BaseException:
        if created:
            _remove_if_empty(out)
        raise


def _release_lock(lock):
    """Removes our lock (not one another process took over), and the run folder if it was
    created for the lock and nothing else was written."""
    try:
        with open(lock["path"]) as f:
            ours = json.load(f) == lock["record"]
    except (OSError, ValueError):
        ours = False
    if ours:
        os.unlink(lock["path"])
    if lock["created"]:
        _remove_if_empty(lock["out"])


def _remove_if_empty(folder):
    try:
        os.rmdir(folder)
    except OSError:
        pass


def _given_flags(argv):
    """The train flags (dests) that `argv` gives explicitly."""
    parser = build_parser(_QuietParser)
    for action in parser.commands["train"]._actions:  # an argument left out is not set
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv))) - {"command", "debug"}


def _recorded_command(out):
    """The train flags of the run's recorded command (metadata.json), or None."""
    from kerasgan import zoo

    try:
        with open(os.path.join(out, zoo.METADATA_FILE)) as f:
            words = shlex.split(json.load(f)["command"])
        args = build_parser(_QuietParser).parse_args(words[1:])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, _ArgumentError):
        return None
    return args if args.command == "train" else None


def _same(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


def _shown(value):
    if value is None:
        return "none"
    if isinstance(value, dict):
        return "a schedule" if "class_name" in value else json.dumps(value)
    if isinstance(value, float):
        return f"{value:.6g}"  # 0.0002, not float32's 0.00019999999494757503
    return json.dumps(value) if isinstance(value, (list, str)) else str(value)


def _resume_settings(args):
    """--resume: the run's own settings. Flags that define the run (`RUN_FLAGS`, --set,
    --image-size) take the run's recorded values when not given; given with other values
    they are refused, all named in one line. --data/--data-b that differ and --jit are
    warned about. Reads only."""
    spec = _read_model_config(args.out, required=True)
    if spec["architecture"] != args.arch:
        raise UsageError(f"--resume: {args.out} holds a {spec['architecture']!r} run, not "
                         f"{args.arch!r}.")
    config, compiled = spec["config"], spec.get("compile") or {}
    train = spec.get("train") or {}
    given = _given_flags(args.argv)
    size = config.get("image_size")
    if "image_size" in given and args.image_size != size:
        raise UsageError(f"--resume: {args.out} was trained at --image-size {size}, not "
                         f"{args.image_size}.")

    def optimizer(key):
        value = (compiled.get("g_optimizer") or {})
        value = value.get("config", {}) if isinstance(value, dict) else {}
        return value.get(key) if isinstance(value, dict) else None

    recorded = {"channels": config.get("channels"), "ema": config.get("ema_decay"),
                "d_steps": config.get("d_steps", 1),
                "seed": train.get("seed", config.get("seed")),
                "loss": compiled.get("loss"), "r1_gamma": compiled.get("r1_gamma"),
                "augment": compiled.get("augment"), "precision": compiled.get("precision"),
                "lr": optimizer("learning_rate"), "beta1": optimizer("beta_1"),
                "steps_per_epoch": train.get("steps_per_epoch")}
    command = None
    for key in ("batch_size", "flip", "resize", "load_size", "data", "data_b"):
        if key in train:
            recorded[key] = train[key]
        else:  # a run recorded before these were kept in config.json: its command line
            command = command or _recorded_command(args.out) or False
            recorded[key] = getattr(command, key) if command else _UNKNOWN
    if not compiled:  # nothing recorded to compare with
        for key in ("loss", "r1_gamma", "augment", "precision", "lr", "beta1"):
            recorded[key] = _UNKNOWN
    if recorded["steps_per_epoch"] is None:
        recorded["steps_per_epoch"] = _UNKNOWN

    differ = []
    for dest, flag in RUN_FLAGS:
        if recorded[dest] is _UNKNOWN:
            continue
        if dest not in given:
            setattr(args, dest, recorded[dest])  # the run's own value
        elif not _same(getattr(args, dest), recorded[dest]):
            differ.append(f"{flag} {_shown(getattr(args, dest))} (the run has "
                          f"{_shown(recorded[dest])})")
    for key, value in args.set:
        if key not in config or not _same(value, config[key]):
            differ.append(f"--set {key}={_shown(value)} (the run has "
                          f"{_shown(config[key]) if key in config else 'no ' + key})")
    if differ:
        raise UsageError(f"--resume continues {args.out} with its own settings, and these "
                         f"flags differ from them: {'; '.join(differ)}. Leave them out to "
                         "resume, or start a new run in another --out.")
    for dest, flag in (("data", "--data"), ("data_b", "--data-b")):
        mine, theirs = getattr(args, dest), recorded[dest]
        if theirs is _UNKNOWN or theirs is None or mine is None:
            continue
        if mine != theirs and os.path.realpath(mine) != os.path.realpath(theirs):
            print(f"kerasgan: warning: {flag} {mine} is not the run's ({theirs}); resuming on "
                  "the data given (the resumed stream is exact only if it holds the same "
                  "images).", file=sys.stderr)
    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    if "jit" in given and compiled and jit != compiled.get("jit_compile"):
        print(f"kerasgan: warning: --jit is ignored with --resume: the run keeps "
              f"jit_compile={compiled.get('jit_compile')!r}.", file=sys.stderr)


def _check_set_values(args):
    """--set KEY=VALUE: known keys (zoo refuses others) of the architecture's types."""
    from kerasgan import zoo

    zoo.kind(args.arch)  # an unknown architecture: its one-line error, with the valid names
    for key, value in args.set:
        if key in ("name", "seed"):
            raise UsageError(f"--set {key}=...: not an architecture argument"
                             + (" (use --seed)." if key == "seed" else "."))
        problem = _arch_value_problem(args.arch, key, value)
        if problem:
            raise UsageError(f"--set {key}={_shown(value)}: {problem}.")


def _arch_value_problem(arch, key, value):
    """Why `value` cannot be argument `key` of architecture `arch` (from the type of its
    default), or None (also for keys this cannot tell)."""
    from kerasgan import zoo

    try:
        defaults = zoo.resolve_config(arch)
    except ValueError:
        return None
    default = defaults.get(key, {"d_steps": 1, "ema_decay": 0.5}.get(key))
    if default is None or (value is None and key == "ema_decay"):
        return None
    number = (int, float)
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok = isinstance(value, number) and not isinstance(value, bool) \
            and math.isfinite(value)
        expected = "a number"
    elif isinstance(default, str):
        ok, expected = isinstance(value, str), "a string"
    elif isinstance(default, list):
        ints = all(isinstance(v, int) for v in default)
        ok = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value) if ints \
            else isinstance(value, list)
        expected = "a list of integers, e.g. [128, 256]" if ints else "a list"
    else:
        return None
    return None if ok else f"expected {expected} (the default is {_shown(default)})"


def _physical_memory():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _bytes(n):
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _check_memory(nbytes, what, advice, fraction=0.25):
    """Refuses work that needs more than `fraction` of the machine's memory, up front."""
    total = _physical_memory()
    if total and nbytes > total * fraction:
        share = "all" if fraction >= 1 else f"a {'quarter' if fraction == 0.25 else fraction}"
        raise UsageError(f"{what} would need at least {_bytes(nbytes)} of memory, more than "
                         f"{share} of this machine's {_bytes(total)}; {advice}.")


def _training_bytes(arch, config, batch_size):
    """A low estimate of the memory training needs, for the architectures that accept any
    image size (dcgan and stylegan_lite refuse sizes they do not make), or None."""
    try:
        size, channels = int(config["image_size"]), int(config.get("channels") or 3)
        pixels = size * size * channels
        if arch == "vanilla":
            g = [int(config.get("latent_dim", 100)), *map(int, config.get("g_units")), pixels]
            d = [pixels, *map(int, config.get("d_units")), 1]
            params = sum(a * b + b for net in (g, d) for a, b in zip(net, net[1:]))
            # weights, gradients and Adam's two moments (+ the EMA copy), a few image batches
            copies = 4 + (1 if config.get("ema_decay") else 0)
            return params * 4 * copies + batch_size * pixels * 4 * 4
        if arch == "cyclegan":
            # ~16 full-size maps of base_channels kept per image for the backward pass of the
            # four networks, and the two history pools
            base = int(config.get("base_channels") or 64)
            return (batch_size * size * size * base * 4 * 16
                    + 2 * int(config.get("pool_size") or 0) * pixels * 4)
    except (KeyError, TypeError, ValueError):
        return None
    return None


def _create(arch, config):
    from kerasgan import zoo

    try:
        return zoo.create(arch, **config)  # checks the arguments; writes nothing
    except TypeError as error:  # an argument of the wrong type the checks let through
        raise UsageError(f"{arch} cannot be built with these arguments ({error}); check the "
                         "--set values.") from error


def _strategy(name, seed):
    """The tf.distribute strategy for --strategy; workers of `multiworker` come from TF_CONFIG."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise UsageError("--strategy multiworker needs TF_CONFIG describing the cluster "
                             "(see the README, 'Distributed training').")
        if seed is None:
            raise UsageError("--strategy multiworker needs --seed: every worker must shuffle "
                             "the data and draw the noise alike.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _is_chief():
    """Whether this process writes the run directory (one writer per cluster)."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = tf_config.get("task", {})
    if "chief" in tf_config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("index", 0) == 0


def cmd_train(args):
    import tempfile

    from kerasgan import zoo

    if args.epochs is None:
        budget = args.minutes is not None or args.kimg is not None
        args.epochs = _UNTIL_BUDGET if budget else 10
    if args.resume and args.overwrite:
        raise UsageError("--resume continues the run in --out and --overwrite replaces it; "
                         "pass one of them.")
    _check_writable(args.out)
    chief = _is_chief()
    # Checks that read only, before any TensorFlow work: nothing is written when one fails.
    if chief:
        _check_lock(args.out)
    if args.resume:
        _resume_settings(args)
    else:
        if chief:
            _check_out_is_free(args)
        _check_set_values(args)
    strategy = _strategy(args.strategy, args.seed)  # before any other TensorFlow work (multi-worker)
    if args.deterministic:
        import keras
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(args.seed or 0)
    # Other workers of a cluster write to a scratch folder: one writer per run directory.
    out = args.out if chief else tempfile.mkdtemp(prefix="kerasgan-worker-")
    checkpoint_dir = os.path.join(out, "checkpoints")
    with strategy.scope():
        if args.resume:
            gan, initial_epoch, train_config = _resumed_gan(args, checkpoint_dir)
            config = gan.spec["config"]
        else:
            seed = args.seed if args.seed is not None else random.randrange(2**31 - 1)
            config = zoo.resolve_config(args.arch, **_arch_config(args, seed))
            estimate = _training_bytes(args.arch, config, args.batch_size)
            if estimate:
                _check_memory(estimate, f"training {args.arch} at --image-size "
                              f"{config['image_size']} (batch {args.batch_size})",
                              "use a smaller --image-size, --batch-size or network", 1.0)
            gan = _create(args.arch, config)
            initial_epoch = 0
            train_config = {"seed": seed, "batch_size": args.batch_size, "flip": args.flip,
                            "resize": args.resize, "load_size": args.load_size,
                            "data": str(args.data), "data_b": args.data_b}
    if initial_epoch >= args.epochs:
        raise UsageError(f"--resume: the run already finished {initial_epoch} epochs; raise "
                         f"--epochs above {initial_epoch} to train more.")
    steps = train_config.get("steps_per_epoch") or args.steps_per_epoch
    # One batch a step: the step counter says where the stream goes on, also after an epoch
    # that a budget cut short.
    dataset = _training_data(args, config, train_config["seed"], int(gan.step.numpy()))
    train_config["steps_per_epoch"] = steps = steps or dataset.batches_per_epoch
    if not args.resume:  # after the data: nothing is written when the data is unusable
        with strategy.scope():
            if args.epochs == _UNTIL_BUDGET and args.arch == "cyclegan":
                raise UsageError("cyclegan's learning rate decays over the run: give --epochs "
                                 "with --minutes or --kimg.")
            gan.compile(**_compile_args(args, gan, total_steps=args.epochs * steps))
    lock = _take_lock(out, args.argv) if chief else None  # the first write into --out
    try:
        if args.overwrite:
            _clear_previous_run(out)
        _remove_stale_temporaries(checkpoint_dir, os.path.join(out, "samples"))
        if not args.resume:
            zoo.save_config(gan, out, train=train_config)
        return _fit(args, gan, out, dataset, steps, initial_epoch, train_config)
    finally:
        if lock is not None:
            _release_lock(lock)


def _fit(args, gan, out, dataset, steps, initial_epoch, train_config):
    from kerasgan import callbacks, zoo

    checkpoint_dir = os.path.join(out, "checkpoints")
    samples = _sample_callback(args, gan, dataset, os.path.join(out, "samples"))
    if args.verbose:
        print(f"Precision: {_precision_line(gan)}; decoded images cached in "
              f"{dataset.cache_kind}")
    nan_stop = callbacks.StopOnNaN()
    budget = callbacks.TrainingBudget(args.minutes, args.kimg, args.batch_size)
    started = time.time()
    gan.fit(dataset, epochs=args.epochs, steps_per_epoch=steps,
            initial_epoch=initial_epoch, shuffle=False, verbose=args.verbose,
            callbacks=[nan_stop, budget, callbacks.Checkpoint(checkpoint_dir), samples])
    if nan_stop.stopped is not None:
        print(f"kerasgan: error: {nan_stop.message}", file=sys.stderr)
        return 1
    if budget.stopped:
        print(f"Stopped after {budget.stopped} (step {int(gan.step.numpy())}); --resume "
              "continues the run.")
    metadata = _run_metadata(args, gan, time.time() - started)
    zoo.save(gan, out, metadata=metadata, train=train_config)
    if out != args.out:
        shutil.rmtree(out, ignore_errors=True)
        return 0
    print(f"Trained {metadata['steps']} steps in {metadata['wall_time_s']:.0f} s.")
    print(f"Model: {os.path.abspath(out)}  (load with kerasgan.zoo.load)")
    if samples.last_path:
        print(f"Sample grid: {os.path.abspath(samples.last_path)}")
    return 0


def _training_data(args, config, seed, skip_batches):
    """An endless stream keyed by (seed, pass): a resumed run continues it exactly."""
    from kerasgan import data, zoo

    common = dict(image_size=config["image_size"], channels=config.get("channels", 3),
                  batch_size=args.batch_size, flip=args.flip, seed=seed, repeat=True,
                  skip_batches=skip_batches, resize=args.resize, strict=args.strict,
                  cache=args.cache)
    if zoo.kind(args.arch) == "translation":
        if not args.data_b:
            raise UsageError(f"{args.arch} learns to translate between two image folders: "
                             "pass domain A as --data and domain B as --data-b.")
        return data.unpaired_dataset(args.data, args.data_b, load_size=args.load_size,
                                     **common)
    if args.load_size:
        raise UsageError(f"--load-size is for image-to-image models; {args.arch} trains on "
                         "whole images.")
    if args.data_b:
        raise UsageError(f"--data-b is for image-to-image models; {args.arch} generates "
                         "images from latents.")
    return data.image_dataset(args.data, data_dir=args.data_dir, download=args.download,
                              **common)


def _sample_callback(args, gan, dataset, directory):
    from kerasgan import callbacks

    if gan.task == "translation":
        from kerasgan.callbacks import TranslationGrid

        images_a, images_b = (x.numpy()[:4] for x in next(iter(dataset.take(1))))
        return TranslationGrid(directory, images_a, images_b, every_n_epochs=args.sample_every)
    return callbacks.SampleGrid(directory, every_n_epochs=args.sample_every)


def _run_metadata(args, gan, seconds):
    import keras
    import tensorflow as tf
    import kerasgan

    previous = {}
    path = os.path.join(args.out, "metadata.json")
    if args.resume and os.path.isfile(path):
        try:
            with open(path) as f:
                previous = dict(json.load(f))
        except (OSError, ValueError, TypeError):  # a damaged file must not lose the run
            print(f"kerasgan: warning: {path} could not be read; the wall time counts this "
                  "session only.", file=sys.stderr)
    return {
        "architecture": gan.spec["architecture"],
        "command": "kerasgan " + shlex.join(args.argv),
        "data": str(args.data),
        "steps": int(gan.step.numpy()),
        "epochs": args.epochs if args.epochs != _UNTIL_BUDGET else None,
        "budget": {"minutes": args.minutes, "kimg": args.kimg},
        "batch_size": args.batch_size,
        "precision": gan.compute_precision,
        "wall_time_s": round(_number(previous.get("wall_time_s")) + seconds, 1),
        "hardware": f"{_cpu_name()}, {os.cpu_count()} cpus",
        "kerasgan_version": kerasgan.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }


def _number(value):
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else 0.0


def _precision_line(gan):
    from kerasgan import precision

    if gan.precision != "auto":
        return gan.compute_precision
    return f"{gan.compute_precision} (auto: {precision.auto()[1]})"


def _cpu_name():
    """The CPU model (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}".strip()


# --------------------------------------------------------------------------- models
def _json_type(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(value), "a number")


def _read_model_config(folder, required=False):
    """`folder/config.json` checked: valid JSON of the right shape (architecture a known
    name, config an object whose values have the builder's types). None when there is none
    (FileNotFoundError with `required`)."""
    from kerasgan import zoo

    path = os.path.join(folder, zoo.CONFIG_FILE)
    if not os.path.isfile(path):
        if required:
            zoo.read_config(folder)  # its FileNotFoundError says what a model folder is
        return None
    damaged = f"{path} is damaged"
    try:
        with open(path, "rb") as f:
            spec = json.loads(f.read().decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{damaged}: it is not text.") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{damaged}: not valid JSON ({error.msg} at line {error.lineno}, "
                         f"column {error.colno}).") from None
    if not isinstance(spec, dict):
        raise UsageError(f"{damaged}: expected a JSON object, got {_json_type(spec)}.")
    arch = spec.get("architecture")
    if not isinstance(arch, str):
        raise UsageError(f'{damaged}: "architecture" must be a string, got '
                         f"{_json_type(arch)}.")
    for key in ("config", "compile", "train"):  # "compile" and "train" may be absent
        value = spec.get(key)
        if not isinstance(value, dict) and (key == "config" or value is not None):
            raise UsageError(f'{damaged}: "{key}" must be a JSON object, got '
                             f"{_json_type(value) if key in spec else 'nothing'}.")
    if arch in zoo.list():  # an unknown name: zoo's error lists the valid ones
        for key, value in spec["config"].items():
            problem = _arch_value_problem(arch, key, value)
            if problem:
                raise UsageError(f'{damaged}: "config" {key} = {_shown(value)}: {problem}.')
    return spec


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
    if command in ("sample", "evaluate") and model.task != "generation":
        raise UsageError(f"{source} is an image-to-image model ({model.architecture or model.task})"
                         f": it translates images and has no latents to sample for `kerasgan "
                         f"{command}`; use `kerasgan translate`.")
    if command == "translate" and model.task != "translation":
        raise UsageError(f"{source} generates images from latents; translate needs an "
                         "image-to-image model such as cyclegan (use `kerasgan sample`).")


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
    images = gan.generate(args.n, seed=args.seed)
    if args.out.lower().endswith(".npz"):  # raw samples in [-1, 1], e.g. for a KID/FID tool
        with callbacks.atomic_file(args.out) as tmp:  # the old file stays until it is done
            with open(tmp, "wb") as f:
                np.savez_compressed(f, images=images)
        path = args.out
    else:
        path = callbacks.save_grid(images, args.out)
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
    translation = model.task == "translation"
    if not translation and (args.image_size or args.calibration_data):
        raise UsageError("--image-size and --calibration-data apply to image-to-image models "
                         "(cyclegan) only.")
    if translation:
        size = args.image_size or model.image_size
        per_item = 2 * size * size * model.channels
    else:
        per_item = gan_pixels = math.prod(model.image_shape)
        per_item += model.latent_dim + gan_pixels // model.image_shape[-1]  # latent, noise
    _check_memory(args.batch_size * per_item * 4 * 8, f"--batch-size {args.batch_size}",
                  "use a smaller --batch-size")
    # export.export checks every other argument before any work, writes into a temporary
    # folder next to --out and moves the artifacts in at the end.
    report = export.export(model, args.out, formats=args.formats, quantizations=args.quantize,
                           batch_size=args.batch_size, uint8_images=args.uint8,
                           directions=args.direction, truncation_psi=args.truncation_psi,
                           calibration_images=_calibration_images(args, model),
                           image_size=args.image_size, latency_threads=args.threads,
                           source=args.model)
    print(f"{'artifact':<34} {'size':>10} {'max err':>9} {'mean err':>9} {'tol':>8}  latency")
    for artifact in report["artifacts"]:
        latency = ", ".join(f"{ms:.2f} ms ({t} thr)" for t, ms in
                            artifact.get("latency_ms_per_image", {}).items())
        print(f"{artifact['path']:<34} {artifact['size_bytes'] / 1e6:>8.2f}MB "
              f"{artifact['max_abs_error']:>9.2e} {artifact['mean_abs_error']:>9.2e} "
              f"{artifact['tolerance']:>8.1e}  {latency}")
    bad = export.flagged(report)
    for artifact in bad:
        print(f"kerasgan: warning: {artifact['path']}: max abs error "
              f"{artifact['max_abs_error']:.3g} exceeds the tolerance {artifact['tolerance']:.3g}",
              file=sys.stderr)
    print(f"Wrote {os.path.join(os.path.abspath(args.out), export.REPORT_FILE)}")
    return 1 if bad and args.strict else 0


COMMANDS = {"list": cmd_list, "train": cmd_train, "sample": cmd_sample,
            "translate": cmd_translate, "evaluate": cmd_evaluate, "export": cmd_export}


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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in the run's metadata
    try:
        return COMMANDS[args.command](args) or 0
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - one line, or --debug
        if _debug_requested(args):
            raise
        code, message = _error_line(error)
        print(f"kerasgan: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
