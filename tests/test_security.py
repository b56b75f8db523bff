"""Safety: a model folder can never touch files outside itself (see SECURITY.md).

Each test is the attack (or the accident) itself: a crafted metadata.json, a tampered
download, a misconfigured cache. Each asserts the refusal AND that no file outside the
preset's own cache folder was written, changed or deleted. Everything is local: "servers"
are folders reached through file:// URLs the test (the user) passes explicitly.
"""
import hashlib
import json
import os
import shutil
import urllib.error
import urllib.request

import h5py
import numpy as np
import pytest

from kerasgan import data, pretrained, zoo
from kerasgan.data import DataError

TINY = "dcgan"
# Sorted, a tiny preset's files are README.md, config.json, discriminator.weights.h5,
# generator.weights.h5 (plus metadata.json, not listed in itself).
WEIGHTS = "generator.weights.h5"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache of presets, two levels below tmp_path (so that "../../evil"
    from it lands in tmp_path itself)."""
    directory = tmp_path / "home" / "cache"
    monkeypatch.setenv(zoo.CACHE_ENV, str(directory))
    return directory


def tiny_preset(folder, **metadata):
    gan = zoo.create(TINY, **zoo.tiny_config(TINY), seed=0)
    gan.compile()
    zoo.save_preset(gan, str(folder), {"name": os.path.basename(folder), **metadata},
                    card="# tiny\n")
    return gan


def rewrite_metadata(folder, **changes):
    path = os.path.join(folder, zoo.METADATA_FILE)
    metadata = json.load(open(path))
    metadata.update(changes)
    json.dump(metadata, open(path, "w"))


def partial_copy(server, folder, keep=("metadata.json", "config.json")):
    """A preset folder as an author might ship it: metadata and config, weights missing."""
    os.makedirs(folder)
    for name in keep:
        shutil.copy(os.path.join(server, name), folder)
    return folder


def flip_a_byte(path):
    raw = bytearray(open(path, "rb").read())
    raw[len(raw) // 2] ^= 0xFF
    open(path, "wb").write(bytes(raw))


def snapshot(root, skip=()):
    """{relative path: SHA-256} of every file under `root`, `skip` subtrees left out."""
    skip = [os.path.abspath(s) for s in skip]
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.abspath(os.path.join(folder, d)) not in skip]
        for name in files:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


# --------------------------------------------------------------------------- crafted names


@pytest.mark.parametrize("evil", ["../../evil", "ABSOLUTE"])
def test_a_crafted_metadata_name_writes_and_deletes_nothing_outside_the_cache(
        evil, tmp_path, cache):
    outside = tmp_path / "evil"  # where cache/../../evil (or the absolute name) points
    evil = str(outside) if evil == "ABSOLUTE" else evil
    os.makedirs(outside)
    (outside / WEIGHTS).write_bytes(b"the user's own file, same name as a preset file")
    server = tmp_path / "server" / "p"
    gan = tiny_preset(server, name=evil, url=server.as_uri())
    attack = partial_copy(server, tmp_path / "downloads" / "p")
    before = snapshot(tmp_path, skip=[cache])

    # The folder's own (file://) url is not followed: refused, nothing written anywhere.
    with pytest.raises(zoo.PresetError, match="not an https:// URL"):
        zoo.load(str(attack))
    assert snapshot(tmp_path, skip=[cache]) == before
    assert not os.path.exists(cache)

    # The user trusts the server (passes it): the files land in cache/p, named after the
    # folder, never after the metadata's "name"; nothing outside the cache changes.
    loaded = zoo.load(str(attack), url=server.as_uri())
    np.testing.assert_array_equal(loaded.generate(2, seed=0), gan.generate(2, seed=0))
    assert snapshot(tmp_path, skip=[cache]) == before
    assert sorted(os.listdir(cache)) == ["p"]
    assert sorted(os.listdir(cache / "p")) == sorted(os.listdir(server))


@pytest.mark.parametrize("name", ["..", "../p", "/tmp", ".hidden", "a/b", "x.keras", ""])
def test_a_typed_name_that_is_a_path_is_no_preset_name(name, cache):
    with pytest.raises((FileNotFoundError, zoo.PresetError)):
        zoo.preset_path(name)
    assert not os.path.exists(cache)


@pytest.mark.parametrize("filename", ["../x", "/etc/passwd", ".hidden", "metadata.json",
                                      "a\\b", ""])
def test_a_listed_file_name_that_is_a_path_is_refused(filename, tmp_path, cache):
    tiny_preset(tmp_path / "p")
    path = tmp_path / "p" / zoo.METADATA_FILE
    metadata = json.load(open(path))
    metadata["files"][filename] = "0" * 64
    json.dump(metadata, open(path, "w"))
    before = snapshot(tmp_path)
    with pytest.raises(zoo.PresetError, match="bad file name"):
        zoo.load(str(tmp_path / "p"))
    assert snapshot(tmp_path) == before


def test_the_name_in_metadata_is_not_the_identity_of_a_cached_preset(cache):
    gan = tiny_preset(cache / "mine", name="someone_else")
    loaded = zoo.load("mine")
    np.testing.assert_array_equal(loaded.generate(2, seed=0), gan.generate(2, seed=0))
    assert zoo.list(pretrained=True).count("mine") == 1
    assert "someone_else" not in zoo.list(pretrained=True)


# --------------------------------------------------------------------------- urls


@pytest.mark.parametrize("url", ["http://models.invalid/p", "ftp://models.invalid/p",
                                 "FILE", "LOCAL", "https://", 7])
def test_a_metadata_url_that_is_not_https_is_refused(url, tmp_path, cache):
    server = tmp_path / "server" / "p"
    url = {"FILE": server.as_uri(), "LOCAL": str(server)}.get(url, url)
    tiny_preset(server, url=url)
    attack = partial_copy(server, tmp_path / "p")
    before = snapshot(tmp_path)
    with pytest.raises(zoo.PresetError, match="is not an https:// URL") as error:
        zoo.load(str(attack))
    assert "\n" not in str(error.value)  # one line
    assert snapshot(tmp_path) == before
    assert not os.path.exists(cache)


def test_a_metadata_https_url_is_followed_into_the_cache_folder(tmp_path, cache, monkeypatch):
    server = tmp_path / "server" / "p"
    gan = tiny_preset(server, url="https://models.invalid/presets/p/")
    attack = partial_copy(server, tmp_path / "p")
    asked = []

    def fake_https(source, filename):  # no network here: the "server" is a local folder
        asked.append((source, filename))
        return open(server / filename, "rb")
    monkeypatch.setattr(pretrained, "_open_source", fake_https)
    loaded = zoo.load(str(attack))
    np.testing.assert_array_equal(loaded.generate(2, seed=0), gan.generate(2, seed=0))
    assert sorted(f for _, f in asked) == ["README.md", "discriminator.weights.h5", WEIGHTS]
    assert {s for s, _ in asked} == {"https://models.invalid/presets/p/"}
    assert sorted(os.listdir(attack)) == ["config.json", "metadata.json"]  # not written to


def test_a_redirect_away_from_https_is_refused():
    handler = pretrained._HttpsOnlyRedirects()
    request = urllib.request.Request("https://models.invalid/p/config.json")
    with pytest.raises(urllib.error.HTTPError, match="redirect away from https"):
        handler.redirect_request(request, None, 302, "Found", {}, "http://models.invalid/c")
    moved = handler.redirect_request(request, None, 302, "Found", {}, "https://mirror.invalid/c")
    assert moved.full_url == "https://mirror.invalid/c"


def test_url_passed_by_the_user_may_be_a_local_folder_but_not_http(tmp_path, cache):
    server = tmp_path / "server" / "p"
    gan = tiny_preset(server)
    attack = partial_copy(server, tmp_path / "p")
    with pytest.raises(zoo.PresetError, match="url= must be"):
        zoo.load(str(attack), url="http://models.invalid/p")
    loaded = zoo.load(str(attack), url=str(server))
    np.testing.assert_array_equal(loaded.generate(2, seed=0), gan.generate(2, seed=0))


# --------------------------------------------------------------------------- deletions


def test_a_bad_download_is_deleted_and_the_explicit_folder_kept(tmp_path, cache):
    server = tmp_path / "server" / "p"
    tiny_preset(server)
    attack = partial_copy(server, tmp_path / "p",
                          keep=("metadata.json", "config.json", "README.md",
                                "discriminator.weights.h5"))
    flip_a_byte(server / WEIGHTS)  # a tampered download
    before = snapshot(tmp_path, skip=[cache])
    with pytest.raises(zoo.PresetError, match=f"{WEIGHTS} failed its SHA-256 check.*download "
                                              "was deleted"):
        zoo.load(str(attack), url=server.as_uri())
    assert snapshot(tmp_path, skip=[cache]) == before  # the explicit folder: untouched
    # The cache folder this load created is undone: no bad download, no temporary file.
    assert not (cache / "p").exists() or os.listdir(cache / "p") == []


def test_a_bad_download_into_a_cached_preset_is_deleted_its_good_files_kept(tmp_path, cache):
    server = tmp_path / "server" / "p"
    tiny_preset(server)
    partial_copy(server, cache / "p", keep=("metadata.json", "config.json", "README.md"))
    flip_a_byte(server / WEIGHTS)
    with pytest.raises(zoo.PresetError, match=f"{WEIGHTS} failed its SHA-256"):
        zoo.load("p", url=server.as_uri())
    assert sorted(os.listdir(cache / "p")) == ["README.md", "config.json",
                                               "discriminator.weights.h5", "metadata.json"]


def test_a_fetched_file_does_not_make_a_later_bad_file_of_an_explicit_folder_deletable(
        tmp_path, cache):
    server = tmp_path / "server" / "p"
    tiny_preset(server)
    attack = tmp_path / "p"
    shutil.copytree(server, attack)
    os.remove(attack / "README.md")  # the first file (sorted): missing, fetchable
    flip_a_byte(attack / WEIGHTS)  # a later one: bad
    before = snapshot(tmp_path, skip=[cache])
    with pytest.raises(zoo.PresetError, match=f"{WEIGHTS} failed its SHA-256 check"):
        zoo.load(str(attack), url=server.as_uri())
    assert snapshot(tmp_path, skip=[cache]) == before  # the bad file is the user's: kept


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """A stand-in for the presets installed with the package."""
    directory = tmp_path / "bundled"
    monkeypatch.setattr(pretrained, "_bundled_dirs", lambda: [str(directory)])
    return directory


def test_a_bundled_preset_with_a_later_bad_file_is_refused_not_deleted(
        tmp_path, cache, bundled):
    server = tmp_path / "server" / "b"
    tiny_preset(server)
    shutil.copytree(server, bundled / "b")
    os.remove(bundled / "b" / "README.md")
    flip_a_byte(bundled / "b" / WEIGHTS)
    before = snapshot(tmp_path, skip=[cache])
    with pytest.raises(zoo.PresetError, match=f"{WEIGHTS} failed its SHA-256 check"):
        zoo.load("b", url=server.as_uri())
    assert snapshot(tmp_path, skip=[cache]) == before


def test_a_bundled_preset_lacking_files_is_completed_in_its_cache_folder_and_loaded_there(
        tmp_path, cache, bundled):
    server = tmp_path / "server" / "b"
    gan = tiny_preset(server)
    partial_copy(server, bundled / "b")
    before = snapshot(tmp_path, skip=[cache])
    assert zoo.preset_path("b", url=server.as_uri()) == str(cache / "b")
    assert snapshot(tmp_path, skip=[cache]) == before  # the installed folder: not written
    assert sorted(os.listdir(cache / "b")) == sorted(os.listdir(server))
    loaded = zoo.load("b", url=server.as_uri())  # complete now: nothing fetched again
    np.testing.assert_array_equal(loaded.generate(2, seed=0), gan.generate(2, seed=0))


def test_an_explicit_folder_never_overwrites_another_preset_in_its_cache_folder(
        tmp_path, cache):
    mine = tiny_preset(cache / "p", licence="mine")  # the user's cached preset "p"
    server = tmp_path / "server" / "p"
    tiny_preset(server, licence="theirs")
    attack = partial_copy(server, tmp_path / "downloads" / "p")
    before = snapshot(tmp_path)
    with pytest.raises(zoo.PresetError, match="holds something else"):
        zoo.load(str(attack), url=server.as_uri())
    assert snapshot(tmp_path) == before
    np.testing.assert_array_equal(zoo.load("p").generate(1, seed=0), mine.generate(1, seed=0))


# --------------------------------------------------------------------------- HDF5 files


@pytest.mark.parametrize("how", ["external_dataset", "external_link"])
def test_a_weights_file_reading_another_file_is_refused(how, tmp_path, cache):
    """An HDF5 file can point at other files: its SHA-256 then says nothing about what is
    read. A preset whose weights do (hashes updated by its author) is refused."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.full(16, 7.0, np.float32).tobytes())
    tiny_preset(tmp_path / "p")
    weights = tmp_path / "p" / WEIGHTS
    with h5py.File(weights, "a") as f:
        datasets = []
        f.visititems(lambda n, o: datasets.append(n) if isinstance(o, h5py.Dataset) else None)
        target = [n for n in datasets if f[n].shape == (16,)][0]
        del f[target]
        if how == "external_dataset":
            f.create_dataset(target, shape=(16,), dtype="float32",
                             external=[(str(secret), 0, 64)])
        else:
            f[target] = h5py.ExternalLink(str(secret), "/data")
    path = tmp_path / "p" / zoo.METADATA_FILE
    metadata = json.load(open(path))
    metadata["files"][WEIGHTS] = zoo.sha256(weights)
    json.dump(metadata, open(path, "w"))
    with pytest.raises(zoo.PresetError, match="refers to data outside itself"):
        zoo.load(str(tmp_path / "p"))


# --------------------------------------------------------------------------- misuse, accidents


def test_create_accepts_the_model_name(tmp_path):
    gan = zoo.create(TINY, **zoo.tiny_config(TINY), name="my_gan")
    assert gan.name == "my_gan" and gan.spec["config"]["name"] == "my_gan"
    zoo.save(gan, str(tmp_path / "m"))
    assert zoo.load(str(tmp_path / "m")).name == "my_gan"
    assert zoo.create("dcgan", image_size=32).spec["config"]["image_size"] == 32
    assert zoo.resolve_config("dcgan", name="x")["name"] == "x"


def test_a_cache_that_is_a_file_is_one_clear_error(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "cache_file"
    not_a_folder.write_bytes(b"not a folder")
    monkeypatch.setenv(zoo.CACHE_ENV, str(not_a_folder))
    server = tmp_path / "server" / "p"
    tiny_preset(server)
    attack = partial_copy(server, tmp_path / "p")
    before = snapshot(tmp_path)
    assert "p" not in zoo.list(pretrained=True)  # lists the bundled ones, no traceback
    for call in (lambda: zoo.load("no_such_preset"),
                 lambda: zoo.load(str(attack), url=server.as_uri())):
        with pytest.raises(zoo.PresetError, match="is not a folder") as error:
            call()
        assert "\n" not in str(error.value) and zoo.CACHE_ENV in str(error.value)
    assert snapshot(tmp_path) == before


def test_listing_survives_unreadable_cache_entries(cache):
    tiny_preset(cache / "good")
    for name, config in [("bad_json", "{not json"), ("bad_arch", '{"architecture": "nope"}'),
                         ("bad_type", "[1, 2]"), ("bad_utf8", b"\xff\xfe")]:
        os.makedirs(cache / name)
        (cache / name / zoo.METADATA_FILE).write_text("{}")
        mode = "wb" if isinstance(config, bytes) else "w"
        with open(cache / name / zoo.CONFIG_FILE, mode) as f:
            f.write(config)
    os.makedirs(cache / ".tmp-half-written")
    (cache / ".tmp-half-written" / zoo.METADATA_FILE).write_text("{}")
    names = zoo.list(pretrained=True)
    assert {"good", "bad_json", "bad_arch", "bad_type", "bad_utf8"} <= set(names)
    assert ".tmp-half-written" not in names
    generation = zoo.list(pretrained=True, kind="generation")
    assert "good" in generation and not {"bad_json", "bad_arch", "bad_type"} & set(generation)
    with pytest.raises(zoo.PresetError, match="must list the SHA-256"):
        zoo.load("bad_json")


def test_unreadable_metadata_is_a_preset_error_not_a_traceback(tmp_path):
    tiny_preset(tmp_path / "p")
    (tmp_path / "p" / zoo.METADATA_FILE).write_text("{truncated")
    with pytest.raises(zoo.PresetError, match="not valid JSON"):
        zoo.load(str(tmp_path / "p"))


# --------------------------------------------------------------------------- array ranges


def array_batches(source):
    ds = data.image_dataset(source, 8, 1, batch_size=2, shuffle=False)
    return np.concatenate([b.numpy() for b in ds])


def test_floats_a_hair_outside_unit_ranges_are_clipped_not_read_as_pixels(tmp_path):
    x = np.linspace(0, 1, 4 * 8 * 8, dtype=np.float32).reshape(4, 8, 8, 1)
    x[0, 0, 0, 0] = 1.0000001  # float rounding
    np.savez(tmp_path / "unit.npz", x_train=x)
    with pytest.warns(UserWarning, match=r"read as \[0, 1\]"):
        out = array_batches(tmp_path / "unit.npz")
    np.testing.assert_allclose(out, np.clip(x, 0, 1) * 2 - 1, atol=1e-5)
    signed = x * 2 - 1
    signed[1, 0, 0, 0] = -1.0000002
    with pytest.warns(UserWarning, match=r"read as \[-1, 1\]"):
        out = array_batches(signed)
    np.testing.assert_allclose(out, np.clip(signed, -1, 1), atol=1e-5)


@pytest.mark.parametrize("top", [1.01, 3.0, 15.9])
def test_floats_of_an_ambiguous_range_are_refused(top, tmp_path):
    x = np.linspace(0, top, 2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8, 1)
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DataError, match=r"float values in \[0, .*\]; expected \[-1, 1\] "
                                        r"or \[0, 1\].* or \[0, 255\]") as error:
        data.image_dataset(tmp_path / "x.npy", 8, 1, batch_size=2)
    assert "\n" not in str(error.value)
