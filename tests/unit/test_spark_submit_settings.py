"""The Spark settings that follow the data's size come from the environment the DAG files
are parsed in (docs/deployment.md, "Sizing"), with defaults for this machine."""

from __future__ import annotations

from mlgate.jobs.submit import driver_memory, spark_conf


def test_driver_memory_and_shuffle_partitions_default_to_the_laptop_sizes(monkeypatch):
    monkeypatch.delenv("MLGATE_DRIVER_MEMORY", raising=False)
    monkeypatch.delenv("MLGATE_SHUFFLE_PARTITIONS", raising=False)
    assert driver_memory() == "4g"
    assert spark_conf()["spark.sql.shuffle.partitions"] == "8"


def test_a_cluster_sets_driver_memory_and_shuffle_partitions_by_environment(monkeypatch):
    monkeypatch.setenv("MLGATE_DRIVER_MEMORY", "12g")
    monkeypatch.setenv("MLGATE_SHUFFLE_PARTITIONS", "64")
    assert driver_memory() == "12g"
    assert spark_conf()["spark.sql.shuffle.partitions"] == "64"
