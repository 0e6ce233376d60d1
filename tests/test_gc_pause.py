"""The sync pauses the cyclic garbage collector per chunk; pauses nest, overlap across threads and
leave the collector as they found it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from monitor.gc_pause import gc_paused


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def test_nested_pauses_re_enable_the_collector_after_the_last() -> None:
    gc.enable()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_an_error_inside_still_ends_the_pause() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_overlapping_pauses_on_two_threads() -> None:
    gc.enable()
    entered, release = threading.Event(), threading.Event()

    def helper() -> None:
        with gc_paused():
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=helper)
    thread.start()
    entered.wait(5)
    with gc_paused():
        pass
    assert not gc.isenabled()  # the helper's pause still holds
    release.set()
    thread.join(5)
    assert gc.isenabled()
