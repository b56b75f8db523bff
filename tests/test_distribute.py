"""tf.distribute training, without GPUs: logical CPU devices and localhost workers.

Each test runs tests/distributed_run.py in subprocesses: logical devices and multi-worker
clusters must be configured before TensorFlow starts, which a pytest process has done.
"""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from kerasgan import zoo

SCRIPT = os.path.join(os.path.dirname(__file__), "distributed_run.py")
# A guard against a hung collective, not a speed limit: fastgan's replicated run alone takes
# ~100 s of CPU, and these tests share the machine with the other pytest-xdist workers.
TIMEOUT_S = 600


def run_script(args, env=None):
    return subprocess.Popen([sys.executable, SCRIPT, *args], env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc):
    """The log of `proc` once it exits; killed (not left running) if it exceeds TIMEOUT_S."""
    try:
        log, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        log, _ = proc.communicate()
        pytest.fail(f"{' '.join(proc.args[1:3])} ran over {TIMEOUT_S} s:\n{log[-3000:]}")
    assert proc.returncode == 0, log[-3000:]
    return log


def check_vanilla(result):
    # No batch norm: the same weights up to float rounding (measured 3e-8).
    assert result["vanilla"] < 1e-6 and result["vanilla_moved"] > 1e-2, result


def check_dcgan(result):
    # Synchronized batch norm: the forward pass matches, the backward pass through the
    # cross-replica moments leaves a gap measured at 1.1e-3 after weights moved 0.058 (2 %).
    assert result["dcgan"] < 0.05 * result["dcgan_moved"], result


# The architectures compared with one device. Every architecture must train under the
# strategy: its replicated run moves its weights, to finite values.
COMPARED = {"vanilla": check_vanilla, "dcgan": check_dcgan}
# Every model trained on one image stream (generation, inpainting); CycleGAN's two folders
# are not covered here. Two subprocesses, not one per architecture: a TensorFlow start costs
# ~6 s of CPU, more than a tiny architecture's run.
TRAINED = zoo.list(kind="generation") + zoo.list(kind="inpainting")
GROUPS = {"compared": sorted(COMPARED), "replicated": [n for n in TRAINED if n not in COMPARED]}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_mirrored_strategy_matches_one_device_on_the_global_batch(group, tmp_path):
    out = str(tmp_path / "mirrored.json")
    names = GROUPS[group]
    reference = [] if group == "compared" else ["--no-reference"]
    finish(run_script(["mirrored", out, *names, *reference]))
    result = json.load(open(out))
    for name in names:
        assert 0 < result[name + "_replicated_moved"] < float("inf"), (name, result)
        if name in COMPARED:
            COMPARED[name](result)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_localhost_workers_train_and_agree(tmp_path):
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    procs, outs = [], []
    for index in range(2):
        outs.append(str(tmp_path / f"worker{index}.json"))
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(run_script(["multiworker", outs[-1]], env={"TF_CONFIG": json.dumps(config)}))
    try:
        for proc in procs:
            finish(proc)
    finally:
        for proc in procs:  # the other worker, if one failed: not left waiting for its peer
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    first, second = (json.load(open(out)) for out in outs)
    assert first["replicas"] == second["replicas"] == 2
    for a, b in zip(first["weights"], second["weights"]):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-6)
