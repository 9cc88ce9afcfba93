"""Every code block in README.md and docs/*.md runs as written, and every path it names exists.

Per file, in document order, in one temporary working directory (so ``runs/...`` outputs land
there), under one time budget:

- a ```` ```python ```` block is executed with ``exec``, all blocks of a file in one namespace;
- a block whose info string names a file after the language (```` ```csv students.csv ````)
  is written to that file, so later blocks can read it, as a reader would save it;
- in a ```` ```bash ```` block, each ``jaxnet ...`` command that :data:`CHEAP` matches runs
  in-process through ``jaxnet.cli.main`` and must exit 0; every other ``jaxnet`` command is
  parsed (so its flags must exist) but not run; other lines (make, python, pip) are skipped.

Files that do not exist yet are skipped (docs/design.md and docs/sweeps.md are written apart).
"""

import contextlib
import io
import re
import shlex
import signal
from pathlib import Path

import pytest

from jaxnet import cli

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(
    {"README.md", "docs/design.md", "docs/sweeps.md"}
    | {str(p.relative_to(ROOT)) for p in ROOT.glob("docs/*.md")}
)
BUDGET_S = 300  # per file: a guard against a hang, far above the few seconds they take

# jaxnet commands cheap enough to run here: help, the tutorial, predictions, a small check.
CHEAP = re.compile(
    r"jaxnet (--help|--version|\w+ --help|tutorial( |$)|predict |gradcheck --sizes 2,3,1 )"
)
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.M | re.S)

# Files the README links to that are not in the repository yet (none now).
PENDING: set[str] = set()


def blocks(text: str) -> list[tuple[str, str | None, str]]:
    """``(language, file name or None, code)`` of every fenced block, in order."""
    out = []
    for match in FENCE.finditer(text):
        info = match.group(1).split()
        out.append((info[0] if info else "", info[1] if len(info) > 1 else None, match.group(2)))
    return out


def commands(code: str) -> list[list[str]]:
    """The ``jaxnet`` commands of a bash block as argv lists (continuations joined)."""
    joined = re.sub(r"\\\n", " ", code)
    argvs = [shlex.split(line, comments=True) for line in joined.splitlines()]
    argvs = [a[:-1] if a and a[-1] == "&" else a for a in argvs]  # `cmd &`: run in background
    return [a for a in argvs if a and a[0] == "jaxnet"]


def run_command(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            rc = cli.main(argv[1:])
        except SystemExit as e:  # --help and --version exit from argparse
            rc = e.code
    return rc, out.getvalue()


@contextlib.contextmanager
def time_budget(seconds: int):
    def expired(signum, frame):
        raise TimeoutError(f"the blocks took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_commands_are_split_like_a_shell():
    code = "jaxnet train --dataset digits \\\n   --steps 5   # a comment\nmake run\njaxnet --help\n"
    assert commands(code) == [
        ["jaxnet", "train", "--dataset", "digits", "--steps", "5"],
        ["jaxnet", "--help"],
    ]
    text = "x\n```csv a.csv\nid,v\n1,2\n```\n```python\nprint(1)\n```\n```\nplain\n```\n"
    assert blocks(text) == [
        ("csv", "a.csv", "id,v\n1,2\n"),
        ("python", None, "print(1)\n"),
        ("", None, "plain\n"),
    ]


@pytest.mark.parametrize("name", FILES)
def test_every_block_runs(name, tmp_path, monkeypatch):
    path = ROOT / name
    if not path.exists():
        pytest.skip(f"{name} is not in the repository yet")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    with time_budget(BUDGET_S):
        for i, (language, filename, code) in enumerate(blocks(path.read_text()), 1):
            where = f"{name} block {i}"
            if filename is not None:
                Path(filename).write_text(code)
            elif language == "python":
                exec(compile(code, where, "exec"), namespace)
            elif language == "bash":
                for argv in commands(code):
                    if CHEAP.match(" ".join(argv) + " "):
                        rc, out = run_command(argv)
                        assert rc == 0, f"{where}: {shlex.join(argv)} exited {rc}:\n{out}"
                    else:
                        cli.build_parser().parse_args(cli.join_negative_values(argv[1:]))


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
CODE_PATH = re.compile(r"`((?:jaxnet|docs|experiments|scripts|tests)/[\w./-]*)`")


@pytest.mark.parametrize("name", FILES)
def test_every_linked_or_named_path_exists(name):
    path = ROOT / name
    if not path.exists():
        pytest.skip(f"{name} is not in the repository yet")
    text = path.read_text()
    targets = {t for t in LINK.findall(text) if "://" not in t and not t.startswith("mailto:")}
    named = set(CODE_PATH.findall(text))
    missing = [
        t
        for t in sorted(targets | named)
        if not (path.parent / t).exists() and not (ROOT / t).exists() and t not in PENDING
    ]
    assert missing == [], f"{name} points to files the repository does not have: {missing}"
