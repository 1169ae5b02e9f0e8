"""Checks of paths: files to read or write, folders to write into (part of helpers.validation)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ArgumentTypeError, MissingFileError, PathError, _show


def _as_path(name: str, value) -> Path:
    if not isinstance(value, (str, os.PathLike)) or (isinstance(value, str) and not value.strip()):
        raise ArgumentTypeError(f"{name} must be a path (a string or pathlib.Path); got {_show(value)} "
                                f"({type(value).__name__}).")
    return Path(value).expanduser()


def file_path(name: str, value, must_exist: bool = True, writable: bool = False) -> Path:
    """A path to a file: refused when it is a folder, or (``must_exist``) when nothing is there. A
    file to be written (``writable=True``) needs a folder that exists to hold it."""
    path = _as_path(name, value)
    if path.is_dir():
        raise PathError(f"{name} is a folder ({path}), but a file belongs here; give the path of a file "
                        f"inside it.")
    if must_exist and not path.exists():
        raise MissingFileError(f"{name}: no file at {path}. Check the path (relative paths start at "
                               f"{Path.cwd()}).")
    if writable and not path.parent.is_dir():
        raise PathError(f"{name}: the folder {path.parent} that should hold {path.name} does not exist; "
                        f"create it first.")
    return path


def dir_path(name: str, value, must_exist: bool = False, writable: bool = False) -> Path:
    """A path to a folder: refused when it is a file. ``writable=True`` creates it if needed and
    checks that files can be written there (before any work, not after an epoch)."""
    path = _as_path(name, value)
    if path.exists() and not path.is_dir():
        raise PathError(f"{name} is a file ({path}), but a folder belongs here; give a folder path.")
    if must_exist and not path.is_dir():
        raise MissingFileError(f"{name}: no folder at {path}.")
    if writable:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise PathError(f"{name}: cannot create the folder {path} ({err.strerror}); choose a folder "
                            f"you can write to.") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise PathError(f"{name}: the folder {path} cannot be written; choose a folder you can "
                            f"write to.")
    return path
