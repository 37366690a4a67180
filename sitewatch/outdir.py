"""Output folders that never lose a user's file: a manifest of what sitewatch wrote, and
replacement that an interruption cannot leave half done.

A run writes its outputs into a hidden staging folder inside the output folder;
only when the run has finished are they moved into place, and the list of
files is recorded in ``.sitewatch-outputs.json`` (the manifest). Rules:

* a folder that holds anything sitewatch did not write (a file or folder not in
  the manifest, or a file changed since sitewatch wrote it) is refused, with a
  message naming a fresh folder; foreign folders are never entered;
* a folder that holds an earlier run is refused unless ``overwrite``; then only
  the files of that run (the manifest's) are replaced, and a file of the earlier
  run that the new one does not write is removed with it (no mixed runs);
* replacement is a journalled commit: the earlier files are moved aside, the new
  ones moved in, the new manifest written, and only then the journal removed. A
  run that fails or is killed before that point leaves the earlier outputs whole:
  in process they are put back at once, after a kill the next run on the folder
  (or :func:`recover`) puts them back before anything else;
* one run at a time per folder (an advisory lock on the folder, released by the
  system if the process dies).

Everything sitewatch keeps in an output folder besides the outputs is named
``.sitewatch-*``.

Examples
--------
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> with OutputFolder(out, command="demo") as stage:
...     _ = (stage / "summary.json").write_text("{}")
>>> sorted(p.name for p in out.iterdir())
['.sitewatch-outputs.json', 'summary.json']
>>> OutputFolder(out, command="demo").open()
Traceback (most recent call last):
...
sitewatch.errors.OutputFolderError: ... holds the outputs of an earlier `sitewatch demo` run ...
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sitewatch._version import __version__
from sitewatch.atomic import atomic_write_text, temp_path_beside
from sitewatch.errors import OutputFolderError

__all__ = ["OutputFolder", "recover", "read_manifest", "MANIFEST", "fresh_folder",
           "check_output_file", "write_output_file"]

log = logging.getLogger(__name__)

#: The record of what sitewatch wrote into a folder.
MANIFEST = ".sitewatch-outputs.json"
_JOURNAL = ".sitewatch-journal.json"
_STAGE_PREFIX = ".sitewatch-staging-"
_BACKUP_PREFIX = ".sitewatch-backup-"
_MARK = ".sitewatch-scratch"  # inside staging and backup folders: they are ours
_FORMAT = "sitewatch-outputs/1"

P = TypeVar("P")


def _fs_error(action: str, path: Path, err: OSError) -> OutputFolderError:
    why = err.strerror or str(err)
    hint = {errno.EACCES: "you may not write there", errno.EPERM: "you may not write there",
            errno.EROFS: "the disk is read-only", errno.ENOSPC: "the disk is full",
            errno.ENOENT: "part of the path does not exist"}.get(err.errno or 0, "")
    if str(path).startswith(("/proc", "/sys", "/dev")):
        hint = "that is a system folder, not a place for files"
    return OutputFolderError(f"cannot {action} {path} ({why}{'; ' + hint if hint else ''}): "
                             "choose a folder you can write, e.g. in your home folder")


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of ``folder`` (None when there is none or it is not sitewatch's)."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT \
            or not isinstance(data.get("files"), dict):
        return None
    return data


def _stamp(path: Path) -> dict[str, int]:
    st = path.lstat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _same(path: Path, recorded: Any) -> bool:
    """Whether a file is as sitewatch recorded it (size and modification time)."""
    if not isinstance(recorded, dict):
        return False
    return _stamp(path) == {k: recorded.get(k) for k in ("size", "mtime_ns")}


def _is_ours_scratch(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and (path / _MARK).is_file()


def fresh_folder(out: Path, command: str) -> Path:
    """A folder (or file) name that does not exist yet, to suggest instead of ``out``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> fresh_folder(d / "results", "detect").name
    'results'
    >>> (d / "results").mkdir(); fresh_folder(d / "results", "detect").name
    'results-2'
    """
    if not out.exists():
        return out
    name = out.name if out.name not in ("", ".", "..") else ""
    base = out.parent / name if name else out / f"sitewatch-{command}"
    if not name and not base.exists():
        return base
    for i in range(2, 1000):
        cand = base.with_name(f"{base.stem}-{i}{base.suffix}")
        if not cand.exists():
            return cand
    return base.with_name(f"{base.name}-{uuid.uuid4().hex[:6]}")


class OutputFolder:
    """A safe output folder for one run (see the module docs).

    Parameters
    ----------
    path : path-like
        The folder (created with its parents when missing).
    overwrite : bool
        Replace the outputs of an earlier run (only those).
    command : str
        Recorded in the manifest and named in messages (``detect``, ``fetch``...).

    Use it as a context manager: entering checks the folder, takes the lock and
    gives the staging folder to write into; leaving without an error commits,
    leaving with one discards the staging folder (the earlier outputs stay).
    :meth:`open` alone runs the checks early (before a long fetch), and the
    ``with`` block later reuses them.
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False,
                 command: str = "run") -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.command = command
        self.stage: Path | None = None
        self._lock_fd: int | None = None
        self._created: list[Path] = []
        self._old: dict[str, Any] = {}
        self.committed = False

    # -- checks ---------------------------------------------------------------------
    def open(self) -> Path:
        """Check the folder, take its lock and create the staging folder; return it."""
        if self.stage is not None:
            return self.stage
        out = self.path
        if out.is_symlink() and not out.exists():
            raise OutputFolderError(f"{out} is a broken link: choose another folder")
        if out.exists() and not out.is_dir():
            raise OutputFolderError(f"{out} exists and is not a folder: choose a folder, e.g. "
                                    f"--out {fresh_folder(out, self.command)}")
        missing = [p for p in (out, *out.parents) if not p.exists()]
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _fs_error("create the folder", out, err) from err
        self._created = missing  # removed again (when empty) if the run fails
        self._lock()
        try:
            recover(out, _locked=True)
            self._old = self._check()
            stage = out / f"{_STAGE_PREFIX}{uuid.uuid4().hex[:10]}"
            try:
                stage.mkdir()
                (stage / _MARK).write_text(f"{os.getpid()}\n")
            except OSError as err:
                raise _fs_error("write into", out, err) from err
        except BaseException:
            self._unlock()
            raise
        self.stage = stage
        return stage

    def _lock(self) -> None:
        """An advisory lock on the folder itself (no lock file to leave behind)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as err:
            raise _fs_error("open", self.path, err) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputFolderError(f"{self.path} is in use by another sitewatch run: wait for "
                                    "it to finish, or choose another folder") from None
        self._lock_fd = fd

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock (no other sitewatch run can use it meanwhile)."""
        self._lock()
        try:
            yield
        finally:
            self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _check(self) -> dict[str, Any]:
        """Refuse a folder with foreign or changed files, or an earlier run without
        ``overwrite``; return the earlier run's files (relative path -> stamp)."""
        manifest = read_manifest(self.path) or {}
        files: dict[str, Any] = manifest.get("files", {})
        foreign, changed = _scan(self.path, files)
        if foreign or changed:
            names = foreign[:3] + [f"{c} (changed since sitewatch wrote it)" for c in changed[:2]]
            more = len(foreign) + len(changed) - len(names)
            listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
            raise OutputFolderError(
                f"{self.path} holds files sitewatch did not write ({listed}): sitewatch only "
                "replaces its own outputs and never deletes yours; choose a fresh folder, e.g. "
                f"--out {fresh_folder(self.path / f'sitewatch-{self.command}', self.command)}")
        present = {k: v for k, v in files.items() if (self.path / k).is_file()}
        if present and not self.overwrite:
            when = manifest.get("written", "?")
            raise OutputFolderError(
                f"{self.path} holds the outputs of an earlier `sitewatch "
                f"{manifest.get('command', '?')}` run ({when}): pass --overwrite to replace "
                f"them, or choose a fresh folder, e.g. --out "
                f"{fresh_folder(self.path, self.command)}")
        return present

    # -- commit ---------------------------------------------------------------------
    def final(self, path: P) -> P:
        """The place a staged ``path`` has after the commit (other values unchanged)."""
        if isinstance(path, Path) and self.stage is not None:
            try:
                return self.path / path.relative_to(self.stage)  # type: ignore[return-value]
            except ValueError:
                return path  # type: ignore[return-value]
        return path

    def final_paths(self, paths: Mapping[str, Path]) -> dict[str, Path]:
        """:meth:`final` of every value of a name -> path mapping."""
        return {k: self.final(v) for k, v in paths.items()}

    def commit(self) -> None:
        """Move the staged outputs into place and record them (see the module docs)."""
        if self.stage is None:
            raise RuntimeError("OutputFolder.commit before open")
        out, stage = self.path, self.stage
        new = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*")
                     if (p.is_file() or p.is_symlink()) and p.name != _MARK)
        if any(n == MANIFEST or n.split("/")[0].startswith(".sitewatch-") for n in new):
            raise OutputFolderError("an output is named like sitewatch's own bookkeeping files "
                                    "(.sitewatch-*): rename it")
        clash = [r for r in new if r not in self._old and (out / r).exists()]
        edited = [r for r in self._old
                  if not (out / r).is_file() or not _same(out / r, self._old[r])]
        if clash or edited:
            names = ", ".join((clash + edited)[:3])
            raise OutputFolderError(f"{names} in {out} appeared or changed during the run: "
                                    "sitewatch does not replace a file it did not write; run "
                                    "again into a fresh folder")
        backup = out / f"{_BACKUP_PREFIX}{uuid.uuid4().hex[:10]}"
        old = sorted(self._old)
        recorded: dict[str, Any] = {}
        manifest: dict[str, Any] = {
            "format": _FORMAT, "command": self.command, "sitewatch": __version__,
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "files": recorded}
        try:
            backup.mkdir()
            (backup / _MARK).write_text(f"{os.getpid()}\n")
            journal = {"stage": stage.name, "backup": backup.name, "old": old, "new": new,
                       "had_manifest": (out / MANIFEST).is_file()}
            atomic_write_text(json.dumps(journal), out / _JOURNAL)
            if journal["had_manifest"]:
                _move(out / MANIFEST, backup / MANIFEST)
            for rel in old:
                _move(out / rel, backup / rel)
            for rel in new:
                _move(stage / rel, out / rel)
                recorded[rel] = _stamp(out / rel)
            atomic_write_text(json.dumps(manifest, indent=1) + "\n", out / MANIFEST)
            (out / _JOURNAL).unlink()  # the commit point
        except BaseException:
            _rollback(out)
            _remove_scratch(backup)
            raise
        self.committed = True
        _remove_scratch(backup)
        _prune_empty_dirs(out, old)
        log.info("wrote %d files to %s", len(new), out)

    def discard(self) -> None:
        """Remove the staging folder (the earlier outputs stay as they were)."""
        if self.stage is not None:
            _remove_scratch(self.stage)

    def close(self) -> None:
        """Remove the staging folder and release the lock; a folder this run created is
        removed again when the run wrote nothing into it."""
        self.discard()
        self._unlock()
        if not self.committed:
            for p in self._created:  # innermost first; rmdir only removes empty folders
                with contextlib.suppress(OSError):
                    p.rmdir()

    def __enter__(self) -> Path:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if kind is None:
                try:
                    self.commit()
                except OSError as oserr:
                    raise _fs_error("write into", self.path, oserr) from oserr
        finally:
            self.close()


def _move(src: Path, dst: Path) -> None:
    """One step of a commit or a rollback (a rename within the folder)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def _scan(root: Path, files: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Entries of ``root`` sitewatch did not write, and recorded files changed since.

    Only folders that hold recorded files are entered; a foreign folder is named,
    never walked.
    """
    dirs = {str(Path(f).parent.as_posix()) for f in files}
    ancestors = {"."}
    for d in dirs:
        parts = Path(d).parts
        for i in range(1, len(parts) + 1):
            ancestors.add("/".join(parts[:i]))
    foreign: list[str] = []
    changed: list[str] = []

    def walk(folder: Path, rel: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            foreign.append(f"{rel}/ (unreadable)")
            return
        for entry in entries:
            r = entry.name if rel == "." else f"{rel}/{entry.name}"
            path = Path(entry.path)
            if rel == "." and entry.name in (MANIFEST, _JOURNAL):
                continue
            if rel == "." and entry.name.startswith((f".{MANIFEST}.", f".{_JOURNAL}.")) \
                    and entry.name.endswith(".tmp") and entry.is_file():
                Path(entry.path).unlink(missing_ok=True)  # a bookkeeping write cut short
                continue
            if rel == "." and entry.name.startswith((_STAGE_PREFIX, _BACKUP_PREFIX)) \
                    and _is_ours_scratch(path):
                _remove_scratch(path)  # left by a run that was killed
                continue
            if entry.is_symlink():
                foreign.append(r)
            elif entry.is_dir():
                if r in ancestors:
                    walk(path, r)
                else:
                    foreign.append(r + "/")
            elif r in files:
                if not _same(path, files[r]):
                    changed.append(r)
            else:
                foreign.append(r)

    walk(root, ".")
    return foreign, changed


def _rollback(out: Path) -> None:
    """Undo an unfinished commit recorded in the journal: the earlier outputs back in place."""
    jpath = out / _JOURNAL
    try:
        journal = json.loads(jpath.read_text())
    except (OSError, ValueError):
        return
    stage, backup = out / journal["stage"], out / journal["backup"]
    for rel in journal.get("new", []):
        if not (stage / rel).exists() and (out / rel).exists():
            _move(out / rel, stage / rel)  # moved in already: back to staging
    for rel in journal.get("old", []):
        if (backup / rel).exists():
            _move(backup / rel, out / rel)
    if (backup / MANIFEST).exists():
        _move(backup / MANIFEST, out / MANIFEST)
    elif not journal.get("had_manifest"):
        (out / MANIFEST).unlink(missing_ok=True)
    jpath.unlink(missing_ok=True)
    _prune_empty_dirs(out, journal.get("new", []))
    for scratch in (stage, backup):
        _remove_scratch(scratch)
    log.warning("%s: an interrupted run's replacement was undone; the earlier outputs are "
                "back in place", out)


def recover(folder: str | os.PathLike[str], *, _locked: bool = False) -> bool:
    """Put back the earlier outputs of a run killed while replacing them.

    Every run on a folder does this first; call it to repair a folder by hand.
    Returns whether there was anything to undo.
    """
    out = Path(folder)
    if not (out / _JOURNAL).is_file():
        return False
    if _locked:
        _rollback(out)
        return True
    with OutputFolder(out).locked():
        _rollback(out)
    return True


def _remove_scratch(path: Path) -> None:
    if _is_ours_scratch(path):
        shutil.rmtree(path, ignore_errors=True)


def _prune_empty_dirs(out: Path, rels: Any) -> None:
    """Remove the now empty sub-folders that held ``rels`` (never ``out`` itself)."""
    parents = sorted({p for r in rels for p in Path(r).parents if str(p) != "."},
                     key=lambda p: -len(p.parts))
    for p in parents:
        with contextlib.suppress(OSError):
            (out / p).rmdir()  # only succeeds when empty


def check_output_file(path: str | os.PathLike[str], *, overwrite: bool,
                      is_ours: Callable[[Path], bool], what: str = "file") -> Path:
    """Check that a single output file may be written (before any work): its folder can
    be written, and an existing file is replaced only with ``overwrite`` and only if
    sitewatch wrote it (``is_ours``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "notes.html"
    >>> _ = p.write_text("my notes")
    >>> check_output_file(p, overwrite=True, is_ours=lambda q: False, what="report")
    Traceback (most recent call last):
    ...
    sitewatch.errors.OutputFolderError: ...notes.html exists and sitewatch did not write it: ...
    """
    path = Path(path)
    if path.is_dir():
        raise OutputFolderError(f"{path} is a folder: give a file name, e.g. "
                                f"{path / f'sitewatch-{what}.html'}")
    if path.exists() or path.is_symlink():
        if path.is_symlink() or not is_ours(path):
            raise OutputFolderError(f"{path} exists and sitewatch did not write it: sitewatch "
                                    "never replaces your files; choose another name, e.g. "
                                    f"{fresh_folder(path, what)}")
        if not overwrite:
            raise OutputFolderError(f"{path} exists (an earlier sitewatch {what}): pass "
                                    "--overwrite to replace it, or choose another name, e.g. "
                                    f"{fresh_folder(path, what)}")
    try:
        temp_path_beside(path).unlink()
    except OSError as err:
        raise _fs_error("write", path, err) from err
    return path


def write_output_file(text: str, path: str | os.PathLike[str]) -> Path:
    """Write one output file atomically; a failure is an :class:`OutputFolderError`."""
    path = Path(path)
    try:
        atomic_write_text(text, path)
    except OSError as err:
        raise _fs_error("write", path, err) from err
    return path

