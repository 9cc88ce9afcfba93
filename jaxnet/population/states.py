"""A member's state between segments: what it carries, its shapes, and how it is padded.

A :class:`MemberState` is one member's params, optimizer state, step count and alive flag as
NumPy arrays on the host, cut to the member's own net: what a search stores at a rung boundary
and takes up again (:mod:`.segments`). :func:`state_template` gives its shapes and dtypes for a
net and optimizer without computing anything; :func:`check_state` refuses one that does not
fit; :func:`padded_state` and :func:`member_state` move one into and out of a width bucket's
padded net (padded units are zeros in the params and in every optimizer state, so both are
exact). Left out: the member's minibatch key, which follows from its own seed.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import optimizers
from ..mlp import MLP, init


class MemberState(NamedTuple):
    """What one member carries from one segment to the next (NumPy leaves on the host).

    Its minibatch key is not here: it follows from the member's own key every segment.
    """

    params: list
    opt_state: object
    step: np.ndarray  # int32 scalar: updates applied so far
    alive: np.ndarray  # bool scalar: False once a step diverged


def state_template(net: MLP, optimizer, dtype=jnp.float32) -> MemberState:
    """One member's :class:`MemberState` as shapes and dtypes (nothing is computed).

    Args:
      net: the member's own net; optimizer: a name or an ``inject_hyperparams`` optax
        optimizer; dtype: the params' dtype.
    """
    return _template(net, optimizer_of(optimizer), jnp.dtype(dtype))


@functools.cache
def _template(net: MLP, tx, dtype) -> MemberState:
    def one():
        params = init(net, jax.random.key(0), dtype)
        return MemberState(params, tx.init(params), jnp.int32(0), jnp.bool_(True))

    return jax.eval_shape(one)


def optimizer_of(optimizer):
    """The optax optimizer a name stands for (one object per name), or the one given."""
    if isinstance(optimizer, str):
        return optimizers.named_optimizer(optimizer)
    tx, _ = optimizers.resolve_optimizer(optimizer, None)
    return tx


def _pad(leaf, shape) -> np.ndarray:
    leaf = np.asarray(leaf)
    if leaf.shape == tuple(shape):
        return leaf
    return np.pad(leaf, [(0, t - s) for s, t in zip(leaf.shape, shape)])


def padded_state(state: MemberState, template: MemberState) -> MemberState:
    """A member's own state zero-padded to a width bucket's ``template`` (its padded net's)."""
    leaves, treedef = jax.tree.flatten(state)
    shapes = [t.shape for t in jax.tree.leaves(template)]
    return jax.tree.unflatten(treedef, [_pad(a, s) for a, s in zip(leaves, shapes)])


def member_state(stacked: MemberState, i: int, template: MemberState) -> MemberState:
    """Member ``i`` of stacked (NumPy) states, cut to its own net's ``template``."""
    leaves, treedef = jax.tree.flatten(stacked)
    shapes = [t.shape for t in jax.tree.leaves(template)]
    cut = [np.asarray(a[i])[tuple(slice(0, n) for n in s)] for a, s in zip(leaves, shapes)]
    return jax.tree.unflatten(treedef, cut)


def check_state(state, template: MemberState, argument: str) -> MemberState:
    """``state`` as NumPy leaves, refused unless its structure, shapes and dtypes are the
    template's (one line naming the first leaf that differs, e.g. ``states[0].params[0]['b']``)."""
    expected, treedef = jax.tree.flatten(template)
    try:
        if jax.tree.structure(state) != treedef:
            raise ValueError(f"{argument} is not a MemberState of this net and optimizer")
    except TypeError:
        raise TypeError(f"{argument} must be a MemberState; got {type(state).__name__}") from None
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(template)[0]]
    out = []
    for path, leaf, want in zip(paths, jax.tree.leaves(state), expected):
        leaf = np.asarray(leaf)
        if leaf.shape != want.shape or leaf.dtype != want.dtype:
            raise ValueError(
                f"{argument}{path} has {leaf.dtype}{list(leaf.shape)}; this net and optimizer "
                f"need {np.dtype(want.dtype)}{list(want.shape)}"
            )
        out.append(leaf)
    return jax.tree.unflatten(treedef, out)
