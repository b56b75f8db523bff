"""Paired translation (pix2pix) on art: colouring grey crops of paintings, against the grey.

    python bench/colourise.py data /tmp/paired                     # pairs from ../shared/data
    kerasgan train pix2pix --data /tmp/paired/train/grey --data-b /tmp/paired/train/colour \
        --paired --image-size 64 --batch-size 16 --minutes 20 --flip --seed 0 --out runs/colour
    python bench/colourise.py evaluate runs/colour /tmp/paired/heldout runs/colour_eval

`data` writes pairs named alike: `train/grey/cropNNNN.png` (the crop in grey, as RGB) and
`train/colour/cropNNNN.png` (the crop), 3000 random crops of 96-192 px of the 26 paintings
at 64 px (as `bench/small_data.py crops`), and `heldout/` the same from the two paintings
that no collection uses (64 crops, and each whole painting at 256 px on its short side).

`evaluate` colours the held-out grey images with the model (`model.translate`, any size) and
reports, against the colour originals, the mean absolute error (L1, on [0, 255]) and the
PSNR, for the model and for the grey input itself (what a colouring must improve on), and
the colourfulness (Hasler and Suesstrunk 2003) of each. OUT gets `result.json` and
`figure.png` (rows of grey, coloured, original).
"""
import argparse
import json
import os
import random
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import small_data  # noqa: E402  (the paintings and their crops)

SHARED = os.path.join(HERE, "..", "..", "shared")


def _save_pair(image, name, out):
    image.save(os.path.join(out, "colour", name))
    image.convert("L").convert("RGB").save(os.path.join(out, "grey", name))


def build(out):
    names = sorted(f for f in os.listdir(os.path.join(SHARED, "data", "paintings"))
                   if f.endswith(".jpg"))
    for part in ("train", "heldout"):
        for kind in ("grey", "colour"):
            os.makedirs(os.path.join(out, part, kind), exist_ok=True)
    small_data.build_crops(os.path.join(out, "train", "colour"), 3000, 64, 96, 192)
    for name in sorted(os.listdir(os.path.join(out, "train", "colour"))):
        Image.open(os.path.join(out, "train", "colour", name)).convert("L").convert("RGB").save(
            os.path.join(out, "train", "grey", name))
    rng = random.Random(1)
    heldout = os.path.join(out, "heldout")
    for k, name in enumerate(names[26:]):
        image = Image.open(os.path.join(SHARED, "data", "paintings", name)).convert("RGB")
        scale = 288 / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)),
                             Image.LANCZOS)
        for i in range(32):
            side = rng.randint(96, 192)
            x, y = rng.randrange(image.width - side + 1), rng.randrange(image.height - side + 1)
            crop = image.crop((x, y, x + side, y + side)).resize((64, 64), Image.LANCZOS)
            _save_pair(crop, f"crop{k}_{i:02d}.png", heldout)
        scale = 256 / min(image.size)
        whole = image.resize((round(image.width * scale), round(image.height * scale)),
                             Image.LANCZOS)
        _save_pair(whole, f"whole{k}.png", heldout)
    print(f"Wrote 3000 training pairs and {2 * 33} held-out pairs under {out}")


def _load(path):
    return np.asarray(Image.open(path).convert("RGB"), "float32")


def colourfulness(pixels):
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def evaluate(run, heldout, out):
    from kerasgan import callbacks, zoo

    model = zoo.load(run)
    os.makedirs(out, exist_ok=True)
    names = sorted(os.listdir(os.path.join(heldout, "grey")))
    rows, scores = [], {"model": [], "grey": []}
    for name in names:
        grey = _load(os.path.join(heldout, "grey", name))
        colour = _load(os.path.join(heldout, "colour", name))
        coloured = (model.translate(grey / 127.5 - 1.0) + 1.0) * 127.5
        coloured = np.clip(np.round(coloured), 0, 255)
        for key, image in (("model", coloured), ("grey", grey)):
            mse = float(np.mean((image - colour) ** 2))
            scores[key].append({"name": name, "l1": float(np.mean(np.abs(image - colour))),
                                "psnr": 10 * np.log10(255.0 ** 2 / max(mse, 1e-10)),
                                "colourfulness": colourfulness(image)})
        if name.startswith("crop") and len(rows) < 3 * 16:
            rows += [grey, coloured, colour]
        if name.startswith("whole"):
            Image.fromarray(np.concatenate([grey, coloured, colour], axis=1).astype("uint8")).save(
                os.path.join(out, f"{os.path.splitext(name)[0]}.png"))
    callbacks.save_grid(np.stack(rows) / 127.5 - 1.0, os.path.join(out, "figure.png"), columns=6)
    result = {"run": run, "heldout": heldout, "n": len(names)}
    originals = [colourfulness(_load(os.path.join(heldout, "colour", n))) for n in names]
    result["original"] = {"colourfulness": float(np.mean(originals))}
    for key, rows_ in scores.items():
        result[key] = {metric: float(np.mean([r[metric] for r in rows_]))
                       for metric in ("l1", "psnr", "colourfulness")}
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("data").add_argument("out")
    run = commands.add_parser("evaluate")
    run.add_argument("run")
    run.add_argument("heldout")
    run.add_argument("out")
    args = parser.parse_args()
    if args.command == "data":
        build(args.out)
    else:
        evaluate(args.run, args.heldout, args.out)


if __name__ == "__main__":
    main()
