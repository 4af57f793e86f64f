"""The shared stage mechanism: bounded queues with backpressure, stop, sentinel, deadlines, errors.

What ``convert`` and the file sink are built on (:mod:`livebokeh.runtime.mailbox`,
:mod:`livebokeh.runtime.workers`).  Threads here are synchronised with events, not
sleeps, wherever the test can; waits have generous bounds so a loaded machine only
makes them slower.
"""

from __future__ import annotations

import threading
import time

import pytest

from livebokeh.errors import InputError
from livebokeh.runtime.mailbox import FrameQueue
from livebokeh.runtime.workers import (
    Worker,
    WorkerError,
    first_error,
    join_all,
    producer,
    raise_worker_error,
    stage,
)

WAIT = 10.0  # upper bound for anything that should happen "soon"


def _started(target, *args) -> threading.Thread:  # type: ignore[no-untyped-def]
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


# -- the bounded queue ---------------------------------------------------------------------


def test_put_until_waits_for_room_and_never_drops() -> None:
    q: FrameQueue[int] = FrameQueue(2)
    stop = threading.Event()
    results: list[bool] = []
    assert q.put_until(1, stop) and q.put_until(2, stop)
    t = _started(lambda: results.append(q.put_until(3, stop)))
    t.join(0.3)
    assert t.is_alive() and len(q) == 2  # full: the producer waits (backpressure)
    assert q.get(timeout=WAIT) == 1
    t.join(WAIT)
    assert results == [True] and len(q) == 2 and q.dropped == 0
    q.close()
    assert list(q.drain(stop)) == [2, 3]  # every item, in order


def test_put_until_gives_up_when_stopped_or_closed() -> None:
    q: FrameQueue[int] = FrameQueue(1)
    stop = threading.Event()
    assert q.put_until(1, stop)
    results: list[bool] = []
    t = _started(lambda: results.append(q.put_until(2, stop)))
    t.join(0.2)
    assert t.is_alive()
    stop.set()  # the run is ending: the blocked producer wakes and gives up
    t.join(WAIT)
    assert results == [False] and len(q) == 1

    q2: FrameQueue[int] = FrameQueue(1)
    go = threading.Event()
    assert q2.put_until(1, go)
    t = _started(lambda: results.append(q2.put_until(2, go)))
    t.join(0.2)
    q2.close()  # the reader is gone
    t.join(WAIT)
    assert results == [False, False]
    assert not q2.put_until(3, go)  # a closed queue takes nothing
    assert list(q2.drain(go)) == [1]


def test_get_until_blocks_until_an_item_and_drains_after_the_sentinel() -> None:
    q: FrameQueue[str] = FrameQueue(4)
    stop = threading.Event()
    got: list[str | None] = []
    t = _started(lambda: got.append(q.get_until(stop)))
    t.join(0.2)
    assert t.is_alive() and got == []  # nothing yet: it waits (no timeout to poll)
    q.put_until("a", stop)
    t.join(WAIT)
    assert got == ["a"]
    q.put_until("b", stop)
    q.put_until("c", stop)
    q.close()  # the sentinel: what is queued is still read, then None
    assert [q.get_until(stop), q.get_until(stop), q.get_until(stop)] == ["b", "c", None]
    assert q.finished


def test_get_until_returns_none_on_stop_even_with_items_left() -> None:
    q: FrameQueue[int] = FrameQueue(4)
    stop = threading.Event()
    q.put_until(1, stop)
    stop.set()
    assert q.get_until(stop) is None and len(q) == 1
    got: list[int | None] = []
    q2: FrameQueue[int] = FrameQueue(4)
    stop2 = threading.Event()
    t = _started(lambda: got.append(q2.get_until(stop2)))
    t.join(0.2)
    stop2.set()  # wakes a blocked reader too
    t.join(WAIT)
    assert got == [None]


# -- chains of workers ---------------------------------------------------------------------


def test_a_chain_passes_every_item_in_order_and_ends_with_the_sentinel() -> None:
    stop = threading.Event()
    a: FrameQueue[int] = FrameQueue(2)
    b: FrameQueue[int] = FrameQueue(2)
    workers = [
        producer("numbers", lambda: iter(range(100)), a, stop),
        stage("square", lambda x: x * x, a, b, stop),
    ]
    for w in workers:
        w.start()
    out = list(b.drain(stop))  # ends when the stage closes b after the producer closed a
    assert out == [x * x for x in range(100)]
    assert join_all(workers, WAIT) == []
    assert a.finished and b.finished and not stop.is_set()
    assert first_error(workers) is None
    raise_worker_error(workers)  # nothing to raise
    assert all(w.cpu_seconds > 0 for w in workers)


def test_a_stage_may_pass_nothing_on_for_an_item() -> None:
    stop = threading.Event()
    a: FrameQueue[int] = FrameQueue(2)
    b: FrameQueue[int] = FrameQueue(2)
    workers = [
        producer("numbers", lambda: iter(range(20)), a, stop),
        stage("odd only", lambda x: x if x % 2 else None, a, b, stop),
    ]
    for w in workers:
        w.start()
    assert list(b.drain(stop)) == list(range(1, 20, 2))
    assert join_all(workers, WAIT) == [] and first_error(workers) is None


def test_a_slow_consumer_holds_the_producer_back() -> None:
    stop = threading.Event()
    q: FrameQueue[int] = FrameQueue(3)
    made: list[int] = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(50):
            made.append(i)
            yield i

    w = producer("p", items, q, stop)
    w.start()
    seen = []
    for item in q.drain(stop):
        # made but not yet seen: at most the queue, the item just taken and one the producer holds
        # waiting for room (without backpressure all 50 would be made at once)
        assert len(made) - len(seen) <= 3 + 2
        seen.append(item)
        time.sleep(0.002)
    assert seen == list(range(50))
    assert join_all([w], WAIT) == []


def test_a_failing_stage_stops_the_chain_and_its_error_reaches_the_owner() -> None:
    stop = threading.Event()
    a: FrameQueue[int] = FrameQueue(2)
    b: FrameQueue[int] = FrameQueue(2)

    def boom(x: int) -> int:
        if x == 5:
            raise ZeroDivisionError("bad frame")
        return x

    # The producer never runs out: only the failure downstream can end it.
    workers = [producer("source", lambda: iter(range(10**9)), a, stop), stage("work", boom, a, b, stop)]
    for w in workers:
        w.start()
    out = list(b.drain(stop))
    assert out == list(range(len(out))) and len(out) <= 5  # what was done before the failure, in order
    assert join_all(workers, WAIT) == []  # the blocked producer woke up and ended too
    assert stop.is_set() and a.closed and b.closed
    assert isinstance(first_error(workers), ZeroDivisionError)
    with pytest.raises(WorkerError, match="work thread failed: ZeroDivisionError: bad frame") as info:
        raise_worker_error(workers)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_a_failing_producer_ends_the_stages_and_a_user_error_is_raised_as_it_is() -> None:
    stop = threading.Event()
    a: FrameQueue[int] = FrameQueue(2)
    b: FrameQueue[int] = FrameQueue(2)

    def items():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise InputError("input x.mp4 is truncated or damaged after 2 frames")

    workers = [producer("decode", items, a, stop), stage("copy", lambda x: x, a, b, stop)]
    for w in workers:
        w.start()
    list(b.drain(stop))
    assert join_all(workers, WAIT) == []
    with pytest.raises(InputError, match="truncated"):  # the user's error, not wrapped
        raise_worker_error(workers)


def test_join_all_keeps_one_deadline_for_all_threads() -> None:
    release = threading.Event()
    stop = threading.Event()
    stuck = [Worker(f"stuck{i}", lambda _stop: release.wait(WAIT), stop) for i in range(3)]
    for w in stuck:
        w.start()
    t0 = time.monotonic()
    alive = join_all(stuck, 0.3)
    elapsed = time.monotonic() - t0
    assert alive == ["stuck0", "stuck1", "stuck2"]
    assert elapsed < 3 * 0.3 + 1.0  # one shared deadline, not 0.3 s per thread
    release.set()
    assert join_all(stuck, WAIT) == []


def test_on_exit_wakes_downstream_whatever_ends_the_worker() -> None:
    stop = threading.Event()
    q: FrameQueue[int] = FrameQueue(1)

    def fail(_stop: threading.Event) -> None:
        raise RuntimeError("crash")

    w = Worker("w", fail, stop, on_exit=q.close)
    w.start()
    assert q.get_until(threading.Event()) is None  # woken by the close, not left waiting
    w.join(WAIT)
    assert isinstance(w.error, RuntimeError) and stop.is_set()
