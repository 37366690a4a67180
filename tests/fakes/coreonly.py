"""Run the ``sitewatch`` command as after ``make demo``: only the demo's dependencies importable.

``python tests/fakes/coreonly.py [--extras a,b] ARGS...`` works out, from the installed
packages' metadata, every distribution ``pip install 'sitewatch[a,b]'`` brings (its
requirements without other extras, followed recursively, with the extras those
requirements ask for), then makes every other installed distribution's modules
unimportable (a meta path finder that raises ``ModuleNotFoundError``, as if they were
not installed) and runs ``sitewatch ARGS...``. The test environment has every extra
installed; this is how a test proves a command needs none of the others, without
building a second virtualenv.

``python tests/fakes/coreonly.py [--extras a,b] --blocked`` prints the blocked modules,
one a line. At exit, the modules of distributions outside the set that were imported
before the blocker was installed (by ``.pth`` files) are listed on stderr after
``CORE-ONLY``.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata as md
import re
import sys
from collections.abc import Sequence
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: str, extras: Sequence[str]) -> list[Requirement]:
    out = []
    for text in md.requires(dist) or []:
        req = Requirement(text)
        marker: Marker | None = req.marker
        if marker is None or any(marker.evaluate({"extra": e}) for e in ("", *extras)):
            out.append(req)
    return out


def core_closure(root: str = "sitewatch", extras: Sequence[str] = ()) -> set[str]:
    """Normalised names of the distributions ``pip install 'root[extras]'`` brings."""
    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(root, tuple(sorted(extras)))]
    done: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        name, extras = todo.pop()
        if (_norm(name), extras) in done:
            continue
        done.add((_norm(name), extras))
        try:
            md.distribution(name)
        except md.PackageNotFoundError:
            continue  # a requirement for another platform or Python
        seen.add(_norm(name))
        for req in _requirements(name, extras):
            todo.append((req.name, tuple(sorted(req.extras))))
    return seen


def blocked_modules(root: str = "sitewatch", extras: Sequence[str] = ()) -> set[str]:
    """Top-level modules of installed distributions outside the closure."""
    core = core_closure(root, extras)
    blocked = set()
    for module, dists in md.packages_distributions().items():
        if module in sys.stdlib_module_names or module.startswith("__editable__"):
            continue
        if not any(_norm(d) in core for d in dists):
            blocked.add(module)
    return blocked


class _Blocker(importlib.abc.MetaPathFinder):
    def __init__(self, blocked: set[str]) -> None:
        self.blocked = blocked

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.split(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {fullname!r} (not in the core "
                                      "install of sitewatch)", name=fullname)
        return None


def main(argv: list[str]) -> None:
    extras: list[str] = []
    if argv[:1] == ["--extras"]:
        extras = [e for e in argv[1].split(",") if e]
        argv = argv[2:]
    blocked = blocked_modules(extras=extras)
    if argv[:1] == ["--blocked"]:
        print("\n".join(sorted(blocked)))
        return
    preloaded = sorted({m.split(".")[0] for m in sys.modules} & blocked)
    sys.meta_path.insert(0, _Blocker(blocked))
    from sitewatch.cli.main import cli

    try:
        cli.main(args=argv, prog_name="sitewatch", standalone_mode=True)
    finally:
        print(f"CORE-ONLY preloaded={','.join(preloaded)}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
