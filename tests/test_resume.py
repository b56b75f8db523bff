"""A training process killed with SIGKILL resumes exactly: same weights as a run never killed."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from kerasgan import zoo


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    return str(folder)


def train_command(data, out, *extra):
    return [sys.executable, "-m", "kerasgan", "train", "vanilla", "--data", data, "--out", out,
            "--image-size", "8", "--set", "latent_dim=8", "--batch-size", "8", "--flip",
            "--ema", "0.9", "--epochs", "3", "--steps-per-epoch", "150", "--seed", "7",
            "--deterministic", "--verbose", "0", *extra]


@pytest.mark.auto_precision
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(image_folder, tmp_path):
    reference, killed = str(tmp_path / "reference"), str(tmp_path / "killed")
    subprocess.run(train_command(image_folder, reference), check=True, timeout=300,
                   capture_output=True)

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

    result = subprocess.run(train_command(image_folder, killed, "--resume"), timeout=300,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming" in result.stdout

    for run in (reference, killed):
        assert json.load(open(os.path.join(run, "metadata.json")))["steps"] == 450
    a, b = zoo.load(reference), zoo.load(killed)
    for name in ("generator", "discriminator", "ema_generator"):
        for x, y in zip(getattr(a, name).get_weights(), getattr(b, name).get_weights()):
            np.testing.assert_array_equal(x, y)
