"""Incremental per-venue tracer state: scans in, visit and contact changes out (rules 1-4, 10).

A :class:`VenueState` holds one venue's scans (one per event id), the visits they make per
person, a :class:`VisitIndex` of those visits, and nothing else: contacts are not stored. On each
batch it

1. records the new scans (rule 1: a known event id is ignored unless this copy comes first in
   scan order, which then replaces the held one),
2. re-pairs only the persons whose scans changed, and diffs their old and new visits,
3. finds the edges of removed and added visits with the index, and keeps as retracted / added
   only those that no other pair of visits still makes (:mod:`contact_changes`).

So the result is a function of the set of scans (rule 4) whatever the batching, and the cost of
a batch is that of the visits it changes and their neighbours, not of the venue's history.
Keeping no contact set keeps memory to scans and visits, and the snapshot to scans.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from services.tracer.domain.contact_changes import contact_changes
from services.tracer.domain.delta import Delta
from services.tracer.domain.errors import InvalidScanError, SnapshotError
from services.tracer.domain.model import Contact, Scan, VenueRules, Visit
from services.tracer.domain.overlap import IndexedVisit, VisitIndex, contact_keys_among
from services.tracer.domain.visits import (
    DIRECTION_RANK,
    IN_RANK,
    OUT_RANK,
    RANK_DIRECTION,
    Moment,
    Span,
    pair_moments,
)

SNAPSHOT_FORMAT = "truyvet.tracer.venue-state/1"
TRACER_SNAPSHOT_FORMAT = "truyvet.tracer.state/1"

HeldScan = tuple[int, int, str]
"""``(at, rank, person)`` of the scan held for an event id; tuple order is scan order."""

ParsedScan = tuple[str, int, int, str]
"""``(event_id, at, rank, person)`` of a validated incoming scan."""

_NO_SPANS: tuple[Span, ...] = ()


class VenueState:
    """One venue's scans, visits and visit index, updated batch by batch.

    The rules are those of the latest :meth:`apply`; a call with different rules re-derives every
    visit and contact and returns the full difference.

    Example:
        >>> state, rules = VenueState("cafe"), VenueRules()
        >>> first = state.apply([Scan("e1", "cafe", "ann", "in", 0),
        ...                      Scan("e2", "cafe", "bob", "in", 1_800)], rules)
        >>> [(c.person_a, c.person_b, c.start, c.end) for c in first.contacts_added]
        [('ann', 'bob', 1800, 3600)]
        >>> late_out = state.apply([Scan("e3", "cafe", "ann", "out", 2_400)], rules)
        >>> [(c.start, c.end) for c in late_out.contacts_removed], late_out.contacts_added
        ([(1800, 3600)], ())
    """

    __slots__ = (
        "_complete_from",
        "_events",
        "_held_from",
        "_horizon",
        "_index",
        "_longest",
        "_moments",
        "_repeats",
        "_rules",
        "_spans",
        "venue_id",
    )

    def __init__(self, venue_id: str, horizon: int | None = None,
                 held_from: int | None = None) -> None:
        self.venue_id = venue_id
        self._rules: VenueRules | None = None
        self._horizon = horizon
        # The hot window (see needs_history): scans from `held_from` on are all held, and every
        # visit ending at or after `_complete_from` is held whole. None: everything is held.
        self._held_from = held_from
        self._complete_from: int | None = None
        self._events: dict[str, HeldScan] = {}
        # person → their distinct moments, sorted. Tuples, not a dict or list per person: the
        # garbage collector stops tracking tuples of plain values, so a large state costs the
        # collector nothing (per-person dicts made every full collection walk all of them).
        self._moments: dict[str, tuple[Moment, ...]] = {}
        # (person, at, rank) → how many held scans beyond the first share that moment (rare:
        # double scans with different event ids).
        self._repeats: dict[HeldScan, int] = {}
        self._spans: dict[str, tuple[Span, ...]] = {}
        self._index = VisitIndex(venue_id)
        # Longest visit ever indexed (never lowered): bounds the look-back for covering visits.
        self._longest = 0

    # ---------------------------------------------------------------- reading

    @property
    def rules(self) -> VenueRules | None:
        """The rules the current visits were derived with (None before the first batch)."""
        return self._rules

    @property
    def horizon(self) -> int | None:
        """Scans before this time are refused as expired (set by :meth:`forget_before`)."""
        return self._horizon

    @property
    def scan_count(self) -> int:
        return len(self._events)

    def scans(self) -> Iterator[Scan]:
        """The held scans, one per event id."""
        for event_id, (at, rank, person) in self._events.items():
            yield Scan(event_id, self.venue_id, person, RANK_DIRECTION[rank], at)

    def holds(self, scan: Scan) -> bool:
        """True when ``scan`` is the copy held for its event id (not forgotten, not replaced)."""
        return self._events.get(scan.event_id) == (
            scan.at, DIRECTION_RANK.get(scan.direction), scan.person
        )

    def visits(self) -> list[Visit]:
        """The current visits, sorted."""
        venue_id = self.venue_id
        return sorted(
            Visit(venue_id, person, start, end)
            for person, spans in self._spans.items()
            for start, end in spans
        )

    def contacts(self) -> list[Contact]:
        """The current contact edges, sorted (derived on demand by a sweep)."""
        if self._rules is None:
            return []
        keys = contact_keys_among(self.venue_id, self._index, self._rules.min_overlap)
        return [Contact._make(key) for key in sorted(keys)]

    # ---------------------------------------------------------------- updating

    def apply(self, scans: Iterable[Scan], rules: VenueRules) -> Delta:
        """Add a batch of scans; return the visits and contacts it added and retracted.

        The whole batch is validated before anything changes: an :class:`InvalidScanError`
        (another venue, unknown direction, non-integer time) leaves the state as it was.
        """
        parsed = self._parse(scans)
        return self._commit(parsed, rules)

    def _parse(self, scans: Iterable[Scan]) -> list[tuple[Scan, ParsedScan]]:
        venue_id = self.venue_id
        ranks = DIRECTION_RANK
        parsed = []
        for scan in scans:
            rank = ranks.get(scan.direction)
            if scan.venue_id != venue_id or rank is None or type(scan.at) is not int:
                raise InvalidScanError(_why_invalid(scan, venue_id))
            parsed.append((scan, (scan.event_id, scan.at, rank, scan.person)))
        return parsed

    def _commit(self, parsed: list[tuple[Scan, ParsedScan]], rules: VenueRules) -> Delta:
        if self._rules is not None and rules is not self._rules and rules != self._rules:
            return self._commit_with_new_rules(parsed, rules)
        self._rules = rules
        touched, expired = self._record(parsed)
        return self._update(touched, tuple(expired))

    def _record(self, parsed: list[tuple[Scan, ParsedScan]]) -> tuple[set[str], list[Scan]]:
        """Rule 1 on the incoming scans; returns the persons whose scans changed."""
        events = self._events
        moments = self._moments
        horizon = self._horizon
        touched: set[str] = set()
        expired: list[Scan] = []
        for scan, (event_id, at, rank, person) in parsed:
            held = events.get(event_id)
            if held is not None and held <= (at, rank, person):
                continue  # a re-delivery, or a copy that loses to the held one
            if horizon is not None and at < horizon:
                expired.append(scan)
                continue
            if held is not None:
                self._drop_moment(held)
                touched.add(held[2])
            events[event_id] = (at, rank, person)
            person_moments = moments.get(person)
            moment = (at, rank)
            if person_moments is None:
                moments[person] = (moment,)
            elif moment in person_moments:
                repeat = (at, rank, person)
                self._repeats[repeat] = self._repeats.get(repeat, 0) + 1
            elif moment > person_moments[-1]:
                moments[person] = (*person_moments, moment)
            else:
                moments[person] = tuple(sorted((*person_moments, moment)))
            touched.add(person)
        return touched, expired

    def _drop_moment(self, held: HeldScan) -> None:
        """Forget one held scan's moment (unless another held scan shares it)."""
        repeats = self._repeats.get(held)
        if repeats:
            if repeats == 1:
                del self._repeats[held]
            else:
                self._repeats[held] = repeats - 1
            return
        at, rank, person = held
        remaining = tuple(moment for moment in self._moments[person] if moment != (at, rank))
        if remaining:
            self._moments[person] = remaining
        else:
            del self._moments[person]

    def _update(self, touched: Iterable[str], expired: tuple[Scan, ...]) -> Delta:
        """Re-pair the touched persons and derive the visit and contact changes."""
        rules = self._rules
        assert rules is not None  # set by _commit before any scan is recorded
        dwell, max_dwell, min_overlap = rules.default_dwell, rules.max_dwell, rules.min_overlap
        moments, spans_of = self._moments, self._spans
        removed: list[IndexedVisit] = []
        added: list[IndexedVisit] = []
        changed_spans_before: dict[str, tuple[Span, ...]] = {}
        for person in touched:
            person_moments = moments.get(person)
            new = pair_moments(person_moments, dwell, max_dwell) if person_moments else ()
            old = spans_of.get(person, _NO_SPANS)
            if new == old:
                continue
            changed_spans_before[person] = old
            if new:
                spans_of[person] = new
            else:
                del spans_of[person]
            if not old:
                added.extend([(s, e, person) for s, e in new])
                continue
            new_set = set(new)
            old_set = set(old)
            removed.extend([(s, e, person) for s, e in old if (s, e) not in new_set])
            added.extend([(s, e, person) for s, e in new if (s, e) not in old_set])
        if not removed and not added:
            return Delta(expired=expired) if expired else _EMPTY_DELTA

        longest = self._longest
        for start, end, _ in added:
            if end - start > longest:
                longest = end - start
        self._longest = longest
        contacts_added, contacts_removed = contact_changes(
            self._index, removed, added, changed_spans_before, spans_of, min_overlap, longest
        )
        venue_id = self.venue_id
        make = tuple.__new__  # a named tuple from a ready tuple, without the _make indirection
        return make(
            Delta,
            (
                tuple(sorted([make(Visit, (venue_id, p, s, e)) for s, e, p in added])),
                tuple(sorted([make(Visit, (venue_id, p, s, e)) for s, e, p in removed])),
                tuple([make(Contact, key) for key in contacts_added]),
                tuple([make(Contact, key) for key in contacts_removed]),
                expired,
            ),
        )

    def _commit_with_new_rules(
        self, parsed: list[tuple[Scan, ParsedScan]], rules: VenueRules
    ) -> Delta:
        """Different rules change every visit and edge: re-derive all and diff whole sets."""
        old_visits = set(self.visits())
        old_contacts = set(self.contacts())
        self._rules = rules
        _, expired = self._record(parsed)
        self._rederive()
        new_visits = set(self.visits())
        new_contacts = set(self.contacts())
        return Delta(
            visits_added=tuple(sorted(new_visits - old_visits)),
            visits_removed=tuple(sorted(old_visits - new_visits)),
            contacts_added=tuple(sorted(new_contacts - old_contacts)),
            contacts_removed=tuple(sorted(old_contacts - new_contacts)),
            expired=tuple(expired),
        )

    def _rederive(self) -> None:
        """Pair every person's moments afresh and rebuild the index (no delta)."""
        rules = self._rules
        assert rules is not None
        self._spans = {}
        for person, person_moments in self._moments.items():
            spans = pair_moments(person_moments, rules.default_dwell, rules.max_dwell)
            if spans:
                self._spans[person] = spans
        self._index = VisitIndex(
            self.venue_id,
            ((start, end, person) for person, spans in self._spans.items() for start, end in spans),
        )
        self._longest = max(
            (end - start for spans in self._spans.values() for start, end in spans), default=0
        )

    # ---------------------------------------------------------------- retention (rule 10)

    def forget_before(self, cutoff: int) -> int:
        """Forget scans before ``cutoff`` with the visits made only of them; return how many.

        Emits no retractions: the stores drop whole day partitions on the same horizon, so the
        forgotten visits and contacts leave them too. A visit is never *changed* by forgetting:
        each person's scans are cut only where no visit is open across the cut, so the visits of
        the scans kept are exactly the visits already emitted for them. That keeps at most one
        moment per person before the cutoff: an ``in`` whose ``out`` comes at or after it.
        Afterwards, new scans before ``cutoff`` are refused as :attr:`Delta.expired`.

        Example:
            >>> state = VenueState("cafe")
            >>> _ = state.apply([Scan("e1", "cafe", "ann", "in", 0),
            ...                  Scan("e2", "cafe", "ann", "out", 7_200),
            ...                  Scan("e3", "cafe", "bob", "in", 100)], VenueRules())
            >>> state.forget_before(3_600), [(v.person, v.start, v.end) for v in state.visits()]
            (1, [('ann', 0, 7200)])
        """
        if self._horizon is None or cutoff > self._horizon:
            self._horizon = cutoff
        return self._drop_before(cutoff)

    def _drop_before(self, cutoff: int) -> int:
        """Drop the moments before ``cutoff``, but never an ``in`` whose ``out`` is kept."""
        # person → first moment kept (None: keep none).
        keep_from: dict[str, Moment | None] = {}
        for person, ordered in self._moments.items():
            cut = _first_kept(ordered, cutoff)
            if cut:
                keep_from[person] = ordered[cut] if cut < len(ordered) else None
        if not keep_from:
            return 0
        forgotten = [
            event_id
            for event_id, (at, rank, person) in self._events.items()
            if person in keep_from and ((first := keep_from[person]) is None or (at, rank) < first)
        ]
        for event_id in forgotten:
            self._drop_moment(self._events.pop(event_id))
        for person in keep_from:
            for start, end in self._spans.pop(person, _NO_SPANS):
                self._index.remove((start, end, person))
            kept = self._moments.get(person)
            if kept and self._rules is not None:
                rules = self._rules
                spans = pair_moments(kept, rules.default_dwell, rules.max_dwell)
                if spans:
                    self._spans[person] = spans
                for start, end in spans:
                    self._index.add((start, end, person))
                    self._longest = max(self._longest, end - start)
        return len(forgotten)

    # ---------------------------------------------------------------- the hot window

    def complete_from(self, rules: VenueRules) -> int | None:
        """Every visit ending at or after this time is held whole here (None: every visit).

        Under ``rules`` a visit lasts at most ``max_dwell``, so holding every scan from
        ``held_from`` on holds whole each visit that ends ``max_dwell`` later or after.
        """
        complete, held_from = self._complete_from, self._held_from
        if held_from is not None:
            restored = held_from + max(rules.max_dwell, self._longest)
            complete = restored if complete is None else max(complete, restored)
        return complete

    def needs_history(self, scans: Iterable[Scan], rules: VenueRules) -> bool:
        """Whether ``scans`` could change a visit, or meet one, that is not held whole here.

        Then the batch must be traced against the venue's history in the system of record
        (:meth:`for_history`): an offline gate's upload of days ago, or a check-out whose
        check-in has left memory. A visit changed by a scan involves the scan's moment and
        its person's moment just before it; the check is that both are held and that every
        visit they make starts at or after :meth:`complete_from`, so that the visits that can
        meet it (which end after it starts) are held too. Scans that :meth:`apply` would refuse
        are left to it.

        Example:
            >>> state, rules = VenueState("cafe"), VenueRules()
            >>> _ = state.apply([Scan("e1", "cafe", "ann", "in", 100_000)], rules)
            >>> _ = state.evict_before(90_000)
            >>> state.needs_history([Scan("e2", "cafe", "ann", "out", 101_000)], rules)
            False
            >>> state.needs_history([Scan("e3", "cafe", "bob", "in", 80_000)], rules)
            True
        """
        complete = self.complete_from(rules)
        if complete is None:
            return False
        dwell = rules.default_dwell
        events = self._events
        for scan in scans:
            rank = DIRECTION_RANK.get(scan.direction)
            if rank is None or type(scan.at) is not int:
                return False
            new = (scan.at, rank, scan.person)
            held = events.get(scan.event_id)
            if held is not None:
                if held <= new:
                    continue  # ignored by rule 1
                if self._reaches_before(held, dwell, complete, removed=True):
                    return True
            if self._reaches_before(new, dwell, complete, removed=False):
                return True
        return False

    def _reaches_before(self, held: HeldScan, dwell: int, complete: int, *, removed: bool) -> bool:
        at, rank, person = held
        if at - dwell < complete:  # its own visit may start before `complete`
            return True
        ordered = self._moments.get(person, ())
        before = bisect_left(ordered, (at, rank))
        if before == 0:
            # Nothing of the person's held before it: an `out` may close an `in` that is no
            # longer held, and taking away a first `in` leaves its `out` to one.
            return rank == OUT_RANK or (removed and len(ordered) > 1)
        prev_at, prev_rank = ordered[before - 1]
        return prev_rank == IN_RANK and prev_at < complete

    def evict_before(self, cutoff: int) -> int:
        """Let go of what only visits ending before ``cutoff`` need; return how many scans.

        Unlike :meth:`forget_before` nothing is refused afterwards and nothing leaves the
        stores: the scans let go of are in the system of record, and a later scan that needs
        them is traced there (:meth:`needs_history`). Kept: every scan from ``cutoff`` minus the
        longest visit on, and the ``in`` of each kept ``out``, so each visit ending at or after
        ``cutoff`` is held whole and each held visit is the one the whole history makes.

        Example:
            >>> state = VenueState("cafe")
            >>> _ = state.apply([Scan("e1", "cafe", "ann", "in", 0),
            ...                  Scan("e2", "cafe", "bob", "in", 200_000)], VenueRules())
            >>> state.evict_before(150_000), state.scan_count
            (1, 1)
        """
        rules = self._rules
        if rules is None:
            return 0
        if self._complete_from is None or cutoff > self._complete_from:
            self._complete_from = cutoff
        return self._drop_before(cutoff - max(rules.max_dwell, self._longest))

    def load(self, scans: Iterable[Scan], rules: VenueRules) -> None:
        """Hold ``scans`` (rule 1 applies) without deriving what they change; call
        :meth:`rederive` once all are loaded. A restore's fast path: it emits nothing, so the
        contacts of every step in between need not be found."""
        self._rules = rules
        self._record(self._parse(scans))

    def rederive(self) -> None:
        """Pair every held person's moments and rebuild the visit index (after :meth:`load`)."""
        self._rederive()

    @classmethod
    def for_history(cls, venue_id: str, rules: VenueRules, history: Iterable[Scan],
                    neighbours: Iterable[IndexedVisit], horizon: int | None) -> VenueState:
        """A state of one venue as the system of record holds it, for tracing a late batch.

        ``history`` is every stored scan of the people the batch touches (copies included: rule
        1 picks among them again), and ``neighbours`` the stored visits of everyone else that
        can meet theirs. :meth:`apply` on the result then gives exactly the change the whole
        history would, since it re-pairs only the people whose scans the batch changes.
        """
        state = cls(venue_id)
        state._rules = rules
        state._record(state._parse(history))
        people = set(state._moments)
        spans: dict[str, list[Span]] = {}
        for start, end, person in neighbours:
            if person not in people:
                spans.setdefault(person, []).append((start, end))
        for person, moments in state._moments.items():
            paired = pair_moments(moments, rules.default_dwell, rules.max_dwell)
            if paired:
                state._spans[person] = paired
        for person, theirs in spans.items():
            state._spans[person] = tuple(sorted(set(theirs)))
        state._index = VisitIndex(venue_id, (
            (start, end, person) for person, held in state._spans.items() for start, end in held
        ))
        state._longest = max(
            (end - start for held in state._spans.values() for start, end in held),
            default=rules.max_dwell,
        )
        state._horizon = horizon
        return state

    def history_people(self) -> set[str]:
        """The people whose scans this state holds (of a :meth:`for_history` state: all of
        their scans at the venue)."""
        return set(self._moments)

    def adopt(self, late: VenueState, people: Iterable[str], rules: VenueRules) -> None:
        """Hold ``people``'s scans as ``late`` (a :meth:`for_history` state, after its batch)
        holds them, keeping of them only what the hot window keeps; emits nothing."""
        if self._rules is None:
            self._rules = rules
        complete = self.complete_from(rules)
        keep_after = None if complete is None else complete - max(rules.max_dwell, self._longest)
        people = set(people)
        events = self._events
        for event_id in late._events:
            held = events.get(event_id)
            if held is not None and held[2] in people:
                del events[event_id]
        for repeat in [r for r in self._repeats if r[2] in people]:
            del self._repeats[repeat]
        for person in people:
            self._moments.pop(person, None)
            for start, end in self._spans.pop(person, _NO_SPANS):
                self._index.remove((start, end, person))
        kept_from: dict[str, Moment] = {}
        for person in people:
            ordered = late._moments.get(person)
            if not ordered:
                continue
            cut = 0 if keep_after is None else _first_kept(ordered, keep_after)
            if cut == len(ordered):
                continue
            kept = ordered[cut:]
            kept_from[person] = kept[0]
            self._moments[person] = kept
            spans = pair_moments(kept, rules.default_dwell, rules.max_dwell)
            if spans:
                self._spans[person] = spans
            for start, end in spans:
                self._index.add((start, end, person))
                self._longest = max(self._longest, end - start)
        for event_id, held in late._events.items():
            first = kept_from.get(held[2])
            if first is not None and (held[0], held[1]) >= first:
                events[event_id] = held
        for repeat, count in late._repeats.items():
            first = kept_from.get(repeat[2])
            if first is not None and (repeat[0], repeat[1]) >= first:
                self._repeats[repeat] = count

    # ---------------------------------------------------------------- persistence

    def to_snapshot(self) -> dict[str, Any]:
        """The state as JSON-able primitives: rules, horizon and held scans (visits re-derive).

        Example:
            >>> state = VenueState("cafe")
            >>> _ = state.apply([Scan("e1", "cafe", "ann", "in", 0)], VenueRules())
            >>> snapshot = state.to_snapshot()
            >>> snapshot["scans"]
            [['e1', 'ann', 'in', 0]]
            >>> VenueState.from_snapshot(snapshot).visits() == state.visits()
            True
        """
        rules = self._rules
        return {
            "format": SNAPSHOT_FORMAT,
            "venue_id": self.venue_id,
            "rules": None
            if rules is None
            else [rules.default_dwell, rules.max_dwell, rules.min_overlap],
            "horizon": self._horizon,
            "scans": [
                [event_id, person, RANK_DIRECTION[rank], at]
                for event_id, (at, rank, person) in sorted(self._events.items())
            ],
        }

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> VenueState:
        """Rebuild a state saved by :meth:`to_snapshot`; :class:`SnapshotError` if unreadable."""
        try:
            if snapshot["format"] != SNAPSHOT_FORMAT:
                raise SnapshotError(
                    f"snapshot format {snapshot['format']!r}; this code reads {SNAPSHOT_FORMAT!r}"
                )
            venue_id = snapshot["venue_id"]
            if type(venue_id) is not str or not venue_id:
                raise SnapshotError(f"snapshot venue_id {venue_id!r} is not a non-empty string")
            state = cls(venue_id)
            rules = snapshot["rules"]
            horizon = snapshot["horizon"]
            scans = [
                Scan(event_id, state.venue_id, person, direction, at)
                for event_id, person, direction, at in snapshot["scans"]
            ]
            if horizon is not None and type(horizon) is not int:
                raise SnapshotError(f"snapshot horizon {horizon!r} is not an int")
            parsed = state._parse(scans)
            if rules is None:
                if parsed:
                    raise SnapshotError("snapshot holds scans but no rules")
                state._horizon = horizon
                return state
            state._rules = VenueRules(*rules)
            # Scans were kept before the horizon was set, so record them all, then set it.
            state._record(parsed)
            state._rederive()
            state._horizon = horizon
            return state
        except SnapshotError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise SnapshotError(f"unreadable venue-state snapshot: {error!r}") from error


def _first_kept(ordered: tuple[Moment, ...], cutoff: int) -> int:
    """Index of the first of one person's moments kept when those before ``cutoff`` go.

    Cutting between an ``in`` and its ``out`` would turn the ``out`` into a visit of its own,
    so the ``in`` of a kept ``out`` is kept too.

    Example:
        >>> _first_kept(((0, IN_RANK), (500, OUT_RANK), (900, IN_RANK)), 400)
        0
        >>> _first_kept(((0, IN_RANK), (500, OUT_RANK), (900, IN_RANK)), 600)
        2
    """
    before = bisect_right(ordered, (cutoff - 1, IN_RANK))
    if 0 < before < len(ordered) and ordered[before][1] == OUT_RANK \
            and ordered[before - 1][1] == IN_RANK:
        return before - 1
    return before


def _why_invalid(scan: Scan, venue_id: str) -> str:
    if scan.venue_id != venue_id:
        return f"scan {scan.event_id!r} is for venue {scan.venue_id!r}, not {venue_id!r}"
    if scan.direction not in DIRECTION_RANK:
        return f"scan {scan.event_id!r} has direction {scan.direction!r}; expected 'in' or 'out'"
    return f"scan {scan.event_id!r} has time {scan.at!r}; expected integer epoch seconds"


_EMPTY_DELTA = Delta()


RulesLookup = Mapping[str, VenueRules] | Callable[[str], VenueRules]
"""Where to find each venue's rules: a mapping or a function of the venue id."""


class TracerState:
    """The venue states of one tracer worker, for batches that may mix venues.

    Example:
        >>> tracer = TracerState()
        >>> delta = tracer.apply([Scan("e1", "cafe", "ann", "in", 0),
        ...                       Scan("e1", "shop", "bob", "in", 0)], lambda venue: VenueRules())
        >>> sorted(v.venue_id for v in delta.visits_added)
        ['cafe', 'shop']
    """

    __slots__ = ("_evicted_to", "_held_from", "_horizon", "_venues")

    def __init__(self, held_from: int | None = None) -> None:
        """``held_from``: the time from which this state was given every scan (None: all)."""
        self._venues: dict[str, VenueState] = {}
        # Kept here too: a venue first seen (or seen again) after forgetting starts with it.
        self._horizon: int | None = None
        self._held_from = held_from
        self._evicted_to: int | None = None

    def _new_venue(self, venue_id: str) -> VenueState:
        state = VenueState(venue_id, self._horizon, self._held_from)
        if self._evicted_to is not None:
            state._complete_from = self._evicted_to
        return state

    def venue_or_new(self, venue_id: str) -> VenueState:
        """The venue's state, or the one it would start with here (not yet kept)."""
        return self._venues.get(venue_id) or self._new_venue(venue_id)

    def keep(self, state: VenueState) -> None:
        """Hold ``state`` (one :meth:`venue_or_new` gave) as its venue's state."""
        self._venues[state.venue_id] = state

    @property
    def horizon(self) -> int | None:
        return self._horizon

    @property
    def scan_count(self) -> int:
        return sum(state.scan_count for state in self._venues.values())

    def needs_history(self, scans: Iterable[Scan], rules_for: RulesLookup) -> bool:
        """:meth:`VenueState.needs_history` for a batch of one or more venues."""
        lookup = rules_for.__getitem__ if isinstance(rules_for, Mapping) else rules_for
        by_venue: dict[str, list[Scan]] = {}
        for scan in scans:
            by_venue.setdefault(scan.venue_id, []).append(scan)
        return any(self.venue_or_new(venue_id).needs_history(venue_scans, lookup(venue_id))
                   for venue_id, venue_scans in by_venue.items())

    def load(self, scans: Iterable[Scan], rules_for: RulesLookup) -> int:
        """Hold a batch of scans without deriving their changes (see :meth:`VenueState.load`);
        :meth:`rederive` once every batch is loaded. Returns how many scans were given."""
        lookup = rules_for.__getitem__ if isinstance(rules_for, Mapping) else rules_for
        by_venue: dict[str, list[Scan]] = {}
        for scan in scans:
            by_venue.setdefault(scan.venue_id, []).append(scan)
        for venue_id, venue_scans in by_venue.items():
            state = self.venue_or_new(venue_id)
            state.load(venue_scans, lookup(venue_id))
            self._venues[venue_id] = state
        return sum(len(v) for v in by_venue.values())

    def rederive(self) -> None:
        for state in self._venues.values():
            state.rederive()

    def evict_before(self, cutoff: int) -> int:
        """:meth:`VenueState.evict_before` on every venue; venues left empty are dropped."""
        if self._evicted_to is None or cutoff > self._evicted_to:
            self._evicted_to = cutoff
        evicted = 0
        for venue_id in list(self._venues):
            state = self._venues[venue_id]
            evicted += state.evict_before(cutoff)
            if not state.scan_count:
                del self._venues[venue_id]
        return evicted

    def leading_outs(self) -> list[tuple[str, str, int]]:
        """``(venue_id, person, at)`` of each person whose first held moment is an ``out``.

        After a restore from part of the log, the ``in`` before such an ``out`` may not have
        been given: :meth:`VenueState.apply` it from the system of record, or the ``out``
        stands as a visit of its own.
        """
        found = []
        for venue_id, state in self._venues.items():
            for person, ordered in state._moments.items():
                if ordered[0][1] == OUT_RANK:
                    found.append((venue_id, person, ordered[0][0]))
        return found

    def venue(self, venue_id: str) -> VenueState | None:
        return self._venues.get(venue_id)

    def venue_ids(self) -> list[str]:
        return sorted(self._venues)

    def holds(self, scan: Scan) -> bool:
        """:meth:`VenueState.holds` in the scan's venue."""
        state = self._venues.get(scan.venue_id)
        return state is not None and state.holds(scan)

    def venues(self) -> list[VenueState]:
        return [self._venues[venue_id] for venue_id in sorted(self._venues)]

    def apply(self, scans: Iterable[Scan], rules_for: RulesLookup) -> Delta:
        """Apply a batch to each venue it touches; the whole batch is validated first."""
        by_venue: dict[str, list[Scan]] = {}
        for scan in scans:
            by_venue.setdefault(scan.venue_id, []).append(scan)
        lookup = rules_for.__getitem__ if isinstance(rules_for, Mapping) else rules_for
        staged = []
        for venue_id in sorted(by_venue):
            state = self.venue_or_new(venue_id)
            staged.append((state, state._parse(by_venue[venue_id]), lookup(venue_id)))
        deltas = []
        for state, parsed, rules in staged:
            self._venues[state.venue_id] = state
            deltas.append(state._commit(parsed, rules))
        return Delta.merge(deltas) if deltas else _EMPTY_DELTA

    def forget_before(self, cutoff: int) -> int:
        """:meth:`VenueState.forget_before` on every venue; venues left empty are dropped."""
        if self._horizon is None or cutoff > self._horizon:
            self._horizon = cutoff
        forgotten = 0
        for venue_id in list(self._venues):
            state = self._venues[venue_id]
            forgotten += state.forget_before(cutoff)
            if not state.scan_count:
                del self._venues[venue_id]
        return forgotten

    def to_snapshot(self) -> dict[str, Any]:
        """The horizon and every venue's :meth:`VenueState.to_snapshot`, in venue order."""
        return {
            "format": TRACER_SNAPSHOT_FORMAT,
            "horizon": self._horizon,
            "venues": [state.to_snapshot() for state in self.venues()],
        }

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> TracerState:
        """Rebuild the states saved by :meth:`to_snapshot`; :class:`SnapshotError` if unreadable."""
        tracer = cls()
        try:
            if snapshot["format"] != TRACER_SNAPSHOT_FORMAT:
                raise SnapshotError(
                    f"snapshot format {snapshot['format']!r}; "
                    f"this code reads {TRACER_SNAPSHOT_FORMAT!r}"
                )
            horizon = snapshot["horizon"]
            if horizon is not None and type(horizon) is not int:
                raise SnapshotError(f"snapshot horizon {horizon!r} is not an int")
            tracer._horizon = horizon
            venue_snapshots = list(snapshot["venues"])
        except (KeyError, TypeError) as error:
            raise SnapshotError(f"unreadable tracer snapshot: {error!r}") from error
        for venue_snapshot in venue_snapshots:
            state = VenueState.from_snapshot(venue_snapshot)
            if state.venue_id in tracer._venues:
                raise SnapshotError(f"venue {state.venue_id!r} appears twice in the snapshot")
            tracer._venues[state.venue_id] = state
        return tracer

    def visits(self) -> list[Visit]:
        return sorted(v for state in self._venues.values() for v in state.visits())

    def contacts(self) -> list[Contact]:
        return sorted(c for state in self._venues.values() for c in state.contacts())
