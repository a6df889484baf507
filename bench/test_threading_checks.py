"""bench/threading_checks.py's idle-CPU measurement keeps working: the split between the calling
thread and the others sees a thread that spins while the caller sleeps, and nothing when none
does."""

import sys
import threading
import time

import pytest
import threading_checks  # bench/ is on sys.path while its conftest is in use


def spin_then_wait(cpu_seconds, done):
    """Sleeps 30 ms (the caller, which needs the GIL, takes its first reading meanwhile), spins
    for cpu_seconds of its own CPU time (0.12 s of wall time at most), then waits for done: a
    thread that has ended leaves /proc/self/task, and its CPU time with it."""
    time.sleep(0.03)
    start, end = time.thread_time(), time.perf_counter() + 0.12
    while time.thread_time() - start < cpu_seconds and time.perf_counter() < end:
        pass
    done.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/task is Linux's")
def test_idle_cpu_after_tells_other_threads_from_the_caller():
    # the quietest of three windows (another library's threads may still spin in the first)
    quiet = [threading_checks.idle_cpu_after(lambda: None) for _ in range(3)]
    assert all(others is not None for _, others in quiet)
    assert min(others for _, others in quiet) < 5.0
    # a thread that spins for 30 ms of CPU while the caller sleeps
    done = threading.Event()
    spinner = threading.Thread(target=spin_then_wait, args=(0.03, done))
    _, others_ms = threading_checks.idle_cpu_after(spinner.start)
    done.set()
    spinner.join()
    assert others_ms is not None and others_ms > 10.0


def test_worst_takes_each_figure_apart():
    assert threading_checks.worst([(1.0, 0.5), (3.0, 0.1)]) == (3.0, 0.5)
    assert threading_checks.worst([(1.0, None), (2.0, 0.1)]) == (2.0, None)
