"""The model registry: architecture names -> builders, and run/preset folders on disk.

A saved model is a folder (as in keras-hub presets):
    config.json              {"architecture": NAME, "config": {builder arguments}, "compile": {...}}
    generator.weights.h5     generator weights
    generator_ema.weights.h5 EMA generator weights (models trained with `ema_decay`)
    discriminator.weights.h5 discriminator weights (for fine-tuning)
    metadata.json            how it was made: command, data, steps, wall time, versions
"""
import builtins
import inspect
import json
import os

import keras

_BUILDERS = {}
_TINY_CONFIGS = {}
_KINDS = {}
KINDS = ("generation", "translation")  # latents -> images; images -> images (e.g. CycleGAN)
_GAN_ARGUMENTS = ("d_steps", "ema_decay", "seed", "name")

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHT_FILES = {"generator": "generator.weights.h5",
                "ema_generator": "generator_ema.weights.h5",
                "discriminator": "discriminator.weights.h5"}


def register(name, tiny=None, kind="generation"):
    """Registers a builder `fn(**config) -> model` under `name`.

    Args:
        name: the registry name, e.g. "dcgan".
        tiny: a small config that builds and trains in seconds; the shared tests run
            every registered architecture with it.
        kind: "generation" (a `GAN`: latents -> images) or "translation" (images -> images).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")

    def decorator(builder):
        if name in _BUILDERS:
            raise ValueError(f"Architecture {name!r} is already registered.")
        _BUILDERS[name] = builder
        _TINY_CONFIGS[name] = dict(tiny or {})
        _KINDS[name] = kind
        return builder
    return decorator


def list(kind=None):  # noqa: A001 - `kerasgan.zoo.list()` is the public name
    """The registered architecture names, sorted; only those of `kind` if given."""
    return sorted(name for name in _BUILDERS if kind is None or _KINDS[name] == kind)


def kind(name):
    """"generation" or "translation": what architecture `name` maps from and to."""
    _check_name(name)
    return _KINDS[name]


def tiny_config(name):
    """The registered test-sized config of architecture `name`."""
    _check_name(name)
    return dict(_TINY_CONFIGS[name])


def _check_name(name):
    if name not in _BUILDERS:
        raise ValueError(f"Unknown architecture {name!r}; valid names: {', '.join(list())}.")


def _jsonable(value):
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, builtins.list)) else value


def resolve_config(name, **config):
    """The full builder config for `name`: defaults filled in, unknown arguments refused."""
    _check_name(name)
    params = inspect.signature(_BUILDERS[name]).parameters
    known = [p for p in params if params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    unknown = sorted(set(config) - set(known) - set(_GAN_ARGUMENTS))
    if unknown:
        raise ValueError(f"Unknown argument(s) {unknown} for architecture {name!r}; "
                         f"valid: {known + [a for a in _GAN_ARGUMENTS if a != 'name']}.")
    resolved = {p: params[p].default for p in known}
    resolved.update(config)
    return {key: _jsonable(value) for key, value in resolved.items()}


def create(name, **config):
    """Builds the GAN registered as `name`, e.g. `create("dcgan", image_size=32)`.

    The result carries `spec = {"architecture": name, "config": {...}}` so that `save`
    can write a folder `load` rebuilds it from.
    """
    config = resolve_config(name, **config)
    gan = _BUILDERS[name](**config)
    gan.spec = {"architecture": name, "config": config}
    return gan


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def _spec(gan):
    spec = getattr(gan, "spec", None)
    if spec is None:
        raise ValueError("Only models built with kerasgan.zoo.create() or loaded with "
                         "kerasgan.zoo.load() can be saved as a folder; use model.save(...) "
                         "for a .keras file.")
    return spec


def save_config(gan, path, train=None):
    """Writes `path/config.json`: the architecture, its arguments, the compile config and
    (from the CLI) the training settings a resumed run must reuse."""
    config = dict(_spec(gan))
    compile_config = gan.get_compile_config()
    if compile_config is not None:
        config["compile"] = compile_config
    if train is not None:
        config["train"] = train
    os.makedirs(path, exist_ok=True)
    _write_json(os.path.join(path, CONFIG_FILE), config)


def save(gan, path, metadata=None, train=None):
    """Writes `gan` as a folder `load` reads: config, weights and metadata.

    Each file is written to a temporary name and renamed, so an interrupted save
    leaves the previous files intact.
    """
    save_config(gan, path, train=train)
    if hasattr(gan, "save_folder_weights"):  # models with other networks (CycleGAN)
        gan.save_folder_weights(path)
    for attribute, filename in WEIGHT_FILES.items():
        net = getattr(gan, attribute, None)
        if net is not None:
            tmp = os.path.join(path, ".tmp-" + filename)
            net.save_weights(tmp)
            os.replace(tmp, os.path.join(path, filename))
    if metadata is not None:
        _write_json(os.path.join(path, METADATA_FILE), metadata)


def read_config(path):
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"{path!r} is not a kerasgan model folder: {CONFIG_FILE} is "
                                "missing (a model folder is written by `kerasgan train --out` "
                                "or kerasgan.zoo.save).")
    with open(config_path) as f:
        return json.load(f)


def load(path, for_training=False):
    """Loads a model folder written by `save` (or `kerasgan train --out`), or a `.keras` file.

    Args:
        path: the folder, or a file written by `model.save("x.keras")`.
        for_training: also compile it (with its saved compile config when it has one)
            so that `fit` continues training. A `.keras` file keeps its own compile state.
    """
    if str(path).endswith(".keras") and os.path.isfile(path):
        return keras.models.load_model(path, compile=True)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"No model folder at {path!r}; registered architectures "
                                f"(build one with kerasgan.zoo.create): {', '.join(list())}.")
    spec = read_config(path)
    gan = create(spec["architecture"], **spec["config"])
    if hasattr(gan, "load_folder_weights"):
        gan.load_folder_weights(path)
    for attribute, filename in WEIGHT_FILES.items():
        net = getattr(gan, attribute, None)
        file = os.path.join(path, filename)
        if net is None:
            continue
        if os.path.isfile(file):
            net.load_weights(file)
        elif attribute == "ema_generator":  # a folder saved without EMA: start it from G
            net.set_weights(gan.generator.get_weights())
        else:
            raise FileNotFoundError(f"Model folder {path!r} lacks {filename}.")
    if for_training:
        compile_config = spec.get("compile")
        if compile_config:
            gan.compile_from_config(compile_config)
        else:
            gan.compile()
    return gan
