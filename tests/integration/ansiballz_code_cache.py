# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bytecode cache for the sources Python imports from zip files, installed in the integration sessions' venvs.

Every module run of the integration tests is a real AnsiballZ payload: a zip of the module and the module_utils it
imports (ansible-core's and ours, 12,800 lines), which Python imports with zipimport. zipimport never caches the
bytecode it compiles, so each run compiled all of it again: 0.2 to 0.3 of the 0.5 CPU-s a module run costs, and about
a fifth of the CPU time of `make test`, spent on the same few dozen sources over 2,300 runs. With this installed,
zipimport compiles a source once and keeps the code object in DIRECTORY, keyed by the source's SHA-256 and the
interpreter's bytecode magic number; each later run loads it with marshal, as Python does with a __pycache__ file.

Nothing a test checks changes: the module's code is the same code, with co_filename set to the zip path of the run
that imports it (tracebacks and warnings name the file of that run), and a source that changes is compiled anew.
The noxfile (install_ansiballz_code_cache) copies this file into an integration session's venv and adds a .pth line
that calls install(DIRECTORY), so every interpreter of the venv - the modules that ansible-playbook and ansible-test
start among them - has it. A user's controller has no such cache: the demo and the benchmark run without it.
"""

from __future__ import annotations

import marshal
import os
import types
import zipimport
from typing import Callable

_original: Callable[[str, bytes], types.CodeType] | None = None
_directory = ""


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    """The code object, and every code object nested in it, with co_filename set to `filename`."""
    constants = tuple(_renamed(value, filename) if isinstance(value, types.CodeType) else value
                      for value in code.co_consts)
    return code.replace(co_filename=filename, co_consts=constants)


def cache_path(source: bytes) -> str:
    """Where the code compiled from `source` is kept."""
    import hashlib  # here, not at the top: every interpreter of the venv imports this module
    from importlib.util import MAGIC_NUMBER

    return os.path.join(_directory, hashlib.sha256(MAGIC_NUMBER + b"\0" + source).hexdigest())


def _load(path: str, pathname: str) -> types.CodeType | None:
    try:
        with open(path, "rb") as handle:
            code = marshal.loads(handle.read())
    except (OSError, EOFError, ValueError, TypeError):  # absent, or written by a run that was killed mid-write
        return None
    return _renamed(code, pathname) if isinstance(code, types.CodeType) else None


def _store(path: str, code: types.CodeType) -> None:
    temporary = "%s.%d.tmp" % (path, os.getpid())
    try:
        os.makedirs(_directory, exist_ok=True)
        with open(temporary, "wb") as handle:
            handle.write(marshal.dumps(code))
        os.replace(temporary, path)  # atomic: a concurrent run reads the old file, the new one, or none
    except OSError:
        try:
            os.remove(temporary)
        except OSError:
            pass


def compile_source(pathname: str, source: bytes) -> types.CodeType:
    """zipimport's _compile_source(pathname, source), through the cache."""
    assert _original is not None
    path = cache_path(source)
    code = _load(path, pathname)
    if code is None:
        code = _original(pathname, source)
        _store(path, code)
    return code


def install(directory: str) -> None:
    """Make zipimport compile through the cache kept in `directory` (created when first written)."""
    global _original, _directory  # pylint: disable=global-statement
    _directory = directory
    if _original is None:
        _original = zipimport._compile_source  # pylint: disable=protected-access
        zipimport._compile_source = compile_source  # pylint: disable=protected-access


def uninstall() -> None:
    """zipimport as it was."""
    global _original  # pylint: disable=global-statement
    if _original is not None:
        zipimport._compile_source = _original  # pylint: disable=protected-access
        _original = None
