import gc

from assistant.heap import settle_heap


def test_objects_alive_at_start_up_are_left_out_of_later_collections() -> None:
    class Kept:
        pass

    kept = Kept()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert not any(obj is kept for obj in gc.get_objects())
        created_later = Kept()
        assert any(obj is created_later for obj in gc.get_objects())
    finally:
        gc.unfreeze()
