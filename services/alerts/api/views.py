"""What each reader is shown of per-person data: pseudonyms keyed by case for authorities.

An authority reading a case sees every person (the exposed, their via person, the other side of
each exposure, the nodes of a venue-day graph it touches) as a keyed hash of (case id,
pseudonym) under the server's read secret (``TRUYVET_READ_SECRET``, never the pseudonym
secret). The same person in two cases has two unrelated ids, so two answers cannot be joined
without the server; within one case the ids are stable, so a chain, its alerts and its graphs
agree. Only the notifier, which must match its own users, reads stable pseudonyms (the stream).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import networkx as nx
from pydantic import SecretStr

from services.alerts.queries import AlertRecord


class CaseView:
    """The per-case pseudonyms of one case.

    Example:
        >>> secret = SecretStr("s" * 32)
        >>> one, other = CaseView(secret, "c1"), CaseView(secret, "c2")
        >>> one.person("ab" * 32) == one.person("ab" * 32) != other.person("ab" * 32)
        True
        >>> len(one.person("ab" * 32))
        64
    """

    def __init__(self, secret: SecretStr, case_id: str) -> None:
        self.case_id = case_id
        self._key = hmac.new(secret.get_secret_value().encode(), case_id.encode(),
                             hashlib.sha256).digest()
        self._seen: dict[str, str] = {}

    def person(self, pseudonym: str) -> str:
        shown = self._seen.get(pseudonym)
        if shown is None:
            shown = self._seen[pseudonym] = hmac.new(self._key, pseudonym.encode(),
                                                     hashlib.sha256).hexdigest()
        return shown

    def alert(self, alert: AlertRecord) -> AlertRecord:
        return alert.model_copy(update={
            "person_id": self.person(alert.person_id),
            "via_person_id": self.person(alert.via_person_id) if alert.via_person_id else None,
            "exposures": tuple(e.model_copy(update={"other_person_id":
                                                    self.person(e.other_person_id)})
                               for e in alert.exposures),
        })

    def chain(self, node: dict[str, Any]) -> dict[str, Any]:
        """A chain node as ``ChainNode.to_dict`` gives it, every person in this case's ids."""
        return dict(node, person=self.person(node["person"]),
                    via=self.person(node["via"]) if node["via"] else None,
                    children=[self.chain(child) for child in node["children"]])

    def graph(self, graph: nx.Graph) -> nx.Graph:
        """A venue-day contact graph with every person in this case's ids."""
        return nx.relabel_nodes(graph, {node: self.person(node) for node in graph})
