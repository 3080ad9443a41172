"""The docs name every check id, and every link from a check lands on a section."""

from __future__ import annotations

import re
from pathlib import Path

from wsapp.health import CHECKS

ROOT = Path(__file__).resolve().parent.parent
TROUBLESHOOTING = (ROOT / "docs" / "troubleshooting.md").read_text()


def slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_check_anchor_is_a_section():
    anchors = {slug(line[3:]) for line in TROUBLESHOOTING.splitlines() if line.startswith("## ")}
    for info in CHECKS.values():
        assert info.anchor in anchors, f"{info.id} links to a missing section #{info.anchor}"


def test_every_system_check_links_to_a_section():
    from wsapp.health import SYSTEM_CHECK_ANCHORS

    source = (ROOT / "wsapp" / "checks.py").read_text()
    anchors = {slug(line[3:]) for line in TROUBLESHOOTING.splitlines() if line.startswith("## ")}
    for check_id in set(re.findall(r'id="(wsapp\.[EW]\d{3})"', source)):
        assert SYSTEM_CHECK_ANCHORS[check_id] in anchors, check_id


def test_every_check_id_is_documented():
    source = (ROOT / "wsapp" / "checks.py").read_text()
    system_ids = set(re.findall(r'id="(wsapp\.[EW]\d{3})"', source))
    assert system_ids, "no system check ids found"
    for check_id in system_ids | set(CHECKS):
        assert f"`{check_id}`" in TROUBLESHOOTING, f"{check_id} is not in troubleshooting.md"


def test_readme_links_resolve():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), f"README links to missing {target}"
