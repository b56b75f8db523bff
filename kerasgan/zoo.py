"""The model registry: architecture names -> builders, and run/preset folders on disk.

A saved model is a folder (as in keras-hub presets):
    config.json              {"architecture": NAME, "config": {builder arguments}, "compile": {...}}
    generator.weights.h5     generator weights
    generator_ema.weights.h5 EMA generator weights (models trained with `ema_decay`)
    discriminator.weights.h5 discriminator weights (for fine-tuning)
    metadata.json            how it was made: command, data, steps, wall time, versions

A pretrained preset is such a folder whose metadata.json lists the SHA-256 of every file
(`"files"`), plus a model card README.md: the top-level `zoo/` of the repository, installed
as `kerasgan/presets/`. `load(name)` finds a preset by name (see `preset_path`) and checks
every file before any is read.
"""
import builtins
import hashlib
import inspect
import json
import os
import shutil

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


def list(kind=None, pretrained=False):  # noqa: A001 - `kerasgan.zoo.list()` is the public name
    """The registered architecture names, sorted; only those of `kind` if given.

    With `pretrained=True`, the names of the pretrained presets instead (bundled with the
    package, or in the user cache), also filtered by the `kind` of their architecture."""
    if pretrained:
        names = set()
        for root in _preset_roots():
            names.update(n for n in os.listdir(root)
                         if os.path.isfile(os.path.join(root, n, METADATA_FILE)))
        return sorted(n for n in names if kind is None or _preset_kind(n) == kind)
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
    """Loads a preset by name, a model folder written by `save` (or `kerasgan train --out`),
    or a `.keras` file.

    Args:
        path: a preset name (`list(pretrained=True)`), a folder, or a file written by
            `model.save("x.keras")`. A preset's files are checked against the SHA-256 in its
            metadata first; a mismatch refuses it. Nothing loaded runs code (weights are
            HDF5 arrays, configs JSON; `.keras` files load with Keras safe mode on).
        for_training: also compile it (with its saved compile config when it has one)
            so that `fit` continues training (or fine-tunes a preset). A `.keras` file keeps
            its own compile state.

    Example:
        >>> gan = kerasgan.zoo.load("dcgan_clipart64")
        >>> images = gan.generate(16, seed=0)          # floats in [-1, 1]
    """
    path = os.fspath(path)
    if str(path).endswith(".keras") and os.path.isfile(path):
        return keras.models.load_model(path, compile=True)
    if not os.path.isdir(path):
        path = preset_path(path)
    elif os.path.isfile(os.path.join(path, METADATA_FILE)) and \
            "files" in _read_json(os.path.join(path, METADATA_FILE)):
        verify_preset(path)  # an explicit preset folder is checked too
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


# --------------------------------------------------------------------------- presets
PRESETS_DIR = "presets"  # inside the installed package; the repository's zoo/ folder
CACHE_ENV = "KERASGAN_CACHE"  # user cache of presets (default ~/.cache/kerasgan/presets)


class PresetError(ValueError):
    """A preset that is unknown, incomplete or fails its SHA-256 check."""


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def cache_dir():
    """The user cache of presets: `$KERASGAN_CACHE` or `~/.cache/kerasgan/presets`."""
    return os.environ.get(CACHE_ENV) or os.path.join(
        os.path.expanduser("~"), ".cache", "kerasgan", "presets")


def _bundled_dirs():
    package = os.path.dirname(os.path.abspath(__file__))
    # An installed wheel has kerasgan/presets/; a source checkout has ../zoo/.
    return [os.path.join(package, PRESETS_DIR), os.path.join(os.path.dirname(package), "zoo")]


def _preset_roots():
    return [d for d in _bundled_dirs() + [cache_dir()] if os.path.isdir(d)]


def _preset_kind(name):
    return kind(read_config(preset_path(name, verify=False))["architecture"])


def _is_preset(folder):
    return os.path.isfile(os.path.join(folder, METADATA_FILE))


def preset_path(name, verify=True):
    """The folder of preset `name`, its files checked (and fetched if need be).

    Resolution order: the presets bundled with the package, then the user cache
    (`cache_dir()`); files a preset's metadata lists but the folder lacks are downloaded
    from its `"url"` into the cache with `keras.utils.get_file`, then verified.
    """
    if not isinstance(name, str) or not name or "/" in name or os.sep in name \
            or name.startswith(".") or name.endswith(".keras"):
        raise FileNotFoundError(f"No model folder at {name!r} (nor a .keras file there); "
                                f"presets: {', '.join(list(pretrained=True)) or 'none'}.")
    bundled = [os.path.join(root, name) for root in _bundled_dirs()]
    cached = os.path.join(cache_dir(), name)
    for folder in bundled + [cached]:
        if _is_preset(folder):
            if verify:
                verify_preset(folder, cached=folder == cached)
            return folder
    presets = list(pretrained=True)
    raise PresetError(f"No model folder, .keras file or preset named {name!r}. Presets: "
                      f"{', '.join(presets) or 'none installed'}; architectures (build one "
                      f"with kerasgan.zoo.create): {', '.join(list())}.")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_preset(folder, cached=False):
    """Checks every file a preset's metadata lists against its SHA-256.

    Missing files are fetched from the metadata's `"url"` (into the user cache). A mismatch
    raises `PresetError` naming the file; in the user cache the bad copy is deleted so the
    next load fetches it again.
    """
    metadata = _read_json(os.path.join(folder, METADATA_FILE))
    files = metadata.get("files")
    name = metadata.get("name", os.path.basename(folder))
    if not isinstance(files, dict) or CONFIG_FILE not in files:
        raise PresetError(f"Preset {name!r} ({folder}): metadata.json must list the SHA-256 of "
                          f"every file under \"files\", {CONFIG_FILE} included.")
    for filename, expected in sorted(files.items()):
        if os.path.basename(filename) != filename or filename.startswith("."):
            raise PresetError(f"Preset {name!r}: bad file name {filename!r} in metadata.json.")
        path = os.path.join(folder, filename)
        if not os.path.isfile(path):
            path = _fetch(metadata, name, filename)
            cached = True
        actual = sha256(path)
        if actual != expected:
            if cached:
                os.remove(path)
            raise PresetError(
                f"Preset {name!r}: {filename} failed its SHA-256 check (expected {expected}, "
                f"got {actual}); the preset is refused"
                + (" and the bad cached copy was deleted." if cached else "."))
    return folder


def _fetch(metadata, name, filename):
    url = metadata.get("url")
    if not url:
        raise PresetError(f"Preset {name!r} lacks {filename} and its metadata has no \"url\" "
                          "to fetch it from.")
    target = os.path.join(cache_dir(), name)
    os.makedirs(target, exist_ok=True)
    try:
        return keras.utils.get_file(fname=filename, origin=url.rstrip("/") + "/" + filename,
                                    cache_dir=target, cache_subdir=".")
    except Exception as error:  # offline, 404, ...: say what could not be fetched
        raise PresetError(f"Preset {name!r}: could not download {filename} from {url} "
                          f"({error}).") from error


def save_preset(model, path, metadata, card=None, extra_files=()):
    """Writes `model` as a preset folder: config, weights, `metadata.json` with the SHA-256
    of every file, and the model card `README.md` (`card`, Markdown).

    The generator weights are the EMA generator's where the model has one (the weights to
    sample with and to fine-tune from); the discriminator's are kept for fine-tuning.
    `extra_files` (e.g. a sample grid) are copied in and hashed too.
    """
    if os.path.exists(path):
        raise FileExistsError(f"{path} exists; remove it first.")
    tmp = path.rstrip("/\\") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_config(model, tmp)
    if hasattr(model, "save_folder_weights"):
        model.save_folder_weights(tmp)
    else:
        generator = model.sampler
        generator.save_weights(os.path.join(tmp, WEIGHT_FILES["generator"]))
        model.discriminator.save_weights(os.path.join(tmp, WEIGHT_FILES["discriminator"]))
    for file in extra_files:
        shutil.copy(file, tmp)
    if card is not None:
        with open(os.path.join(tmp, "README.md"), "w") as f:
            f.write(card)
    files = {f: sha256(os.path.join(tmp, f)) for f in sorted(os.listdir(tmp))}
    _write_json(os.path.join(tmp, METADATA_FILE), {**metadata, "files": files})
    os.replace(tmp, path)
    return path
