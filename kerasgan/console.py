"""What the `kerasgan` command prints besides its results: no framework log lines, and
kerasgan's own warnings as plain `kerasgan: warning: ...` lines.

TensorFlow prints lines while it is imported ("oneDNN custom operations are on", "Could not
find cuda drivers", "All log messages before absl::InitializeLog() is called ...", each twice:
two of its libraries log) from C++ before its log level is read, so TF_CPP_MIN_LOG_LEVEL
cannot hide them; only the file descriptor they are written to can. `import_tensorflow`
imports it with descriptor 2 pointed at the null device, and raises the log level to 3 (the
ERROR lines after import, such as "failed call to cuInit" on a machine without a GPU) unless
the user set a level. `--verbose 2` or KERASGAN_TF_LOGS=1 shows everything.
"""
import contextlib
import importlib
import logging
import os
import sys
import warnings

from kerasgan import tf_environment
from kerasgan.errors import KerasganWarning

SHOW_TF_LOGS = "KERASGAN_TF_LOGS"  # set to 1 to see TensorFlow's log lines


def framework_logs_wanted(verbose=None):
    """Whether the user asked for TensorFlow's log lines (`--verbose 2`, KERASGAN_TF_LOGS=1)."""
    return verbose == 2 or \
        os.environ.get(SHOW_TF_LOGS, "").strip().lower() not in ("", "0", "false", "no")


def import_tensorflow(show_logs=False):
    """Imports TensorFlow and Keras, quietly unless `show_logs`. Does nothing once TensorFlow
    is imported (its start-up lines are printed by then)."""
    if "tensorflow" in sys.modules or show_logs:
        importlib.import_module("keras")
        return
    if tf_environment.USER_LOG_LEVEL is None:
        os.environ[tf_environment.LOG_LEVEL] = "3"
    with _stderr_descriptor_silenced():
        tf = importlib.import_module("tensorflow")
        importlib.import_module("keras")
        # Device discovery prints its own lines on first use (e.g. "failed call to cuInit"
        # where CUDA libraries exist without a GPU), past TF_CPP_MIN_LOG_LEVEL: done here.
        tf.config.list_physical_devices()
    _quieten_python_loggers()


@contextlib.contextmanager
def native_stderr_hidden(show=False):
    """Inside the block, what native code writes to file descriptor 2 is dropped (TFLite's
    converter and interpreter print lines there on every export), while what Python writes
    to `sys.stderr` (warnings, kerasgan's lines) still shows. With `show`, nothing changes."""
    if show:
        yield
        return
    if not _writes_to_descriptor_2(sys.stderr):  # Python's lines go elsewhere already
        with _stderr_descriptor_silenced():
            yield
        return
    sys.stderr.flush()
    try:
        terminal = os.dup(2)
    except OSError:  # no descriptor 2 (a closed stderr): nothing to hide
        yield
        return
    python_stderr = sys.stderr
    sys.stderr = open(terminal, "w", buffering=1, encoding=python_stderr.encoding or "utf-8",
                      errors="backslashreplace")  # closes `terminal` when closed
    try:
        with _stderr_descriptor_silenced():
            yield
    finally:
        sys.stderr.close()
        sys.stderr = python_stderr


def _writes_to_descriptor_2(stream):
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # e.g. pytest's capture: no descriptor
        return False


@contextlib.contextmanager
def _stderr_descriptor_silenced():
    """Points file descriptor 2 at the null device inside the block (what C++ writes there
    is dropped), and back at the real stderr after it, whatever happens."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 to silence (a closed stderr)
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        yield
    finally:
        sys.stderr.flush()  # what Python wrote inside the block goes to the null device too
        os.dup2(saved, 2)
        os.close(saved)


def _quieten_python_loggers():
    """TensorFlow's and absl's Python loggers: errors only (e.g. no tf.function retracing
    notes between the progress lines)."""
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def warnings_as_lines(stream=None):
    """Inside the block, every `KerasganWarning` is printed on `stream` (default stderr) as
    `kerasgan: warning: MESSAGE`, each line of a message (a list of skipped files) with that
    prefix and no Python source line under it, and shown even when the warning filters ignore
    warnings (PYTHONWARNINGS=ignore): they are what the command must tell. Other warnings are
    shown as Python shows them."""
    with warnings.catch_warnings():  # restores the filters and showwarning after the block
        warnings.simplefilter("always", KerasganWarning)
        show_others = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if not issubclass(category, KerasganWarning):
                return show_others(message, category, filename, lineno, file, line)
            lines = [line.rstrip() for line in str(message).splitlines() if line.strip()]
            print("\n".join(f"kerasgan: warning: {line}" for line in lines),
                  file=stream or sys.stderr, flush=True)
        warnings.showwarning = show
        yield
