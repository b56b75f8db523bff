"""The model zoo: architecture names -> models, and models <-> folders and presets.

`create(name, **config)` builds a registered architecture, `load(...)` a preset, a model
folder or a `.keras` file, `save(...)` writes a folder; `list()` names the architectures
(`list(pretrained=True)`: the presets). The parts live in their own modules, each re-exported
here so that `kerasgan.zoo.NAME` stays the one public place:

    kerasgan.architectures  the registry as data (what `kerasgan list` reads without TensorFlow)
    kerasgan.model_folder   the folder format: config.json, weight files, metadata.json
    kerasgan.pretrained     presets: lookup, SHA-256 checks, downloads, `save_preset`

Importing this module imports no TensorFlow; building or loading a model does.
"""
import importlib
import os

from kerasgan import architectures
from kerasgan.architectures import TASKS
from kerasgan.errors import PresetError
from kerasgan.model_folder import (CONFIG_FILE, MAX_JSON_BYTES, METADATA_FILE, read_config,
                                   save, save_config)
from kerasgan.paths import CACHE_ENV  # the user cache of presets
from kerasgan.pretrained import (DOWNLOAD_TIMEOUT_S, MAX_DOWNLOAD_BYTES, PRESETS_DIR,
                                 cache_dir, check_hdf5, is_hashed_preset, preset_names,
                                 preset_path, save_preset, sha256, verify_preset)

__all__ = [  # the re-exported names too: kerasgan.zoo is their public place
    "CACHE_ENV", "CONFIG_FILE", "DOWNLOAD_TIMEOUT_S", "KINDS", "MAX_DOWNLOAD_BYTES",
    "MAX_JSON_BYTES", "METADATA_FILE", "PRESETS_DIR", "PresetError", "cache_dir", "create",
    "default_batch_size", "kind", "list", "load", "preset_path", "read_config", "register",
    "resolve_config", "save", "save_config", "save_preset", "sha256", "tiny_config",
    "trains_on_pairs", "verify_preset",
]

KINDS = TASKS  # latents -> images; images -> images (CycleGAN, pix2pix); damaged image + mask -> image


def register(name, tiny=None, kind="generation", paired=False, batch_size=64):
    """Registers a builder `fn(**config) -> model` under `name` (an architecture of your own;
    kerasgan's are rows of `kerasgan.architectures.BUILT_IN`).

    Args:
        name: the registry name, e.g. "my_dcgan".
        tiny: a small config that builds and trains in seconds.
        kind: "generation" (a `GAN`: latents -> images), "translation" (images -> images)
            or "inpainting" (damaged image + mask -> image).
        paired: a translation model that trains on aligned pairs (`data.paired_dataset`)
            instead of two unpaired folders.
        batch_size: what `kerasgan train` trains it with when `--batch-size` is not given.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")

    def decorator(builder):
        architectures.add(architectures.from_builder(name, builder, kind, tiny, paired,
                                                     batch_size))
        return builder
    return decorator


def list_names(kind=None, pretrained=False):
    """The registered architecture names, sorted; only those of `kind` if given.

    With `pretrained=True`, the names of the pretrained presets instead (bundled with the
    package, or in the user cache), also filtered by the `kind` of their architecture."""
    return preset_names(kind) if pretrained else architectures.names(kind)


def kind(name):
    """"generation", "translation" or "inpainting": what architecture `name` maps from and to."""
    return architectures.get(name).task


def trains_on_pairs(name):
    """Whether architecture `name` learns from aligned pairs of images (pix2pix)."""
    return architectures.get(name).paired


def default_batch_size(name):
    """The batch size architecture `name` trains with when none is given."""
    return architectures.get(name).batch_size


def tiny_config(name):
    """The registered test-sized config of architecture `name`."""
    return dict(architectures.get(name).tiny)


def resolve_config(name, /, **config):
    """The full builder config for `name`: defaults filled in, unknown arguments refused.

    `name` is positional-only, so that `config` may hold the model's own `name`."""
    return architectures.resolve_config(name, config)


def create(architecture, /, **config):
    """Builds the model registered as `architecture`, e.g. `create("dcgan", image_size=32)`.

    `architecture` is positional-only: `config` may hold the model's own `name`
    (`create("dcgan", name="my_gan")`). The model keeps `architecture` and the resolved
    config as its own (`model.spec`), so that `save` writes a folder `load` rebuilds it from.
    """
    config = architectures.resolve_config(architecture, config)
    return architectures.builder(architecture)(**config, architecture=architecture,
                                               architecture_config=config)


def load(path, for_training=False, *, url=None):
    """Loads a preset by name, a model folder written by `save` (or `kerasgan train --out`),
    or a `.keras` file.

    Args:
        path: a preset name (`list(pretrained=True)`), a folder, or a file written by
            `model.save("x.keras")`. A preset's files are checked against the SHA-256 in its
            metadata first; a mismatch refuses it. Nothing loaded runs code (weights are
            HDF5 arrays, configs JSON; `.keras` files load with Keras safe mode on), and
            weight files that refer to data outside themselves (HDF5 external links,
            external or virtual datasets) are refused. Files a preset lacks are fetched
            into its cache folder only (see `verify_preset`).
        for_training: also compile it (with its saved compile config when it has one)
            so that `fit` continues training (or fine-tunes a preset). A `.keras` file keeps
            its own compile state.
        url: where to fetch the files a preset lacks from, instead of its metadata's
            `"url"`: an `https://` URL, or (because you chose it, not the preset's author)
            a `file://` URL or a local folder. A metadata `"url"` must be `https://`.

    Example:
        >>> gan = kerasgan.zoo.load("dcgan_clipart64")
        >>> images = gan.generate(16, seed=0)          # floats in [-1, 1]
    """
    path = os.fspath(path)
    if str(path).endswith(".keras") and os.path.isfile(path):
        return _load_keras_file(path)
    if not os.path.isdir(path):
        path = preset_path(path, url=url)
    elif is_hashed_preset(path):
        path = verify_preset(path, url=url)  # an explicit preset folder is checked too
    spec = read_config(path)
    gan = create(spec["architecture"], **spec["config"])
    for filename in gan.weight_files():
        if os.path.isfile(os.path.join(path, filename)):
            check_hdf5(os.path.join(path, filename))
    gan.load_folder_weights(path)
    if for_training:
        compile_config = spec.get("compile")
        if compile_config:
            gan.compile_from_config(compile_config)
        else:
            gan.compile()
    return gan


def _load_keras_file(path):
    import keras

    importlib.import_module("kerasgan.models")  # Keras finds kerasgan's classes once imported
    return keras.models.load_model(path, compile=True, safe_mode=True)


# The public name, bound last: no function of this module needs the builtin `list`.
list = list_names  # noqa: A001
