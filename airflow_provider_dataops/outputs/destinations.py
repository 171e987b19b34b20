"""Where a download goes: a local path, a binary file object, or an object storage path.

Each kind is a :class:`Destination` that a download writes to once per attempt, so a retried
download starts again from its first byte, and that is committed after the last byte or discarded
after a failure:

* a local path is written to a hidden temporary file beside it, renamed over it on success; a
  failed download leaves no partial file (and an earlier file of that name untouched);
* a binary file object is written from where it stands; a retry rewinds it when it can seek, and
  fails when it cannot (the bytes already handed over cannot be taken back);
* an object storage path (Airflow's ``ObjectStoragePath``) is written to a hidden temporary object
  beside it, moved over it on success; a failure deletes only that temporary object, so an earlier
  object of that name survives any failure, including one before the first byte. A path-like object
  that cannot be renamed is written in place, and deleted after a failure only if this download
  had opened it.

A destination that cannot be written (an existing directory, or a path under a regular file) is
refused when it is made, before any request.

No HTTP here: the hook streams, this module only receives the bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol, TypedDict

from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError


class Writer(Protocol):
    """What an attempt writes to."""

    def write(self, data: bytes, /) -> int | None: ...  # noqa: D102


class DownloadResult(TypedDict):
    """What a download wrote: where (None for a file object without a name), how much, its SHA-256."""

    path: str | None
    size: int
    sha256: str


class Tally:
    """Counts and hashes the bytes written in one attempt."""

    def __init__(self) -> None:
        self.size = 0
        self._digest = hashlib.sha256()

    def add(self, chunk: bytes) -> None:
        """Account for one written chunk."""
        self.size += len(chunk)
        self._digest.update(chunk)

    @property
    def sha256(self) -> str:
        """Hex digest of everything added."""
        return self._digest.hexdigest()


class Destination:
    """One place a download is written to; see the module docstring for each kind."""

    #: Shown in messages and returned as the result's ``path``.
    label: str | None = None

    @contextlib.contextmanager
    def attempt(self) -> Iterator[Writer]:
        """A binary stream for one attempt, positioned at the download's first byte."""
        raise NotImplementedError  # pragma: no cover

    def commit(self) -> None:
        """Make a complete download visible under its name."""

    def discard(self) -> None:
        """Remove what a failed download left behind."""


class LocalFile(Destination):
    """A local file, written to a temporary sibling and renamed into place on success.

    :raises DataOpsConfigError: when the path is an existing directory or lies under a regular file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().absolute()
        self.label = str(self.path)
        self._temporary: Path | None = None
        check_local_target(self.path, "destination", want_directory=False)

    @contextlib.contextmanager
    def attempt(self) -> Iterator[Writer]:
        """Truncate (or create) the temporary file and hand it over."""
        if self._temporary is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part")
            os.close(handle)
            self._temporary = Path(name)
        with self._temporary.open("wb") as stream:
            yield stream

    def commit(self) -> None:
        """Rename the temporary file over the destination (atomic on one file system)."""
        if self._temporary is not None:
            os.replace(self._temporary, self.path)
            self._temporary = None

    def discard(self) -> None:
        """Delete the temporary file."""
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
            self._temporary = None


class FileObject(Destination):
    """A caller's binary file object; rewound for a retry when it can seek."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        name = getattr(stream, "name", None)
        self.label = name if isinstance(name, str) else None
        self._start: int | None = stream.tell() if _seekable(stream) else None
        self._written = False

    @contextlib.contextmanager
    def attempt(self) -> Iterator[Writer]:
        """The stream, rewound to where the first attempt began; or as it is when nothing was written yet."""
        if self._written:
            if self._start is None:
                raise DataOpsError(
                    "the download failed part way and cannot be restarted: the destination file object cannot "
                    "seek back to where it began; pass a local path or a seekable file to allow retries"
                )
            self.stream.seek(self._start)
            self.stream.truncate()
        yield _Noting(self)
        self.stream.flush()


class _Noting:
    """Writes through to a :class:`FileObject`'s stream, noting that something was written."""

    def __init__(self, owner: FileObject) -> None:
        self._owner = owner

    def write(self, data: bytes, /) -> int:
        self._owner._written = True
        self._owner.stream.write(data)
        return len(data)


class StoragePath(Destination):
    """An ``ObjectStoragePath`` (or any path-like object with ``open("wb")``).

    :raises DataOpsConfigError: when the path is an existing directory.
    """

    def __init__(self, path: Any) -> None:
        self.path = path
        self.label = str(path)
        # Staged when the store can rename (ObjectStoragePath can); else written in place.
        self._staged = callable(getattr(path, "with_name", None)) and callable(getattr(path, "rename", None))
        self._temporary: Any = None
        self._opened: Any = None  # what an attempt of this download opened: all a failure may delete
        if _is_dir(path):
            raise DataOpsConfigError(f"destination {self.label} is an existing directory; name an object in it")

    @contextlib.contextmanager
    def attempt(self) -> Iterator[Writer]:
        """Open the (temporary) object for writing, replacing whatever an earlier attempt wrote."""
        target = self.path
        if self._staged:
            if self._temporary is None:
                name = getattr(self.path, "name", "download")
                self._temporary = self.path.with_name(f".{name}.{secrets.token_hex(6)}.part")
            target = self._temporary
        with target.open("wb") as stream:
            self._opened = target
            yield stream

    def commit(self) -> None:
        """Move the temporary object over the destination."""
        if self._staged and self._opened is not None:
            self._opened.rename(self.path)
        self._opened = None

    def discard(self) -> None:
        """Delete what this download wrote (never an object it did not open); a store that cannot is left."""
        if self._opened is not None:
            with contextlib.suppress(Exception):
                self._opened.unlink()
        self._opened = None


def _is_dir(path: Any) -> bool:
    try:
        return bool(path.is_dir())
    except Exception:  # a store that cannot tell (or no is_dir): the write will say
        return False


def check_local_target(path: Path, name: str, *, want_directory: bool) -> None:
    """Refuse a local path that a download or an extraction cannot write, before any request.

    :param path: Absolute path.
    :param name: The argument's name, for the message (``destination``, ``extract_to``).
    :param want_directory: True for a directory to create or fill, False for a file to write.
    :raises DataOpsConfigError: naming ``name`` and the clash.
    """
    if want_directory and path.exists() and not path.is_dir():
        raise DataOpsConfigError(f"{name} {path} is an existing file; extraction needs a directory")
    if not want_directory and path.is_dir():
        raise DataOpsConfigError(f"{name} {path} is an existing directory; name a file inside it")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataOpsConfigError(f"{name} {path} lies under {parent}, which is a file, not a directory")
            break


def _seekable(stream: Any) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def destination_for(value: Any) -> Destination:
    """The :class:`Destination` for what a caller passed; refused before any request when unusable.

    :param value: A local path (``str`` or ``os.PathLike``), a binary file object (``.write``), or an
        object storage path (``airflow.sdk.ObjectStoragePath``; on Airflow 2
        ``airflow.io.path.ObjectStoragePath``; anything with ``.open("wb")``).
    :raises DataOpsConfigError: naming ``destination`` and what it accepts.
    """
    accepted = (
        "a local path (str or os.PathLike), a binary file object, or an ObjectStoragePath such as "
        "ObjectStoragePath('s3://bucket/key', conn_id='aws_default')"
    )
    if hasattr(value, "protocol") and callable(getattr(value, "open", None)):
        return StoragePath(value)  # ObjectStoragePath and universal_pathlib paths, file:// included
    if isinstance(value, str):
        if not value.strip() or "\0" in value:
            raise DataOpsConfigError(f"destination must be {accepted}, got {value!r}")
        if "://" in value:
            raise DataOpsConfigError(
                f"destination {value!r} is a URL: wrap it in ObjectStoragePath({value!r}) (with the conn_id of "
                "its storage connection), or pass a local path"
            )
        return LocalFile(Path(value))
    if isinstance(value, os.PathLike):
        return LocalFile(Path(os.fspath(value)))
    if callable(getattr(value, "write", None)):
        if isinstance(value, io.TextIOBase):
            raise DataOpsConfigError("destination is a text file object; open it in binary mode ('wb')")
        if getattr(value, "closed", False):
            raise DataOpsConfigError("destination is a closed file object")
        return FileObject(value)
    if callable(getattr(value, "open", None)):
        return StoragePath(value)
    raise DataOpsConfigError(f"destination must be {accepted}, got {type(value).__name__}")
