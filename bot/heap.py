"""Short full passes of the garbage collector: what a serving process keeps for long is frozen out of them."""

# A full collection walks every object the collector tracks. With the roster, the campaign, the compiled
# statements and the libraries in memory that took 50-100 ms here, and under load CPython starts one
# every second or so (each turn's objects count towards it, though they die young): the turn's p99 at 32
# connections was 150 ms for that alone (benchmarks/callbacks.py; p50 55 ms). gc.freeze() moves every
# object alive into a generation no pass walks, so a full pass walks only what came since.
#   - At the first batch, and whenever the roster view is replaced (an import, a campaign load): unfreeze,
#     collect everything (what died in a cycle while frozen is freed here), freeze again. One long pass.
#   - Every `every` turns: collect and freeze what has come since (people and units load lazily).
# Frozen objects are still freed when nothing refers to them; only cycles wait for the next full pass.

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


class HeapKeeper:
    def __init__(self, enabled: bool, every: int = 5000):
        self.enabled, self.every = enabled, every
        self._since, self._generation = 0, None
        self.full_passes = self.top_ups = 0

    def after(self, turns: int, generation: int) -> None:
        """After a batch of `turns`; `generation` is the dispatcher's Directory.generation."""
        if not self.enabled:
            return
        self._since += turns
        if generation != self._generation:
            self._generation = generation
            started = time.perf_counter()
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.full_passes += 1
            log.info("heap frozen: %d objects, %.0f ms", gc.get_freeze_count(), (time.perf_counter() - started) * 1e3)
        elif self._since >= self.every:
            gc.collect()
            gc.freeze()
            self.top_ups += 1
        else:
            return
        self._since = 0
