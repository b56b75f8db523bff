"""Does `kerasgan train ... --deterministic` give the same weights in separate processes?

    python bench/determinism.py                 # cut (--from a tiny cyclegan) and cyclegan, 6 runs each
    python bench/determinism.py --runs 10 --arch dcgan

Each run is its own `kerasgan train` process (tiny networks, two steps, seed 0) on small
random image folders written to a temporary folder; every weight of every run is compared
with the first run's. Prints, per architecture, the largest absolute difference of each
later run (0.0 = bit-exact) and how many runs equalled the first.
A race shows only when the threads' timing varies: runs that agree are evidence, not
proof (the unpaired stream's race of session 21, docs/design.md, CUT, agreed 6 of 6 in one
run of this script and not in another); tests/test_cyclegan.py checks the stream itself.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

from kerasgan import zoo

TINY_SETS = {
    "cyclegan": ["--image-size", "16", "--set", "base_channels=4", "--set", "n_blocks=1",
                 "--set", "d_layers=2"],
    "dcgan": ["--image-size", "32", "--set", "base_channels=8", "--batch-size", "4"],
}


def write_folders(root):
    rng = np.random.default_rng(0)
    for name, n in (("a", 5), ("b", 7)):
        os.makedirs(os.path.join(root, name))
        for i in range(n):
            image = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(image).save(os.path.join(root, name, f"{i}.png"))


def train_command(arch, root, out):
    command = [sys.executable, "-m", "kerasgan", "train", arch, "--data", os.path.join(root, "a"),
               "--epochs", "1", "--steps-per-epoch", "2", "--seed", "0", "--deterministic",
               "--verbose", "0", "--out", out]
    if arch == "cut":
        return command + ["--from", os.path.join(root, "source"), "--data-b",
                          os.path.join(root, "b"), "--set", "num_patches=4"]
    if arch == "cyclegan":
        command += ["--data-b", os.path.join(root, "b")]
    return command + TINY_SETS.get(arch, [])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", action="append", choices=("cut", "cyclegan", "dcgan"))
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as root:
        write_folders(root)
        zoo.save(zoo.create("cyclegan", **zoo.tiny_config("cyclegan"), seed=1),
                 os.path.join(root, "source"))
        for arch in args.arch or ["cut", "cyclegan"]:
            outs = [os.path.join(root, f"{arch}_{i}") for i in range(args.runs)]
            for out in outs:
                subprocess.run(train_command(arch, root, out), check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            first = [w.numpy() for w in zoo.load(outs[0]).weights]
            differences = [max(float(np.abs(a - b.numpy()).max()) for a, b in
                               zip(first, zoo.load(out).weights)) for out in outs[1:]]
            equal = 1 + sum(d == 0.0 for d in differences)
            print(f"{arch}: {equal} of {args.runs} runs equal the first; largest differences "
                  f"{differences}", flush=True)


if __name__ == "__main__":
    main()
