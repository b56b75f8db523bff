"""What the `kerasgan` command prints besides its results (kerasgan/console.py), checked in
a fresh interpreter whose stderr is a real file descriptor (pytest captures this one's)."""
import os
import subprocess
import sys

HIDDEN_AROUND_NATIVE_CODE = """
import os, sys, warnings
from kerasgan import console
from kerasgan.errors import KerasganWarning
with console.warnings_as_lines():
    with console.native_stderr_hidden():
        os.write(2, b"a native line\\n")
        print("a Python line", file=sys.stderr)
        warnings.warn("skipped two files:\\n  a.png: bad\\n  b.png: bad", KerasganWarning)
        warnings.warn("a warning of another library")
    os.write(2, b"a native line after\\n")
"""


def run(script, **env):
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_native_lines_are_dropped_and_python_lines_and_kerasgan_warnings_kept():
    result = run(HIDDEN_AROUND_NATIVE_CODE, PYTHONWARNINGS="ignore", KERASGAN_TF_LOGS="0")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "a Python line",
        "kerasgan: warning: skipped two files:",  # each line prefixed, no source line
        "kerasgan: warning:   a.png: bad",
        "kerasgan: warning:   b.png: bad",
        "a native line after",  # descriptor 2 restored; the ignored warning stays ignored
    ]


def test_kerasgan_tf_logs_shows_the_native_lines():
    script = HIDDEN_AROUND_NATIVE_CODE.replace(
        "native_stderr_hidden()", "native_stderr_hidden(console.framework_logs_wanted())")
    result = run(script, PYTHONWARNINGS="ignore", KERASGAN_TF_LOGS="1")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == "a native line"
