"""The SQLite results store: creation, refusal of foreign files, atomic inserts, blobs, CSV."""

import csv
import io
import shutil
import sqlite3
import subprocess

import numpy as np
import pytest
from helpers import fake_row
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnet import store


def test_a_new_store_has_its_schema_version_and_is_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "r.sqlite"
    with store.opened(path) as conn:
        pass
    plain = sqlite3.connect(path)  # readable by any SQLite client, no jaxnet needed
    meta = dict(plain.execute("SELECT key, value FROM meta"))
    assert meta == {"application": "jaxnet", "schema_version": str(store.SCHEMA_VERSION)}
    assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in plain.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "sweeps", "runs"} <= tables
    assert conn is not None


def test_a_text_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("hello, not a database\n" * 100)
    with pytest.raises(store.StoreError, match="notes.sqlite is not a jaxnet results store"):
        store.connect(path)
    assert path.read_text().startswith("hello")


def test_a_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(store.StoreError, match="not a jaxnet results store"):
        store.connect(path)


def test_a_newer_schema_version_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    store.connect(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(store.StoreError, match="schema version 99.*upgrade jaxnet"):
        store.connect(path)


def test_open_existing_refuses_a_missing_file_without_creating_it(tmp_path):
    path = tmp_path / "missing.sqlite"
    with pytest.raises(store.StoreError, match="no such results store"):
        store.open_existing(path)
    assert not path.exists()


def test_curve_blobs_are_raw_little_endian_float32_and_round_trip():
    values = np.array([1.5, -2.25, np.nan, 3e-8], np.float32)
    blob = store.encode_floats(values)
    assert len(blob) == 4 * len(values)
    assert blob[:4] == np.float32(1.5).astype("<f4").tobytes()  # raw bytes, not a pickle
    np.testing.assert_array_equal(store.decode_floats(blob), values)


def test_downsample_averages_windows_and_skips_nan():
    means, stride = store.downsample([1, 3, 5, 7, np.nan, np.nan, 2], 3)
    assert stride == 3
    np.testing.assert_allclose(means, [3.0, 7.0, 2.0])
    means, stride = store.downsample([np.nan] * 4, 2)
    assert stride == 2 and np.isnan(means).all()


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 3000), points=st.integers(1, 300), level=st.floats(0.01, 100))
def test_downsample_keeps_at_most_max_points_and_constant_curves(n, points, level):
    means, stride = store.downsample(np.full(n, level), points)
    assert len(means) <= points and len(means) == -(-n // stride)
    np.testing.assert_allclose(means, level)


def test_rows_round_trip_and_a_config_is_never_stored_twice(tmp_path):
    with store.opened(tmp_path / "r.sqlite") as conn:
        sweep_id = store.add_sweep(conn, "s", "name = 's'", "h")
        assert store.add_sweep(conn, "s", "name = 's'", "h") == sweep_id
        assert store.insert_runs(conn, sweep_id, [fake_row("a"), fake_row("b")]) == 2
        assert store.insert_runs(conn, sweep_id, [fake_row("b"), fake_row("c")]) == 1
        rows = store.runs(conn, "s")
        assert [r["config_id"] for r in rows] == ["a", "b", "c"]
        assert rows[0]["sweep"] == "s" and rows[0]["test_accuracy"] == 0.8
        np.testing.assert_allclose(rows[0]["val_curve"], [0.3, 0.2], rtol=1e-6)
        assert store.done_config_ids(conn, "s") == {"a", "b", "c"}
        assert store.done_config_ids(conn, "other") == set()


def test_a_failing_group_insert_stores_none_of_its_rows(tmp_path):
    with store.opened(tmp_path / "r.sqlite") as conn:
        sweep_id = store.add_sweep(conn, "s", "", "h")
        bad = fake_row("y", status=None)  # NOT NULL: the second row fails
        with pytest.raises(sqlite3.IntegrityError):
            store.insert_runs(conn, sweep_id, [fake_row("x"), bad])
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_sweeps_lists_each_name_once_with_its_run_count(tmp_path):
    with store.opened(tmp_path / "r.sqlite") as conn:
        first = store.add_sweep(conn, "s", "v1", "h1")
        second = store.add_sweep(conn, "s", "v2", "h2")  # the file changed: a new spec row
        store.insert_runs(conn, first, [fake_row("a")])
        store.insert_runs(conn, second, [fake_row("b")])
        (entry,) = store.sweeps(conn)
        assert (entry["name"], entry["runs"], entry["spec"]) == ("s", 2, "v2")


def test_read_side_queries_count_commits_and_give_every_sweeps_column(tmp_path):
    with store.opened(tmp_path / "r.sqlite") as conn:
        assert store.stored_counts(conn) == (0, 0, None)
        first = store.add_sweep(conn, "s", "v1", "h1")
        store.add_sweep(conn, "s", "v2", "h2")
        store.insert_runs(conn, first, [fake_row("a"), fake_row("b")])
        assert store.stored_counts(conn) == (2, 2, 2)
        rows = store.sweep_rows(conn, "s")
        assert [r["spec"] for r in rows] == ["v1", "v2"] and "spec_hash" in rows[0]
        assert store.sweep_rows(conn, "other") == []


def test_csv_has_a_header_then_one_row_per_member_without_blobs(tmp_path):
    with store.opened(tmp_path / "r.sqlite") as conn:
        sweep_id = store.add_sweep(conn, "s", "", "h")
        store.insert_runs(conn, sweep_id, [fake_row("a"), fake_row("b", test_loss=None)])
        out = io.StringIO()
        assert store.write_csv(conn, out) == 2
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(table) == 2 and "curve" not in table[0]
    assert table[0]["sweep"] == "s" and table[0]["activation"] == "tanh"
    assert float(table[0]["best_val_accuracy"]) == 0.9 and table[1]["test_loss"] == ""


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="no sqlite3 command-line tool")
def test_the_sqlite3_command_line_tool_reads_the_store(tmp_path):
    path = tmp_path / "r.sqlite"
    with store.opened(path) as conn:
        store.insert_runs(conn, store.add_sweep(conn, "s", "", "h"), [fake_row("a")])
    out = subprocess.run(
        ["sqlite3", str(path), "SELECT hidden, activation, best_val_accuracy FROM runs"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "8|tanh|0.9"


# --- calls: what each run of a sweep printed, stored for the report page ----------------------


def test_calls_add_up_per_sweep_and_an_older_store_has_none(tmp_path):
    path = tmp_path / "c.sqlite"
    with store.opened(path) as conn:
        a = store.add_sweep(conn, "a", "spec 1", "h1")
        a2 = store.add_sweep(conn, "a", "spec 2", "h2")  # the same sweep, its file changed
        b = store.add_sweep(conn, "b", "spec", "h3")
    with store.opened(path, must_exist=True) as conn:  # a read-only open creates no table
        assert store.call_totals(conn, "a") is None
    with sqlite3.connect(path) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "sweep_calls" not in tables
    with store.opened(path) as conn:
        store.record_call(conn, a, outcome="completed", engine="in-process", programs=38,
                          cache_hits=0, seconds=65.9)  # fmt: skip
        store.record_call(conn, a2, outcome="interrupted", engine="ray", programs=None,
                          cache_hits=None, seconds=10.1)  # fmt: skip
        store.record_call(conn, b, outcome="failed", engine="in-process", programs=1,
                          cache_hits=2, seconds=0.0)  # fmt: skip
        totals = store.call_totals(conn, "a")
        assert totals == {"calls": 2, "programs_compiled": 38, "cache_hits": 0,
                          "wall_seconds": pytest.approx(76.0)}  # fmt: skip
        assert store.call_totals(conn, "b")["cache_hits"] == 2
        assert store.call_totals(conn, "none") is None
        for bad, fragment in (
            ({"outcome": "done"}, "outcome must be one of completed, interrupted, failed"),
            ({"programs": -1}, "programs must be a non-negative int or None"),
            ({"cache_hits": True}, "cache_hits must be a non-negative int or None"),
            ({"seconds": float("nan")}, "seconds must be a finite number >= 0"),
        ):
            kwargs = {"outcome": "completed", "engine": "x", "programs": 1, "cache_hits": 1,
                      "seconds": 1.0, **bad}  # fmt: skip
            with pytest.raises(ValueError, match=fragment):
                store.record_call(conn, a, **kwargs)
        assert store.call_totals(conn, "a")["calls"] == 2  # nothing half written
