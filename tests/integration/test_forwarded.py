"""The failed-authentication limit keys on the client it can trust, not on X-Forwarded-For.

uvicorn, left to its defaults, believes X-Forwarded-For from loopback; these ingest processes
run as deployed (``python -m services.ingest``), once trusting no proxy (the default) and once
trusting one, and the attackers connect from loopback addresses of their own.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from schemas.registry import Role
from services.core.config import Settings
from tests.support.processes import running_http_service
from tests.support.stack import grant, isolated_settings

pytestmark = pytest.mark.integration

BURST = 20  # FailureLimiter's: failures let through before the 429s, then one a second
# Longer than a credential may be: refused before any registry lookup, so the guesses come
# faster than the limit refills and the test does not depend on how quick a lookup is.
BAD_TOKEN = "tvt_" + "x" * 300
PROXY = "127.0.0.9"


@dataclass(frozen=True)
class Ingest:
    url: str
    authority: str

    def client(self, source: str, token: str, forwarded_for: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"}
        if forwarded_for is not None:
            headers["X-Forwarded-For"] = forwarded_for
        return httpx.Client(base_url=self.url, headers=headers, timeout=30,
                            transport=httpx.HTTPTransport(local_address=source))

    def report(self, source: str, token: str, forwarded_for: str | None = None) -> int:
        """The status of an (invalid) case report: 422 once authenticated, 401 or 429 before."""
        with self.client(source, token, forwarded_for) as http:
            return http.post("/v1/cases", json={}).status_code


def running_ingest(stack: Settings, tmp_path_factory: pytest.TempPathFactory,
                   name: str, **overrides: object) -> Iterator[Ingest]:
    state_dir = tmp_path_factory.mktemp(name)
    settings = isolated_settings(stack, state_dir, **overrides)
    authority = grant(settings, Role.AUTHORITY)
    url = f"http://{settings.ingest_host}:{settings.ingest_port}"
    with running_http_service("services.ingest", settings, url, state_dir / "ingest.log"):
        yield Ingest(url, authority)


@pytest.fixture(scope="module")
def trusting_nobody(stack: Settings, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[Ingest]:
    yield from running_ingest(stack, tmp_path_factory, "no-proxy")


@pytest.fixture(scope="module")
def behind_a_proxy(stack: Settings, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Ingest]:
    yield from running_ingest(stack, tmp_path_factory, "proxy", trusted_proxies=PROXY)


def guesses(ingest: Ingest, source: str, forwarded_for: list[str]) -> Counter[int]:
    """One bad token per X-Forwarded-For value, in turn: the statuses seen, and under 0 the
    seconds it took (the limit lets one more through each second)."""
    began = time.monotonic()
    statuses = Counter(ingest.report(source, BAD_TOKEN, value) for value in forwarded_for)
    statuses[0] = math.ceil(time.monotonic() - began)  # seconds taken, under a key of its own
    return statuses


def test_rotating_x_forwarded_for_does_not_escape_the_limit(trusting_nobody: Ingest) -> None:
    # 127.0.0.1: the address uvicorn believes the header from by default.
    statuses = guesses(trusting_nobody, "127.0.0.1",
                                   [f"203.0.113.{i}" for i in range(60)])
    seconds = statuses.pop(0)
    assert set(statuses) == {401, 429}, statuses
    assert statuses[401] <= BURST + seconds + 1, (statuses, seconds)


def test_bad_tokens_sent_in_a_victims_name_lock_out_only_the_sender(
    trusting_nobody: Ingest,
) -> None:
    attacker, victim = "127.0.0.1", "127.0.0.3"  # from where uvicorn's default believes it
    statuses = guesses(trusting_nobody, attacker, [victim] * 40)
    statuses.pop(0)
    assert statuses[429] > 0, statuses  # the limit held, for the address they came from
    assert trusting_nobody.report(victim, trusting_nobody.authority) == 422


def test_behind_a_trusted_proxy_the_limit_keys_on_the_forwarded_client(
    behind_a_proxy: Ingest,
) -> None:
    guesser, neighbour = "198.51.100.7", "198.51.100.8"
    # The proxy appends the address it saw; whatever the client wrote before it is not believed.
    statuses = guesses(behind_a_proxy, PROXY,
                                   [f"10.0.{i}.1, {guesser}" for i in range(40)])
    statuses.pop(0)
    assert statuses[429] > 0, statuses
    assert behind_a_proxy.report(PROXY, behind_a_proxy.authority, neighbour) == 422
    assert behind_a_proxy.report(PROXY, behind_a_proxy.authority) == 422  # the proxy itself
    # From an address that is not a proxy, the header is not believed at all.
    assert behind_a_proxy.report("127.0.0.10", behind_a_proxy.authority, neighbour) == 422
    statuses = guesses(behind_a_proxy, "127.0.0.10", [neighbour] * 40)
    statuses.pop(0)
    assert statuses[429] > 0, statuses
    assert behind_a_proxy.report(PROXY, behind_a_proxy.authority, neighbour) == 422


def test_a_proxy_that_is_no_address_is_refused_at_start() -> None:
    assert Settings(trusted_proxies=" 10.0.0.0/8,192.168.1.7 ").trusted_proxy_list == [
        "10.0.0.0/8", "192.168.1.7"]
    with pytest.raises(ValueError, match="not an IP address or network"):
        Settings(trusted_proxies="10.0.0.0/8,proxy.internal")
    assert Settings().trusted_proxy_list == []


