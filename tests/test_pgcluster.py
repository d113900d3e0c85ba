"""The throwaway PostgreSQL server the PostgreSQL tests run against."""

from __future__ import annotations

import os
import pwd

import psycopg
import pytest

from odoo_sync_cli.pgcluster import Cluster, start_cluster


def test_server_answers_and_refuses_a_wrong_password(postgres: Cluster) -> None:
    with psycopg.connect(postgres.url()) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None and int(version[0]) >= 130000
        owner = conn.execute("SELECT pg_catalog.current_setting('data_directory')").fetchone()
        assert owner is not None and owner[0] == str(postgres.data)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.url().replace(postgres.password, "not-the-password")).close()


def test_server_never_runs_as_root(postgres: Cluster) -> None:
    stat = postgres.data.stat()
    assert stat.st_uid != 0
    if os.geteuid() == 0:
        assert postgres.account is not None
        assert pwd.getpwnam(postgres.account).pw_uid == stat.st_uid


def test_restart_keeps_data_and_stop_removes_everything() -> None:
    cluster = start_cluster()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (7)")
        cluster.pg_ctl("restart", "-m", "immediate")
        with psycopg.connect(cluster.url()) as conn:
            assert conn.execute("SELECT n FROM kept").fetchall() == [(7,)]
    finally:
        cluster.stop()
    assert not cluster.root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(cluster.url(), connect_timeout=2).close()
