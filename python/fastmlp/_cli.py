"""Command line demo behind ``python -m fastmlp``.

With no arguments it trains an :class:`fastmlp.MLPClassifier` on the digits
data embedded in scikit-learn (nothing is downloaded), printing one line per
epoch, then the test accuracy and the training time. ``--data FOLDER``
trains on MNIST-format IDX files instead. Run ``python -m fastmlp --help``
for the options.
"""

import argparse
import math
import os
import sys
import time
import warnings

from . import _core

_PROG = "fastmlp"
_DEFAULT_EPOCHS = 30
_DIGITS_TEST_SIZE = 0.25
_DIGITS_SPLIT_SEED = 0


class _ArgumentParser(argparse.ArgumentParser):
    """Argument parser whose errors are a single line on stderr (exit 2)."""

    def error(self, message):
        message = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _hidden_sizes(text):
    """Parse ``"100,50"`` into ``(100, 50)`` for ``--hidden``."""
    parts = [p.strip() for p in text.split(",")]
    sizes = []
    for part in parts:
        try:
            size = int(part)
        except ValueError:
            size = 0
        if size <= 0:
            raise argparse.ArgumentTypeError(
                "expected comma-separated positive integers such as 100,50, "
                f"got {text!r}"
            )
        sizes.append(size)
    return tuple(sizes)


def _positive_int(text):
    """Parse a strictly positive integer."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        )
    return value


def _seed(text):
    """Parse a random seed, an integer in [0, 2**32 - 1]."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected an integer between 0 and 4294967295, got {text!r}"
        )
    return value


def _learning_rate(text):
    """Parse 'auto' (the solver's own default) or a strictly positive finite float."""
    if text == "auto":
        return text
    return _positive_float(text)


def _positive_float(text):
    """Parse a strictly positive finite float."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"expected a positive number, got {text!r}"
        )
    return value


def _rate(text):
    """A dropout rate in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _existing_folder(text):
    """Check that ``--data`` names an existing folder."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"folder not found: {text!r}")
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"not a folder: {text!r}")
    return text


def _output_file(text):
    """Check, before any training, that ``--save`` / ``--plot`` can create the file ``text``:
    its folder exists and is writable, and the path itself is not a folder."""
    folder = os.path.dirname(text) or os.curdir
    if not os.path.exists(folder):
        raise argparse.ArgumentTypeError(f"folder not found: {folder!r} (for {text!r})")
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"not a folder: {folder!r} (for {text!r})")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"folder not writable: {folder!r} (for {text!r})")
    return text


def _package_version():
    """The installed fastmlp version, as ``fastmlp.__version__`` gives it."""
    from . import __version__

    return __version__


def _build_parser(prog=_PROG):
    """Return the argument parser of ``python -m fastmlp``."""
    parser = _ArgumentParser(
        prog=prog,
        description=(
            "Train a fastmlp MLPClassifier and report its test accuracy. "
            "By default it uses the 8x8 digits data shipped with "
            "scikit-learn (1797 images, fixed stratified 75/25 split); "
            "features are standardized with a StandardScaler in a Pipeline."
        ),
        epilog=(
            "example: python -m fastmlp --data data/mnist --hidden 256,128 "
            "--epochs 10 --batch-size 128"
        ),
    )
    parser.add_argument(
        "--hidden",
        type=_hidden_sizes,
        default=(100,),
        metavar="SIZES",
        help="comma-separated hidden layer sizes, e.g. 100,50 (default: 100)",
    )
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        default=_DEFAULT_EPOCHS,
        metavar="N",
        help=(
            "passes over the training data; for lbfgs, the maximum number "
            f"of iterations (default: {_DEFAULT_EPOCHS})"
        ),
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="minibatch size for sgd and adam (default: min(200, n_samples))",
    )
    parser.add_argument(
        "--solver",
        choices=("sgd", "adam", "adamw", "adagrad", "rmsprop", "adadelta", "lbfgs"),
        default="adam",
        help="weight optimizer (default: adam)",
    )
    parser.add_argument(
        "--activation",
        choices=[name for name in _core.ACTIVATIONS if name not in ("softmax", "exp")],
        default="relu",
        help="hidden layer activation (default: relu)",
    )
    parser.add_argument(
        "--dropout",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="dropout rate of the hidden layers while training, in [0, 1) (default: 0)",
    )
    parser.add_argument(
        "--learning-rate-init",
        type=_learning_rate,
        default="auto",
        metavar="LR",
        help="initial learning rate of the stochastic solvers (default: auto, the solver's "
        "own: 0.001 for sgd, adam and adamw, 0.01 for adagrad and rmsprop, 1.0 for adadelta)",
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="random_state of the estimator (default: 0)",
    )
    parser.add_argument(
        "--data",
        type=_existing_folder,
        default=None,
        metavar="FOLDER",
        help=(
            "folder of MNIST-format IDX files (train-images-idx3-ubyte, "
            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
            "t10k-labels-idx1-ubyte, gzipped or not), e.g. MNIST or "
            "Fashion-MNIST; trains on the train split and tests on t10k "
            "(default: scikit-learn's digits)"
        ),
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="floating point precision of the data and weights "
        "(default: float32)",
    )
    parser.add_argument(
        "--save",
        type=_output_file,
        default=None,
        metavar="PATH",
        help="save the trained model to PATH with MLPClassifier.save (no pickle; load it with "
        "fastmlp.load); the loader's scaling to [0, 1] and the standardization are folded "
        "into the first layer, so the saved model takes the values as stored: pixel bytes "
        "0-255 of the IDX files with --data, the 0-16 counts of "
        "sklearn.datasets.load_digits(return_X_y=True) without",
    )
    parser.add_argument(
        "--plot",
        type=_output_file,
        default=None,
        metavar="PATH",
        help="save the learning curves (loss and accuracy per epoch, training and test data) "
        "as an image, e.g. curves.png (needs matplotlib)",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"fastmlp {_package_version()}",
        help="print the fastmlp version and exit",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="print only the test accuracy and the training time",
    )
    return parser


def _load_data(args):
    """Return ``(name, X_train, X_test, y_train, y_test, raw_scale)`` for ``args``, with
    ``raw_scale`` what the loader divided the stored values by."""
    import numpy as np

    from .datasets import _DIGITS_SCALE, _PIXEL_SCALE, load_digits, load_mnist

    if args.data is None:
        from sklearn.model_selection import train_test_split

        X, y = load_digits()
        X_train, X_test, y_train, y_test = train_test_split(
            X,
            y,
            test_size=_DIGITS_TEST_SIZE,
            stratify=y,
            random_state=_DIGITS_SPLIT_SEED,
        )
        name = "digits"
        raw_scale = _DIGITS_SCALE
    else:
        X_train, y_train = load_mnist(args.data, "train")
        X_test, y_test = load_mnist(args.data, "test")
        name = os.path.basename(os.path.normpath(args.data)) or args.data
        raw_scale = _PIXEL_SCALE
    dtype = np.dtype(args.dtype)
    X_train = np.ascontiguousarray(X_train, dtype=dtype)
    X_test = np.ascontiguousarray(X_test, dtype=dtype)
    return name, X_train, X_test, y_train, y_test, raw_scale


def _train(pipe, X_train, y_train, epochs, quiet):
    """Fit ``pipe`` and return the training time in seconds.

    For sgd and adam the scaler is fitted once and the MLP is trained with
    one ``partial_fit`` call per epoch so that progress can be printed
    after each epoch. lbfgs has no ``partial_fit``; it runs ``fit`` with
    ``max_iter=epochs``.
    """
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    scaler = pipe.named_steps["scaler"]
    mlp = pipe.named_steps["mlp"]
    start = time.perf_counter()
    if mlp.solver == "lbfgs":
        with warnings.catch_warnings():
            # Hitting max_iter=epochs is the expected way to stop here.
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit(X_train, y_train)
        elapsed = time.perf_counter() - start
        if not quiet:
            print(
                f"lbfgs  {mlp.n_iter_} iterations  loss {mlp.loss_:.4g}  "
                f"elapsed {elapsed:.2f}s",
                flush=True,
            )
        return elapsed

    X_scaled = scaler.fit_transform(X_train)
    classes = np.unique(y_train)
    width = len(str(epochs))
    for epoch in range(1, epochs + 1):
        if epoch == 1:
            mlp.partial_fit(X_scaled, y_train, classes=classes)
        else:
            mlp.partial_fit(X_scaled, y_train)
        if not quiet:
            elapsed = time.perf_counter() - start
            print(
                f"epoch {epoch:>{width}}/{epochs}  loss {mlp.loss_:.4f}  "
                f"elapsed {elapsed:.2f}s",
                flush=True,
            )
    return time.perf_counter() - start


def _extra_options(args):
    """The model line's text for options away from their defaults."""
    text = ""
    if args.activation != "relu":
        text += f", activation={args.activation!r}"
    if args.dropout:
        text += f", dropout={args.dropout}"
    return text


def _run(args, prog):
    """Train and evaluate as described by the parsed ``args``."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from . import MLPClassifier

    try:
        name, X_train, X_test, y_train, y_test, raw_scale = _load_data(args)
    except (OSError, ValueError) as exc:
        message = " ".join(str(exc).split())
        print(f"{prog}: error: --data: {message}", file=sys.stderr)
        return 2

    mlp = MLPClassifier(
        hidden_layer_sizes=args.hidden,
        solver=args.solver,
        batch_size="auto" if args.batch_size is None else args.batch_size,
        learning_rate_init=args.learning_rate_init,
        max_iter=args.epochs,
        random_state=args.seed,
        activation=args.activation,
        dropout=args.dropout,
    )
    pipe = Pipeline([("scaler", StandardScaler()), ("mlp", mlp)])

    if not args.quiet:
        n_classes = len(set(y_train.tolist()))
        print(
            f"data: {name}, {X_train.shape[0]} train / {X_test.shape[0]} test "
            f"samples, {X_train.shape[1]} features, {n_classes} classes, "
            f"{X_train.dtype}",
            flush=True,
        )
        batch = "auto" if args.batch_size is None else args.batch_size
        print(
            f"model: MLPClassifier(hidden_layer_sizes={args.hidden}, "
            f"solver={args.solver!r}, batch_size={batch!r}, "
            f"learning_rate_init={args.learning_rate_init!r}, "
            f"random_state={args.seed}{_extra_options(args)}), {args.epochs} epochs",
            flush=True,
        )

    if args.plot is not None:
        try:
            import matplotlib

            matplotlib.use("Agg")
        except ImportError:
            print(f"{prog}: error: --plot needs matplotlib: pip install \"fastmlp[plot]\"",
                  file=sys.stderr)
            return 2
        # per-epoch curves on the test data too (scaled as the model sees it)
        scaler = pipe.named_steps["scaler"].fit(X_train)
        mlp.set_params(validation_data=(scaler.transform(X_test), y_test))

    train_time = _train(pipe, X_train, y_train, args.epochs, args.quiet)
    accuracy = pipe.score(X_test, y_test)
    n_correct = int(round(accuracy * X_test.shape[0]))
    print(f"test accuracy: {accuracy:.4f} ({n_correct}/{X_test.shape[0]})")
    print(f"training time: {train_time:.2f} s")
    for option, path, write in (("--save", args.save, _save_raw_feature_model),
                                ("--plot", args.plot, _plot)):
        if path is None:
            continue
        try:
            write(pipe, raw_scale, path)
        except OSError as exc:
            # strerror, not str(exc): the latter may name save's temporary file
            reason = exc.strerror or type(exc).__name__
            print(f"{prog}: error: {option}: cannot write {path!r}: {reason}", file=sys.stderr)
            return 2
        except (ValueError, TypeError) as exc:
            message = " ".join(str(exc).split())
            print(f"{prog}: error: {option}: {message}", file=sys.stderr)
            return 2
        if option == "--save":
            print(f"model saved: {path} (it predicts from {_raw_values(args)}; "
                  f"load it with fastmlp.load)")
        else:
            print(f"learning curves saved: {path}")
    return 0


def _raw_values(args):
    """What a model saved by ``args`` takes as input, in words."""
    if args.data is None:
        return ("the digits' 0-16 counts, as sklearn.datasets.load_digits(return_X_y=True) "
                "gives them")
    return "raw pixel bytes 0-255, as stored in the IDX files"


def _save_raw_feature_model(pipe, raw_scale, path):
    """Saves the pipeline's MLP with the loader's scaling and the scaler folded into its first
    layer. The pipeline sees x = r / raw_scale for the stored values r; for
    z = ((x - mean) / scale) . W + b = ((r - M) / S) . W + b with M = raw_scale * mean and
    S = raw_scale * scale, W' = W / S[:, None] and b' = b - (M / S) . W, so that the saved model
    takes the stored values r and predicts as the pipeline does."""
    import copy

    import numpy as np

    scaler, mlp = pipe.named_steps["scaler"], pipe.named_steps["mlp"]
    model = copy.deepcopy(mlp)
    model.set_params(validation_data=None)
    coef, intercept = model.coefs_[0], model.intercepts_[0]
    scale = np.ones(coef.shape[0]) if scaler.scale_ is None else scaler.scale_
    mean = np.zeros(coef.shape[0]) if scaler.mean_ is None else scaler.mean_
    scale, mean = raw_scale * scale, raw_scale * mean
    folded = coef.astype(np.float64) / scale[:, None]
    intercept[...] = intercept.astype(np.float64) - mean @ folded
    coef[...] = folded
    model.save(path)


def _plot(pipe, raw_scale, path):
    """Saves plot_learning_curves of the pipeline's MLP to path."""
    from . import plot_learning_curves

    figure = plot_learning_curves(pipe.named_steps["mlp"])
    figure.savefig(path)


def main(argv=None, *, prog=_PROG):
    """Run the ``python -m fastmlp`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        Command line arguments without the program name; ``None`` uses
        ``sys.argv[1:]``.
    prog : str, default="fastmlp"
        Program name shown in the usage text and in error messages.

    Returns
    -------
    status : int
        Exit status: 0 on success (and for ``--help`` and ``--version``), 2 for bad arguments
        or an unreadable data folder (with a one-line message on stderr),
        130 when interrupted.

    Examples
    --------
    >>> from fastmlp._cli import main
    >>> main(["--epochs", "5", "--quiet"])  # doctest: +SKIP
    test accuracy: 0.9556 (430/450)
    training time: 0.05 s
    0
    """
    parser = _build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # --help and --version exit with 0, argument errors with 2.
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _run(args, prog)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
