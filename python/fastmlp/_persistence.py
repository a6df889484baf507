"""Saving fitted estimators to a portable file and loading them back, without pickle.

A file is a NumPy ``.npz`` archive (an uncompressed zip of ``.npy`` files) that
``np.load(path, allow_pickle=False)`` reads entirely: no member holds pickled data.

Format version 2
----------------
Named fields only; nothing in the file is an object's ``__dict__``.

Members:

``metadata``
    UTF-8 JSON as a 1-D ``uint8`` array (the fields below).
``params``
    The flat parameter array (``float32`` or ``float64``, bytes as in memory): every weight
    matrix, then every bias vector (scikit-learn's ``_pack`` order), then the PReLU slopes and
    the batch-norm scales, shifts, running means and running variances the network has.
``optimizer_state``, ``best_params``, ``classes``, ``binarizer_classes``, ``feature_names``
    Arrays the fields below refer to by name.
``a0``, ``a1``, ...
    Arrays inside hyperparameters, ``history_`` and extra attributes (a ``validation_data``,
    a ``RandomState``'s key).

The metadata object has exactly these fields:

``format``: ``"fastmlp-model"``; ``format_version``: ``2``; ``fastmlp_version``,
``sklearn_version``: the versions that wrote the file (str).

``estimator``: ``"MLPClassifier"`` or ``"MLPRegressor"``.

``hyperparameters``: ``get_params(deep=False)`` as values (below), except ``callbacks``:
callables are training-time hooks, not model state, and are not saved (a loaded model has
``callbacks=None``). Any other value the encoding cannot hold (a callable, an arbitrary
object) is refused at save time with a ``TypeError``.

``network``: what the parameters are, as the C core runs them: ``layer_units`` (list of int:
inputs, hidden units, outputs), ``hidden_activation``, ``output_activation``, ``loss`` (str),
``maxout_pieces`` (int), ``batch_norm`` (bool), ``batch_norm_momentum``, ``batch_norm_eps``
(float), ``dropout`` (one rate per hidden layer, or null), ``alpha``, ``alpha_l1`` (float),
and, only for a model whose products are not float32, ``matmul_precision`` (``"bfloat16"``;
absent means ``"float32"``, so float32 models' files read in versions without the field).

``parameters``: ``{"dtype": "float32" | "float64", "size": int}``, describing ``params``.

``fitted``: fitted attributes by their names. Always ``n_features_in_``, ``n_outputs_``,
``n_layers_`` (int) and ``out_activation_`` (str); when the model has them
``feature_names_in_`` (array of str), ``n_iter_``, ``t_``, ``_no_improvement_count`` (int),
``loss_``, ``best_loss_``, ``best_validation_score_`` (float or null), ``loss_curve_`` (list of
float), ``validation_scores_`` (list of float or null) and ``history_`` (object of per-epoch
lists).

``labels``: null for a regressor; for a classifier ``classes`` (array: ``classes_``),
``y_type`` (``"binary"``, ``"multiclass"`` or ``"multilabel-indicator"``) and
``sparse_input`` (bool), the label encoding's fitted state, and ``binarizer_classes`` (an
array, or null when they are ``classes``: the labels the encoding decodes to).

``optimizer``: null (L-BFGS, or no stochastic training yet) or the stochastic optimizer's
fields (``Optimizer.fields()``): ``solver``; ``learning_rate_init``, ``lr_schedule``,
``momentum``, ``nesterov``, ``power_t``, ``beta_1``, ``beta_2``, ``epsilon``,
``weight_decay``, ``rho``, ``max_iter``, ``lr_step_size``, ``lr_gamma``, ``lr_min``,
``warmup_epochs``; the schedule's progress ``learning_rate``, ``rate``, ``epoch``; ``step``
(int: batches taken) and ``state`` (array, of ``params``' dtype, ``_core.STATE_FACTOR``
values per parameter).

``best_params``: null, or the parameters early stopping kept (array of ``params``' dtype
and size).

``extra_attributes``: other public attributes set on the estimator, as values.

Values are JSON where JSON can hold them; otherwise tagged objects:
``{"__tuple__": [...]}``, ``{"__dict__": {...}}`` (string keys), ``{"__items__": [[key,
value], ...]}`` (a dict with number, boolean or null keys, such as a ``class_weight``),
``{"__float__": "nan" | "inf" | "-inf"}``, ``{"__array__": MEMBER, "object": bool}`` (an
array member; ``object`` restores an object-dtype array of strings / numbers stored typed)
and ``{"__random_state__": {...}}`` (a ``numpy.random.RandomState``'s MT19937 state).

Version rules
-------------
``format_version`` grows with every change to the fields above: one added, removed, renamed
or given another type or meaning. Readers refuse unknown fields, so nothing in a file is
ever silently ignored, and refuse a newer version with a ``ValueError`` naming it. Every
fastmlp reads every older version: format 1 (written by fastmlp before format 2) stored
``get_params()``, ``layer_units``, ``params_dtype`` and every other entry of the estimator's
``__dict__`` under ``attributes``, with the optimizer and scikit-learn's ``LabelBinarizer`` as
``{"__object__": NAME, "state": {...}}``; those two are read by name into the same objects
format 2 builds.

Loading executes no code from the file: only the registered estimator classes are created,
attribute names are checked, array members are read from their headers with dtype and size
checks (object arrays are refused), and the fitted state is checked against the network
before the estimator is returned; a malformed field gives a ``ValueError`` naming it.
"""

import json
import os
import re
import secrets
import zipfile
import zlib

import numpy as np
import sklearn
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.validation import check_is_fitted

from ._model_state import VIEW_ATTRIBUTES, build_network
from ._optimizers import HYPERPARAMETERS, PROGRESS, Optimizer

FORMAT_NAME = "fastmlp-model"
FORMAT_VERSION = 2

_METADATA_FIELDS = frozenset({
    "format", "format_version", "fastmlp_version", "sklearn_version", "estimator",
    "hyperparameters", "network", "parameters", "fitted", "labels", "optimizer", "best_params",
    "extra_attributes",
})
_FORMAT1_FIELDS = frozenset({
    "format", "format_version", "fastmlp_version", "sklearn_version", "estimator", "params",
    "layer_units", "params_dtype", "attributes",
})

# Hyperparameters that are not saved: callables run during training, not model state.
_UNSAVED_PARAMS = frozenset({"callbacks"})

# Entries of an estimator's __dict__ that no file holds: the model state (its flat array is
# ``params``, its network ``network``) and its views, the random generator re-derived from
# ``random_state`` at every fit, and metadata-routing requests (configuration).
_NOT_STORED = frozenset({"_model", "_random_state", "_metadata_request"}) | frozenset(
    VIEW_ATTRIBUTES)
# Format 1 also skipped the names of earlier versions' model state.
_FORMAT1_NOT_STORED = _NOT_STORED | {"_params", "_net"}

_OPTIMIZER_FIELDS = frozenset(HYPERPARAMETERS + PROGRESS + ("step", "state"))
_NETWORK_FIELDS = frozenset({
    "layer_units", "hidden_activation", "output_activation", "loss", "maxout_pieces",
    "batch_norm", "batch_norm_momentum", "batch_norm_eps", "dropout", "alpha", "alpha_l1",
})
# Network fields a file has only when they differ from the default (value when absent).
_NETWORK_OPTIONAL = {"matmul_precision": "float32"}
_LABEL_FIELDS = frozenset({"classes", "y_type", "sparse_input", "binarizer_classes"})
_Y_TYPES = ("binary", "multiclass", "multilabel-indicator")

# Array members format 2 refers to by name (besides ``params`` and the a0, a1, ... of values).
_NAMED_MEMBERS = frozenset(
    {"optimizer_state", "best_params", "classes", "binarizer_classes", "feature_names"})

# dtype kinds an array member may have: bool, signed / unsigned int, float, complex, str, bytes
_ARRAY_KINDS = frozenset("biufcUS")

_MAX_METADATA_BYTES = 256 * 2**20
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAMS_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_ESTIMATORS = {}  # registered name -> estimator class


def register_estimator(cls, name=None):
    """Allow ``save`` / ``load`` for an estimator class (a fastmlp multilayer perceptron).

    The class needs the model-state hooks of the fastmlp estimators (``_model_state``,
    ``_restore_model_state``). ``name`` (default: the class name) is what files record; it
    must stay stable across versions.
    """
    name = cls.__name__ if name is None else name
    _ESTIMATORS[name] = cls
    return cls


def _registered_name(cls):
    for name, registered in _ESTIMATORS.items():
        if registered is cls:
            return name
    return None


# ---------------------------------------------------------------------------------- fields


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_number_or_none(value):
    return value is None or _is_number(value)


def _is_number_list(value):
    return isinstance(value, list) and all(_is_number(v) for v in value)


def _is_number_list_or_none(value):
    return value is None or _is_number_list(value)


def _is_history(value):
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


def _is_names(value):
    return (isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype == object
            and all(isinstance(v, str) for v in value))


# The fitted attributes format 2 stores, each with what its value must be, and which must be
# present.
_FITTED = {
    "n_features_in_": (_is_count, "a non-negative integer"),
    "feature_names_in_": (_is_names, "a 1-D array of strings"),
    "n_outputs_": (_is_count, "a non-negative integer"),
    "n_layers_": (_is_count, "a non-negative integer"),
    "out_activation_": (lambda v: isinstance(v, str), "a string"),
    "n_iter_": (_is_count, "a non-negative integer"),
    "t_": (_is_count, "a non-negative integer"),
    "_no_improvement_count": (_is_count, "a non-negative integer"),
    "loss_": (_is_number_or_none, "a number or null"),
    "best_loss_": (_is_number_or_none, "a number or null"),
    "best_validation_score_": (_is_number_or_none, "a number or null"),
    "loss_curve_": (_is_number_list, "a list of numbers"),
    "validation_scores_": (_is_number_list_or_none, "a list of numbers or null"),
    "history_": (_is_history, "an object with string keys"),
}
_REQUIRED_FITTED = ("n_features_in_", "n_outputs_", "n_layers_", "out_activation_")
# Attributes format 2 stores in fields of their own, not under ``fitted``.
_OWN_FIELDS = frozenset({"classes_", "_label_binarizer", "_optimizer", "_best_params"})


def _label_binarizer(classes, y_type, sparse_input):
    """A fitted LabelBinarizer from its documented fitted attributes, as fastmlp's
    classifiers make it (neg_label=0, pos_label=1, dense output)."""
    binarizer = LabelBinarizer()
    binarizer.y_type_ = y_type
    binarizer.sparse_input_ = sparse_input
    binarizer.classes_ = classes
    return binarizer


def _network_fields(network):
    fields = {
        "layer_units": [int(u) for u in network.units],
        "hidden_activation": network.hidden_activation,
        "output_activation": network.output_activation,
        "loss": network.loss,
        "maxout_pieces": int(network.maxout_pieces),
        "batch_norm": bool(network.batch_norm),
        "batch_norm_momentum": float(network.bn_momentum),
        "batch_norm_eps": float(network.bn_eps),
        "dropout": None if network.dropout is None else [float(r) for r in network.dropout],
        "alpha": float(network.alpha),
        "alpha_l1": float(network.alpha_l1),
    }
    if network.matmul_precision != _NETWORK_OPTIONAL["matmul_precision"]:
        fields["matmul_precision"] = network.matmul_precision
    return fields


# ---------------------------------------------------------------------------------- encoding


class _Encoder:
    """Turns values into JSON, collecting arrays as members."""

    def __init__(self, members):
        self.members = members
        self.n_arrays = 0

    def array(self, value, where, key=None):
        value = np.asarray(value)
        as_object = value.dtype == object
        if as_object:
            value = _typed_from_object(value, where)
        if value.dtype.kind not in _ARRAY_KINDS or value.dtype.fields is not None:
            raise TypeError(
                "Cannot save %s: arrays of dtype %s are not supported (fastmlp saves bool, "
                "integer, float, complex, string and bytes arrays)." % (where, value.dtype)
            )
        if key is None:
            key = "a%d" % self.n_arrays
            self.n_arrays += 1
        self.members[key] = value
        return {"__array__": key, "object": bool(as_object)}

    def encode(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            if np.isfinite(value):
                return value
            return {"__float__": "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")}
        if isinstance(value, np.str_):
            return str(value)
        if isinstance(value, np.ndarray):
            return self.array(value, where)
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, where) for v in value]}
        if isinstance(value, list):
            return [self.encode(v, where) for v in value]
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value):
                return {"__dict__": {k: self.encode(v, "%s[%r]" % (where, k))
                                     for k, v in value.items()}}
            items = []
            for k, v in value.items():
                if not (k is None or isinstance(k, (str, bool, int, float, np.generic))):
                    raise TypeError("Cannot save %s: a dict with a key of type %s (fastmlp "
                                    "saves dicts keyed by strings, numbers, booleans or None)."
                                    % (where, type(k).__name__))
                items.append([self.encode(k, where), self.encode(v, "%s[%r]" % (where, k))])
            return {"__items__": items}
        if type(value) is np.random.RandomState:
            kind, key, pos, has_gauss, cached = value.get_state(legacy=True)
            return {
                "__random_state__": {
                    "kind": kind,
                    "key": self.array(key, where),
                    "pos": int(pos),
                    "has_gauss": int(has_gauss),
                    "cached_gaussian": self.encode(cached, where),
                }
            }
        raise TypeError(
            "Cannot save %s: values of type %s cannot be stored without pickle (fastmlp saves "
            "None, booleans, numbers, strings, lists, tuples, dicts, numpy arrays and numpy "
            "RandomState instances). Use pickle or joblib for this model, or set it to one of "
            "these types." % (where, type(value).__name__)
        )


def _typed_from_object(array, where):
    """An object array of only strings, only booleans, only integers or only floats as a typed
    array whose ``astype(object)`` gives the same values back."""
    flat = list(array.ravel())

    def all_of(types, but=()):
        return all(isinstance(v, types) and not isinstance(v, but) for v in flat)

    typed = None
    if all_of(str):
        typed = np.array([str(v) for v in flat], dtype=str)
        # numpy's fixed-width strings drop trailing NULs: only store what comes back unchanged
        if not all(a == b for a, b in zip(typed.tolist(), flat)):
            typed = None
    elif all_of((bool, np.bool_)):
        typed = np.array(flat, dtype=bool)
    elif all_of((int, np.integer), but=(bool, np.bool_)):
        try:
            typed = np.array([int(v) for v in flat], dtype=np.int64)
        except OverflowError:
            typed = None
    elif all_of((float, np.floating)):
        typed = np.array(flat, dtype=np.float64)
    if typed is None:
        found = sorted({type(v).__name__ for v in flat})
        raise TypeError(
            "Cannot save %s: it is an object array holding values of type %s; fastmlp saves "
            "object arrays of only strings, only integers (64-bit), only floats or only "
            "booleans (class labels of other types need pickle or joblib)."
            % (where, ", ".join(found))
        )
    return typed.reshape(array.shape)


# ---------------------------------------------------------------------------------- saving


def save(estimator, path):
    """Write a fitted estimator to path (see the module docstring for the format)."""
    cls = type(estimator)
    name = _registered_name(cls)
    if name is None:
        raise TypeError(
            "Cannot save a %s: only registered fastmlp estimators (%s) can be saved to the "
            "fastmlp format; use pickle or joblib for other objects."
            % (cls.__name__, ", ".join(sorted(_ESTIMATORS)))
        )
    check_is_fitted(
        estimator,
        attributes=["coefs_", "intercepts_"],
        msg="This %(name)s instance is not fitted yet: fit it before saving it.",
    )
    model = estimator._model_state(options=False)  # folds assigned coefs_ / intercepts_ in
    params = model.params
    members = {"params": params}
    encoder = _Encoder(members)
    attributes = estimator.__dict__
    param_names = set(estimator._get_param_names())

    hyperparameters = {
        key: encoder.encode(value, "hyperparameter %r" % key)
        for key, value in estimator.get_params(deep=False).items()
        if key not in _UNSAVED_PARAMS
    }
    fitted, extra = {}, {}
    for key, value in attributes.items():
        if key in param_names or key in _NOT_STORED or key in _OWN_FIELDS:
            continue
        where = "fitted attribute %r" % key
        if key == "feature_names_in_":
            fitted[key] = encoder.array(value, where, "feature_names")
        elif key in _FITTED:
            fitted[key] = encoder.encode(value, where)
        elif not key.startswith("_"):
            extra[key] = encoder.encode(value, "attribute %r" % key)
        else:
            raise TypeError(
                "Cannot save the private attribute %r: fastmlp's file format (version %d) has "
                "no field for it (fastmlp._persistence names every field a file holds)."
                % (key, FORMAT_VERSION)
            )

    best = attributes.get("_best_params")
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fastmlp_version": _fastmlp_version(),
        "sklearn_version": sklearn.__version__,
        "estimator": name,
        "hyperparameters": hyperparameters,
        "network": _network_fields(model.network),
        "parameters": {"dtype": params.dtype.name, "size": int(params.size)},
        "fitted": fitted,
        "labels": _labels_fields(attributes, encoder),
        "optimizer": _optimizer_fields(attributes.get("_optimizer"), encoder),
        "best_params": (None if best is None
                        else encoder.array(best, "early stopping's best parameters",
                                           "best_params")),
        "extra_attributes": extra,
    }
    text = json.dumps(metadata, allow_nan=False, separators=(",", ":"))
    members["metadata"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    _write(members, path)


def _labels_fields(attributes, encoder):
    """The classifier's labels and their encoding (None for a regressor)."""
    if "classes_" not in attributes and "_label_binarizer" not in attributes:
        return None
    classes = attributes.get("classes_")
    binarizer = attributes.get("_label_binarizer")
    if (
        not isinstance(binarizer, LabelBinarizer)
        or (binarizer.neg_label, binarizer.pos_label, binarizer.sparse_output) != (0, 1, False)
        or getattr(binarizer, "y_type_", None) not in _Y_TYPES
    ):
        raise TypeError("Cannot save the label encoding: fastmlp saves the LabelBinarizer its "
                        "classifiers make (neg_label=0, pos_label=1, dense output, fitted).")
    fields = {
        "classes": encoder.array(classes, "fitted attribute 'classes_'", "classes"),
        "y_type": binarizer.y_type_,
        "sparse_input": bool(getattr(binarizer, "sparse_input_", False)),
        "binarizer_classes": None,
    }
    own = binarizer.classes_
    if own is not classes and not (
        isinstance(own, np.ndarray) and isinstance(classes, np.ndarray)
        and own.dtype == classes.dtype and own.shape == classes.shape
        and np.array_equal(own, classes)
    ):
        fields["binarizer_classes"] = encoder.array(own, "the label encoding's classes",
                                                    "binarizer_classes")
    return fields


def _optimizer_fields(optimizer, encoder):
    if optimizer is None:
        return None
    fields = {}
    for key, value in optimizer.fields().items():
        where = "the optimizer's %r" % key
        if key == "state":
            fields[key] = encoder.array(value, where, "optimizer_state")
        else:
            fields[key] = encoder.encode(value, where)
    return fields


def _write(members, path):
    """np.savez of members to a file object, or atomically to a path."""
    if hasattr(path, "write"):
        np.savez(path, **members)
        return
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, ".%s.%d.%s.tmp" % (name, os.getpid(), secrets.token_hex(6)))
    # os.open with 0o666: the file gets the permissions the umask gives any new file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fastmlp_version():
    from . import __version__

    return __version__


# ---------------------------------------------------------------------------------- loading


class _FormatError(Exception):
    """A problem with the file's contents; load turns it into a ValueError naming the file."""


def _read_member(zf, key, required=True):
    """One .npy member, checked from its header before anything is allocated."""
    try:
        info = zf.getinfo(key + ".npy")
    except KeyError:
        if required:
            raise _FormatError("it has no %r entry" % key) from None
        return None
    with zf.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise _FormatError("entry %r has .npy format version %s" % (key, version))
        except (ValueError, SyntaxError, TypeError) as exc:
            raise _FormatError("entry %r is not a valid .npy array (%s)" % (key, exc)) from None
        if dtype.hasobject or dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
            raise _FormatError("entry %r has dtype %s, which fastmlp files never hold"
                               % (key, dtype))
        n_items = 1
        for dim in shape:
            n_items *= dim
        n_bytes = n_items * dtype.itemsize
        header_size = f.tell()
        if info.file_size - header_size != n_bytes:
            raise _FormatError(
                "entry %r declares shape %s of %s (%d bytes) but holds %d bytes"
                % (key, shape, dtype, n_bytes, info.file_size - header_size)
            )
        # An array that owns its memory (the parameters' views must have it as their base),
        # filled in place; reading to the end makes zipfile check the CRC.
        flat = np.empty(n_items, dtype=dtype)
        buffer = memoryview(flat).cast("B") if n_bytes else memoryview(bytearray())
        filled = 0
        while filled < n_bytes:
            n = f.readinto(buffer[filled:])
            if not n:
                raise _FormatError("entry %r is truncated" % key)
            filled += n
        if f.read(1):
            raise _FormatError("entry %r is longer than its header says" % key)
    if shape == (n_items,):
        return flat
    return flat.reshape(shape, order="F" if fortran else "C")


class _Decoder:
    """Turns JSON values back into values, checking every tag and array reference. Format 1's
    ``{"__object__": NAME, "state": ...}`` values are read only with ``format1``."""

    def __init__(self, zf, format1=False):
        self.zf = zf
        self.format1 = format1

    def array(self, ref, member=None):
        """The array an ``{"__array__": ...}`` reference names (member: the name it must
        have, for the fields format 2 stores under their own member)."""
        if (not isinstance(ref, dict) or set(ref) != {"__array__", "object"}
                or not isinstance(ref["__array__"], str)):
            raise _FormatError("malformed array reference %r" % (ref,))
        key = ref["__array__"]
        if member is not None:
            if key != member:
                raise _FormatError("it refers to entry %r where %r belongs" % (key, member))
        elif not re.fullmatch(r"a[0-9]+", key):
            raise _FormatError("malformed array reference %r" % (ref,))
        array = _read_member(self.zf, key)
        if ref["object"] is True:
            if array.dtype.kind not in "biufU":
                raise _FormatError("entry %r cannot be an object array" % key)
            array = array.astype(object)
        elif ref["object"] is not False:
            raise _FormatError("malformed array reference %r" % (ref,))
        return array

    def decode(self, value):
        if value is None or isinstance(value, (bool, str, int, float)):
            return value
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict) or len(value) == 0:
            raise _FormatError("unexpected JSON value %r" % (value,))
        if "__array__" in value:
            return self.array(value)
        if len(value) == 1:
            (tag, inner), = value.items()
            if tag == "__tuple__" and isinstance(inner, list):
                return tuple(self.decode(v) for v in inner)
            if tag == "__dict__" and isinstance(inner, dict):
                return {k: self.decode(v) for k, v in inner.items()}
            if tag == "__items__" and isinstance(inner, list) and not self.format1:
                return self.items(inner)
            if tag == "__float__" and inner in ("nan", "inf", "-inf"):
                return float(inner)
            if tag == "__random_state__" and isinstance(inner, dict):
                return self.random_state(inner)
        if self.format1 and set(value) == {"__object__", "state"}:
            return _format1_object(value["__object__"], value["state"], self)
        raise _FormatError("unknown tagged value %r" % (sorted(value),))

    def items(self, pairs):
        out = {}
        for pair in pairs:
            if not isinstance(pair, list) or len(pair) != 2:
                raise _FormatError("malformed dict items")
            key = self.decode(pair[0])
            if not (key is None or isinstance(key, (str, bool, int, float))):
                raise _FormatError("malformed dict items: a key %r" % (key,))
            out[key] = self.decode(pair[1])
        return out

    def random_state(self, spec):
        if set(spec) != {"kind", "key", "pos", "has_gauss", "cached_gaussian"}:
            raise _FormatError("malformed RandomState entry")
        key = self.array(spec["key"])
        if spec["kind"] != "MT19937" or key.shape != (624,) or key.dtype.kind not in "iu":
            raise _FormatError("malformed RandomState entry")
        rng = np.random.RandomState()
        try:
            rng.set_state(
                (
                    "MT19937",
                    key.astype(np.uint32),
                    int(spec["pos"]),
                    int(spec["has_gauss"]),
                    float(self.decode(spec["cached_gaussian"])),
                )
            )
        except (TypeError, ValueError) as exc:
            raise _FormatError("malformed RandomState entry (%s)" % exc) from None
        return rng


def _check_attribute_name(cls, name):
    """Attribute names from a file may only be plain names that no class attribute (method,
    property) has, so that nothing in the file can shadow behaviour."""
    if (
        not isinstance(name, str)
        or not _NAME.match(name)
        or name.startswith("__")
        or hasattr(cls, name)
    ):
        raise _FormatError("it sets an attribute %r, which a %s cannot have"
                           % (name, cls.__name__))


def load(path):
    """Load an estimator written by ``save`` (``MLPClassifier.save`` / ``MLPRegressor.save``).

    Reads format 2 (this fastmlp's) and format 1 files. Loading runs no code from the file:
    the estimator class must be one that fastmlp registered, arrays are read with
    ``allow_pickle`` off after their header's dtype and size are checked, and the fitted
    state is checked against the network.

    Parameters
    ----------
    path : str, path-like or readable, seekable binary file object
        The file written by ``save``.

    Returns
    -------
    estimator : MLPClassifier or MLPRegressor
        The fitted estimator, predicting bitwise identically to the saved one; ``partial_fit``
        and ``warm_start`` continue from the saved optimizer state. ``callbacks`` is None:
        callables are not saved.

    Raises
    ------
    ValueError
        When the file is missing pieces, truncated, corrupted (the message names the field),
        of a newer format version (the message names it), or not a fastmlp model file at
        all; the message names the file and the problem.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import fastmlp
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> reg = fastmlp.MLPRegressor(hidden_layer_sizes=(3,), solver="lbfgs",
    ...                            random_state=0).fit(X, [0.0, 1.0, 2.0, 3.0])
    >>> path = os.path.join(tempfile.mkdtemp(), "reg.npz")
    >>> reg.save(path)
    >>> loaded = fastmlp.load(path)
    >>> type(loaded).__name__, bool((loaded.predict(X) == reg.predict(X)).all())
    ('MLPRegressor', True)
    """
    where = repr(path) if hasattr(path, "read") else repr(os.fspath(path))
    try:
        with zipfile.ZipFile(path) as zf:
            return _load_from_zip(zf)
    except _FormatError as exc:
        problem = str(exc).rstrip(".")
        raise ValueError("Cannot load a fastmlp model from %s: %s." % (where, problem)) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
            RuntimeError, NotImplementedError) as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        raise ValueError(
            "Cannot load a fastmlp model from %s: it is not a readable fastmlp model file: "
            "truncated, corrupted, or not a .npz archive (%s: %s)."
            % (where, type(exc).__name__, exc)
        ) from None


def _load_from_zip(zf):
    raw = zf.getinfo("metadata.npy").file_size if "metadata.npy" in zf.namelist() else None
    if raw is None:
        raise _FormatError("it is a zip or .npz archive without fastmlp metadata (not a "
                           "file written by fastmlp's save)")
    if raw > _MAX_METADATA_BYTES:
        raise _FormatError("its metadata entry is %d bytes, more than fastmlp writes" % raw)
    metadata_bytes = _read_member(zf, "metadata")
    if metadata_bytes.dtype != np.uint8 or metadata_bytes.ndim != 1:
        raise _FormatError("its metadata entry is not UTF-8 bytes")
    try:
        metadata = json.loads(metadata_bytes.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _FormatError("its metadata is not valid JSON (%s)" % exc) from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise _FormatError("its metadata does not say format %r" % FORMAT_NAME)
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _FormatError("its format_version %r is not a positive integer" % (version,))
    if version > FORMAT_VERSION:
        raise _FormatError(
            "it has format version %d, written by fastmlp %s; this fastmlp (%s) reads format "
            "versions up to %d: upgrade fastmlp to load it"
            % (version, metadata.get("fastmlp_version"), _fastmlp_version(), FORMAT_VERSION)
        )
    expected = _FORMAT1_FIELDS if version == 1 else _METADATA_FIELDS
    if set(metadata) != expected:
        raise _FormatError("its metadata has fields %s; format version %d has %s"
                           % (sorted(metadata), version, sorted(expected)))
    name = metadata["estimator"]
    cls = _ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise _FormatError("it holds a %r, which is not a fastmlp estimator that can be "
                           "loaded (known: %s)" % (name, ", ".join(sorted(_ESTIMATORS))))
    if version == 1:
        return _load_format1(zf, metadata, cls)
    return _load_format2(zf, metadata, cls)


def _new_estimator(cls, hyperparameters, decoder, field):
    """cls(**hyperparameters) after checking that cls has every one of them."""
    if not isinstance(hyperparameters, dict):
        raise _FormatError("its %s field is not a JSON object" % field)
    unknown = sorted(set(hyperparameters) - set(cls._get_param_names()))
    if unknown:
        raise _FormatError("it sets parameters %s that %s does not have in this fastmlp (%s)"
                           % (unknown, cls.__name__, _fastmlp_version()))
    return cls(**{k: decoder.decode(v) for k, v in hyperparameters.items()})


def _read_params(zf, dtype_name):
    params = _read_member(zf, "params")
    if params.dtype not in _PARAMS_DTYPES or params.ndim != 1:
        raise _FormatError("its parameter array has dtype %s and shape %s; expected a 1-D "
                           "float32 or float64 array" % (params.dtype, params.shape))
    if params.dtype.name != dtype_name:
        raise _FormatError("its parameter array is %s but the metadata says %r"
                           % (params.dtype, dtype_name))
    return params


def _check_units(units, field):
    if (
        not isinstance(units, list)
        or len(units) < 2
        or not all(isinstance(u, int) and not isinstance(u, bool) and u >= 1 for u in units)
    ):
        raise _FormatError("its %s %r are not a list of at least two positive integers"
                           % (field, units))


# ------------------------------------------------------------------------------- format 2


def _load_format2(zf, metadata, cls):
    decoder = _Decoder(zf)
    estimator = _new_estimator(cls, metadata["hyperparameters"], decoder, "hyperparameters")
    # the constraints fit checks: predict and training build networks from these options
    try:
        estimator._validate_params()
    except ValueError as exc:
        raise _FormatError("its hyperparameters are invalid: %s" % exc) from None
    attributes = estimator.__dict__
    network = _read_network(metadata["network"])

    parameters = metadata["parameters"]
    if not isinstance(parameters, dict) or set(parameters) != {"dtype", "size"}:
        raise _FormatError("its parameters field is not {\"dtype\": ..., \"size\": ...}")
    params = _read_params(zf, parameters["dtype"])
    if parameters["size"] != params.size:
        raise _FormatError("its parameters.size is %r but the parameter array has %d values"
                           % (parameters["size"], params.size))
    if network.matmul_precision != "float32" and params.dtype != np.float32:
        raise _FormatError("its network's matmul_precision is %r, which needs float32 "
                           "parameters, but they are %s" % (network.matmul_precision,
                                                            params.dtype.name))

    fitted = metadata["fitted"]
    if not isinstance(fitted, dict):
        raise _FormatError("its fitted field is not a JSON object")
    for key, value in fitted.items():
        if key not in _FITTED:
            raise _FormatError("its fitted field has an entry %r, which format version %d "
                               "does not have" % (key, FORMAT_VERSION))
        if key == "feature_names_in_":
            value = decoder.array(value, "feature_names")
        else:
            value = decoder.decode(value)
        check, expected = _FITTED[key]
        if not check(value):
            raise _FormatError("its fitted.%s is not %s" % (key, expected))
        attributes[key] = value
    for key in _REQUIRED_FITTED:
        if key not in fitted:
            raise _FormatError("its fitted field has no %r" % key)
    if attributes["out_activation_"] != network.output_activation:
        raise _FormatError("its fitted.out_activation_ %r is not the network's output "
                           "activation %r" % (attributes["out_activation_"],
                                              network.output_activation))
    names = attributes.get("feature_names_in_")
    if names is not None and names.shape != (attributes["n_features_in_"],):
        raise _FormatError("its fitted.feature_names_in_ holds %d names for %d features"
                           % (names.shape[0], attributes["n_features_in_"]))

    labels = metadata["labels"]
    if labels is not None:
        _read_labels(labels, decoder, attributes)
    optimizer = metadata["optimizer"]
    if optimizer is not None:
        attributes["_optimizer"] = _read_optimizer(optimizer, decoder)
    best = metadata["best_params"]
    if best is not None:
        attributes["_best_params"] = decoder.array(best, "best_params")

    extra = metadata["extra_attributes"]
    if not isinstance(extra, dict):
        raise _FormatError("its extra_attributes field is not a JSON object")
    for key, value in extra.items():
        _check_attribute_name(cls, key)
        if key.startswith("_") or key in attributes or key in _NOT_STORED or key in _OWN_FIELDS:
            raise _FormatError("its extra_attributes set %r" % (key,))
        attributes[key] = decoder.decode(value)

    try:
        estimator._restore_model_state(params, network=network)
    except ValueError as exc:
        raise _FormatError(str(exc)) from None
    _check_fitted_state(estimator, list(network.units), params)
    return estimator


def _read_network(fields):
    """The C core's network description from the ``network`` field."""
    if (not isinstance(fields, dict) or not _NETWORK_FIELDS <= set(fields)
            or not set(fields) <= _NETWORK_FIELDS | set(_NETWORK_OPTIONAL)):
        raise _FormatError("its network field does not have the fields %s (and optionally %s)"
                           % (sorted(_NETWORK_FIELDS), sorted(_NETWORK_OPTIONAL)))
    precision = fields.get("matmul_precision", _NETWORK_OPTIONAL["matmul_precision"])
    if precision not in ("float32", "bfloat16"):
        raise _FormatError("its network.matmul_precision is %r, not 'float32' or 'bfloat16'"
                           % (precision,))
    _check_units(fields["layer_units"], "network.layer_units")
    for key in ("hidden_activation", "output_activation", "loss"):
        if not isinstance(fields[key], str):
            raise _FormatError("its network.%s is not a string" % key)
    for key in ("alpha", "alpha_l1", "batch_norm_momentum", "batch_norm_eps"):
        if not _is_number(fields[key]):
            raise _FormatError("its network.%s is not a number" % key)
    if not isinstance(fields["batch_norm"], bool):
        raise _FormatError("its network.batch_norm is not true or false")
    pieces = fields["maxout_pieces"]
    if not _is_count(pieces):
        raise _FormatError("its network.maxout_pieces is not a positive integer")
    n_hidden = len(fields["layer_units"]) - 2
    dropout = fields["dropout"]
    if dropout is not None and not (_is_number_list(dropout) and len(dropout) == n_hidden
                                    and all(0 <= r < 1 for r in dropout)):
        raise _FormatError("its network.dropout is not null or one rate in [0, 1) per hidden "
                           "layer")
    try:
        network = build_network(
            fields["layer_units"], fields["hidden_activation"], fields["output_activation"],
            fields["loss"], fields["alpha"], fields["alpha_l1"], pieces, fields["batch_norm"],
            dropout if dropout is not None else [0.0] * n_hidden,
            matmul_precision=precision,
        )
    except KeyError as exc:
        raise _FormatError("its network names an activation or loss that fastmlp does not "
                           "have (%s)" % exc) from None
    except ValueError as exc:
        raise _FormatError("its network is invalid: %s" % exc) from None
    for key, value in (("batch_norm_momentum", network.bn_momentum),
                       ("batch_norm_eps", network.bn_eps)):
        if fields[key] != value:
            raise _FormatError("its network.%s is %r; this fastmlp's is %r"
                               % (key, fields[key], value))
    return network


def _read_labels(labels, decoder, attributes):
    if not isinstance(labels, dict) or set(labels) != _LABEL_FIELDS:
        raise _FormatError("its labels field does not have the fields %s"
                           % sorted(_LABEL_FIELDS))
    classes = decoder.array(labels["classes"], "classes")
    if labels["y_type"] not in _Y_TYPES:
        raise _FormatError("its labels.y_type %r is not one of %s"
                           % (labels["y_type"], ", ".join(_Y_TYPES)))
    if not isinstance(labels["sparse_input"], bool):
        raise _FormatError("its labels.sparse_input is not true or false")
    own = classes
    if labels["binarizer_classes"] is not None:
        own = decoder.array(labels["binarizer_classes"], "binarizer_classes")
    for array, field in ((classes, "classes"), (own, "binarizer_classes")):
        if array.ndim != 1:
            raise _FormatError("its labels.%s is not a 1-D array" % field)
    attributes["classes_"] = classes
    attributes["_label_binarizer"] = _label_binarizer(own, labels["y_type"],
                                                      labels["sparse_input"])


def _read_optimizer(fields, decoder):
    if not isinstance(fields, dict):
        raise _FormatError("its optimizer field is not a JSON object or null")
    missing = sorted(_OPTIMIZER_FIELDS - set(fields))
    unknown = sorted(set(fields) - _OPTIMIZER_FIELDS)
    if missing or unknown:
        raise _FormatError("its optimizer field lacks %s and has %s besides its fields"
                           % (missing, unknown))
    values = {}
    for key, value in fields.items():
        if key == "state":
            values[key] = decoder.array(value, "optimizer_state")
        else:
            values[key] = decoder.decode(value)
            if key != "solver" and key != "lr_schedule" and not _is_number(values[key]) \
                    and not isinstance(values[key], bool):
                raise _FormatError("its optimizer.%s is not a number" % key)
    if not (_is_count(values["step"]) and values["step"] < 2**63):
        raise _FormatError("its optimizer.step is not a non-negative 64-bit integer")
    return _optimizer_from(values, "optimizer")


def _optimizer_from(values, field):
    try:
        return Optimizer.from_fields(values)
    except KeyError as exc:
        raise _FormatError("its %s has no field %s" % (field, exc)) from None
    except (TypeError, ValueError) as exc:
        raise _FormatError("its %s is malformed (%s)" % (field, exc)) from None


# ------------------------------------------------------------------------------- format 1


def _format1_object(name, state, decoder):
    """Format 1's optimizer and label binarizer, read by name into the objects format 2
    builds."""
    if name not in ("fastmlp._Optimizer", "sklearn.preprocessing.LabelBinarizer"):
        raise _FormatError("it names an object class %r that fastmlp does not load" % (name,))
    if not isinstance(state, dict):
        raise _FormatError("malformed %r entry" % name)
    values = {}
    for attr, value in state.items():
        if not isinstance(attr, str) or not _NAME.match(attr) or attr.startswith("__"):
            raise _FormatError("malformed %r entry" % name)
        values[attr] = decoder.decode(value)
    if name == "fastmlp._Optimizer":
        return _optimizer_from(values, "optimizer")
    classes = values.get("classes_")
    if (
        (values.get("neg_label"), values.get("pos_label"), values.get("sparse_output"))
        != (0, 1, False)
        or values.get("y_type_") not in _Y_TYPES
        or not isinstance(values.get("sparse_input_"), bool)
        or not isinstance(classes, np.ndarray)
        or classes.ndim != 1
    ):
        raise _FormatError("its label binarizer is malformed")
    return _label_binarizer(classes, values["y_type_"], values["sparse_input_"])


def _load_format1(zf, metadata, cls):
    decoder = _Decoder(zf, format1=True)
    estimator = _new_estimator(cls, metadata["params"], decoder, "params")
    attributes = metadata["attributes"]
    if not isinstance(attributes, dict):
        raise _FormatError("its params and attributes entries are not JSON objects")
    known = set(cls._get_param_names())
    for key, value in attributes.items():
        if key in VIEW_ATTRIBUTES and key not in ("coefs_", "intercepts_"):
            continue  # format 1 also wrote these views of the parameter array
        _check_attribute_name(cls, key)
        if key in known or key in _FORMAT1_NOT_STORED:
            raise _FormatError("it sets %r among the fitted attributes" % key)
        value = decoder.decode(value)
        if key == "_optimizer" and not isinstance(value, Optimizer):
            raise _FormatError("its optimizer is malformed")
        if key == "_label_binarizer" and not isinstance(value, LabelBinarizer):
            raise _FormatError("its label binarizer is malformed")
        estimator.__dict__[key] = value

    units = metadata["layer_units"]
    _check_units(units, "layer_units")
    params = _read_params(zf, metadata["params_dtype"])
    try:
        estimator._restore_model_state(params, units)
    except ValueError as exc:
        raise _FormatError(str(exc)) from None
    _check_fitted_state(estimator, units, params)
    return estimator


# ------------------------------------------------------------------------------- both


def _check_fitted_state(estimator, units, params):
    """Consistency of the restored attributes with the parameters (a corrupted or hand-made
    file must fail here, not inside predict or the C core)."""
    for attr, expected in (("n_features_in_", units[0]), ("n_outputs_", units[-1]),
                           ("n_layers_", len(units))):
        value = estimator.__dict__.get(attr)
        if value is None or value != expected:
            raise _FormatError("its %s is %r but the layer widths %s need %r"
                               % (attr, value, units, expected))
    best = estimator.__dict__.get("_best_params")
    if best is not None and (not isinstance(best, np.ndarray) or best.dtype != params.dtype
                             or best.shape != params.shape):
        raise _FormatError("its best parameters do not match the parameter array")
    optimizer = estimator.__dict__.get("_optimizer")
    if optimizer is not None and not optimizer.matches(params.size, params.dtype):
        raise _FormatError("its optimizer state does not match the parameter array")
    if "classes_" in estimator.__dict__ or "_label_binarizer" in estimator.__dict__:
        classes = estimator.__dict__.get("classes_")
        binarizer = estimator.__dict__.get("_label_binarizer")
        if not isinstance(classes, np.ndarray) or classes.ndim != 1 or binarizer is None:
            raise _FormatError("its class labels are malformed")
        n_outputs = units[-1]
        for labels in (classes, binarizer.classes_):
            n_classes = len(labels)
            if not (n_outputs == n_classes or (n_classes <= 2 and n_outputs == 1)):
                raise _FormatError("it has %d class labels for %d outputs"
                                   % (n_classes, n_outputs))
