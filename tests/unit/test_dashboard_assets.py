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
