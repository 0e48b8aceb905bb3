"""The sealed contact directory without anything running: keys, sealing, what ingest seals,
the contact list's rows and follow-up lists, a person's status, and ``truyvet contacts open``."""

from __future__ import annotations

import csv
import io
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from services.alerts.domain.contact_list import COLUMNS, ContactLine, contact_rows
from services.alerts.domain.follow_up import (
    FOLLOW_UP_STATES,
    FollowUp,
    InvalidFollowUpError,
    Involvement,
    check_change,
    funnel,
    person_status,
)
from services.core.config import IngestSettings, Settings
from services.core.directory import (
    AuthorityPrivateKey,
    CannotOpenError,
    DirectoryKeyError,
    parse_public_keys,
)
from services.core.pseudonym import Pseudonymizer
from services.ingest.directory import RESEAL_AFTER, DirectorySealer
from services.ingest.identifiers import person_id_normaliser
from truyvet.cli import main
from truyvet.directory_commands import OpenError, open_contacts, read_keys

DAY = 86_400
NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)


def test_only_the_private_key_opens_what_is_sealed_to_its_public_key() -> None:
    key, other = AuthorityPrivateKey.generate(), AuthorityPrivateKey.generate()
    sealed = key.public.seal("+84912345678")
    assert key.open(sealed) == "+84912345678"
    with pytest.raises(CannotOpenError):
        other.open(sealed)
    with pytest.raises(CannotOpenError):
        key.open(sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"))
    # A fresh box each time: equal identifiers cannot be matched by their sealed copies.
    assert key.public.seal("+84912345678") != sealed
    assert "912345678" not in sealed


def test_configured_keys_are_checked_against_their_ids() -> None:
    first, second = AuthorityPrivateKey.generate().public, AuthorityPrivateKey.generate().public
    assert parse_public_keys(f"{first.configured()}, {second.configured()}") == [first, second]
    wrong_id = "0" * 16 + ":" + first.configured().split(":", 1)[1]
    with pytest.raises(DirectoryKeyError, match="does not match"):
        parse_public_keys(wrong_id)
    with pytest.raises(DirectoryKeyError, match="KEY_ID:BASE64"):
        parse_public_keys("just-a-key")
    with pytest.raises(ValidationError, match="does not match"):
        Settings(authority_public_keys=wrong_id)
    assert Settings(authority_public_keys=first.configured()).sealing_keys == [first]


def test_no_process_has_a_setting_for_a_private_key() -> None:
    for fields in (Settings.model_fields, IngestSettings.model_fields):
        assert not [name for name in fields if "private" in name or "authority_key" in name]


def test_the_key_file_is_its_owners_only_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "authority.key"
    key = AuthorityPrivateKey.generate()
    key.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert AuthorityPrivateKey.read(path) == key
    with pytest.raises(FileExistsError):
        AuthorityPrivateKey.generate().write(path)
    data = json.loads(path.read_text())
    (tmp_path / "edited.key").write_text(json.dumps(dict(data, key_id="f" * 16)))
    with pytest.raises(DirectoryKeyError, match="does not match"):
        AuthorityPrivateKey.read(tmp_path / "edited.key")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(DirectoryKeyError, match="not a truyvet authority key"):
        AuthorityPrivateKey.read(tmp_path / "other.json")


def test_ingest_seals_the_normalised_identifier_once_a_day_per_person() -> None:
    key = AuthorityPrivateKey.generate()
    pseudonymizer = Pseudonymizer(SecretStr("k" * 40), person_id_normaliser("VN"))
    normalised, pseudonym = pseudonymizer.identify("091-234-5678")
    assert pseudonym == pseudonymizer.pseudonym("+84 912 345 678")
    sealer = DirectorySealer(key.public, remembered=2)
    [entry] = sealer.entries({pseudonym: normalised}, NOW)
    assert entry.pseudonym == pseudonym and entry.key_id == key.public.key_id
    assert key.open(entry.sealed) == "+84912345678"
    assert sealer.entries({pseudonym: normalised}, NOW) != []  # not acknowledged yet
    sealer.remember([entry], NOW)
    assert sealer.entries({pseudonym: normalised}, NOW + RESEAL_AFTER / 2) == []
    assert len(sealer.entries({pseudonym: normalised}, NOW + RESEAL_AFTER)) == 1
    # Bounded: the oldest remembered person is forgotten (and sealed again when seen).
    for other in ("a" * 64, "b" * 64):
        sealer.remember(sealer.entries({other: "x"}, NOW), NOW)
    assert len(sealer.entries({pseudonym: normalised}, NOW)) == 1
    assert DirectorySealer(None).entries({pseudonym: normalised}, NOW) == []


def test_follow_up_lists_follow_the_clock() -> None:
    created, exposed = 10 * DAY, 9 * DAY
    new = FollowUp(exposed, created, "new", 14, 24 * 3600)
    assert new.until == 23 * DAY
    assert not new.overdue(created + 23 * 3600) and new.overdue(created + 25 * 3600)
    assert not FollowUp(exposed, created, "reached", 14, 24 * 3600).overdue(created + 2 * DAY)
    assert FollowUp(exposed, created, "unreachable", 14, 24 * 3600).overdue(created + 2 * DAY)
    assert new.due_on(23 * DAY - 1) and not new.due_on(22 * DAY - 1)
    assert not new.ended(23 * DAY - 1) and new.ended(23 * DAY)
    assert not new.overdue(23 * DAY)  # ended: no longer a call to make
    with pytest.raises(InvalidFollowUpError):
        new.in_list("tomorrow", 0)


def test_only_a_positive_contact_is_reported_as_a_case() -> None:
    for state in FOLLOW_UP_STATES:
        check_change(state, report_case=False)
    check_change("tested_positive", report_case=True)
    with pytest.raises(InvalidFollowUpError):
        check_change("reached", report_case=True)
    with pytest.raises(InvalidFollowUpError):
        check_change("cured", report_case=False)
    assert funnel(["new", "reached", "reached"]) == dict.fromkeys(FOLLOW_UP_STATES, 0) | {
        "new": 1, "reached": 2}


def test_the_contact_list_has_a_row_per_alert_with_its_state_and_sealed_identifier() -> None:
    lines = [ContactLine("a1", "p1", 1, 100, ("v1", "v2"), 200),
             ContactLine("a2", "p2", 2, 150, ("v2",), 200),
             ContactLine("a3", "p3", 2, 160, ("v3",), 200)]
    sealed = {"p1": ("k1", "s1"), "p2": ("k1", "s2")}
    rows = contact_rows("c1", lines, sealed, {"a1": "reached"}, follow_up_days=14,
                        reach_within_h=24, now=200 + 2 * DAY, shown_as=lambda p: "id-" + p)
    assert [(r.alert_id, r.person, r.follow_up_state, r.key_id, r.sealed) for r in rows] == [
        ("a1", "id-p1", "reached", "k1", "s1"), ("a2", "id-p2", "new", "k1", "s2"),
        ("a3", "id-p3", "new", "", "")]
    assert rows[0].follow_up_until == 100 + 14 * DAY and rows[0].risk_level == ""
    overdue = contact_rows("c1", lines, sealed, {"a1": "reached"}, follow_up_days=14,
                           reach_within_h=24, now=200 + 2 * DAY, shown_as=str, only="overdue")
    assert [r.alert_id for r in overdue] == ["a2", "a3"]
    assert COLUMNS[-2:] == ("key_id", "sealed") and "risk_level" in COLUMNS


def test_a_persons_status_is_their_lowest_degree_in_pc_covid_colours() -> None:
    assert (person_status([Involvement("c", 0, None, None, None)]).colour) == "red"
    f2 = person_status([Involvement("c", 2, 10, 20, "new")])
    assert (f2.status, f2.colour, f2.earliest_exposure, f2.follow_up_until) == (
        "F2", "yellow", 10, 20)
    both = person_status([Involvement("c", 2, 10, 20, "new"), Involvement("d", 0, None, None,
                                                                          None)])
    assert both.status == "F0" and [i.case_id for i in both.involvements] == ["d", "c"]


def test_a_venue_exposure_is_its_own_status_below_every_case_degree() -> None:
    venue = Involvement("ev1", 1, 5, 30, "new", venue=True)
    alone = person_status([venue])
    assert (alone.status, alone.colour, alone.earliest_exposure, alone.follow_up_until) == (
        "venue", "yellow", 5, 30)
    assert [i.role for i in alone.involvements] == ["venue"]
    # Any case degree is closer than a venue; the venue's exposure still counts in the dates.
    with_f2 = person_status([venue, Involvement("c", 2, 10, 20, "new")])
    assert (with_f2.status, with_f2.earliest_exposure, with_f2.follow_up_until) == ("F2", 5, 30)
    assert [i.role for i in with_f2.involvements] == ["F2", "venue"]
    # A contact of someone present (with_contacts) is the F-degree it is, not a venue exposure.
    contact = person_status([Involvement("ev1", 2, 7, 21, "new", venue=True)])
    assert (contact.status, contact.colour) == ("F2", "yellow")


def _listing(key: AuthorityPrivateKey, other: AuthorityPrivateKey) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    base = ["c1", "", "person", "1", "2026-12-01T00:00:00Z", "v1 v2", "", "new",
            "2026-12-15T00:00:00Z"]
    writer.writerow(["c1", "a1", *base[2:], key.public.key_id, key.public.seal("+84912345678")])
    writer.writerow(["c1", "a2", *base[2:], other.public.key_id, other.public.seal("C1234567")])
    writer.writerow(["c1", "a3", *base[2:], "", ""])
    return out.getvalue()


def test_contacts_open_gives_the_identifiers_of_the_keys_it_holds(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]
                                                                  ) -> None:
    key, other = AuthorityPrivateKey.generate(), AuthorityPrivateKey.generate()
    key.write(tmp_path / "key")
    listing = tmp_path / "contacts.csv"
    listing.write_text(_listing(key, other))
    opened = open_contacts(listing.read_text(), read_keys([tmp_path / "key"]))
    assert [r["identifier"] for r in opened.rows] == ["+84912345678", "", ""]
    assert (opened.opened, opened.other_key, opened.unsealed) == (1, 1, 1)
    assert "sealed" not in opened.header and opened.header[-1] == "identifier"

    out = tmp_path / "open.csv"
    assert main(["contacts", "open", str(listing), "--key", str(tmp_path / "key"),
                 "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [r["identifier"] for r in csv.DictReader(out.open())] == ["+84912345678", "", ""]
    # Only a wrong key: nothing opens, and the command says so by failing.
    AuthorityPrivateKey.generate().write(tmp_path / "wrong-key")
    assert main(["contacts", "open", str(listing), "--key", str(tmp_path / "wrong-key")]) == 1
    assert "+84912345678" not in capsys.readouterr().out


def test_contacts_open_reads_the_json_export_too() -> None:
    key = AuthorityPrivateKey.generate()
    document = {"case_id": "c1", "follow_up_list": None, "contacts": [
        {"alert_id": "a1", "venue_ids": ["v1", "v2"], "key_id": key.public.key_id,
         "sealed": key.public.seal("+84912345678")}]}
    opened = open_contacts(json.dumps(document), {key.public.key_id: key})
    assert opened.rows == [{"alert_id": "a1", "venue_ids": "v1 v2",
                            "identifier": "+84912345678"}]
    with pytest.raises(OpenError):
        open_contacts("alert_id,degree\na1,1\n", {})


def test_authority_keygen_prints_the_line_servers_are_configured_with(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["authority", "keygen", "--out", str(tmp_path / "k")]) == 0
    line = capsys.readouterr().out.strip()
    name, value = line.split("=", 1)
    assert name == "TRUYVET_AUTHORITY_PUBLIC_KEYS"
    assert parse_public_keys(value) == [AuthorityPrivateKey.read(tmp_path / "k").public]
    assert main(["authority", "keygen", "--out", str(tmp_path / "k")]) == 1

