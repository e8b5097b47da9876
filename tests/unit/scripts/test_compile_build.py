"""scripts/compile_build.py: the built functions and layer get unchecked hash-based .pyc (PEP 552), in process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from scripts.compile_build import ROOT, main, template_runtimes

UNCHECKED_HASH = 0b01  # PEP 552 flags: bit 0 hash-based, bit 1 check_source (unset: never checked)


def built_tree(root: Path) -> list[Path]:
    """A `.aws-sam/build`-shaped tree: a function, the layer with a package, a stale timestamp .pyc."""
    sources = [
        root / "ApiFunction" / "app.py",
        root / "CoreLayer" / "python" / "challenger_core" / "__init__.py",
        root / "CoreLayer" / "python" / "challenger_core" / "serving.py",
        root / "CoreLayer" / "python" / "pydantic_like" / "deep" / "module.py",
    ]
    for number, source in enumerate(sources):
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(f"VALUE = {number}\n", encoding="utf-8")
    # A .pyc copied from a source tree (timestamp-based, as a local test run leaves it): it must be replaced.
    stale = Path(importlib.util.cache_from_source(str(sources[0])))
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little") + b"\0" * 8)
    return sources


def flags_of(source: Path) -> int:
    pyc = Path(importlib.util.cache_from_source(str(source)))
    header = pyc.read_bytes()[:16]
    assert header[:4] == importlib.util.MAGIC_NUMBER  # this interpreter's, i.e. the runtime's (checked by main)
    return int.from_bytes(header[4:8], "little")


def template(tmp_path: Path, runtime: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(f"Globals:\n  Function:\n    Runtime: {runtime}\n", encoding="utf-8")
    return path


def this_python() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def test_every_module_gets_an_unchecked_hash_pyc(tmp_path: Path) -> None:
    build = tmp_path / "build"
    sources = built_tree(build)
    assert main([str(build), "--template", str(template(tmp_path, this_python()))]) == 0
    assert [flags_of(source) for source in sources] == [UNCHECKED_HASH] * len(sources)


def test_an_unchecked_pyc_is_what_python_imports_even_when_the_source_looks_newer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What Lambda's zip does to mtimes: the source's no longer matches; an unchecked .pyc does not care.
    build = tmp_path / "build"
    source = build / "ApiFunction" / "probe_compiled_module.py"
    source.parent.mkdir(parents=True)
    source.write_text("VALUE = 'compiled'\n", encoding="utf-8")
    assert main([str(build), "--template", str(template(tmp_path, this_python()))]) == 0
    source.write_text("VALUE = 'source'\n", encoding="utf-8")  # new mtime and content: never read
    monkeypatch.syspath_prepend(str(source.parent))
    monkeypatch.delitem(sys.modules, "probe_compiled_module", raising=False)
    module = importlib.import_module("probe_compiled_module")
    monkeypatch.delitem(sys.modules, "probe_compiled_module")
    assert module.VALUE == "compiled"


def test_a_module_that_does_not_compile_fails_the_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build = tmp_path / "build"
    built_tree(build)
    (build / "ApiFunction" / "broken.py").write_text("def (:\n", encoding="utf-8")
    assert main([str(build), "--template", str(template(tmp_path, this_python()))]) == 1
    assert "broken.py" in capsys.readouterr().out


def test_another_python_than_the_runtime_refuses(tmp_path: Path) -> None:
    build = tmp_path / "build"
    built_tree(build)
    assert main([str(build), "--template", str(template(tmp_path, "python3.9"))]) == 2
    assert len(list(build.rglob("*.pyc"))) == 1  # only the stale one the tree started with


def test_the_template_names_one_python_runtime() -> None:
    assert template_runtimes(ROOT / "template.yaml") == {"3.13"}
