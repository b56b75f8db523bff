"""kerasgan: a Keras 3 GAN model zoo for art generation and style transfer.

The package is lazy (PEP 562): `import kerasgan` sets TensorFlow's environment and loads
nothing else, so `kerasgan --help` and `kerasgan list` answer without TensorFlow. A public
name is imported when first used: `kerasgan.data`, `kerasgan.callbacks`, `kerasgan.losses`
and `kerasgan.GAN` load TensorFlow; `kerasgan.zoo` and `kerasgan.train` load it only when
they build a model. Building or loading a model, or `kerasgan.GAN`, imports every model
file, so that `keras.models.load_model` then finds kerasgan's classes in a `.keras` file.
"""
import importlib

importlib.import_module("kerasgan.tf_environment")  # first: before anything loads TensorFlow

__version__ = "0.1.0"

__all__ = ["GAN", "callbacks", "data", "losses", "train", "zoo", "__version__"]

# public name -> "module" or "module:attribute"
_LAZY = {"GAN": "kerasgan.gan:GAN", "callbacks": "kerasgan.callbacks", "data": "kerasgan.data",
         "losses": "kerasgan.losses", "train": "kerasgan.training:train", "zoo": "kerasgan.zoo"}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'kerasgan' has no attribute {name!r}")
    module_name, _, attribute = _LAZY[name].partition(":")
    module = importlib.import_module(module_name)
    value = getattr(module, attribute) if attribute else module
    if name == "GAN":
        # Not for the submodules: kerasgan's own modules import those while the model
        # files, which import them too, may be half-loaded.
        importlib.import_module("kerasgan.models")
    globals()[name] = value  # found directly from now on
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
