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
#
# And the youngest generation is collected every YOUNG (10,000) net allocations instead of CPython's 700. A
# young pass walks what the requests in flight hold, however little of it is garbage: at 700 a serving
# process on SQLite made one every 7 turns, 2,370 passes and 20 full ones for about 19,000 turns, 0.72 s in
# all (37 µs a turn, measured with gc.callbacks in benchmarks.server); at 10,000, 181 young passes and 5 full
# ones (4 of them this keeper's), 0.23 s. What dies in a cycle waits a little longer to be freed: a few
# thousand objects at most.

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)
YOUNG = 10_000  # net allocations between young passes (CPython's default 700)


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
            if self._generation is None:  # the first batch: the process serves from now on
                young, *older = gc.get_threshold()
                if 0 < young < YOUNG:  # an operator's larger threshold, or 0 (automatic passes off), stays
                    gc.set_threshold(YOUNG, *older)
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
