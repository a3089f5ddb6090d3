"""`make bench-scale`'s arithmetic (scripts/bench_scale.py), on synthetic figures: no Spark,
no Airflow. What the benchmark claims in docs/benchmarks.md rests on these."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench_scale  # noqa: E402
from bench_scale import (  # noqa: E402
    AIRFLOW,
    DRIVER,
    PY_WORKERS,
    SPARK_JVM,
    Sample,
    Window,
    attribute_memory,
    growth_exponent,
    overhead,
    process_kind,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
MB = 1024 * 1024


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_growth_exponent_recovers_the_power_of_a_power_law():
    rows = [250_000, 1_000_000, 4_000_000]
    assert growth_exponent([(r, 3e-5 * r) for r in rows]) == pytest.approx(1.0)
    assert growth_exponent([(r, 2e-9 * r**1.5) for r in rows]) == pytest.approx(1.5)
    assert growth_exponent([(r, 40.0) for r in rows]) == pytest.approx(0.0, abs=1e-12)


def test_growth_exponent_is_the_least_squares_slope_not_the_end_points():
    # in log2: (0,0) (1,2) (2,2) (3,3); the end points alone would say 1.0
    points = [(1, 1.0), (2, 4.0), (4, 4.0), (8, 8.0)]
    assert growth_exponent(points) == pytest.approx(0.9)


def test_growth_exponent_needs_two_sizes_and_positive_times():
    assert growth_exponent([(1_000_000, 10.0)]) is None
    assert growth_exponent([(1_000_000, 10.0), (1_000_000, 12.0)]) is None
    assert growth_exponent([(1_000_000, 10.0), (4_000_000, None)]) is None


def test_process_kinds_from_command_lines():
    python = "/w/.venv/bin/python"
    assert (
        process_kind([python, "/w/.venv/bin/airflow", "dags", "test", "fraud_retrain"]) == AIRFLOW
    )
    assert process_kind(["airflow task supervisor: ['airflow', 'tasks']"]) == AIRFLOW
    java = ["/usr/lib/jvm/bin/java", "-cp", "x", "org.apache.spark.deploy.SparkSubmit"]
    assert process_kind([*java, "/w/include/mlgate/jobs/train_job.py"]) == SPARK_JVM
    launcher = ["java", "-Xmx128m", "-cp", "x", "org.apache.spark.launcher.Main"]
    assert process_kind([*launcher, "org.apache.spark.deploy.SparkSubmit", "a.py"]) == "other"
    assert process_kind([python, "/w/include/mlgate/jobs/train_job.py", "--ds", "x"]) == DRIVER
    assert process_kind([python, "-m", "pyspark.daemon"]) == PY_WORKERS
    assert process_kind([python, "/w/.venv/bin/mlgate", "run-day"]) == "other"
    assert process_kind(["bash", "/w/.venv/bin/spark-submit", "--master", "local[*]"]) == "other"


def test_airflow_peak_per_task_is_the_highest_rss_inside_its_window_not_the_cumulative_hwm():
    windows = [Window("check_raw", at(0), at(10)), Window("features", at(10.5), at(30))]
    samples = [
        Sample(at(1), 1, AIRFLOW, rss=300 * MB, hwm=300 * MB),
        Sample(at(5), 1, AIRFLOW, rss=900 * MB, hwm=900 * MB),  # check_raw's big table
        Sample(at(12), 1, AIRFLOW, rss=350 * MB, hwm=900 * MB),  # after: HWM stays 900
        Sample(at(20), 1, AIRFLOW, rss=360 * MB, hwm=900 * MB),
    ]
    peaks = attribute_memory(samples, windows)
    assert peaks["check_raw"][AIRFLOW] == 900 * MB
    assert peaks["features"][AIRFLOW] == 360 * MB


def test_spark_processes_count_for_the_task_they_started_in_with_their_own_hwm():
    windows = [
        Window("features", at(0), at(60)),
        Window("check_features", at(61), at(70)),
        Window("train", at(71), at(200)),
    ]
    samples = [
        Sample(at(2), 10, SPARK_JVM, rss=500 * MB, hwm=500 * MB),
        Sample(at(50), 10, SPARK_JVM, rss=700 * MB, hwm=1200 * MB),
        Sample(at(3), 11, DRIVER, rss=150 * MB, hwm=150 * MB),
        # train's JVM first seen a moment before Airflow records the task's start
        Sample(at(70.5), 20, SPARK_JVM, rss=100 * MB, hwm=100 * MB),
        Sample(at(150), 20, SPARK_JVM, rss=2000 * MB, hwm=2100 * MB),
        Sample(at(150), 21, "other", rss=9000 * MB, hwm=9000 * MB),
    ]
    peaks = attribute_memory(samples, windows)
    assert peaks["features"] == {SPARK_JVM: 1200 * MB, DRIVER: 150 * MB}
    assert peaks["check_features"] == {}
    assert peaks["train"] == {SPARK_JVM: 2100 * MB}


def test_overhead_counts_check_tasks_and_in_job_phases_against_training_without_them():
    # before: evaluate is a task, no job_phases.json
    tasks = {"check_raw": 36, "check_features": 5, "train": 96, "evaluate": 38, "gates": 1}
    before = overhead(tasks, {})
    assert before["ratio"] == pytest.approx(80 / 96, abs=1e-4)
    # after: evaluate and gates run inside train; the GX suites inside features
    tasks = {"check_raw": 2, "check_features": 1, "features": 80, "train": 110, "gates": 1}
    phases = {
        "features": {"raw_suite": 3, "features_suite": 2, "label_stats": 1, "build_features": 70},
        "train": {"fit": 90, "log": 5, "evaluate": 8, "gates": 2},
    }
    after = overhead(tasks, phases)
    assert after["in_job_seconds"] == pytest.approx(16)
    assert after["training_seconds"] == pytest.approx(100)
    assert after["ratio"] == pytest.approx((2 + 1 + 1 + 16) / 100)


def test_overhead_without_a_train_time_has_no_ratio():
    assert overhead({"check_raw": 3}, {})["ratio"] is None


def synthetic_results(folder: Path) -> None:
    def run(pipeline, rows, scale, evaluate=True):
        tasks = {
            "extract": {"seconds": 2e-5 * rows, AIRFLOW: 300 * MB},
            "check_raw": {"seconds": 1e-5 * rows, AIRFLOW: 200 * MB + rows * 100},
            "features": {"seconds": 5e-5 * rows, AIRFLOW: 300 * MB, SPARK_JVM: 900 * MB},
            "train": {"seconds": 8e-5 * rows * scale, SPARK_JVM: 1500 * MB, DRIVER: 120 * MB},
        }
        if evaluate:
            tasks["evaluate"] = {"seconds": 3e-5 * rows, SPARK_JVM: 800 * MB}
        return {
            "pipeline": pipeline,
            "rows": rows,
            "generate_seconds": rows / 50_000,
            "dag_seconds": sum(t["seconds"] for t in tasks.values()),
            "exit_code": 0,
            "tasks": tasks,
            "phases": {},
            "overhead": overhead({k: v["seconds"] for k, v in tasks.items()}, {}),
        }

    header = {"checkout": "wt", "commit": "abc123", "date": "2026-12-03", "cores": 2}
    header |= {"load": 1.0, "spark": "local"}
    before = [run("fraud", r, 1.0) for r in (250_000, 1_000_000, 4_000_000)]
    before.append(run("shop", 200_000, 1.0))
    after = [run("fraud", r, 1.5, evaluate=False) for r in (250_000, 1_000_000, 4_000_000)]
    for label, runs in (("before", before), ("after", after)):
        (folder / f"scale-{label}.json").write_text(
            json.dumps({**header, "label": label, "runs": runs})
        )


def test_docs_section_has_a_table_per_label_ratio_exponent_and_plot(tmp_path):
    synthetic_results(tmp_path)
    markdown = tmp_path / "benchmarks.md"
    markdown.write_text("# Benchmarks\n\n## Feature job\n\nkept as it was\n")
    bench_scale.write_docs(tmp_path, markdown)

    text = markdown.read_text()
    assert "## Feature job\n\nkept as it was\n" in text
    assert text.index("### before") < text.index("### after")
    section = text[text.index("## Scale") :]
    assert "| task | fraud 250k | fraud 1M | fraud 4M | shop 200k |" in section
    # check_raw at 1M: 10 s, Airflow 200 MB + 1e8 bytes = 295 MB; no JVM, no driver
    assert (
        "| check_raw | 2.5 · 224/–/– | 10.0 · 295/–/– | 40.0 · 581/–/– | 2.0 · 219/–/– |" in section
    )
    # before: (check_raw 10 + evaluate 30) / train 80 at 1M
    assert "50% (goal ≤ 20%: NOT met)" in section
    # after at 4M: check_raw 40 / train 480
    assert "8% (goal ≤ 10%: met)" in section
    # every task linear: k = 1.00, also for the DAG; the goal is met
    assert "| DAG | 1.00 (met) | 1.00 |" in section
    # the Airflow process grew with check_raw's rows: not flat
    assert "(goal: flat): 300 MB at 250k rows, 581 MB at 4M (k = 0.24)" in section
    assert "![time against rows per task](scale.png)" in section
    png = tmp_path / "scale.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_new_run_replaces_the_same_size_and_keeps_the_others(tmp_path):
    path = tmp_path / "scale-after.json"
    old = [
        {"pipeline": "fraud", "rows": 1, "x": "old"},
        {"pipeline": "shop", "rows": 1, "x": "old"},
    ]
    path.write_text(json.dumps({"label": "after", "runs": old}))
    merged = bench_scale.merge_results(
        path, {"label": "after"}, [{"pipeline": "fraud", "rows": 1, "x": "new"}]
    )
    assert sorted((r["pipeline"], r["x"]) for r in merged["runs"]) == [
        ("fraud", "new"),
        ("shop", "old"),
    ]


def test_a_process_that_execs_into_the_spark_jvm_is_sampled_as_the_jvm(monkeypatch):
    """spark-class is a bash script that execs java: same pid, new command line."""
    argv = {7: ["bash", "/w/.venv/bin/spark-class", "org.apache.spark.deploy.SparkSubmit"]}
    monkeypatch.setattr(bench_scale, "process_tree", lambda roots: [7])
    monkeypatch.setattr(bench_scale, "read_status", lambda pid: (100 * MB, 100 * MB))
    monkeypatch.setattr(bench_scale, "read_argv", lambda pid: argv[pid])
    sampler = bench_scale.Sampler([7])
    sampler.sample()
    argv[7] = ["/jdk/bin/java", "-cp", "x", "org.apache.spark.deploy.SparkSubmit", "job.py"]
    sampler.sample()
    argv[7] = ["renamed"]  # once known, the kind stays
    sampler.sample()
    assert [s.kind for s in sampler.samples] == ["other", SPARK_JVM, SPARK_JVM]


def test_a_label_with_one_fraud_size_gets_no_growth_table(tmp_path):
    synthetic_results(tmp_path)
    after = json.loads((tmp_path / "scale-after.json").read_text())
    one_size = [r for r in after["runs"] if r["rows"] == 4_000_000]
    cluster = {**after, "label": "cluster", "spark": "cluster", "runs": one_size}
    (tmp_path / "scale-cluster.json").write_text(json.dumps(cluster))
    markdown = tmp_path / "benchmarks.md"
    bench_scale.write_docs(tmp_path, markdown)

    text = markdown.read_text()
    cluster_part = text[text.index("### cluster") :]
    assert "| task | fraud 4M |" in cluster_part
    assert "Growth exponent" not in cluster_part
    assert text[: text.index("### cluster")].count("Growth exponent") == 2  # before, after
