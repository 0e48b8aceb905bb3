"""The local Kafka cluster's layout and configuration: which broker listens where, how the
brokers find each other, and how topics are replicated (nothing is started)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from services.core.config import Settings
from truyvet.stack import kafka
from truyvet.stack.processes import StackError
from truyvet.stack.topics import replication_of, topic_configs


def local(tmp_path: Path, **fields: object) -> Settings:
    return Settings(state_dir=tmp_path, kafka_password=SecretStr("pw-for-the-local-brokers"),
                    **fields)


def test_one_broker_keeps_the_single_node_layout_and_replicates_nothing(tmp_path: Path) -> None:
    settings = local(tmp_path)
    (broker,) = kafka.brokers(settings)
    assert (broker.name, broker.address, broker.controller_port) == ("kafka", "127.0.0.1:9092",
                                                                     9093)
    assert broker.properties_file == tmp_path / "kafka" / "server.properties"
    properties = kafka.server_properties(settings)
    assert properties["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert properties["default.replication.factor"] == "1"
    assert properties["min.insync.replicas"] == "1"
    assert kafka.with_cluster(settings) is settings


def test_three_brokers_take_every_other_port_and_form_one_quorum(tmp_path: Path) -> None:
    settings = local(tmp_path, kafka_brokers=3)
    cluster = kafka.brokers(settings)
    assert [(b.name, b.port, b.controller_port) for b in cluster] == [
        ("kafka", 9092, 9093), ("kafka-2", 9094, 9095), ("kafka-3", 9096, 9097)]
    assert len({b.data_dir for b in cluster}) == 3
    assert len({b.log_dir for b in cluster}) == 3
    voters = "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    for broker in cluster:
        properties = kafka.server_properties(settings, broker)
        assert properties["node.id"] == str(broker.node_id)
        assert properties["controller.quorum.voters"] == voters
        assert properties["listeners"] == (
            f"CLIENTS://127.0.0.1:{broker.port},CONTROLLER://127.0.0.1:{broker.controller_port}")
        assert properties["advertised.listeners"] == f"CLIENTS://{broker.address}"
        assert properties["log.dirs"] == str(broker.data_dir)
        # Offsets and the internal topics outlive a broker too.
        assert properties["offsets.topic.replication.factor"] == "3"
        assert properties["transaction.state.log.min.isr"] == "2"
        assert properties["min.insync.replicas"] == "2"
        # Each broker logs in to the others with the one SCRAM user.
        jaas = properties["listener.name.clients.scram-sha-512.sasl.jaas.config"]
        assert 'username="truyvet" password="pw-for-the-local-brokers"' in jaas


def test_services_of_a_cluster_bootstrap_from_every_broker(tmp_path: Path) -> None:
    settings = kafka.with_cluster(local(tmp_path, kafka_brokers=3))
    assert settings.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert settings.as_env()["TRUYVET_KAFKA_BROKERS"] == "3"
    # Idempotent: the listed addresses are the brokers' own.
    assert kafka.with_cluster(settings) == settings
    assert [b.port for b in kafka.brokers(settings)] == [9092, 9094, 9096]


def test_topics_of_a_cluster_need_two_copies_before_an_acknowledgement(tmp_path: Path) -> None:
    assert replication_of(3) == (3, 2)
    settings = local(tmp_path, kafka_brokers=3)
    assert topic_configs("scans", settings)["min.insync.replicas"] == "2"
    assert topic_configs("registry", local(tmp_path))["min.insync.replicas"] == "1"
    with pytest.raises(ValueError, match="at least one broker"):
        replication_of(0)


def test_a_formatted_stack_keeps_its_size(tmp_path: Path) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "brokers").write_text("3\n")
    # Without the setting, `down` and `status` find the three brokers by themselves...
    assert kafka.cluster_size(local(tmp_path)) == 3
    assert len(kafka.brokers(local(tmp_path))) == 3
    # ...and starting it as another size is refused with what to do.
    with pytest.raises(StackError, match=r"formatted for 3 broker\(s\).*asks for 1.*delete"):
        kafka.start(local(tmp_path, kafka_brokers=1))


def test_a_storage_formatted_before_clusters_is_one_broker(tmp_path: Path) -> None:
    (tmp_path / "kafka" / "data").mkdir(parents=True)
    (tmp_path / "kafka" / "data" / "meta.properties").write_text("cluster.id=abc\n")
    assert kafka.formatted_size(local(tmp_path)) == 1
    assert kafka.formatted_size(local(tmp_path / "fresh")) is None


def test_overlapping_ports_are_refused(tmp_path: Path) -> None:
    settings = local(tmp_path, kafka_brokers=3, kafka_bootstrap="127.0.0.1:9092",
                     kafka_controller_port=9094)
    with pytest.raises(StackError, match="ports overlap"):
        kafka.brokers(settings)


def test_a_bootstrap_listing_some_brokers_is_refused(tmp_path: Path) -> None:
    settings = local(tmp_path, kafka_brokers=3,
                     kafka_bootstrap="127.0.0.1:9092,127.0.0.1:9094")
    with pytest.raises(StackError, match="names 2 brokers, but the stack runs 3"):
        kafka.brokers(settings)


def test_one_broker_is_the_first_address_of_a_longer_bootstrap(tmp_path: Path) -> None:
    settings = local(tmp_path, kafka_bootstrap="127.0.0.1:9200,127.0.0.1:9300")
    assert [b.address for b in kafka.brokers(settings)] == ["127.0.0.1:9200"]
