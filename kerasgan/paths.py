"""Where kerasgan keeps its user cache on disk.

One root, `$KERASGAN_CACHE` else ``~/.cache/kerasgan``, shared by the preset registry
(`kerasgan.zoo`) and the image cache (`kerasgan.data`). It lives here, in a module that
imports nothing of kerasgan, so that the data pipeline does not depend on the model registry
just to find a folder.
"""
import os

CACHE_ENV = "KERASGAN_CACHE"  # overrides the user cache root


def cache_root():
    """`$KERASGAN_CACHE` when set (and not empty), else ``~/.cache/kerasgan``."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "kerasgan")


def preset_cache_dir():
    """Presets: `$KERASGAN_CACHE` itself, else ``~/.cache/kerasgan/presets``.

    (Presets sit directly in `$KERASGAN_CACHE`, as they always have: moving them would
    orphan every cache users already have.)
    """
    return os.environ.get(CACHE_ENV) or os.path.join(cache_root(), "presets")


def image_cache_dir():
    """Decoded image folders: ``<cache_root()>/images``."""
    return os.path.join(cache_root(), "images")
