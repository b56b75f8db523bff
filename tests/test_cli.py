"""The `kerasgan` command end to end on a tiny folder of images."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import noise_image_folder
from kerasgan import cli, zoo

TINY_DCGAN = ["--image-size", "32", "--set", "base_channels=4", "--set", "latent_dim=8"]


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "art" / "nested"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return str(tmp_path / "art")


def test_train_sample_load_and_resume(image_folder, tmp_path, capsys, eager):
    run = str(tmp_path / "run")
    args = ["train", "dcgan", "--data", image_folder, *TINY_DCGAN, "--epochs", "1",
            "--batch-size", "8", "--out", run, "--verbose", "0", "--seed", "3"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "Sample grid:" in out and os.path.join(run, "samples", "epoch-0001.png") in out
    for name in ("config.json", "metadata.json", "generator.weights.h5",
                 "discriminator.weights.h5", "checkpoints/epoch-0001.keras"):
        assert os.path.isfile(os.path.join(run, name)), name
    metadata = json.load(open(os.path.join(run, "metadata.json")))
    assert metadata["steps"] == 2 and metadata["architecture"] == "dcgan"
    assert metadata["command"].startswith("kerasgan train dcgan")

    gan = zoo.load(run)
    assert gan.image_shape == (32, 32, 3)
    grid = str(tmp_path / "grid.png")
    assert cli.main(["sample", run, "--n", "4", "--seed", "1", "--out", grid]) == 0
    assert Image.open(grid).size == (64, 64)  # 2 x 2 tiles of 32 px

    # A second start into the same folder is refused; --resume continues the step count.
    assert cli.main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    resumed = args[:args.index("--epochs")] + ["--epochs", "2"] + args[args.index("--epochs") + 2:]
    assert cli.main(resumed + ["--resume"]) == 0
    assert "Resuming" in capsys.readouterr().out
    assert json.load(open(os.path.join(run, "metadata.json")))["steps"] == 4
    assert zoo.load(run, for_training=True).get_compile_config()["loss"] == "non_saturating"


def test_steps_per_epoch_repeats_small_data_under_a_mirrored_strategy(image_folder, tmp_path):
    run = str(tmp_path / "run")
    assert cli.main(["train", "vanilla", "--data", image_folder, "--image-size", "8",
                     "--set", "latent_dim=4", "--epochs", "1", "--steps-per-epoch", "7",
                     "--batch-size", "8", "--out", run, "--verbose", "0",
                     "--strategy", "mirrored", "--augment"]) == 0
    assert json.load(open(os.path.join(run, "config.json")))["compile"]["augment"] == "diffaugment"
    assert json.load(open(os.path.join(run, "metadata.json")))["steps"] == 7


def test_ada_resumes_at_its_strength_under_a_mirrored_strategy(image_folder, tmp_path,
                                                                monkeypatch):
    from kerasgan import augment

    monkeypatch.setattr(augment.AdaptiveAugment, "target", -2.0)  # always climbs
    monkeypatch.setattr(augment.AdaptiveAugment, "speed_kimg", 0.1)  # by 0.08 a step
    run = str(tmp_path / "run")
    args = ["train", "vanilla", "--data", image_folder, "--image-size", "8",
            "--set", "latent_dim=4", "--epochs", "1", "--steps-per-epoch", "3",
            "--batch-size", "8", "--out", run, "--verbose", "0", "--strategy", "mirrored",
            "--augment", "ada"]
    assert cli.main(args) == 0
    assert cli.main(args[:args.index("--epochs") + 1] + ["2"] + args[args.index("--epochs") + 2:]
                    + ["--resume"]) == 0
    history = [json.loads(line) for line in open(os.path.join(run, "history.jsonl"))]
    assert [round(h["augment_p"], 4) for h in history] == [0.16, 0.40]  # means of 3 steps
    assert json.load(open(os.path.join(run, "config.json")))["compile"]["augment"] == "ada"


def test_augment_none_turns_fastgans_own_off_and_a_resume_keeps_it(image_folder, tmp_path, eager,
                                                                   capsys):
    run = str(tmp_path / "run")
    args = ["train", "fastgan", "--data", image_folder, "--image-size", "32",
            *tiny_flags("fastgan"), "--epochs", "1", "--steps-per-epoch", "2",
            "--batch-size", "4", "--out", run, "--verbose", "0", "--augment", "none"]
    assert cli.main(args) == 0
    assert json.load(open(os.path.join(run, "config.json")))["compile"]["augment"] is None
    gan = zoo.load(run, for_training=True)
    assert gan.augmentation is None and "augment_p" not in [m.name for m in gan.metrics]
    assert cli.main(["train", "--out", run, "--resume", "--epochs", "2", "--augment", "ada",
                     "--verbose", "0"]) == 2
    assert '--augment "ada" (the run has "none")' in capsys.readouterr().err
    assert cli.main(["train", "--out", run, "--resume", "--epochs", "2", "--augment", "none",
                     "--verbose", "0"]) == 0
    assert json.load(open(os.path.join(run, "metadata.json")))["steps"] == 4


def test_a_run_from_before_config_kept_its_batch_resumes_at_the_64_it_trained_with(
        tmp_path, capsys):
    image_folder = noise_image_folder(tmp_path / "art", 64, 8, 8)  # one batch of vanilla's 64
    run = str(tmp_path / "run")
    args = ["train", "vanilla", "--data", image_folder, "--image-size", "8", "--set",
            "latent_dim=4", "--epochs", "1", "--steps-per-epoch", "1", "--out", run,
            "--verbose", "0"]
    assert cli.main(args) == 0  # no --batch-size: vanilla's 64
    config = json.load(open(os.path.join(run, "config.json")))
    assert config["train"]["batch_size"] == 64
    del config["train"]["batch_size"]  # as written before: the command line records it
    json.dump(config, open(os.path.join(run, "config.json"), "w"))
    resume = ["train", "--out", run, "--data", image_folder, "--resume", "--verbose", "0"]
    assert cli.main([*resume, "--epochs", "2", "--batch-size", "8"]) == 2
    assert "--batch-size 8 (the run has 64)" in capsys.readouterr().err
    assert cli.main([*resume, "--epochs", "2", "--batch-size", "64"]) == 0
    assert json.load(open(os.path.join(run, "metadata.json")))["batch_size"] == 64


@pytest.mark.parametrize("argv, message", [
    (["train", "gan9000", "--data", "x", "--out", "y"], "valid names: " + ", ".join(zoo.list())),
    (["train", "dcgan", "--data", "/no/such/folder", "--out", "y", "--image-size", "32"], "/no/such/folder"),
    (["train", "dcgan", "--data", "x", "--out", "y", "--image-size", "48"], "got image_size=48"),
    (["sample", "/no/such/run"], "No model folder at '/no/such/run'"),
])
def test_bad_input_is_one_line_and_exit_code_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasgan: error:") and message in err


def test_argument_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "dcgan", "--data", "x", "--out", "y", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "expected a positive integer, got '0'" in capsys.readouterr().err


def test_console_script_lists_the_architectures_and_presets():
    result = subprocess.run([sys.executable, "-m", "kerasgan.cli", "list"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    split = next(i for i, line in enumerate(lines) if line.startswith("Pretrained presets"))
    assert [line.split()[0] for line in lines[1:split]] == zoo.list()
    assert [line.split()[0] for line in lines[split + 1:]] == zoo.list(pretrained=True)
    assert "stylegan_lite_clipart64    stylegan_lite" in result.stdout

    result = subprocess.run([sys.executable, "-m", "kerasgan.cli", "list", "--json"],
                            capture_output=True, text=True, timeout=600)
    listing = json.loads(result.stdout)
    assert [a["name"] for a in listing["architectures"]] == zoo.list()
    inpainting, = [a for a in listing["architectures"] if a["name"] == "inpainting"]
    assert inpainting == {"name": "inpainting", "task": "inpainting", "image_size": 64,
                          "batch_size": 16}
    fastgan, = [a for a in listing["architectures"] if a["name"] == "fastgan"]
    assert fastgan["batch_size"] == 16
    assert "  fastgan          generation   default image_size=64 batch_size=16" in lines
    preset, = [p for p in listing["presets"] if p["name"] == "dcgan_clipart64"]
    assert preset["architecture"] == "dcgan" and preset["task"] == "generation"
    assert preset["kid_x1000"] == 287.251 and preset["size_bytes"] > 1e6


def test_train_uses_the_architectures_recommended_compile_arguments(image_folder, tmp_path, eager):
    run = str(tmp_path / "run")
    assert cli.main(["train", "stylegan_lite", "--data", image_folder, "--image-size", "32",
                     *tiny_flags("stylegan_lite"), "--epochs", "1", "--steps-per-epoch", "2",
                     "--batch-size", "4", "--lr", "0.001", "--out", run, "--verbose", "0"]) == 0
    compile_config = json.load(open(os.path.join(run, "config.json")))["compile"]
    assert compile_config["r1_every"] == 16 and compile_config["r1_gamma"] > 0
    adam = compile_config["g_optimizer"]["config"]
    assert adam["learning_rate"] == pytest.approx(0.001) and adam["beta_1"] == 0.0  # flag + recipe


def write_noise_domains(root, n, size, rng):
    """Folders root/a and root/b of `n` random `size` px images each."""
    for domain in ("a", "b"):
        (root / domain).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
                root / domain / f"{i}.png")


def tiny_flags(arch):
    return [f"--set={k}={v}" for k, v in zoo.tiny_config(arch).items() if k != "image_size"]


def test_cyclegan_trains_from_two_folders_and_translates_a_photo(tmp_path, capsys, eager):
    rng = np.random.default_rng(1)
    write_noise_domains(tmp_path, 4, 20, rng)
    run = str(tmp_path / "run")
    tiny = tiny_flags("cyclegan")
    assert cli.main(["train", "cyclegan", "--data", str(tmp_path / "a"), "--out", run,
                     "--image-size", "16", *tiny, "--epochs", "1", "--batch-size", "2",
                     "--verbose", "0"]) == 2
    assert "--data-b" in capsys.readouterr().err
    assert cli.main(["train", "cyclegan", "--data", str(tmp_path / "a"), "--data-b",
                     str(tmp_path / "b"), "--out", run, "--image-size", "16", *tiny,
                     "--epochs", "1", "--batch-size", "2", "--verbose", "0"]) == 0
    photo = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 255, (13, 21, 3), dtype=np.uint8)).save(photo)
    out = str(tmp_path / "painting.png")
    assert cli.main(["translate", run, str(photo), "--direction", "b2a", "--out", out]) == 0
    assert Image.open(out).size == (21, 13)
    (tmp_path / "notes.png").write_text("not an image")
    assert cli.main(["translate", run, str(tmp_path / "notes.png"), "--out", out]) == 2
    assert "notes.png" in capsys.readouterr().err


def test_cyclegan_takes_diffaugment_and_refuses_what_it_cannot_use(tmp_path, capsys, eager):
    write_noise_domains(tmp_path, 2, 16, np.random.default_rng(2))
    common = ["--data", str(tmp_path / "a"), "--data-b", str(tmp_path / "b"), "--image-size",
              "16", *tiny_flags("cyclegan"), "--epochs", "1", "--batch-size", "2", "--verbose", "0"]
    run = str(tmp_path / "run")
    assert cli.main(["train", "cyclegan", *common, "--augment", "ada", "--out", run]) == 2
    error = capsys.readouterr().err.strip()
    assert "augment='diffaugment' or None, got 'ada'" in error and len(error.splitlines()) == 1
    assert not os.path.exists(run)
    assert cli.main(["train", "cyclegan", *common, "--augment", "--out", run]) == 0
    assert json.load(open(os.path.join(run, "config.json")))["compile"]["augment"] == "diffaugment"
    assert cli.main(["train", "pix2pix", "--data", str(tmp_path / "a"), "--data-b",
                     str(tmp_path / "b"), "--image-size", "16", *tiny_flags("pix2pix"),
                     "--epochs", "1", "--batch-size", "2", "--augment", "--out",
                     str(tmp_path / "paired")]) == 2
    assert "--augment do not apply to pix2pix" in capsys.readouterr().err


# Runs in a fresh interpreter: this test process has TensorFlow loaded already.
WITHOUT_TENSORFLOW = """
import contextlib, io, json, sys
from kerasgan import cli

def exit_code(argv):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return cli.main(argv)
        except SystemExit as exit:
            return exit.code

listing = io.StringIO()
with contextlib.redirect_stdout(listing):
    cli.main(["list", "--json"])
print(json.dumps({"listing": json.loads(listing.getvalue()),
                  "help": exit_code(["--help"]), "train_help": exit_code(["train", "--help"]),
                  "bad_argument": exit_code(["train", "dcgan", "--epochs", "0"]),
                  "loaded": sorted(m for m in ("tensorflow", "keras") if m in sys.modules)}))
"""


def test_help_list_and_argument_errors_answer_without_tensorflow():
    result = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["loaded"] == []
    assert (seen["help"], seen["train_help"], seen["bad_argument"]) == (0, 0, 2)
    assert [a["name"] for a in seen["listing"]["architectures"]] == zoo.list()
    assert [p["name"] for p in seen["listing"]["presets"]] == zoo.list(pretrained=True)


@pytest.mark.parametrize("command", [["kerasgan"], [sys.executable, "-m", "kerasgan"]],
                         ids=["console_script", "python_m"])
def test_the_kerasgan_command_answers_help(command):
    if command == ["kerasgan"] and shutil.which("kerasgan") is None:
        pytest.skip("the kerasgan console script is not installed")
    result = subprocess.run(command + ["--help"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: kerasgan") and "export" in result.stdout
    assert result.stderr == ""


FRAMEWORK_LINES = ("oneDNN custom operations are on", "absl::InitializeLog()",
                   "Could not find cuda drivers", "cuInit", "I0000", "W0000", "E0000")


def test_a_training_run_prints_no_framework_lines_and_says_skipped_files_in_its_own_lines(
        image_folder, tmp_path):
    (tmp_path / "art" / "broken.png").write_bytes(b"not an image")
    # As from a shell: kerasgan's import in this process set TF_CPP_MIN_LOG_LEVEL, which
    # the command would take for the user's own choice.
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",
                                                            "KERASGAN_TF_LOGS")}
    env["PYTHONWARNINGS"] = "ignore"  # kerasgan's warnings are shown all the same
    result = subprocess.run(
        [sys.executable, "-m", "kerasgan", "train", "vanilla", "--data", image_folder,
         "--image-size", "8", "--set", "latent_dim=4", "--epochs", "1", "--batch-size", "8",
         "--out", str(tmp_path / "run"), "--verbose", "0"],
        capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("kerasgan: warning: ") for line in lines), lines
    assert "Skipped 1 of 21 image files" in lines[0]
    assert any(line.endswith("broken.png: not a recognised image file (corrupt or wrong format)")
               for line in lines[1:]), lines
    assert not [line for line in lines if any(f in line for f in FRAMEWORK_LINES)]
