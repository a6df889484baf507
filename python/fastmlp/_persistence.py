"""Saving fitted estimators to a portable file and loading them back, without pickle.

File format (``format_version`` 1): a NumPy ``.npz`` archive (an uncompressed zip of ``.npy``
files) with

``metadata``
    UTF-8 JSON as a 1-D ``uint8`` array: ``format``, ``format_version``, ``fastmlp_version``,
    ``sklearn_version``, ``estimator`` (a registered class name), ``params`` (``get_params()``),
    ``layer_units`` and ``attributes`` (every other entry of the estimator's ``__dict__``).
``params``
    The flat parameter array (float32 or float64), bytes as in memory.
``a0``, ``a1``, ...
    Every other numpy array, referenced from the JSON.

Values are encoded as JSON where JSON can hold them; everything else is a tagged object:
``{"__tuple__": [...]}``, ``{"__dict__": {...}}`` (a dict with string keys),
``{"__float__": "nan" | "inf" | "-inf"}``, ``{"__array__": "a3", "object": false}`` (an array
member; ``object`` restores an object-dtype array of strings / numbers stored typed),
``{"__random_state__": {...}}`` (a ``numpy.random.RandomState``'s MT19937 state) and
``{"__object__": NAME, "state": {...}}`` (an instance of a registered helper class, restored
as ``cls.__new__(cls)`` plus its attributes). Anything else (callables, arbitrary objects) is
refused at save time with a ``TypeError``.

Loading executes no code from the file: only registered classes are instantiated, attribute
names are checked, array members are read from their headers with dtype and size checks
(``allow_pickle`` never comes into play: object arrays are refused), and the fitted state is
checked against the layer widths before the estimator is returned.
"""

import json
import os
import re
import secrets
import zipfile
import zlib

import numpy as np
import sklearn
from sklearn.utils.validation import check_is_fitted

from ._optimizers import STOCHASTIC_SOLVERS

FORMAT_NAME = "fastmlp-model"
FORMAT_VERSION = 1

# Attributes that are not stored: the flat parameters have their own member, coefs_ /
# intercepts_ are re-bound as views into them, the C core's network description is rebuilt,
# the random generator is re-derived from ``random_state`` at every fit, and metadata-routing
# requests (set_fit_request) are configuration, not model state.
_NOT_STORED = frozenset(
    {"_params", "coefs_", "intercepts_", "_net", "_model", "_random_state", "_metadata_request",
     "prelu_slopes_", "batch_norm_scales_", "batch_norm_shifts_", "batch_norm_means_",
     "batch_norm_vars_"}
)

# Views of the flat parameters, rebuilt from it at load.
_VIEWS_OF_PARAMS = frozenset(
    {"prelu_slopes_", "batch_norm_scales_", "batch_norm_shifts_", "batch_norm_means_",
     "batch_norm_vars_"}
)

# dtype kinds an array member may have: bool, signed / unsigned int, float, complex, str, bytes
_ARRAY_KINDS = frozenset("biufcUS")

_MAX_METADATA_BYTES = 256 * 2**20
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAMS_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_ESTIMATORS = {}  # registered name -> estimator class
_OBJECTS = {}  # registered name -> helper class stored by its attributes


def register_estimator(cls, name=None):
    """Allow ``save`` / ``load`` for an estimator class (a fastmlp multilayer perceptron).

    The class needs the flat-parameter storage of ``BaseMultilayerPerceptron``
    (``_params``, ``_layer_units_from_coefs``, ``_rebind_views``). ``name`` (default: the class
    name) is what files record; it must stay stable across versions.
    """
    name = cls.__name__ if name is None else name
    _ESTIMATORS[name] = cls
    return cls


def register_object_class(cls, name):
    """Allow instances of a helper class (an optimizer state, a label binarizer) among the
    stored attributes. They are stored as their ``__dict__`` and restored as
    ``cls.__new__(cls)`` with those attributes set: no ``__init__`` runs."""
    _OBJECTS[name] = cls
    return cls


def _registered_name(registry, cls):
    for name, registered in registry.items():
        if registered is cls:
            return name
    return None


# ---------------------------------------------------------------------------------- encoding


class _Encoder:
    """Turns parameter and attribute values into JSON, collecting arrays as members."""

    def __init__(self):
        self.arrays = {}

    def array(self, value, where):
        value = np.asarray(value)
        as_object = value.dtype == object
        if as_object:
            value = _typed_from_object(value, where)
        if value.dtype.kind not in _ARRAY_KINDS or value.dtype.fields is not None:
            raise TypeError(
                "Cannot save %s: arrays of dtype %s are not supported (fastmlp saves bool, "
                "integer, float, complex, string and bytes arrays)." % (where, value.dtype)
            )
        key = "a%d" % len(self.arrays)
        self.arrays[key] = value
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
            if not all(isinstance(k, str) for k in value):
                raise TypeError("Cannot save %s: a dict with non-string keys." % where)
            return {"__dict__": {k: self.encode(v, "%s[%r]" % (where, k)) for k, v in value.items()}}
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
        name = _registered_name(_OBJECTS, type(value))
        if name is not None:
            state = {}
            for attr, attr_value in vars(value).items():
                state[attr] = self.encode(attr_value, "%s.%s" % (where, attr))
            return {"__object__": name, "state": state}
        raise TypeError(
            "Cannot save %s: values of type %s cannot be stored without pickle (fastmlp saves "
            "None, booleans, numbers, strings, lists, tuples, dicts with string keys, numpy "
            "arrays and numpy RandomState instances). Use pickle or joblib for this model, or "
            "set it to one of these types." % (where, type(value).__name__)
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
    name = _registered_name(_ESTIMATORS, cls)
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
    units = model.units

    encoder = _Encoder()
    param_names = set(estimator._get_param_names())
    encoded_params = {
        key: encoder.encode(value, "parameter %r" % key)
        for key, value in estimator.get_params(deep=False).items()
    }
    attributes = {}
    for key, value in estimator.__dict__.items():
        if key in param_names or key in _NOT_STORED:
            continue
        attributes[key] = encoder.encode(value, "fitted attribute %r" % key)

    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fastmlp_version": _fastmlp_version(),
        "sklearn_version": sklearn.__version__,
        "estimator": name,
        "params": encoded_params,
        "layer_units": [int(u) for u in units],
        "params_dtype": params.dtype.name,
        "attributes": attributes,
    }
    text = json.dumps(metadata, allow_nan=False, separators=(",", ":"))
    members = {"metadata": np.frombuffer(text.encode("utf-8"), dtype=np.uint8), "params": params}
    members.update(encoder.arrays)

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
    """Turns the JSON back into values, checking every tag and array reference."""

    def __init__(self, zf):
        self.zf = zf

    def array(self, ref):
        if set(ref) != {"__array__", "object"} or not isinstance(ref["__array__"], str):
            raise _FormatError("malformed array reference %r" % (ref,))
        key = ref["__array__"]
        if not re.fullmatch(r"a[0-9]+", key):
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
            if tag == "__float__" and inner in ("nan", "inf", "-inf"):
                return float(inner)
            if tag == "__random_state__" and isinstance(inner, dict):
                return self.random_state(inner)
        if set(value) == {"__object__", "state"}:
            return self.object(value["__object__"], value["state"])
        raise _FormatError("unknown tagged value %r" % (sorted(value),))

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

    def object(self, name, state):
        cls = _OBJECTS.get(name) if isinstance(name, str) else None
        if cls is None:
            raise _FormatError("it names an object class %r that fastmlp does not load" % (name,))
        if not isinstance(state, dict):
            raise _FormatError("malformed %r entry" % name)
        obj = cls.__new__(cls)
        for attr, value in state.items():
            _check_attribute_name(cls, attr)
            obj.__dict__[attr] = self.decode(value)
        return obj


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

    Loading runs no code from the file: the estimator class must be one that fastmlp
    registered, arrays are read with ``allow_pickle`` off after their header's dtype and
    size are checked, and the fitted state is checked against the layer widths.

    Parameters
    ----------
    path : str, path-like or readable, seekable binary file object
        The file written by ``save``.

    Returns
    -------
    estimator : MLPClassifier or MLPRegressor
        The fitted estimator, predicting bitwise identically to the saved one; ``partial_fit``
        and ``warm_start`` continue from the saved optimizer state.

    Raises
    ------
    ValueError
        When the file is missing pieces, truncated, corrupted, of a newer format version, or
        not a fastmlp model file at all; the message names the file and the problem.

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
    expected = {"format", "format_version", "fastmlp_version", "sklearn_version", "estimator",
                "params", "layer_units", "params_dtype", "attributes"}
    if set(metadata) != expected:
        raise _FormatError("its metadata has entries %s; expected %s"
                           % (sorted(metadata), sorted(expected)))

    name = metadata["estimator"]
    cls = _ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise _FormatError("it holds a %r, which is not a fastmlp estimator that can be "
                           "loaded (known: %s)" % (name, ", ".join(sorted(_ESTIMATORS))))

    decoder = _Decoder(zf)
    params_meta, attributes = metadata["params"], metadata["attributes"]
    if not isinstance(params_meta, dict) or not isinstance(attributes, dict):
        raise _FormatError("its params and attributes entries are not JSON objects")
    known = set(cls._get_param_names())
    unknown = sorted(set(params_meta) - known)
    if unknown:
        raise _FormatError("it sets parameters %s that %s does not have in this fastmlp (%s)"
                           % (unknown, cls.__name__, _fastmlp_version()))
    estimator = cls(**{k: decoder.decode(v) for k, v in params_meta.items()})
    for key, value in attributes.items():
        if key in _VIEWS_OF_PARAMS:
            continue  # format 1 also wrote these views of the parameter array
        _check_attribute_name(cls, key)
        if key in known or key in _NOT_STORED:
            raise _FormatError("it sets %r among the fitted attributes" % key)
        estimator.__dict__[key] = decoder.decode(value)

    units = metadata["layer_units"]
    if (
        not isinstance(units, list)
        or len(units) < 2
        or not all(isinstance(u, int) and not isinstance(u, bool) and u >= 1 for u in units)
    ):
        raise _FormatError("its layer_units %r are not a list of at least two positive "
                           "integers" % (units,))
    params = _read_member(zf, "params")
    if params.dtype not in _PARAMS_DTYPES or params.ndim != 1:
        raise _FormatError("its parameter array has dtype %s and shape %s; expected a 1-D "
                           "float32 or float64 array" % (params.dtype, params.shape))
    if params.dtype.name != metadata["params_dtype"]:
        raise _FormatError("its parameter array is %s but the metadata says %r"
                           % (params.dtype, metadata["params_dtype"]))
    try:
        estimator._restore_model_state(params, units)
    except ValueError as exc:
        raise _FormatError(str(exc)) from None
    _check_fitted_state(estimator, units, params)
    return estimator


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
    if optimizer is not None:
        matches = getattr(optimizer, "matches", None)
        state = optimizer.__dict__.get("state")
        if (
            not isinstance(state, np.ndarray)
            or state.dtype != params.dtype
            or getattr(optimizer, "solver", None) not in STOCHASTIC_SOLVERS
            or not matches(params.size, params.dtype)
        ):
            raise _FormatError("its optimizer state does not match the parameter array")
    if "classes_" in estimator.__dict__:
        classes = estimator.classes_
        binarizer = estimator.__dict__.get("_label_binarizer")
        if not isinstance(classes, np.ndarray) or classes.ndim != 1 or binarizer is None:
            raise _FormatError("its class labels are malformed")
        n_classes = len(classes)
        n_outputs = units[-1]
        if not (n_outputs == n_classes or (n_classes <= 2 and n_outputs == 1)):
            raise _FormatError("it has %d class labels for %d outputs" % (n_classes, n_outputs))
