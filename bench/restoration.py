"""Restoration (inpainting) data and benchmark.

    python bench/restoration.py data /tmp/restoration          # train/ and heldout/ crops
    python bench/restoration.py evaluate MODEL /tmp/restoration/heldout OUT [--n 100]

`data` cuts 128 px crops of the public-domain paintings in ../shared/data/paintings (see its
README), the paintings resized to a short side of 384 px first (so a crop holds a part of a
picture, not a brush stroke): `train/` 100 random crops from each of 24 paintings, `heldout/`
25 crops from each of 4 paintings kept out of training (every 7th file: 3, 10, 17, 24 of the
sorted list).

`evaluate` resizes the held-out crops to the model's image size, damages every one with one mask of each family (`kerasgan.masks.draw`,
fixed keys, so every method sees the same masks) and restores it with the model, OpenCV's
Telea and Navier-Stokes inpainting (`cv2.inpaint`, radius 3; the `bench` extra installs
opencv-python-headless), and the mean colour of the hole's border. Per family and method:
PSNR and SSIM over the whole image and over the hole's bounding box, L1 over the hole (on
[0, 1] pixels), and KID x1000 of the restored set against the originals
(`../shared/tools/kid.py`'s features and KID, computed in-process). Writes OUT/results.json,
OUT/results.md (the table) and OUT/figure.png (rows: original, damaged, Telea, kerasgan).
"""
import argparse
import json
import os
import random
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared")
KID = os.path.join(SHARED, "tools", "kid.py")
SIZE = 128


def build_data(out):
    folder = os.path.join(SHARED, "data", "paintings")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))
    heldout = set(names[3::7][:4])
    rng = random.Random(0)
    for split in ("train", "heldout"):
        os.makedirs(os.path.join(out, split), exist_ok=True)
    for name in names:
        image = Image.open(os.path.join(folder, name)).convert("RGB")
        scale = 384 / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)),
                             Image.LANCZOS)
        split, count = ("heldout", 25) if name in heldout else ("train", 100)
        for i in range(count):
            x, y = rng.randrange(image.width - SIZE + 1), rng.randrange(image.height - SIZE + 1)
            image.crop((x, y, x + SIZE, y + SIZE)).save(
                os.path.join(out, split, f"{os.path.splitext(name)[0]}_{i:03d}.png"))
    print(f"Wrote {out}/train ({24 * 100} crops) and {out}/heldout (held out: "
          f"{', '.join(sorted(heldout))})")


# --------------------------------------------------------------------------- metrics
def psnr(a, b):
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def ssim(a, b):
    """Mean SSIM (Wang et al. 2004) of two float images in [0, 1], 7x7 uniform windows."""
    from scipy.ndimage import uniform_filter

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    values = []
    for ch in range(a.shape[-1]):
        x, y = a[..., ch].astype("float64"), b[..., ch].astype("float64")
        mx, my = uniform_filter(x, 7), uniform_filter(y, 7)
        vx = uniform_filter(x * x, 7) - mx * mx
        vy = uniform_filter(y * y, 7) - my * my
        cxy = uniform_filter(x * y, 7) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        values.append(s[3:-3, 3:-3].mean())
    return float(np.mean(values))


def hole_box(mask):
    ys, xs = np.nonzero(mask)
    return slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)


def border_mean_fill(image, mask):
    """Fills the hole with the mean colour of the known pixels bordering it."""
    from scipy.ndimage import binary_dilation

    border = binary_dilation(mask, iterations=1) & ~mask
    out = image.copy()
    out[mask] = image[border].mean(axis=0) if border.any() else image[~mask].mean(axis=0)
    return out


class KIDScorer:
    """`../shared/tools/kid.py`'s KID, computed in this process: the feature network is built
    and the originals' features computed once (the script would redo both for each of the 16
    comparisons). Same features, resizing and subsets as `kid.py REAL FAKE --seed 0`."""

    def __init__(self, originals):
        import importlib.util

        spec = importlib.util.spec_from_file_location("kid", KID)
        self.kid = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.kid)
        self.model = self.kid.effnet_lite0()
        self.real = self.features(originals)

    def features(self, images):
        import tensorflow as tf

        x = tf.image.resize(images.astype("float32"), (224, 224), method="bicubic")
        x = (x.numpy().clip(0, 255) - 127.0) / 128.0
        return self.model.predict(x, batch_size=64, verbose=0).astype(np.float64)

    def kid_x1000(self, images):
        value, _ = self.kid.kid(self.real, self.features(images), rng=np.random.default_rng(0))
        return 1000 * value


def evaluate(args):
    import cv2
    import tensorflow as tf

    from kerasgan import masks, zoo

    files = sorted(f for f in os.listdir(args.heldout) if f.endswith(".png"))[:args.n]
    model = zoo.load(args.model)
    size = model.image_size  # held-out crops at the scale the model trained at
    images = np.stack([np.asarray(Image.open(os.path.join(args.heldout, f)).convert("RGB")
                                  .resize((size, size), Image.LANCZOS)) for f in files])
    n = len(images)
    os.makedirs(args.out, exist_ok=True)
    real = os.path.join(args.out, "originals.npz")
    np.savez(real, images=images.astype("float32") / 127.5 - 1.0)
    scorer = KIDScorer(images)
    results, figure_rows = {}, []
    for k, family in enumerate(masks.FAMILIES):
        mask = masks.draw(tf.constant([1000 + k, 0], tf.int64), n, size, size,
                          (family,)).numpy()[..., 0] > 0.5
        restored = {
            "kerasgan": np.clip((model.restore(images / 127.5 - 1.0, mask) + 1) * 127.5 + 0.5,
                                0, 255).astype("uint8"),
            "telea": np.stack([cv2.inpaint(im, m.astype("uint8"), 3, cv2.INPAINT_TELEA)
                               for im, m in zip(images, mask)]),
            "navier_stokes": np.stack([cv2.inpaint(im, m.astype("uint8"), 3, cv2.INPAINT_NS)
                                       for im, m in zip(images, mask)]),
            "border_mean": np.stack([border_mean_fill(im, m) for im, m in zip(images, mask)]),
        }
        results[family] = {"hole_fraction": float(mask.mean())}
        for method, out in restored.items():
            out = np.where(mask[..., None], out, images)  # every method keeps known pixels
            rows = []
            for im, r, m in zip(images / 255.0, out / 255.0, mask):
                box = hole_box(m)
                rows.append([psnr(im, r), ssim(im, r), psnr(im[box], r[box]),
                             ssim(im[box], r[box]) if min(im[box].shape[:2]) >= 7 else np.nan,
                             float(np.abs(im - r)[m].mean())])
            rows = np.array(rows)
            npz = os.path.join(args.out, f"{family}_{method}.npz")
            np.savez(npz, images=out.astype("float32") / 127.5 - 1.0)
            kid = scorer.kid_x1000(out)
            results[family][method] = {
                "psnr": float(np.mean(rows[:, 0])), "ssim": float(np.mean(rows[:, 1])),
                "psnr_hole_box": float(np.mean(rows[:, 2])),
                "ssim_hole_box": float(np.nanmean(rows[:, 3])),
                "l1_hole": float(np.mean(rows[:, 4])), "kid_x1000": kid}
            print(family, method, results[family][method], flush=True)
        i = 0
        damaged = np.where(mask[i][..., None], 255, images[i]).astype("uint8")
        figure_rows.append(np.concatenate([images[i], damaged, restored["telea"][i],
                                           np.where(mask[i][..., None], restored["kerasgan"][i],
                                                    images[i])], axis=1))
    Image.fromarray(np.concatenate(figure_rows, axis=0)).save(os.path.join(args.out, "figure.png"))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"model": args.model, "heldout": args.heldout, "n": n,
                   "command": " ".join(sys.argv), "results": results}, f, indent=2)
    lines = ["| mask family (hole %) | method | PSNR | SSIM | PSNR hole box | SSIM hole box | "
             "L1 hole | KID x1000 |", "|---|---|---|---|---|---|---|---|"]
    for family, by_method in results.items():
        for method, r in by_method.items():
            if method == "hole_fraction":
                continue
            lines.append(f"| {family} ({100 * by_method['hole_fraction']:.0f} %) | {method} | "
                         f"{r['psnr']:.2f} | {r['ssim']:.3f} | {r['psnr_hole_box']:.2f} | "
                         f"{r['ssim_hole_box']:.3f} | {r['l1_hole']:.4f} | {r['kid_x1000']:.1f} |")
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def fill(args):
    """PSNR of the generator's starting point (layers.PullPushFill) against cv2 Telea on the
    held-out crops and the masks `evaluate` uses."""
    import cv2
    import tensorflow as tf

    from kerasgan import masks
    from kerasgan.layers import PullPushFill

    files = sorted(f for f in os.listdir(args.heldout) if f.endswith(".png"))[:args.n]
    images = np.stack([np.asarray(Image.open(os.path.join(args.heldout, f)).convert("RGB")
                                  .resize((args.size, args.size), Image.LANCZOS)) for f in files])
    x = images.astype("float32") / 127.5 - 1.0
    layer = PullPushFill(args.levels)
    for k, family in enumerate(masks.FAMILIES):
        mask = masks.draw(tf.constant([1000 + k, 0], tf.int64), len(x), args.size, args.size,
                          (family,)).numpy()
        filled = np.where(mask > 0.5, np.asarray(layer([x, 1.0 - mask])), x)
        telea = np.stack([cv2.inpaint(im, (m[..., 0] > 0.5).astype("uint8"), 3,
                                      cv2.INPAINT_TELEA) for im, m in zip(images, mask)])
        pull_push = np.mean([psnr(a, b) for a, b in zip(images / 255.0, (filled + 1.0) / 2.0)])
        classical = np.mean([psnr(a, b) for a, b in zip(images / 255.0, telea / 255.0)])
        print(f"{family}: pull-push fill PSNR {pull_push:.2f} dB, telea {classical:.2f} dB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data")
    data.add_argument("out")
    ev = commands.add_parser("evaluate")
    ev.add_argument("model")
    ev.add_argument("heldout")
    ev.add_argument("out")
    ev.add_argument("--n", type=int, default=100)
    fl = commands.add_parser("fill", help="the pull-push fill alone against cv2 Telea")
    fl.add_argument("heldout")
    fl.add_argument("--n", type=int, default=100)
    fl.add_argument("--size", type=int, default=64)
    fl.add_argument("--levels", type=int, default=4)
    args = parser.parse_args()
    {"data": lambda a: build_data(a.out), "evaluate": evaluate, "fill": fill}[args.command](args)


if __name__ == "__main__":
    main()
