"""CUT's train step under XLA, checked by hand: `python -m pytest tests/manual_xla_cut.py`.

Not in the suite (pytest collects only test_*.py): compiling the tiny CUT with XLA takes
about 80 s on a 2-core CPU, where XLA is off by default (`jit_compile="auto"`); with a GPU it
is on, so this is what a GPU user's first step depends on. Last run: session 20, passed
(after one SGD step every weight tensor agrees to 0.1 % of how far it moved).
"""
import numpy as np
import keras
import tensorflow as tf

from test_cut import random_pair, snapshot, tiny


def test_xla_train_step_matches_the_default_path():
    """With a GPU `jit_compile="auto"` turns XLA on: the patch draws (argsort, gather) must
    compile and give the same step."""
    results = []
    for jit in (True, False):
        keras.utils.set_random_seed(5)
        model = tiny()
        initial = snapshot(model.generator.trainable_variables + model.mlp.trainable_variables)
        model.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1),
                      jit_compile=jit, precision="float32")
        a, b = random_pair(2)
        history = model.fit(tf.data.Dataset.from_tensor_slices((a, b)).batch(2), epochs=1,
                            verbose=0)
        assert np.isfinite(history.history["nce_loss"]).all()
        results.append(snapshot(model.generator.trainable_variables + model.mlp.trainable_variables))
    # Within 0.1 % of how far each weight tensor moved (float32 rounding in other kernels).
    for with_xla, without, start in zip(*results, initial):
        moved = np.abs(without - start).max()
        assert moved > 0
        np.testing.assert_allclose(with_xla, without, atol=1e-3 * moved + 1e-6)
