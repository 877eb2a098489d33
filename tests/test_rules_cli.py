"""`digest rules list / test / apply` and `digest stories --hidden`, end to end on a real store."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from helpers_digest import story

from digest.cli import Ctx, main
from digest.core.paths import Paths
from digest.core.store import Store

RULES = """
[[rules]]
name = "No sponsored posts"
action = "hide"
words = ["sponsored"]

[[rules]]
action = "keep"
fields = ["title"]
regex = "keeper"

[[rules]]
action = "boost"
boost = 3
fields = ["feed"]
words = ["calm"]
"""


def cli(paths: Paths, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def setup(paths: Paths, config: str = RULES) -> None:
    paths.config_file.write_text(config, encoding="utf-8")
    with Store(paths.db_file) as s:
        a = s.add_feed("https://noisy.example/feed.xml", title="Noisy")
        b = s.add_feed("https://calm.example/feed.xml", title="Calm")
        s.save_stories(a.id, [story(1, feed="a", title="Sponsored: widgets"),
                              story(2, feed="a", title="Sponsored keeper story"),
                              story(3, feed="a", title="Plain news")])
        s.save_stories(b.id, [story(1, feed="b", title="Calm thoughts"), story(2, feed="b", title="More calm")])


def test_rules_list_test_apply_and_stories_hidden(digest_home: Paths) -> None:
    setup(digest_home)
    code, out, _ = cli(digest_home, "rules", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == [
        'rules[0]  No sponsored posts: hide: title, summary ~ "sponsored"  (matches 2 stored stories)',
        "rules[1]  keep: title ~ /keeper/  (matches 1 stored story)",
        'rules[2]  boost +3: feed ~ "calm"  (matches 2 stored stories)',
    ]
    assert lines[3].startswith("3 rules, NOT yet applied")

    code, out, _ = cli(digest_home, "rules", "test", "0", "--limit", "1")
    assert code == 0
    assert out.splitlines()[0] == ("rules[0] No sponsored posts: 2 stories (would hide 1: the others are kept by a "
                                   "keep rule)")
    assert "Sponsored keeper story" in out.splitlines()[1]  # the newest of the two
    assert len(out.splitlines()) == 2
    code, out, _ = cli(digest_home, "rules", "test", "1")
    assert out.splitlines()[0] == "rules[1] keep: title ~ /keeper/: 1 story"  # not "1 stories"
    code, out, _ = cli(digest_home, "rules", "test")
    assert "all rules together: 1 hidden, 1 kept, 2 boosted of 5 stories; NOT yet applied" in out
    code, _, err = cli(digest_home, "rules", "test", "7")
    assert code == 2 and "no rule 7 (the config has rules[0] to rules[2])" in err

    code, out, _ = cli(digest_home, "rules", "apply")
    assert code == 0
    assert out.startswith("rules applied to 5 stories in ") and "1 hidden, 1 kept, 2 boosted (4 changed)" in out
    _, out, _ = cli(digest_home, "rules", "list")
    assert out.splitlines()[-1] == "3 rules, applied to the stored stories"

    code, out, _ = cli(digest_home, "stories", "--hidden")
    assert code == 0 and [ln.split(None, 1)[0] for ln in out.splitlines()] and "Sponsored: widgets" in out
    assert len(out.splitlines()) == 1
    _, out, _ = cli(digest_home, "stories", "--hidden", "--json")
    assert [s["title"] for s in json.loads(out)] == ["Sponsored: widgets"]
    _, out, _ = cli(digest_home, "stories")
    assert "Sponsored: widgets" not in out and len(out.splitlines()) == 4

    _, out, _ = cli(digest_home, "config", "show")
    assert '\n[[rules]]\nname = "No sponsored posts"\naction = "hide"\nwords = ["sponsored"]\n' in out


def test_no_rules_and_bad_rules(digest_home: Paths) -> None:
    setup(digest_home, config="")
    code, out, err = cli(digest_home, "rules", "list")
    assert code == 0 and out == "" and "no [[rules]] in" in err
    code, out, _ = cli(digest_home, "rules", "apply")
    assert code == 0 and out.startswith("no rules: marks cleared from 0 stories")
    digest_home.config_file.write_text('[[rules]]\naction = "hide"\nwords = ["x"]\nboost = 3\n', encoding="utf-8")
    for argv in (("rules", "list"), ("rules", "apply"), ("config", "check")):
        code, _, err = cli(digest_home, *argv)
        assert code == 2 and 'rules[0].boost: only with action = "boost"' in err, (argv, err)


def test_rules_apply_is_cron_safe(digest_home: Paths) -> None:
    """No terminal, no prompt, nothing in the environment but PATH and DIGEST_HOME."""
    setup(digest_home)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DIGEST_HOME": str(digest_home.config_dir)}
    r = subprocess.run([sys.executable, "-m", "digest", "rules", "apply"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "1 hidden, 1 kept, 2 boosted" in r.stdout
    r = subprocess.run([sys.executable, "-m", "digest", "stories", "--hidden", "--json"], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert [s["title"] for s in json.loads(r.stdout)] == ["Sponsored: widgets"]
