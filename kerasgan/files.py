"""Writing files safely: a unique temporary name in the target folder, then a rename.

Every file kerasgan writes goes through `atomic_file`, so an interrupted or failed write (a
full disk, Ctrl-C, an error) leaves the previous file as it was and no temporary behind, and
two writers never share a temporary name.
"""
import contextlib
import json
import os
import tempfile

TEMP_PREFIX = ".tmp-"  # every temporary file kerasgan writes starts with it


def _umask():
    try:  # Linux: read it without changing it (os.umask sets it for every thread)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path, suffix=None):
    """Yields a unique temporary path in the folder of `path` (created if need be); when the
    block succeeds the file is renamed to `path`, when it fails (a full disk, an error,
    Ctrl-C) it is removed and `path` is left as it was.

    The temporary name is `.tmp-NAME-RANDOM{suffix}` (`suffix`: default the extension of
    `path`, for writers that infer the format from it), so concurrent writers never share
    one. An `OSError` without a file name (e.g. ENOSPC from a writer) is re-raised naming
    `path`.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    name = os.path.basename(path)
    suffix = os.path.splitext(name)[1] if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{name}-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a plain open would not
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.errno and not error.filename:
            raise OSError(error.errno, error.strerror or os.strerror(error.errno),
                          path) from error
        raise


def write_json(obj, path):
    """Writes `obj` as JSON to `path` through a unique temporary file (see `atomic_file`)."""
    with atomic_file(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    return path
