import gc
import os
import types

# `python -m pytest -n auto` (the README's command) runs the tests in pytest-xdist workers,
# each its own TensorFlow process. TensorFlow sizes its intra-op thread pool to every core,
# so N workers on N cores would run N x N compute threads, and a parallel op waits for its
# slowest thread: each worker gets its share of the cores instead. This must be set before
# TensorFlow loads (pytest_configure below loads it); the subprocesses that tests start
# inherit it. A TF_NUM_INTRAOP_THREADS set by the user is kept.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    try:
        _cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        _cores = os.cpu_count() or 1
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, _cores // _workers)))

import importlib  # noqa: E402

# Before any test module is imported: `import kerasgan` sets TensorFlow's environment
# (TF_ENABLE_ONEDNN_OPTS, ...) before TF loads. It loads no TensorFlow itself (the package
# is lazy), so the pytest-xdist controller, which runs no tests, stays light.
importlib.import_module("kerasgan")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# -n auto: at most this many workers; each imports TensorFlow, and more workers than this
# spend more on every worker's start and module fixtures than they save.
MAX_WORKERS = 4
# Memory per worker, for -n auto: peak resident size measured at 1.6 GB (a worker plus the
# TensorFlow subprocess some tests start, e.g. tests/test_distribute.py's two workers).
WORKER_MEMORY = 2.5 * 2**30


def pytest_collection_finish(session):
    """What is loaded by now (TensorFlow, Keras, kerasgan, the test modules: ~0.4 million
    objects) stays loaded to the end: out of the garbage collector's sight (gc.freeze), it
    is not traversed again by the full collection keras.backend.clear_session() runs after
    every test (_clear_keras_session), which took ~0.5 s of CPU a test, 1/6 of the suite."""
    gc.freeze()


def image_batches(shape, n=24, batch_size=8, seed=0):
    """A tf.data pipeline of random images in [-1, 1]: tiny stand-in data."""
    import tensorflow as tf

    x = np.random.default_rng(seed).uniform(-1, 1, (n,) + tuple(shape)).astype("float32")
    return tf.data.Dataset.from_tensor_slices(x).batch(batch_size, drop_remainder=True)


@pytest.fixture(autouse=True)
def _clear_keras_session():
    import keras

    keras.utils.set_random_seed(1234)
    yield
    keras.backend.clear_session()  # a full collection (gc.collect) of what this test left
    # What survives it is held by a module's fixtures (loaded presets, trained models: up to
    # ~0.1 million objects each): frozen too, or every later test's collection traverses
    # them again (measured: ~0.5 s of CPU a test once a module had loaded the presets).
    # _collect_after_each_module collects them when their module is done.
    gc.freeze()


@pytest.fixture(autouse=True, scope="module")
def _collect_after_each_module():
    """What a module's tests and fixtures left alive, frozen test by test, is collected
    once its module ends."""
    yield
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@pytest.fixture
def eager():
    """Keras's train and predict functions run eagerly (tf.config.run_functions_eagerly),
    for tests of what a command or a run does around training: tracing a train step costs
    10-30 s of CPU per architecture and tests nothing there. Every architecture's graph
    path is trained in test_models.py::test_fit_trains_both_networks (CycleGAN's in
    test_cyclegan.py, pix2pix's in test_pix2pix.py)."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


def run_cli(capsys, *args):
    """`kerasgan ARGS` in this process (no second TensorFlow start): its exit code, stdout
    and stderr, as `subprocess.run` gives them."""
    from kerasgan import cli

    capsys.readouterr()
    try:
        code = cli.main(list(args))
    except SystemExit as exit:  # argparse's refusals
        code = exit.code
    out, err = capsys.readouterr()
    return types.SimpleNamespace(returncode=code, stdout=out, stderr=err)


# ---------------------------------------------------------------------------- pytest-xdist
def _available_memory():
    """MemAvailable in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook
def pytest_xdist_auto_num_workers(config):
    """-n auto: one worker per core, at most MAX_WORKERS, and as many as memory holds.
    PYTEST_XDIST_AUTO_NUM_WORKERS=N still chooses N (pytest-xdist's own hook reads it)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    workers = min(cores, MAX_WORKERS)
    memory = _available_memory()
    if memory is not None:
        workers = min(workers, int(memory // WORKER_MEMORY))
    return max(1, workers)


def noise_image_folder(folder, n, height, width, name="{i}.png", seed=0):
    """`folder` (created) with `n` PNG images of uniform noise, `height` x `width` RGB;
    returns it as a str."""
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(
            os.path.join(folder, name.format(i=i)))
    return str(folder)
