"""`mlgate online bootstrap` and `status` on a simulated fraud lake, into a file and into
Redis; `mlgate serve --online` refuses a state that is missing, held or of another spec."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mlgate.cli import main
from mlgate.cli.serve import open_online
from mlgate.config import load_pipeline
from mlgate.online.bootstrap import SPEC_META
from mlgate.online.store import EmbeddedStore, decode_history
from mlgate.paths import online_state_path
from support.fraud_lake import write_fraud_lake

CFG = load_pipeline("fraud")
RUN = date(2026, 10, 31)


@pytest.fixture
def lake(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("MLGATE_ONLINE_STATE", raising=False)
    return write_fraud_lake(CFG, RUN, days=10, events=2_000)


def newest_event(store: EmbeddedStore) -> int:
    """The epoch of the newest event in any of the store's histories."""
    rows = store.db.execute("SELECT data FROM history").fetchall()
    return max(past.epoch for (data,) in rows for past in decode_history(data))


def test_bootstrap_defaults_to_the_end_of_the_newest_accepted_day(lake, capsys):
    assert main(["online", "bootstrap", "--pipeline", "fraud"]) == 0
    end = datetime.combine(max(lake) + timedelta(days=1), datetime.min.time())
    assert f"as of {end.isoformat()}" in capsys.readouterr().out
    store = EmbeddedStore(online_state_path("fraud"))
    sizes, meta = store.sizes(), store.meta()
    store.close()
    assert meta["as_of"] == end.isoformat()
    assert sizes["history"] > 100 and sizes["dimension"] > 100
    assert main(["online", "status", "--pipeline", "fraud"]) == 0
    status = capsys.readouterr().out
    assert f"entities         {sizes['history']:,} with a history" in status
    assert "feature spec     current" in status and "bytes per entity" in status


def test_bootstrap_as_of_a_moment_and_again_replaces_the_state_whole(lake, capsys):
    assert main(["online", "bootstrap", "--pipeline", "fraud", "--as-of", "2026-10-27"]) == 0
    early = EmbeddedStore(online_state_path("fraud"))
    early_newest, early_meta = newest_event(early), early.meta()
    early.close()
    assert early_meta["as_of"] == "2026-10-27T00:00:00"
    assert early_newest < datetime(2026, 10, 27, tzinfo=UTC).timestamp()
    assert main(["online", "bootstrap", "--pipeline", "fraud", "--as-of", "2026-10-30T12:00Z"]) == 0
    later = EmbeddedStore(online_state_path("fraud"))
    assert later.meta()["as_of"] == "2026-10-30T12:00:00"
    newest = newest_event(later)  # events of the days between are in the histories now
    assert datetime(2026, 10, 29, tzinfo=UTC).timestamp() <= newest
    assert newest < datetime(2026, 10, 30, 12, tzinfo=UTC).timestamp()
    later.close()
    leftovers = [p.name for p in online_state_path("fraud").parent.iterdir()]
    assert sorted(leftovers) == ["state.db", "state.db.lock"]  # no temporary file or log


def test_a_state_held_by_a_service_is_not_replaced(lake, capsys):
    assert main(["online", "bootstrap", "--pipeline", "fraud", "--as-of", "2026-10-27"]) == 0
    held = EmbeddedStore(online_state_path("fraud"))
    code = main(["online", "bootstrap", "--pipeline", "fraud", "--as-of", "2026-10-30"])
    assert code == 2 and "in use by another process" in capsys.readouterr().err
    assert held.meta()["as_of"] == "2026-10-27T00:00:00"  # the old state, untouched
    assert open_online(CFG, "") is None  # a second service cannot take it either
    assert "in use by another process" in capsys.readouterr().err
    held.close()


def test_serve_refuses_a_missing_or_outdated_state(lake, capsys, tmp_path):
    assert open_online(CFG, str(tmp_path / "none.db")) is None
    assert "mlgate online bootstrap --pipeline fraud" in capsys.readouterr().err
    assert main(["online", "bootstrap", "--pipeline", "fraud"]) == 0
    store = EmbeddedStore(online_state_path("fraud"))
    store.load(meta={SPEC_META: "another-spec"})
    store.close()
    assert open_online(CFG, "") is None
    assert "built for another feature spec" in capsys.readouterr().err
    assert main(["online", "status", "--pipeline", "fraud"]) == 1
    assert "OUTDATED" in capsys.readouterr().out


def test_a_redis_state_holds_what_the_file_holds(lake, capsys, redis_server, monkeypatch):
    as_of = ["--as-of", "2026-10-30"]
    assert main(["online", "bootstrap", "--pipeline", "fraud", *as_of]) == 0
    monkeypatch.setenv("MLGATE_ONLINE_STATE", redis_server.url)  # the password off argv
    assert main(["online", "bootstrap", "--pipeline", "fraud", *as_of]) == 0
    out = capsys.readouterr().out
    assert redis_server.password not in out and "redis://***@127.0.0.1" in out
    file_store = EmbeddedStore(online_state_path("fraud"))
    scoring = open_online(CFG, "")
    assert scoring is not None
    redis_store = scoring.state.store
    assert redis_store.sizes() == file_store.sizes()
    assert redis_store.meta() == file_store.meta()
    wanted = [("card", key) for key in range(1, 400)]
    assert redis_store.histories(wanted) == file_store.histories(wanted)
    file_store.close()
    redis_store.close()
    assert main(["online", "status", "--pipeline", "fraud"]) == 0
    assert "Redis memory" in capsys.readouterr().out
