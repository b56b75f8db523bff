"""A training process killed with SIGKILL resumes exactly: same weights as a run never killed;
budgets (--kimg, --minutes) stop a run and a resume continues it exactly."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from kerasgan import zoo


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    return str(folder)


def train_args(data, out, *extra):
    return ["train", "vanilla", "--data", data, "--out", out, "--image-size", "8", "--set",
            "latent_dim=8", "--batch-size", "8", "--flip", "--ema", "0.9", "--epochs", "3",
            "--steps-per-epoch", "150", "--seed", "7", "--deterministic", "--verbose", "0",
            *extra]


def train_command(data, out, *extra):
    return [sys.executable, "-m", "kerasgan", *train_args(data, out, *extra)]


@pytest.fixture
def op_determinism_reset():
    """For the runs made in this process: `--deterministic` turns TensorFlow's op
    determinism on for the whole process; off again after the test."""
    # tf.config.experimental has enable_op_determinism only; its module has both.
    from tensorflow.python.framework import config

    yield
    config.disable_op_determinism()


@pytest.mark.auto_precision
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(image_folder, tmp_path, capsys,
                                                                   op_determinism_reset):
    reference, killed = str(tmp_path / "reference"), str(tmp_path / "killed")
    proc = subprocess.Popen(train_command(image_folder, killed), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    first = os.path.join(killed, "checkpoints", "epoch-0001.keras")
    deadline = time.time() + 240
    while not os.path.exists(first) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # somewhere in epoch 2
    proc.wait()
    assert os.path.exists(first), "the run ended before its first checkpoint"
    assert not os.path.exists(os.path.join(killed, "generator.weights.h5")), "killed too late"
    assert not any(name.startswith(".tmp") for name in os.listdir(os.path.dirname(first)))

    # The resume in its own process; meanwhile the uninterrupted run in this one (it is
    # bit-exact across processes too: same flags, same thread counts, op determinism).
    resume = subprocess.Popen(train_command(image_folder, killed, "--resume"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    whole = run_cli(capsys, *train_args(image_folder, reference))
    out, err = resume.communicate(timeout=300)
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert resume.returncode == 0, err[-3000:]
    assert "Resuming" in out

    for run in (reference, killed):
        assert json.load(open(os.path.join(run, "metadata.json")))["steps"] == 450
    a, b = zoo.load(reference), zoo.load(killed)
    for name in ("generator", "discriminator", "ema_generator"):
        for x, y in zip(getattr(a, name).get_weights(), getattr(b, name).get_weights()):
            np.testing.assert_array_equal(x, y)


def test_a_kimg_budget_stops_mid_epoch_and_resumes_exactly(image_folder, tmp_path, capsys,
                                                           op_determinism_reset):
    """--kimg stops inside an epoch (checkpointed, model written); --resume with a larger
    budget continues the data stream from the step counter and ends with the same weights
    as one run with that budget."""
    whole, split = str(tmp_path / "whole"), str(tmp_path / "split")
    assert run_cli(capsys, *train_args(image_folder, whole, "--kimg", "1.2")).returncode == 0
    first = run_cli(capsys, *train_args(image_folder, split, "--kimg", "0.6"))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Stopped after the budget of 0.6 kimg (step 75)" in first.stdout
    metadata = json.load(open(os.path.join(split, "metadata.json")))
    assert metadata["steps"] == 75 and metadata["budget"]["kimg"] == 0.6
    assert "epoch-0001.keras" in os.listdir(os.path.join(split, "checkpoints"))
    second = run_cli(capsys, *train_args(image_folder, split, "--resume", "--kimg", "1.2"))
    assert second.returncode == 0, second.stderr[-3000:]
    for run in (whole, split):
        assert json.load(open(os.path.join(run, "metadata.json")))["steps"] == 150
    a, b = zoo.load(whole), zoo.load(split)
    for name in ("generator", "discriminator", "ema_generator"):
        for x, y in zip(getattr(a, name).get_weights(), getattr(b, name).get_weights()):
            np.testing.assert_array_equal(x, y)


def test_a_minutes_budget_stops_a_long_run_and_writes_the_model(image_folder, tmp_path, capsys,
                                                                op_determinism_reset):
    out = str(tmp_path / "run")
    args = train_args(image_folder, out, "--minutes", "0.1")
    args[args.index("--epochs") + 1] = "1000"  # far more than 6 seconds of training
    started = time.time()
    result = run_cli(capsys, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Stopped after the budget of 0.1 minutes" in result.stdout
    metadata = json.load(open(os.path.join(out, "metadata.json")))
    assert 0 < metadata["steps"] < 1000 * 150
    assert metadata["wall_time_s"] < 60  # 6 s of training, plus the last epoch's callbacks
    assert os.path.exists(os.path.join(out, "generator.weights.h5"))
    assert time.time() - started < 240
