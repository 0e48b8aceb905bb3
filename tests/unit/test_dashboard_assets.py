"""The dashboard's JavaScript modules parse (node), and every text the page marks for
translation has its Vietnamese — checked without a browser, in a second."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "services" / "alerts" / "api" / "static"
MODULES = sorted((STATIC / "js").glob("*.js"))


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_each_module_parses(module: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "node is missing: run `make setup`"
    done = subprocess.run([node, "--input-type=module", "--check"], stdin=module.open(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_every_marked_text_of_the_page_has_its_vietnamese() -> None:
    page = (STATIC / "index.html").read_text()
    marked = set(re.findall(r"data-i18n>([^<]+)<", page))
    marked |= set(re.findall(r'data-i18n-placeholder="([^"]+)"', page))
    dictionary = (STATIC / "js" / "i18n.js").read_text()
    missing = sorted(text for text in marked if f'"{text}":' not in dictionary)
    assert len(marked) > 25 and missing == []


def test_every_text_the_modules_translate_has_its_vietnamese() -> None:
    """Texts the modules write at run time: each literal passed to t(), and the labels of the
    funnel, the venue panel and the feed that go through t() by name."""
    dictionary = (STATIC / "js" / "i18n.js").read_text()
    texts: set[str] = set()
    for module in MODULES:
        source = module.read_text()
        texts |= set(re.findall(r'\b(?:t|tr)\("([^"]+)"\)', source))
        for table in re.findall(r"const (?:LABELS|ACTIONS|RISK) = \{(.*?)\};", source, re.S):
            texts |= set(re.findall(r':\s*"([^"]+)"', table))
    missing = sorted(text for text in texts if f'"{text}":' not in dictionary)
    assert len(texts) > 30 and missing == []
