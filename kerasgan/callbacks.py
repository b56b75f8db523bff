"""Training callbacks that understand GANs: sample grids, NaN stop, atomic checkpoints."""
import glob
import importlib
import json
import math
import os
import re
import shutil
import time
import warnings
import zipfile

import numpy as np
import keras

from kerasgan.errors import KerasganWarning
# atomic_file / write_json: also kerasgan.callbacks.NAME, their first home.
from kerasgan.files import atomic_file, write_json

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
    """Writes images in [-1, 1] as one image grid with Pillow (the format from the
    extension of `path`: PNG, JPEG, ...; grey images as an 8-bit grey file); returns the path.

    The file is written under a unique temporary name and renamed: a failed write (a full
    disk) leaves the previous file at `path` as it was and no temporary file.
    """
    from PIL import Image

    image_format = image_format_of(path)
    grid = image_grid(images, columns)
    with atomic_file(path) as tmp:
        Image.fromarray(grid).save(tmp, format=image_format)
    return path


IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".bmp": "bmp", ".gif": "gif",
                 ".tif": "tiff", ".tiff": "tiff", ".webp": "webp"}


def image_format_of(path):
    """The image format a file name asks for (from its extension: `IMAGE_FORMATS`)."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in IMAGE_FORMATS:
        raise ValueError(f"{path}: the image format comes from the file extension; expected "
                         f"one of {', '.join(IMAGE_FORMATS)}, got {extension or 'none'!r}.")
    return IMAGE_FORMATS[extension]


class SampleGrid(keras.callbacks.Callback):
    """Every `every_n_epochs`, writes `directory/epoch-NNNN.png` from one fixed latent batch.

    The same latents every time, so the grids show one set of samples evolving. (A
    class-conditional model's images take the classes in turn: with `columns` = the number of
    classes, each column is one class.)
    """

    def __init__(self, directory, n=64, seed=0, every_n_epochs=1, columns=None):
        super().__init__()
        self.directory, self.n, self.seed, self.every_n_epochs = directory, n, seed, every_n_epochs
        self.columns = columns
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs or _non_finite(logs):
            return
        latents = self.model.latents(self.n, self.seed)
        path = os.path.join(self.directory, f"epoch-{epoch + 1:04d}.png")
        self.last_path = save_grid(self.model.generate(latents=latents), path, self.columns)


def _non_finite(logs):
    return [(k, v) for k, v in (logs or {}).items()
            if np.ndim(v) == 0 and not np.isfinite(float(v))]


class TrainingBudget(keras.callbacks.Callback):
    """Stops training after `minutes` of wall time in this `fit` call, or once the model has
    trained on `kimg` thousand images in all (its step counter x `batch_size`, as StyleGAN
    users count), whichever comes first; checked after every batch.

    The epoch in progress ends there, so the callbacks after it (`Checkpoint`, `SampleGrid`)
    still run for it. `stopped` is None or the reason, for the caller to report.
    """

    def __init__(self, minutes=None, kimg=None, batch_size=None):
        super().__init__()
        if minutes is not None and not minutes > 0:
            raise ValueError(f"minutes must be a positive number, got {minutes!r}.")
        if kimg is not None and not (kimg > 0 and batch_size):
            raise ValueError(f"kimg must be a positive number with a batch_size, got {kimg!r}.")
        self.seconds = None if minutes is None else 60.0 * minutes
        self.images = None if kimg is None else 1000.0 * kimg
        self.batch_size = batch_size
        self.stopped = None

    def on_train_begin(self, logs=None):
        self.started = time.monotonic()
        self.stopped = None

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds is not None and time.monotonic() - self.started >= self.seconds:
            self.stopped = f"the budget of {self.seconds / 60:g} minutes"
        elif self.images is not None and \
                int(self.model.step.numpy()) * self.batch_size >= self.images:
            self.stopped = f"the budget of {self.images / 1000:g} kimg"
        if self.stopped:
            self.model.stop_training = True


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
    return gan.fingerprint()


class Checkpoint(keras.callbacks.Callback):
    """Saves the whole GAN (weights, both optimizers, step) as `.keras` every epoch.

    Each file is written under a unique temporary name, checked (`verify_checkpoint`) and
    renamed, so a killed process or a full disk never leaves a half-written checkpoint
    (a failed write removes its temporary file); an epoch whose logs hold NaN/Inf is not
    saved. Older checkpoints are pruned only after a new one is in place and verified, down
    to the newest `keep`. Resume with `load_latest_checkpoint`.
    With `snapshot_every`, the checkpoint of every epoch that is a multiple of it is also
    kept in `snapshot_dir` (same name), where nothing prunes it: a run can be gone back to
    after a long run got worse (sample one with `kerasgan sample RUN/snapshots/epoch-N.keras`).
    Training a model into a directory that holds checkpoints of a different model (other
    image shape or latent size) is refused when training begins.
    """

    def __init__(self, directory, keep=2, snapshot_every=None, snapshot_dir=None):
        super().__init__()
        if snapshot_every is not None and snapshot_dir is None:
            raise ValueError("snapshot_every needs a snapshot_dir to keep the snapshots in.")
        self.directory, self.keep = directory, keep
        self.snapshot_every, self.snapshot_dir = snapshot_every, snapshot_dir

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
            write_json(mine, path)

    def on_epoch_end(self, epoch, logs=None):
        bad = _non_finite(logs)
        if bad:
            warnings.warn(f"Not checkpointing epoch {epoch + 1}: {bad[0][0]} is {bad[0][1]}.",
                          KerasganWarning)
            return
        path = os.path.join(self.directory, CHECKPOINT_PATTERN.format(epoch=epoch + 1))
        try:
            with atomic_file(path) as tmp:  # a failed save (full disk) removes its temporary
                self.model.save(tmp)
                problem = verify_checkpoint(tmp)
                if problem:  # not renamed into place
                    raise _Unverified(problem)
        except _Unverified as error:
            warnings.warn(f"Not checkpointing epoch {epoch + 1}: the written file did not "
                          f"verify ({error}); the previous checkpoints are kept.",
                          KerasganWarning)
            return
        if self.snapshot_every and (epoch + 1) % self.snapshot_every == 0:
            self._snapshot(path)
        self._prune(epoch + 1)

    def _snapshot(self, path):
        """A second name for the verified checkpoint at `path` in `snapshot_dir` (a hard
        link where the file system has them, else a copy), put in place atomically."""
        with atomic_file(os.path.join(self.snapshot_dir, os.path.basename(path))) as tmp:
            os.remove(tmp)  # the placeholder atomic_file made; the link or copy takes its name
            try:
                os.link(path, tmp)
            except OSError:  # no hard links here (another device, some file systems)
                shutil.copyfile(path, tmp)

    def _prune(self, written):
        """Runs only after checkpoint `written` is in place and verified. Damaged checkpoints
        of later epochs (left by a run that was resumed from before them because they did
        not load) go first: they would shadow it. Then it and the newest `keep - 1` others
        stay."""
        for path, epoch in list_checkpoints(self.directory):
            problem = verify_checkpoint(path) if epoch > written else None
            if problem:
                warnings.warn(f"Removing {path}: newer than epoch {written} but damaged "
                              f"({problem}).", KerasganWarning)
                os.remove(path)
        others = [path for path, epoch in list_checkpoints(self.directory) if epoch != written]
        for path in others[:max(0, len(others) - (self.keep - 1))]:
            os.remove(path)


class _Unverified(Exception):
    pass


def verify_checkpoint(path):
    """Why the `.keras` file at `path` would not load, or None when it is sound.

    Checks the archive as Keras wrote it: a zip whose every member passes its CRC, with the
    model's `config.json` (valid JSON) and `model.weights.h5`. This catches truncated and
    damaged files without rebuilding the model.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = sorted({"config.json", "model.weights.h5"} - names)
            if missing:
                return f"it lacks {', '.join(missing)}"
            bad = archive.testzip()
            if bad is not None:
                return f"{bad} fails its CRC check"
            json.loads(archive.read("config.json"))
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as error:
        return f"{type(error).__name__}: {error}"
    return None


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
    importlib.import_module("kerasgan.models")  # Keras finds kerasgan's classes once imported
    for path, epoch in reversed(list_checkpoints(directory)):
        try:
            return keras.models.load_model(path), epoch
        except Exception as error:  # noqa: BLE001 - any unreadable file means: try older
            warnings.warn(f"Checkpoint {path} could not be loaded ({type(error).__name__}: "
                          f"{str(error)[:200]}); trying the previous one.", KerasganWarning)
    return None


class TranslationGrid(keras.callbacks.Callback):
    """Every `every_n_epochs`, writes `directory/epoch-NNNN.png`: fixed images of A and B
    in rows of (input, translated, reconstructed), the CycleGAN counterpart of `SampleGrid`.
    For a model that translates one way (no "b2a" in its `DIRECTIONS`, e.g. CUT): rows of
    (input, translated) for A, and for B (input, what G makes of it: the identity it should be).

    Args:
        directory: where the PNGs go.
        images_a, images_b: a few fixed images of each domain, floats in [-1, 1]
            (any size, e.g. the first batch of `unpaired_dataset`).
    """

    def __init__(self, directory, images_a, images_b, every_n_epochs=1):
        super().__init__()
        self.directory, self.every_n_epochs = directory, every_n_epochs
        self.images_a, self.images_b = np.asarray(images_a), np.asarray(images_b)
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs or _non_finite(logs):
            return
        rows = []
        path = os.path.join(self.directory, f"epoch-{epoch + 1:04d}.png")
        if "b2a" not in self.model.DIRECTIONS:
            for x in (self.images_a, self.images_b):
                rows += [np.stack([u, v]) for u, v in zip(x, self.model.translate(x))]
            self.last_path = save_grid(np.concatenate(rows), path, columns=2)
            return
        for x, there, back in ((self.images_a, "a2b", "b2a"), (self.images_b, "b2a", "a2b")):
            y = self.model.translate(x, there)
            rows += [np.stack([u, v, w]) for u, v, w in zip(x, y, self.model.translate(y, back))]
        self.last_path = save_grid(np.concatenate(rows), path, columns=3)


class PairGrid(keras.callbacks.Callback):
    """Every `every_n_epochs`, writes `directory/epoch-NNNN.png`: fixed pairs in rows of
    (input, translated, target), the pix2pix counterpart of `SampleGrid`.

    Args:
        directory: where the PNGs go.
        inputs, targets: a few fixed aligned pairs, floats in [-1, 1] `(n, H, W, C)` (e.g.
            the first batch of `paired_dataset`).
    """

    def __init__(self, directory, inputs, targets, every_n_epochs=1):
        super().__init__()
        self.directory, self.every_n_epochs = directory, every_n_epochs
        self.inputs, self.targets = np.asarray(inputs), np.asarray(targets)
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs or _non_finite(logs):
            return
        translated = self.model.translate(self.inputs)
        rows = np.stack([self.inputs, translated, self.targets], axis=1)
        path = os.path.join(self.directory, f"epoch-{epoch + 1:04d}.png")
        self.last_path = save_grid(rows.reshape((-1,) + rows.shape[2:]), path, columns=3)


class RestorationGrid(keras.callbacks.Callback):
    """Every `every_n_epochs`, writes `directory/epoch-NNNN.png`: fixed images in rows of
    (damaged, restored, original), the inpainting counterpart of `SampleGrid`. The masks are
    fixed too: the model's mask families drawn once from `seed`.

    Args:
        directory: where the PNGs go.
        images: a few fixed clean images, floats in [-1, 1] `(n, H, W, C)`.
    """

    def __init__(self, directory, images, every_n_epochs=1, seed=0):
        super().__init__()
        self.directory, self.every_n_epochs, self.seed = directory, every_n_epochs, seed
        self.images = np.asarray(images, "float32")
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        from kerasgan import masks

        if (epoch + 1) % self.every_n_epochs or _non_finite(logs):
            return
        n, h, w, _ = self.images.shape
        mask = masks.draw(tf.constant([self.seed, 0], tf.int64), n, h, w,
                          self.model.mask_families).numpy()
        damaged = np.where(mask > 0.5, 1.0, self.images)  # holes shown white
        restored = self.model.restore(self.images, mask)
        rows = [np.stack([d, r, x]) for d, r, x in zip(damaged, restored, self.images)]
        path = os.path.join(self.directory, f"epoch-{epoch + 1:04d}.png")
        self.last_path = save_grid(np.concatenate(rows), path, columns=3)


class EpochLog(keras.callbacks.Callback):
    """Appends each epoch's logs to `path` as one JSON object a line, `{"epoch": N, ...}`
    (N counted from 1), flushed at once: the whole history of a run, across resumed
    sessions; `kerasgan.plots.read_history` reads it back (a resumed run that went back to
    an older checkpoint replaces the epochs it trains again)."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            if np.ndim(value) == 0:
                try:
                    record[key] = float(value)
                except (TypeError, ValueError):
                    continue
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def learning_rates(model):
    """`{"generator": lr, "discriminator": lr}`: the current learning rates of a kerasgan
    model's two optimizers (a schedule's value at the optimizer's step), where compiled."""
    rates = {}
    for name, optimizer in (("generator", getattr(model, "g_optimizer", None)),
                            ("discriminator", getattr(model, "d_optimizer", None))):
        if optimizer is None:
            continue
        try:
            rates[name] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        except (AttributeError, TypeError, ValueError):
            continue
    return rates


class TensorBoardImages(keras.callbacks.Callback):
    """The TensorBoard companion of a GAN's losses: each epoch, the learning rates and the
    sample grid.

    The learning rates go into the epoch's logs as `learning_rate_generator` and
    `learning_rate_discriminator`, so that a `keras.callbacks.TensorBoard` listed AFTER
    this callback logs them beside the losses (`epoch_learning_rate_generator`, ...). The
    sample grid is written with `tf.summary.image` as "samples" into `log_dir` (a folder of
    its own: `kerasgan train --tensorboard` uses `OUT/tensorboard/samples` beside Keras'
    `OUT/tensorboard/train`). The grid is the one `samples` (the run's `SampleGrid`,
    `TranslationGrid` or `RestorationGrid`, listed BEFORE this callback) wrote this epoch;
    without `samples`, a grid of `n` images generated from fixed latents (`seed`) every
    `every_n_epochs` epochs (generating models only). Needs the tensorboard package.

    Example:
        >>> log_dir = "runs/art/tensorboard"
        >>> gan.fit(data, epochs=10, callbacks=[
        ...     kerasgan.callbacks.TensorBoardImages(log_dir + "/samples"),
        ...     keras.callbacks.TensorBoard(log_dir, write_graph=False)])
    """

    def __init__(self, log_dir, samples=None, n=16, seed=0, every_n_epochs=1):
        super().__init__()
        self.log_dir, self.samples, self.n, self.seed = log_dir, samples, n, seed
        self.every_n_epochs = every_n_epochs
        self._writer = None
        self._logged_path = None

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(self.log_dir)
        self._logged_path = getattr(self.samples, "last_path", None)

    def _grid(self, epoch, logs):
        if self.samples is not None:
            path = getattr(self.samples, "last_path", None)
            if path is None or path == self._logged_path or not os.path.isfile(path):
                return None
            from PIL import Image

            self._logged_path = path
            with Image.open(path) as image:
                return np.asarray(image.convert("L" if image.mode in ("L", "LA", "I", "I;16")
                                                else "RGB"))
        if (epoch + 1) % self.every_n_epochs or _non_finite(logs) \
                or getattr(self.model, "task", None) != "generation":
            return None
        return image_grid(self.model.generate(latents=self.model.latents(self.n, self.seed)))

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        if logs is not None:
            for name, rate in learning_rates(self.model).items():
                logs[f"learning_rate_{name}"] = rate
        grid = self._grid(epoch, logs)
        if grid is None or self._writer is None:
            return
        if grid.ndim == 2:
            grid = grid[..., None]
        with self._writer.as_default():
            tf.summary.image("samples", grid[None], step=epoch, max_outputs=1)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
