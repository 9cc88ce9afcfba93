"""Sweeps: a TOML file of configs -> groups that share a compiled shape -> populations -> store.

One file per stage, imports flowing one way: :mod:`.spec` reads and checks the file and
:mod:`.options` the engine options; :mod:`.plan` expands the file into configs and groups them
by compiled program, with :mod:`.regimen` (how a config trains: dropout, weight decay,
gradients, schedule, early stopping); :mod:`.preparation` is the preflight (the data loaded,
split and scaled once, and every check against it, before anything is written); :mod:`.task`
trains one group as one population and builds its rows; :mod:`.engines` run tasks here or on
Ray (:mod:`.ray_engine`); :mod:`.driver` claims groups in the store, hands them to an engine
and commits their rows; :mod:`.runner` tells that story for one call. On the read side, from
the store alone: :mod:`.fields` lists the config fields once, :mod:`.rank` pools and ranks
the rows (and :mod:`.agreement` compares runs trained with both gradients), :mod:`.figures`
draws the PNGs, and :mod:`.page` writes them and every stored member into one offline web
page. A ``[search]`` table (:mod:`.search_table`) makes the sweep a search: :mod:`.search`
decides which configs train and to which step (successive halving, PBT), and its segments
run on the same engines. :mod:`.models` keeps the best configs' trained params in the store
(:func:`load_model`). The file format is documented in :mod:`.spec` and in docs/sweeps.md.
"""

from ..compile_cache import compile_clock as compile_clock
from .figures import curve_bands as curve_bands
from .figures import draw_figures as draw_figures
from .figures import heatmap_arrays as heatmap_arrays
from .figures import lr_points as lr_points
from .figures import lr_series as lr_series
from .figures import metric_label as metric_label
from .figures import report as report
from .figures import scatter_series as scatter_series
from .models import best_config_id as best_config_id
from .models import load_model as load_model
from .options import ENGINES as ENGINES
from .options import EngineOptions as EngineOptions
from .page import watch as watch
from .page import write_page as write_page
from .page import write_report as write_report
from .plan import canonical as canonical
from .plan import config_id as config_id
from .plan import default_metric as default_metric
from .plan import effective_batch as effective_batch
from .plan import expand as expand
from .plan import group as group
from .plan import shape_key as shape_key
from .plan import task_defaults as task_defaults
from .preparation import Preflight as Preflight
from .preparation import Prepared as Prepared
from .preparation import checked_parts as checked_parts
from .preparation import net_for as net_for
from .preparation import preflight as preflight
from .preparation import prepare as prepare
from .rank import higher_is_better as higher_is_better
from .rank import ranked_table as ranked_table
from .rank import settings_of as settings_of
from .rank import store_summary as store_summary
from .runner import SweepSummary as SweepSummary
from .runner import run as run
from .spec import AXIS_CHECKS as AXIS_CHECKS
from .spec import AXIS_DEFAULTS as AXIS_DEFAULTS
from .spec import DISTRIBUTIONS as DISTRIBUTIONS
from .spec import FILE_DATASETS as FILE_DATASETS
from .spec import FLOAT_AXES as FLOAT_AXES
from .spec import INT_AXES as INT_AXES
from .spec import MEMBER_KEYS as MEMBER_KEYS
from .spec import METRICS as METRICS
from .spec import SETTING_CHECKS as SETTING_CHECKS
from .spec import SETTING_DEFAULTS as SETTING_DEFAULTS
from .spec import Sweep as Sweep
from .spec import SweepError as SweepError
from .spec import from_dict as from_dict
from .spec import load as load
from .spec import parse as parse
from .spec import spec_from_source as spec_from_source
from .spec import spec_hash as spec_hash
from .task import GroupResult as GroupResult
from .task import environment as environment
from .task import fit_group as fit_group
from .task import member_rows as member_rows
from .task import train_group as train_group
from .versions import StoredTally as StoredTally
from .versions import current_ids as current_ids
from .versions import in_file_marker as in_file_marker
from .versions import split_rows as split_rows
from .versions import stored_tally as stored_tally

__all__ = [
    "StoredTally",
    "current_ids",
    "in_file_marker",
    "split_rows",
    "stored_tally",
    "METRICS",
    "SETTING_DEFAULTS",
    "AXIS_DEFAULTS",
    "MEMBER_KEYS",
    "DISTRIBUTIONS",
    "SweepError",
    "INT_AXES",
    "FLOAT_AXES",
    "AXIS_CHECKS",
    "SETTING_CHECKS",
    "Sweep",
    "from_dict",
    "parse",
    "load",
    "spec_from_source",
    "default_metric",
    "task_defaults",
    "canonical",
    "config_id",
    "expand",
    "effective_batch",
    "shape_key",
    "group",
    "Prepared",
    "prepare",
    "Preflight",
    "preflight",
    "checked_parts",
    "net_for",
    "fit_group",
    "train_group",
    "GroupResult",
    "ENGINES",
    "EngineOptions",
    "FILE_DATASETS",
    "environment",
    "member_rows",
    "SweepSummary",
    "compile_clock",
    "spec_hash",
    "run",
    "higher_is_better",
    "settings_of",
    "ranked_table",
    "store_summary",
    "metric_label",
    "heatmap_arrays",
    "curve_bands",
    "lr_series",
    "lr_points",
    "scatter_series",
    "draw_figures",
    "report",
    "write_page",
    "write_report",
    "watch",
    "load_model",
    "best_config_id",
]
