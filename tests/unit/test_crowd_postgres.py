"""What only PostgreSQL has to show: its schema made by the app, a database of something else
refused, a password never printed, and a server restart survived with nothing acknowledged lost.
(Everything the store promises on both databases is in test_crowd.py, run on each.)"""

import threading

import numpy as np
import psycopg
import pytest

from deploy import local_postgres
from mnist_core.talk import crowd, schema
from tests.unit.test_crowd import FILES, THUMB, add, probs, token


def test_the_app_creates_its_tables_and_replicas_starting_together_create_them_once(postgres_server):
    url = postgres_server()
    stores, failures = [], []
    start = threading.Barrier(4)

    def open_store():
        start.wait()
        try:
            stores.append(crowd.CrowdStore(url))
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == [] and len(stores) == 4
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version FROM room_schema").fetchall() == [(schema.SCHEMA_VERSION,)]
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"room_schema", "talks", "digits", "verdicts", "room_secret"}
    assert len({store.current_talk() for store in stores}) == 1


def test_a_database_of_something_else_or_of_a_newer_app_is_refused_with_the_fix(postgres_server):
    other = postgres_server()
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("CREATE TABLE talks (speaker TEXT)")
    with pytest.raises(crowd.CrowdStoreError, match="MNIST_CROWD_DB"):
        crowd.CrowdStore(other)
    newer = postgres_server()
    crowd.CrowdStore(newer).close()
    with psycopg.connect(newer, autocommit=True) as conn:
        conn.execute("UPDATE room_schema SET version = %s", (schema.SCHEMA_VERSION + 1,))
    with pytest.raises(crowd.CrowdStoreError, match="newer version"):
        crowd.CrowdStore(newer)


def test_no_server_there_says_so_and_names_the_setting_without_the_password():
    port = local_postgres.free_port()
    with pytest.raises(crowd.CrowdStoreError) as refused:
        crowd.CrowdStore(f"postgresql://room:hunter2@127.0.0.1:{port}/talks")
    assert "not answering" in str(refused.value) and "MNIST_CROWD_DB" in str(refused.value)
    assert "hunter2" not in str(refused.value) and "room:***@" in str(refused.value)


def test_a_restart_fails_writes_clearly_while_down_and_loses_nothing_acknowledged():
    server = local_postgres.start_temporary()
    try:
        store = crowd.CrowdStore(server.url)
        talk = store.current_talk()
        acknowledged = [add(store, talk, i) for i in range(5)]
        server.stop()
        with pytest.raises(crowd.CrowdStoreError, match="not stored.*try Send again"):
            add(store, talk, 5)
        with pytest.raises(crowd.CrowdStoreError, match="not answering"):
            store.count(talk)
        server.start()
        acknowledged.append(add(store, talk, 5))  # the same store connects again by itself
        image, verdicts = np.full((28, 28), 6, np.uint8), {"ann": probs(6), "cnn": probs(6)}
        retried = store.add_digit(talk, token(6), 6, image, THUMB, verdicts, FILES, send_id="send-0001")
        again = store.add_digit(talk, token(6), 6, image, THUMB, verdicts, FILES, send_id="send-0001")
        assert again == retried  # a retry after the restart is answered, not counted twice
        with crowd.CrowdStore(server.url) as fresh:
            assert {d.id for d in fresh.latest(talk, limit=100)} == set(acknowledged) | {retried}
    finally:
        server.remove()


def test_a_database_of_an_older_schema_is_migrated_in_place_and_keeps_its_digits(postgres_server, monkeypatch):
    url = postgres_server()
    with crowd.CrowdStore(url) as store:
        talk = store.current_talk()
        kept = [add(store, talk, i) for i in range(3)]
    # The next version of the app: one more column, and the migration that adds it.
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema.POSTGRES_MIGRATIONS, schema.SCHEMA_VERSION - 1, "ALTER TABLE talks ADD COLUMN venue TEXT")
    with crowd.CrowdStore(url) as store:
        assert [d.id for d in store.latest(talk)] == kept[::-1]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version FROM room_schema").fetchall() == [(schema.SCHEMA_VERSION,)]
        assert conn.execute("SELECT venue FROM talks").fetchall() == [(None,)]
