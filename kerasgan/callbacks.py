"""Training callbacks that understand GANs: sample grids, NaN stop, atomic checkpoints."""
import glob
import json
import math
import os
import re
import warnings

import numpy as np
import keras

CHECKPOINT_PATTERN = "epoch-{epoch:04d}.keras"
_CHECKPOINT_RE = re.compile(r"epoch-(\d+)\.keras$")


def image_grid(images, columns=None):
    """Tiles images in [-1, 1] `(n, H, W, C)` into one uint8 array (rows of `columns`)."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n, height, width, channels), got {images.shape}.")
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    pixels = np.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype("uint8")
    grid = np.full((rows * h, columns * w, c), 255, "uint8")
    for i, image in enumerate(pixels):
        r, col = divmod(i, columns)
        grid[r * h:(r + 1) * h, col * w:(col + 1) * w] = image
    return grid[..., 0] if c == 1 else grid


def save_grid(images, path, columns=None):
    """Writes images in [-1, 1] as one PNG grid with matplotlib; returns the path."""
    import matplotlib.image

    grid = image_grid(images, columns)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # imsave infers the format from the name, so the temporary file keeps the suffix.
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), ".tmp-" + os.path.basename(path))
    matplotlib.image.imsave(tmp, grid, cmap="gray" if grid.ndim == 2 else None,
                            vmin=0, vmax=255)
    os.replace(tmp, path)
    return path


class SampleGrid(keras.callbacks.Callback):
    """Every `every_n_epochs`, writes `directory/epoch-NNNN.png` from one fixed latent batch.

    The same latents every time, so the grids show one set of samples evolving.
    """

    def __init__(self, directory, n=64, seed=0, every_n_epochs=1):
        super().__init__()
        self.directory, self.n, self.seed, self.every_n_epochs = directory, n, seed, every_n_epochs
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs or _non_finite(logs):
            return
        latents = self.model.latents(self.n, self.seed)
        path = os.path.join(self.directory, f"epoch-{epoch + 1:04d}.png")
        self.last_path = save_grid(self.model.generate(latents=latents), path)


def _non_finite(logs):
    return [(k, v) for k, v in (logs or {}).items()
            if np.ndim(v) == 0 and not np.isfinite(float(v))]


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first batch where any logged loss or score is NaN or Inf.

    Keras' `TerminateOnNaN` reads only `logs["loss"]`, which a GAN does not log. After a
    stop, `stopped` holds `(epoch, batch, key, value)` and the message is printed.
    """

    def __init__(self):
        super().__init__()
        self.stopped = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = _non_finite(logs)
        if bad and self.stopped is None:
            key, value = bad[0]
            self.stopped = (self._epoch, batch, key, float(value))
            self.model.stop_training = True
            print(f"\nkerasgan: {self.message}", flush=True)

    @property
    def message(self):
        if self.stopped is None:
            return None
        epoch, batch, key, value = self.stopped
        return (f"{key} became {value} at epoch {epoch + 1}, batch {batch + 1}: training "
                "stopped; the last checkpoint is from before it.")


FINGERPRINT_FILE = "model.json"


def fingerprint(gan):
    """What a checkpoint directory must agree on with the model that trains into it."""
    return {"class": type(gan).__name__, "latent_dim": gan.latent_dim,
            "image_shape": list(gan.image_shape)}


class Checkpoint(keras.callbacks.Callback):
    """Saves the whole GAN (weights, both optimizers, step) as `.keras` every epoch.

    Each file is written under a temporary name and renamed, so a killed process never
    leaves a half-written checkpoint; an epoch whose logs hold NaN/Inf is not saved.
    The newest `keep` checkpoints are kept. Resume with `load_latest_checkpoint`.
    Training a model into a directory that holds checkpoints of a different model (other
    image shape or latent size) is refused when training begins.
    """

    def __init__(self, directory, keep=2):
        super().__init__()
        self.directory, self.keep = directory, keep

    def on_train_begin(self, logs=None):
        path = os.path.join(self.directory, FINGERPRINT_FILE)
        mine = fingerprint(self.model)
        if os.path.isfile(path):
            with open(path) as f:
                theirs = json.load(f)
            if theirs != mine:
                raise ValueError(f"{self.directory} holds checkpoints of another model ({theirs}); "
                                 f"this model is {mine}. Use another directory.")
        else:
            os.makedirs(self.directory, exist_ok=True)
            with open(path + ".tmp", "w") as f:
                json.dump(mine, f)
            os.replace(path + ".tmp", path)

    def on_epoch_end(self, epoch, logs=None):
        bad = _non_finite(logs)
        if bad:
            warnings.warn(f"Not checkpointing epoch {epoch + 1}: {bad[0][0]} is {bad[0][1]}.")
            return
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, CHECKPOINT_PATTERN.format(epoch=epoch + 1))
        tmp = os.path.join(self.directory, ".tmp-" + os.path.basename(path))
        self.model.save(tmp)
        os.replace(tmp, path)
        for old, _ in list_checkpoints(self.directory)[:-self.keep]:
            os.remove(old)


def list_checkpoints(directory):
    """`[(path, epoch), ...]` of the checkpoints in `directory`, oldest first."""
    found = []
    for path in glob.glob(os.path.join(directory, "epoch-*.keras")):
        match = _CHECKPOINT_RE.search(os.path.basename(path))
        if match:
            found.append((path, int(match.group(1))))
    return sorted(found, key=lambda item: item[1])


def latest_checkpoint(directory):
    """`(path, epoch)` of the newest checkpoint in `directory`, or `None`."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def load_latest_checkpoint(directory):
    """`(gan, epoch)` from the newest checkpoint in `directory` that loads, or `None`.

    A checkpoint that does not load (corrupt, truncated) is skipped with a warning naming
    it, and the previous one is tried.
    """
    for path, epoch in reversed(list_checkpoints(directory)):
        try:
            return keras.models.load_model(path), epoch
        except Exception as error:  # noqa: BLE001 - any unreadable file means: try older
            warnings.warn(f"Checkpoint {path} could not be loaded ({type(error).__name__}: "
                          f"{str(error)[:200]}); trying the previous one.")
    return None
