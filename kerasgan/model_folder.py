"""A saved model as a folder (as in keras-hub presets), written and read without the registry:

    config.json              {"architecture": NAME, "config": {builder arguments}, "compile": {...}}
    generator.weights.h5     generator weights
    generator_ema.weights.h5 EMA generator weights (models trained with `ema_decay`)
    discriminator.weights.h5 discriminator weights (for fine-tuning)
    metadata.json            how it was made: command, data, steps, wall time, versions

`kerasgan.zoo` (building a model from such a folder) and `kerasgan.pretrained` (presets: such
folders with hashes) both use this module; it imports neither, and no TensorFlow.
"""
import json
import os

from kerasgan.errors import PresetError
from kerasgan.files import atomic_file

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
MAX_JSON_BYTES = 16 << 20  # metadata.json / config.json: larger ones are refused unread


def read_json(path):
    """The JSON value in `path`; `PresetError` when it is too large or not JSON."""
    size = os.path.getsize(path)
    if size > MAX_JSON_BYTES:
        raise PresetError(f"{path} is {size} bytes; a kerasgan JSON file is at most "
                          f"{MAX_JSON_BYTES} bytes.")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as error:  # invalid JSON or UTF-8
        raise PresetError(f"{path} is not valid JSON ({error}).") from error


def write_json(path, obj):
    """Writes `obj` with sorted keys: a preset's hashes depend on these exact bytes."""
    with atomic_file(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")


def read_config(path):
    """The config.json of model folder `path`."""
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"{path!r} is not a kerasgan model folder: {CONFIG_FILE} is "
                                "missing (a model folder is written by `kerasgan train --out` "
                                "or kerasgan.zoo.save).")
    return read_json(config_path)


def read_metadata(folder):
    """The metadata.json of `folder`, which must hold a JSON object."""
    metadata = read_json(os.path.join(folder, METADATA_FILE))
    if not isinstance(metadata, dict):
        raise PresetError(f"{os.path.join(folder, METADATA_FILE)} must hold a JSON object.")
    return metadata


def _spec(model):
    spec = getattr(model, "spec", None)  # None also for a Keras model of another library
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
    write_json(os.path.join(path, CONFIG_FILE), config)


def save(gan, path, metadata=None, train=None):
    """Writes `gan` as a folder `kerasgan.zoo.load` reads: config, weights
    (`gan.weight_files()`) and metadata.

    Each file is written to a temporary name and renamed, so an interrupted save
    leaves the previous files intact.
    """
    save_config(gan, path, train=train)
    gan.save_folder_weights(path)
    if metadata is not None:
        write_json(os.path.join(path, METADATA_FILE), metadata)
