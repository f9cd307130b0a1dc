"""Where results go: XCom (size-checked) or a local file or Airflow ObjectStoragePath, written in chunks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Union, cast

from lockit_provider.exceptions import LockitError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

PathLike = Union[str, "os.PathLike[str]", "ObjectStoragePath"]

DEFAULT_MAX_XCOM_BYTES = 1024 * 1024  # XCom lives in the metadata DB: larger results belong in a file


def resolve_path(path: PathLike) -> Path | ObjectStoragePath:
    """Return a local Path, or an ObjectStoragePath for a URL such as ``s3://bucket/key`` or ``file://``."""
    if isinstance(path, str) and "://" in path:
        from airflow.sdk import ObjectStoragePath  # loaded only when needed: fsspec is slow to import

        return ObjectStoragePath(path)
    if isinstance(path, (str, os.PathLike)):
        return Path(path)
    return path


def write_chunks(path: PathLike, chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` to ``path`` (replacing it) and return the number of bytes written."""
    target = resolve_path(path)
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with cast(BinaryIO, target.open("wb")) as out:
        for chunk in chunks:
            written += out.write(chunk)
    return written


def read_text(path: PathLike) -> str:
    """Return the text of a local file or ObjectStoragePath (UTF-8)."""
    return resolve_path(path).read_text(encoding="utf-8")


def ensure_fits_xcom(value: Any, limit: int, what: str) -> None:
    """Refuse a result whose JSON is larger than ``limit`` bytes, naming the way out."""
    size = len(json.dumps(value, default=str).encode("utf-8"))
    if size > limit:
        raise LockitError(
            f"The result of {what} is {size} bytes of JSON, more than max_xcom_bytes={limit}: XCom lives in "
            "the metadata database. Set output_path to stream the result to a file or object storage, "
            "narrow it with response_filter, or raise max_xcom_bytes."
        )
