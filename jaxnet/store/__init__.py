"""The results store: one SQLite file (standard library ``sqlite3``) holding sweeps and runs.

A store is a real database that any SQLite client reads (``sqlite3 runs/demo.sqlite 'select
hidden, activation, best_val_accuracy from runs'``). It is opened in WAL mode, so readers see
committed rows while a sweep writes, and a process killed mid-write loses only its open
transaction. Tables:

* ``meta(key, value)``: ``application = 'jaxnet'`` and ``schema_version``. A file without
  them, or with a newer schema version than this module knows, is refused.
* ``sweeps``: one row per (sweep name, spec text): the TOML (or JSON) that defined it.
* ``runs``: one row per trained member, ``config_id UNIQUE``: the member's config as
  canonical JSON plus its key fields as columns, its metrics, timings, loss curves and the
  versions and device that produced it.

Metrics: ``train_*`` of the final params on the whole training split, ``final_val_*`` at the
last evaluation, ``best_val_loss`` the lowest validation loss (at ``best_step``),
``best_val_accuracy`` the highest validation accuracy, ``test_*`` of the final params; NULL
where there is no such split or (accuracy) no classes. Timings are per group and repeated on
each of its rows (``group_id`` names the population): ``group_seconds`` of wall time,
``compile_seconds`` of it spent lowering and compiling JAX programs, ``train_seconds`` the
rest (running the compiled training and evaluation).

Curves are stored compactly as raw little-endian float32 bytes (:func:`encode_floats`),
never pickled: the training loss averaged over windows of ``curve_stride`` steps, and the
validation loss at each evaluation. Writes go through :func:`insert_runs`, one transaction
per call, and a config id already stored is skipped (``ON CONFLICT DO NOTHING``), so a
config is never stored twice.

Left out: migrations between schema versions (there is one: columns added since are added
to an older store in place), deleting runs, and merging stores written by several machines.

One file per concept: :mod:`.schema` (tables, columns, curves as bytes), :mod:`.connection`
(opening, creating, refusing, one transaction per write), :mod:`.columns` (the migration
that adds later columns of ``runs`` to an older store), :mod:`.runs` (sweeps and runs,
written and read), :mod:`.claims` (claims, and the data identity a sweep's name is bound
to, checked again when each group is stored),
:mod:`.arrays` (arrays as bytes and a JSON layout), :mod:`.models` (kept models: trained
params, scalers and labels of a sweep's best configs), :mod:`.search` (a search's rung
results, member states at rung boundaries and PBT lineage), :mod:`.trials` (an Optuna
study's asked trials) and :mod:`.calls` (each run of a sweep: programs compiled, cache hits,
wall time).
Every SQL statement of jaxnet lives in this package.
"""

from .arrays import decode_arrays as decode_arrays
from .arrays import encode_arrays as encode_arrays
from .calls import OUTCOMES as OUTCOMES
from .calls import call_totals as call_totals
from .calls import record_call as record_call
from .claims import check_data_identity as check_data_identity
from .claims import claim as claim
from .claims import claim_holder as claim_holder
from .claims import data_identity as data_identity
from .claims import identity_held as identity_held
from .claims import release_claim as release_claim
from .claims import release_claims as release_claims
from .claims import renew_claims as renew_claims
from .claims import stored_datasets as stored_datasets
from .claims import take_over_claim as take_over_claim
from .columns import add_missing_columns as add_missing_columns
from .connection import connect as connect
from .connection import open_existing as open_existing
from .connection import opened as opened
from .connection import writing as writing
from .models import config_ids_like as config_ids_like
from .models import insert_runs_with_models as insert_runs_with_models
from .models import kept_model as kept_model
from .models import kept_model_ids as kept_model_ids
from .models import rank_order as rank_order
from .models import ranked_config_ids as ranked_config_ids
from .models import write_models as write_models
from .runs import CSV_COLUMNS as CSV_COLUMNS
from .runs import add_runs as add_runs
from .runs import add_sweep as add_sweep
from .runs import config_groups as config_groups
from .runs import config_of as config_of
from .runs import done_config_ids as done_config_ids
from .runs import group_count as group_count
from .runs import insert_runs as insert_runs
from .runs import runs as runs
from .runs import stored_counts as stored_counts
from .runs import stored_group_count as stored_group_count
from .runs import stored_groups as stored_groups
from .runs import sweep_rows as sweep_rows
from .runs import sweeps as sweeps
from .runs import write_csv as write_csv
from .schema import ADDED_RUN_COLUMNS as ADDED_RUN_COLUMNS
from .schema import APPLICATION as APPLICATION
from .schema import BLOB_COLUMNS as BLOB_COLUMNS
from .schema import RUN_COLUMNS as RUN_COLUMNS
from .schema import SCHEMA_VERSION as SCHEMA_VERSION
from .schema import StoreError as StoreError
from .schema import decode_floats as decode_floats
from .schema import downsample as downsample
from .schema import encode_floats as encode_floats
from .schema import now as now
from .search import config_results as config_results
from .search import finish_configs as finish_configs
from .search import lineage as lineage
from .search import member_states as member_states
from .search import record_search as record_search
from .search import rung_results as rung_results
from .search import save_segment as save_segment
from .search import search_of as search_of
from .search import steps_trained as steps_trained
from .search import stored_rungs as stored_rungs
from .trials import TRIAL_COLUMNS as TRIAL_COLUMNS
from .trials import finished_trials as finished_trials
from .trials import save_trials as save_trials
from .trials import stored_trials as stored_trials

__all__ = [
    "APPLICATION",
    "SCHEMA_VERSION",
    "RUN_COLUMNS",
    "ADDED_RUN_COLUMNS",
    "BLOB_COLUMNS",
    "CSV_COLUMNS",
    "StoreError",
    "now",
    "encode_floats",
    "decode_floats",
    "downsample",
    "connect",
    "open_existing",
    "opened",
    "writing",
    "add_missing_columns",
    "add_sweep",
    "done_config_ids",
    "insert_runs",
    "sweeps",
    "runs",
    "write_csv",
    "config_of",
    "sweep_rows",
    "stored_counts",
    "group_count",
    "stored_group_count",
    "config_groups",
    "stored_groups",
    "claim",
    "claim_holder",
    "take_over_claim",
    "renew_claims",
    "release_claim",
    "release_claims",
    "check_data_identity",
    "data_identity",
    "stored_datasets",
    "identity_held",
    "encode_arrays",
    "decode_arrays",
    "add_runs",
    "write_models",
    "insert_runs_with_models",
    "kept_model",
    "kept_model_ids",
    "rank_order",
    "ranked_config_ids",
    "config_ids_like",
    "record_search",
    "search_of",
    "save_segment",
    "rung_results",
    "config_results",
    "member_states",
    "lineage",
    "finish_configs",
    "stored_rungs",
    "steps_trained",
    "TRIAL_COLUMNS",
    "save_trials",
    "stored_trials",
    "finished_trials",
    "OUTCOMES",
    "record_call",
    "call_totals",
]
