"""The report page (index.html): what it holds, that stored text stays inert, the watch loop,
and the page itself in headless Chromium (skipped, with the reason, where there is none).

One store serves every test: a small real sweep (one compiled group), the synthetic sweep of
test_report (48 members, one diverged) under a description that tries to break out of the
page, and a hostile sweep whose name and config strings are markup, with nothing to plot.
"""

import contextlib
import importlib.util
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from helpers import SYNTHETIC_SPEC, fake_row, synthetic_rows

from jaxnet import store, sweep
from jaxnet.cli import main
from jaxnet.sweep import page
from jaxnet.sweep.page import markup, writer

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "report_screenshot.py"
XSS = "</script><img src=x onerror=alert(1)>"
HOSTILE_NAME = "<img src=x onerror=window.pwned=1>"
HOSTILE_ACTIVATION = '"><svg onload=window.pwned=2>'
HOSTILE_HIDDEN = "</td><script>window.pwned=3</script>"
HOSTILE_OPTIMIZER = "<b onmouseover=window.pwned=4>adam</b>"

REAL = """
name = "real"
description = "one compiled group on xor"
dataset = "xor"
evals = 4
curve_points = 10
[grid]
width = [4]
activation = ["tanh"]
learning_rate = [0.01, 0.1]
batch_size = [0]
steps = [20]
seed = [0, 1]
"""
HOSTILE_SPEC = f"""
name = "hostile"
description = "{XSS}"
dataset = "xor"
metric = "test_accuracy"
[grid]
seed = [0, 1]
"""


def _ids(spec: str) -> list[str]:
    """The config ids of a sweep file's configs, in file order (rows made with them are the
    file's own, not rows of an earlier version of it)."""
    parsed = sweep.parse(spec)
    return [sweep.config_id(parsed.name, c) for c in sweep.expand(parsed, "classification")]


def _hostile_rows() -> list[dict]:
    return [
        fake_row(
            _ids(HOSTILE_SPEC)[i],
            activation=HOSTILE_ACTIVATION if i == 0 else "tanh",
            hidden=HOSTILE_HIDDEN if i == 0 else "8",
            optimizer=HOSTILE_OPTIMIZER,  # the same for both: listed above the table
            seed=i,
            test_accuracy=None,
            best_val_loss=float("nan") if i else 0.5,  # NaN must not break the inline JSON
            final_val_loss="<i>text</i>" if i else 0.25,  # a REAL column holding text
        )
        for i in range(2)
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """``(store path, report folder, stdout of jaxnet report)`` of the three-sweep store."""
    root = tmp_path_factory.mktemp("page")
    toml = root / "real.toml"
    toml.write_text(REAL)
    db = root / "runs.sqlite"
    # the real sweep through the CLI, --report included: the page must come with it (the
    # figures are drawn once, below)
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()) as out:
        patch.setattr(writer, "_draw_figures", lambda *a: ([], "not drawn here"))
        assert main(["sweep", str(toml), "--store", str(db), "--report", str(root / "first")]) == 0
    (root / "sweep.out").write_text(out.getvalue())  # what the terminal showed
    assert len(_boot(root / "first")["sweeps"][0]["members"]) == 4
    with store.opened(db) as conn:
        spec = SYNTHETIC_SPEC.replace(
            'dataset = "digits"', f'description = "{XSS}"\ndataset = "digits"'
        )
        sweep_id = store.add_sweep(conn, "synthetic", spec, "h1")
        store.insert_runs(conn, sweep_id, synthetic_rows())
        sweep_id = store.add_sweep(conn, HOSTILE_NAME, HOSTILE_SPEC, "h2")
        store.insert_runs(conn, sweep_id, _hostile_rows())
    return db, root / "report"


@pytest.fixture(scope="module")
def report_dir(site):
    db, out = site
    assert main(["report", str(db), "--out", str(out)]) == 0
    return out


def _boot(out: Path) -> dict:
    text = (out / "index.html").read_text()
    block = re.search(
        r'<script type="application/json" id="jaxnet-data">(.*?)</script>', text, re.S
    )
    return json.loads(block.group(1))


def _stored(db, name) -> list[dict]:
    with store.opened(db, must_exist=True) as conn:
        return store.runs(conn, name)


# --- the page's content, no browser -----------------------------------------------------------


def test_every_sweep_gets_a_section_and_its_figures_a_folder(site, report_dir):
    db, out = site
    boot = _boot(report_dir)
    assert [s["name"] for s in boot["sweeps"]] == ["real", "synthetic", HOSTILE_NAME]
    assert [len(s["members"]) for s in boot["sweeps"]] == [4, 48, 2]
    # several sweeps, none chosen: each sweep's PNGs in a folder of its own, named safely
    assert sorted(p.name for p in (report_dir / "sweep0-real").glob("*.png")) == [
        "heatmap.png",
        "loss_curves.png",
        "lr_sensitivity.png",
        "params.png",
    ]
    assert (report_dir / "sweep1-synthetic" / "heatmap.png").is_file()
    assert not list(report_dir.glob("sweep2-*/*.png"))  # nothing to plot: a note instead
    text = (report_dir / "index.html").read_text()
    assert (
        "No figures yet: sweep &#x27;&lt;img src=x onerror=window.pwned=1&gt;&#x27; has no runs"
        in text
    )


def test_the_page_shows_what_the_store_knows_and_says_what_it_does_not(site, report_dir):
    real = _boot(report_dir)["sweeps"][0]
    facts = dict(real["facts"])
    assert facts["configs"] == "4 (4 trained)" and facts["groups"] == "1"
    # the counts the terminal printed, stored with the call that printed them
    printed = (site[0].parent / "sweep.out").read_text()
    programs, hits = re.search(r"(\d+) programs compiled, (\d+) loaded", printed).groups()
    assert (facts["programs compiled"], facts["compile cache hits"]) == (programs, hits)
    assert re.fullmatch(r"\d+\.\d s", facts["sweep wall time"])
    assert facts["jaxnet"] == "0.1.0" and facts["device"].startswith("cpu")
    assert re.fullmatch(r"\d+% of group time", facts["compile share"])
    synthetic = dict(_boot(report_dir)["sweeps"][1]["facts"])
    # test_report's SPEC has 2 x 2 x 2 x 2 x 3 = 48 configs, all stored, one diverged
    assert synthetic["configs"] == "48 (48 trained, 1 diverged)"


def test_cells_are_formatted_as_the_terminal_table_formats_them(report_dir):
    synthetic = _boot(report_dir)["sweeps"][1]
    keys = [c["key"] for c in synthetic["columns"]]
    # only what varies is a column; the rest is listed once
    # what varies, the status, then the metrics, the sweep's ranking metric first
    assert keys[:9] == [
        "hidden",
        "depth",
        "width",
        "activation",
        "learning_rate",
        "seed",
        "n_params",
        "status",
        "best_val_accuracy",
    ]
    assert "optimizer" not in keys and set(keys[9:]) < set(sweep.METRICS)
    assert "optimizer adam" in synthetic["fixed"]
    first = synthetic["members"][0]  # depth 1, width 8, relu, lr 0.01, seed 0
    cell = dict(zip(keys, first["text"]))
    assert cell["best_val_accuracy"] == "67.00%"  # 0.5 + 0.1 + 0.08 - 0.01
    assert cell["best_val_loss"] == "0.15" and cell["learning_rate"] == "0.01"
    assert cell["hidden"] == "8" and cell["status"] == "completed"
    assert first["label"] == "8 relu lr 0.01 seed 0"  # the curve's name in the legend
    bad = [m for m in synthetic["members"] if m["diverged"]]
    assert len(bad) == 1 and dict(zip(keys, bad[0]["text"]))["status"] == "diverged at step 50"


def test_markup_in_the_store_stays_text_in_the_html(report_dir):
    text = (report_dir / "index.html").read_text()
    for payload in (XSS, HOSTILE_NAME, HOSTILE_ACTIVATION, HOSTILE_HIDDEN, HOSTILE_OPTIMIZER):
        assert payload not in text
    for tag in ("<img src=x", "<svg onload", "<script>window", "<b "):
        assert tag not in text
    # exactly two script blocks, the data and the code: nothing in the data closed one
    assert text.count("<script") == 2 and text.count("</script>") == 2
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in text  # the description
    boot = _boot(report_dir)
    assert boot["sweeps"][1]["description"] == XSS and boot["sweeps"][2]["name"] == HOSTILE_NAME


def test_json_for_script_escapes_what_could_end_the_block():
    text = markup._json_for_script({"a": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028"}
    assert markup._json_for_script({"x": None}) == '{"x":null}'


def test_nan_and_missing_values_become_dashes_and_nulls(report_dir):
    hostile = _boot(report_dir)["sweeps"][2]
    keys = [c["key"] for c in hostile["columns"]]
    nan_row = hostile["members"][1]
    assert dict(zip(keys, nan_row["text"]))["best_val_loss"] == "-"
    assert dict(zip(keys, nan_row["sort"]))["best_val_loss"] is None
    assert dict(zip(keys, nan_row["text"]))["final_val_loss"] == "-"
    assert dict(zip(keys, hostile["members"][0]["text"]))["final_val_loss"] == "0.25"
    assert "test_accuracy" not in keys  # no member has one


def test_report_refuses_an_unknown_sweep_and_a_missing_store(site, tmp_path, capsys):
    db, _ = site
    assert main(["report", str(db), "--out", str(tmp_path), "--sweep", "nope"]) == 2
    assert "no sweep 'nope'" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.sqlite"), "--out", str(tmp_path)]) == 2
    assert "no such results store" in capsys.readouterr().err
    assert main(["report", str(db), "--out", str(tmp_path), "--watch", "--interval", "0"]) == 2
    assert "interval must be a positive number" in capsys.readouterr().err
    assert not (tmp_path / "index.html").exists()


def test_an_empty_store_and_an_unreadable_spec_still_give_a_page(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "_draw_figures", lambda *a: ([], "not drawn in this test"))
    db = tmp_path / "s.sqlite"
    with store.opened(db):
        pass
    files = page.write_page(db, tmp_path / "out")
    assert "The store holds no sweeps yet." in files.page.read_text()
    with store.opened(db) as conn:
        store.insert_runs(conn, store.add_sweep(conn, "odd", "not = [valid", "h"), [fake_row("a")])
    page.write_page(db, tmp_path / "out")
    odd = _boot(tmp_path / "out")["sweeps"][0]
    assert (
        odd["note"]
        and len(odd["members"]) == 1
        and dict(odd["facts"])["configs"] == "? (1 trained)"
    )


def test_a_damaged_sweep_gets_a_note_instead_of_figures_and_the_page_is_still_written(tmp_path):
    db = tmp_path / "d.sqlite"
    with store.opened(db) as conn:  # fake_row's config has no loss: the figures cannot be drawn
        row = fake_row(_ids(HOSTILE_SPEC)[0])  # the file's own config id, a config without loss
        store.insert_runs(conn, store.add_sweep(conn, "d", HOSTILE_SPEC, "h"), [row])
        store.add_sweep(conn, "started", HOSTILE_SPEC, "h2")  # no group committed yet
    files = page.write_page(db, tmp_path / "out", "d")
    assert files.figures == [] and files.notes[0].startswith("d: the figures could not be drawn")
    assert (
        files.notes[1]
        == "started: sweep 'started' has no runs of its file's configs with a test_accuracy to plot yet"
    )
    started = _boot(tmp_path / "out")["sweeps"][1]
    assert (
        started["members"] == [] and dict(started["facts"])["configs"] == "2 (0 trained, 2 to go)"
    )


def test_facts_of_an_older_store_say_not_stored_and_junk_in_the_calls_is_skipped(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(writer, "_draw_figures", lambda *a: ([], "not drawn in this test"))
    db = tmp_path / "n.sqlite"
    with store.opened(db) as conn:  # a store as the landed main wrote it: no calls table
        sweep_id = store.add_sweep(conn, "synthetic", SYNTHETIC_SPEC, "h")
        rows = [{**r, "group_id": g} for r, g in zip(synthetic_rows(), ["g1", "g1", "g2"])]
        store.insert_runs(conn, sweep_id, rows)
    page.write_page(db, tmp_path / "out")
    facts = dict(_boot(tmp_path / "out")["sweeps"][0]["facts"])
    assert facts["programs compiled"] == facts["compile cache hits"] == "not stored"
    assert "sweep wall time" not in facts
    assert facts["groups"] == "2" and facts["training wall time"] == "3.0 s (groups added up)"
    assert facts["compile share"] == "33% of group time"  # 0.5 s of 1.5 s, twice
    with store.opened(db) as conn:  # two calls, one of them from a hostile writer
        store.record_call(conn, sweep_id, outcome="completed", engine="in-process",
                          programs=7, cache_hits=0, seconds=2.0)  # fmt: skip
        with conn:
            conn.execute(
                "INSERT INTO sweep_calls (sweep_id, ended, outcome, engine, programs_compiled, "
                "cache_hits, wall_seconds) VALUES (?, 'x', 'completed', 'x', 'lots', 3, 1.5)",
                (sweep_id,),
            )
    page.write_page(db, tmp_path / "out")
    facts = dict(_boot(tmp_path / "out")["sweeps"][0]["facts"])
    assert facts["programs compiled"] == "7 (in 2 runs of the sweep)"
    assert facts["compile cache hits"] == "3 (in 2 runs of the sweep)"
    assert facts["sweep wall time"] == "3.5 s"


def test_the_old_name_write_report_warns_and_writes_the_page(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "_draw_figures", lambda *a: ([], "not drawn in this test"))
    db = tmp_path / "o.sqlite"
    with store.opened(db) as conn:
        store.insert_runs(conn, store.add_sweep(conn, "o", HOSTILE_SPEC, "h"), [fake_row("a")])
    assert sweep.write_report is page.write_report
    with pytest.warns(DeprecationWarning, match="renamed jaxnet.sweep.write_page"):
        files = sweep.write_report(db, tmp_path / "out", watching=True)
    assert files.page == tmp_path / "out" / "index.html"
    assert files.notes == ["o: not drawn in this test"]
    assert _boot(tmp_path / "out")["watching"] is True


@pytest.mark.parametrize(
    "name, folder",
    [
        ("..", "sweep1-sweep"),
        ("../../etc", "sweep1-etc"),
        ("a/b c", "sweep1-a_b_c"),
        ("ok-1", "sweep1-ok-1"),
    ],
)
def test_figure_folders_of_other_sweeps_stay_inside_the_report(name, folder):
    entries = [{"name": "first"}, {"name": name}]
    assert writer._figure_dir(entries, name, "first") == folder
    assert writer._figure_dir(entries, "first", "first") == ""  # the chosen one: beside the page


def test_bad_arguments_are_refused_before_anything_is_written(site, tmp_path, capsys):
    db, _ = site
    with pytest.raises(sweep.SweepError, match="metric must be one of"):
        page.write_page(db, tmp_path / "out", metric="accuracy")
    for interval in (0, -1.0, float("nan"), "3"):
        with pytest.raises(ValueError, match="interval must be a positive number"):
            page.watch(db, tmp_path / "out", interval=interval)
    assert not (tmp_path / "out").exists()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["report", str(db), "--out", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxnet report: error:") and len(err.splitlines()) == 1


def test_watch_rewrites_as_groups_commit_and_stops_when_complete(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "_draw_figures", lambda *a: ([], "not drawn in this test"))
    db, out = tmp_path / "w.sqlite", tmp_path / "out"
    spec = HOSTILE_SPEC.replace("seed = [0, 1]", "seed = [0, 1, 2]")
    n_configs = len(sweep.expand(sweep.parse(spec), "classification"))
    assert n_configs == 3
    with store.opened(db) as conn:
        sweep_id = store.add_sweep(conn, "w", spec, "h")
        store.insert_runs(conn, sweep_id, [fake_row(_ids(spec)[0], seed=0)])
    lines, first = [], threading.Event()

    def log(line):
        lines.append(line)
        if " runs -> " in line:
            first.set()

    result = {}
    watcher = threading.Thread(
        target=lambda: result.update(n=page.watch(db, out, interval=0.02, log=log)),
        daemon=True,  # a failed test must not leave pytest waiting for it
    )
    watcher.start()
    assert first.wait(20)
    assert _boot(out)["watching"] is True and (out / "stamp.js").is_file()
    with store.opened(db) as conn:  # the next group commits: two rows at once
        rows = [fake_row(_ids(spec)[i], seed=i) for i in (1, 2)]
        store.insert_runs(conn, sweep_id, rows)
    watcher.join(20)
    assert not watcher.is_alive() and result["n"] == 3  # first, after the commit, final
    assert lines[-1] == "every sweep in the store is complete"
    final = _boot(out)
    assert final["watching"] is False and len(final["sweeps"][0]["members"]) == 3
    assert "Watching the store" not in (out / "index.html").read_text()


def test_watching_a_complete_store_writes_the_final_page_and_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "_draw_figures", lambda *a: ([], "not drawn in this test"))
    db, out = tmp_path / "w.sqlite", tmp_path / "out"
    spec = HOSTILE_SPEC.replace("seed = [0, 1]", "seed = [0, 1, 2]")
    with store.opened(db) as conn:
        sweep_id = store.add_sweep(conn, "w", spec, "h")
        store.insert_runs(conn, sweep_id, [fake_row(c, seed=i) for i, c in enumerate(_ids(spec))])
    lines, result, stop = [], {}, threading.Event()
    watcher = threading.Thread(
        target=lambda: result.update(
            n=page.watch(db, out, interval=0.02, log=lines.append, stop=stop)
        )
    )
    watcher.start()
    watcher.join(10)  # as the README says: it ends when every sweep is complete -- at once
    stop.set()
    watcher.join(10)
    assert lines[-1] == "every sweep in the store is complete" and result["n"] == 2
    assert _boot(out)["watching"] is False


def test_watch_waits_for_a_store_that_does_not_exist_yet(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "_draw_figures", lambda *a: ([], "not drawn in this test"))
    stop, lines = threading.Event(), []
    db = tmp_path / "later.sqlite"
    watcher = threading.Thread(
        target=lambda: page.watch(db, tmp_path / "out", interval=0.02, log=lines.append, stop=stop)
    )
    watcher.start()
    time.sleep(0.1)
    with store.opened(db) as conn:
        store.insert_runs(conn, store.add_sweep(conn, "w", HOSTILE_SPEC, "h"), [fake_row("a")])
    deadline = time.monotonic() + 20
    while not (tmp_path / "out" / "index.html").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    watcher.join(20)
    assert lines[1] == f"waiting for {db} to appear" and (tmp_path / "out" / "index.html").exists()


# --- in a real browser ------------------------------------------------------------------------


def _browser_module():
    spec = importlib.util.spec_from_file_location("jaxnet_report_screenshot", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for every browser test of this module."""
    helper = _browser_module()
    reason = helper.missing()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    with helper.chromium() as driver:
        yield driver


@pytest.fixture
def opened(browser, report_dir):
    browser.get((report_dir / "index.html").as_uri())
    yield browser
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []  # no console error in any test


def _section(driver, i):
    return driver.find_element("css selector", f"#sweep-{i}")


def _row_ids(section) -> list[int]:
    return [
        int(tr.get_attribute("data-id")) for tr in section.find_elements("css selector", "tbody tr")
    ]


def test_page_loads_without_console_errors_and_lists_every_member(opened, site):
    db, _ = site
    for i, name in enumerate(["real", "synthetic", HOSTILE_NAME]):
        ids = _row_ids(_section(opened, i))
        assert sorted(ids) == sorted(r["id"] for r in _stored(db, name))


def test_clicking_a_metric_header_sorts_by_it(opened, site):
    db, _ = site
    rows = {r["id"]: r for r in _stored(db, "real")}
    real = _section(opened, 0)
    real.find_element("css selector", "button.more").click()  # every metric, final_val_loss too
    for key, reverse in (("final_val_loss", False), ("test_accuracy", True)):
        real.find_element("css selector", f'th[data-key="{key}"]').click()
        values = [rows[i][key] for i in _row_ids(real)]
        assert values == sorted(values, reverse=reverse)  # loss: low first; accuracy: high
        th = real.find_element("css selector", f'th[data-key="{key}"]')
        assert th.get_attribute("aria-sort") == ("descending" if reverse else "ascending")
    real.find_element("css selector", 'th[data-key="test_accuracy"]').click()  # again: flips
    values = [rows[i]["test_accuracy"] for i in _row_ids(real)]
    assert values == sorted(values)
    # the cells read as the terminal table writes them
    texts = [td.text for td in real.find_elements("css selector", "tbody td.metric")]
    assert f"{100 * values[0]:.2f}%" in texts


def _widths(driver, section) -> tuple[int, int]:
    wrap = section.find_element("css selector", ".table-wrap")
    return tuple(
        driver.execute_script("return [arguments[0].scrollWidth, arguments[0].clientWidth]", wrap)
    )


def _heads(section) -> list[str]:
    return [
        th.get_attribute("data-key") for th in section.find_elements("css selector", "th[data-key]")
    ]


def test_the_table_fits_a_1400_pixel_screen_and_more_metrics_shows_the_rest(opened):
    assert opened.execute_script("return innerWidth") == 1400
    for i in range(3):  # no sweep's table needs a horizontal scroll bar
        scroll, client = _widths(opened, _section(opened, i))
        assert scroll <= client, (i, scroll, client)
    synthetic = _section(opened, 1)  # ranked by best_val_accuracy; a test set; all 8 metrics
    first = _heads(synthetic)
    assert [k for k in first if k in sweep.METRICS] == ["best_val_accuracy", "test_accuracy"]
    more = synthetic.find_element("css selector", "button.more")
    assert more.text == "+6 more metrics" and more.get_attribute("aria-expanded") == "false"
    more.click()
    every = _heads(synthetic)
    assert set(every) - set(first) == set(sweep.METRICS) - {"best_val_accuracy", "test_accuracy"}
    row = synthetic.find_element("css selector", "tbody tr")
    assert len(row.find_elements("css selector", "td")) == len(every) + 1  # + the pick box
    assert "more" in opened.current_url  # kept in the address, with the rest of the state
    more.click()
    assert _heads(synthetic) == first and more.text == "+6 more metrics"


def test_rows_of_an_earlier_file_are_listed_last_and_never_ranked_among_the_others(
    browser, tmp_path, monkeypatch
):
    monkeypatch.setattr(writer, "_draw_figures", lambda *a: ([], "not drawn in this test"))
    db, out = tmp_path / "e.sqlite", tmp_path / "out"
    # the file ran with steps = 300 first: those rows would rank first (accuracy 1.0)
    old = [
        fake_row(f"old{i}", seed=i, steps=300, best_val_accuracy=1.0, test_accuracy=1.0)
        for i in range(3)
    ]
    with store.opened(db) as conn:
        store.insert_runs(conn, store.add_sweep(conn, "synthetic", "steps 300", "old"), old)
        sweep_id = store.add_sweep(conn, "synthetic", SYNTHETIC_SPEC, "new")
        store.insert_runs(conn, sweep_id, synthetic_rows())
    page.write_page(db, out)
    data = _boot(out)["sweeps"][0]
    facts = dict(data["facts"])
    assert facts["configs"] == "48 (48 trained, 1 diverged)"  # the file's own, nothing else
    assert facts["earlier versions"].startswith("3 rows of configs no longer in the file")
    assert [m["earlier"] for m in data["members"]] == [False] * 48 + [True] * 3
    browser.get((out / "index.html").as_uri())
    section = _section(browser, 0)
    old_ids = {r["id"] for r in _stored(db, "synthetic") if r["config_id"].startswith("old")}
    for clicks in range(3):  # the ranking, then best_val_accuracy ascending, then descending
        ids = _row_ids(section)
        assert set(ids[-3:]) == old_ids, clicks
        for tr in section.find_elements("css selector", "tbody tr")[-3:]:
            assert "earlier" in tr.get_attribute("class")
            assert tr.find_element("css selector", "td.status").text.endswith("earlier file")
        section.find_element("css selector", 'th[data-key="best_val_accuracy"]').click()
    count = section.find_element("css selector", ".count").text
    assert count == "51 of 51 members (3 of an earlier file, listed last)"
    # the curves drawn at first are the best three of the current file
    drawn = {
        int(g.get_attribute("data-id")) for g in section.find_elements("css selector", "g.series")
    }
    assert len(drawn) == 3 and not drawn & old_ids
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_a_filter_narrows_the_rows(opened):
    synthetic = _section(opened, 1)
    box = synthetic.find_element("css selector", "input.filter")
    # plain text, key=value on a column, on a fixed field (optimizer), comparisons, status
    expected = {"tanh": 24, "tanh depth=2 lr=0.1": 6, "optimizer=adam lr<0.05": 24, "diverged": 1}
    for text, n in expected.items():
        box.clear()
        box.send_keys(text)
        assert len(_row_ids(synthetic)) == n, text
    cells = synthetic.find_elements("css selector", "tbody td.status")
    assert [c.text for c in cells] == ["diverged at step 50"]
    assert "diverged" in synthetic.find_element("css selector", "tbody tr").get_attribute("class")
    box.clear()
    box.send_keys("colour=red")
    count = synthetic.find_element("css selector", ".count").text
    assert _row_ids(synthetic) == [] and "no column called colour" in count
    box.clear()
    box.send_keys(" ")
    assert len(_row_ids(synthetic)) == 48


def test_every_image_loads(opened):
    images = opened.find_elements("css selector", "img")
    assert len(images) == 8  # four per sweep with something to plot
    widths = [
        opened.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
        for img in images
    ]
    assert all(w and w > 0 for w in widths), widths


def test_selecting_rows_draws_their_curves(opened, site):
    db, _ = site
    rows = {r["id"]: r for r in _stored(db, "real")}
    real = _section(opened, 0)
    assert len(real.find_elements("css selector", "svg.chart g.series")) == 3  # the best three
    real.find_element("css selector", "button.clear").click()
    assert real.find_elements("css selector", "svg.chart g.series") == []
    trs = real.find_elements("css selector", "tbody tr")
    picked = [int(trs[k].get_attribute("data-id")) for k in (1, 3)]
    trs[1].click()
    real.find_elements("css selector", "tbody tr")[3].click()
    series = real.find_elements("css selector", "svg.chart g.series")
    assert sorted(int(g.get_attribute("data-id")) for g in series) == sorted(picked)
    for g in series:
        d = g.find_element("css selector", "path.train").get_attribute("d")
        assert d.count("M") + d.count("L") == len(rows[int(g.get_attribute("data-id"))]["curve"])
    assert len(real.find_elements("css selector", "ul.legend li")) == 2
    real.find_elements("css selector", "tbody tr")[1].click()  # unselect one
    assert len(real.find_elements("css selector", "svg.chart g.series")) == 1


def test_parallel_coordinates_draw_a_line_per_member_through_every_axis(opened, site):
    db, _ = site
    for i, name in enumerate(["real", "synthetic"]):
        chart = _section(opened, i).find_element("css selector", "svg.parallel")
        axes = chart.find_elements("css selector", "g.axis")
        lines = chart.find_elements("css selector", "polyline")
        assert len(axes) >= 2 and 0 < len(lines) <= len(_stored(db, name))
        for line in lines:
            assert len(line.get_attribute("points").split()) == len(axes)
        labels = [a.find_element("css selector", "text.axis-label").text for a in axes]
        assert labels[-1].startswith(("best_val", "final_val", "train_", "test_"))  # the metric


def test_stored_markup_renders_as_text(opened):
    from selenium.common.exceptions import NoAlertPresentException

    assert opened.execute_script("return window.pwned === undefined")
    assert (
        opened.find_elements(
            "css selector", 'img[src="x"], main script, main svg:not(.chart):not(.parallel)'
        )
        == []
    )
    synthetic, hostile = _section(opened, 1), _section(opened, 2)
    assert synthetic.find_element("css selector", ".description").text == XSS
    assert hostile.find_element("css selector", "h2").text == HOSTILE_NAME
    texts = [td.text for td in hostile.find_elements("css selector", "tbody td")]
    assert HOSTILE_ACTIVATION in texts and HOSTILE_HIDDEN in texts
    assert HOSTILE_OPTIMIZER in hostile.find_element("css selector", ".fixed").text
    assert hostile.find_elements("css selector", "b") == []
    with pytest.raises(NoAlertPresentException):
        opened.switch_to.alert.accept()


def test_a_hostile_address_state_is_ignored_or_kept_as_text(browser, report_dir):
    state = {"0": {"sort": 999, "dir": "sideways", "sel": ["x", 10**9]}, "1": {"filter": XSS}}
    url = (report_dir / "index.html").as_uri() + "#state=" + quote(json.dumps(state))
    browser.get("about:blank")  # else a new # part is only a jump within the open page
    browser.get(url)
    assert browser.execute_script("return window.pwned === undefined")
    real, synthetic = _section(browser, 0), _section(browser, 1)
    assert len(_row_ids(real)) == 4 and real.find_elements("css selector", "g.series") == []
    assert synthetic.find_element("css selector", "input.filter").get_attribute("value") == XSS
    assert _row_ids(synthetic) == []  # the filter matched nothing, and ran nothing
    browser.get("about:blank")
    browser.get((report_dir / "index.html").as_uri() + "#state=%7Bnot json")
    assert len(_row_ids(_section(browser, 1))) == 48
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_a_watched_page_reloads_itself_and_keeps_its_filter(browser, tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "_draw_figures", lambda *a: ([], "not drawn in this test"))
    db, out = tmp_path / "w.sqlite", tmp_path / "out"
    with store.opened(db) as conn:
        sweep_id = store.add_sweep(conn, "synthetic", SYNTHETIC_SPEC, "h")
        store.insert_runs(conn, sweep_id, synthetic_rows()[:24])
    page.write_page(db, out, watching=True)
    browser.get((out / "index.html").as_uri())
    box = browser.find_element("css selector", "input.filter")
    box.send_keys("tanh")
    assert len(_row_ids(_section(browser, 0))) == 12
    with store.opened(db) as conn:
        store.insert_runs(conn, sweep_id, synthetic_rows()[24:])
    page.write_page(db, out, watching=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(0.25)
        try:
            if len(_row_ids(_section(browser, 0))) == 24:
                break
        except Exception:  # the page is reloading
            continue
    assert len(_row_ids(_section(browser, 0))) == 24  # reloaded, the filter kept
    assert browser.find_element("css selector", "input.filter").get_attribute("value") == "tanh"
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


# --- end to end: `jaxnet report --watch` beside a real `jaxnet sweep` -------------------------


def _cli(*args) -> subprocess.Popen:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.Popen(
        [sys.executable, "-m", "jaxnet.cli", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_watch_follows_a_real_sweep_to_its_end_and_ctrl_c_stops_it(tmp_path):
    toml, db, out = tmp_path / "real.toml", tmp_path / "w.sqlite", tmp_path / "out"
    toml.write_text(REAL.replace('activation = ["tanh"]', 'activation = ["tanh", "relu"]'))
    watcher = _cli("report", str(db), "--out", str(out), "--watch", "--interval", "0.2")
    first = [watcher.stdout.readline(), watcher.stdout.readline()]  # flushed as they happen
    assert first[1] == f"waiting for {db} to appear\n", first
    sweeper = _cli("sweep", str(toml), "--store", str(db))
    assert sweeper.wait(300) == 0
    text = watcher.communicate(timeout=120)[0]  # it ends by itself: the sweep is complete
    assert watcher.returncode == 0, text
    assert " 8 runs -> " in text and text.endswith("every sweep in the store is complete\n")
    final = _boot(out)
    assert final["watching"] is False and len(final["sweeps"][0]["members"]) == 8
    assert len(list(out.glob("*.png"))) == 4
    # watching a complete store writes the final page and ends at once, as the README says
    again = _cli("report", str(db), "--out", str(out), "--watch", "--interval", "0.2")
    text = again.communicate(timeout=120)[0]
    assert again.returncode == 0 and text.endswith("every sweep in the store is complete\n")
    assert _boot(out)["watching"] is False
    # Ctrl-C ends a watch cleanly (here one that waits for a store to appear)
    none, later = tmp_path / "none.sqlite", tmp_path / "later"
    waiting = _cli("report", str(none), "--out", str(later), "--watch", "--interval", "0.2")
    assert [waiting.stdout.readline(), waiting.stdout.readline()][1].startswith("waiting for")
    waiting.send_signal(signal.SIGINT)
    text = waiting.communicate(timeout=120)[0]
    assert waiting.returncode == 0 and "stopped watching" in text and "Traceback" not in text
