"""Extracting a downloaded artifacts archive without trusting it.

An archive comes from a pipeline, so it is checked as hostile input:

* **zip slip**: an entry with an absolute name, a drive letter, a backslash, a ``..`` segment, a
  symbolic link, or a name that leads out of the target directory (also through a symlink already
  in it) is refused;
* **zip bombs**: the entry count, the total uncompressed size and each entry's compression ratio
  are checked from the declared sizes before anything is written, and again from the bytes
  actually produced while extracting (a declared size can lie).

* **names that cannot be written**: an empty or ``.`` name or segment, a name given twice, a file
  that another entry needs as a directory (or an existing directory or file of the target that
  clashes with an entry), a segment over 255 bytes, and encrypted entries are refused up front.

Files are extracted into a hidden staging directory beside the target and moved into place only
when every entry passed. The move is all or nothing: a file it replaces is kept aside until the
last one is in place, and put back if any move fails. Every refusal is an
:class:`UnsafeArchiveError` (a :class:`~airflow_provider_dataops.errors.DataOpsError`) naming the
entry and the reason, and the target is then exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path

from airflow_provider_dataops.errors import DataOpsError
from airflow_provider_dataops.outputs.budget import ExtractionLimits as ExtractionLimits  # documented here too
from airflow_provider_dataops.outputs.destinations import check_local_target

_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Entries smaller than this are exempt from the ratio check: a short, repetitive file compresses
#: far better than any real data, without being a threat.
RATIO_FLOOR = 1 << 20


class UnsafeArchiveError(DataOpsError):
    """The archive was refused: an entry would escape the target, or its sizes are absurd."""


def _refuse(name: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"refusing to extract the archive: entry {name!r} {why}")


#: Longest file name segment most file systems accept (NAME_MAX), in bytes.
MAX_SEGMENT_BYTES = 255
#: Longest relative path accepted (PATH_MAX leaves room for the target's own path).
MAX_NAME_BYTES = 1024


def _check_name(info: zipfile.ZipInfo, target: Path) -> None:
    name = info.filename
    segments = name.rstrip("/").split("/")
    if name.startswith("/") or _DRIVE.match(name) or "\\" in name or "\0" in name:
        raise _refuse(name, "has an absolute name, a drive letter or a backslash")
    if not name.rstrip("/") or any(segment in ("", ".") for segment in segments):
        raise _refuse(name, "has an empty or '.' name or segment")
    if ".." in name.split("/"):
        raise _refuse(name, "has a '..' segment (zip slip)")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _refuse(name, "is a symbolic link")
    if info.flag_bits & 0x1:
        raise _refuse(name, "is encrypted")
    if len(name.encode()) > MAX_NAME_BYTES or any(len(part.encode()) > MAX_SEGMENT_BYTES for part in segments):
        raise _refuse(name, f"is too long (over {MAX_SEGMENT_BYTES} bytes a segment or {MAX_NAME_BYTES} in all)")
    resolved = (target / name).resolve()
    if resolved != target and target not in resolved.parents:
        raise _refuse(name, f"would be written outside {target} (zip slip)")


def _check_ratio(name: str, produced: int, compressed: int, limits: ExtractionLimits) -> None:
    if produced > RATIO_FLOOR and produced > limits.max_ratio * max(compressed, 1):
        raise _refuse(name, f"expands more than {limits.max_ratio} times (zip bomb)")


def _check_declared(infos: list[zipfile.ZipInfo], target: Path, limits: ExtractionLimits) -> None:
    if len(infos) > limits.max_entries:
        raise UnsafeArchiveError(
            f"refusing to extract the archive: {len(infos)} entries, more than max_entries={limits.max_entries}"
        )
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_bytes:
        raise UnsafeArchiveError(
            f"refusing to extract the archive: it declares {total} bytes uncompressed, more than "
            f"max_total_bytes={limits.max_total_bytes}"
        )
    for info in infos:
        _check_name(info, target)
        _check_ratio(info.filename, info.file_size, info.compress_size, limits)
    _check_layout(infos, target)


def _check_layout(infos: list[zipfile.ZipInfo], target: Path) -> None:
    """Refuse names given twice, and files that another entry or the target needs as directories."""
    files: dict[str, str] = {}
    directories: dict[str, str] = {}
    for info in infos:
        key = info.filename.rstrip("/")
        if key in files or (not info.is_dir() and key in directories):
            raise _refuse(info.filename, "appears twice in the archive (or as both a file and a directory)")
        (directories if info.is_dir() else files)[key] = info.filename
        parts = key.split("/")
        for depth in range(1, len(parts)):
            directories.setdefault("/".join(parts[:depth]), info.filename)
    for key, entry in files.items():
        if key in directories:
            raise _refuse(entry, f"is a file, but {directories[key]!r} needs it to be a directory")
        if (target / key).is_dir() and not (target / key).is_symlink():
            raise _refuse(entry, f"is a file, but {target / key} is an existing directory")
    for key, entry in directories.items():
        existing = target / key
        if existing.exists() and not existing.is_dir():
            raise _refuse(entry, f"needs {existing} to be a directory, but it is an existing file")


def _copy_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, budget: int, limits: ExtractionLimits
) -> int:
    """Write one entry, checking the bytes it really produces; returns how many."""
    produced = 0
    with archive.open(info) as source, path.open("wb") as out:
        while chunk := source.read(_CHUNK):
            produced += len(chunk)
            if produced > info.file_size:
                raise _refuse(info.filename, f"produces more than its declared {info.file_size} bytes")
            if produced > budget:
                raise UnsafeArchiveError(
                    f"refusing to extract the archive: it expands past max_total_bytes={limits.max_total_bytes}"
                )
            _check_ratio(info.filename, produced, info.compress_size, limits)
            out.write(chunk)
    return produced


def extract_zip(
    archive_path: str | os.PathLike[str], target: str | os.PathLike[str], limits: ExtractionLimits | None = None
) -> list[str]:
    """Extract a zip archive into ``target`` after checking every entry; returns the files, relative.

    :param archive_path: The downloaded archive.
    :param target: The directory to extract into (created if missing); existing files of the same
        names are replaced.
    :param limits: Size and count limits; the defaults allow 1 GiB in 10,000 entries.
    :raises UnsafeArchiveError: for zip slip or zip bomb entries, and entries that cannot be written
        (see the module docstring), naming the entry; nothing is extracted then.
    :raises DataOpsError: when the file is not a readable zip archive, ``target`` is an existing
        file, or moving the files into place failed (the target is then as it was).
    """
    limits = limits or ExtractionLimits()
    directory = Path(target).expanduser().absolute()
    check_local_target(directory, "extract_to", want_directory=True)
    made = [folder for folder in (*reversed(directory.parents), directory) if not folder.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    directory = directory.resolve()
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".extracting"))
    try:
        files = _extract_checked(Path(archive_path), directory, staging, limits)
        _commit(files, staging, directory)
        made = []
        return files
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in reversed(made):  # a refused archive leaves no new directory behind either
            with contextlib.suppress(OSError):
                folder.rmdir()


def _commit(files: list[str], staging: Path, directory: Path) -> None:
    """Move the staged files into ``directory``, all or none: on any failure, undo the moves made."""
    aside = staging / ".replaced"
    undo: list[tuple[Path, Path | None]] = []  # (destination, the file it replaced, kept aside)
    created: list[Path] = []
    try:
        for index, name in enumerate(files):
            destination = directory / name
            for parent in reversed(destination.relative_to(directory).parents):
                folder = directory / parent
                if not folder.exists():
                    folder.mkdir()
                    created.append(folder)
            kept: Path | None = None
            if destination.exists():
                kept = aside / str(index)
                kept.parent.mkdir(exist_ok=True)
                os.replace(destination, kept)
            undo.append((destination, kept))
            os.replace(staging / name, destination)
    except OSError as error:
        for destination, kept in reversed(undo):
            with contextlib.suppress(OSError):
                destination.unlink(missing_ok=True)
            if kept is not None:
                with contextlib.suppress(OSError):
                    os.replace(kept, destination)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise DataOpsError(
            f"cannot extract into {directory}: moving {name!r} into place failed ({error.strerror or error}); "
            "the target was left as it was"
        ) from None


def _extract_checked(archive_path: Path, directory: Path, staging: Path, limits: ExtractionLimits) -> list[str]:
    try:
        with zipfile.ZipFile(archive_path) as archive:
            infos = archive.infolist()
            _check_declared(infos, directory, limits)
            budget = limits.max_total_bytes
            files = []
            for info in infos:
                path = staging / info.filename
                try:
                    if info.is_dir():
                        path.mkdir(parents=True, exist_ok=True)
                        continue
                    path.parent.mkdir(parents=True, exist_ok=True)
                    budget -= _copy_entry(archive, info, path, budget, limits)
                except OSError as error:
                    raise _refuse(info.filename, f"cannot be written ({error.strerror or error})") from None
                except RuntimeError as error:  # zipfile's word for an encrypted or unreadable entry
                    raise _refuse(info.filename, f"cannot be read ({error})") from None
                files.append(info.filename)
            return files
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError) as error:
        raise DataOpsError(f"cannot extract {archive_path.name}: not a readable zip archive ({error})") from None
