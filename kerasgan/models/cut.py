"""CUT (Park et al. 2020, "Contrastive Learning for Unpaired Image-to-Image Translation"):
one-way unpaired translation A -> B without a second generator or a cycle.

One ResNet generator G and one PatchGAN discriminator D_B, the networks of CycleGAN
(`kerasgan.models.cyclegan`), trained with the least-squares adversarial loss and PatchNCE:
a patch of the translation G(a) must be recognisably the patch of `a` at the same place,
among the other patches of `a`. Both are read through G's own encoder (its features at five
depths), projected by a small MLP per depth (`patch_mlp`) and compared by cosine similarity
(InfoNCE, temperature 0.07). Nothing else ties G(a) to `a`, so G may change more of the
image than CycleGAN's cycle lets it; no pretrained network is involved. With `identity_nce`
(CUT, the default) the same loss on G(b) keeps G from changing what is already in domain B;
without it and with `nce_weight=10` it has FastCUT's losses (FastCUT also trains with
flip equivariance and a shorter schedule, which are not here).

Because the networks are CycleGAN's, a CUT can start from a trained CycleGAN's G and D_B
(`CUT.from_cyclegan`): fine-tuning a cycle-consistent translator without its cycle.

Example:

```python
import kerasgan
model = kerasgan.zoo.create("cut", image_size=128)
data = kerasgan.data.unpaired_dataset("photos/", "paintings/", image_size=128, batch_size=1)
model.compile(total_steps=200 * data.batches_per_epoch)  # lr constant, then linear to 0
model.fit(data, epochs=200)
paintings = model.translate(photos)  # any H x W, floats in [-1, 1]
```
"""
import keras
import tensorflow as tf
from keras import layers

from kerasgan import noise
from kerasgan.adversarial import AdversarialModel, ExportSignature, Stream
from kerasgan.gan import check_images
from kerasgan.models.cyclegan import (CycleGANReflectionPadding2D, _default_optimizer, _mse,
                                      check_builder_arguments, export_side,
                                      patch_discriminator, resnet_generator, translate_with)

DIRECTION = "a2b"  # the one direction a CUT model translates (its export's name)
# The builder arguments that make CycleGAN's G and D_B, which CUT's are, and CUT's own.
_SHARED_WITH_CYCLEGAN = ("image_size", "channels", "base_channels", "n_blocks", "d_base_channels",
                         "d_layers", "upsampling")
OWN_SETTINGS = ("num_patches", "mlp_units")


# ---------------------------------------------------------------------------- networks
def encoder_layers(generator):
    """The layers of a `resnet_generator` whose outputs PatchNCE compares, CUT's
    `nce_layers=0,4,8,12,16`: the padded input image, the two downsampling convolutions'
    outputs (before their normalisation), and the outputs of the first and the fifth
    residual block (of the last, if it has fewer; only the first if it has one). CUT's own
    ResNet blurs before it subsamples (antialiasing), so its two convolution outputs are at
    1 and 1/2 of the image's side; here, without the blur, at 1/2 and 1/4."""
    padding = [l for l in generator.layers if isinstance(l, CycleGANReflectionPadding2D)]
    downsampling = [l for l in generator.layers
                    if isinstance(l, layers.Conv2D) and l.strides == (2, 2)]
    blocks = [l for l in generator.layers if isinstance(l, layers.Add)]
    if not padding or len(downsampling) != 2 or not blocks:
        raise ValueError(f"{generator.name} is not a resnet_generator with at least one "
                         "residual block: CUT reads that encoder.")
    blocks = dict.fromkeys([blocks[0], blocks[min(4, len(blocks) - 1)]])  # distinct, in order
    return [padding[0], *downsampling, *blocks]


def patch_mlp(widths, units=256, name="patch_mlp"):
    """One two-layer MLP per encoder depth (CUT's `netF`, `mlp_sample`): patch features
    `(batch, patches, widths[i])` -> `(batch, patches, units)`, not normalised."""
    # CUT's init: Xavier-normal with gain 0.02 (std 0.02 * sqrt(2 / (fan_in + fan_out))).
    def init():
        return keras.initializers.VarianceScaling(0.02**2, "fan_avg", "untruncated_normal")

    inputs = [keras.Input((None, int(w)), name=f"features_{i}") for i, w in enumerate(widths)]
    outputs = []
    for i, x in enumerate(inputs):
        x = layers.Dense(units, activation="relu", kernel_initializer=init(), name=f"mlp{i}_0")(x)
        outputs.append(layers.Dense(units, kernel_initializer=init(), dtype="float32",
                                    name=f"mlp{i}_1")(x))
    return keras.Model(inputs, outputs, name=name)


def patch_nce(queries, keys, temperature):
    """InfoNCE of matching patches: `queries` and `keys` `(batch, patches, units)`; patch i
    of the query must pick key i among the image's keys. Mean over batch and patches.

    The keys are constants (CUT detaches them). CUT masks the positive among the negatives
    with a logit of -10 and prepends it: one more term, exp(-10/0.07), in a softmax
    denominator of at least exp(-1/0.07): a relative change under 1e-50."""
    q = tf.math.l2_normalize(tf.cast(queries, "float32"), axis=-1)
    k = tf.stop_gradient(tf.math.l2_normalize(tf.cast(keys, "float32"), axis=-1))
    logits = tf.matmul(q, k, transpose_b=True) / temperature  # (batch, P, P), positives on the diagonal
    labels = tf.broadcast_to(tf.range(tf.shape(q)[1]), tf.shape(q)[:2])
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


# ---------------------------------------------------------------------------- the model
@keras.saving.register_keras_serializable(package="kerasgan")
class CUT(AdversarialModel):
    """One-way unpaired translation A -> B: a generator, a PatchGAN and PatchNCE.

    `fit` takes batches `(images_a, images_b)` of floats in [-1, 1] shaped
    `(batch, image_size, image_size, channels)` (`kerasgan.data.unpaired_dataset`). Each
    `train_step`, in CUT's order, translates the A images, updates D_B on real B and on those
    translations (no history pool, as CUT), then G and the patch MLP together against the
    updated D_B (adversarial + PatchNCE). The logged `g_loss` is G's whole loss, `nce_loss`
    its PatchNCE term before the weight.

    Args:
        generator: a `resnet_generator` (G: A -> B); its encoder's features are compared.
        discriminator: a `patch_discriminator` (D_B).
        mlp: `patch_mlp` over `encoder_layers(generator)`'s widths.
        image_size: the training images' side length.
        num_patches: patches sampled per encoder depth and image (CUT's 256; all of a
            smaller feature map).
        seed: seed of the patch draws; drawn at random when None and kept.
    """

    task = "translation"
    DIRECTIONS = (DIRECTION,)  # what `translate` and export take
    NETWORKS = ("generator", "discriminator", "mlp")

    def __init__(self, generator, discriminator, mlp, image_size=128, num_patches=256,
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if int(num_patches) < 2:
            raise ValueError(f"num_patches must be at least 2 (a patch needs others to be "
                             f"told from), got {num_patches!r}.")
        self.generator, self.discriminator, self.mlp = generator, discriminator, mlp
        self.image_size = int(image_size)
        self.channels = int(generator.input_shape[-1])
        self.image_shape = (self.image_size, self.image_size, self.channels)
        self.num_patches = int(num_patches)
        self.encoder = keras.Model(generator.inputs,
                                   [l.output for l in encoder_layers(generator)],
                                   name="encoder")  # shares G's weights
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.nce_loss_tracker = keras.metrics.Mean(name="nce_loss")

    @classmethod
    def from_cyclegan(cls, cyclegan, **config):
        """A CUT (`kerasgan.zoo.create("cut", ...)`) starting from `cyclegan`'s G
        (`generator_a2b`) and D_B, copied (the CycleGAN is left as it was); the patch MLP is
        new. `config`: CUT's own builder arguments (`num_patches`, `mlp_units`, `seed`); the
        networks' come from the CycleGAN's spec."""
        from kerasgan import zoo

        if cyclegan.spec is None or cyclegan.spec["architecture"] != "cyclegan":
            raise ValueError("from_cyclegan takes a cyclegan built by kerasgan.zoo (a preset, "
                             "a model folder or zoo.create), whose spec names its networks.")
        source = cyclegan.spec["config"]
        shared = {key: source[key] for key in _SHARED_WITH_CYCLEGAN if key in source}
        model = zoo.create("cut", **{**shared, **config})
        model.generator.set_weights(cyclegan.generator_a2b.get_weights())
        model.discriminator.set_weights(cyclegan.discriminator_b.get_weights())
        return model

    # ------------------------------------------------------------------ compile
    def compile(self, g_optimizer=None, d_optimizer=None, nce_weight=1.0, identity_nce=True,
                temperature=0.07, total_steps=None, jit_compile="auto", precision="auto",
                **kwargs):
        """Configures training.

        Args:
            g_optimizer: one optimizer for G and the patch MLP; d_optimizer: D_B's. Default
                Adam(2e-4, beta_1=0.5), with a `LinearDecay` learning rate when
                `total_steps` is given.
            nce_weight: lambda_NCE, PatchNCE's weight against the adversarial loss's 1
                (CUT 1, FastCUT 10).
            identity_nce: also PatchNCE between b and G(b), averaged with the a term (CUT:
                True; FastCUT: False).
            temperature: of the InfoNCE logits (0.07).
            total_steps: training length in steps, for the default optimizers' schedule
                (constant for the first half, then linear to 0).
            jit_compile, precision: as `kerasgan.GAN.compile`.
        """
        if nce_weight < 0 or not temperature > 0:
            raise ValueError(f"nce_weight must be >= 0 and temperature > 0, got "
                             f"{nce_weight!r} and {temperature!r}.")
        self.nce_weight = float(nce_weight)
        self.identity_nce = bool(identity_nce)
        self.temperature = float(temperature)
        self.total_steps = None if total_steps is None else int(total_steps)
        self._compile_optimizers(d_optimizer, g_optimizer, lambda: _default_optimizer(total_steps),
                                 jit_compile, precision, self.networks(), **kwargs)

    def generator_variables(self):
        return self.generator.trainable_variables + self.mlp.trainable_variables

    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    def _compile_settings(self):
        return {"nce_weight": self.nce_weight, "identity_nce": self.identity_nce,
                "temperature": self.temperature, "total_steps": self.total_steps}

    def default_compile_args(self, batch_size=1, total_steps=None):
        """CUT's recipe: least-squares loss, PatchNCE weight 1 with the identity term,
        Adam(2e-4, 0.5) decaying linearly to 0 over the second half of `total_steps`."""
        del batch_size
        return {"g_optimizer": _default_optimizer(total_steps),
                "d_optimizer": _default_optimizer(total_steps), "total_steps": total_steps}

    # ------------------------------------------------------------------ config
    def _settings(self):
        return {"image_size": self.image_size, "num_patches": self.num_patches}

    def export_signatures(self, directions=None, image_size=None, **unused):
        """One signature, "a2b": the generator, input `image` of `image_size` (default the
        training size; a multiple of 4, at least 8)."""
        if directions is not None and list(directions) != [DIRECTION]:
            raise ValueError(f"A CUT model translates one way, {DIRECTION!r}; got "
                             f"directions {list(directions)!r}.")
        size = export_side(image_size, self.image_size)
        shape = (size, size, self.channels)
        return [ExportSignature(DIRECTION, self.generator, ["image"], [shape], None)]

    def weight_files(self, for_preset=False):
        """generator, discriminator and patch_mlp weights (a preset ships all three, so
        that it can be fine-tuned)."""
        return {"generator.weights.h5": self.generator,
                "discriminator.weights.h5": self.discriminator,
                "patch_mlp.weights.h5": self.mlp}

    # ------------------------------------------------------------------ training
    @property
    def metrics(self):
        return [self.g_loss_tracker, self.d_loss_tracker, self.nce_loss_tracker]

    def _patches(self, features, draw):
        """The same `num_patches` random positions of each feature map, `(batch, P, C)`."""
        out = []
        for depth, x in enumerate(features):
            shape = tf.shape(x)
            x = tf.reshape(x, [shape[0], shape[1] * shape[2], shape[3]])
            count = shape[1] * shape[2]
            order = tf.argsort(noise.uniform([count], self.key(Stream.PATCHES, 8 * draw + depth)))
            out.append(tf.gather(x, order[:tf.minimum(count, self.num_patches)], axis=1))
        return out

    def nce_loss(self, source, translated, draw=0):
        """PatchNCE between images and their translations, averaged over the encoder depths;
        the patches are drawn from random stream `draw` of this step."""
        keys = self.mlp(self._patches(self.encoder(source, training=True), draw),
                        training=True)
        queries = self.mlp(self._patches(self.encoder(translated, training=True), draw),
                           training=True)
        return tf.add_n([patch_nce(q, k, self.temperature)
                         for q, k in zip(queries, keys)]) / len(queries)

    def train_step(self, data):
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise ValueError("CUT trains on batches (images_a, images_b), e.g. from "
                             "kerasgan.data.unpaired_dataset(dir_a, dir_b); got "
                             f"{type(data).__name__}.")
        real_a, real_b = data
        check_images(real_a, self.image_shape, "The training images of domain A",
                     "kerasgan.data.unpaired_dataset()")
        check_images(real_b, self.image_shape, "The training images of domain B",
                     "kerasgan.data.unpaired_dataset()")
        real_a, real_b = tf.cast(real_a, "float32"), tf.cast(real_b, "float32")

        g_variables = self.generator_variables()
        # Only G's and the MLP's weights are watched: the discriminator's update is its own.
        with tf.GradientTape(watch_accessed_variables=False) as g_tape:
            g_tape.watch([v.value for v in g_variables])
            fake_b = tf.cast(self.generator(real_a, training=True), "float32")
            with g_tape.stop_recording():  # D_B first, on this step's translations (CUT's order)
                d_variables = self.discriminator_variables()
                with tf.GradientTape() as d_tape:
                    d_loss = 0.5 * (
                        _mse(self.discriminator(real_b, training=True), 1.0)
                        + _mse(self.discriminator(tf.stop_gradient(fake_b), training=True), 0.0))
                    scaled_d_loss = self.d_optimizer.scale_loss(self._per_replica(d_loss))
                d_grads = d_tape.gradient(scaled_d_loss, d_variables)
                self.d_optimizer.apply_gradients(zip(d_grads, d_variables))
            adversarial = _mse(self.discriminator(fake_b, training=True), 1.0)
            nce = self.nce_loss(real_a, fake_b, draw=0)
            if self.identity_nce:
                same_b = tf.cast(self.generator(real_b, training=True), "float32")
                nce = 0.5 * (nce + self.nce_loss(real_b, same_b, draw=1))
            g_loss = adversarial + self.nce_weight * nce
            scaled_g_loss = self.g_optimizer.scale_loss(self._per_replica(g_loss))
        g_grads = g_tape.gradient(scaled_g_loss, [v.value for v in g_variables])
        self.g_optimizer.apply_gradients(zip(g_grads, g_variables))
        self.step.assign_add(1)

        self.g_loss_tracker.update_state(g_loss)
        self.d_loss_tracker.update_state(d_loss)
        self.nce_loss_tracker.update_state(nce)
        return self._logs()

    # ------------------------------------------------------------------ inference
    def call(self, images, training=False):
        return self.generator(images, training=training)

    def translate(self, images, direction=DIRECTION, batch_size=8, tile_size=None, overlap=None):
        """Translates images of domain A, in tiles when they are large: as
        `CycleGAN.translate` (the same generator, the same tiling with shared
        instance-norm statistics).

        Args:
            images: floats in [-1, 1], `(n, H, W, C)` or one image `(H, W, C)`, any H and W.
            direction: "a2b", the only one (for the same call as CycleGAN's).
            batch_size, tile_size, overlap: as `CycleGAN.translate`.

        Returns:
            float32 numpy array of the input's shape, in [-1, 1].
        """
        if direction != DIRECTION:
            raise ValueError(f"A CUT model translates one way, {DIRECTION!r}; got "
                             f"direction {direction!r}.")
        return translate_with(self.generator, images, self.channels, batch_size, tile_size,
                              overlap)


def cut(image_size=128, channels=3, base_channels=64, n_blocks=6, d_base_channels=None,
        d_layers=3, upsampling="resize", num_patches=256, mlp_units=256, **gan_kwargs):
    """CUT: a ResNet generator with `n_blocks` residual blocks and `base_channels` width
    (CycleGAN's), a PatchGAN with `d_layers` stride-2 layers and `d_base_channels` width
    (default base_channels), and a patch MLP of `mlp_units` per encoder depth."""
    image_size, channels, d_layers = check_builder_arguments("cut", image_size, channels,
                                                             d_layers, gan_kwargs)
    if int(n_blocks) < 1:
        raise ValueError(f"cut needs n_blocks >= 1 (PatchNCE reads the residual blocks), "
                         f"got {n_blocks}.")
    generator = resnet_generator(channels, int(base_channels), int(n_blocks), upsampling,
                                 name="generator")
    discriminator = patch_discriminator(channels, int(d_base_channels or base_channels),
                                        d_layers, name="discriminator")
    mlp = patch_mlp([l.output.shape[-1] for l in encoder_layers(generator)], int(mlp_units))
    return CUT(generator, discriminator, mlp, image_size=image_size,
               num_patches=int(num_patches), **gan_kwargs)
