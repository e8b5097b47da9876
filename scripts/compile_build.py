"""Byte-compile what `sam build` made (functions and the core layer, dependencies included): SAM ships no .pyc.

Without one, every Lambda cold start compiles each module it imports (22–42 ms of the API's init, issue 20), and
cannot keep the result: /var/task and /opt are read-only. The .pyc are hash-based and unchecked (PEP 552,
`--invalidation-mode unchecked-hash`): a timestamp-based .pyc records its source's mtime, which the deployment
zip does not keep exactly (2-second DOS times, no time zone), so Lambda would find every one stale and compile
again; an unchecked one is used without looking at the source, which nothing changes after the build. Every file
is compiled afresh (a .pyc left over from a source tree or an earlier build is overwritten), with this
interpreter, which must be the template's runtime: a .pyc of another Python version is silently ignored.

    python scripts/compile_build.py [.aws-sam/build]
"""

from __future__ import annotations

import argparse
import compileall
import re
import sys
from pathlib import Path
from py_compile import PycInvalidationMode

ROOT = Path(__file__).resolve().parents[1]


def template_runtimes(template: Path) -> set[str]:
    """The Python runtimes template.yaml names (`Runtime:`, `CompatibleRuntimes:`, `BuildMethod:`)."""
    return set(re.findall(r"\bpython(3\.\d+)\b", template.read_text(encoding="utf-8")))


def compile_tree(build_dir: Path) -> bool:
    """Compile every .py under `build_dir` to an unchecked hash-based .pyc; False if one does not compile."""
    return bool(
        compileall.compile_dir(
            build_dir, quiet=1, force=True, invalidation_mode=PycInvalidationMode.UNCHECKED_HASH, workers=1
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("build_dir", type=Path, nargs="?", default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    args = parser.parse_args(argv)
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    runtimes = template_runtimes(args.template)
    if runtimes != {mine}:
        print(f"compile_build: this is Python {mine}; the template's runtime is {sorted(runtimes)}", file=sys.stderr)
        return 2
    if not args.build_dir.is_dir():
        print(f"compile_build: no {args.build_dir} (run sam build first)", file=sys.stderr)
        return 2
    return 0 if compile_tree(args.build_dir) else 1


if __name__ == "__main__":
    raise SystemExit(main())
