"""How a conditional DCGAN takes its label: which designs learn the classes and keep variety.

Trains a 32 px conditional DCGAN on Fashion-MNIST for `--steps` (batch 64, the default
recipe, precision auto) with one way of conditioning the generator and one initialisation of
the projection discriminator's class embedding, and every 500 steps prints

- the variety: the std over 50 latents of the images of one class, averaged over pixels and
  classes (the real images': 0.39; an unconditional DCGAN's samples: 0.45-0.50), and
- the class adherence: how many samples a classifier trained on the real images (cached in
  `--classifier`; about 90 % right on the real test images) recognises as the class asked for.

    python bench/conditioning_variants.py --generator one_hot --projection-init normal \\
        --train FASHION.npz --test FASHION_TEST.npz --steps 2000

FASHION.npz / FASHION_TEST.npz: images and labels, e.g. Fashion-MNIST's training and test
sets each saved with `x_train`, `y_train` (and `class_names`). Generators:
    embedding    a learned N(0, 1) embedding as wide as the latent, joined to it
    one_hot      the label one-hot, joined to the latent (kerasgan's design)
    cbn          class-conditional batch norm (per-class scale and shift), latent alone
    cbn_one_hot  both
`--projection-init keras` is Keras' U(-0.05, 0.05), `normal` N(0, 1) (kerasgan's).
"""
import argparse
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def generator(variant, num_classes, latent_dim=100, base=64):
    import keras
    from keras import layers

    from kerasgan import conditioning
    from kerasgan.models import dcgan

    latent, label = keras.Input((latent_dim,), name="latent"), conditioning.label_input()
    x = latent
    if variant == "embedding":
        x = layers.Concatenate()([latent, layers.Embedding(
            num_classes, latent_dim, embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0))(label)])
    elif variant in ("one_hot", "cbn_one_hot"):
        x = layers.Concatenate()([latent, conditioning.one_hot_label(label, num_classes)])

    def normalized(x):
        if not variant.startswith("cbn"):
            return dcgan._batch_norm()(x)
        channels = int(x.shape[-1])
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, scale=False)(x)
        scale = layers.Embedding(num_classes, channels,
                                 embeddings_initializer=keras.initializers.RandomNormal(1.0, 0.02))(label)
        shift = layers.Embedding(num_classes, channels, embeddings_initializer="zeros")(label)
        return layers.Add()([layers.Multiply()([x, layers.Reshape((1, 1, channels))(scale)]),
                             layers.Reshape((1, 1, channels))(shift)])

    width = base * 4
    x = layers.Dense(4 * 4 * width, use_bias=False, kernel_initializer=dcgan._conv_init())(x)
    x = layers.ReLU()(normalized(layers.Reshape((4, 4, width))(x)))
    for width in (base * 2, base):
        x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=dcgan._conv_init())(x)
        x = layers.ReLU()(normalized(x))
    x = layers.Conv2DTranspose(1, 4, strides=2, padding="same", kernel_initializer=dcgan._conv_init())(x)
    image = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model([latent, label], image, name="generator")


def keras_default_projection(unconditional_logit, features, label, num_classes, name="logit"):
    from keras import layers

    dim = int(features.shape[-1])
    embedded = layers.Embedding(num_classes, dim, name="class_projection")(label)
    projection = layers.Dot(axes=1, name="projection")([embedded, features])
    projection = layers.Rescaling(1.0 / math.sqrt(dim), name="projection_scale")(projection)
    return layers.Add(dtype="float32", name=name)([unconditional_logit, projection])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generator", required=True,
                        choices=("embedding", "one_hot", "cbn", "cbn_one_hot"))
    parser.add_argument("--projection-init", choices=("keras", "normal"), default="normal")
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--classifier", default=os.path.join("runs", "fashion_classifier32.keras"))
    args = parser.parse_args(argv)

    import keras

    import kerasgan
    from kerasgan import conditioning, data
    from kerasgan.models import dcgan

    sys.path.insert(0, HERE)
    import conditional  # bench/conditional.py: the classifier

    keras.utils.set_random_seed(0)
    ds = data.image_dataset(args.train, image_size=32, channels=1, batch_size=64,
                            labels="inferred", repeat=True, seed=0)
    names = ds.class_names
    if os.path.exists(args.classifier):
        classifier = keras.models.load_model(args.classifier)
    else:
        classifier, accuracy = conditional.train_classifier(args.train, args.test, (32, 32, 1), names)
        print(f"classifier: {accuracy:.3f} of the real test images right")
        os.makedirs(os.path.dirname(os.path.abspath(args.classifier)), exist_ok=True)
        classifier.save(args.classifier)
    if args.projection_init == "keras":
        conditioning.projection_logit = keras_default_projection
    gan = kerasgan.GAN(generator(args.generator, len(names)),
                       dcgan.dcgan_discriminator(32, 1, 64, len(names)),
                       class_names=names, seed=0)
    gan.compile()
    latents = gan.latents(50, seed=1)
    for _ in range(args.steps // 500):
        gan.fit(ds, steps_per_epoch=500, epochs=1, verbose=0)
        variety, recognised = [], []
        for c in range(len(names)):
            images = gan.generate(latents=latents, labels=c)
            variety.append(images.std(axis=0).mean())
            recognised.append(np.mean(np.argmax(classifier.predict(images, verbose=0), 1) == c))
        print(f"{args.generator} / projection {args.projection_init}: step {int(gan.step.numpy())} "
              f"variety {np.mean(variety):.3f} recognised {np.mean(recognised):.2f}", flush=True)


if __name__ == "__main__":
    main()
