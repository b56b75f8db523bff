"""Small-data quality at an equal CPU budget: kerasgan's recipe against the keras-io DCGAN peer.

    python bench/small_data.py collections /tmp/collections      # builds the test collections
    python bench/small_data.py pair /tmp/collections/clipart_b 12 runs/pair_clipart_b_12
    python bench/small_data.py pair DATA MINUTES OUT --size 32 --arch fastgan --extra "--set base_channels=16"
    python bench/small_data.py crops /tmp/painting_crops_3k --n 3000  # a painted collection to train a preset on
    python bench/small_data.py finetune /tmp/collections/fashion_test 12 runs/ft_fashion_12 --from fastgan_clipart64
    python bench/small_data.py blank runs/pair_clipart_b_60/*_samples.npz /tmp/collections/clipart_b

`collections` builds, from the development data in ../shared/data (public domain / MIT, see
its README), collections that no kerasgan default was tuned on (the recipe was tuned on the
bundled clip art, every 8th file of the set):
    clipart_b        500 clip-art images, 64 px: files 4, 12, 20, ... (none bundled)
    painting_crops   600 random 96 px crops of 26 paintings, resized to 64 px
    fashion_test     the first 1000 Fashion-MNIST test images, 32 px, grey as RGB

`crops` cuts N random square crops (side drawn between --min-side and --max-side pixels of the
painting scaled to 288 px on its short side) of the same 26 paintings, resized to --size: a
larger painted collection for a long run (the paintings are only 28 pictures).

`pair` trains both side by side, at the same time, each pinned to its own core with one
thread (`taskset -c 0` / `-c 1`, TF_NUM_INTRAOP_THREADS=1), so the machine's drift hits both
alike: the peer is `../shared/tools/peer_keras_dcgan.py train DATA MINUTES OUT.npz SIZE`, kerasgan
is `kerasgan train ARCH --data DATA --minutes MINUTES ...` with the architecture's own recipe.
Then 1000 samples of each (kerasgan: its EMA generator) are scored by
`../shared/tools/kid.py DATA SAMPLES --n 1000` (EfficientNet-Lite0 features; KID x1000, lower is
better), and OUT gets `result.json` (numbers and the exact commands) and `pair.png` (64
samples of the peer on the left, kerasgan on the right). `pair ... --from PRESET` puts
kerasgan's fine-tuning of PRESET (`kerasgan train --from PRESET ...`) against the peer instead.

`finetune` is the same protocol for fine-tuning: `kerasgan train ARCH` from scratch on core 0
against `kerasgan train --from PRESET` (its defaults: the learning rate times the model's
`fine_tune_lr_scale`, nothing frozen; `--extra "--freeze-d 2"` for more) on core 1, same
data, budget and flags; `pair.png` has the scratch run's samples on the left, the fine-tuned
run's on the right.

Both also record the share of nearly blank images (`nearly_blank`: under 2% of the pixels
away from the image's median colour) among the samples and in the collection; `blank` prints
it for any sample files or folders.
"""
import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared")
PEER = os.path.join(SHARED, "tools", "peer_keras_dcgan.py")
KID = os.path.join(SHARED, "tools", "kid.py")


def _paintings(data):
    """The 26 paintings (the last two are kept out of every collection), short side 288 px."""
    names = sorted(f for f in os.listdir(os.path.join(data, "paintings")) if f.endswith(".jpg"))
    images = []
    for name in names[:26]:
        image = Image.open(os.path.join(data, "paintings", name)).convert("RGB")
        scale = 288 / min(image.size)
        images.append(image.resize((round(image.width * scale), round(image.height * scale)),
                                   Image.LANCZOS))
    return images


def build_crops(out, n, size, min_side, max_side, seed=0):
    os.makedirs(out, exist_ok=True)
    images = _paintings(os.path.join(SHARED, "data"))
    rng = random.Random(seed)
    for i in range(n):
        image = images[i % len(images)]
        side = rng.randint(min_side, max_side)
        x, y = rng.randrange(image.width - side + 1), rng.randrange(image.height - side + 1)
        image.crop((x, y, x + side, y + side)).resize((size, size), Image.LANCZOS).save(
            os.path.join(out, f"crop{i:04d}.png"))
    print(f"Wrote {n} crops of {min_side}-{max_side} px at {size} px under {out}")


def build_collections(out):
    data = os.path.join(SHARED, "data")
    clip = sorted(os.listdir(os.path.join(data, "clipart64")))
    folder = os.path.join(out, "clipart_b")
    os.makedirs(folder, exist_ok=True)
    for name in clip[4::8][:500]:
        Image.open(os.path.join(data, "clipart64", name)).convert("RGB").save(
            os.path.join(folder, name))

    folder = os.path.join(out, "painting_crops")
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(0)
    images = _paintings(data)
    for i in range(600):
        image = images[i % len(images)]
        x, y = rng.randrange(image.width - 96), rng.randrange(image.height - 96)
        image.crop((x, y, x + 96, y + 96)).resize((64, 64), Image.LANCZOS).save(
            os.path.join(folder, f"crop{i:03d}.png"))

    folder = os.path.join(out, "fashion_test")
    os.makedirs(folder, exist_ok=True)
    x = np.load(os.path.join(data, "fashion_mnist.npz"))["x_test"][:1000]
    for i, pixels in enumerate(x):
        Image.fromarray(pixels).convert("RGB").resize((32, 32), Image.BICUBIC).save(
            os.path.join(folder, f"test{i:04d}.png"))
    print(f"Wrote clipart_b (500), painting_crops (600), fashion_test (1000) under {out}")


def pinned(core, command):
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
               OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    return ["taskset", "-c", str(core)] + command, env


def kid(data, samples, n=1000):
    line = subprocess.run([sys.executable, KID, data, samples, "--n", str(n)], check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return {k: float(v) for k, v in (item.split("=") for item in line.split())}, line


def samples(npz):
    """The sample images an .npz holds (its first array; the peer's is unnamed), on [-1, 1]."""
    arrays = np.load(npz)
    return arrays[arrays.files[0]]


def grid(samples_npz, n=64):
    images = samples(samples_npz)[:n]
    if images.ndim == 3:
        images = images[..., None]
    pixels = np.clip((images + 1) * 127.5 + 0.5, 0, 255).astype("uint8")
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, -1)
    side, h, w = 8, pixels.shape[1], pixels.shape[2]
    out = np.full((side * h, side * w, 3), 255, "uint8")
    for i, image in enumerate(pixels[:side * side]):
        r, c = divmod(i, side)
        out[r * h:(r + 1) * h, c * w:(c + 1) * w] = image
    return out


def side_by_side(commands):
    """Runs each (name, command) at the same time, the i-th pinned to core i; returns the logs."""
    procs = []
    for core, (_, command) in enumerate(commands):
        command, env = pinned(core, command)
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate()[0] for p in procs]
    for p, log, (who, _) in zip(procs, logs, commands):
        if p.returncode != 0:
            sys.exit(f"{who} failed:\n{log[-3000:]}")
    return logs


def score_run(run, data, samples_npz):
    """1000 samples of kerasgan run `run` (seed 1), scored against `data`."""
    subprocess.run(["kerasgan", "sample", run, "--n", "1000", "--seed", "1", "--out",
                    samples_npz], check=True, capture_output=True)
    kid_values, line = kid(data, samples_npz)
    steps = json.load(open(os.path.join(run, "metadata.json")))["steps"]
    return {"kid": kid_values, "kid_line": line, "steps": steps}


def nearly_blank(path, size=64):
    """The share of images (an .npz of samples on [-1, 1], or a folder) that are nearly blank:
    under 2% of their pixels more than 0.1 (on [0, 1]) from the image's own median colour.
    The collapse of a clip-art run to white pages shows here long before a grid is looked at."""
    if path.endswith(".npz"):
        images = (samples(path).astype("float32") + 1) / 2
    else:
        from kerasgan import data

        images = data.load_image_folder(path, size).astype("float32") / 255
    if images.ndim == 3:
        images = images[..., None]
    flat = images.reshape(len(images), -1, images.shape[-1])
    off = np.abs(images - np.median(flat, axis=1)[:, None, None, :]).max(-1) > 0.1
    return round(float(np.mean(off.mean((1, 2)) < 0.02)), 4)


def save_pair_figure(left_npz, right_npz, path):
    left, right = grid(left_npz), grid(right_npz)
    gap = np.full((left.shape[0], 8, 3), 255, "uint8")
    Image.fromarray(np.concatenate([left, gap, right], 1)).save(path)


def kerasgan_train(args, run, *head):
    return ["kerasgan", "train", *head, "--data", args.data, "--image-size", str(args.size),
            "--batch-size", str(args.batch_size), "--minutes", str(args.minutes), "--flip",
            "--seed", str(args.seed), "--sample-every", "1000", "--steps-per-epoch", "50",
            "--verbose", "0", "--out", run]


def pair(args):
    os.makedirs(args.out, exist_ok=True)
    run = os.path.join(args.out, "kerasgan_run")
    peer_npz = os.path.join(args.out, "peer_samples.npz")
    ours_npz = os.path.join(args.out, "kerasgan_samples.npz")
    peer_cmd = [sys.executable, PEER, "train", args.data, str(args.minutes), peer_npz,
                str(args.size)]
    head = ("--from", args.preset) if args.preset else (args.arch,)
    ours_cmd = kerasgan_train(args, run, *head) + shlex.split(args.extra)
    if args.resume:
        ours_cmd.append("--resume")
    started = time.time()
    logs = side_by_side([("peer", peer_cmd), ("kerasgan", ours_cmd)])
    ours = score_run(run, args.data, ours_npz)
    peer_kid, peer_line = kid(args.data, peer_npz)
    peer_steps = next((line for line in logs[0].splitlines() if "steps" in line), "")
    result = {
        "data": args.data, "minutes": args.minutes, "size": args.size,
        "wall_s": round(time.time() - started),
        "peer": {"command": shlex.join(peer_cmd), "kid": peer_kid, "kid_line": peer_line,
                 "log": peer_steps},
        "kerasgan": {"command": shlex.join(ours_cmd), **ours},
        "ratio_kid": round(ours["kid"]["kid_x1000"] / peer_kid["kid_x1000"], 3),
        "scored_with": f"python {KID} DATA SAMPLES.npz --n 1000",
        "nearly_blank": {"collection": nearly_blank(args.data, args.size),
                         "peer": nearly_blank(peer_npz), "kerasgan": nearly_blank(ours_npz)},
    }
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    save_pair_figure(peer_npz, ours_npz, os.path.join(args.out, "pair.png"))
    print(json.dumps({k: result[k] for k in ("data", "minutes", "ratio_kid")}
                     | {"peer_kid": peer_kid["kid_x1000"], "kerasgan_kid": ours["kid"]["kid_x1000"],
                        "kerasgan_steps": ours["steps"]}))


def finetune(args):
    """Training ARCH from scratch (core 0) against fine-tuning PRESET (core 1), side by side."""
    os.makedirs(args.out, exist_ok=True)
    runs = {who: os.path.join(args.out, who) for who in ("scratch", "finetune")}
    commands = [("scratch", kerasgan_train(args, runs["scratch"], args.arch)),
                ("finetune", kerasgan_train(args, runs["finetune"], "--from", args.preset)
                 + shlex.split(args.extra))]
    started = time.time()
    side_by_side(commands)
    result = {"data": args.data, "minutes": args.minutes, "size": args.size,
              "wall_s": round(time.time() - started),
              "scored_with": f"python {KID} DATA SAMPLES.npz --n 1000"}
    for who, command in commands:
        result[who] = {"command": shlex.join(command),
                       **score_run(runs[who], args.data, runs[who] + "_samples.npz")}
    result["nearly_blank"] = {"collection": nearly_blank(args.data, args.size),
                              **{who: nearly_blank(runs[who] + "_samples.npz")
                                 for who, _ in commands}}
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    save_pair_figure(runs["scratch"] + "_samples.npz", runs["finetune"] + "_samples.npz",
                     os.path.join(args.out, "pair.png"))
    print(json.dumps({"data": args.data, "minutes": args.minutes}
                     | {who: (result[who]["kid"]["kid_x1000"], result[who]["steps"])
                        for who, _ in commands}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("collections")
    make.add_argument("out")
    crops = commands.add_parser("crops")
    crops.add_argument("out")
    crops.add_argument("--n", type=int, default=3000)
    crops.add_argument("--size", type=int, default=64)
    crops.add_argument("--min-side", type=int, default=96)
    crops.add_argument("--max-side", type=int, default=192)
    run = commands.add_parser("pair")
    run.add_argument("data")
    run.add_argument("minutes", type=float)
    run.add_argument("out")
    run.add_argument("--size", type=int, default=64)
    run.add_argument("--arch", default="fastgan")
    run.add_argument("--from", dest="preset", default=None,
                     help="fine-tune this preset instead of training --arch from scratch")
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--extra", default="", help="more kerasgan train flags, one string")
    run.add_argument("--resume", action="store_true", help="continue kerasgan's run in OUT")
    tune = commands.add_parser("finetune")
    tune.add_argument("data")
    tune.add_argument("minutes", type=float)
    tune.add_argument("out")
    tune.add_argument("--from", dest="preset", default="fastgan_clipart64")
    tune.add_argument("--size", type=int, default=64, help="the preset's image size")
    tune.add_argument("--arch", default="fastgan", help="trained from scratch: the preset's")
    tune.add_argument("--batch-size", type=int, default=16)
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--extra", default="", help="more flags of the fine-tuning run")
    blank = commands.add_parser("blank", help="share of nearly blank images, per path")
    blank.add_argument("paths", nargs="+", help="sample .npz files or image folders")
    blank.add_argument("--size", type=int, default=64, help="folders are loaded at this size")
    args = parser.parse_args()
    if args.command == "blank":
        for path in args.paths:
            print(f"{path}: nearly_blank={nearly_blank(path, args.size)}")
    elif args.command == "collections":
        build_collections(args.out)
    elif args.command == "crops":
        build_crops(args.out, args.n, args.size, args.min_side, args.max_side)
    elif args.command == "finetune":
        finetune(args)
    else:
        pair(args)


if __name__ == "__main__":
    main()
