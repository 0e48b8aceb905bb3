"""The tracer's changelog after a purge (rule 10): it restores exactly what the state still holds.

Forgetting keeps the ``in`` of a visit open across the cutoff, so its segment must stay (cut to
the scans still held), while segments of forgotten scans only are tombstoned. Both for a
partition whose state is live here and for one not restored since it was assigned.
"""

from __future__ import annotations

import pytest

from services.tracer.domain.model import Scan, VenueRules
from services.tracer.domain.state import TracerState
from services.tracer.processor import TracerCore, decode_segment, encode_segment, segment_key

H, M = 3600, 60
CUTOFF = 1_700_006_400 + 12 * H  # 2023-11-15T12:00:00Z
RULES = VenueRules(default_dwell=3_600, max_dwell=43_200, min_overlap=900)


def scan(event_id: str, person: str, direction: str, at: int) -> Scan:
    return Scan(event_id, "cafe", person, direction, at)  # type: ignore[arg-type]


ACROSS_IN = scan("ann-in", "ann", "in", CUTOFF - 20 * M)  # its `out` comes after the cutoff
ANN_OUT = scan("ann-out", "ann", "out", CUTOFF + 30 * M)
DAN_NEW = scan("dan-new", "dan", "in", CUTOFF + H)
MESSAGES = [
    [ACROSS_IN, scan("bob-in", "bob", "in", CUTOFF - 5 * H),
     scan("bob-out", "bob", "out", CUTOFF - 4 * H)],
    [ANN_OUT],
    [scan("cy-in", "cy", "in", CUTOFF - 3 * H), scan("cy-out", "cy", "out", CUTOFF - 2 * H)],
    [scan("dan-old", "dan", "in", CUTOFF - 6 * H), DAN_NEW],
]
SEGMENTS = {segment_key(0, offset): encode_segment("cafe", scans)
            for offset, scans in enumerate(MESSAGES)}


def live_state() -> TracerState:
    """What the worker's state holds after ``forget_before(CUTOFF)``."""
    state = TracerState()
    state.apply([s for scans in MESSAGES for s in scans], lambda venue: RULES)
    state.forget_before(CUTOFF)
    return state


def purged_changelog(core: TracerCore) -> dict[str, bytes]:
    changelog = dict(SEGMENTS)
    for key, kept in core.purged_segments(0, list(SEGMENTS.items()), CUTOFF):
        if kept is None:
            del changelog[key]
        else:
            changelog[key] = kept
    return changelog


@pytest.mark.parametrize("restored_here", [True, False])
def test_the_purged_changelog_restores_what_the_state_still_holds(restored_here: bool) -> None:
    core = TracerCore(lambda venue: RULES)
    if restored_here:
        core.restore(0, SEGMENTS.values())
        core.forget_before(CUTOFF)
    changelog = purged_changelog(core)

    # The `in` across the cutoff stays, without the forgotten scans of its message; the message
    # of forgotten scans only is tombstoned; the recent ones are as they were.
    assert changelog == {
        segment_key(0, 0): encode_segment("cafe", [ACROSS_IN]),
        segment_key(0, 1): SEGMENTS[segment_key(0, 1)],
        segment_key(0, 3): encode_segment("cafe", [DAN_NEW]),
    }
    live = live_state()
    held = {s.event_id for venue in live.venues() for s in venue.scans()}
    restorable = {s.event_id for value in changelog.values() for s in decode_segment(value)}
    assert restorable == held == {"ann-in", "ann-out", "dan-new"}

    # A restart restores the same visits, the one across the cutoff included.
    restarted = TracerState()
    for value in changelog.values():
        restarted.apply(decode_segment(value), lambda venue: RULES)
    restarted.forget_before(CUTOFF)
    assert restarted.visits() == live.visits()
    assert ("ann", ACROSS_IN.at, ANN_OUT.at) in {(v.person, v.start, v.end)
                                                 for v in restarted.visits()}


def test_a_second_purge_changes_nothing_more() -> None:
    core = TracerCore(lambda venue: RULES)
    core.restore(0, SEGMENTS.values())
    core.forget_before(CUTOFF)
    changelog = purged_changelog(core)
    assert core.purged_segments(0, list(changelog.items()), CUTOFF) == []
