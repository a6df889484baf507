"""How fast Ctrl-C stops fastmlp's fit: a subprocess trains the ref net on MNIST (or random
data when no folder is given), receives SIGINT after a few seconds, and reports the time from
the signal to fit's return, the epochs completed and that the model still predicts.

    python bench/interrupt_latency.py [MNIST_FOLDER] [--runs N]
"""

import argparse
import signal
import subprocess
import sys
import time

CHILD = r"""
import sys, time, warnings
import numpy as np
from fastmlp import MLPClassifier
folder = sys.argv[1]
if folder:
    from fastmlp.datasets import load_mnist
    X, y = load_mnist(folder, "train")
else:
    rng = np.random.RandomState(0)
    X = rng.rand(60000, 784).astype(np.float32)
    y = rng.randint(0, 10, 60000)
model = MLPClassifier((512, 256), batch_size=128, max_iter=20, random_state=0)
print("start", flush=True)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model.fit(X, y)
print("returned %.6f %d %s" % (time.time(), model.n_iter_,
      any("interrupted" in str(w.message) for w in caught)), flush=True)
print("predicts", model.predict(X[:5]).tolist(), flush=True)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default="", help="MNIST IDX folder (optional)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--after", type=float, default=3.0, help="seconds before SIGINT")
    args = parser.parse_args(argv)
    for _ in range(args.runs):
        child = subprocess.Popen([sys.executable, "-c", CHILD, args.folder],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "start"
        time.sleep(args.after)
        sent = time.time()
        child.send_signal(signal.SIGINT)
        _, returned, epochs, warned = child.stdout.readline().split()
        predicts = child.stdout.readline().strip()
        child.wait()
        print("SIGINT -> fit returned in %.3f s; %s whole epochs; warning: %s; %s"
              % (float(returned) - sent, epochs, warned, predicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
