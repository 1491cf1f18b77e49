"""Both colours read from a real streaming hot standby while the lifecycle runs on the primary."""

import psycopg


def test_a_new_database_reaches_the_standby(pg_standby, conninfo, db):
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE probe (n int)")
        conn.execute("INSERT INTO probe VALUES (7)")
        pg_standby.wait_replayed(conn)
    with psycopg.connect(pg_standby.conninfo(db), autocommit=True) as conn:
        assert conn.execute("SELECT n FROM probe").fetchall() == [(7,)]
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
