"""A training run: what `kerasgan train` does, for the command line and for Python.

`train(arch, data=..., out=..., ...)`, or `run(TrainSettings(...))` with the settings as
one object, checks the run folder and the settings (nothing is written when one is
refused: `UsageError`), builds or resumes the model, trains it with a checkpoint every
epoch, sample grids and the budgets (`minutes`, `kimg`), and writes the model folder with
its metadata.json. The data stream is keyed by the seed and the model's step, so a resumed
run goes on with the very batches an uninterrupted one would see.

Why one module of ~850 lines: the run is one sequence that reads top to bottom (settings and
their checks, the model made, resumed or fine-tuned, its compile arguments, the data, the fit
with its callbacks, the metadata), and each step reads the settings the ones before it
resolved. What is about the run folder (locks, resume settings, checkpoints on disk) is
`kerasgan.runs` already.
"""
import dataclasses
import json
import math
import numbers
import os
import platform
import random
import shutil
import sys
import time

from kerasgan.errors import TrainingDiverged, UsageError
from kerasgan.runs import (SNAPSHOT_FOLDER, _check_lock, _check_out_is_free, _check_set_values,
                           _check_writable, _clear_previous_run, _read_model_config, _release_lock,
                           _remove_stale_temporaries, _resume_defaults, _resume_settings,
                           _take_lock)

_UNTIL_BUDGET = 10**6  # --epochs when only --minutes / --kimg ends the run
_POSITIVE_INTS = ("image_size", "epochs", "steps_per_epoch", "batch_size", "d_steps",
                  "load_size", "sample_every", "snapshot_every", "freeze_d")
# name: (low, high, low_open, high_open), as the flags check them
_NUMBERS = {"minutes": (0.0, math.inf, True, False), "kimg": (0.0, math.inf, True, False),
            "r1_gamma": (0.0, math.inf, False, False), "ema": (0.0, 1.0, True, True),
            "lr": (0.0, math.inf, True, False), "beta1": (0.0, 1.0, False, True)}
_CHOICES = {"channels": (1, 3), "jit": ("auto", "on", "off"),
            "precision": ("auto", "float32", "mixed_bfloat16", "mixed_float16"),
            "resize": ("crop", "pad"), "cache": ("auto", "memory", "disk"),
            "strategy": ("none", "mirrored", "multiworker"), "verbose": (0, 1, 2)}
_FLAGS = ("resume", "overwrite", "flip", "strict", "download", "deterministic", "tensorboard",
          "conditional", "paired")
_NOT_SETTINGS = ("arch", "given", "command_line")


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """The settings of a training run: the flags of `kerasgan train` (by their argparse
    names: `--image-size` is `image_size`, `--set` is `set`), with the same defaults and the
    same checks (`UsageError`). See `kerasgan train --help` for each.

    `set` holds the architecture arguments, as a dict or as (KEY, VALUE) pairs like the
    repeated `--set KEY=VALUE`. `given` names the fields given explicitly: with `resume`
    those must agree with the run's own settings, and the others take the run's values
    (None: the fields that differ from their defaults). `command_line` is what the lock
    file and metadata.json record as the command (None: the `kerasgan.train(...)` call).
    """

    arch: str | None  # None: --from's or, with --resume, the run's
    data: str | None  # None with --resume: the run's
    out: str
    data_b: str | None = None
    image_size: int | None = None
    channels: int | None = None
    epochs: int | None = None
    minutes: float | None = None
    kimg: float | None = None
    steps_per_epoch: int | None = None
    batch_size: int | None = None  # None: the architecture's (`zoo.default_batch_size`)
    resume: bool = False
    overwrite: bool = False
    loss: str | None = None
    d_steps: int | None = None
    r1_gamma: float | None = None
    augment: str | None = None
    ema: float | None = None
    lr: float | None = None
    beta1: float | None = None
    jit: str = "auto"
    precision: str = "auto"
    seed: int | None = None
    set: tuple = ()
    compile_set: tuple = ()
    load_size: int | None = None
    resize: str = "crop"
    flip: bool = False
    cache: str = "auto"
    strict: bool = False
    data_dir: str | None = None
    download: bool = False
    sample_every: int = 1
    snapshot_every: int | None = None
    strategy: str = "none"
    deterministic: bool = False
    verbose: int = 1
    start_from: str | None = None
    freeze_d: int | None = None
    tensorboard: bool = False
    conditional: bool = False
    paired: bool = False
    given: frozenset | None = None
    command_line: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "set", _key_value_pairs(self.set, "set", "architecture",
                                                         _listed))
        object.__setattr__(self, "compile_set", _key_value_pairs(
            self.compile_set, "compile_set", "compile", lambda value: value))
        if self.given is not None:
            object.__setattr__(self, "given", frozenset(self.given))

    def given_fields(self):
        """The fields given explicitly: `given`, else those that differ from their default."""
        if self.given is not None:
            return self.given
        return frozenset(field.name for field in dataclasses.fields(self)
                         if field.name not in _NOT_SETTINGS
                         and getattr(self, field.name) != field.default)


def train(arch=None, *, data=None, out, config=None, data_b=None, image_size=None,
          channels=None, epochs=None, minutes=None, kimg=None, steps_per_epoch=None,
          batch_size=None, resume=False, overwrite=False, seed=None, loss=None, d_steps=None,
          r1_gamma=None, augment=None, ema=None, lr=None, beta1=None, precision=None, jit=None,
          load_size=None, resize=None, flip=False, cache=None, strict=False, data_dir=None,
          download=False, sample_every=None, snapshot_every=None, strategy=None,
          deterministic=False, verbose=None, start_from=None, freeze_d=None, tensorboard=False, conditional=False,
          compile_set=None, paired=False):
    """Trains architecture `arch` on `data` into the run folder `out`, as `kerasgan train`
    does, and returns the trained model.

    `out` must be new or empty (or `overwrite=True`), and is locked while the run trains
    (`out/.kerasgan.lock`). The run writes a checkpoint every epoch and a sample grid every
    `sample_every` epochs and each epoch's logs to history.jsonl, stops at the `minutes` or
    `kimg` budget if given, and ends with the model folder (`kerasgan.zoo.load(out)`), its
    metadata.json and losses.png (every logged loss per epoch, over the whole run).
    `resume=True` continues the run in `out` from its newest loadable checkpoint, exactly
    where it stopped (mid-epoch too: the data stream is keyed by the model's step), with the
    run's own settings: the arguments that define the run (`config`, `image_size`,
    `batch_size`, `seed`, `loss`, `lr`, ...) may be left out, and one given with another
    value than the run's is refused; `arch` and `data` left out are the run's too.

    Args:
        arch: the architecture (`kerasgan.zoo.list()`); None with `start_from` (its
            architecture) or `resume` (the run's).
        data: image folder, .npz/.npy file or "tfds:NAME[:SPLIT]"; domain A for cyclegan,
            cut and pix2pix.
            None with `resume`: the data the run recorded (and its `data_b`).
        out: the run folder to write.
        config: architecture arguments, e.g. `{"base_channels": 32}` (`--set KEY=VALUE`).
        data_b: domain B images, for image-to-image models (cyclegan, cut, pix2pix).
        image_size, channels: default: the architecture's.
        epochs: default 10; with `minutes` or `kimg`, until the budget is spent. With
            `resume`, the new total.
        minutes: stop after this many minutes of training in this call (checkpointed).
        kimg: stop once the run has trained on this many thousand images in all.
        steps_per_epoch: default: one pass over the data (the data repeats).
        batch_size: default: the architecture's recipe's (`zoo.default_batch_size`:
            fastgan, pix2pix and inpainting 16, cyclegan 1, the others 64), also with
            `start_from`; with `resume`, the run's.
        resume: continue the run in `out`.
        overwrite: start a new run in a non-empty `out`: a previous run's files there are
            replaced, other files stay.
        seed: of the training noise and shuffling (default: drawn, and recorded).
        loss, d_steps, r1_gamma, augment, ema, lr, beta1: the recipe (default: the
            architecture's; see `kerasgan train --help`). `augment`: e.g. "diffaugment";
            "none" turns off the architecture's own (fastgan's "ada").
        precision: "auto" (default), "float32", "mixed_bfloat16" or "mixed_float16".
        jit: XLA for the train step: "auto" (default: on with a GPU), "on" or "off".
        load_size: image-to-image models: images are loaded at this size and randomly
            cropped to `image_size`.
        resize: "crop" (default) or "pad": how non-square images are made square.
        flip: random horizontal flips.
        cache: where decoded images are kept: "auto" (default), "memory" or "disk".
        strict: refuse bad image files instead of skipping them.
        data_dir, download: tensorflow-datasets options for "tfds:NAME".
        sample_every: write a sample grid every this many epochs (default 1).
        snapshot_every: also keep the checkpoint of every this many epochs, in
            `out/snapshots/` (default: none; only the newest two checkpoints are kept).
        strategy: "none" (default), "mirrored" (all local GPUs) or "multiworker".
        deterministic: TensorFlow op determinism: the same seed gives the same weights.
        verbose: Keras fit verbosity: 0, 1 (default, a progress bar) or 2.
        start_from: fine-tune: a preset name or a model folder (a finished run) whose
            weights (every network, the EMA generator too) and architecture config the run
            starts from; `arch` may be None (the source's). The step counter starts at 0,
            and without `lr` the learning rates are the recommended ones times the
            model's `fine_tune_lr_scale` (half; fastgan's: the full rate). `image_size`
            and `config` must agree with the source's.
            `arch="cut"` may start from a cyclegan: its G and D_B (`CUT.from_cyclegan`).
        freeze_d: fine-tune with the discriminator's first `freeze_d` convolutions (and
            the layers before them) frozen (FreezeD, Mo et al. 2020).
        tensorboard: log the losses and learning rates (`out/tensorboard/train`) and the
            sample grids (`out/tensorboard/samples`) per epoch for TensorBoard; needs the
            tensorboard package.
        compile_set: arguments of the model's `compile` beyond the ones above, e.g.
            `{"l1_weight": 1000}` for inpainting (`--compile KEY=VALUE`).
        conditional: train a class-conditional model (vanilla, dcgan, stylegan_lite): the
            classes are `data`'s class sub-folders, or its .npz's labels (see
            `kerasgan.data.image_dataset(labels="inferred")`), saved with the model.
        paired: the images of `data` and `data_b` are aligned pairs, matched by file name
            (`kerasgan.data.paired_dataset`); implied by the architectures that learn from
            pairs (pix2pix), refused for the others.

    Returns:
        The trained model (`kerasgan.GAN`, or `CycleGAN` for cyclegan), as saved in `out`.

    Raises:
        kerasgan.errors.UsageError: arguments, data or a run folder that cannot be used, in
            the command's one-line words (`--image-size` is `image_size`); raised before
            anything is written.
        kerasgan.errors.TrainingDiverged: a loss became NaN or infinite; the checkpoints
            from before it stay.

    Example:
        >>> import kerasgan
        >>> gan = kerasgan.train("fastgan", data="art/", out="runs/art", image_size=64,
        ...                      minutes=30)
        >>> gan = kerasgan.train(out="runs/art", minutes=30, resume=True)  # 30 more minutes,
        ...                      # from where it stopped, with the run's own settings
        >>> kerasgan.callbacks.save_grid(gan.generate(16, seed=0), "art.png")
    """
    arguments = dict(locals())
    given = {("set" if name == "config" else name): value
             for name, value in arguments.items()
             if name != "arch" and value is not None and value is not False}
    return run(TrainSettings(arch, **{"data": None, **given}, given=frozenset(given)))


def _checked(settings):
    """The fields of `settings` as the flags would give them (paths as str, numbers as
    float); a value no flag would accept is a UsageError. (Not on each `replace`: a resumed
    run's recorded values, such as a learning-rate schedule, need not be flag values.)"""
    def refuse(name, expected):
        raise UsageError(f"{name}={getattr(settings, name)!r}: expected {expected}.")

    # May be None: arch with --from or --resume; data is refused later unless --resume.
    optional = {"arch": settings.start_from is not None or settings.resume, "out": False}
    values = {}
    for name in ("arch", "data", "out", "data_b", "data_dir", "loss", "augment", "start_from"):
        value = getattr(settings, name)
        if value is None and optional.get(name, True):
            continue
        if name in ("arch", "loss", "augment"):
            if not isinstance(value, str):
                refuse(name, "a string")
            continue
        try:
            values[name] = os.fspath(value)
        except TypeError:
            refuse(name, "a path")
        if not isinstance(values[name], str):
            values[name] = os.fsdecode(values[name])
    for name in _POSITIVE_INTS + ("seed",):
        value = getattr(settings, name)
        if value is not None:
            if isinstance(value, bool) or not hasattr(value, "__index__") \
                    or (name != "seed" and value.__index__() < 1):
                refuse(name, "an integer" if name == "seed" else "a positive integer")
            values[name] = value.__index__()
    for name, (low, high, low_open, high_open) in _NUMBERS.items():
        value = getattr(settings, name)
        if value is None:
            continue
        number = float(value) if isinstance(value, numbers.Real) and \
            not isinstance(value, bool) else math.nan
        if not math.isfinite(number) or number < low or number > high \
                or (low_open and number == low) or (high_open and number == high):
            interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            refuse(name, f"a number in {interval}")
        values[name] = number
    for name, allowed in _CHOICES.items():
        value = getattr(settings, name)
        if (value is not None or name != "channels") and (
                value not in allowed or isinstance(value, bool)):
            refuse(name, "one of " + ", ".join(map(repr, allowed)))
    for name in _FLAGS:
        if not isinstance(getattr(settings, name), bool):
            refuse(name, "True or False")
    return values


def _key_value_pairs(value, name, what, convert):
    """A dict or (KEY, VALUE) pairs as a tuple of pairs (values through `convert`), or a
    UsageError naming `name`."""
    pairs = value.items() if isinstance(value, dict) else value
    try:
        pairs = tuple((key, convert(item)) for key, item in pairs)
    except (TypeError, ValueError):
        pairs = None
    if pairs is None or not all(isinstance(key, str) for key, _ in pairs):
        raise UsageError(f"{name}={value!r}: expected a dict of {what} arguments or (KEY, "
                         "VALUE) pairs.")
    return pairs


def _listed(value):
    """Tuples as lists, as `--set KEY=[...]` gives them."""
    return [_listed(v) for v in value] if isinstance(value, (tuple, list)) else value


def _python_call(settings):
    """The `kerasgan.train(...)` call of `settings`, recorded as the run's command."""
    shown = [] if settings.arch is None else [repr(settings.arch)]
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if field.name in _NOT_SETTINGS or value == field.default or value is None:
            continue
        if field.name in ("set", "compile_set"):
            shown.append(f"{'config' if field.name == 'set' else field.name}={dict(value)!r}")
        else:
            shown.append(f"{field.name}={value!r}")
    return f"kerasgan.train({', '.join(shown)})"


def _arch_config(settings, seed):
    """The architecture arguments the flags ask for."""
    config = dict(settings.set)
    for key, value in (("image_size", settings.image_size), ("channels", settings.channels),
                       ("ema_decay", settings.ema), ("d_steps", settings.d_steps)):
        if value is not None:
            config[key] = value
    config["seed"] = seed
    return config


def _fine_tune_source(settings):
    """The model `--from` names (a preset, checked, or a model folder), loaded."""
    from kerasgan import zoo

    try:
        source = zoo.load(settings.start_from)
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f"--from {settings.start_from}: expected a preset name "
                         f"(`kerasgan list`) or a model folder; {error}") from error
    arch = source.spec["architecture"]
    if settings.arch is not None and settings.arch != arch:
        if (settings.arch, arch) == ("cut", "cyclegan"):  # made a CUT by `_as_cut`
            return source
        raise UsageError(f"--from {settings.start_from} is a {arch!r} model, not "
                         f"{settings.arch!r}: leave out the architecture or name {arch}"
                         f"{' (cut starts from a cyclegan)' if settings.arch == 'cut' else ''}.")
    return source


def _as_cut(settings, cyclegan):
    """`--from` a cyclegan for cut: a CUT with its G and D_B (`CUT.from_cyclegan`) and the
    --set values of CUT's own settings. Made after the seed is set (its new patch MLP draws
    from it)."""
    from kerasgan.models.cut import CUT, OWN_SETTINGS

    return CUT.from_cyclegan(cyclegan, **{k: v for k, v in settings.set if k in OWN_SETTINGS})


def _fine_tune_config(settings, source, seed):
    """The source's architecture config (with the run's seed and recipe values): flags that
    would change its networks are refused, all named in one line."""
    config = dict(source.spec["config"])
    differ = [f"--{flag.replace('_', '-')} {value} (it has {config.get(flag)})"
              for flag, value in (("image_size", settings.image_size),
                                  ("channels", settings.channels))
              if value is not None and value != config.get(flag)]
    differ += [f"--set {key}={value!r} (it has {config[key]!r})" if key in config else
               f"--set {key}={value!r} (it has no {key})"
               for key, value in settings.set if config.get(key, object()) != value]
    if differ:
        raise UsageError(f"--from {settings.start_from} keeps its networks, and these flags "
                         f"differ from them: {'; '.join(differ)}. Leave them out (it trains at "
                         f"{config.get('image_size')} px, on images of any size), or train "
                         "from scratch.")
    config.update({key: value for key, value in _arch_config(settings, seed).items()
                   if key in ("seed", "ema_decay", "d_steps")})
    return config


def _conditional_config(settings, config, source):
    """`config` with the class names of the data (`--conditional`), read without decoding."""
    from kerasgan import architectures, data

    if source is not None:
        if not config.get("class_names"):
            raise UsageError(f"--conditional: --from {settings.start_from} is unconditional; "
                             "a conditional run starts from scratch or from a conditional model.")
        return config
    if "class_names" not in config:
        conditional = [name for name in architectures.names("generation")
                       if "class_names" in architectures.resolve_config(name, {})]
        raise UsageError(f"--conditional: {settings.arch} has no class-conditional version; "
                         f"these have: {', '.join(conditional)}.")
    try:
        class_names = data.class_names(settings.data)
    except (OSError, ValueError) as error:
        raise UsageError(f"--conditional: {error}") from error
    return {**config, "class_names": class_names}


def _copy_weights(source, gan):
    """Every network's weights (EMA generator too) from `source` into `gan` (same spec)."""
    targets = gan.weight_files()
    for filename, network in source.weight_files().items():
        targets[filename].set_weights(network.get_weights())


def _is_convolution(layer):
    import keras

    inner = layer.layer if isinstance(layer, keras.layers.Wrapper) else layer
    return isinstance(inner, keras.layers.Conv2D)


def _freeze_discriminator(gan, count):
    """FreezeD: the discriminator's first `count` convolutions, and every layer before the
    last of them, stop training (their batch statistics too)."""
    if not count:
        return
    frozen = 0
    for layer in gan.discriminator.layers:
        if frozen == count:
            break
        layer.trainable = False
        frozen += _is_convolution(layer)
    if frozen < count:
        raise UsageError(f"--freeze-d {count}: the discriminator of this model has only "
                         f"{frozen} convolutions.")


def _with_optimizer_config(compile_args, change):
    """`compile_args` with `d_optimizer` and `g_optimizer` rebuilt from their configs after
    `change(config)`; a missing one is the default Adam(2e-4, 0.5)."""
    import keras

    for key in ("d_optimizer", "g_optimizer"):
        optimizer = compile_args.get(key) or keras.optimizers.Adam(2e-4, beta_1=0.5)
        config = optimizer.get_config()
        change(config)
        compile_args[key] = type(optimizer).from_config(config)
    return compile_args


def _scaled_learning_rates(compile_args, scale):
    """Learning rates times `scale`: a constant one, or a schedule's starting rate (its
    shape, e.g. CycleGAN's linear decay, kept)."""
    def scaled(config):
        rate = config.get("learning_rate")
        if isinstance(rate, (int, float)):
            config["learning_rate"] = rate * scale
        elif isinstance(rate, dict) and "initial_learning_rate" in rate.get("config", {}):
            rate["config"]["initial_learning_rate"] *= scale
    return _with_optimizer_config(compile_args, scaled)


def _compile_args(settings, gan, total_steps):
    """The architecture's recommended compile arguments, overridden by the flags given."""
    compile_args = _recommended_compile_args(settings, gan, total_steps)
    if settings.start_from is not None and settings.lr is None:
        compile_args = _scaled_learning_rates(compile_args, gan.fine_tune_lr_scale)
    compile_args.update(_compile_set(settings, gan))
    return compile_args


def _compile_parameters(gan):
    """The names of the arguments the model's `compile` takes."""
    import inspect

    return list(inspect.signature(type(gan).compile).parameters)


def _compile_set(settings, gan):
    """`--compile KEY=VALUE`: arguments of the model's compile that no flag sets; unknown
    ones and ones a flag sets are refused, all named in one line."""
    own = [name for name in _compile_parameters(gan) if name not in (
        "self", "kwargs", "d_optimizer", "g_optimizer", "jit_compile", "precision", "loss",
        "r1_gamma", "augment")]
    wrong = [key for key, _ in settings.compile_set if key not in own]
    if wrong:
        raise UsageError(f"--compile {', '.join(wrong)}: not an argument {settings.arch}'s "
                         f"compile takes from --compile; it takes: {', '.join(own) or 'none'} "
                         "(the others have flags of their own).")
    return dict(settings.compile_set)


def _augmentation(name):
    """`compile`'s augment for `--augment NAME`: "none" turns off the architecture's own."""
    return None if name == "none" else name


def _recommended_compile_args(settings, gan, total_steps):
    jit = {"auto": "auto", "on": True, "off": False}[settings.jit]
    if gan.task != "generation":
        recipe_flags = {"--loss": settings.loss, "--r1-gamma": settings.r1_gamma,
                        "--augment": settings.augment, "--lr": settings.lr,
                        "--beta1": settings.beta1}
        if "augment" in _compile_parameters(gan):  # CycleGAN's
            del recipe_flags["--augment"]
        unused = [flag for flag, value in recipe_flags.items() if value is not None]
        if unused:
            raise UsageError(f"{', '.join(unused)} do not apply to {settings.arch} (its own "
                             "losses; Adam(2e-4, 0.5) decaying linearly over the second half).")
        compile_args = gan.default_compile_args(settings.batch_size, total_steps=total_steps)
        if settings.augment is not None:
            compile_args["augment"] = _augmentation(settings.augment)
        return {**compile_args, "jit_compile": jit, "precision": settings.precision}

    compile_args = {"loss": "non_saturating", "r1_gamma": 0.0}
    compile_args.update(gan.default_compile_args(settings.batch_size))
    if settings.lr is not None or settings.beta1 is not None:
        given = {k: v for k, v in (("learning_rate", settings.lr), ("beta_1", settings.beta1))
                 if v is not None}
        compile_args = _with_optimizer_config(compile_args, lambda config: config.update(given))
    compile_args.update({k: v for k, v in (("loss", settings.loss),
                                           ("r1_gamma", settings.r1_gamma)) if v is not None})
    if settings.augment is not None:  # else the architecture's recipe decides (fastgan: on)
        compile_args["augment"] = _augmentation(settings.augment)
    compile_args.update(jit_compile=jit, precision=settings.precision)
    return compile_args


def _resumed_gan(settings, checkpoint_dir):
    """The run's newest loadable checkpoint, its epoch and the run's training settings.

    `_resume_settings` has checked the run's architecture and the flags already."""
    from kerasgan import callbacks

    spec = _read_model_config(settings.out, required=True)
    loaded = callbacks.load_latest_checkpoint(checkpoint_dir)
    if loaded is None:
        raise UsageError(f"--resume: no loadable checkpoint in {checkpoint_dir}; start the run "
                         "without --resume.")
    gan, epoch = loaded
    if gan.architecture is None:  # a checkpoint written before models kept their spec
        gan.architecture, gan.architecture_config = spec["architecture"], spec["config"]
    print(f"Resuming {settings.out} from epoch {epoch} (step {int(gan.step.numpy())}).")
    return gan, epoch, dict(spec.get("train") or {})


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
        if arch in ("cyclegan", "cut"):  # CUT: CycleGAN's generator, half the networks
            # ~16 full-size maps of base_channels kept per image for the backward pass of the
            # four networks, and the two history pools
            base = int(config.get("base_channels") or 64)
            return (batch_size * size * size * base * 4 * 16
                    + 2 * int(config.get("pool_size") or 0) * pixels * 4)
        if arch == "inpainting":
            # the U-Net keeps ~12 full-size maps of base_channels per image (encoder,
            # decoder, skips) for the backward pass, the discriminator a few more
            base = int(config.get("base_channels") or 32)
            return batch_size * size * size * base * 4 * 16
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


def run(settings):
    """Trains as `settings` (a `TrainSettings`) say, into `settings.out`; returns the model.

    Raises `UsageError` for settings, data or a run folder that cannot be used (before
    anything is written), `TrainingDiverged` when a loss becomes NaN or infinite."""
    import tempfile

    from kerasgan import zoo

    settings = dataclasses.replace(settings, **_checked(settings))
    if settings.command_line is None:
        settings = dataclasses.replace(settings, command_line=_python_call(settings))
    if settings.epochs is None:
        budget = settings.minutes is not None or settings.kimg is not None
        settings = dataclasses.replace(settings, epochs=_UNTIL_BUDGET if budget else 10)
    if settings.resume and settings.overwrite:
        raise UsageError("--resume continues the run in --out and --overwrite replaces it; "
                         "pass one of them.")
    source = None
    if settings.resume and settings.compile_set:
        raise UsageError("--resume continues the run with its own compile settings; leave "
                         "out --compile.")
    if settings.resume and (settings.start_from is not None or settings.freeze_d is not None):
        raise UsageError("--resume continues the run in --out with its own start and frozen "
                         "layers; leave out --from and --freeze-d.")
    settings = _resume_defaults(settings)
    if settings.data is None:
        raise UsageError("train needs --data: the images to train on (a folder, .npz/.npy "
                         "file or tfds:NAME).")
    if settings.start_from is not None:
        source = _fine_tune_source(settings)
        settings = dataclasses.replace(settings,
                                       arch=settings.arch or source.spec["architecture"])
    elif settings.freeze_d is not None:
        raise UsageError("--freeze-d freezes a pretrained discriminator: it needs --from.")
    if settings.batch_size is None and not settings.resume:
        settings = dataclasses.replace(settings,
                                       batch_size=zoo.default_batch_size(settings.arch))
    if settings.paired and not zoo.trains_on_pairs(settings.arch):
        paired = [name for name in zoo.list() if zoo.trains_on_pairs(name)]
        raise UsageError(f"--paired: {settings.arch} does not learn from pairs of images; "
                         f"{', '.join(paired)} does.")
    _check_writable(settings.out)
    if settings.tensorboard:
        _check_tensorboard()
    chief = _is_chief()
    # Checks that read only, before any TensorFlow work: nothing is written when one fails.
    if chief:
        _check_lock(settings.out)
    if settings.resume:
        settings = _resume_settings(settings)
    else:
        if chief:
            _check_out_is_free(settings)
        _check_set_values(settings)
    # The strategy before any other TensorFlow work (multi-worker).
    strategy = _strategy(settings.strategy, settings.seed)
    if settings.deterministic:
        import keras
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(settings.seed or 0)
    # Other workers of a cluster write to a scratch folder: one writer per run directory.
    out = settings.out if chief else tempfile.mkdtemp(prefix="kerasgan-worker-")
    checkpoint_dir = os.path.join(out, "checkpoints")
    with strategy.scope():
        if settings.resume:
            gan, initial_epoch, train_config = _resumed_gan(settings, checkpoint_dir)
            config = gan.spec["config"]
        else:
            seed = settings.seed if settings.seed is not None else random.randrange(2**31 - 1)
            if source is not None and source.spec["architecture"] != settings.arch:
                source = _as_cut(settings, source)
            config = (_fine_tune_config(settings, source, seed) if source is not None else
                      zoo.resolve_config(settings.arch, **_arch_config(settings, seed)))
            estimate = _training_bytes(settings.arch, config, settings.batch_size)
            if estimate:
                _check_memory(estimate, f"training {settings.arch} at --image-size "
                              f"{config['image_size']} (batch {settings.batch_size})",
                              "use a smaller --image-size, --batch-size or network", 1.0)
            if settings.conditional:
                config = _conditional_config(settings, config, source)
            gan = _create(settings.arch, config)
            initial_epoch = 0
            train_config = {"seed": seed, "batch_size": settings.batch_size, "flip": settings.flip,
                            "resize": settings.resize, "load_size": settings.load_size,
                            "data": str(settings.data), "data_b": settings.data_b}
            if source is not None:
                _copy_weights(source, gan)
                _freeze_discriminator(gan, settings.freeze_d or 0)
                train_config.update(start_from=settings.start_from, freeze_d=settings.freeze_d)
    if initial_epoch >= settings.epochs:
        raise UsageError(f"--resume: the run already finished {initial_epoch} epochs; raise "
                         f"--epochs above {initial_epoch} to train more.")
    steps = train_config.get("steps_per_epoch") or settings.steps_per_epoch
    # One batch a step: the step counter says where the stream goes on, also after an epoch
    # that a budget cut short.
    dataset = _training_data(settings, config, train_config["seed"], int(gan.step.numpy()))
    train_config["steps_per_epoch"] = steps = steps or dataset.batches_per_epoch
    if not settings.resume:  # after the data: nothing is written when the data is unusable
        with strategy.scope():
            if settings.epochs == _UNTIL_BUDGET and "total_steps" in _compile_parameters(gan):
                raise UsageError(f"{settings.arch}'s learning rate decays over the run: give "
                                 "--epochs with --minutes or --kimg.")
            gan.compile(**_compile_args(settings, gan, total_steps=settings.epochs * steps))
    lock = _take_lock(out, settings.command_line) if chief else None  # the first write into --out
    try:
        if settings.overwrite:
            _clear_previous_run(out)
        _remove_stale_temporaries(checkpoint_dir, os.path.join(out, "samples"),
                                  os.path.join(out, SNAPSHOT_FOLDER))
        if not settings.resume:
            zoo.save_config(gan, out, train=train_config)
        return _fit(settings, gan, out, dataset, steps, initial_epoch, train_config)
    finally:
        if lock is not None:
            _release_lock(lock)


def _check_tensorboard():
    """--tensorboard needs the tensorboard package (tf.summary's implementation)."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise UsageError("--tensorboard needs the tensorboard package, which is not "
                         "installed: pip install tensorboard (or kerasgan[tensorboard]).")


def _tensorboard_callbacks(settings, out, samples):
    """--tensorboard: the learning rates into the logs and the sample grids, then Keras'
    TensorBoard callback, which logs every loss (and the learning rates) per epoch."""
    import keras

    from kerasgan import callbacks

    if not settings.tensorboard:
        return []
    log_dir = os.path.join(out, "tensorboard")
    return [callbacks.TensorBoardImages(os.path.join(log_dir, "samples"), samples=samples),
            keras.callbacks.TensorBoard(log_dir, write_graph=False)]


def _fit(settings, gan, out, dataset, steps, initial_epoch, train_config):
    from kerasgan import callbacks, plots, zoo

    checkpoint_dir = os.path.join(out, "checkpoints")
    samples = _sample_callback(settings, gan, dataset, os.path.join(out, "samples"))
    if settings.verbose:
        print(f"Precision: {_precision_line(gan)}; decoded images cached in "
              f"{dataset.cache_kind}")
    nan_stop = callbacks.StopOnNaN()
    budget = callbacks.TrainingBudget(settings.minutes, settings.kimg, settings.batch_size)
    started = time.time()
    gan.fit(dataset, epochs=settings.epochs, steps_per_epoch=steps,
            initial_epoch=initial_epoch, shuffle=False, verbose=settings.verbose,
            callbacks=[nan_stop, budget,
                       callbacks.Checkpoint(checkpoint_dir, snapshot_every=settings.snapshot_every,
                                            snapshot_dir=os.path.join(out, SNAPSHOT_FOLDER)),
                       samples,
                       callbacks.EpochLog(os.path.join(out, plots.HISTORY_FILE)),
                       *_tensorboard_callbacks(settings, out, samples)])
    if nan_stop.stopped is not None:
        _plot_losses(out)  # the plot shows where it went
        raise TrainingDiverged(nan_stop.message)
    if budget.stopped:
        print(f"Stopped after {budget.stopped} (step {int(gan.step.numpy())}); --resume "
              "continues the run.")
    metadata = _run_metadata(settings, gan, time.time() - started)
    zoo.save(gan, out, metadata=metadata, train=train_config)
    losses = _plot_losses(out)  # after the model: a failed plot must not cost it
    if out != settings.out:
        shutil.rmtree(out, ignore_errors=True)
        return gan
    print(f"Trained {metadata['steps']} steps in {metadata['wall_time_s']:.0f} s.")
    print(f"Model: {os.path.abspath(out)}  (load with kerasgan.zoo.load)")
    if samples.last_path:
        print(f"Sample grid: {os.path.abspath(samples.last_path)}")
    if losses:
        print(f"Losses: {os.path.abspath(losses)}")
    if settings.tensorboard:
        print(f"TensorBoard: tensorboard --logdir "
              f"{os.path.join(os.path.abspath(out), 'tensorboard')}")
    return gan


def _plot_losses(out):
    """`out/losses.png` from the run's history.jsonl; its path, or None (a plot that
    cannot be written is a warning: the run itself is saved)."""
    from kerasgan import plots

    try:
        return plots.plot_run(out)
    except (OSError, ValueError) as error:
        print(f"kerasgan: warning: {os.path.join(out, plots.LOSSES_FILE)} was not written "
              f"({type(error).__name__}: {error}).", file=sys.stderr)
        return None


def _training_data(settings, config, seed, skip_batches):
    """An endless stream keyed by (seed, pass): a resumed run continues it exactly; of
    `(images, labels)` for a conditional model (`class_names` in its config), whose classes
    the data's must be."""
    from kerasgan import data, zoo

    common = dict(image_size=config["image_size"], channels=config.get("channels", 3),
                  batch_size=settings.batch_size, flip=settings.flip, seed=seed, repeat=True,
                  skip_batches=skip_batches, resize=settings.resize, strict=settings.strict,
                  cache=settings.cache)
    if zoo.kind(settings.arch) == "translation":
        if not settings.data_b:
            raise UsageError(f"{settings.arch} learns to translate between two image folders: "
                             "pass domain A as --data and domain B as --data-b.")
        make = data.paired_dataset if zoo.trains_on_pairs(settings.arch) else \
            data.unpaired_dataset
        return make(settings.data, settings.data_b, load_size=settings.load_size, **common)
    if settings.load_size:
        raise UsageError(f"--load-size is for image-to-image models; {settings.arch} trains on "
                         "whole images.")
    if settings.data_b:
        raise UsageError(f"--data-b is for image-to-image models; {settings.arch} generates "
                         "images from latents.")
    class_names = config.get("class_names")
    dataset = data.image_dataset(settings.data, data_dir=settings.data_dir,
                                 download=settings.download,
                                 labels="inferred" if class_names else None, **common)
    if class_names and dataset.class_names != class_names:
        raise UsageError(f"the model's classes are {', '.join(class_names)}; the classes of "
                         f"--data {settings.data} are {', '.join(dataset.class_names)}.")
    return dataset


def _sample_callback(settings, gan, dataset, directory):
    from kerasgan import callbacks

    if gan.task == "inpainting":
        images = next(iter(dataset.take(1))).numpy()[:8]
        return callbacks.RestorationGrid(directory, images,
                                         every_n_epochs=settings.sample_every)
    if gan.task == "translation":
        from kerasgan import zoo

        images_a, images_b = (x.numpy()[:8] for x in next(iter(dataset.take(1))))
        if zoo.trains_on_pairs(settings.arch):
            return callbacks.PairGrid(directory, images_a, images_b,
                                      every_n_epochs=settings.sample_every)
        images_a, images_b = images_a[:4], images_b[:4]
        return callbacks.TranslationGrid(directory, images_a, images_b, every_n_epochs=settings.sample_every)
    return callbacks.SampleGrid(directory, every_n_epochs=settings.sample_every,
                                columns=gan.num_classes or None)


def _run_metadata(settings, gan, seconds):
    import keras
    import tensorflow as tf
    import kerasgan

    previous = {}
    path = os.path.join(settings.out, "metadata.json")
    if settings.resume and os.path.isfile(path):
        try:
            with open(path) as f:
                previous = dict(json.load(f))
        except (OSError, ValueError, TypeError):  # a damaged file must not lose the run
            print(f"kerasgan: warning: {path} could not be read; the wall time counts this "
                  "session only.", file=sys.stderr)
    return {
        "architecture": gan.spec["architecture"],
        "command": settings.command_line,
        "data": str(settings.data),
        "steps": int(gan.step.numpy()),
        "epochs": settings.epochs if settings.epochs != _UNTIL_BUDGET else None,
        "budget": {"minutes": settings.minutes, "kimg": settings.kimg},
        "batch_size": settings.batch_size,
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
