"""Populations: P models of one architecture trained as one compiled program.

One file per concept: :mod:`.training` (:func:`fit_population`, :func:`fit_bucket`: the checks,
the initial states, the evaluation), :mod:`.loop` (the chunks the host runs and the
:class:`PopulationHistory`), :mod:`.programs` (the vmapped programs and their compile
cache), :mod:`.buckets` (width buckets: nets padded to the widest, each member exact),
:mod:`.segments` (the resumable form a search trains with: :func:`start_segment`,
:func:`resume_segment`) and :mod:`.states` (a member's state between segments).
"""

from .buckets import bucket_net as bucket_net
from .buckets import member_params as member_params
from .loop import PopulationHistory as PopulationHistory
from .programs import compile_count as compile_count
from .programs import evaluate_population as evaluate_population
from .programs import member_keys as member_keys
from .segments import SegmentHistory as SegmentHistory
from .segments import resume_segment as resume_segment
from .segments import start_segment as start_segment
from .states import MemberState as MemberState
from .states import state_template as state_template
from .training import fit_bucket as fit_bucket
from .training import fit_population as fit_population
from .training import init_population as init_population

__all__ = [
    "fit_population",
    "fit_bucket",
    "init_population",
    "evaluate_population",
    "member_keys",
    "member_params",
    "bucket_net",
    "compile_count",
    "PopulationHistory",
    "start_segment",
    "resume_segment",
    "SegmentHistory",
    "MemberState",
    "state_template",
]
