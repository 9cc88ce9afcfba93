"""``tutorial``: the article's 2-3-1 sigmoid net: fit vs the article's NumPy loop.

Full batch of 3, SGD with rate 1 on "sse" (exactly the article's update), 1000 steps; fit's
compiled chunk alone is timed too, without fit's per-call host work.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax

from ..baselines import tutorial_numpy
from ..config import Config
from ..fits import chunk_call, fit_call
from ..problems import tutorial_setup
from ..timing import case, interleaved, ratio, target


def bench_tutorial(cfg: Config) -> dict:
    """fit, its compiled chunk alone and the NumPy loop, interleaved; one case."""
    net, params, x, y = tutorial_setup()
    steps = cfg.tutorial_steps
    tx = optax.sgd(1.0)  # SGD with rate 1 on "sse" is exactly the article's update
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    w1, w2 = (np.asarray(p["w"], np.float64) for p in params)
    variants = {
        "fit": lambda: fit_call(
            net, params, xj, yj, steps, loss="sse", optimizer=tx, grads="manual"
        ),
        "fit compiled chunk only": chunk_call(
            net, params, xj, yj, steps, loss="sse", optimizer=tx, grads="manual"
        ),
        "numpy (article loop)": lambda: tutorial_numpy(x, y, w1, w2, steps),
    }
    timings = interleaved(variants, cfg.tutorial_repeats)
    r = ratio(timings, "numpy (article loop)")
    return {
        "cases": {
            "tutorial": case(
                "2-3-1 sigmoid, no bias, sse, SGD lr 1, full batch of 3; fit(grads='manual')",
                steps,
                timings,
                {
                    "numpy/fit": r,
                    "numpy/chunk": ratio(
                        timings, "numpy (article loop)", "fit compiled chunk only"
                    ),
                },
                [target("fit steady state vs the article's NumPy loop (x faster)", r, 20)],
            )
        }
    }
