"""The adversarial base: what every kerasgan model shares, whatever its networks.

`AdversarialModel` owns the seed and the step counter, the one layout of the stateless random
key, the replica helpers, the compile skeleton (precision, two loss-scaled optimizers built
at once, their (de)serialization), the config of its networks and of the architecture it
was built as, the model folder's weight files, and the logs `train_step` returns. A model
class says what it is (`task`), which networks it saves (`NETWORKS`, `weight_files`), what it
exports (`export_signatures`) and how it is best compiled (`default_compile_args`), so that
the CLI, export and the zoo ask it instead of guessing from attributes.
"""
import collections
import os

import numpy as np
import keras
import tensorflow as tf

from kerasgan import noise
from kerasgan import precision as precision_lib
from kerasgan.files import atomic_file


class Stream:
    """Ids of the random streams of `AdversarialModel.key(stream, draw)`, 0-63, all here so
    that no two draws of a step share a key."""
    LATENTS = 0
    INTERPOLATION = 1  # WGAN-GP's real/fake mix
    AUGMENT_REAL = 2
    AUGMENT_FAKE = 3
    AUGMENT_GENERATOR = 4
    STYLE_MIX_LATENT = 8
    STYLE_MIX_CUTOFF = 9
    POOL_A = 10  # CycleGAN's history pools
    POOL_B = 11
    MASKS = 12  # inpainting masks
    PATCHES = 13  # CUT's PatchNCE positions
    QUADRANT = 40  # FastGAN's part reconstruction
    STYLEGAN_NOISE = 16  # 16 + i for StyleGAN's noise input i (at most 24 inputs)


MAX_DRAWS = 64  # draws a step: `key` gives each draw 64 streams of its own

# One generator (or translator) to export: its Keras model, its inputs' names and shapes
# (without the batch axis), and an optional function run instead of `model` (e.g. StyleGAN's
# truncation) inside the exported graph, and for a class-conditional generator the number of
# classes its int32 `label` input takes.
ExportSignature = collections.namedtuple(
    "ExportSignature", ["name", "model", "input_names", "input_shapes", "run", "num_classes"],
    defaults=(None, 0))


class AdversarialModel(keras.Model):
    """Base class of kerasgan's models: networks trained against each other with `fit`.

    Subclasses set `task` and `NETWORKS`, build their trackers, and implement `train_step`,
    `_compile_settings` (their compile arguments other than the optimizers), `_settings`
    (their constructor arguments other than the networks), `weight_files` and
    `export_signatures`.

    Args:
        seed: seed of the training noise; drawn at random when None (and kept in the config,
            so that a reloaded model continues the same stream).
        architecture: the registry name the model was built as (`kerasgan.zoo.create` sets
            it), with `architecture_config`, the builder's arguments: they are the model's
            own config, so a `.keras` file and a model folder share one spec.
    """

    task = None  # one of kerasgan.architectures.TASKS
    truncates = False  # whether `export_signatures` takes a truncation_psi other than 1
    DIRECTIONS = ()  # a translation model's: the directions `translate` and export take
    NETWORKS = ()  # constructor arguments that are Keras models, serialized in the config
    # Fine-tuning (training's `start_from`) trains at the recommended learning rates times
    # this unless a rate is given: a preset's weights are a good start that full-size steps
    # could shake loose. Architectures measured otherwise set their own.
    fine_tune_lr_scale = 0.5

    def __init__(self, seed=None, architecture=None, architecture_config=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = int(np.random.randint(0, 2**31 - 1) if seed is None else seed)
        self.architecture = architecture
        self.architecture_config = None if architecture_config is None else dict(
            architecture_config)
        # Counts generator updates; saved with the model, keys the random stream.
        self.step = self.add_weight(name="step", shape=(), dtype="int64",
                                    initializer="zeros", trainable=False)
        self.d_optimizer = None
        self.g_optimizer = None
        # fit() never calls the model, and save_weights needs it built.
        self.built = True

    # ------------------------------------------------------------------ what it is
    @property
    def spec(self):
        """`{"architecture": name, "config": builder arguments}`, or None for a model not
        built by `kerasgan.zoo.create` (it cannot be saved as a folder)."""
        if self.architecture is None:
            return None
        return {"architecture": self.architecture, "config": dict(self.architecture_config)}

    def default_compile_args(self, batch_size=32, total_steps=None):
        """The architecture's recommended `compile` arguments for this batch size and
        training length (the models with a learning-rate schedule use it)."""
        del batch_size, total_steps
        return {}

    def fingerprint(self):
        """What a checkpoint folder must agree on with the model that trains into it."""
        return {"class": type(self).__name__, "image_shape": list(self.image_shape)}

    def export_signatures(self, **options):
        """The networks to export, as `ExportSignature`s (see `kerasgan.export`)."""
        raise NotImplementedError

    @classmethod
    def from_preset(cls, name, for_training=False, **kwargs):
        """Loads preset (or model folder, or `.keras` file) `name` with `kerasgan.zoo.load`,
        checked to be a `cls`: `kerasgan.StyleGAN.from_preset("stylegan_lite_clipart64")`."""
        from kerasgan import zoo

        model = zoo.load(name, for_training=for_training, **kwargs)
        if not isinstance(model, cls):
            raise ValueError(f"{name} is a {type(model).__name__} ({model.task}), not a "
                             f"{cls.__name__}.")
        return model

    # ------------------------------------------------------------------ random keys
    def key(self, stream, draw=0):
        """The stateless key of random `stream` (a `Stream` id, 0-63) for draw `draw`
        (0-63) of this step: `[seed, (step * 64 + draw) * 64 + stream]`."""
        return tf.stack([tf.constant(self.seed, tf.int64),
                         (self.step * MAX_DRAWS + draw) * 64 + stream])

    @staticmethod
    def _replica_share(draw_global, batch_size):
        """This replica's slice of noise drawn for the whole global batch.

        Every replica draws the global batch's noise and keeps its own rows, so the noise
        a sample gets does not depend on the number of replicas.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas == 1:
            return draw_global(batch_size)
        start = tf.distribute.get_replica_context().replica_id_in_sync_group * batch_size
        return draw_global(batch_size * replicas)[start:start + batch_size]

    def _augmentation_params(self, augmentation, batch_size, stream, draw=0):
        """`augmentation.num_params` uniform numbers per image of this replica's batch, from
        random `stream` of draw `draw` (drawn for the global batch, see `_replica_share`)."""
        return self._replica_share(
            lambda n: noise.uniform(tf.stack([n, augmentation.num_params]),
                                    self.key(stream, draw)), batch_size)

    @staticmethod
    def _per_replica(loss):
        # Gradients are summed over replicas: a replica's share of the global-batch mean.
        return loss / tf.distribute.get_strategy().num_replicas_in_sync

    def _logs(self):
        logs = {m.name: m.result() for m in self.metrics}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 reduces multi-worker logs with a mean over axis 0, which fails on
            # scalars ("Invalid reduction dimension 0"); shape (1,) reduces to a scalar.
            logs = {key: tf.reshape(value, [1]) for key, value in logs.items()}
        return logs

    # ------------------------------------------------------------------ compile
    def networks(self):
        """The networks trained, in `NETWORKS` order."""
        return [getattr(self, key) for key in self.NETWORKS]

    def generator_variables(self):
        raise NotImplementedError

    def discriminator_variables(self):
        raise NotImplementedError

    def _compile_optimizers(self, d_optimizer, g_optimizer, default_optimizer, jit_compile,
                            precision, networks, **kwargs):
        """Sets the precision and the two optimizers (loss-scaled for float16, built now)."""
        self.jit_compile_setting = jit_compile
        self.precision = precision
        self.compute_precision = precision_lib.prepare(precision, networks)
        # optimizer=None: otherwise Keras adds an unused RMSprop whose state breaks resume.
        super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
        self.d_optimizer = precision_lib.loss_scaled(
            keras.optimizers.get(d_optimizer or default_optimizer()), self.compute_precision)
        self.g_optimizer = precision_lib.loss_scaled(
            keras.optimizers.get(g_optimizer or default_optimizer()), self.compute_precision)
        # Built now, not lazily: load_model silently drops the state of unbuilt optimizers.
        self.d_optimizer.build(self.discriminator_variables())
        self.g_optimizer.build(self.generator_variables())

    def _compile_settings(self):
        """The compile arguments besides the optimizers, jit_compile and precision."""
        return {}

    def get_compile_config(self):
        if self.d_optimizer is None:
            return None
        return {
            "d_optimizer": keras.saving.serialize_keras_object(
                precision_lib.unwrapped(self.d_optimizer)),
            "g_optimizer": keras.saving.serialize_keras_object(
                precision_lib.unwrapped(self.g_optimizer)),
            **self._compile_settings(),
            "jit_compile": self.jit_compile_setting,
            "precision": self.precision,
        }

    def compile_from_config(self, config):
        config = dict(config)
        for key in ("d_optimizer", "g_optimizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)

    # ------------------------------------------------------------------ config
    def _settings(self):
        """The constructor arguments besides the networks, seed, name and architecture."""
        return {}

    def get_config(self):
        config = {"name": self.name, "seed": self.seed, **self._settings()}
        if self.architecture is not None:
            config.update(architecture=self.architecture,
                          architecture_config=self.architecture_config)
        # Networks are saved as float32 models; the precision is in the compile config.
        with precision_lib.float32_layers(*self.networks()):
            for key in self.NETWORKS:
                config[key] = keras.saving.serialize_keras_object(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in cls.NETWORKS:
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    # ------------------------------------------------------------------ model folders
    def weight_files(self, for_preset=False):
        """`{file name: network}` of a model folder. `for_preset`: the files a preset
        ships (e.g. the EMA generator's weights as the generator's)."""
        raise NotImplementedError

    def missing_weight_file(self, filename, path):
        """Called by `load_folder_weights` for a file the folder lacks: refuses by default;
        a subclass may start that network otherwise (e.g. the EMA generator from G)."""
        raise FileNotFoundError(f"Model folder {path!r} lacks {filename}.")

    def save_folder_weights(self, path, for_preset=False):
        """Writes every network's weights into folder `path`, each to a temporary name and
        renamed, so an interrupted save leaves the previous files intact."""
        os.makedirs(path, exist_ok=True)
        for filename, network in self.weight_files(for_preset).items():
            with atomic_file(os.path.join(path, filename), suffix=".weights.h5") as tmp:
                network.save_weights(tmp)

    def load_folder_weights(self, path):
        """Reads the weights `save_folder_weights` wrote (see `missing_weight_file`)."""
        for filename, network in self.weight_files().items():
            file = os.path.join(path, filename)
            if os.path.isfile(file):
                network.load_weights(file)
            else:
                self.missing_weight_file(filename, path)
