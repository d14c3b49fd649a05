"""The docs say what is true (issue 8 item 16): no placeholder links, no dead relative links, and the
tutorials' README names the notebooks that exist."""

import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listed.stdout.split()]


def test_links_are_real():
    files = markdown_files()
    assert ROOT / "README.md" in files
    for md in files:
        for target in LINK.findall(md.read_text(encoding="utf-8")):
            url = urlparse(target)
            if url.scheme in ("http", "https"):
                assert url.path.strip("/"), f"{md.name}: {target} is a placeholder, not a page"
            elif not url.scheme:
                assert (md.parent / url.path).exists(), f"{md.name}: {target} points at nothing"


def test_the_loom_link_names_its_repository():
    assert "[Loom](https://github.com/treetopdevs/loom)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_tutorials_readme_names_every_notebook_and_promises_nothing_landed():
    text = (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks and all(f"`{name}`" in text for name in notebooks)
    assert not re.search(r"\b(land|landed|until then)\b", text, re.IGNORECASE)
