"""Values read on every call and changed rarely (checked tokens, resolved routes), kept in each
process for as many seconds as a setting says. A write in this process to a model they come from
empties the cache at once; other processes see the change when their copy expires."""

import time
from collections.abc import Hashable
from typing import Any

from django.conf import settings
from django.db.models.signals import m2m_changed, post_delete, post_save


class ProcessCache:
    def __init__(self, ttl_setting: str, max_entries: int) -> None:
        self._ttl_setting = ttl_setting
        self._max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    def _ttl(self) -> float:
        # read on each use: tests and settings overrides change it at run time
        return getattr(settings, self._ttl_setting)

    def get(self, key: Hashable) -> Any | None:
        kept = self._entries.get(key)
        if kept is not None and time.monotonic() - kept[0] < self._ttl():
            return kept[1]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        if self._ttl() <= 0:
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic(), value)

    def clear(self) -> None:
        self._entries.clear()

    def clear_on_change(self, *models, m2m_through=()) -> None:
        """Empty the cache whenever one of these models is saved or deleted in this process."""

        def forget(**kwargs) -> None:
            self.clear()

        for model in models:
            post_save.connect(forget, sender=model, weak=False)
            post_delete.connect(forget, sender=model, weak=False)
        for through in m2m_through:
            m2m_changed.connect(forget, sender=through, weak=False)
