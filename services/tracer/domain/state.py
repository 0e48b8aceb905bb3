"""Incremental per-venue tracer state: scans in, visit and contact changes out (rules 1-4, 10).

A :class:`VenueState` holds one venue's scans (one per event id), the moments they make per
person, a :class:`VisitIndex` of the visits those pair into, and nothing else: neither visits
per person nor contacts are stored, both are derived when needed. On each batch it

1. records the new scans (rule 1: a known event id is ignored unless this copy comes first in
   scan order, which then replaces the held one),
2. re-pairs only the persons whose scans changed, and diffs their old and new visits,
3. finds the edges of removed and added visits with the index, and keeps as retracted / added
   only those that no other pair of visits still makes (:mod:`contact_changes`).

So the result is a function of the set of scans (rule 4) whatever the batching, and the cost of
a batch is that of the visits it changes and their neighbours, not of the venue's history.

Memory is what bounds a worker (it holds every scan of its hot window), so the state is kept in
columns of machine integers rather than a tuple and a dict entry per scan: a held scan is one
64-bit word, ``person << 34 | moment``, where ``person`` is the partition's small number for the
pseudonym (:class:`People`) and ``moment`` packs ``(at, rank)`` so that integer order is scan
order. A venue keeps those words sorted (a person's moments are then one contiguous run), and
beside them the event ids' 64-bit hashes, sorted, with the word each one holds.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import repeat

from services.tracer.domain.contact_changes import contact_changes
from services.tracer.domain.delta import Delta
from services.tracer.domain.errors import InvalidScanError
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

ParsedScan = tuple[str, int, int, str]
"""``(event_id, at, rank, person)`` of a validated incoming scan."""

# A held scan as one word: person << _PERSON_SHIFT | (at + _AT_OFFSET) << 1 | rank.
_AT_OFFSET = 1 << 32
_PERSON_SHIFT = 34
_MOMENT_MASK = (1 << _PERSON_SHIFT) - 1
LOWEST_AT = -_AT_OFFSET
"""Earliest scan time the state can hold (epoch seconds): about 1834."""
HIGHEST_AT = _AT_OFFSET - 1
"""Latest scan time the state can hold (epoch seconds): about 2106."""
_MOST_PEOPLE = 1 << (63 - _PERSON_SHIFT)

_NO_SPANS: tuple[Span, ...] = ()


def _word(person: int, at: int, rank: int) -> int:
    return (person << _PERSON_SHIFT) | ((at + _AT_OFFSET) << 1) | rank


def _moment(word: int) -> Moment:
    moment = word & _MOMENT_MASK
    return (moment >> 1) - _AT_OFFSET, moment & 1


def _event_key(event_id: str) -> int:
    """The event id as a 64-bit number, held instead of the id (about 85 bytes as a string).

    Python's string hash: keyed per process (so no one can aim collisions at it), cached on the
    string, and never persisted (a state is rebuilt from the log in its own process). Two
    different ids held at one venue collide with chance n²/2⁶⁵ for n held scans: about 3 in 10¹²
    for a venue holding 10,000, over the life of a deployment far below one lost scan.
    """
    return hash(event_id)


class People:
    """The pseudonyms of one tracer partition, each stored once and named by a small number.

    Numbers of people no longer held are reused after :meth:`retain`.

    Example:
        >>> people = People()
        >>> people.number("ann"), people.number("bob"), people.number("ann")
        (0, 1, 0)
        >>> people.retain({1}), people.find("ann"), people.number("cy")
        (1, None, 0)
    """

    __slots__ = ("_free", "_names", "_numbers")

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._names: list[str | None] = []
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._numbers)

    def number(self, name: str) -> int:
        """The number of ``name``, given one if it has none."""
        number = self._numbers.get(name)
        if number is None:
            if self._free:
                number = self._free.pop()
                self._names[number] = name
            else:
                number = len(self._names)
                if number >= _MOST_PEOPLE:
                    raise OverflowError(f"more than {_MOST_PEOPLE} people held in one partition")
                self._names.append(name)
            self._numbers[name] = number
        return number

    def find(self, name: str) -> int | None:
        return self._numbers.get(name)

    def name(self, number: int) -> str:
        name = self._names[number]
        assert name is not None, f"person number {number} was released"
        return name

    def retain(self, live: set[int]) -> int:
        """Release every number not in ``live``; return how many were released."""
        released = [number for number in self._numbers.values() if number not in live]
        for number in released:
            name = self._names[number]
            assert name is not None
            del self._numbers[name]
            self._names[number] = None
        self._free.extend(released)
        return len(released)


class _SpansView(Mapping[str, tuple[Span, ...]]):
    """person → their current visits at one venue, paired from the held moments on demand.

    ``known`` holds visits already paired (those of the people a batch changed, with visits),
    so that they are not paired again.
    """

    __slots__ = ("_known", "_state")

    def __init__(self, state: VenueState, known: Mapping[str, tuple[Span, ...]]) -> None:
        self._state = state
        self._known = known

    def __getitem__(self, person: str) -> tuple[Span, ...]:
        spans = self.get(person)
        if spans is None:
            raise KeyError(person)
        return spans

    def get(self, person: str, default: tuple[Span, ...] | None = None  # type: ignore[override]
            ) -> tuple[Span, ...] | None:
        spans = self._known.get(person)
        if spans is not None:
            return spans
        spans = self._state.spans_of(person)
        return spans if spans else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._state.held_people())

    def __len__(self) -> int:
        return len(self._state.held_people())


class VenueState:
    """One venue's scans, visits and visit index, updated batch by batch.

    The rules are those of the latest :meth:`apply`; a call with different rules re-derives every
    visit and contact and returns the full difference. ``people`` is shared by the venues of one
    partition (:class:`TracerState`); a venue on its own has its own.

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
        "_event_keys",
        "_event_words",
        "_fixed",
        "_held_from",
        "_horizon",
        "_index",
        "_longest",
        "_moments",
        "_people",
        "_repeats",
        "_rules",
        "venue_id",
    )

    def __init__(self, venue_id: str, horizon: int | None = None,
                 held_from: int | None = None, people: People | None = None) -> None:
        self.venue_id = venue_id
        self._people = People() if people is None else people
        self._rules: VenueRules | None = None
        self._horizon = horizon
        # The hot window (see needs_history): scans from `held_from` on are all held, and every
        # visit ending at or after `_complete_from` is held whole. None: everything is held.
        self._held_from = held_from
        self._complete_from: int | None = None
        # Event id hashes, sorted, and the word of the scan each one holds.
        self._event_keys = array("q")
        self._event_words = array("q")
        # Every held person's distinct moments, as words, sorted: one run per person.
        self._moments = array("q")
        # word → how many held scans beyond the first share that moment (rare: double scans
        # with different event ids).
        self._repeats: dict[int, int] = {}
        # Visits of people whose scans are not held (a history state's neighbours).
        self._fixed: dict[str, tuple[Span, ...]] = {}
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
        return len(self._event_keys)

    def scans(self) -> Iterator[Scan]:
        """The held scans, one per event id. The ids are not held, only their hashes: each
        scan's ``event_id`` is ``"#"`` and that hash, distinct as the ids are."""
        venue_id, name = self.venue_id, self._people.name
        for key, word in zip(self._event_keys, self._event_words, strict=True):
            at, rank = _moment(word)
            yield Scan(f"#{key}", venue_id, name(word >> _PERSON_SHIFT), RANK_DIRECTION[rank], at)

    def visits(self) -> list[Visit]:
        """The current visits, sorted."""
        venue_id = self.venue_id
        return sorted(Visit(venue_id, person, start, end)
                      for person, spans in self._all_spans() for start, end in spans)

    def contacts(self) -> list[Contact]:
        """The current contact edges, sorted (derived on demand by a sweep)."""
        if self._rules is None:
            return []
        keys = contact_keys_among(self.venue_id, self._index, self._rules.min_overlap)
        return [Contact._make(key) for key in sorted(keys)]

    def held_people(self) -> list[str]:
        """The people whose scans are held here (of a :meth:`for_history` state: all of their
        scans at the venue)."""
        name = self._people.name
        return [name(number) for number, _ in self._runs()]

    def person_numbers(self) -> set[int]:
        """The :class:`People` numbers of :meth:`held_people`."""
        return {word >> _PERSON_SHIFT for word in self._moments}

    def spans_of(self, person: str) -> tuple[Span, ...]:
        """``person``'s current visits here as ``(start, end)``, sorted."""
        number = self._people.find(person)
        if number is not None:
            spans = self._spans_of_number(number)
            if spans:
                return spans
        return self._fixed.get(person, _NO_SPANS)

    def leading_outs(self) -> list[tuple[str, int]]:
        """``(person, at)`` of each person whose first held moment is an ``out``."""
        name = self._people.name
        return [(name(number), ordered[0][0])
                for number, ordered in self._runs() if ordered[0][1] == OUT_RANK]

    def _run(self, number: int) -> tuple[int, int]:
        """Where ``number``'s moments are in :attr:`_moments`."""
        moments = self._moments
        low = bisect_left(moments, number << _PERSON_SHIFT)
        return low, bisect_left(moments, (number + 1) << _PERSON_SHIFT, low)

    def _moments_of(self, number: int) -> tuple[Moment, ...]:
        low, high = self._run(number)
        # _moment, written out: this runs for every person of every batch, twice.
        return tuple([(((word & _MOMENT_MASK) >> 1) - _AT_OFFSET, word & 1)
                      for word in self._moments[low:high]])

    def _spans_of_number(self, number: int) -> tuple[Span, ...]:
        rules = self._rules
        if rules is None:
            return _NO_SPANS
        ordered = self._moments_of(number)
        if not ordered:
            return _NO_SPANS
        return pair_moments(ordered, rules.default_dwell, rules.max_dwell)

    def _runs(self) -> Iterator[tuple[int, tuple[Moment, ...]]]:
        """Each held person's number and moments, in number order."""
        moments = self._moments
        count, low = len(moments), 0
        while low < count:
            number = moments[low] >> _PERSON_SHIFT
            high = bisect_left(moments, (number + 1) << _PERSON_SHIFT, low)
            yield number, tuple([_moment(word) for word in moments[low:high]])
            low = high

    def _all_spans(self) -> Iterator[tuple[str, tuple[Span, ...]]]:
        rules = self._rules
        if rules is not None:
            name = self._people.name
            for number, ordered in self._runs():
                spans = pair_moments(ordered, rules.default_dwell, rules.max_dwell)
                if spans:
                    yield name(number), spans
        yield from self._fixed.items()

    def _held_word(self, event_id: str) -> tuple[int, int | None]:
        """Where ``event_id``'s hash is (or would go) among the keys, and the word it holds."""
        keys, key = self._event_keys, _event_key(event_id)
        at = bisect_left(keys, key)
        if at < len(keys) and keys[at] == key:
            return at, self._event_words[at]
        return at, None

    def _first_in_scan_order(self, held: int, at: int, rank: int, person: str) -> bool:
        """Whether the held ``word`` comes no later than ``(at, rank, person)`` in scan order."""
        held_moment = held & _MOMENT_MASK
        moment = ((at + _AT_OFFSET) << 1) | rank
        if held_moment != moment:
            return held_moment < moment
        return self._people.name(held >> _PERSON_SHIFT) <= person

    # ---------------------------------------------------------------- updating

    def apply(self, scans: Iterable[Scan], rules: VenueRules) -> Delta:
        """Add a batch of scans; return the visits and contacts it added and retracted.

        The whole batch is validated before anything changes: an :class:`InvalidScanError`
        (another venue, unknown direction, non-integer time or one out of range) leaves the
        state as it was.
        """
        parsed = self._parse(scans)
        return self._commit(parsed, rules)

    def _parse(self, scans: Iterable[Scan]) -> list[tuple[Scan, ParsedScan]]:
        venue_id = self.venue_id
        ranks = DIRECTION_RANK
        parsed = []
        for scan in scans:
            rank = ranks.get(scan.direction)
            at = scan.at
            if scan.venue_id != venue_id or rank is None or type(at) is not int \
                    or not LOWEST_AT <= at <= HIGHEST_AT:
                raise InvalidScanError(_why_invalid(scan, venue_id))
            parsed.append((scan, (scan.event_id, at, rank, scan.person)))
        return parsed

    def _commit(self, parsed: list[tuple[Scan, ParsedScan]], rules: VenueRules) -> Delta:
        if self._rules is not None and rules is not self._rules and rules != self._rules:
            return self._commit_with_new_rules(parsed, rules)
        self._rules = rules
        before, expired = self._record(parsed)
        return self._update(before, tuple(expired))

    def _record(self, parsed: list[tuple[Scan, ParsedScan]], *, note: bool = True,
                ) -> tuple[dict[int, tuple[Span, ...]], list[Scan]]:
        """Rule 1 on the incoming scans. Returns the persons whose scans changed, each with
        their visits before (when ``note``; else with none), and the scans refused as expired."""
        keys, words, moments = self._event_keys, self._event_words, self._moments
        number_of = self._people.number
        horizon = self._horizon
        before: dict[int, tuple[Span, ...]] = {}
        expired: list[Scan] = []
        for scan, (event_id, at, rank, person) in parsed:
            position, held = self._held_word(event_id)
            if held is not None and self._first_in_scan_order(held, at, rank, person):
                continue  # a re-delivery, or a copy that loses to the held one
            if horizon is not None and at < horizon:
                expired.append(scan)
                continue
            number = number_of(person)
            word = _word(number, at, rank)
            if held is not None:
                held_number = held >> _PERSON_SHIFT
                if held_number not in before:
                    before[held_number] = self._spans_of_number(held_number) if note else ()
                self._drop_moment(held)
                words[position] = word
            else:
                keys.insert(position, _event_key(event_id))
                words.insert(position, word)
            if number not in before:
                before[number] = self._spans_of_number(number) if note else ()
            slot = bisect_left(moments, word)
            if slot < len(moments) and moments[slot] == word:
                self._repeats[word] = self._repeats.get(word, 0) + 1
            else:
                moments.insert(slot, word)
        return before, expired

    def _drop_moment(self, word: int) -> None:
        """Forget one held scan's moment (unless another held scan shares it)."""
        repeats = self._repeats.get(word)
        if repeats:
            if repeats == 1:
                del self._repeats[word]
            else:
                self._repeats[word] = repeats - 1
            return
        del self._moments[bisect_left(self._moments, word)]

    def _update(self, before: dict[int, tuple[Span, ...]], expired: tuple[Scan, ...]) -> Delta:
        """Re-pair the touched persons and derive the visit and contact changes."""
        rules = self._rules
        assert rules is not None  # set by _commit before any scan is recorded
        name = self._people.name
        removed: list[IndexedVisit] = []
        added: list[IndexedVisit] = []
        changed_spans_before: dict[str, tuple[Span, ...]] = {}
        changed_spans_now: dict[str, tuple[Span, ...]] = {}
        for number, old in before.items():
            new = self._spans_of_number(number)
            if new == old:
                continue
            person = name(number)
            changed_spans_before[person] = old
            if new:
                changed_spans_now[person] = new
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
            self._index, removed, added, changed_spans_before,
            _SpansView(self, changed_spans_now),
            rules.min_overlap, longest,
        )
        venue_id = self.venue_id
        make = tuple.__new__  # a named tuple from a ready tuple, without the _make indirection
        return make(
            Delta,
            (
                tuple(sorted([make(Visit, (venue_id, p, s, e)) for s, e, p in added])),
                tuple(sorted([make(Visit, (venue_id, p, s, e)) for s, e, p in removed])),
                tuple(map(make, repeat(Contact), contacts_added)),
                tuple(map(make, repeat(Contact), contacts_removed)),
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
        _, expired = self._record(parsed, note=False)
        self.rederive()
        new_visits = set(self.visits())
        new_contacts = set(self.contacts())
        return Delta(
            visits_added=tuple(sorted(new_visits - old_visits)),
            visits_removed=tuple(sorted(old_visits - new_visits)),
            contacts_added=tuple(sorted(new_contacts - old_contacts)),
            contacts_removed=tuple(sorted(old_contacts - new_contacts)),
            expired=tuple(expired),
        )

    def rederive(self, default_longest: int = 0) -> None:
        """Pair every person's moments afresh and rebuild the index, emitting nothing (after
        :meth:`load`, or when every visit may have changed)."""
        visits = [(start, end, person)
                  for person, spans in self._all_spans() for start, end in spans]
        self._index = VisitIndex(self.venue_id, visits)
        self._longest = max((end - start for start, end, _ in visits), default=default_longest)

    def _reindex(self, number: int, old: tuple[Span, ...]) -> None:
        """Move one person's visits in the index from ``old`` to what their moments pair into."""
        person = self._people.name(number)
        index = self._index
        for start, end in old:
            index.remove((start, end, person))
        for start, end in self._spans_of_number(number):
            index.add((start, end, person))
            if end - start > self._longest:
                self._longest = end - start

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
        # person number → first word kept (past every word of theirs: keep none), and their
        # visits before.
        keep_from: dict[int, int] = {}
        old_spans: dict[int, tuple[Span, ...]] = {}
        rules = self._rules
        for number, ordered in self._runs():
            cut = _first_kept(ordered, cutoff)
            if cut:
                keep_from[number] = (_word(number, *ordered[cut]) if cut < len(ordered)
                                     else (number + 1) << _PERSON_SHIFT)
                if rules is not None:
                    old_spans[number] = pair_moments(ordered, rules.default_dwell,
                                                     rules.max_dwell)
        if not keep_from:
            return 0

        def kept(word: int) -> bool:
            first = keep_from.get(word >> _PERSON_SHIFT)
            return first is None or word >= first

        held = len(self._event_keys)
        pairs = [(key, word) for key, word in zip(self._event_keys, self._event_words,
                                                  strict=True) if kept(word)]
        self._event_keys = array("q", [key for key, _ in pairs])
        self._event_words = array("q", [word for _, word in pairs])
        self._moments = array("q", [word for word in self._moments if kept(word)])
        self._repeats = {word: n for word, n in self._repeats.items() if kept(word)}
        for number, old in old_spans.items():
            self._reindex(number, old)
        return held - len(self._event_keys)

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
        find = self._people.find
        for scan in scans:
            rank, at = DIRECTION_RANK.get(scan.direction), scan.at
            if rank is None or type(at) is not int or not LOWEST_AT <= at <= HIGHEST_AT:
                return False
            _, held = self._held_word(scan.event_id)
            if held is not None:
                if self._first_in_scan_order(held, at, rank, scan.person):
                    continue  # ignored by rule 1
                held_at, held_rank = _moment(held)
                if self._reaches_before(held >> _PERSON_SHIFT, held_at, held_rank, dwell,
                                        complete, removed=True):
                    return True
            if self._reaches_before(find(scan.person), at, rank, dwell, complete,
                                    removed=False):
                return True
        return False

    def _reaches_before(self, number: int | None, at: int, rank: int, dwell: int, complete: int,
                        *, removed: bool) -> bool:
        if at - dwell < complete:  # its own visit may start before `complete`
            return True
        if number is None:
            return rank == OUT_RANK
        low, high = self._run(number)
        position = bisect_left(self._moments, _word(number, at, rank), low, high)
        if position == low:
            # Nothing of the person's held before it: an `out` may close an `in` that is no
            # longer held, and taking away a first `in` leaves its `out` to one.
            return rank == OUT_RANK or (removed and high - low > 1)
        prev_at, prev_rank = _moment(self._moments[position - 1])
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
        self._record(self._parse(scans), note=False)

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
        state._record(state._parse(history), note=False)
        people = set(state.held_people())
        spans: dict[str, set[Span]] = {}
        for start, end, person in neighbours:
            if person not in people:
                spans.setdefault(person, set()).add((start, end))
        state._fixed = {person: tuple(sorted(theirs)) for person, theirs in spans.items()}
        state.rederive(default_longest=rules.max_dwell)
        state._horizon = horizon
        return state

    def adopt(self, late: VenueState, people: Iterable[str], rules: VenueRules) -> None:
        """Hold ``people``'s scans as ``late`` (a :meth:`for_history` state, after its batch)
        holds them, keeping of them only what the hot window keeps; emits nothing."""
        if self._rules is None:
            self._rules = rules
        complete = self.complete_from(rules)
        keep_after = None if complete is None else complete - max(rules.max_dwell, self._longest)
        numbers = {person: self._people.number(person) for person in set(people)}
        mine = set(numbers.values())
        old_spans = {number: self._spans_of_number(number) for number in mine}
        # Every held scan of theirs is in late's history too (it holds all their stored scans
        # at the venue, and each held scan was stored before this batch): replace them all.
        merged = {key: word for key, word in zip(self._event_keys, self._event_words,
                                                 strict=True)
                  if word >> _PERSON_SHIFT not in mine}
        moments = [word for word in self._moments if word >> _PERSON_SHIFT not in mine]
        self._repeats = {word: n for word, n in self._repeats.items()
                         if word >> _PERSON_SHIFT not in mine}
        # late's person number → (this state's number, first word kept here).
        kept_from: dict[int, tuple[int, int]] = {}
        late_number = late._people.find
        for person, number in numbers.items():
            theirs = late_number(person)
            if theirs is None:
                continue
            ordered = late._moments_of(theirs)
            if not ordered:
                continue
            cut = 0 if keep_after is None else _first_kept(ordered, keep_after)
            if cut == len(ordered):
                continue
            kept_from[theirs] = (number, _word(theirs, *ordered[cut]))
            moments.extend(_word(number, at, rank) for at, rank in ordered[cut:])

        def translated(word: int) -> int | None:
            found = kept_from.get(word >> _PERSON_SHIFT)
            if found is None or word < found[1]:
                return None
            return (found[0] << _PERSON_SHIFT) | (word & _MOMENT_MASK)

        for key, word in zip(late._event_keys, late._event_words, strict=True):
            if (ours := translated(word)) is not None:
                merged[key] = ours
        for word, count in late._repeats.items():
            if (ours := translated(word)) is not None:
                self._repeats[ours] = count
        keys = sorted(merged)
        self._event_keys = array("q", keys)
        self._event_words = array("q", [merged[key] for key in keys])
        self._moments = array("q", sorted(moments))
        for number, old in old_spans.items():
            self._reindex(number, old)


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
    if type(scan.at) is not int:
        return f"scan {scan.event_id!r} has time {scan.at!r}; expected integer epoch seconds"
    return (f"scan {scan.event_id!r} has time {scan.at!r}; expected epoch seconds from "
            f"{LOWEST_AT} to {HIGHEST_AT}")


_EMPTY_DELTA = Delta()


RulesLookup = Mapping[str, VenueRules] | Callable[[str], VenueRules]
"""Where to find each venue's rules: a mapping or a function of the venue id."""


def _lookup(rules_for: RulesLookup) -> Callable[[str], VenueRules]:
    return rules_for.__getitem__ if isinstance(rules_for, Mapping) else rules_for


def _by_venue(scans: Iterable[Scan]) -> dict[str, list[Scan]]:
    by_venue: dict[str, list[Scan]] = {}
    for scan in scans:
        by_venue.setdefault(scan.venue_id, []).append(scan)
    return by_venue


class TracerState:
    """The venue states of one tracer worker, for batches that may mix venues.

    Example:
        >>> tracer = TracerState()
        >>> delta = tracer.apply([Scan("e1", "cafe", "ann", "in", 0),
        ...                       Scan("e1", "shop", "bob", "in", 0)], lambda venue: VenueRules())
        >>> sorted(v.venue_id for v in delta.visits_added)
        ['cafe', 'shop']
    """

    __slots__ = ("_evicted_to", "_held_from", "_horizon", "_live_people", "_people", "_venues")

    def __init__(self, held_from: int | None = None) -> None:
        """``held_from``: the time from which this state was given every scan (None: all)."""
        self._venues: dict[str, VenueState] = {}
        # Kept here too: a venue first seen (or seen again) after forgetting starts with it.
        self._horizon: int | None = None
        self._held_from = held_from
        self._evicted_to: int | None = None
        self._people = People()
        # People held at the last compaction of `_people` (see _release_people).
        self._live_people = 0

    def _new_venue(self, venue_id: str) -> VenueState:
        state = VenueState(venue_id, self._horizon, self._held_from, self._people)
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
        by_venue, lookup = _by_venue(scans), _lookup(rules_for)
        return any(self.venue_or_new(venue_id).needs_history(venue_scans, lookup(venue_id))
                   for venue_id, venue_scans in by_venue.items())

    def load(self, scans: Iterable[Scan], rules_for: RulesLookup) -> int:
        """Hold a batch of scans without deriving their changes (see :meth:`VenueState.load`);
        :meth:`rederive` once every batch is loaded. Returns how many scans were given."""
        by_venue, lookup = _by_venue(scans), _lookup(rules_for)
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
        self._release_people()
        return evicted

    def _release_people(self) -> None:
        """Release the numbers of people no venue holds any more, once enough have left that
        finding them (a pass over every held scan) is worth it."""
        if len(self._people) <= 2 * self._live_people + 4_096:
            return
        live: set[int] = set()
        for state in self._venues.values():
            live |= state.person_numbers()
        self._people.retain(live)
        self._live_people = len(live)

    def leading_outs(self) -> list[tuple[str, str, int]]:
        """``(venue_id, person, at)`` of each person whose first held moment is an ``out``.

        After a restore from part of the log, the ``in`` before such an ``out`` may not have
        been given: :meth:`VenueState.apply` it from the system of record, or the ``out``
        stands as a visit of its own.
        """
        return [(venue_id, person, at) for venue_id, state in self._venues.items()
                for person, at in state.leading_outs()]

    def venue(self, venue_id: str) -> VenueState | None:
        return self._venues.get(venue_id)

    def venue_ids(self) -> list[str]:
        return sorted(self._venues)

    def venues(self) -> list[VenueState]:
        return [self._venues[venue_id] for venue_id in sorted(self._venues)]

    def apply(self, scans: Iterable[Scan], rules_for: RulesLookup) -> Delta:
        """Apply a batch to each venue it touches; the whole batch is validated first."""
        by_venue, lookup = _by_venue(scans), _lookup(rules_for)
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
        self._release_people()
        return forgotten

    def visits(self) -> list[Visit]:
        return sorted(v for state in self._venues.values() for v in state.visits())

    def contacts(self) -> list[Contact]:
        return sorted(c for state in self._venues.values() for c in state.contacts())
