"""Turn a finished training run into a pretrained preset in zoo/ (a maintainer's tool).

    python tools/make_preset.py runs/dcgan_clipart64 dcgan_clipart64 \
        --data-description "1000 ... clip-art images" --data-licence "public domain" \
        --real ../shared/data/clipart64 --notes notes.md

Writes zoo/NAME/ (config, generator weights (EMA where the model has them), discriminator
weights, sample grid, model card README.md, metadata.json with the SHA-256 of every file),
and export/golden/NAME/ (golden inputs and outputs of the generator, the export report).
The KID/FID come from ../shared/tools/kid.py (EfficientNet-Lite0 features, offline): the
command and its output line are written into the card and the metadata.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from kerasgan import callbacks, export, zoo  # first: sets TensorFlow's environment

import numpy as np  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KID = os.path.join(REPO, os.pardir, "shared", "tools", "kid.py")


def kid(real, fake, n):
    command = [sys.executable, KID, real, fake, "--n", str(n)]
    line = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    values = dict(item.split("=") for item in line.split()[-5:])
    return {k: float(v) for k, v in values.items()}, line


def generation_evidence(model, out, args):
    grid = os.path.join(out, "sample_grid.png")
    if model.num_classes:  # one row per class
        labels = np.repeat(np.arange(model.num_classes), 8)
        callbacks.save_grid(model.generate(len(labels), seed=0, labels=labels), grid, columns=8)
    else:
        callbacks.save_grid(model.generate(64, seed=0), grid)
    fake = os.path.join(out, "samples.npz")
    np.savez(fake, images=model.generate(args.kid_n, seed=1))
    numbers, line = kid(args.real, fake, args.kid_n)
    how = (f"`kerasgan sample {args.name} --n {args.kid_n} --seed 1 --out samples.npz && "
           f"python shared/tools/kid.py {args.real_label} samples.npz --n {args.kid_n}`")
    sections = [memorisation_section(model, out, args), truncation_section(model, out)]
    if model.num_classes:
        sections.insert(0, classes_section(model, out, args))
    return grid, sections, {"kid_x1000": numbers["kid_x1000"], "fid": numbers["fid"],
                  "n_real": int(numbers["n_real"]), "n_fake": int(numbers["n_fake"]),
                  "features": "EfficientNet-Lite0 ImageNet (shared/tools/kid.py, offline); "
                              "not comparable with Inception FID/KID",
                  "command": how, "output": line}


def classes_section(model, out, args):
    """classes.json: how often a classifier trained on the real images (bench/conditional.py)
    recognises the class asked for in 100 samples of each class."""
    sys.path.insert(0, os.path.join(REPO, "bench"))
    import conditional

    command = (f"python bench/conditional.py {args.name} --train {args.classes_train_label} "
               f"--test {args.classes_test_label} --out classes/")
    report = conditional.main([args.run, "--train", args.classes_train, "--test",
                               args.classes_test, "--out", os.path.join(out, "classes")])
    path = os.path.join(out, "classes.json")
    with open(path, "w") as f:
        json.dump({**report, "model": args.name, "command": command}, f, indent=2)
    rows = "\n".join(f"| {name} | {rate:.0%} |" for name, rate in report["per_class"].items())
    return path, f"""## Classes

The sample grid's rows are the classes, in order: {", ".join(model.class_names)}.

A small CNN trained on the real training images (3 epochs; {report['classifier_real_test_accuracy']:.1%}
right on the real test images) recognises the class asked for in
**{report['samples_recognised_as_requested']:.1%}** of {report['samples_per_class']} samples per
class (seed {report['seed']}). Measured with `{command}` (classes.json).

| class | recognised |
|---|---|
{rows}"""


def memorisation_section(model, out, args):
    """nearest.png: 8 generated images, each beside its 3 nearest training images."""
    from kerasgan import nearest

    path = os.path.join(out, "nearest.png")
    grid, found = nearest.nearest_grid(model, args.real, n=8, k=3, seed=0, return_result=True)
    nearest.save_image(grid, path)
    distances = found.distances[:, 0]
    return path, f"""## Memorisation check

![nearest](nearest.png)

Each row: a generated image (seed 0), then its 3 nearest of the {found.n_real} training images
by root-mean-square pixel difference at 32x32 (on [-1, 1]); the nearest distances are
{distances.min():.3f} to {distances.max():.3f} (median {np.median(distances):.3f}). Made with
`kerasgan nearest {args.name} --data {args.real_label} --out nearest.png --n 8 --k 3`."""


def truncation_section(model, out):
    """truncation.png: the same 8 latents at psi 1, 0.7 and 0.5 (one row each)."""
    path = os.path.join(out, "truncation.png")
    psis = (1.0, 0.7, 0.5)
    latents = model.latents(8, seed=0)
    if model.truncates:
        rows = [model.generate(latents=latents, truncation_psi=psi) for psi in psis]
        how = "StyleGAN's truncation of w towards the average w (`truncation_psi`)"
    else:
        rows = [model.generate(latents=latents * psi) for psi in psis]
        how = ("the Gaussian latents scaled by psi (`generate(latents=gan.latents(8, seed=0) "
               "* psi)`): this architecture has no w space")
    callbacks.save_grid(np.concatenate(rows), path, columns=8)
    return path, f"""## Truncation

![truncation](truncation.png)

Rows: psi = {", ".join(map(str, psis))} for the same 8 latents, by {how}. Lower psi trades
variety for cleaner, more typical images."""


def export_section(name, work, calibration=None):
    """Every quantization exported and compared with Keras; those over their tolerance are
    refused by default (kerasgan export says why). Image-to-image models are compared on,
    and calibrated with, the images of folder `calibration`, loaded as `kerasgan export
    --calibration-data` loads them."""
    model = zoo.load(name)
    images, flag, compared_on = None, "", "8 fixed latents"
    if calibration is not None:
        images = photos(calibration, model.image_size)[:export.CALIBRATION_SAMPLES]
        flag = f" --calibration-data {calibration}"
        compared_on = f"{min(len(images), export.PARITY_SAMPLES)} images of {calibration}"
    report = export.export(model, os.path.join(work, "export_all"), formats=["tflite"],
                           source=name, calibration_images=images, latency_threads=(1,))
    named = len({a["name"] for a in report["artifacts"]}) > 1  # e.g. a2b and b2a
    lines = [f"| {a['name'] + ' | ' if named else ''}{a['quantization']} | "
             f"{a['max_abs_error']:.3g} | {a['tolerance']:.3g} | "
             f"{'yes' if a['written'] else 'refused'} |" for a in report["artifacts"]]
    header = ("| signature | TFLite quantization | max abs error | tolerance | written |\n"
              "|---|---|---|---|---|" if named else
              "| TFLite quantization | max abs error | tolerance | written |\n|---|---|---|---|")
    return "\n".join(["## Export", "",
                      f"Measured with `kerasgan export {name} --formats tflite{flag} --out "
                      f"exported/` (max abs error against Keras on {compared_on}, [-1, 1] "
                      "scale):", "",
                      header, *lines])


def photos(folder, size):
    """Every image of `folder` as floats in [-1, 1] (centre crop, `size` px)."""
    from kerasgan import data

    return data.load_image_folder(folder, size).astype("float32") / 127.5 - 1.0


def translation_evidence(model, out, args):
    photos_heldout = photos(args.heldout, model.image_size)
    paintings = model.translate(photos_heldout, direction="a2b")
    grid = os.path.join(out, "sample_grid.png")  # rows: photo, painting
    pairs = np.stack([photos_heldout, paintings], 1).reshape((-1,) + photos_heldout.shape[1:])
    callbacks.save_grid(pairs, grid, columns=2 * min(3, len(photos_heldout)))
    train_photos = photos(args.real_a, model.image_size)
    fake = os.path.join(out, "translated.npz")
    np.savez(fake, images=model.translate(train_photos, direction="a2b"))
    before = os.path.join(out, "photos.npz")
    np.savez(before, images=train_photos)
    translated, line = kid(args.real, fake, args.kid_n)
    untranslated, line0 = kid(args.real, before, args.kid_n)
    return grid, [], {"kid_x1000_photos_a2b_vs_paintings": translated["kid_x1000"],
                  "fid_photos_a2b_vs_paintings": translated["fid"],
                  "kid_x1000_photos_vs_paintings": untranslated["kid_x1000"],
                  "fid_photos_vs_paintings": untranslated["fid"],
                  "n_real": int(translated["n_real"]), "n_fake": int(translated["n_fake"]),
                  "features": "EfficientNet-Lite0 ImageNet (shared/tools/kid.py, offline); "
                              "not comparable with Inception FID/KID",
                  "command": f"translate the {len(train_photos)} training photos "
                             f"(centre crop, {model.image_size} px) a2b, then "
                             f"`python shared/tools/kid.py {args.real_label} translated.npz`",
                  "output": line, "output_untranslated": line0}


def restoration_evidence(model, out, args):
    """The figure and numbers of `python bench/restoration.py evaluate` (run first; its
    results.json is --restoration-results, its figure.png is shipped as sample_grid.png)."""
    results = json.load(open(args.restoration_results))
    grid = os.path.join(out, "sample_grid.png")
    shutil.copy(os.path.join(os.path.dirname(args.restoration_results), "figure.png"), grid)
    quality = {"features": "PSNR/SSIM/L1 on [0, 1] pixels of held-out painting crops; KID x1000 "
                           "on EfficientNet-Lite0 ImageNet features (shared/tools/kid.py)",
               "command": f"`{results['command']}` (docs/restoration.md has every method)",
               "output": f"{results['n']} held-out images per mask family"}
    for family, by_method in results["results"].items():
        for method in ("kerasgan", "telea"):
            r = by_method[method]
            quality[f"{family}: {method} PSNR / L1 hole / KID"] = (
                f"{r['psnr']:.2f} / {r['l1_hole']:.4f} / {r['kid_x1000']:.1f}")
    return grid, [], quality


def card(args, model, metadata, quality, sections=()):
    arch = metadata["architecture"]
    use = {"translation": f"kerasgan translate {args.name} photo.jpg --direction a2b "
                          "--out painting.png",
           "inpainting": f"kerasgan restore {args.name} damaged.png --mask mask.png "
                         "--out restored.png",
           "generation": f"kerasgan sample {args.name} --n 16 --seed 0 --out grid.png"}[model.task]
    if model.task == "generation" and model.num_classes:
        use += (f"\nkerasgan sample {args.name} --label {model.class_names[-1]!r} --n 16 "
                "--out one_class.png")
    quality_lines = "\n".join(f"| {k} | {v} |" for k, v in quality.items()
                              if k not in ("command", "output", "output_untranslated",
                                           "features"))
    notes = open(args.notes).read().strip() + "\n\n" if args.notes else ""
    note = f"\n- Note: {metadata['note']}." if metadata.get("note") else ""
    return f"""# {args.name}

{arch} trained with kerasgan on {args.data_description}.

![samples](sample_grid.png)

{notes}## Use

```bash
{use}
kerasgan export {args.name} --formats tflite --quantize float16 --out exported/
```

```python
from kerasgan import zoo
model = zoo.load("{args.name}")                      # SHA-256 checked
tuned = zoo.load("{args.name}", for_training=True)   # compiled: tuned.fit(your_images)
```

## Training

- Data: {args.data_description}. Licence: {args.data_licence}.
- Command: `{metadata['command']}`
- {metadata['steps']} steps, batch {metadata['batch_size']}, {metadata['wall_time_s'] / 60:.1f} min
  wall time on {metadata['hardware']} (TensorFlow {metadata['tensorflow_version']},
  Keras {metadata['keras_version']}, kerasgan {metadata['kerasgan_version']}).{note}

## Quality

{quality['features']}.

| metric | value |
|---|---|
{quality_lines}

Measured with: {quality['command']}

`{quality['output']}`

{"".join(text + chr(10) + chr(10) for text in sections)}## Licence

Weights: {args.weights_licence}. Training data: {args.data_licence}.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("name")
    parser.add_argument("--data-description", required=True)
    parser.add_argument("--data-licence", required=True)
    parser.add_argument("--weights-licence", default="CC0-1.0 (public domain dedication)")
    parser.add_argument("--real", required=True, help="real images for KID (folder or .npz)")
    parser.add_argument("--real-label", help="how the card names --real (default: as given)")
    parser.add_argument("--real-a", help="translation: the training photos (domain A)")
    parser.add_argument("--heldout", help="translation: held-out photos for the figure")
    parser.add_argument("--restoration-results",
                        help="inpainting: results.json of bench/restoration.py evaluate")
    parser.add_argument("--classes-train", help="conditional: real training images with labels")
    parser.add_argument("--classes-test", help="conditional: real test images with labels")
    parser.add_argument("--classes-train-label", help="how the card names --classes-train")
    parser.add_argument("--classes-test-label", help="how the card names --classes-test")
    parser.add_argument("--kid-n", type=int, default=1000)
    parser.add_argument("--notes", help="Markdown file of notes for the card")
    parser.add_argument("--extra", action="append", default=[], help="more files to ship")
    args = parser.parse_args()
    args.real_label = args.real_label or args.real
    args.classes_train_label = args.classes_train_label or args.classes_train
    args.classes_test_label = args.classes_test_label or args.classes_test
    model = zoo.load(args.run, for_training=True)
    run_metadata = json.load(open(os.path.join(args.run, zoo.METADATA_FILE)))
    with tempfile.TemporaryDirectory() as work:
        evidence = {"translation": translation_evidence, "inpainting": restoration_evidence,
                    "generation": generation_evidence}[model.task]
        grid, sections, quality = evidence(model, work, args)
        extra_files = [path for path, _ in sections]
        sections = [text for _, text in sections]
        metadata = {"name": args.name, "architecture": model.spec["architecture"],
                    "licence": {"weights": args.weights_licence, "data": args.data_licence},
                    "data": args.data_description, **{k: run_metadata[k] for k in (
                        "command", "steps", "epochs", "batch_size", "wall_time_s", "hardware",
                        "kerasgan_version", "tensorflow_version", "keras_version")},
                    **({"note": run_metadata["note"]} if "note" in run_metadata else {}),
                    "quality": quality}
        target = os.path.join(REPO, "zoo", args.name)
        zoo.save_preset(model, target, metadata, card=card(args, model, metadata, quality,
                                                           sections),
                        extra_files=[grid] + extra_files + args.extra)
        if model.task == "generation":  # the card then says which quantizations export
            sections.append(export_section(args.name, work))
            shutil.rmtree(target)
            zoo.save_preset(model, target, metadata,
                            card=card(args, model, metadata, quality, sections),
                            extra_files=[grid] + extra_files + args.extra)
        golden = os.path.join(REPO, "export", "golden", args.name)
        shutil.rmtree(golden, ignore_errors=True)
        heldout = None
        if model.task in export.IMAGE_KINDS:  # golden inputs: real images, not random fields
            heldout = photos(args.heldout, model.image_size)[:2]
        report = export.export(zoo.load(args.name), os.path.join(work, "export"),
                               formats=["tflite"], quantizations=["float32"],
                               source=args.name, calibration_images=heldout,
                               parity_samples=2 if heldout is not None else 8)
        os.makedirs(golden)
        for file in os.listdir(os.path.join(work, "export")):
            if file.startswith("golden_") or file == export.REPORT_FILE:
                shutil.copy(os.path.join(work, "export", file), golden)
    print(json.dumps({"preset": target, "quality": quality,
                      "float32_tflite_max_abs_error": [a["max_abs_error"]
                                                       for a in report["artifacts"]]}, indent=2))


if __name__ == "__main__":
    main()
