"""The EMA generator's batch-norm statistics: one model sampled three ways, side by side.

    python bench/ema_statistics.py RUN_OR_CHECKPOINT REAL OUT [--size 64]

Until session 14 (2026-12-02) training copied the generator's batch-norm moving statistics
into the EMA generator after every step, although its weights are an average that makes other
activations; now it keeps statistics of its own (`GAN._update_ema`), and models saved before
can be mended with `GAN.recalibrate_ema_statistics()`. For a model saved before, this draws
1000 samples (seed 1, the latents `kerasgan sample --seed 1` uses) from

    as_saved      the EMA generator with the statistics it was saved with (`kerasgan sample`)
    recalibrated  the same weights after `recalibrate_ema_statistics()` (defaults)
    raw           the generator itself, not averaged, with its own statistics

scores each with `../shared/tools/kid.py REAL SAMPLES --n 1000` and the nearly-blank share
(`bench/small_data.py blank`), and writes OUT/{NAME}.npz, OUT/result.json and OUT/grids.jpg
(64 samples of each, in that order, left to right).
"""
import argparse
import json
import os

import numpy as np
from PIL import Image

from small_data import grid, kid, nearly_blank

def draw_samples(path, n=1000):
    """{way: samples} of the model at `path`, one load: the raw generator and the EMA
    generator as saved first, then the EMA generator after recalibration (which changes only
    its statistics)."""
    from kerasgan import zoo
    from kerasgan.precision import float32_layers

    gan = zoo.load(path)
    if gan.ema_generator is None:
        raise SystemExit(f"{path} has no EMA generator.")
    latents = gan.latents(n, seed=1)
    with float32_layers(gan.generator):  # as `generate` computes the sampler
        raw = np.concatenate([np.asarray(gan.generator(latents[i:i + 100], training=False))
                              for i in range(0, n, 100)]).astype("float32")
    as_saved = gan.generate(latents=latents)
    gan.recalibrate_ema_statistics()
    return {"as_saved": as_saved, "recalibrated": gan.generate(latents=latents), "raw": raw}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a run folder or a .keras checkpoint")
    parser.add_argument("real", help="the training images (folder or .npz), for the KID")
    parser.add_argument("out")
    parser.add_argument("--size", type=int, default=64, help="a folder's images load at this size")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    result = {"model": args.model, "real": args.real,
              "nearly_blank_real": nearly_blank(args.real, args.size)}
    grids = []
    for way, images in draw_samples(args.model).items():
        path = os.path.join(args.out, f"{way}.npz")
        np.savez(path, images)
        numbers, line = kid(args.real, path)
        result[way] = {"kid_x1000": numbers["kid_x1000"], "kid_line": line,
                       "nearly_blank": nearly_blank(path)}
        print(f"{way:13s} {line} nearly_blank={result[way]['nearly_blank']}", flush=True)
        grids.append(grid(path))
    gap = np.full((grids[0].shape[0], 16, 3), 128, "uint8")
    Image.fromarray(np.concatenate([grids[0], gap, grids[1], gap, grids[2]], 1)).save(
        os.path.join(args.out, "grids.jpg"), quality=90)
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
