"""The run folder of a training run (`kerasgan train --out`, `kerasgan.train(out=...)`).

The checks made before anything is written (a writable, free --out; the run's config.json;
on resume the run's own settings against those given), the lock that keeps a second process
out, and the removal of what a previous run or a killed process left. Every refusal is a
`UsageError` of one line.
"""
import dataclasses
import json
import math
import os
import shlex
import socket
import sys
import time

from kerasgan.errors import UsageError

LOCK_FILE = ".kerasgan.lock"  # in the run folder while a process trains into it
SNAPSHOT_FOLDER = "snapshots"  # --snapshot-every's checkpoints, which are never pruned

# Flags that define a run: on --resume the run's recorded value applies, and a different
# value given is refused. (dest, flag)
RUN_FLAGS = (("channels", "--channels"), ("ema", "--ema"), ("d_steps", "--d-steps"),
             ("seed", "--seed"), ("loss", "--loss"), ("r1_gamma", "--r1-gamma"),
             ("augment", "--augment"), ("lr", "--lr"), ("beta1", "--beta1"),
             ("precision", "--precision"), ("batch_size", "--batch-size"),
             ("steps_per_epoch", "--steps-per-epoch"), ("flip", "--flip"),
             ("resize", "--resize"), ("load_size", "--load-size"),
             ("conditional", "--conditional"))
_UNKNOWN = object()
# Every architecture's batch size without --batch-size, before runs recorded theirs.
_BATCH_SIZE_BEFORE_RECORDED = 64


def _check_writable(path):
    """Refuses an --out that cannot be created, before anything is written."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the run directory {path}: {existing} is not a writable "
                         "folder.")


def _check_out_is_free(settings):
    """Refuses a non-empty --out that is not a run being resumed (unless --overwrite): a
    user's folder, a copy of a preset, a finished run. Reads only."""
    from kerasgan import callbacks, zoo

    out = settings.out
    if not os.path.isdir(out):
        return
    entries = sorted(e for e in os.listdir(out) if e != LOCK_FILE)
    if not entries or settings.overwrite:
        return
    if callbacks.latest_checkpoint(os.path.join(out, "checkpoints")) is not None:
        raise UsageError(f"{out} already holds a run; pass --resume to continue it, "
                         "--overwrite to start it again, or choose another --out.")
    if zoo.CONFIG_FILE in entries:
        raise UsageError(f"{out} holds a kerasgan model ({zoo.CONFIG_FILE}) without checkpoints "
                         "to resume from (a finished run whose checkpoints were deleted, a "
                         "preset, or a run stopped in its first epoch); choose another --out, "
                         "or pass --overwrite to replace it.")
    shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
    raise UsageError(f"{out} is not empty ({shown}) and is not a kerasgan run; choose a new "
                     "or empty --out, or pass --overwrite to write the run into it (files of "
                     "the same names are replaced, other files stay).")


def _clear_previous_run(out):
    """--overwrite: removes the files a previous run left in `out` that the new run would
    not replace by name (checkpoints and sample grids of other epochs, an EMA generator
    this run may not have, the epoch history, losses.png, --snapshot-every's snapshots and
    TensorBoard event files), so they cannot be taken for this run's. Nothing else."""
    from kerasgan import callbacks, zoo

    names = [zoo.CONFIG_FILE, zoo.METADATA_FILE, "history.jsonl", "losses.png"]
    names += [name for name in os.listdir(out) if name.endswith(".weights.h5")]
    paths = [os.path.join(out, name) for name in names]
    for run in ("train", "samples"):  # --tensorboard's event files (named by time)
        folder = os.path.join(out, "tensorboard", run)
        if os.path.isdir(folder):
            paths += [os.path.join(folder, n) for n in os.listdir(folder)
                      if n.startswith("events.out.tfevents.")]
    checkpoints = os.path.join(out, "checkpoints")
    paths += [path for path, _ in callbacks.list_checkpoints(checkpoints)]
    paths.append(os.path.join(checkpoints, callbacks.FINGERPRINT_FILE))
    paths += [path for path, _ in callbacks.list_checkpoints(os.path.join(out, SNAPSHOT_FOLDER))]
    samples = os.path.join(out, "samples")
    if os.path.isdir(samples):
        paths += [os.path.join(samples, n) for n in os.listdir(samples)
                  if n.startswith("epoch-") and n.endswith(".png")]
    for path in paths:
        if os.path.isfile(path):
            os.remove(path)


def _remove_stale_temporaries(*folders):
    """Temporary files of a process killed while writing (the lock is ours: no one else is
    writing here)."""
    from kerasgan.files import TEMP_PREFIX

    for folder in folders:
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                path = os.path.join(folder, name)
                if name.startswith(TEMP_PREFIX) and os.path.isfile(path):
                    os.remove(path)


def _process_alive(pid):
    """Whether process `pid` of this host runs (True when that cannot be told)."""
    # On Windows os.kill(pid, 0) would stop the process, and pid <= 0 means process groups.
    if os.name == "nt" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, as another user
        return True
    return True


def _lock_holder(path):
    """`{"pid", "host", "stale"}` of the lock at `path`, or None when there is none."""
    try:
        with open(path) as f:
            text = f.read()
        age = time.time() - os.path.getmtime(path)
    except FileNotFoundError:
        return None
    except OSError:
        return {"pid": None, "host": None, "stale": False}
    try:
        record = json.loads(text)
        pid, host = int(record["pid"]), str(record["host"])
    except (ValueError, KeyError, TypeError):  # being written now, or left so by a kill
        return {"pid": None, "host": None, "stale": age > 60}
    return {"pid": pid, "host": host,
            "stale": host == socket.gethostname() and not _process_alive(pid)}


def _lock_message(out, path, holder):
    if holder["pid"] is None:
        return (f"{out} is locked by another kerasgan process ({path} is being written or is "
                "damaged); if no kerasgan process is training there, delete that file.")
    return (f"{out} is being trained by another process (PID {holder['pid']} on "
            f"{holder['host']}, lock file {path}); wait for it to end, or delete the lock "
            "file if that process is gone.")


def _check_lock(out):
    """Refuses at once an --out that a live process trains into. Reads only."""
    path = os.path.join(out, LOCK_FILE)
    holder = _lock_holder(path)
    if holder is not None and not holder["stale"]:
        raise UsageError(_lock_message(out, path, holder))


def _take_lock(out, command):
    """Creates `out/.kerasgan.lock` (O_CREAT | O_EXCL) holding this PID and host: one
    training process per run folder. A stale lock (a dead process of this host) is taken
    over with a warning. Returns what `_release_lock` needs."""
    created = not os.path.isdir(out)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, LOCK_FILE)
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": command}
    try:
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _lock_holder(path)
                if holder is not None and not holder["stale"]:
                    raise UsageError(_lock_message(out, path, holder))
                if holder is not None:
                    who = (f"process {holder['pid']} on {holder['host']}, which is no longer "
                           "running" if holder["pid"] is not None else "a damaged lock file")
                    print(f"kerasgan: warning: taking over the lock of {out} from {who}.",
                          file=sys.stderr)
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
                continue
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(record, f)
            except BaseException:
                os.unlink(path)
                raise
            return {"path": path, "out": out, "created": created, "record": record}
        raise UsageError(f"could not take the lock {path}: other processes keep taking it.")
    except BaseException:
        if created:
            _remove_if_empty(out)
        raise


def _release_lock(lock):
    """Removes our lock (not one another process took over), and the run folder if it was
    created for the lock and nothing else was written."""
    try:
        with open(lock["path"]) as f:
            ours = json.load(f) == lock["record"]
    except (OSError, ValueError):
        ours = False
    if ours:
        os.unlink(lock["path"])
    if lock["created"]:
        _remove_if_empty(lock["out"])


def _remove_if_empty(folder):
    try:
        os.rmdir(folder)
    except OSError:
        pass


def _recorded_command(out):
    """The train flags of the run's recorded command (metadata.json), or None."""
    from kerasgan import zoo
    from kerasgan.cli import _ArgumentError, _QuietParser, build_parser

    try:
        with open(os.path.join(out, zoo.METADATA_FILE)) as f:
            words = shlex.split(json.load(f)["command"])
        args = build_parser(_QuietParser).parse_args(words[1:])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, _ArgumentError):
        return None
    return args if args.command == "train" else None


def _same(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


def _shown(value):
    if value is None:
        return "none"
    if isinstance(value, dict):
        return "a schedule" if "class_name" in value else json.dumps(value)
    if isinstance(value, float):
        return f"{value:.6g}"  # 0.0002, not float32's 0.00019999999494757503
    return json.dumps(value) if isinstance(value, (list, str)) else str(value)


def _resume_defaults(settings):
    """--resume without the architecture or --data: the run's own, from its config.json
    (read only). Returns the settings with them filled in."""
    if not settings.resume or (settings.arch is not None and settings.data is not None):
        return settings
    spec = _read_model_config(settings.out, required=True)
    train = spec.get("train") if isinstance(spec.get("train"), dict) else {}
    filled = {} if settings.arch is not None else {"arch": spec["architecture"]}
    if settings.data is None:
        if not isinstance(train.get("data"), str):
            raise UsageError(f"--resume: {settings.out} does not record the data it trained "
                             "on; give --data (and --data-b for a two-domain run).")
        filled["data"] = train["data"]
        if settings.data_b is None and isinstance(train.get("data_b"), str):
            filled["data_b"] = train["data_b"]
    return dataclasses.replace(settings, **filled)


def _resume_settings(settings):
    """--resume: the run's own settings. Flags that define the run (`RUN_FLAGS`, --set,
    --image-size) take the run's recorded values when not given; given with other values
    they are refused, all named in one line. --data/--data-b that differ and --jit are
    warned about. Reads only; returns the settings to resume with."""
    spec = _read_model_config(settings.out, required=True)
    if spec["architecture"] != settings.arch:
        raise UsageError(f"--resume: {settings.out} holds a {spec['architecture']!r} run, not "
                         f"{settings.arch!r}.")
    config, compiled = spec["config"], spec.get("compile") or {}
    train = spec.get("train") or {}
    given = settings.given_fields()
    size = config.get("image_size")
    if "image_size" in given and settings.image_size != size:
        raise UsageError(f"--resume: {settings.out} was trained at --image-size {size}, not "
                         f"{settings.image_size}.")

    def optimizer(key):
        value = (compiled.get("g_optimizer") or {})
        value = value.get("config", {}) if isinstance(value, dict) else {}
        return value.get(key) if isinstance(value, dict) else None

    recorded = {"channels": config.get("channels"), "ema": config.get("ema_decay"),
                "d_steps": config.get("d_steps", 1),
                "seed": train.get("seed", config.get("seed")),
                "loss": compiled.get("loss"), "r1_gamma": compiled.get("r1_gamma"),
                "augment": compiled.get("augment") or "none",  # as --augment says "off"
                "precision": compiled.get("precision"),
                "lr": optimizer("learning_rate"), "beta1": optimizer("beta_1"),
                "steps_per_epoch": train.get("steps_per_epoch"),
                "conditional": bool(config.get("class_names"))}
    command = None
    for key in ("batch_size", "flip", "resize", "load_size", "data", "data_b"):
        if key in train:
            recorded[key] = train[key]
        else:  # a run recorded before these were kept in config.json: its command line
            command = command or _recorded_command(settings.out) or False
            recorded[key] = getattr(command, key) if command else _UNKNOWN
            if key == "batch_size" and recorded[key] is None:  # no --batch-size in it
                recorded[key] = _BATCH_SIZE_BEFORE_RECORDED
    if not compiled:  # nothing recorded to compare with
        for key in ("loss", "r1_gamma", "augment", "precision", "lr", "beta1"):
            recorded[key] = _UNKNOWN
    if recorded["steps_per_epoch"] is None:
        recorded["steps_per_epoch"] = _UNKNOWN

    differ, own = [], {}
    for dest, flag in RUN_FLAGS:
        if recorded[dest] is _UNKNOWN:
            continue
        if dest not in given:
            own[dest] = recorded[dest]  # the run's own value
        elif not _same(getattr(settings, dest), recorded[dest]):
            differ.append(f"{flag} {_shown(getattr(settings, dest))} (the run has "
                          f"{_shown(recorded[dest])})")
    if settings.batch_size is None and "batch_size" not in own:  # recorded nowhere
        own["batch_size"] = _BATCH_SIZE_BEFORE_RECORDED
    for key, value in settings.set:
        if key not in config or not _same(value, config[key]):
            differ.append(f"--set {key}={_shown(value)} (the run has "
                          f"{_shown(config[key]) if key in config else 'no ' + key})")
    if differ:
        raise UsageError(f"--resume continues {settings.out} with its own settings, and these "
                         f"flags differ from them: {'; '.join(differ)}. Leave them out to "
                         "resume, or start a new run in another --out.")
    for dest, flag in (("data", "--data"), ("data_b", "--data-b")):
        mine, theirs = getattr(settings, dest), recorded[dest]
        if theirs is _UNKNOWN or theirs is None or mine is None:
            continue
        if mine != theirs and os.path.realpath(mine) != os.path.realpath(theirs):
            print(f"kerasgan: warning: {flag} {mine} is not the run's ({theirs}); resuming on "
                  "the data given (the resumed stream is exact only if it holds the same "
                  "images).", file=sys.stderr)
    jit = {"auto": "auto", "on": True, "off": False}[settings.jit]
    if "jit" in given and compiled and jit != compiled.get("jit_compile"):
        print(f"kerasgan: warning: --jit is ignored with --resume: the run keeps "
              f"jit_compile={compiled.get('jit_compile')!r}.", file=sys.stderr)
    return dataclasses.replace(settings, **own)


def _check_set_values(settings):
    """--set KEY=VALUE: known keys (zoo refuses others) of the architecture's types."""
    from kerasgan import zoo

    zoo.kind(settings.arch)  # an unknown architecture: its one-line error, with the valid names
    for key, value in settings.set:
        if key in ("name", "seed"):
            raise UsageError(f"--set {key}=...: not an architecture argument"
                             + (" (use --seed)." if key == "seed" else "."))
        problem = _arch_value_problem(settings.arch, key, value)
        if problem:
            raise UsageError(f"--set {key}={_shown(value)}: {problem}.")


def _arch_value_problem(arch, key, value):
    """Why `value` cannot be argument `key` of architecture `arch` (from the type of its
    default), or None (also for keys this cannot tell)."""
    from kerasgan import zoo

    try:
        defaults = zoo.resolve_config(arch)
    except ValueError:
        return None
    default = defaults.get(key, {"d_steps": 1, "ema_decay": 0.5}.get(key))
    if default is None or (value is None and key == "ema_decay"):
        return None
    number = (int, float)
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok = isinstance(value, number) and not isinstance(value, bool) \
            and math.isfinite(value)
        expected = "a number"
    elif isinstance(default, str):
        ok, expected = isinstance(value, str), "a string"
    elif isinstance(default, list):
        ints = all(isinstance(v, int) for v in default)
        ok = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value) if ints \
            else isinstance(value, list)
        expected = "a list of integers, e.g. [128, 256]" if ints else "a list"
    else:
        return None
    return None if ok else f"expected {expected} (the default is {_shown(default)})"


# --------------------------------------------------------------------------- config.json
def _json_type(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(value), "a number")


def _read_model_config(folder, required=False):
    """`folder/config.json` checked: valid JSON of the right shape (architecture a known
    name, config an object whose values have the builder's types). None when there is none
    (FileNotFoundError with `required`)."""
    from kerasgan import zoo

    path = os.path.join(folder, zoo.CONFIG_FILE)
    if not os.path.isfile(path):
        if required:
            zoo.read_config(folder)  # its FileNotFoundError says what a model folder is
        return None
    damaged = f"{path} is damaged"
    try:
        with open(path, "rb") as f:
            spec = json.loads(f.read().decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{damaged}: it is not text.") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{damaged}: not valid JSON ({error.msg} at line {error.lineno}, "
                         f"column {error.colno}).") from None
    if not isinstance(spec, dict):
        raise UsageError(f"{damaged}: expected a JSON object, got {_json_type(spec)}.")
    arch = spec.get("architecture")
    if not isinstance(arch, str):
        raise UsageError(f'{damaged}: "architecture" must be a string, got '
                         f"{_json_type(arch)}.")
    for key in ("config", "compile", "train"):  # "compile" and "train" may be absent
        value = spec.get(key)
        if not isinstance(value, dict) and (key == "config" or value is not None):
            raise UsageError(f'{damaged}: "{key}" must be a JSON object, got '
                             f"{_json_type(value) if key in spec else 'nothing'}.")
    if arch in zoo.list():  # an unknown name: zoo's error lists the valid ones
        for key, value in spec["config"].items():
            problem = _arch_value_problem(arch, key, value)
            if problem:
                raise UsageError(f'{damaged}: "config" {key} = {_shown(value)}: {problem}.')
    return spec
