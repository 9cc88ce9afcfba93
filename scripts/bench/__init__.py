"""Benchmarks of jaxnet's training loop against hand-written baselines (issue 3, part 5).

Every number comes from one process. Within a case the variants are interleaved (one timed call
of each in turn, the order rotated every round), each figure is the median of the repeats, and
the first call of every variant -- compile included -- is reported apart from the steady state.
Ratios are ``time of the other / time of fit``: above 1 means fit is faster.

Usage (from the checkout; nothing to install beyond jaxnet's own dependencies)::

    python scripts/bench                         # everything but the opt-in sweeps: minutes
    python scripts/bench --quick                 # smoke run, smaller sizes (about a minute)
    python scripts/bench --only digits --json out.json

Layout: the harness is ``cli`` (arguments, the ``--only`` dispatcher, the JSON report),
``timing`` (interleaved timing, ratios, targets, cases), ``machine`` (the environment facts),
``tables`` (markdown) and ``config`` (sizes); ``problems``, ``fits``, ``baselines`` and ``peak``
are what the benchmarks share; ``benchmarks/NAME.py`` is the benchmark ``--only NAME`` runs.

Nothing beyond jax, optax and numpy is needed: scikit-learn (the digits data; random data of the
same shape without it), threadpoolctl (BLAS report) and torch are used when present. Nothing
here is CPU-specific; timings block on their results (``block_until_ready``). On a CPU shared
with other processes the baselines' spinning thread pools (OpenBLAS, OpenMP) slow down many
times over, and so does the run; each benchmark reports the load average.
"""
