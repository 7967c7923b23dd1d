"""Avatars loaded lazily from the store, a few kept in memory, with their animators."""

from __future__ import annotations

import threading
from collections import OrderedDict

from models.animator import MouthAnimator
from models.avatar import load_avatar
from processors.store import MediaStore


class AnimatorCache:
    """Bounded LRU of avatar_id -> MouthAnimator; safe to call from the CPU pool."""

    def __init__(self, store: MediaStore, capacity: int = 8) -> None:
        self._store = store
        self._capacity = capacity
        self._items: OrderedDict[str, MouthAnimator] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, avatar_id: str) -> MouthAnimator:
        with self._lock:
            if avatar_id in self._items:
                self._items.move_to_end(avatar_id)
                return self._items[avatar_id]
        animator = MouthAnimator(load_avatar(self._store.avatar_dir(avatar_id)))
        with self._lock:
            self._items[avatar_id] = animator
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return animator
