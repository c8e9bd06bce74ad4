"""Is the GIL released during a call?  Shared by the thread and downstream tests."""

import threading
import time

import numpy as np


def longest_gil_gap(fn):
    """Run fn() here while another Python thread appends timestamps in a loop;
    return (fn's duration, the longest time that thread made no progress while
    fn ran).  A call holding the GIL shows up as a gap as long as the call."""
    stamps, stop = [], threading.Event()

    def ticker():
        while not stop.is_set():
            stamps.append(time.perf_counter())

    th = threading.Thread(target=ticker)
    th.start()
    while not stamps:
        time.sleep(0.001)
    t0 = time.perf_counter()
    fn()
    t1 = time.perf_counter()
    stop.set()
    th.join()
    inside = [t0] + [s for s in stamps if t0 < s < t1] + [t1]
    return t1 - t0, float(np.max(np.diff(inside)))
