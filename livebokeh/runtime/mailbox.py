"""The two hand-overs between threads: a one-slot mailbox and a small bounded queue.

Between capture and inference a queue would let a slow model build up latency
without bound; the :class:`Mailbox` instead keeps only the latest frame.
:meth:`Mailbox.put` never blocks, :meth:`Mailbox.get` blocks until an item arrives,
the mailbox is closed, or the timeout passes.

Where every item matters - the stages of a conversion, a file being recorded - a
:class:`FrameQueue` holds a few items and makes the producer wait when it is full
(backpressure): :meth:`FrameQueue.put_until` and :meth:`FrameQueue.get_until` block
until they can go on, the queue is closed, or the run's stop event is set.
:meth:`FrameQueue.close` is the end-of-stream sentinel: readers drain what is left,
then stop.  The live compositor's queue instead drops its oldest frame when full
(:meth:`FrameQueue.put`), so a slow compositor never makes capture wait.

``None`` is the "nothing more" answer of every ``get``, so it is never an item.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

POLL_S = 0.05
"""How often a blocked :meth:`FrameQueue.put_until` / :meth:`FrameQueue.get_until` looks at the stop event."""

__all__ = ["FrameQueue", "Mailbox"]


class Mailbox(Generic[T]):
    """Holds at most one item; a new item replaces an unread older one."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.put_count = 0
        """Items offered so far."""
        self.dropped = 0
        """Items replaced before anyone read them."""

    def put(self, item: T) -> bool:
        """Offer ``item``; return ``True`` if it replaced an unread older item.  Never blocks."""
        with self._cond:
            if self._closed:
                return False
            replaced = self._full
            if replaced:
                self.dropped += 1
            self._item = item
            self._full = True
            self.put_count += 1
            self._cond.notify()
            return replaced

    def get(self, timeout: float | None = None) -> T | None:
        """Take the newest item, waiting up to ``timeout`` seconds; ``None`` if closed or timed out."""
        with self._cond:
            if not self._full and not self._closed:
                self._cond.wait_for(lambda: self._full or self._closed, timeout)
            if not self._full:
                return None
            item = self._item
            self._item = None
            self._full = False
            return item

    def close(self) -> None:
        """Wake every waiting reader; later :meth:`get` calls return ``None`` once empty."""
        with self._cond:
            self._closed = True
            self._item = None
            self._full = False
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed


class FrameQueue(Generic[T]):
    """A small bounded FIFO: drop-oldest (:meth:`put`) or backpressure (:meth:`put_wait`, :meth:`put_until`).

    Between capture and the compositor every frame should be composited, but a
    compositor that falls behind must not make capture wait (a camera would drop the
    frame anyway) nor let latency grow without bound: :meth:`put` drops the oldest
    item (counted in :attr:`dropped`).  Between the stages of a conversion and in
    front of a file encoder no frame may be lost: :meth:`put_until` waits for room.
    """

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be >= 1")
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[T] = deque()
        self._maxlen = maxlen
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Append ``item``; return ``True`` if the oldest item had to be dropped.  Never blocks."""
        with self._cond:
            if self._closed:
                return False
            dropped = len(self._items) >= self._maxlen
            if dropped:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return dropped

    def put_wait(self, item: T, timeout: float | None = None) -> bool:
        """Append ``item`` once there is room (backpressure); ``False`` if still full after ``timeout``.

        On a closed queue the item is discarded and ``True`` returned.
        """
        with self._cond:
            if not self._closed and len(self._items) >= self._maxlen:
                self._cond.wait_for(lambda: len(self._items) < self._maxlen or self._closed, timeout)
            if self._closed:
                return True
            if len(self._items) >= self._maxlen:
                return False
            self._items.append(item)
            self._cond.notify_all()
            return True

    def put_until(self, item: T, stop: threading.Event, poll: float = POLL_S) -> bool:
        """Append ``item`` once there is room (backpressure), however long that takes.

        Returns ``False`` without queueing it once ``stop`` is set or the queue is
        closed: nobody will read it, and the producer should end.
        """
        with self._cond:
            while True:
                if self._closed or stop.is_set():
                    return False
                if len(self._items) < self._maxlen:
                    self._items.append(item)
                    self._cond.notify_all()
                    return True
                self._cond.wait(poll)

    def get_until(self, stop: threading.Event, poll: float = POLL_S) -> T | None:
        """Oldest item, waiting as long as it takes; ``None`` once closed and drained, or once ``stop`` is set."""
        with self._cond:
            while True:
                if stop.is_set():
                    return None
                if self._items:
                    item = self._items.popleft()
                    self._cond.notify_all()
                    return item
                if self._closed:
                    return None
                self._cond.wait(poll)

    def drain(self, stop: threading.Event, poll: float = POLL_S) -> Iterator[T]:
        """Every item in order until the queue is closed and empty, or ``stop`` is set."""
        while True:
            item = self.get_until(stop, poll)
            if item is None:
                return
            yield item

    def get(self, timeout: float | None = None) -> T | None:
        """Oldest item, waiting up to ``timeout`` s; ``None`` on timeout or when closed and empty."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout)
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more items will come (the sentinel); readers drain what is left, then get ``None``.

        Producers waiting for room wake up and give up (:meth:`put_until` returns ``False``).
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def finished(self) -> bool:
        """Closed and drained."""
        with self._cond:
            return self._closed and not self._items

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
