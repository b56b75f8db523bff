"""Does a class-conditional generator make the class it is asked for?

A small CNN classifier is trained on the real training images (the same pipeline and size the
model was trained at), checked on the real test images, then asked to classify
`--per-class` samples of every class: the rate at which it recognises the requested class is
the evidence. Also writes the class grid (one row per class) and the samples (.npz, for
`../shared/tools/kid.py`).

    python bench/conditional.py MODEL --train TRAIN.npz --test TEST.npz --out DIR

TRAIN / TEST: `.npz` files with images and labels (as `kerasgan.data.image_dataset(...,
labels="inferred")` reads them), whose classes are the model's. The classifier is evaluation
only: it never enters training.
"""
import argparse
import json
import os

import numpy as np


def arrays(path, image_shape, class_names):
    """The images and labels of `path` as the model was trained on them (size, channels)."""
    from kerasgan import data

    height, _, channels = image_shape
    ds = data.image_dataset(path, image_size=height, channels=channels, batch_size=500,
                            labels="inferred", shuffle=False)
    if ds.class_names != class_names:
        raise SystemExit(f"{path}: classes {ds.class_names}, the model's {class_names}")
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def classifier(shape, num_classes):
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape),
        layers.Conv2D(32, 3, activation="relu", padding="same"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu", padding="same"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dropout(0.3), layers.Dense(128, activation="relu"),
        layers.Dense(num_classes),
    ])


def train_classifier(train, test, image_shape, class_names, epochs=3):
    """`(classifier, its accuracy on the real test images)`; logits out."""
    import keras

    x_train, y_train = arrays(train, image_shape, class_names)
    x_test, y_test = arrays(test, image_shape, class_names)
    net = classifier(image_shape, len(class_names))
    net.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    net.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=2)
    return net, float(net.evaluate(x_test, y_test, verbose=0)[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a conditional model: preset, run folder or .keras")
    parser.add_argument("--train", required=True, help="real training images with labels (.npz)")
    parser.add_argument("--test", required=True, help="real held-out images with labels (.npz)")
    parser.add_argument("--out", required=True, help="folder for the report, grid and samples")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras

    from kerasgan import callbacks, zoo

    keras.utils.set_random_seed(args.seed)
    model = zoo.load(args.model)
    if not model.num_classes:
        raise SystemExit(f"{args.model} is not class-conditional")
    os.makedirs(args.out, exist_ok=True)
    net, real_accuracy = train_classifier(args.train, args.test, model.image_shape,
                                          model.class_names, args.epochs)

    k, n = model.num_classes, args.per_class
    labels = np.repeat(np.arange(k), n)
    samples = model.generate(k * n, seed=args.seed, labels=labels)
    predicted = np.argmax(net.predict(samples, verbose=0), axis=1)
    per_class = {name: float(np.mean(predicted[labels == i] == i))
                 for i, name in enumerate(model.class_names)}
    report = {"model": args.model, "classifier_real_test_accuracy": real_accuracy,
              "samples_recognised_as_requested": float(np.mean(predicted == labels)),
              "per_class": per_class, "samples_per_class": n,
              "classifier_epochs": args.epochs, "seed": args.seed}
    with open(os.path.join(args.out, "conditional_report.json"), "w") as f:
        json.dump(report, f, indent=2)
    np.savez_compressed(os.path.join(args.out, "samples.npz"), images=samples)
    rows = model.generate(k * 10, seed=args.seed, labels=np.repeat(np.arange(k), 10))
    callbacks.save_grid(rows, os.path.join(args.out, "class_rows.png"), columns=10)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
