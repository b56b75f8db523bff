"""Trains tiny GANs under tf.distribute for tests/test_distribute.py (run as a subprocess).

    python tests/distributed_run.py mirrored OUT.json [--no-reference] [NAME ...]
    TF_CONFIG=... python tests/distributed_run.py multiworker OUT.json

mirrored: two logical CPU devices; each architecture NAME (default: every generation
architecture) is trained for a few steps on one device and under MirroredStrategy from the
same initial weights on the same global batches. OUT.json holds, per architecture, the
largest weight difference (NAME), the weight it is in (NAME_worst), how far the one-device
run moved the weights (NAME_moved) and how far the replicated run did (NAME_replicated_moved).
--no-reference: only the replicated run (only NAME_replicated_moved), where no comparison
with one device is wanted.
multiworker: this process is one worker; OUT.json holds its weights after training.
"""
import json
import sys

from kerasgan import zoo  # first: importing kerasgan sets TensorFlow's environment
import numpy as np
import tensorflow as tf

STEPS, GLOBAL_BATCH = 3, 8


def data(shape):
    x = np.random.default_rng(0).uniform(-1, 1, (STEPS * GLOBAL_BATCH,) + shape).astype("float32")
    return tf.data.Dataset.from_tensor_slices(x).batch(GLOBAL_BATCH, drop_remainder=True)


def train(name, initial_weights=None):
    import keras

    keras.utils.set_random_seed(0)
    # Generators with an EMA copy: its batch-norm statistics (dcgan, fastgan) are the global
    # batch's too.
    ema = {"ema_decay": 0.9} if name in zoo.list(kind="generation") else {}
    gan = zoo.create(name, **zoo.tiny_config(name), seed=5, **ema)
    # SGD: Adam would turn rounding noise in near-zero gradients into lr-sized steps.
    # float32, pinned: the check is that the replica count does not change the arithmetic,
    # which needs float32's rounding on every machine (auto is bfloat16 on some).
    gan.compile(d_optimizer=keras.optimizers.SGD(0.05), g_optimizer=keras.optimizers.SGD(0.05),
                loss="wasserstein" if name == "vanilla" else "non_saturating",
                precision="float32")
    if initial_weights is not None:
        gan.set_weights(initial_weights)
    initial = gan.get_weights()
    gan.fit(data(gan.image_shape), epochs=1, verbose=0)
    return gan, initial


def mirrored(out):
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    args = sys.argv[3:]
    reference = "--no-reference" not in args
    names = [a for a in args if a != "--no-reference"] or zoo.list(kind="generation")
    result = {}
    for name in names:
        single, initial = train(name) if reference else (None, None)
        strategy = tf.distribute.MirroredStrategy(
            ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
        with strategy.scope():
            replicated, start = train(name, initial)
        assert replicated.distribute_strategy.num_replicas_in_sync == 2
        result[name + "_replicated_moved"] = moved(replicated, start)
        if reference:
            diffs = {v.path: float(np.abs(np.array(v) - np.array(w)).max())
                     for v, w in zip(single.weights, replicated.weights)}
            result[name] = max(diffs.values())
            result[name + "_worst"] = max(diffs, key=diffs.get)
            result[name + "_moved"] = moved(single, initial)
    json.dump(result, open(out, "w"))


def moved(gan, initial):
    """The largest change of a trainable weight of `gan` from `initial` (its get_weights())."""
    return max(float(np.abs(np.array(v) - w).max())
               for v, w in zip(gan.weights, initial) if v.trainable)


def multiworker(out):
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        gan, _ = train("dcgan")
    json.dump({"replicas": strategy.num_replicas_in_sync,
               "weights": [w.tolist() for w in gan.get_weights()]}, open(out, "w"))


if __name__ == "__main__":
    {"mirrored": mirrored, "multiworker": multiworker}[sys.argv[1]](sys.argv[2])
