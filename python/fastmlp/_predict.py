"""Predict: output-layer values of a model state for rows of X, by one call into the C core.

The fast path takes a C-contiguous float array of the model's dtype and width as it is (the C
core refuses NaN and infinity itself), so that a one-row predict costs little more than the
call; everything else (lists, other dtypes, sparse matrices, non-contiguous arrays) is
converted first.
"""

import numpy as np
import scipy.sparse as sp

from . import _core
from ._core import NonFiniteInputError

# Bytes of dense rows made from sparse X at once.
SPARSE_BLOCK_BYTES = 32 * 2**20
# Rows per block when evaluating rows of a larger X (a multiple of the C core's predict chunk,
# so that the results are those of one call).
EVAL_ROWS = 4096


def fast_outputs(state, X, n_features, two_class):
    """Output-layer values of X when it can go to the C core as it is (an ndarray of 2
    dimensions, rows, n_features columns, the parameters' dtype, C-contiguous), else None.
    Raises ``_core.NonFiniteInputError`` for NaN or infinity in X; any other error of the C
    core propagates."""
    if (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.shape[0] > 0
        and X.shape[1] == n_features
        and X.dtype == state.params.dtype
    ):
        out = np.empty((X.shape[0], 2 if two_class else state.network.n_out), dtype=X.dtype)
        try:
            return state.predict(X, out, two_class)
        except NonFiniteInputError:
            raise
        except (ValueError, BufferError):
            # the bridge reads C-contiguous arrays only: others are converted by the caller;
            # for a C-contiguous X the error is the C core's own and propagates
            if X.flags.c_contiguous:
                raise
    return None


def assigned_outputs(network, coefs, intercepts, X, two_class):
    """Output-layer values of X from weights and biases a user assigned to coefs_ /
    intercepts_, read where they are (later in-place edits are followed, as scikit-learn
    does), at the speed of the model's own: when the network has no other parameters (PReLU,
    batch norm), X is an ndarray of 2 dimensions, and X and every assigned array are C-contiguous
    arrays of one float dtype whose shapes are the network's. Else None (the caller packs)."""
    if type(X) is not np.ndarray or X.ndim != 2 or X.shape[0] == 0 or not X.flags.c_contiguous:
        return None
    dtype = X.dtype
    if dtype != np.float32 and dtype != np.float64:
        return None
    if network.n_params != sum(w.size for w in coefs) + sum(b.size for b in intercepts):
        return None  # PReLU slopes or batch norm: their arrays are not the assigned ones
    for array in (*coefs, *intercepts):
        if type(array) is not np.ndarray or array.dtype != dtype or not array.flags.c_contiguous:
            return None
    out = np.empty((X.shape[0], 2 if two_class else network.n_out), dtype=dtype)
    try:
        _core.predict_layers(network, None, coefs, intercepts, X, out, two_class)
    except NonFiniteInputError:
        raise
    except ValueError:
        return None  # shapes of another network: the caller's packing path says what is wrong
    return out


def outputs(state, X, two_class=False):
    """Output-layer values of validated X (dense or sparse): sparse X is densified one block of
    rows at a time, never whole."""
    if sp.issparse(X):
        X = X.tocsr()
        step = max(1, SPARSE_BLOCK_BYTES // (8 * max(1, X.shape[1])))
        parts = [state.predict_converted(X[start : start + step].toarray(), two_class)
                 for start in range(0, X.shape[0], step)]
        return np.concatenate(parts)
    return state.predict_converted(np.asarray(X), two_class)


def outputs_for_rows(state, X, rows):
    """Output-layer values for X[rows] (all of X when rows is None), computed in blocks of rows
    so that no copy of a large part of X is made (the validation split)."""
    if rows is None:
        return outputs(state, X)
    parts = []
    for start in range(0, len(rows), EVAL_ROWS):
        block = X[rows[start : start + EVAL_ROWS]]
        if sp.issparse(block):
            block = block.toarray()
        parts.append(state.predict_converted(np.ascontiguousarray(block)))
    return np.concatenate(parts) if parts else np.empty((0, state.network.n_out))
