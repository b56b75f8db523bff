"""A model folder from one epoch checkpoint of a run (a maintainer's tool, for a preset made
from a chosen snapshot rather than the run's last one).

    python tools/checkpoint_folder.py runs/x.snapshots/epoch-0004.keras runs/x_epoch4 \
        --command "kerasgan train ..." --wall-time-s 8860 --note "epoch 4 of ...: best KID"

Writes OUT (new or empty) as `kerasgan train` writes a finished run's model folder: the
config, the weights, and metadata.json with the steps read from the checkpoint (plus
`--earlier-steps` for a fine-tuned run) and the command, wall time and note given (what tools/make_preset.py puts in the card).
"""
import argparse
import json
import os

import kerasgan
from kerasgan import zoo
from kerasgan.files import atomic_file
from kerasgan.training import _cpu_name  # the same words as a run's metadata.json


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--command", required=True, help="the training command(s)")
    parser.add_argument("--wall-time-s", type=float, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--earlier-steps", type=int, default=0,
                        help="steps of the run it was fine-tuned from (its step count restarts)")
    parser.add_argument("--note", default=None)
    args = parser.parse_args()
    if os.path.exists(args.out) and os.listdir(args.out):
        parser.error(f"{args.out} is not empty")
    import keras
    import tensorflow as tf

    model = zoo.load(args.checkpoint, for_training=True)
    zoo.save(model, args.out)
    metadata = {"architecture": model.spec["architecture"], "batch_size": args.batch_size,
                "command": args.command, "epochs": args.epochs,
                "hardware": f"{_cpu_name()}, {os.cpu_count()} cpus",
                "keras_version": keras.__version__, "kerasgan_version": kerasgan.__version__,
                "precision": model.get_compile_config().get("precision"),
                "steps": args.earlier_steps + int(model.step.numpy()), "tensorflow_version": tf.__version__,
                "wall_time_s": args.wall_time_s,
                "checkpoint": os.path.basename(args.checkpoint)}
    if args.note:
        metadata["note"] = args.note
    with atomic_file(os.path.join(args.out, zoo.METADATA_FILE)) as tmp, open(tmp, "w") as f:
        json.dump(metadata, f, indent=2)
    print(json.dumps(metadata, indent=2))


if __name__ == "__main__":
    main()
