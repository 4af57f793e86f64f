"""A one-slot mailbox: the consumer always gets the newest item, older ones are dropped.

Between capture and inference a queue would let a slow model build up latency
without bound; the mailbox instead keeps only the latest frame.  :meth:`Mailbox.put`
never blocks, :meth:`Mailbox.get` blocks until an item arrives, the mailbox is
closed, or the timeout passes.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

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
    """A small bounded queue that drops its oldest item when full (counted in :attr:`dropped`).

    Used between capture and the compositor: every frame should be composited, but a
    compositor that falls behind must not make capture wait (a camera would drop the
    frame anyway) nor let latency grow without bound.
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
        """No more items will come; readers drain what is left, then get ``None``."""
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
