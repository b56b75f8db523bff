"""Paired benchmark: the same DCGAN-64 train step in kerasgan and in PyTorch eager, alternated.

    pip install -e ".[bench]"                 # the PyTorch peer (CPU build); benchmark only
    python bench/paired.py                    # kerasgan's default precision vs PyTorch float32
    python bench/paired.py --precision float32
    python bench/paired.py --rounds 3 --steps 2   # a quick look
    python bench/paired.py --torch-precision bfloat16   # on a bfloat16 CPU: each framework's
                                                        # default (auto) vs PyTorch's bf16 autocast

Each framework runs in its own worker process (so their thread pools never compete), and the
two take turns: kerasgan K steps, PyTorch K steps, kerasgan K steps, ... for `--rounds`
rounds after one untimed warm-up turn each, so that drift of the machine hits both alike.
Reported per framework: the median seconds per train step (one discriminator and one generator
update, batch 64, random images held in memory), generator sampling throughput (images/s,
inference on batches of `--sample-batch`, also alternated), and the worker's peak resident
memory; then the ratio of the medians and kerasgan's step FLOPs as a fraction of the CPU's peak.

The models are the standard DCGAN (Radford et al.; the PyTorch examples' dcgan/main.py):
latent 100, 64 base channels, 4x4 (transposed) convolutions, batch norm, Adam(2e-4, 0.5),
binary cross-entropy on logits. The PyTorch step is the reference loop as users write it.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from memory import rss_mb  # bench/memory.py: imports no framework

LATENT, WIDTH, SIZE = 100, 64, 64
PROTOCOL = "@@ "  # marks the worker's answers among whatever else the frameworks print


# --------------------------------------------------------------------------- kerasgan worker
class KerasganWorker:
    def __init__(self, batch_size, precision):
        from kerasgan import zoo  # first: kerasgan sets TensorFlow's environment
        import keras
        import numpy as np
        import tensorflow as tf

        self.np, self.keras = np, keras
        self.gan = zoo.create("dcgan", image_size=SIZE, latent_dim=LATENT, base_channels=WIDTH)
        self.gan.compile(precision=precision)
        images = np.random.default_rng(0).uniform(-1, 1, (batch_size * 8, SIZE, SIZE, 3))
        self.data = (tf.data.Dataset.from_tensor_slices(images.astype("float32"))
                     .batch(batch_size, drop_remainder=True).cache().repeat().prefetch(2))
        self.info = {"framework": "kerasgan", "precision": self.gan.compute_precision,
                     "versions": f"TensorFlow {tf.__version__}, Keras {keras.__version__}"}

    def train(self, steps):
        times = []

        class Timer(self.keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                self.start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                times.append(time.perf_counter() - self.start)

        self.gan.fit(self.data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[Timer()])
        return times

    def sample(self, n):
        start = time.perf_counter()
        self.gan.generate(n, seed=0, batch_size=n)
        return time.perf_counter() - start

    def gflop_per_step(self, batch_size):
        from train_speed import step_gflop  # bench/ is on sys.path: this file runs as a script

        return step_gflop(self.gan, batch_size)


# --------------------------------------------------------------------------- PyTorch worker
class TorchWorker:
    def __init__(self, batch_size, precision):
        import torch
        from torch import nn

        torch.manual_seed(0)
        self.torch, self.batch_size = torch, batch_size

        def up(cin, cout, stride, pad):
            return [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU(True)]

        def down(cin, cout, norm=True):
            return ([nn.Conv2d(cin, cout, 4, 2, 1, bias=False)]
                    + ([nn.BatchNorm2d(cout)] if norm else []) + [nn.LeakyReLU(0.2, True)])

        self.G = nn.Sequential(*up(LATENT, WIDTH * 8, 1, 0), *up(WIDTH * 8, WIDTH * 4, 2, 1),
                               *up(WIDTH * 4, WIDTH * 2, 2, 1), *up(WIDTH * 2, WIDTH, 2, 1),
                               nn.ConvTranspose2d(WIDTH, 3, 4, 2, 1, bias=False), nn.Tanh())
        self.D = nn.Sequential(*down(3, WIDTH, norm=False), *down(WIDTH, WIDTH * 2),
                               *down(WIDTH * 2, WIDTH * 4), *down(WIDTH * 4, WIDTH * 8),
                               nn.Conv2d(WIDTH * 8, 1, 4, 1, 0, bias=False), nn.Flatten())
        for m in self.G.modules():  # the reference's weights_init: N(0, 0.02), BN N(1, 0.02)
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
        self.criterion = nn.BCEWithLogitsLoss()
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.images = torch.rand(batch_size * 8, 3, SIZE, SIZE) * 2 - 1
        self.ones, self.zeros = torch.ones(batch_size, 1), torch.zeros(batch_size, 1)
        self.dtype = {"float32": None, "bfloat16": torch.bfloat16}[precision]
        self.batch = 0
        self.info = {"framework": "pytorch", "precision": precision,
                     "versions": f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads"}

    def _autocast(self):
        return self.torch.autocast("cpu", dtype=self.dtype, enabled=self.dtype is not None)

    def _step(self):
        i = self.batch % 8
        self.batch += 1
        real = self.images[i * self.batch_size:(i + 1) * self.batch_size]
        D, G, criterion = self.D, self.G, self.criterion
        with self._autocast():
            D.zero_grad()
            criterion(D(real), self.ones).backward()
            fake = G(self.torch.randn(self.batch_size, LATENT, 1, 1))
            criterion(D(fake.detach()), self.zeros).backward()
            self.opt_d.step()
            G.zero_grad()
            criterion(D(fake), self.ones).backward()
            self.opt_g.step()

    def train(self, steps):
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            self._step()
            times.append(time.perf_counter() - start)
        return times

    def sample(self, n):
        start = time.perf_counter()
        self.G.eval()
        with self.torch.no_grad(), self._autocast():
            self.G(self.torch.randn(n, LATENT, 1, 1)).float().numpy()
        self.G.train()
        return time.perf_counter() - start


def serve(framework, batch_size, precision):
    """Worker: builds its model, then answers commands on stdin with JSON lines."""
    worker = {"kerasgan": KerasganWorker, "torch": TorchWorker}[framework](batch_size, precision)
    answer = dict(worker.info, rss_after_build_mb=round(rss_mb("VmRSS")))
    print(PROTOCOL + json.dumps(answer), flush=True)
    for line in sys.stdin:
        command, arg = line.split()
        if command == "train":
            answer = worker.train(int(arg))
        elif command == "sample":
            answer = worker.sample(int(arg))
        elif command == "gflop":
            answer = worker.gflop_per_step(int(arg))
        elif command == "peak":
            answer = rss_mb()
        else:
            break
        print(PROTOCOL + json.dumps(answer), flush=True)


# --------------------------------------------------------------------------- driver
class Worker:
    def __init__(self, framework, args, precision):
        # Each worker gets its own framework's option: PyTorch's precisions are not kerasgan's.
        option = "--precision" if framework == "kerasgan" else "--torch-precision"
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", framework,
             "--batch-size", str(args.batch_size), option, precision],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self):
        for line in self.process.stdout:
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL):])
        raise RuntimeError(f"worker exited with code {self.process.wait()}")

    def ask(self, command, arg):
        self.process.stdin.write(f"{command} {arg}\n")
        self.process.stdin.flush()
        return self._read()

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def flops_per_cycle(flags, precision):
    """Peak FLOP per cycle per core for `precision` ("float32" or "bfloat16"), from CPU flags.

    float32: FMA lanes x 2 FLOP x 2 FMA units: 64 with AVX-512 (16 lanes), 32 with AVX2 (8),
    16 without FMA. bfloat16: AVX512-BF16's VDPBF16PS does two FMAs per float32 lane, twice the
    float32 rate; without it bfloat16 is emulated, no faster than float32. (AMX tiles are
    faster still; this counts vector units only, so AMX machines are reported against the
    AVX512-BF16 figure.) Some AVX-512 cores have one 512-bit FMA unit (half this): pass
    --flops-per-cycle there.
    """
    if "avx512f" in flags:
        fp32 = 64
    elif "fma" in flags and "avx2" in flags:
        fp32 = 32
    else:
        fp32 = 16
    if precision == "bfloat16" and "avx512_bf16" in flags:
        return 2 * fp32
    return fp32


def machine():
    from kerasgan import precision

    cpu = platform.processor() or platform.machine()
    mhz = None
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        cpu = next(l.split(":", 1)[1].strip() for l in lines if l.startswith("model name"))
        mhz = float(next(l.split(":", 1)[1] for l in lines if l.startswith("cpu MHz")))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "mhz": mhz, "flags": precision._cpu_flags(),
            "native_bfloat16": precision.native_bfloat16()[1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", choices=("kerasgan", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="auto",
                        choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"),
                        help="kerasgan's precision (default: its own default, auto)")
    parser.add_argument("--torch-precision", default="float32", choices=("float32", "bfloat16"),
                        help="PyTorch's: float32 (its default) or bfloat16 autocast")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="steps per turn")
    parser.add_argument("--rounds", type=int, default=6, help="timed turns per framework")
    parser.add_argument("--sample-batch", type=int, default=256)
    parser.add_argument("--matmul-size", type=int, default=4096,
                        help="side of the matmul that measures the practical peak (smaller is "
                             "quicker where bfloat16 is emulated)")
    parser.add_argument("--flops-per-cycle", type=int,
                        help="peak FLOPs per cycle per core at kerasgan's compute precision "
                             "(default: from the CPU flags, see flops_per_cycle)")
    args = parser.parse_args()
    if args.worker:
        return serve(args.worker, args.batch_size,
                     args.precision if args.worker == "kerasgan" else args.torch_precision)

    from train_speed import matmul_gflops

    info = machine()
    workers = {"kerasgan": Worker("kerasgan", args, args.precision),
               "pytorch": Worker("torch", args, args.torch_precision)}
    print(f"# {info['cpu']}, {info['cpus']} cpus at {info['mhz']} MHz ({info['native_bfloat16']})")
    for name, worker in workers.items():
        print(f"# {name}: {worker.info}")
    times = {name: [] for name in workers}
    samples = {name: [] for name in workers}
    for name, worker in workers.items():  # warm-up turn: tracing, allocator, caches
        worker.ask("train", 2)
        worker.ask("sample", args.sample_batch)
    for turn in range(args.rounds):
        for name, worker in workers.items():
            times[name] += worker.ask("train", args.steps)
            samples[name].append(worker.ask("sample", args.sample_batch))
            print(f"# round {turn + 1} {name}: median {statistics.median(times[name]):.3f} s/step",
                  flush=True)
    gflop = workers["kerasgan"].ask("gflop", args.batch_size)
    kerasgan_half = "bfloat16" if "bfloat16" in workers["kerasgan"].info["precision"] else "float32"
    peak_matmul = matmul_gflops(args.matmul_size, dtype=kerasgan_half)  # the peak of kerasgan's precision
    per_cycle = args.flops_per_cycle or flops_per_cycle(info["flags"], kerasgan_half)
    theoretical = info["cpus"] * (info["mhz"] or 0) / 1e3 * per_cycle
    rows = {}
    for name, worker in workers.items():
        median = statistics.median(times[name])
        rows[name] = {"framework": name, "precision": worker.info["precision"],
                      "versions": worker.info["versions"], "steps_timed": len(times[name]),
                      "median_s_per_step": round(median, 3),
                      "min_s_per_step": round(min(times[name]), 3),
                      "max_s_per_step": round(max(times[name]), 3),
                      "sample_images_per_s": round(args.sample_batch
                                                   / statistics.median(samples[name]), 1),
                      "peak_rss_mb": round(worker.ask("peak", 0)),
                      "rss_after_build_mb": worker.info["rss_after_build_mb"]}
        worker.close()
    k = rows["kerasgan"]
    k["gflop_per_step"] = round(gflop, 1)
    k["gflops_reached"] = round(gflop / k["median_s_per_step"], 1)
    k["fraction_of_matmul_peak"] = round(gflop / k["median_s_per_step"] / peak_matmul, 3)
    if theoretical:
        k["fraction_of_theoretical_peak"] = round(gflop / k["median_s_per_step"] / theoretical, 3)
    for row in rows.values():
        print(json.dumps(row))
    print(json.dumps({"speedup_kerasgan_over_pytorch":
                      round(rows["pytorch"]["median_s_per_step"] / k["median_s_per_step"], 2),
                      "sampling_speedup": round(k["sample_images_per_s"]
                                                / rows["pytorch"]["sample_images_per_s"], 2),
                      f"{kerasgan_half}_matmul_peak_gflops": round(peak_matmul),
                      "theoretical_peak_gflops": round(theoretical) or None,
                      "theoretical_peak_assumes": f"{per_cycle} {kerasgan_half} FLOP/cycle/core"}))


if __name__ == "__main__":
    main()
