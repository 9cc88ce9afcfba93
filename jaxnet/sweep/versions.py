"""Which stored rows belong to the sweep file as it is now, and which to earlier versions of it.

A sweep keeps its name when its file changes: after adding a seed the stored configs still
belong to it, but after changing ``steps`` the rows trained with the old value are configs the
file no longer defines. Such rows stay in the store (rerunning the old file resumes them), but
the readers show them apart: :func:`split_rows` cuts a sweep's rows into the current file's
and the earlier versions', and :func:`stored_tally` counts what a store holds of a file (the
message of an interrupted sweep). A row is current when its config id is one of the file's
configs; the file is the latest spec text stored under the sweep's name (or the one in hand).

Left out: deleting old rows (a store keeps everything), and telling earlier versions apart
from each other.
"""

from __future__ import annotations

import dataclasses

from .. import store
from ..data import TASKS
from .plan import config_id, expand
from .spec import Sweep, SweepError, spec_from_source


def current_ids(sweep: Sweep) -> frozenset[str]:
    """Config ids of every config the file defines.

    The data's task only chooses the default loss, so the ids of both tasks are taken: a
    stored row is current when it is one of them.

    Args:
      sweep: the sweep file, checked.

    Returns:
      The config ids (32 hex digits each, see :func:`~.plan.config_id`).
    """
    return frozenset(config_id(sweep.name, c) for task in TASKS for c in expand(sweep, task))


def config_count(sweep: Sweep) -> int:
    """How many configs the file defines (the same for either task)."""
    return len(expand(sweep, TASKS[0]))


def split_rows(rows: list[dict], sweep: Sweep | None) -> tuple[list[dict], list[dict]]:
    """A sweep's stored rows cut into the current file's and the earlier versions'.

    Args:
      rows: run rows (dicts with ``config_id``) of one sweep name, in store order.
      sweep: the file as it is now; None (a spec this jaxnet cannot read) keeps every row
        current, since nothing tells them apart.

    Returns:
      ``(current, earlier)``, each in store order.
    """
    if sweep is None:
        return list(rows), []
    ids = current_ids(sweep)
    return [r for r in rows if r["config_id"] in ids], [
        r for r in rows if r["config_id"] not in ids
    ]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@dataclasses.dataclass(frozen=True)
class StoredTally:
    """What a store holds of one sweep file.

    Attributes:
      store: the store's path; configs: configs the file defines; stored: of them, configs
      with a row; groups: distinct groups (populations) those rows came from; earlier: rows
      of configs the file no longer defines (earlier versions of it).
    """

    store: str
    configs: int
    stored: int
    groups: int
    earlier: int

    def interrupted(self) -> str:
        """The line of a sweep stopped by Ctrl-C: what is stored, of what, and what is not
        counted."""
        earlier = (
            f"; it also holds {_plural(self.earlier, 'row')} of configs no longer in the file"
            if self.earlier
            else ""
        )
        return (
            f"interrupted, {self.stored} of the file's {self.configs} configs stored in "
            f"{self.store} ({_plural(self.groups, 'group')}), rerun to resume{earlier}"
        )


def stored_tally(store_path, sweep: Sweep) -> StoredTally:
    """Count what the store at ``store_path`` holds of ``sweep``; a missing file, or one that
    is not (yet) a store, holds nothing. Only reads.

    Args:
      store_path: the results store; sweep: the file as it is now.
    """
    pairs = store.stored_groups(store_path, sweep.name)
    ids = current_ids(sweep)
    current = {c: g for c, g in pairs.items() if c in ids}
    return StoredTally(
        str(store_path),
        config_count(sweep),
        len(current),
        len(set(current.values())),
        len(pairs) - len(current),
    )


def in_file_marker(conn):
    """For ``jaxnet runs --csv``: whether a stored row is a config of its sweep's file now.

    Args:
      conn: an open store.

    Returns:
      A function ``(sweep name, config id) -> bool``, or None for a sweep whose latest spec
      this jaxnet cannot read (see :func:`jaxnet.store.write_csv`).
    """
    ids = {}
    for entry in store.sweeps(conn):
        spec = readable_spec(entry["spec"])
        ids[entry["name"]] = None if spec is None else current_ids(spec)

    def marker(name: str, config: str) -> bool | None:
        known = ids.get(name)
        return None if known is None else config in known

    return marker


def readable_spec(source: str) -> Sweep | None:
    """The stored spec text as a :class:`Sweep`, or None when this jaxnet cannot read it."""
    try:
        return spec_from_source(source)
    except (SweepError, ValueError, TypeError, KeyError):
        return None
