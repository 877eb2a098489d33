"""`pip install .` gives a working tool: the wheel ships sample_feeds/ and themes/, and the installed
`digest` finds them from any directory (no checkout on the path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from feedserver import simple_rss

REPO = Path(__file__).resolve().parent.parent
SAMPLE_FILES = ["feeds.opml", "seattle-news.xml", "startups.xml", "jobs.xml", "events.xml", "devlog.atom",
                "climate.json"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    [whl] = out.glob("digest_news-*.whl")
    return whl


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in SAMPLE_FILES:
        assert f"digest/_data/sample_feeds/{f}" in names, f
    assert any(n.startswith("digest/_data/themes/") for n in names), "themes/ is not in the wheel"
    assert "digest/__main__.py" in names and "digest/core/store/__init__.py" in names
    assert not any(n.startswith("tests/") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "digest = digest.cli:console" in zipfile.ZipFile(wheel).read(entry_points).decode()
    # the distribution's own name (`digest` on the index is another project), and the version written
    # once, in digest/__init__.py
    from digest import __version__

    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "\nName: digest-news\n" in metadata and f"\nVersion: {__version__}\n" in metadata


def _borrow_dependencies(py: Path) -> None:
    """Make the wheel's dependencies importable in the new venv from the environment running the tests.

    The test environment was installed from pyproject.toml, so it holds exactly the dependencies the wheel
    declares (a venv with --system-site-packages would see the *base* interpreter's packages instead, which
    on a clean machine lack pycurl and friends). A plain path line in a .pth file puts those site-packages
    after the venv's own on sys.path without running *their* .pth files, so the checkout's editable install
    stays invisible and the wheel's copy of digest is the one imported (the test asserts that)."""
    paths = sysconfig.get_paths()
    ours = {paths["purelib"], paths["platlib"]}
    r = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       capture_output=True, text=True, check=True, timeout=60)
    (Path(r.stdout.strip()) / "_digest_test_deps.pth").write_text("\n".join(sorted(ours)) + "\n")


def test_installed_wheel_imports_sample_feeds_from_anywhere(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    _borrow_dependencies(py)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["DIGEST_HOME"] = str(tmp_path / "home")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)

    r = run(str(py), "-c", "import digest, digest.core.paths as p; print(digest.__file__); print(p.sample_feeds_dir())")
    assert r.returncode == 0, r.stderr
    module_file, sample_dir = r.stdout.split()
    assert str(venv) in module_file, "the installed wheel, not the checkout, must be imported"
    assert sample_dir.startswith(str(venv)) and sample_dir.endswith("_data/sample_feeds")

    opml = Path(sample_dir) / "feeds.opml"
    digest_cmd = str(venv / "bin" / "digest")
    r = run(digest_cmd, "feeds", "import", "--allow-files", str(opml))
    assert r.returncode == 0, r.stderr
    assert "imported 6 feeds" in r.stdout
    r = run(digest_cmd, "refresh", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"] == 6
    r = run(digest_cmd, "feeds", "list", "--json")
    assert all(f["url"].startswith(str(venv)) for f in json.loads(r.stdout))

    # 12+ feeds: parsing moves to worker processes, which must start cleanly under the console script
    more = elsewhere / "more"
    more.mkdir()
    outlines = []
    for i in range(8):
        (more / f"f{i}.xml").write_bytes(simple_rss(f"more{i}", 2))
        outlines.append(f'<outline text="f{i}" xmlUrl="f{i}.xml"/>')
    (more / "more.opml").write_text(f'<opml version="2.0"><body>{"".join(outlines)}</body></opml>')
    r = run(digest_cmd, "feeds", "import", "--allow-files", str(more / "more.opml"))
    assert r.returncode == 0, r.stderr
    r = run(digest_cmd, "refresh", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["feeds"] == 14 and report["ok"] == 8 and report["not_modified"] == 6, report
