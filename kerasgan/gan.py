"""The adversarial engine: a `keras.Model` whose `train_step` plays the GAN game."""
import numpy as np
import keras
import tensorflow as tf

from kerasgan import augment as augment_lib
from kerasgan import losses as losses_lib
from kerasgan import noise
from kerasgan import precision as precision_lib
from kerasgan.adversarial import MAX_DRAWS, AdversarialModel, ExportSignature, Stream
from kerasgan import conditioning


def check_images(images, image_shape, what, converter):
    """Refuses a training batch of the wrong shape or a non-float dtype, naming both."""
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[1:] != tuple(image_shape):
        raise ValueError(f"{what} must have shape (batch, {', '.join(map(str, image_shape))}) "
                         f"for this model, got {shape}.")
    if not images.dtype.is_floating:
        raise ValueError(f"{what} must be floats in [-1, 1], got dtype {images.dtype.name}; "
                         f"{converter} converts, or scale uint8 pixels with x / 127.5 - 1.")


MAX_D_STEPS = MAX_DRAWS  # discriminator draws a step (each has random keys of its own)


def batch_norm_layers(model):
    """The `BatchNormalization` layers of the functional `model` (not of models nested in it)."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def batch_norm_statistics(model):
    """A function `update(inputs, momentum=None)` that moves the moving statistics of each
    of `model`'s batch-norm layers toward the mean and variance of what reaches that layer
    when `model` runs on `inputs` in inference mode (at the layer's own momentum, or
    `momentum`); None when `model` has no batch norm.

    Not a training-mode pass: a layer that is not trainable (the EMA generator's) ignores
    `training=True`, and spectral norm would rescale the kernels. The inference pass is
    also what the statistics are for: each layer sees its input as `generate` makes it."""
    layers = batch_norm_layers(model)
    if not layers:
        return None
    probe = keras.Model(model.inputs, [layer.input for layer in layers])

    def update(inputs, momentum=None):
        for layer, x in zip(layers, probe(inputs, training=False)):
            x = tf.cast(x, "float32")
            axes = [i for i in range(len(x.shape)) if i != layer.axis % len(x.shape)]
            mean, square = tf.reduce_mean(x, axes), tf.reduce_mean(tf.square(x), axes)
            replicas = tf.distribute.get_replica_context()
            if replicas is not None and replicas.num_replicas_in_sync > 1:
                # the global batch's, as the generator's synchronized batch norm has them
                mean, square = replicas.all_reduce("MEAN", [mean, square])
            variance = tf.maximum(square - tf.square(mean), 0.0)
            keep = layer.momentum if momentum is None else momentum
            layer.moving_mean.assign(keep * layer.moving_mean + (1.0 - keep) * mean)
            layer.moving_variance.assign(keep * layer.moving_variance + (1.0 - keep) * variance)
    return update


def _default_optimizer():
    # Radford et al. (DCGAN): Adam, lr 2e-4, beta_1 0.5.
    return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5)


@keras.saving.register_keras_serializable(package="kerasgan")
class GAN(AdversarialModel):
    """A generator and a discriminator trained against each other with `fit`.

    Each `train_step` makes `d_steps` discriminator updates, then one generator update
    that reuses the last discriminator step's fakes (one generator forward pass per step,
    as in the PyTorch DCGAN reference). The step's random numbers are stateless draws
    keyed by `(seed, step)`: a resumed run continues the same random stream.

    Args:
        generator: a Keras model mapping latents `(batch, latent_dim)` to images in [-1, 1].
        discriminator: a Keras model mapping images to logits `(batch, 1)`.
        d_steps: discriminator updates per generator update.
        ema_decay: if set (e.g. `0.999`), keep an exponential moving average of the
            generator's weights in `ema_generator` (its batch-norm statistics its own);
            `generate` then samples from it.
        seed: seed of the training noise; drawn at random when `None` (and kept in the
            config so that a reloaded model continues the same stream).
        class_names: for a class-conditional model (its generator and discriminator take a
            second input, `label`: the class index, int32), the names of the classes; it
            trains on `(images, labels)` batches (`image_dataset(..., labels="inferred")`)
            and `generate(n, labels=...)` takes indices or names. None: unconditional.

    Example:

    ```python
    import kerasgan
    gan = kerasgan.zoo.create("dcgan", image_size=64)
    gan.compile()  # Adam(2e-4, beta_1=0.5) for both nets, non-saturating loss
    gan.fit(kerasgan.data.image_dataset("paintings/", image_size=64), epochs=10)
    images = gan.generate(16, seed=0)  # (16, 64, 64, 3) in [-1, 1]
    ```
    """

    task = "generation"
    NETWORKS = ("generator", "discriminator")

    def __init__(self, generator, discriminator, d_steps=1, ema_decay=None, seed=None,
                 class_names=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 1 <= int(d_steps) <= MAX_D_STEPS:
            raise ValueError(f"d_steps must be an integer from 1 to {MAX_D_STEPS} (each step's "
                             f"random keys hold {MAX_D_STEPS} draws), got {d_steps!r}.")
        if ema_decay is not None and not 0.0 < float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {ema_decay!r}.")
        self.class_names = conditioning.check_class_names(class_names)
        self.num_classes = len(self.class_names or ())
        for network in (generator, discriminator):
            takes_label = conditioning.has_label_input(network)
            if takes_label != bool(self.num_classes):
                raise ValueError(
                    f"class_names={self.class_names!r} but the {network.name} "
                    f"{'takes' if takes_label else 'lacks'} a "
                    f"'{conditioning.LABEL}' input: a conditional model's generator and "
                    f"discriminator both take the label, an unconditional one's neither.")
        self.generator = generator
        self.discriminator = discriminator
        # The first input is the latent (StyleGAN's generator has noise inputs after it).
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.image_shape = tuple(int(d) for d in generator.outputs[0].shape[1:])
        self.d_steps = int(d_steps)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.ema_generator = None
        if self.ema_decay is not None:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
            self.ema_generator.trainable = False
        # The EMA generator's batch-norm statistics are its own (see `_update_ema`), not
        # the generator's: which of its weights they are, and the function that updates them
        # (a closure: an attribute Keras does not track or save).
        ema = self.ema_generator
        own = {id(w) for layer in (batch_norm_layers(ema) if ema else ())
               for w in (layer.moving_mean, layer.moving_variance)}
        self._ema_own_statistics = tuple(id(w) in own for w in (ema.weights if ema else ()))
        self._update_ema_statistics = batch_norm_statistics(ema) if own else None
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="real_score")
        self.fake_score_tracker = keras.metrics.Mean(name="fake_score")
        self.penalty_tracker = keras.metrics.Mean(name="penalty")
        self.augment_strength_tracker = keras.metrics.Mean(name="augment_p")
        self.augmentation = None
        # An adaptive augmentation's probability (see `compile`); created with the first
        # such compile, so models trained without one keep the variables they had.
        self.augment_strength = None

    # ------------------------------------------------------------------ compile
    def compile(self, d_optimizer=None, g_optimizer=None, loss="non_saturating",
                gradient_penalty=None, r1_gamma=0.0, r1_every=1, augment=None,
                jit_compile="auto", precision="auto", **kwargs):
        """Configures training.

        Args:
            d_optimizer, g_optimizer: optimizers (instances, names or configs);
                default Adam(2e-4, beta_1=0.5) each.
            loss: one of `kerasgan.losses.LOSSES`: "non_saturating" (default), "minimax",
                "hinge", "wasserstein", "least_squares".
            gradient_penalty: weight of the WGAN-GP gradient penalty; default 10 for
                "wasserstein" and 0 otherwise.
            r1_gamma: R1 penalty weight gamma (the penalty added is gamma / 2 * R1).
            r1_every: apply R1 every this many steps, scaled up to match (lazy R1).
            augment: augmentation of every discriminator input, real and fake: a name in
                `kerasgan.augment.AUGMENTATIONS` ("diffaugment": colour, translation,
                cutout; "ada": also flips, quarter turns, scaling and rotation with a
                probability adapted while training, logged as `augment_p`; "ada_gated":
                all of these, DiffAugment's too, at that adapted probability) or None.
                Differentiable, so the generator learns through it.
            jit_compile: XLA for the train step. "auto" turns it on where a GPU is
                present and off on CPU-only machines, where it measured slower.
            precision: "float32", "mixed_bfloat16", "mixed_float16" (with dynamic loss
                scaling) or "auto": bfloat16 where the hardware computes it natively (GPUs
                from compute capability 8.0, CPUs with AVX512-BF16 or AMX), else float32.
                Weights, losses, penalties, logits and generated images stay float32;
                `compute_precision` tells what "auto" chose.
        """
        self.adversarial_loss = losses_lib.get(loss)
        self.loss_name = loss
        if gradient_penalty is None:
            gradient_penalty = losses_lib.DEFAULT_GRADIENT_PENALTY.get(loss, 0.0)
        if gradient_penalty < 0 or r1_gamma < 0:
            raise ValueError("gradient_penalty and r1_gamma must be >= 0, got "
                             f"{gradient_penalty!r} and {r1_gamma!r}.")
        self.gradient_penalty_weight = float(gradient_penalty)
        self.r1_gamma = float(r1_gamma)
        if int(r1_every) < 1:
            raise ValueError(f"r1_every must be a positive integer, got {r1_every!r}.")
        self.r1_every = int(r1_every)
        self.augment_name = augment
        self.augmentation = augment_lib.get(augment)
        if self.augmentation is not None and self.augmentation.adaptive \
                and self.augment_strength is None:
            # Saved with the model (a checkpoint resumes at the strength it reached);
            # replicas average their updates.
            self.augment_strength = self.add_weight(
                name="augment_strength", shape=(), dtype="float32", initializer="zeros",
                trainable=False, aggregation="mean")
        self._compile_optimizers(d_optimizer, g_optimizer, _default_optimizer, jit_compile,
                                 precision, self.networks(), **kwargs)

    def _compile_settings(self):
        return {"loss": self.loss_name, "gradient_penalty": self.gradient_penalty_weight,
                "r1_gamma": self.r1_gamma, "r1_every": self.r1_every,
                "augment": self.augment_name}

    # ------------------------------------------------------------------ config
    def _settings(self):
        settings = {"d_steps": self.d_steps, "ema_decay": self.ema_decay}
        if self.class_names:  # absent for unconditional models: their configs stay as they were
            settings["class_names"] = list(self.class_names)
        return settings

    def fingerprint(self):
        fingerprint = {**super().fingerprint(), "latent_dim": self.latent_dim}
        if self.class_names:
            fingerprint["class_names"] = list(self.class_names)
        return fingerprint

    # ------------------------------------------------------------------ model folders
    def weight_files(self, for_preset=False):
        """generator.weights.h5 (a preset's: the EMA generator's, the weights to sample and
        fine-tune with), generator_ema.weights.h5 (runs with EMA) and discriminator.weights.h5
        (for fine-tuning)."""
        if for_preset:
            return {"generator.weights.h5": self.sampler,
                    "discriminator.weights.h5": self.discriminator}
        files = {"generator.weights.h5": self.generator}
        if self.ema_generator is not None:
            files["generator_ema.weights.h5"] = self.ema_generator
        files["discriminator.weights.h5"] = self.discriminator
        return files

    def missing_weight_file(self, filename, path):
        if filename == "generator_ema.weights.h5":  # saved without EMA: start it from G
            self.ema_generator.set_weights(self.generator.get_weights())
        else:
            super().missing_weight_file(filename, path)

    def export_signatures(self, truncation_psi=1.0, **unused):
        """One signature, "generator": the sampler (the EMA generator where there is one)
        with its inputs (`latent`, a conditional model's int32 `label`, and StyleGAN's noise
        inputs, by their names)."""
        if isinstance(truncation_psi, bool) \
                or not isinstance(truncation_psi, (int, float, np.integer, np.floating)) \
                or not np.isfinite(truncation_psi):
            raise ValueError(f"truncation_psi must be a finite number, got {truncation_psi!r}.")
        generator = self.sampler
        names = [t.name.split(":")[0] for t in generator.inputs]
        if len(names) == 1:
            names = ["latent"]
        shapes = [tuple(int(d) for d in t.shape[1:]) for t in generator.inputs]
        return [ExportSignature("generator", generator, names, shapes,
                                self.truncated_sampler(float(truncation_psi)), self.num_classes)]

    def truncated_sampler(self, psi):
        """A function of the sampler's inputs that generates with truncation `psi`, or None
        for psi 1 (no truncation). Only StyleGAN models truncate."""
        if psi != 1.0:
            raise ValueError("truncation_psi applies to StyleGAN models only.")
        return None

    # ------------------------------------------------------------------ training
    @property
    def metrics(self):
        trackers = [self.d_loss_tracker, self.g_loss_tracker,
                    self.real_score_tracker, self.fake_score_tracker]
        if self.d_optimizer is not None and (self.gradient_penalty_weight or self.r1_gamma):
            trackers.append(self.penalty_tracker)
        if self._adapts_augmentation():
            trackers.append(self.augment_strength_tracker)
        return trackers

    def _adapts_augmentation(self):
        return self.augmentation is not None and self.augmentation.adaptive

    def _latents(self, batch_size, draw):
        """Latents keyed by (seed, step, draw): reproducible across resume and replicas."""
        return self._replica_share(
            lambda n: noise.normal(tf.stack([n, self.latent_dim]), self.key(Stream.LATENTS, draw)),
            batch_size)

    def _interpolation_weights(self, batch_size, draw):
        return self._replica_share(
            lambda n: noise.uniform(tf.stack([n, 1, 1, 1]), self.key(Stream.INTERPOLATION, draw)), batch_size)

    def _check_images(self, real):
        check_images(real, self.image_shape, "The training images", "kerasgan.data.image_dataset()")

    def _check_latents(self, latents):
        """`latents` as float32 numpy `(n, latent_dim)`, or a ValueError naming expected and got."""
        latents = np.asarray(latents)
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ValueError(f"latents must have shape (n, {self.latent_dim}), "
                             f"got {latents.shape}.")
        if not np.issubdtype(latents.dtype, np.floating):
            raise ValueError(f"latents must be floating point, got dtype {latents.dtype}.")
        return latents.astype("float32")

    def generator_inputs(self, batch_size, draw, labels=None):
        """The generator's training inputs: latents, and a conditional model's labels
        (subclasses add e.g. noise inputs)."""
        latents = self._latents(batch_size, draw)
        return latents if labels is None else [latents, labels]

    def fake_images(self, batch_size, draw, generator_step=False, labels=None):
        """The training fakes of draw `draw` (of classes `labels` in a conditional model);
        `generator_step` marks the generator update's draw (subclasses update running
        statistics there, e.g. StyleGAN's average w)."""
        return self.generator(self.generator_inputs(batch_size, draw, labels), training=True)

    def critic(self, images, labels=None, training=True):
        """The discriminator's logits for `images` (of classes `labels` if conditional)."""
        return self.discriminator(images if labels is None else [images, labels],
                                  training=training)

    def augment(self, images, draw, stream):
        """Augmentation applied to every batch the discriminator sees (identity by default).

        `stream` tells apart the real (0), fake (1) and generator-step (2) batches of draw
        `draw`, so that each gets its own random augmentation keys.
        """
        if self.augmentation is None:
            return images
        params = self._augmentation_params(self.augmentation, tf.shape(images)[0],
                                           Stream.AUGMENT_REAL + stream, draw)
        if self._adapts_augmentation():
            return self.augmentation(images, params, self.augment_strength)
        return self.augmentation(images, params)

    def _adapt_augmentation(self, real_logits, batch_size):
        """ADA's feedback: moves the augmentation strength by the discriminator's confidence
        on the real images of this step (`kerasgan.augment.AdaptiveAugment.adjust`)."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.augment_strength.assign(self.augmentation.adjust(
            self.augment_strength, real_logits, batch_size * replicas))
        self.augment_strength_tracker.update_state(self.augment_strength)

    def _lazy_r1(self, critic, real):
        """R1 every `r1_every` steps, scaled by `r1_every` (StyleGAN2's lazy regularization)."""
        penalty = lambda: self.r1_every * 0.5 * self.r1_gamma * losses_lib.r1_penalty(  # noqa: E731
            critic, real)
        if self.r1_every == 1:
            return penalty()
        return tf.cond(self.step % self.r1_every == 0, penalty, lambda: tf.constant(0.0))

    def real_logits(self, real_seen, draw, labels=None):
        """(logits, extra loss) of the discriminator on the real batch it sees. The extra
        loss (none here) is trained with the discriminator's update but not reported in
        `d_loss`: subclasses add self-supervised terms (FastGAN's reconstruction)."""
        return self.critic(real_seen, labels), tf.constant(0.0)

    def discriminator_variables(self):
        """What the discriminator's optimizer trains (subclasses add e.g. decoders)."""
        return self.discriminator.trainable_variables

    def _discriminator_step(self, real, fake, draw, labels=None):
        # The penalties differentiate the critic of this batch's classes.
        critic = lambda images, training=True: self.critic(images, labels, training)  # noqa: E731
        with tf.GradientTape() as tape:
            real_seen = self.augment(real, draw, 0)
            fake_seen = self.augment(fake, draw, 1)
            real_logits, extra = self.real_logits(real_seen, draw, labels)
            fake_logits = critic(fake_seen)
            d_loss = self.adversarial_loss.d_loss(real_logits, fake_logits)
            penalty = tf.constant(0.0)
            if self.gradient_penalty_weight:
                alpha = self._interpolation_weights(tf.shape(real)[0], draw)
                penalty += self.gradient_penalty_weight * losses_lib.gradient_penalty(
                    critic, real_seen, fake_seen, alpha=alpha)
            if self.r1_gamma:
                penalty += self._lazy_r1(critic, real_seen)
            total = d_loss + penalty
            # scale_loss: float16 loss scaling (the identity otherwise).
            scaled_total = self.d_optimizer.scale_loss(self._per_replica(total + extra))
        variables = self.discriminator_variables()
        grads = tape.gradient(scaled_total, variables)
        self.d_optimizer.apply_gradients(zip(grads, variables))
        return total, penalty, real_logits, fake_logits

    def generator_variables(self):
        return self.generator.trainable_variables

    def _unpack(self, data):
        """(images, labels) of a training batch; labels None for an unconditional model
        (which ignores labels it is given). A conditional model's fakes take the real
        batch's labels, so both sides of the game see the data's class frequencies."""
        labeled = isinstance(data, (tuple, list)) and len(data) > 1
        real = data[0] if isinstance(data, (tuple, list)) else data
        if not self.num_classes:
            return real, None
        if not labeled:
            raise ValueError(
                f"This model is class-conditional ({self.num_classes} classes): it trains on "
                f"(images, labels) batches, got images alone. "
                f"kerasgan.data.image_dataset(..., labels='inferred') gives them.")
        labels = tf.convert_to_tensor(data[1])
        if labels.shape.rank != 1 or not labels.dtype.is_integer:
            raise ValueError(f"The training labels must be integer class indices of shape "
                             f"(batch,), got {labels.dtype.name} {tuple(labels.shape)}.")
        return real, tf.cast(labels, "int32")

    def train_step(self, data):
        real, labels = self._unpack(data)
        self._check_images(real)
        real = tf.cast(real, "float32")
        batch_size = tf.shape(real)[0]
        for draw in range(self.d_steps - 1):
            self._discriminator_step(real, self.fake_images(batch_size, draw, labels=labels),
                                     draw, labels)
        g_variables = self.generator_variables()
        # Only the generator's weights are watched, so the discriminator update below
        # is not recorded on this tape. (The tape needs the backing tf.Variables.)
        with tf.GradientTape(watch_accessed_variables=False) as g_tape:
            g_tape.watch([v.value for v in g_variables])
            last = self.d_steps - 1
            fake = self.fake_images(batch_size, last, generator_step=True, labels=labels)
            d_loss, penalty, real_logits, fake_logits = self._discriminator_step(
                real, tf.stop_gradient(fake), last, labels)
            g_loss = self.adversarial_loss.g_loss(
                self.critic(self.augment(fake, last, 2), labels))
            scaled_g_loss = self.g_optimizer.scale_loss(self._per_replica(g_loss))
        g_grads = g_tape.gradient(scaled_g_loss, [v.value for v in g_variables])
        self.g_optimizer.apply_gradients(zip(g_grads, g_variables))
        self.step.assign_add(1)
        if self.ema_generator is not None:
            self._update_ema(batch_size, labels)
        if self._adapts_augmentation():
            self._adapt_augmentation(real_logits, batch_size)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.real_score_tracker.update_state(tf.reduce_mean(tf.cast(real_logits, "float32")))
        self.fake_score_tracker.update_state(tf.reduce_mean(tf.cast(fake_logits, "float32")))
        self.penalty_tracker.update_state(penalty)
        return self._logs()

    def _update_ema(self, batch_size, labels=None):
        # Warm-up as in tf.train.ExponentialMovingAverage(num_updates): early averages
        # follow the fast-changing weights instead of the random initialisation.
        step = tf.cast(self.step, "float32")
        decay = tf.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
        for average, weight, own in zip(self.ema_generator.weights, self.generator.weights,
                                        self._ema_own_statistics):
            if own:
                continue
            if weight.trainable:
                average.assign(decay * average + (1.0 - decay) * tf.cast(weight, average.dtype))
            else:  # e.g. spectral norm's power-iteration vector
                average.assign(weight)
        if self._update_ema_statistics is not None:
            # The generator's batch-norm statistics do not fit the averaged weights: copied,
            # they made a fastgan trained for an hour on clip art draw 73.5% blank pages
            # where the same weights with statistics of their own drew 1.8%
            # (docs/small_data.md). Any latents serve; these are the next step's.
            self._update_ema_statistics(
                self.generator_inputs(batch_size, self.d_steps - 1, labels))

    def recalibrate_ema_statistics(self, batches=16, batch_size=64, seed=0):
        """Re-estimates the EMA generator's batch-norm moving statistics from `batches`
        batches of `batch_size` latents (the mean over them, as PreciseBN does), for models
        saved before training kept them (it copied the generator's: see `_update_ema`).
        Changes only those statistics; a no-op without an EMA generator with batch norm.
        """
        if self._update_ema_statistics is None:
            return
        update = tf.function(self._update_ema_statistics)  # one trace: momentum is a tensor
        # Each pass makes every layer's statistics exact for the statistics of the layers
        # before it as the previous pass left them: as many passes as layers are exact.
        for _ in batch_norm_layers(self.ema_generator):
            rng = np.random.default_rng(seed)  # the same latents each pass
            for i in range(batches):  # momentum i/(i+1): the mean over the batches so far
                latents = rng.standard_normal((batch_size, self.latent_dim)).astype("float32")
                inputs = latents if not self.num_classes else [
                    latents, rng.integers(0, self.num_classes, (batch_size,)).astype("int32")]
                update(inputs, momentum=tf.constant(i / (i + 1.0)))

    # ------------------------------------------------------------------ sampling
    @property
    def sampler(self):
        """The generator used for sampling: the EMA generator when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def call(self, inputs, training=False):
        """`generator(latents)`, or `generator([latents, labels])` if conditional."""
        return self.generator(inputs, training=training)

    def latents(self, n, seed=None):
        """`n` standard-normal latents as a float32 numpy array; a fixed seed repeats them."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        rng = np.random.default_rng(seed)
        return rng.standard_normal((int(n), self.latent_dim)).astype("float32")

    def sample_labels(self, n, labels=None):
        """`n` class indices (int32 numpy) of a conditional model: `labels` is a class index
        or name (every image that class) or a sequence of `n` of them; None gives the
        classes in turn (0, 1, ..., K-1, 0, ...: balanced, and image i keeps its class from
        one call to the next, in grids and walks). ValueError naming the classes for an
        unknown one. None for an unconditional model."""
        if not self.num_classes:
            if labels is not None:
                raise ValueError("labels apply to class-conditional models only; this model "
                                 "was trained without classes.")
            return None
        if labels is None:
            return (np.arange(int(n)) % self.num_classes).astype("int32")
        if isinstance(labels, (str, int, np.integer)) and not isinstance(labels, bool):
            labels = [labels] * int(n)
        indices = np.asarray([self.class_index(label) for label in labels], "int32")
        if len(indices) != n:
            raise ValueError(f"labels must be one class or {n} of them, got {len(indices)}.")
        return indices

    def class_index(self, label):
        """The index of class `label` (an index, or a name in `class_names`)."""
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if 0 <= label < self.num_classes:
                return int(label)
        elif str(label) in self.class_names:
            return self.class_names.index(str(label))
        raise ValueError(f"Unknown class {label!r}: expected an index 0-{self.num_classes - 1} "
                         f"or one of {', '.join(self.class_names)}.")

    def generate(self, n=None, seed=None, latents=None, batch_size=256, labels=None):
        """Samples images in [-1, 1] as a float32 numpy array `(n, H, W, C)`, computed in
        float32 also when the model trains in mixed precision.

        Args:
            n: how many images (ignored when `latents` is given).
            seed: a fixed seed gives the same images every call.
            latents: explicit latents `(n, latent_dim)` instead of drawn ones.
            batch_size: images per forward pass.
            labels: a conditional model's classes (see `sample_labels`): one class index or name
                for all, or one per image; None: the classes in turn.
        """
        if latents is None:
            latents = self.latents(n, seed)
        latents = self._check_latents(latents)
        labels = self.sample_labels(len(latents), labels)
        with self.sampling():
            out = []
            for i in range(0, len(latents), batch_size):
                inputs = latents[i:i + batch_size]
                if labels is not None:
                    inputs = [inputs, labels[i:i + batch_size]]
                out.append(keras.ops.convert_to_numpy(self.sampler(inputs, training=False)))
        return np.concatenate(out).astype("float32")

    def sampling(self):
        """A context in which the sampler computes in float32, whatever the training precision:
        a seed gives the same images before and after save/load, and as the exports do."""
        return precision_lib.float32_layers(self.sampler)
