"""Issue 13, 'Safety': lost work and crashes. Each test is written as the accident.

Bad input of every command is one line `kerasgan: error: ...` and writes nothing; a run
folder belongs to one training process at a time; a full disk leaves the previous files
and no temporary ones; export never deletes what it was not asked to replace.
"""
import errno
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from kerasgan import callbacks, cli, export, zoo
from conftest import image_batches

TINY = ["--image-size", "8", "--set", "latent_dim=4", "--batch-size", "4", "--epochs", "1",
        "--verbose", "0", "--seed", "1"]
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def run_cli(argv, capsys):
    """(exit code, stdout, stderr) of `kerasgan ARGV`, argument errors included."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(err):
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerasgan: error:"), err


def snapshot(folder):
    """Every path under `folder` with the hash of its bytes (None for folders)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            found[os.path.relpath(os.path.join(root, name), folder)] = None
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                found[os.path.relpath(os.path.join(root, name), folder)] = \
                    hashlib.sha256(f.read()).hexdigest()
    return found


def temporaries(folder):
    return [os.path.join(root, n) for root, dirs, files in os.walk(folder)
            for n in dirs + files if n.startswith(".tmp")]


def write_images(folder, n=8):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8), i * 30, np.uint8)).save(os.path.join(folder, f"{i}.png"))
    return str(folder)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A folder of models, damaged models, images and obstacles; and a trained tiny run."""
    root = tmp_path_factory.mktemp("world")
    w = lambda *p: str(root.joinpath(*p))  # noqa: E731
    write_images(w("imgs"))
    zoo.save(zoo.create("vanilla", **zoo.tiny_config("vanilla")), w("run"))
    zoo.save(zoo.create("cyclegan", **zoo.tiny_config("cyclegan")), w("cyc"))
    inputs = keras.Input((8, 8, 1))
    keras.Model(inputs, keras.layers.Flatten()(inputs)).save(w("plain.keras"))
    open(w("empty.keras"), "wb").close()
    open(w("garbage.keras"), "wb").write(b"not a zip archive")
    open(w("afile"), "w").write("a file, not a folder")
    config = json.load(open(w("run", "config.json")))
    for name, edit in [
        ("emptyw", lambda d: open(os.path.join(d, "generator.weights.h5"), "wb").close()),
        ("corruptw", lambda d: open(os.path.join(d, "generator.weights.h5"), "wb")
            .write(b"garbage" * 10)),
        ("badjson", lambda d: open(os.path.join(d, "config.json"), "w").write("{bad")),
        ("listcfg", lambda d: json.dump({**config, "config": []},
                                        open(os.path.join(d, "config.json"), "w"))),
        ("strsize", lambda d: json.dump({**config, "config": {**config["config"],
                                                              "image_size": "abc"}},
                                        open(os.path.join(d, "config.json"), "w"))),
        ("badeval", lambda d: open(os.path.join(d, "evaluation.json"), "w").write("[{")),
    ]:
        shutil.copytree(w("run"), w(name))
        edit(w(name))
    assert cli.main(["train", "vanilla", "--data", w("imgs"), "--out", w("trained"),
                     *TINY]) == 0
    keras.backend.clear_session()
    return root


BAD_INPUTS = [
    # sample: damaged model folders and files, the wrong kind of model, bad --out, huge --n
    (["sample", "emptyw", "--out", "o.png"], 2, "generator.weights.h5 is empty"),
    (["sample", "corruptw", "--out", "o.png"], 2, "not an HDF5 weights file"),
    (["sample", "badjson", "--out", "o.png"], 2, "not valid JSON"),
    (["sample", "listcfg", "--out", "o.png"], 2, '"config" must be a JSON object'),
    (["sample", "strsize", "--out", "o.png"], 2, "image_size"),
    (["sample", "cyc", "--out", "o.png"], 2, "image-to-image model"),
    (["sample", "plain.keras", "--out", "o.png"], 2, "not a kerasgan model"),
    (["sample", "empty.keras", "--out", "o.png"], 2, "not a .keras model file"),
    (["sample", "garbage.keras", "--out", "o.png"], 2, "not a .keras model file"),
    (["sample", "run", "--out", "afile/o.png"], 2, "is a file, not a folder"),
    (["sample", "run", "--out", "o.txt"], 2, "expected a file name ending in"),
    (["sample", "run", "--out", "imgs"], 2, "expected a file name ending in"),
    (["sample", "run", "--n", "1000000000000", "--out", "o.npz"], 2, "memory"),
    # evaluate
    (["evaluate", "cyc", "--data", "imgs", "--features", "plain.keras"], 2, "image-to-image"),
    (["evaluate", "plain.keras", "--data", "imgs", "--features", "plain.keras"], 2,
     "not a kerasgan model"),
    (["evaluate", "run", "--data", "imgs", "--features", "garbage.keras"], 2,
     "not a .keras model file"),
    (["evaluate", "badeval", "--data", "imgs", "--features", "plain.keras"], 2,
     "evaluation.json is damaged"),
    (["evaluate", "run", "--data", "imgs", "--features", "plain.keras", "--n", "1000000000000"],
     2, "memory"),
    # translate
    (["translate", "plain.keras", "imgs/0.png", "--out", "t.png"], 2, "not a kerasgan model"),
    (["translate", "run", "imgs/0.png", "--out", "t.png"], 2, "generates images from latents"),
    (["translate", "cyc", "imgs/0.png", "--out", "afile/t.png"], 2, "is a file"),
    (["translate", "cyc", "imgs/0.png", "--out", "t.txt"], 2, "expected a file name ending in"),
    # export: every argument is checked before any work
    (["export", "plain.keras", "--out", "e"], 2, "not a kerasgan model"),
    (["export", "corruptw", "--out", "e"], 2, "not an HDF5 weights file"),
    (["export", "run", "--out", "afile"], 2, "is a file"),
    (["export", "run", "--out", "afile/e"], 2, "is a file"),
    (["export", "run", "--out", "e", "--threads", "0"], 2, "--threads"),
    (["export", "run", "--out", "e", "--threads", "1,-1"], 2, "--threads"),
    (["export", "run", "--out", "e", "--batch-size", "100000000000"], 2, "memory"),
    (["export", "cyc", "--out", "e", "--image-size", "5"], 2, "multiple of 4"),
    (["export", "run", "--out", "e", "--truncation-psi", "nan"], 2, "--truncation-psi"),
    # train: sizes that cannot fit, --set values of the wrong type, damaged runs
    (["train", "vanilla", "--data", "imgs", "--out", "t", "--image-size", "100000"], 2,
     "memory"),
    (["train", "cyclegan", "--data", "imgs", "--data-b", "imgs", "--out", "t",
      "--image-size", "100000"], 2, "memory"),
    (["train", "dcgan", "--data", "imgs", "--out", "t", "--image-size", "100000"], 2,
     "got image_size=100000"),
    (["train", "vanilla", "--data", "imgs", "--out", "t", *TINY, "--set", "g_units=5"], 2,
     "g_units"),
    (["train", "vanilla", "--data", "imgs", "--out", "t", "--set", "latent_dim=abc"], 2,
     "latent_dim"),
    (["train", "vanilla", "--data", "imgs", "--out", "t", "--set", "name=x"], 2, "name"),
    (["train", "vanilla", "--data", "imgs", "--out", "t", "--lr", "-1"], 2, "--lr"),
    (["train", "vanilla", "--data", "imgs", "--out", "t", *TINY, "--d-steps", "100000"], 2,
     "d_steps must be an integer from 1 to 64"),
    (["train", "vanilla", "--data", "imgs", "--out", "t", *TINY, "--set", "d_steps=65"], 2,
     "d_steps must be an integer from 1 to 64"),
    (["train", "vanilla", "--data", "imgs", "--out", "badjson", *TINY, "--resume"], 2,
     "not valid JSON"),
    (["train", "vanilla", "--data", "imgs", "--out", "listcfg", *TINY, "--resume"], 2,
     '"config" must be a JSON object'),
    (["train", "vanilla", "--data", "imgs", "--out", "afile", *TINY], 2, "cannot write"),
    (["train", "vanilla", "--data", "imgs", "--out", "trained", "--resume", "--overwrite"], 2,
     "pass one of them"),
    (["train", "vanilla", "--data", "imgs", "--out", "trained", *TINY], 2,
     "already holds a run"),
]


@pytest.mark.parametrize("argv, code, message", BAD_INPUTS,
                         ids=[" ".join(case[0])[:60] for case in BAD_INPUTS])
def test_bad_input_is_one_line_and_writes_nothing(argv, code, message, world, capsys,
                                                  monkeypatch):
    monkeypatch.chdir(world)
    before = snapshot(world)
    got, _, err = run_cli(argv, capsys)
    assert got == code, err
    assert_one_error_line(err)
    assert message in err
    assert snapshot(world) == before, "a refused command wrote something"


def test_train_refuses_a_users_folder_and_overwrite_keeps_its_other_files(tmp_path, capsys):
    folder = tmp_path / "holiday_photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    argv = ["train", "vanilla", "--data", write_images(tmp_path / "imgs"), "--out",
            str(folder), *TINY]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "is not empty (notes.txt)" in err and "--overwrite" in err
    assert_one_error_line(err)
    assert sorted(os.listdir(folder)) == ["notes.txt"]

    assert run_cli(argv + ["--overwrite"], capsys)[0] == 0
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "config.json").is_file() and not (folder / cli.LOCK_FILE).exists()


def test_train_refuses_a_finished_run_whose_checkpoints_were_deleted(world, tmp_path, capsys):
    run = tmp_path / "finished"
    shutil.copytree(world / "trained", run)
    shutil.rmtree(run / "checkpoints")
    before = snapshot(run)
    code, _, err = run_cli(["train", "vanilla", "--data", str(world / "imgs"), "--out",
                            str(run), *TINY], capsys)
    assert code == 2 and "without checkpoints" in err
    assert_one_error_line(err)
    assert snapshot(run) == before
    # --overwrite replaces the run, and removes what the new one would not replace by name:
    # an EMA generator of the old run would otherwise be loaded as the new run's.
    (run / "generator_ema.weights.h5").write_bytes((run / "generator.weights.h5").read_bytes())
    (run / "notes.txt").write_text("mine")
    code, _, err = run_cli(["train", "vanilla", "--data", str(world / "imgs"), "--out",
                            str(run), *TINY, "--seed", "2", "--overwrite"], capsys)
    assert code == 0, err
    assert not (run / "generator_ema.weights.h5").exists()
    assert (run / "notes.txt").read_text() == "mine"
    assert json.load(open(run / "config.json"))["train"]["seed"] == 2


def write_lock(folder, pid, host=None):
    folder.mkdir(exist_ok=True)
    (folder / cli.LOCK_FILE).write_text(json.dumps({"pid": pid,
                                                    "host": host or socket.gethostname()}))


def test_a_second_process_training_into_the_same_folder_is_refused(world, tmp_path, capsys):
    out = tmp_path / "busy"
    write_lock(out, os.getpid())  # a live process: this one
    before = snapshot(out)
    for extra in ([], ["--resume"]):
        code, _, err = run_cli(["train", "vanilla", "--data", str(world / "imgs"), "--out",
                                str(out), *TINY, *extra], capsys)
        assert code == 2 and f"PID {os.getpid()} on {socket.gethostname()}" in err
        assert_one_error_line(err)
        assert snapshot(out) == before


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(world, tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "crashed"
    write_lock(out, dead.pid)
    code, _, err = run_cli(["train", "vanilla", "--data", str(world / "imgs"), "--out",
                            str(out), *TINY], capsys)
    assert code == 0, err
    assert "warning: taking over the lock" in err and str(dead.pid) in err
    assert not (out / cli.LOCK_FILE).exists(), "the lock must be removed when training ends"
    assert (out / "generator.weights.h5").is_file()


def test_full_disk_while_checkpointing_is_one_line_and_releases_the_lock(world, tmp_path,
                                                                         capsys, monkeypatch):
    def save_until_the_disk_is_full(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(keras.Model, "save", save_until_the_disk_is_full)
    out = tmp_path / "run"
    code, _, err = run_cli(["train", "vanilla", "--data", str(world / "imgs"), "--out",
                            str(out), *TINY], capsys)
    assert code == 1 and err.rstrip().endswith("No space left on device")
    assert_one_error_line(err)
    assert "epoch-0001.keras" in err  # the file it could not write
    assert not (out / cli.LOCK_FILE).exists(), "released on error too"
    assert os.listdir(out / "checkpoints") == [callbacks.FINGERPRINT_FILE]
    assert temporaries(out) == []


def test_resume_refuses_changed_flags_and_keeps_the_runs_own(world, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(world / "trained", run)
    data = str(world / "imgs")
    before = snapshot(run)
    code, _, err = run_cli(["train", "vanilla", "--data", data, "--out", str(run), "--resume",
                            "--epochs", "2", "--lr", "0.01", "--batch-size", "8",
                            "--set", "latent_dim=4"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert "--lr 0.01 (the run has 0.0002)" in err and "--batch-size 8 (the run has 4)" in err
    assert "latent_dim" not in err  # the same value as the run's is fine
    assert snapshot(run) == before
    # Flags left out take the run's values: batch 4, not the default 64.
    code, out, err = run_cli(["train", "vanilla", "--data", data, "--out", str(run),
                              "--resume", "--epochs", "2", "--verbose", "0"], capsys)
    assert code == 0, err
    metadata = json.load(open(run / "metadata.json"))
    assert metadata["batch_size"] == 4 and metadata["steps"] == 4


def test_a_full_disk_keeps_the_previous_samples_and_no_temporary_file(world, tmp_path, capsys,
                                                                    monkeypatch):
    from PIL import Image

    run = str(world / "run")
    npz, png = tmp_path / "samples.npz", tmp_path / "grid.png"
    assert run_cli(["sample", run, "--n", "4", "--out", str(npz)], capsys)[0] == 0
    assert run_cli(["sample", run, "--n", "4", "--out", str(png)], capsys)[0] == 0
    good = snapshot(tmp_path)

    def write_then_fail(file, *args, **kwargs):
        if isinstance(file, str):
            with open(file, "wb") as f:
                f.write(b"half")
        else:
            file.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez_compressed", write_then_fail)
    monkeypatch.setattr(Image.Image, "save", lambda image, file, *a, **k: write_then_fail(file))
    for out in (npz, png):
        code, _, err = run_cli(["sample", run, "--n", "4", "--seed", "5", "--out", str(out)],
                               capsys)
        assert code == 1 and err.rstrip().endswith("No space left on device")
        assert_one_error_line(err)
        assert str(out) in err
    assert snapshot(tmp_path) == good  # the old files, and no temporary ones


def test_export_with_bad_threads_or_a_failure_leaves_out_as_it_was(world, tmp_path, capsys,
                                                                 monkeypatch):
    out = tmp_path / "exported"
    out.mkdir()
    (out / export.REPORT_FILE).write_text('{"artifacts": "the previous export"}')
    (out / "generator_saved_model").mkdir()
    (out / "generator_saved_model" / "saved_model.pb").write_bytes(b"previous")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="latency_threads"):
        export.export(str(world / "run"), out, latency_threads=[0])

    def conversion_fails(converter):
        raise export.ExportError("TFLite conversion failed (a stand-in).")

    monkeypatch.setattr(export, "_convert", conversion_fails)
    code, _, err = run_cli(["export", str(world / "run"), "--out", str(out)], capsys)
    assert code == 1 and "a stand-in" in err
    assert_one_error_line(err)
    assert snapshot(tmp_path) == before  # no half-written folder, no temporary folder


def test_export_into_an_existing_folder_keeps_what_it_was_not_asked_to_replace(world, tmp_path,
                                                                               capsys):
    out = tmp_path / "exported"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "generator_saved_model").mkdir()  # a SavedModel of an earlier export
    (out / "generator_saved_model" / "saved_model.pb").write_bytes(b"previous")
    (out / export.REPORT_FILE).write_text("{}")
    code, _, err = run_cli(["export", str(world / "run"), "--out", str(out), "--formats",
                            "tflite", "--quantize", "float32"], capsys)
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "generator_saved_model" / "saved_model.pb").read_bytes() == b"previous"
    report = json.load(open(out / export.REPORT_FILE))  # replaced: that was asked
    assert [a["path"] for a in report["artifacts"]] == ["generator_float32.tflite"]
    assert temporaries(tmp_path) == []


def test_an_unloadable_checkpoint_never_outlives_the_good_ones(tmp_path, monkeypatch):
    gan = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    gan.compile()
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "epoch-0009.keras").write_bytes(b"left by a crash")  # newer, and damaged
    real_save = keras.Model.save

    def damaged_at_epoch_2(self, path, *args, **kwargs):
        real_save(self, path, *args, **kwargs)
        if "epoch-0002" in os.path.basename(path):
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)

    monkeypatch.setattr(keras.Model, "save", damaged_at_epoch_2)
    checkpoint = callbacks.Checkpoint(str(folder), keep=1)
    with pytest.warns(UserWarning) as warned:
        gan.fit(image_batches(gan.image_shape), epochs=2, verbose=0, callbacks=[checkpoint])
    text = " ".join(str(w.message) for w in warned)
    assert "epoch-0009.keras" in text and "Not checkpointing epoch 2" in text
    # epoch 2 did not verify: not put in place, and epoch 1 was not pruned for it
    assert sorted(os.listdir(folder)) == ["epoch-0001.keras", callbacks.FINGERPRINT_FILE]
    gan.fit(image_batches(gan.image_shape), epochs=3, initial_epoch=2, verbose=0,
            callbacks=[checkpoint])
    assert sorted(os.listdir(folder)) == ["epoch-0003.keras", callbacks.FINGERPRINT_FILE]
    assert callbacks.load_latest_checkpoint(str(folder))[1] == 3


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(world, capsys,
                                                                      monkeypatch):
    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(cli.COMMANDS, "list", broken)
    code, _, err = run_cli(["list"], capsys)
    assert code == 1
    assert_one_error_line(err)
    assert err.strip() == ("kerasgan: error: ZeroDivisionError: division by zero (run with "
                           "--debug for the traceback)")
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug", "list"])
    with pytest.raises(cli.UsageError):
        cli.main(["sample", str(world / "plain.keras"), "--debug"])
    monkeypatch.setenv("KERASGAN_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["list"])
