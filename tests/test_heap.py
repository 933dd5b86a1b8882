import asyncio
import gc
import weakref

import pytest

from bot.demo import SAMPLE_ROSTER
from bot.heap import HeapKeeper
from bot.operations import import_roster_files
from bot.services import build_services
from bot.settings import load_settings
from handlers.base import Inbound


class Node:
    def __init__(self):
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture(autouse=True)
def thawed():
    gc.unfreeze()
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_first_batch_freezes_the_heap_and_a_new_roster_view_refreezes_it_whole():
    keeper = HeapKeeper(enabled=True, every=1000)
    keeper.after(16, generation=1)
    assert gc.get_freeze_count() > 0 and keeper.full_passes == 1
    keeper.after(16, generation=1)
    assert keeper.full_passes == 1  # nothing new: no pass
    keeper.after(16, generation=2)
    assert keeper.full_passes == 2


def test_the_first_batch_makes_young_passes_rarer_and_leaves_the_older_generations_and_an_operators_choice():
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    HeapKeeper(enabled=True).after(16, generation=1)
    assert gc.get_threshold() == (10_000, 10, 10)
    gc.set_threshold(50_000, 20, 5)  # an operator's own, larger
    HeapKeeper(enabled=True).after(16, generation=1)
    assert gc.get_threshold() == (50_000, 20, 5)
    gc.set_threshold(0)  # automatic passes turned off: they stay off
    HeapKeeper(enabled=True).after(16, generation=1)
    assert gc.get_threshold()[0] == 0


def test_objects_kept_since_are_frozen_every_so_many_turns():
    keeper = HeapKeeper(enabled=True, every=32)
    keeper.after(16, generation=1)
    frozen = gc.get_freeze_count()
    kept = [Node() for _ in range(100)]
    keeper.after(16, generation=1)
    keeper.after(16, generation=1)
    assert keeper.top_ups == 1 and gc.get_freeze_count() >= frozen + 100
    assert kept


def test_a_cycle_dropped_while_frozen_is_freed_at_the_next_full_pass():
    keeper = HeapKeeper(enabled=True, every=1)
    keeper.after(1, generation=1)
    node = Node()
    alive = weakref.ref(node)
    keeper.after(1, generation=1)  # frozen with the rest
    del node
    gc.collect()
    assert alive() is not None  # the collector does not look at frozen objects
    keeper.after(1, generation=2)
    assert alive() is None


def test_a_keeper_turned_off_freezes_nothing():
    gc.set_threshold(700, 10, 10)
    keeper = HeapKeeper(enabled=False, every=1)
    keeper.after(100, generation=1)
    assert gc.get_freeze_count() == 0 and keeper.full_passes == keeper.top_ups == 0
    assert gc.get_threshold() == (700, 10, 10)


def test_the_service_freezes_its_heap_after_its_first_batch(sqlite_url, monkeypatch):
    monkeypatch.setenv("KAOHE_GC_FREEZE", "1")
    services = build_services(load_settings(database_url=sqlite_url, _env_file=None))
    services.lane.heap.every = 1  # the first batch is a full pass, the second a top-up

    async def main(*keys):
        for key in keys:
            await services.lane.dispatch(Inbound("app", "nobody", "帮助", key), 2048)

    asyncio.run(main("k1", "k2"))
    assert gc.get_freeze_count() > 0
    assert (services.lane.heap.full_passes, services.lane.heap.top_ups) == (1, 1)
    import_roster_files(services.db, SAMPLE_ROSTER / "units.csv", SAMPLE_ROSTER / "people.csv")
    asyncio.run(main("k3"))  # a new roster view: the whole heap again
    services.close()
    assert (services.lane.heap.full_passes, services.lane.heap.top_ups) == (2, 1)


@pytest.fixture
def saving_garbage():
    """The collector off and every object it finds unreachable kept in gc.garbage, for a test to look at."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.garbage.clear()
    yield gc.garbage
    gc.set_debug(0)
    gc.garbage.clear()
    gc.enable()


def test_a_batch_of_turns_leaves_nothing_for_the_collector(any_services, saving_garbage):
    """Each batch's session, connection and cursor are freed when it ends, not kept in a cycle until a pass
    of the collector walks them (about 50 objects a batch, every young pass: bot/heap.py)."""
    lane = any_services.lane

    async def main():  # 王芳 opens 填报 and answers twice, 李强 once; each message a batch of its own
        for userid, text, key in [("wangfang", "填报", "g1"), ("wangfang", "6", "g2"), ("liqiang", "填报", "g3")]:
            assert await lane.dispatch(Inbound("app", userid, text, key), 2048)
        return await asyncio.gather(
            *(lane.dispatch(Inbound("app", u, "7", k), 2048) for u, k in [("wangfang", "g4"), ("liqiang", "g5")])
        )

    asyncio.run(main())
    gc.collect()
    left = {type(o).__name__ for o in saving_garbage}
    assert not left & {"Session", "SessionTransaction", "Connection", "_Held"}, sorted(left)
