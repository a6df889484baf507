"""The courses' MNIST recipe, trained by fastmlp and by PyTorch: test error and time.

The network is the reference 784-512-256-10 ReLU net with dropout 0.2 on both hidden layers,
Adam (learning rate 1e-3 with a cosine schedule over the epochs), batches of 128, float32,
pixels scaled to [0, 1] as ``fastmlp.datasets.load_mnist`` returns them (the README's recipe).
PyTorch trains the same architecture with the hand-written loop its users write (its Adam,
``CosineAnnealingLR`` stepped per epoch), for the same number of epochs, in the same process,
on the same arrays.

Run (from the repository root, with torch==2.13.0 installed for the comparison):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/mnist_recipe.py ../shared/data/mnist

Prints one line per library: test error, training time, seconds per epoch. With
``--matmul-precision bfloat16`` fastmlp trains with bfloat16 products (``both``: a float32 and
a bfloat16 fastmlp run, and the difference of their test errors).
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

HIDDEN = (512, 256)
DROPOUT = 0.2
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
SEED = 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="folder with the MNIST IDX files (gzipped or not)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument(
        "--skip-torch", action="store_true", help="train fastmlp only (no PyTorch comparison)"
    )
    parser.add_argument("--matmul-precision", choices=("float32", "bfloat16", "both"),
                        default="float32",
                        help="fastmlp's matmul_precision (both: one run of each)")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="run N CPU-bound competing processes meanwhile (a busy machine)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if not os.path.isdir(args.data):
        parser.error("no such folder: %s" % args.data)
    return args


def load(folder):
    """float32 train and test splits, pixels in [0, 1]."""
    from fastmlp.datasets import load_mnist

    X_train, y_train = load_mnist(folder, split="train")
    X_test, y_test = load_mnist(folder, split="test")
    return X_train, y_train, X_test, y_test


def run_fastmlp(X_train, y_train, X_test, y_test, epochs, matmul_precision="float32"):
    from sklearn.exceptions import ConvergenceWarning

    from fastmlp import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        dropout=DROPOUT,
        solver="adam",
        learning_rate="cosine",
        learning_rate_init=LEARNING_RATE,
        batch_size=BATCH_SIZE,
        max_iter=epochs,
        n_iter_no_change=epochs + 1,
        random_state=SEED,
        matmul_precision=matmul_precision,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the plan here
        model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    return 1.0 - model.score(X_test, y_test), seconds


def run_torch(X_train, y_train, X_test, y_test, epochs):
    import torch

    torch.manual_seed(SEED)
    sizes = (X_train.shape[1],) + HIDDEN + (10,)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers += [torch.nn.ReLU(), torch.nn.Dropout(DROPOUT)]
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X_train), torch.from_numpy(y_train.astype(np.int64))
    n = len(Xt)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for lo in range(0, n, BATCH_SIZE):
            idx = perm[lo : lo + BATCH_SIZE]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            optimizer.step()
        schedule.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(X_test)).argmax(1).numpy()
    return float(np.mean(predicted != y_test)), seconds


def main(argv=None):
    args = parse_args(argv)
    import subprocess
    competitors = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                   for _ in range(args.busy)]
    try:
        return run(args)
    finally:
        for proc in competitors:
            proc.kill()
            proc.wait()


def run(args):
    X_train, y_train, X_test, y_test = load(args.data)
    print(
        "MNIST %d train / %d test, 784-%s-10 ReLU, dropout %.1f, Adam lr %g cosine, batch %d, "
        "%d epochs, float32; %d CPUs, OMP_NUM_THREADS=%s, %d busy competing process(es)"
        % (len(X_train), len(X_test), "-".join(map(str, HIDDEN)), DROPOUT, LEARNING_RATE,
           BATCH_SIZE, args.epochs, os.cpu_count(), os.environ.get("OMP_NUM_THREADS", "unset"),
           args.busy)
    )
    precisions = (("float32", "bfloat16") if args.matmul_precision == "both"
                  else (args.matmul_precision,))
    results = {}
    for precision in precisions:
        name = "fastmlp" if precision == "float32" else "fastmlp-bf16"
        results[name] = run_fastmlp(X_train, y_train, X_test, y_test, args.epochs, precision)
    if not args.skip_torch:
        try:
            results["torch"] = run_torch(X_train, y_train, X_test, y_test, args.epochs)
        except ImportError as exc:
            print("torch not importable (%s): its line is skipped" % exc)
    for name, (error, seconds) in results.items():
        print(
            "%-12s test error %.2f%%  training %.1f s  (%.2f s/epoch)"
            % (name, 100 * error, seconds, seconds / args.epochs)
        )
    if "torch" in results and "fastmlp" in results:
        print("fastmlp / torch training speed: %.2fx" % (results["torch"][1] / results["fastmlp"][1]))
    if "fastmlp" in results and "fastmlp-bf16" in results:
        print("bfloat16 - float32 test error: %+.2f percentage points; bfloat16 / float32 "
              "training speed: %.2fx"
              % (100 * (results["fastmlp-bf16"][0] - results["fastmlp"][0]),
                 results["fastmlp"][1] / results["fastmlp-bf16"][1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
