"""Pretrained presets: finding them, checking every file against its SHA-256, fetching the
files a preset lacks into its cache folder, and writing new presets.

A pretrained preset is a model folder (`kerasgan.model_folder`) whose metadata.json lists
the SHA-256 of every file (`"files"`), plus a model card README.md: the top-level `zoo/` of
the repository, installed as the package data `kerasgan/presets/`. `preset_path(name)` finds
a preset by name and checks every file before any is read; `kerasgan.zoo.load` builds the
model from it. (This module is not `kerasgan/presets.py`: that name is the installed zoo.)

A preset's identity (its name, its cache folder) comes from where it was found: the name the
user typed, or the basename of the folder given. Its metadata.json is never trusted with a
path: only the SHA-256 of each file, and an `https://` URL to fetch missing files from. See
SECURITY.md for what loading guarantees. Listing presets reads two small JSON files each and
imports no TensorFlow.
"""
import hashlib
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from kerasgan import architectures
from kerasgan.errors import PresetError
from kerasgan.files import TEMP_PREFIX, atomic_file
from kerasgan.model_folder import (CONFIG_FILE, METADATA_FILE, read_config, read_metadata,
                                   save_config, write_json)
from kerasgan.paths import CACHE_ENV, preset_cache_dir  # CACHE_ENV: user cache of presets

PRESETS_DIR = "presets"  # inside the installed package; the repository's zoo/ folder
MAX_DOWNLOAD_BYTES = 4 << 30  # all the files one load fetches, together
DOWNLOAD_TIMEOUT_S = 60  # per connection attempt and per read
_SHA256 = re.compile(r"[0-9a-f]{64}")


def cache_dir():
    """The user cache of presets: `$KERASGAN_CACHE` or `~/.cache/kerasgan/presets`."""
    return preset_cache_dir()


def _cache_folder(name):
    """`cache_dir()/name`, the only place files of preset `name` are ever written to."""
    _check_preset_name(name)
    root = cache_dir()
    if os.path.exists(root) and not os.path.isdir(root):
        raise PresetError(f"The preset cache {root!r} is not a folder; set {CACHE_ENV} to a "
                          "folder (it is created when needed) or unset it.")
    return os.path.join(root, name)


def _bundled_dirs():
    package = os.path.dirname(os.path.abspath(__file__))
    # An installed wheel has kerasgan/presets/; a source checkout has ../zoo/.
    return [os.path.join(package, PRESETS_DIR), os.path.join(os.path.dirname(package), "zoo")]


def _preset_roots():
    return [d for d in _bundled_dirs() + [cache_dir()] if os.path.isdir(d)]


def preset_names(kind=None):
    """The names of the pretrained presets (bundled with the package, or in the user cache),
    sorted; only those whose architecture is of `kind` if given."""
    found = set()
    for root in _preset_roots():
        try:
            entries = os.listdir(root)
        except OSError:  # an unreadable cache lists nothing rather than failing
            continue
        found.update(n for n in entries if _valid_preset_name(n)
                     and os.path.isfile(os.path.join(root, n, METADATA_FILE)))
    return sorted(n for n in found if kind is None or _preset_kind(n) == kind)


def _preset_kind(name):
    """The kind of preset `name`'s architecture; None when its config cannot be read."""
    try:
        architecture = read_config(preset_path(name, verify=False))["architecture"]
        return architectures.get(architecture).task
    except (OSError, ValueError, KeyError, TypeError):  # an unreadable or foreign cache entry
        return None


def summary(name):
    """What `kerasgan list` says of preset `name`: architecture, task, data, size on disk and
    KID x1000, from its config and metadata (unverified: two small JSON files are read and
    nothing is loaded). What cannot be read is None."""
    entry = {"name": name, "architecture": None, "task": None, "data": None,
             "size_bytes": None, "kid_x1000": None}
    try:
        folder = preset_path(name, verify=False)
        entry["architecture"] = read_config(folder)["architecture"]
        entry["task"] = architectures.get(entry["architecture"]).task
        metadata = read_metadata(folder)
        entry["data"] = metadata.get("data")
        entry["size_bytes"] = sum(os.path.getsize(os.path.join(folder, f))
                                  for f in os.listdir(folder)
                                  if os.path.isfile(os.path.join(folder, f)))
        quality = metadata.get("quality") or {}
        # a translation preset scores its a2b translations of photos against paintings
        entry["kid_x1000"] = quality.get("kid_x1000",
                                         quality.get("kid_x1000_photos_a2b_vs_paintings"))
    except (OSError, ValueError, KeyError, TypeError):  # listed, with what could be read
        pass
    return entry


def _is_preset(folder):
    return os.path.isfile(os.path.join(folder, METADATA_FILE))


def is_hashed_preset(folder):
    """Whether model folder `folder` is a preset whose metadata lists its files' SHA-256
    (then every file is checked before any is read)."""
    return _is_preset(folder) and "files" in read_metadata(folder)


def _valid_preset_name(name):
    return (isinstance(name, str) and bool(name) and name == os.path.basename(name)
            and "/" not in name and "\\" not in name and os.sep not in name
            and not (os.altsep and os.altsep in name) and ":" not in name and "\0" not in name
            and not name.startswith(".") and not name.endswith(".keras")
            and name == name.strip())


def _check_preset_name(name):
    if not _valid_preset_name(name):
        raise PresetError(f"{name!r} is not a valid preset name (one folder name: no path "
                          "separator, ':' or leading '.').")


def preset_path(name, verify=True, *, url=None):
    """The folder of preset `name`, its files checked (and fetched if need be).

    Resolution order: the presets bundled with the package, then the user cache
    (`cache_dir()/name`). Files a preset's metadata lists but its folder lacks are fetched
    (see `verify_preset`); the folder returned holds every file of the preset.
    """
    if not _valid_preset_name(name):
        raise FileNotFoundError(f"No model folder at {name!r} (nor a .keras file there); "
                                f"presets: {', '.join(preset_names()) or 'none'}.")
    for folder in [os.path.join(root, name) for root in _bundled_dirs()]:
        if _is_preset(folder):
            return verify_preset(folder, name=name, url=url) if verify else folder
    cached = _cache_folder(name)
    if _is_preset(cached):
        return verify_preset(cached, cached=True, name=name, url=url) if verify else cached
    presets = preset_names()
    raise PresetError(f"No model folder, .keras file or preset named {name!r}. Presets: "
                      f"{', '.join(presets) or 'none installed'}; architectures (build one "
                      f"with kerasgan.zoo.create): {', '.join(architectures.names())}.")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _same_folder(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def _listed_files(metadata, name, folder):
    files = metadata.get("files")
    if not isinstance(files, dict) or CONFIG_FILE not in files:
        raise PresetError(f"Preset {name!r} ({folder}): metadata.json must list the SHA-256 of "
                          f"every file under \"files\", {CONFIG_FILE} included.")
    for filename, expected in files.items():
        if not _valid_preset_name(filename) or filename == METADATA_FILE:
            raise PresetError(f"Preset {name!r}: bad file name {filename!r} in metadata.json.")
        if not isinstance(expected, str) or not _SHA256.fullmatch(expected):
            raise PresetError(f"Preset {name!r}: the SHA-256 of {filename} in metadata.json is "
                              f"not 64 lowercase hex digits ({expected!r}).")
    return files


def verify_preset(folder, cached=False, *, name=None, url=None):
    """Checks every file a preset's metadata lists against its SHA-256; returns the folder
    that holds all of them (`folder`, or the preset's cache folder, see below).

    The preset's name is `name` (as the user typed it) or else the basename of `folder`,
    never its metadata's `"name"`; its cache folder is `cache_dir()/name`.

    - A file present but wrong raises `PresetError` naming it. It is deleted only when
      `folder` is the preset's cache folder and was found there by name (`cached=True`,
      as `preset_path` does), so the next load fetches it again; a file of any other
      folder (an explicit folder, a bundled preset) is never deleted nor changed.
    - Missing files are downloaded from `url`, else from the metadata's `"url"` (which
      must be `https://`), each into a temporary file in the preset's cache folder, checked
      against its SHA-256 (a bad download is deleted) and only then renamed into place.
      A preset found in the cache is completed there. An explicit folder or a bundled
      preset is never written to: the preset is completed in its cache folder instead
      (its present files copied there, checked), and that folder is returned - refused if
      the cache folder holds anything else than this same preset (another metadata.json).
    """
    folder = os.fspath(folder)
    if name is None:
        name = os.path.basename(os.path.abspath(folder))
    metadata = read_metadata(folder)
    files = _listed_files(metadata, name, folder)
    in_cache = bool(cached) and _valid_preset_name(name) and \
        _same_folder(folder, os.path.join(cache_dir(), name))
    missing = []
    for filename, expected in sorted(files.items()):  # every present file first: no fetch
        path = os.path.join(folder, filename)         # happens for a preset that is refused
        if not os.path.isfile(path):
            missing.append(filename)
            continue
        actual = sha256(path)
        if actual != expected:
            if in_cache:
                os.remove(path)  # a bad copy inside this preset's own cache folder
            raise PresetError(
                f"Preset {name!r}: {filename} failed its SHA-256 check (expected {expected}, "
                f"got {actual}); the preset is refused"
                + (" and the bad cached copy was deleted." if in_cache else "."))
    if not missing:
        return folder
    if not _valid_preset_name(name):
        raise PresetError(f"Preset folder {folder} lacks {', '.join(missing)}, and its name "
                          f"{name!r} is not a preset name to fetch them into the cache under; "
                          "rename the folder.")
    home = _cache_folder(name)
    source = _source_url(metadata, name, missing, url)
    budget = [MAX_DOWNLOAD_BYTES]
    if in_cache or _same_folder(folder, home):  # completed in place: only new files written
        for filename in missing:
            _download(source, name, filename, files[filename], home, budget)
        return folder
    written = _claim_cache_folder(folder, home, name)
    try:
        for filename, expected in sorted(files.items()):
            target = os.path.join(home, filename)
            if os.path.isfile(target) and sha256(target) == expected:
                continue  # completed by an earlier load
            if filename in missing:
                _download(source, name, filename, expected, home, budget)
            else:
                _copy_checked(os.path.join(folder, filename), name, filename, expected, home)
            if written:
                written.append(filename)
    except BaseException:
        for filename in reversed(written):  # a cache folder this call created: undone
            if os.path.isfile(os.path.join(home, filename)):
                os.remove(os.path.join(home, filename))
        if written:
            try:
                os.rmdir(home)
            except OSError:
                pass
        raise
    return home


def _claim_cache_folder(folder, home, name):
    """Makes `home` the cache folder of the preset in `folder`: created (or found empty) and
    given a copy of its metadata.json, or already holding that same metadata.json; anything
    else is refused. Returns the files written into it (to undo if the load fails)."""
    with open(os.path.join(folder, METADATA_FILE), "rb") as f:
        metadata_bytes = f.read()
    try:
        os.makedirs(home, exist_ok=True)
        entries = os.listdir(home)
    except OSError as error:
        raise PresetError(f"Preset {name!r}: cannot use its cache folder {home} "
                          f"({error}).") from error
    if METADATA_FILE in entries:
        with open(os.path.join(home, METADATA_FILE), "rb") as f:
            if f.read() == metadata_bytes:
                return []
    elif not [e for e in entries if not e.startswith(".")]:  # empty, or temporary files
        _write_bytes(home, METADATA_FILE, metadata_bytes)
        return [METADATA_FILE]
    raise PresetError(f"Preset {name!r} ({folder}) lacks files, and its cache folder {home} "
                      "holds something else; remove that folder (or rename yours) and load "
                      "it again.")


def _write_bytes(folder, filename, data):
    with atomic_file(os.path.join(folder, filename)) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def _copy_checked(path, name, filename, expected, home):
    with atomic_file(os.path.join(home, filename)) as tmp:
        shutil.copyfile(path, tmp)
        actual = sha256(tmp)
        if actual != expected:  # changed since it was checked
            raise PresetError(f"Preset {name!r}: {filename} failed its SHA-256 check while "
                              f"copied into {home} (expected {expected}, got {actual}).")


def _source_url(metadata, name, missing, url):
    """The URL (or local folder) to fetch missing files from: `url` the user passed, else
    the metadata's `"url"`, which must be https://."""
    if url is not None:
        url = os.fspath(url)
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme in ("https", "file") or os.path.isdir(url):
            return url
        raise PresetError(f"Preset {name!r}: cannot fetch from {url!r}; url= must be an "
                          "https:// or file:// URL or a local folder.")
    url = metadata.get("url")
    if not url:
        raise PresetError(f"Preset {name!r} lacks {', '.join(missing)} and its metadata has no "
                          "\"url\" to fetch it from.")
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme.lower() != "https" or not parts.hostname:
        raise PresetError(f"Preset {name!r} lacks {', '.join(missing)} and its metadata \"url\" "
                          f"{url!r} is not an https:// URL; refused (pass url= to "
                          "kerasgan.zoo.load to fetch from a place you choose).")
    return url


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(req.full_url).scheme == "https" and \
                urllib.parse.urlsplit(newurl).scheme.lower() != "https":
            raise urllib.error.HTTPError(newurl, code, "a redirect away from https:// refused",
                                         headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open_source(source, filename):
    if os.path.isdir(source):  # a local folder the user passed
        return open(os.path.join(source, filename), "rb")
    url = source.rstrip("/") + "/" + urllib.parse.quote(filename)
    opener = urllib.request.build_opener(_HttpsOnlyRedirects)
    return opener.open(url, timeout=DOWNLOAD_TIMEOUT_S)


def _download(source, name, filename, expected, home, budget):
    """Fetches `filename` into a temporary file in `home` (the preset's cache folder),
    checks its SHA-256 and renames it into place; a bad or partial download is deleted."""
    try:
        os.makedirs(home, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=home)
    except OSError as error:
        raise PresetError(f"Preset {name!r}: cannot write to its cache folder {home} "
                          f"({error}).") from error
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _open_source(source, filename) as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                budget[0] -= len(block)
                if budget[0] < 0:
                    raise PresetError(f"Preset {name!r}: downloading {filename} exceeded "
                                      f"{MAX_DOWNLOAD_BYTES} bytes in all; refused.")
                digest.update(block)
                out.write(block)
        actual = digest.hexdigest()
        if actual != expected:
            raise PresetError(
                f"Preset {name!r}: {filename} failed its SHA-256 check (expected {expected}, "
                f"got {actual}); the preset is refused and the download was deleted.")
        os.replace(tmp, os.path.join(home, filename))
    except PresetError:
        raise
    except Exception as error:  # offline, 404, ...: say what could not be fetched
        raise PresetError(f"Preset {name!r}: could not download {filename} from {source} "
                          f"({error}).") from error
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_hdf5(path):
    """Refuses an HDF5 weights file that refers to data outside itself: an external link,
    a dataset stored in external files, or a virtual dataset (reading any of them would
    read another file). Recent Keras refuses these too while loading; older Keras (this
    package allows 3.3 and later) does not, and a preset's SHA-256 covers only the file."""
    import h5py  # a Keras dependency

    problems = []

    def visit(link_name, info):
        if info.type == h5py.h5l.TYPE_EXTERNAL:
            problems.append(f"{link_name.decode(errors='replace')} is an external link")
        return None

    def visit_object(object_name, obj):
        if isinstance(obj, h5py.Dataset) and (obj.external or obj.is_virtual):
            problems.append(f"{object_name} is stored outside the file")
        return None

    try:
        with h5py.File(path, "r") as f:
            f.id.links.visit(visit, info=True)
            f.visititems(visit_object)
    except (OSError, ValueError, RuntimeError) as error:
        raise PresetError(f"{path} is not a readable HDF5 weights file ({error}).") from error
    if problems:
        raise PresetError(f"{path} refers to data outside itself ({'; '.join(problems[:3])}); "
                          "refused.")


def save_preset(model, path, metadata, card=None, extra_files=()):
    """Writes `model` as a preset folder: config, weights, `metadata.json` with the SHA-256
    of every file, and the model card `README.md` (`card`, Markdown).

    The generator weights are the EMA generator's where the model has one (the weights to
    sample with and to fine-tune from); the discriminator's are kept for fine-tuning.
    `extra_files` (e.g. a sample grid) are copied in and hashed too.
    """
    if os.path.exists(path):
        raise FileExistsError(f"{path} exists; remove it first.")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=parent)  # renamed to `path` when complete
    try:
        _write_preset_files(model, tmp, metadata, card, extra_files)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _write_preset_files(model, tmp, metadata, card, extra_files):
    save_config(model, tmp)
    model.save_folder_weights(tmp, for_preset=True)
    for file in extra_files:
        shutil.copy(file, tmp)
    if card is not None:
        with open(os.path.join(tmp, "README.md"), "w") as f:
            f.write(card)
    files = {f: sha256(os.path.join(tmp, f)) for f in sorted(os.listdir(tmp))}
    write_json(os.path.join(tmp, METADATA_FILE), {**metadata, "files": files})
