"""Avatars loaded lazily from the store, a few kept in memory, with what is built from them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from core.store import MediaStore
from models.avatars.avatar import Avatar, load_avatar

T = TypeVar("T")


class AvatarCache(Generic[T]):
    """Bounded LRU of avatar_id -> build(avatar) (a renderer, or the avatar itself);
    safe to call from the CPU pool."""

    def __init__(self, load: Callable[[str], Avatar], build: Callable[[Avatar], T], capacity: int = 8) -> None:
        self._load = load
        self._build = build
        self._capacity = capacity
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, avatar_id: str) -> T:
        with self._lock:
            if avatar_id in self._items:
                self._items.move_to_end(avatar_id)
                return self._items[avatar_id]
        item = self._build(self._load(avatar_id))
        with self._lock:
            self._items[avatar_id] = item
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return item


def store_loader(store: MediaStore) -> Callable[[str], Avatar]:
    """avatar_id -> the prepared avatar from the store."""
    return lambda avatar_id: load_avatar(store.avatar_dir(avatar_id))
