"""bench/threading_checks.py's idle-CPU measurement keeps working: the split between the calling
thread and the others sees a thread that spins while the caller sleeps, and nothing when none
does."""

import sys
import threading
import time

import pytest
import threading_checks  # bench/ is on sys.path while its conftest is in use


def spin_then_wait(seconds, done):
    """Spins for seconds, then waits for done (a thread that has ended leaves /proc/self/task,
    and its CPU time with it)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    done.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/task is Linux's")
def test_idle_cpu_after_tells_other_threads_from_the_caller():
    quiet = threading_checks.worst([threading_checks.idle_cpu_after(lambda: None)
                                    for _ in range(2)])
    assert quiet[1] is not None and quiet[1] < 5.0
    # a thread that spins for 50 ms of the caller's 200 ms sleep
    done = threading.Event()
    spinner = threading.Thread(target=spin_then_wait, args=(0.05, done))
    busy = threading_checks.idle_cpu_after(spinner.start)
    done.set()
    spinner.join()
    process_ms, others_ms = busy
    assert others_ms is not None and others_ms > 20.0  # at least a share of the 50 ms spin
    assert process_ms >= others_ms - 5.0  # the process figure holds it too (tick rounding)


def test_worst_takes_each_figure_apart():
    assert threading_checks.worst([(1.0, 0.5), (3.0, 0.1)]) == (3.0, 0.5)
    assert threading_checks.worst([(1.0, None), (2.0, 0.1)]) == (2.0, None)
