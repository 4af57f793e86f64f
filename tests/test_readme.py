"""The documentation's examples run: the Python API block, the config file, and every CLI line parses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from livebokeh._cli import build_parser
from livebokeh._cli.common import apply_config, effect_options, matte_options
from livebokeh.effect_kinds import Bokeh
from livebokeh.sources.sample import sample_path

REPO = Path(__file__).resolve().parent.parent
USAGE = REPO / "docs" / "usage.md"
README = REPO / "README.md"


def section(text: str, heading: str) -> str | None:
    """The body of the markdown section titled ``heading``, up to the next heading of its level or higher.

    Lines inside fenced code blocks are never headings (``# a comment`` in a python block).
    """
    lines = text.splitlines(keepends=True)
    fenced = False
    start = level = None
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else re.match(r"(#+)\s+(.*?)\s*$", line)
        if m is None:
            continue
        if start is None:
            if m.group(2) == heading:
                start, level = i + 1, len(m.group(1))
        elif len(m.group(1)) <= (level or 0):
            return "".join(lines[start:i])
    return "".join(lines[start:]) if start is not None else None


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def api_example() -> tuple[Path, str]:
    """The ```python block under "Python API": from the README if it has the section, else docs/usage.md."""
    for doc in (README, USAGE):
        if doc.is_file():
            body = section(doc.read_text(encoding="utf-8"), "Python API")
            if body is not None:
                blocks = code_blocks(body, "python")
                assert blocks, f"{doc.name}: the Python API section has no ```python block"
                return doc, blocks[0]
    pytest.fail("neither README.md nor docs/usage.md has a 'Python API' section")


def test_python_api_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc, code = api_example()
    assert len(code.strip().splitlines()) <= 20, f"{doc.name}: the API example should stay about 15 lines"
    with av.open(str(sample_path())) as container:  # a real portrait for the example to read
        cv2.imwrite(str(tmp_path / "portrait.jpg"), next(container.decode(video=0)).to_ndarray(format="bgr24"))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    exec(compile(code, f"{doc.name}:Python API", "exec"), namespace)  # noqa: S102 - running our own docs
    out = cv2.imread(str(tmp_path / "portrait-bokeh.jpg"))
    src = cv2.imread(str(tmp_path / "portrait.jpg"))
    assert out is not None and out.shape == src.shape
    assert np.abs(out.astype(int) - src).mean() > 1.0  # the background really changed
    pipeline = namespace["pipeline"]
    summary = pipeline.stats.summary()  # type: ignore[attr-defined]
    assert summary["frames_composited"] > 0 and summary["inference_count"] > 0


@pytest.mark.parametrize("doc", [README, USAGE], ids=lambda doc: doc.name)
def test_config_example_is_valid(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "none"))
    blocks = code_blocks(doc.read_text(encoding="utf-8"), "toml")
    assert blocks, f"{doc.name} has no ```toml example"
    cfg = tmp_path / "config.toml"
    cfg.write_text(blocks[0], encoding="utf-8")
    parser = build_parser()
    for argv in (["--config", str(cfg), "live"], ["--config", str(cfg), "convert", "in.mp4", "-o", "out.mp4"]):
        args = parser.parse_args(argv)
        apply_config(parser, args, argv)  # raises ConfigError on any unknown key or bad value
        assert effect_options(args).effect == Bokeh() and matte_options(args).subject == "main"


def cli_lines() -> list[str]:
    lines = []
    for doc in (USAGE, README):
        if not doc.is_file():
            continue
        for block in code_blocks(doc.read_text(encoding="utf-8"), "bash"):
            for line in block.splitlines():
                for part in line.split("&&"):
                    part = part.split("#", 1)[0].strip()
                    if part.startswith("livebokeh "):
                        lines.append(part)
    return lines


@pytest.mark.parametrize("line", cli_lines())
def test_every_documented_command_line_parses(line: str) -> None:
    parser = build_parser()
    try:
        parser.parse_args(shlex.split(line)[1:])
    except SystemExit as exc:  # argparse exits 2 on an unknown flag; --help and friends exit 0
        assert exc.code == 0, f"documented command does not parse: {line}"


def test_the_public_api_is_what_the_readme_names_once_each() -> None:
    """Every name the Python API section uses is exported, and no exported object has two names."""
    import livebokeh

    body = section(README.read_text(encoding="utf-8"), "Python API")
    assert body is not None
    prose = re.sub(r"^```.*?^```", "", body, flags=re.MULTILINE | re.DOTALL)
    used = set()
    for span in re.findall(r"`([^`]+)`", prose):
        m = re.match(r"([A-Za-z_]\w*)(\()?", span.removeprefix("livebokeh."))
        if m and (m.group(1)[0].isupper() or m.group(2)):  # a class, or a function called
            used.add(m.group(1))
    for block in code_blocks(body, "python"):
        for names in re.findall(r"^from livebokeh import (.+)$", block, flags=re.MULTILINE):
            used.update(n.strip() for n in names.split(","))
    assert {"Effect", "Pipeline", "Segmenter", "LivebokehError", "open_source"} <= used  # the scan works
    assert used <= set(livebokeh.__all__), f"documented but not exported: {sorted(used - set(livebokeh.__all__))}"
    objects = [getattr(livebokeh, name) for name in livebokeh.__all__ if name != "__version__"]
    assert len({id(o) for o in objects}) == len(objects), "one object exported under two names"


def test_the_architecture_section_names_files_that_exist() -> None:
    """Every path in README's Architecture section is a module or package of ``livebokeh/``.

    In the table a bare file name (``sample.py``) lies in the folder of the first path of its row;
    a folder (``people/``) is a package of ``livebokeh/``.
    """
    body = section(README.read_text(encoding="utf-8"), "Architecture")
    assert body is not None, "README.md has no Architecture section"
    package = REPO / "livebokeh"
    named: list[Path] = []
    for block in code_blocks(body, "text"):
        named += [package / word for word in re.findall(r"[\w/]+\.py|\w+/", block)]
    rows = [line for line in body.splitlines() if line.startswith("|") and "`" in line]
    for row in rows:
        spans = [s for s in re.findall(r"`([^`]+)`", row) if s.endswith((".py", "/"))]
        folder = next((Path(s).parent for s in spans if "/" in s.rstrip("/")), Path())
        named += [package / (s if "/" in s else folder / s) for s in spans]
    assert len(named) > 30, "the scan found too few paths"
    missing = sorted({str(p.relative_to(REPO)) for p in named if not p.exists()})
    assert not missing, f"README Architecture names files that do not exist: {missing}"
