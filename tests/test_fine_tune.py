"""Fine-tuning: `kerasgan train --from PRESET_OR_RUN` / `kerasgan.train(start_from=...)`."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import kerasgan
from kerasgan import callbacks, cli, zoo
from kerasgan.errors import UsageError


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A finished tiny DCGAN run (32 px) and the folder of images it trained on."""
    root = tmp_path_factory.mktemp("source")
    folder = root / "art"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    run = str(root / "run")
    kerasgan.train("dcgan", data=str(folder), out=run, config=zoo.tiny_config("dcgan"),
                   epochs=1, batch_size=4, seed=0, verbose=0)
    return run, str(folder)


def weights(network):
    """The trainable weights (batch-norm statistics follow the data, not the learning rate)."""
    return [np.array(w) for w in network.trainable_weights]


def largest_change(before, after):
    return max(float(np.abs(a - b).max()) for a, b in zip(before, after))


def test_a_fine_tuned_run_starts_from_the_source_and_freezes_the_first_convolutions(
        source_run, tmp_path):
    run, folder = source_run
    source = zoo.load(run)
    out = str(tmp_path / "tuned")
    tuned = kerasgan.train(None, start_from=run, freeze_d=1, data=folder, out=out, epochs=1,
                           batch_size=4, seed=3, verbose=0)
    assert tuned.spec["architecture"] == "dcgan"
    assert tuned.spec["config"]["base_channels"] == source.spec["config"]["base_channels"]
    assert int(tuned.step.numpy()) == 2  # its own count: 8 images / 4, from 0
    # Half the recommended learning rate (dcgan: Adam 2e-4).
    assert float(tuned.g_optimizer.learning_rate) == pytest.approx(1e-4)
    assert float(tuned.d_optimizer.learning_rate) == pytest.approx(1e-4)
    # Started at the source's weights: two steps at 1e-4 move them far less than the
    # distance to a freshly initialised generator.
    fresh = zoo.create("dcgan", **source.spec["config"])
    moved = largest_change(weights(source.generator), weights(tuned.generator))
    assert 0 < moved < 0.1 * largest_change(weights(source.generator), weights(fresh.generator))
    # FreezeD: the first convolution of the discriminator kept its weights; later ones moved.
    layers = [(s, t) for s, t in zip(source.discriminator.layers, tuned.discriminator.layers)
              if s.weights]
    all_weights = lambda layer: [np.array(w) for w in layer.weights]  # noqa: E731
    first, later = layers[0], layers[1:]
    assert not first[1].trainable
    np.testing.assert_array_equal(all_weights(first[0])[0], all_weights(first[1])[0])
    assert any(largest_change(weights(s), weights(t)) > 0 for s, t in later)
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["train"]["start_from"] == run and config["train"]["freeze_d"] == 1

    # Resumed, the frozen convolution stays frozen.
    resumed = kerasgan.train("dcgan", data=folder, out=out, resume=True, epochs=2, verbose=0)
    assert int(resumed.step.numpy()) == 4
    frozen = [t for t in resumed.discriminator.layers if t.weights][0]
    assert not frozen.trainable
    np.testing.assert_array_equal(all_weights(first[0])[0], all_weights(frozen)[0])


def test_fastgan_fine_tunes_at_its_full_learning_rate(source_run, tmp_path):
    # fastgan's fine_tune_lr_scale is 1 (measured in docs/small_data.md); dcgan's halves.
    _, folder = source_run
    source = str(tmp_path / "source")  # an untrained folder: only the rate is under test
    zoo.save(zoo.create("fastgan", **zoo.tiny_config("fastgan")), source)
    tuned = kerasgan.train(None, start_from=source, data=folder, out=str(tmp_path / "tuned"),
                           epochs=1, batch_size=4, seed=1, verbose=0)
    assert float(tuned.g_optimizer.learning_rate) == pytest.approx(2e-4)
    assert float(tuned.d_optimizer.learning_rate) == pytest.approx(2e-4)


def test_the_cli_fine_tunes_without_naming_the_architecture(source_run, tmp_path, capsys):
    run, folder = source_run
    out = str(tmp_path / "tuned")
    assert cli.main(["train", "--from", run, "--data", folder, "--out", out, "--epochs", "1",
                     "--batch-size", "4", "--verbose", "0", "--lr", "5e-5"]) == 0
    tuned = zoo.load(out, for_training=True)
    assert tuned.spec["architecture"] == "dcgan"
    assert float(tuned.g_optimizer.learning_rate) == pytest.approx(5e-5)  # --lr wins
    checkpoint, _ = callbacks.load_latest_checkpoint(os.path.join(out, "checkpoints"))
    assert int(checkpoint.step.numpy()) == 2


@pytest.mark.parametrize("arguments, message", [
    (["--image-size", "16"], r"--from .* keeps its networks, and these flags differ from "
                             r"them: --image-size 16 \(it has 32\)"),
    (["--set", "base_channels=8"], r"--set base_channels=8 \(it has 4\)"),
    (["vanilla"], r"is a 'dcgan' model, not 'vanilla'"),
    (["--resume"], "leave out --from and --freeze-d"),
])
def test_a_fine_tune_that_cannot_keep_the_networks_is_one_line(source_run, tmp_path, capsys,
                                                              arguments, message):
    run, folder = source_run
    out = str(tmp_path / "tuned")
    positional = [a for a in arguments if not a.startswith("-") and "=" not in a
                  and not a.isdigit()]
    flags = [a for a in arguments if a not in positional]
    assert cli.main(["train", *positional, "--from", run, "--data", folder, "--out", out,
                     "--epochs", "1", "--batch-size", "4", *flags]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("kerasgan: error:")
    import re
    assert re.search(message, error), error
    assert not os.path.exists(out)


def test_unknown_sources_and_misplaced_freezes_are_refused(source_run, tmp_path):
    run, folder = source_run
    out = str(tmp_path / "x")
    with pytest.raises(UsageError, match="--from no_such_preset: expected a preset name"):
        kerasgan.train(None, start_from="no_such_preset", data=folder, out=out, epochs=1)
    with pytest.raises(UsageError, match="--freeze-d freezes a pretrained discriminator"):
        kerasgan.train("dcgan", freeze_d=1, data=folder, out=out, epochs=1)
    with pytest.raises(UsageError, match=r"--freeze-d 99: the discriminator of this model has "
                                         r"only \d+ convolutions"):
        kerasgan.train(None, start_from=run, freeze_d=99, data=folder, out=out, epochs=1,
                       batch_size=4, verbose=0)
    with pytest.raises(UsageError, match="needs an architecture"):
        cli.cmd_train(cli.build_parser().parse_args(["train", "--data", folder, "--out", out]))
    assert not os.path.exists(out)
