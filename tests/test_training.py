"""`kerasgan.train`: the command's training run from Python, on a tiny folder of images."""
import json
import os

import pytest

import kerasgan
from conftest import noise_image_folder
from kerasgan import architectures, callbacks, cli, zoo
from kerasgan.errors import TrainingDiverged, UsageError


@pytest.fixture
def image_folder(tmp_path):
    folder = noise_image_folder(tmp_path / "art", 12, 10, 12, name="{i}.png")
    return folder


def test_train_writes_the_run_and_resume_continues_from_its_step(image_folder, tmp_path,
                                                                 capsys):
    run = str(tmp_path / "run")
    tiny = zoo.tiny_config("vanilla")  # 8x8 grey
    gan = kerasgan.train("vanilla", data=image_folder, out=run, config=tiny, epochs=1,
                         batch_size=4, seed=0, verbose=0)
    assert isinstance(gan, kerasgan.GAN) and int(gan.step.numpy()) == 3  # 12 images / 4
    for name in ("config.json", "metadata.json", "generator.weights.h5",
                 "checkpoints/epoch-0001.keras", "samples/epoch-0001.png"):
        assert os.path.isfile(os.path.join(run, name)), name
    assert not os.path.exists(os.path.join(run, cli.LOCK_FILE))
    metadata = json.load(open(os.path.join(run, "metadata.json")))
    assert metadata["steps"] == 3 and metadata["architecture"] == "vanilla"
    assert metadata["command"].startswith("kerasgan.train('vanilla', data=")
    assert zoo.load(run).image_shape == (8, 8, 1)
    assert "Model: " + os.path.abspath(run) in capsys.readouterr().out

    # A setting that defines the run, given with another value, is refused as by the command.
    with pytest.raises(UsageError, match=r"--batch-size 8 \(the run has 4\)"):
        kerasgan.train("vanilla", data=image_folder, out=run, resume=True, batch_size=8)

    # Resumed with the run's own settings (batch 4, not 64) until 20 images in all: step 5,
    # in the middle of the second epoch.
    gan = kerasgan.train("vanilla", data=image_folder, out=run, resume=True, kimg=0.02,
                         verbose=0)
    assert "Resuming" in capsys.readouterr().out
    assert int(gan.step.numpy()) == 5
    metadata = json.load(open(os.path.join(run, "metadata.json")))
    assert metadata["steps"] == 5 and metadata["batch_size"] == 4
    assert metadata["budget"] == {"minutes": None, "kimg": 0.02}
    checkpoint, epoch = callbacks.load_latest_checkpoint(os.path.join(run, "checkpoints"))
    assert epoch == 2 and int(checkpoint.step.numpy()) == 5  # where a next resume goes on


def test_snapshots_survive_a_resume_without_the_flag_and_go_with_overwrite(image_folder,
                                                                            tmp_path, capsys):
    run = tmp_path / "run"
    common = dict(data=image_folder, out=str(run), batch_size=4, verbose=0)
    kerasgan.train("vanilla", config=zoo.tiny_config("vanilla"), epochs=4, seed=0,
                   snapshot_every=2, **common)
    assert sorted(os.listdir(run / "snapshots")) == ["epoch-0002.keras", "epoch-0004.keras"]
    assert sorted(os.listdir(run / "checkpoints")) == ["epoch-0003.keras", "epoch-0004.keras",
                                                       "model.json"]
    # The flag applies as given: a resume without it prunes checkpoints, never snapshots.
    kerasgan.train(resume=True, epochs=7, **common)
    assert sorted(os.listdir(run / "snapshots")) == ["epoch-0002.keras", "epoch-0004.keras"]
    assert sorted(os.listdir(run / "checkpoints")) == ["epoch-0006.keras", "epoch-0007.keras",
                                                       "model.json"]
    # A snapshot samples like a finished run.
    assert cli.main(["sample", str(run / "snapshots" / "epoch-0002.keras"), "--n", "4",
                     "--out", str(tmp_path / "early.png")]) == 0
    assert (tmp_path / "early.png").is_file()
    # --overwrite starts again: the old run's snapshots cannot be taken for the new run's.
    kerasgan.train("vanilla", config=zoo.tiny_config("vanilla"), epochs=1, seed=0,
                   overwrite=True, **common)
    assert os.listdir(run / "snapshots") == []
    capsys.readouterr()


def test_without_a_batch_size_the_architectures_recipe_batch_is_used(image_folder, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr(architectures, "_REGISTRY", dict(architectures._REGISTRY))  # undone after
    zoo.register("mlp_batch3", tiny=zoo.tiny_config("vanilla"),
                 batch_size=3)(architectures.builder("vanilla"))
    common = dict(data=image_folder, config=zoo.tiny_config("vanilla"), epochs=1, seed=0,
                  verbose=0)
    gan = kerasgan.train("mlp_batch3", out=str(tmp_path / "own"), **common)
    assert int(gan.step.numpy()) == 4  # 12 images, batch 3
    # Given, the batch size is the one given, also where it is the old default of 64.
    gan = kerasgan.train("mlp_batch3", out=str(tmp_path / "given"), batch_size=6, **common)
    assert int(gan.step.numpy()) == 2
    # Resumed, the run keeps its own batch.
    gan = kerasgan.train(out=str(tmp_path / "given"), resume=True, epochs=2, verbose=0)
    assert int(gan.step.numpy()) == 4
    assert json.load(open(tmp_path / "given" / "metadata.json"))["batch_size"] == 6
    # The built-in recipes' measured batches; 64 where none was measured.
    assert zoo.default_batch_size("fastgan") == 16 and zoo.default_batch_size("cyclegan") == 1
    assert zoo.default_batch_size("inpainting") == zoo.default_batch_size("pix2pix") == 16
    assert zoo.default_batch_size("dcgan") == 64
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        zoo.register("mlp_batch0", batch_size=0)(architectures.builder("vanilla"))


def test_a_non_empty_out_is_refused_with_the_commands_message(image_folder, tmp_path,
                                                              capsys):
    folder = tmp_path / "holiday_photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(UsageError) as refused:
        kerasgan.train("vanilla", data=image_folder, out=str(folder),
                       config=zoo.tiny_config("vanilla"), epochs=1)
    assert "is not empty (notes.txt)" in str(refused.value)
    assert cli.main(["train", "vanilla", "--data", image_folder, "--out", str(folder),
                     "--epochs", "1"]) == 2
    assert capsys.readouterr().err == f"kerasgan: error: {refused.value}\n"
    assert os.listdir(folder) == ["notes.txt"]


@pytest.mark.parametrize("argument, message", [
    ({"batch_size": 0}, "batch_size=0: expected a positive integer"),
    ({"snapshot_every": 0}, "snapshot_every=0: expected a positive integer"),
    ({"lr": float("nan")}, "lr=nan: expected a number in (0, inf]"),
    ({"precision": "half"}, "precision='half': expected one of 'auto', 'float32'"),
    ({"config": ["base_channels"]}, "set=['base_channels']: expected a dict"),
    ({"resume": True, "overwrite": True}, "pass one of them"),
])
def test_bad_arguments_are_refused_before_anything_is_written(argument, message, image_folder,
                                                              tmp_path):
    out = tmp_path / "run"
    with pytest.raises(UsageError) as refused:
        kerasgan.train("vanilla", data=image_folder, out=str(out), **argument)
    assert message in str(refused.value)
    assert not out.exists()


@pytest.mark.filterwarnings("ignore:Not checkpointing epoch")
def test_a_loss_that_becomes_nan_raises_and_the_command_exits_1(image_folder, tmp_path,
                                                                capsys, monkeypatch):
    monkeypatch.setattr(callbacks, "_non_finite", lambda logs: [("d_loss", float("nan"))])
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="d_loss became nan at epoch 1, batch 1"):
        kerasgan.train("vanilla", data=image_folder, out=str(run), batch_size=4, epochs=1,
                       config=zoo.tiny_config("vanilla"), verbose=0)
    assert not (run / "generator.weights.h5").exists()  # no model of a diverged run
    assert not (run / cli.LOCK_FILE).exists()
    capsys.readouterr()
    assert cli.main(["train", "vanilla", "--data", image_folder, "--out", str(tmp_path / "cli"),
                     "--image-size", "8", "--batch-size", "4", "--epochs", "1",
                     "--verbose", "0"]) == 1
    lines = capsys.readouterr().err.splitlines()
    # The command shows kerasgan's warnings whatever the warning filters (this test's too):
    # the epoch not checkpointed, then the one-line error.
    assert lines[:-1] == ["kerasgan: warning: Not checkpointing epoch 1: d_loss is nan."]
    assert lines[-1].startswith("kerasgan: error: d_loss became nan at epoch 1, batch 1")
