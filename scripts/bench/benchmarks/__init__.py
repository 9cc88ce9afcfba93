"""The benchmarks, one module each: ``benchmarks/NAME.py`` is what ``--only NAME`` runs.

Each module has one entry point, ``bench_NAME(cfg) -> {"cases": {label: case}}``, and keeps its
own helpers; what several share lives one floor up (problems, fits, baselines, peak).
"""
