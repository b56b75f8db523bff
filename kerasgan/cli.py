"""The `kerasgan` command: list | train | sample | translate | evaluate | export."""
import argparse
import json
import os
import platform
import random
import shlex
import shutil
import sys
import time


class UsageError(Exception):
    """A mistake in what the user asked for: printed as one line, exit code 2."""


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _key_value(text):
    """`KEY=VALUE` with VALUE parsed as JSON when it can be (numbers, lists, true/false)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser():
    parser = argparse.ArgumentParser(prog="kerasgan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="list the registered architectures")

    train = commands.add_parser("train", help="train an architecture on images")
    train.add_argument("arch", help="architecture name (see `kerasgan list`)")
    train.add_argument("--data", required=True,
                       help="image folder, .npz/.npy file, or tfds:NAME[:SPLIT]")
    train.add_argument("--data-b", help="domain B images, for image-to-image models (cyclegan): "
                                        "--data is domain A")
    train.add_argument("--out", required=True, help="run directory to write")
    train.add_argument("--image-size", type=_positive_int, help="default: the architecture's")
    train.add_argument("--channels", type=int, choices=(1, 3), help="default: the architecture's")
    train.add_argument("--epochs", type=_positive_int, default=10)
    train.add_argument("--steps-per-epoch", type=_positive_int,
                       help="steps per epoch (the data repeats); default: one pass over the data")
    train.add_argument("--batch-size", type=_positive_int, default=64)
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint")
    train.add_argument("--loss",
                       help="non_saturating | minimax | hinge | wasserstein | least_squares "
                            "(default: the architecture's, else non_saturating)")
    train.add_argument("--d-steps", type=_positive_int,
                       help="discriminator updates per generator update")
    train.add_argument("--r1-gamma", type=float, help="R1 penalty weight (default: the "
                                                        "architecture's, else 0)")
    train.add_argument("--augment", nargs="?", const="diffaugment", metavar="NAME",
                       help="differentiable augmentation of every discriminator input, for "
                            "small data sets (default when given: diffaugment)")
    train.add_argument("--ema", type=float, metavar="DECAY",
                       help="keep an EMA of the generator with this decay (e.g. 0.999)")
    train.add_argument("--lr", type=float, help="Adam learning rate of both networks "
                                                  "(default: the architecture's, else 2e-4)")
    train.add_argument("--beta1", type=float, help="Adam beta_1 (default: the "
                                                   "architecture's, else 0.5)")
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
                        help="PNG grid to write, or .npz for the raw images in [-1, 1]")
    translate = commands.add_parser("translate", help="translate an image with an image-to-image "
                                                      "model (cyclegan)")
    translate.add_argument("model", help="run directory, .keras file or preset name")
    translate.add_argument("image", help="the image file to translate")
    translate.add_argument("--direction", choices=("a2b", "b2a"), default="a2b")
    translate.add_argument("--out", required=True, help="PNG file to write")

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
    export.add_argument("--out", required=True, help="directory for the artifacts and "
                                                     "export_report.json")
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
    export.add_argument("--truncation-psi", type=float, default=1.0,
                        help="StyleGAN: truncation baked into the artifact (default 1: off)")
    export.add_argument("--threads", type=_choices(None, int), default=[1],
                        help="LiteRT threads to time, comma-separated (default 1)")
    export.add_argument("--strict", action="store_true",
                        help="exit 1 when an artifact's error exceeds its tolerance")
    return parser


def _choices(allowed, convert=str):
    """A comma-separated list of values from `allowed` (any value when None)."""
    def parse(text):
        try:
            values = [convert(v.strip()) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad or not values:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated values from {', '.join(allowed)}, got {text!r}")
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
    if gan.__class__.__name__ == "CycleGAN":
        unused = [flag for flag, value in (("--loss", args.loss), ("--r1-gamma", args.r1_gamma),
                                           ("--augment", args.augment), ("--lr", args.lr),
                                           ("--beta1", args.beta1)) if value is not None]
        if unused:
            raise UsageError(f"{', '.join(unused)} do not apply to {args.arch} (least-squares "
                             "loss, Adam(2e-4, 0.5) decaying linearly over the second half).")
        return {"total_steps": total_steps, "jit_compile": jit, "precision": args.precision}

    compile_args = {"loss": "non_saturating", "r1_gamma": 0.0}
    if hasattr(gan, "default_compile_args"):
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
    compile_args.update(augment=args.augment, jit_compile=jit, precision=args.precision)
    return compile_args


def _resumed_gan(args, checkpoint_dir):
    """The run's newest loadable checkpoint, its epoch and the run's training settings."""
    from kerasgan import callbacks, zoo

    spec = zoo.read_config(args.out)
    if spec["architecture"] != args.arch:
        raise UsageError(f"--resume: {args.out} holds a {spec['architecture']!r} run, not "
                         f"{args.arch!r}.")
    size = spec["config"].get("image_size")
    if args.image_size and args.image_size != size:
        raise UsageError(f"--resume: {args.out} was trained at --image-size {size}, not "
                         f"{args.image_size}.")
    loaded = callbacks.load_latest_checkpoint(checkpoint_dir)
    if loaded is None:
        raise UsageError(f"--resume: no loadable checkpoint in {checkpoint_dir}; start the run "
                         "without --resume.")
    gan, epoch = loaded
    gan.spec = {"architecture": spec["architecture"], "config": spec["config"]}
    print(f"Resuming {args.out} from epoch {epoch} (step {int(gan.step.numpy())}).")
    return gan, epoch, spec.get("train", {})


def _check_writable(path):
    """Refuses an --out that cannot be created, before anything is written."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the run directory {path}: {existing} is not a writable "
                         "folder.")


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

    from kerasgan import callbacks, data, zoo

    _check_writable(args.out)
    strategy = _strategy(args.strategy, args.seed)  # before any other TensorFlow work (multi-worker)
    if args.deterministic:
        import keras
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(args.seed or 0)
    # Other workers of a cluster write to a scratch folder: one writer per run directory.
    out = args.out if _is_chief() else tempfile.mkdtemp(prefix="kerasgan-worker-")
    checkpoint_dir = os.path.join(out, "checkpoints")
    with strategy.scope():
        if args.resume:
            gan, initial_epoch, train_config = _resumed_gan(args, checkpoint_dir)
            config = gan.spec["config"]
        else:
            if callbacks.latest_checkpoint(checkpoint_dir) is not None:
                raise UsageError(f"{args.out} already holds a run; pass --resume to continue it "
                                 "or choose another --out.")
            seed = args.seed if args.seed is not None else random.randrange(2**31 - 1)
            config = zoo.resolve_config(args.arch, **_arch_config(args, seed))
            gan = zoo.create(args.arch, **config)  # checks the arguments; writes nothing
            initial_epoch, train_config = 0, {"seed": seed}
    if initial_epoch >= args.epochs:
        raise UsageError(f"--resume: the run already finished {initial_epoch} epochs; raise "
                         f"--epochs above {initial_epoch} to train more.")
    steps = train_config.get("steps_per_epoch") or args.steps_per_epoch
    dataset = _training_data(args, config, train_config["seed"], initial_epoch * (steps or 0))
    train_config["steps_per_epoch"] = steps = steps or dataset.batches_per_epoch
    if not args.resume:  # after the data: nothing is written when the data is unusable
        with strategy.scope():
            gan.compile(**_compile_args(args, gan, total_steps=args.epochs * steps))
        zoo.save_config(gan, out, train=train_config)
    samples = _sample_callback(args, gan, dataset, os.path.join(out, "samples"))
    if args.verbose:
        print(f"Precision: {_precision_line(gan)}; decoded images cached in "
              f"{dataset.cache_kind}")
    nan_stop = callbacks.StopOnNaN()
    started = time.time()
    gan.fit(dataset, epochs=args.epochs, steps_per_epoch=steps,
            initial_epoch=initial_epoch, shuffle=False, verbose=args.verbose,
            callbacks=[nan_stop, callbacks.Checkpoint(checkpoint_dir), samples])
    if nan_stop.stopped is not None:
        print(f"kerasgan: error: {nan_stop.message}", file=sys.stderr)
        return 1
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

    if hasattr(gan, "translate"):
        from kerasgan.models.cyclegan import TranslationGrid

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
        with open(path) as f:
            previous = json.load(f)
    return {
        "architecture": gan.spec["architecture"],
        "command": "kerasgan " + shlex.join(args.argv),
        "data": str(args.data),
        "steps": int(gan.step.numpy()),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "precision": gan.compute_precision,
        "wall_time_s": round(previous.get("wall_time_s", 0.0) + seconds, 1),
        "hardware": f"{_cpu_name()}, {os.cpu_count()} cpus",
        "kerasgan_version": kerasgan.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }


def _precision_line(gan):
    from kerasgan import precision

    if gan.precision != "auto":
        return gan.compute_precision
    return f"{gan.compute_precision} (auto: {precision.native_bfloat16()[1]})"


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


def cmd_sample(args):
    from kerasgan import callbacks, zoo

    gan = zoo.load(args.model)
    images = gan.generate(args.n, seed=args.seed)
    if args.out.endswith(".npz"):  # raw samples in [-1, 1], e.g. for a KID/FID tool
        import numpy as np

        np.savez_compressed(args.out, images=images)
        path = args.out
    else:
        path = callbacks.save_grid(images, args.out)
    print(f"Wrote {args.n} samples to {os.path.abspath(path)}")
    return 0


def cmd_translate(args):
    import numpy as np
    from PIL import Image

    from kerasgan import data, zoo

    model = zoo.load(args.model)
    if not hasattr(model, "translate"):
        raise UsageError(f"{args.model} generates images from latents; translate needs an "
                         "image-to-image model such as cyclegan (use `kerasgan sample`).")
    image = data.load_image(args.image).astype("float32") / 127.5 - 1.0  # DataError if bad
    result = model.translate(image, direction=args.direction)
    pixels = np.clip((result + 1.0) * 127.5 + 0.5, 0, 255).astype("uint8")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    Image.fromarray(pixels).save(args.out)
    print(f"Wrote {os.path.abspath(args.out)} ({pixels.shape[1]}x{pixels.shape[0]}, "
          f"{args.direction})")
    return 0


def _feature_extractor(args):
    import keras
    from kerasgan import metrics

    if args.features:
        return keras.models.load_model(args.features)  # safe_mode stays on
    try:
        return metrics.inception_v3(weights=args.inception_weights or "imagenet")
    except RuntimeError as error:
        raise UsageError(f"{error} On the command line: --inception-weights PATH, or "
                         "--features MODEL.keras for another feature extractor.") from error


def cmd_evaluate(args):
    from kerasgan import data, metrics, zoo

    gan = zoo.load(args.model)
    extractor = _feature_extractor(args)
    height, _, channels = gan.image_shape
    real = data.image_dataset(args.data, image_size=height, channels=channels,
                              batch_size=min(50, args.n), shuffle=False)
    result = metrics.evaluate(gan, real, n=args.n, feature_extractor=extractor, seed=args.seed)
    result.update(data=str(args.data), features=args.features or "inception_v3",
                  command="kerasgan " + shlex.join(args.argv))
    print(json.dumps(result, indent=2))
    if os.path.isdir(args.model):  # results live next to the run
        path = os.path.join(args.model, "evaluation.json")
        history = json.load(open(path)) if os.path.isfile(path) else []
        with open(path + ".tmp", "w") as f:
            json.dump(history + [result], f, indent=2)
        os.replace(path + ".tmp", path)
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
    from kerasgan import export, zoo

    model = zoo.load(args.model)
    if args.truncation_psi != 1.0 and not hasattr(model, "noise_shapes"):
        raise UsageError("--truncation-psi applies to StyleGAN models only.")
    translation = hasattr(model, "translate")
    if not translation and (args.image_size or args.calibration_data):
        raise UsageError("--image-size and --calibration-data apply to image-to-image models "
                         "(cyclegan) only.")
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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in the run's metadata
    try:
        return COMMANDS[args.command](args) or 0
    except (UsageError, ValueError, FileNotFoundError) as error:
        print(f"kerasgan: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
