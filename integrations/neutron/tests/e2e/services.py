"""The machine's MariaDB and RabbitMQ, borrowed for one test session: a database and a message-bus vhost of
the session's own, dropped afterwards, so that runs never see each other's rows or RPC messages."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass

import pymysql

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
RABBIT = "127.0.0.1:5672"
RABBIT_USER = "guest"


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@dataclass
class Database:
    """A fresh MariaDB database (utf8mb4, as neutron's install guide creates it)."""

    name: str

    @property
    def url(self) -> str:
        return f"mysql+pymysql://{MARIADB['user']}@{MARIADB['host']}:{MARIADB['port']}/{self.name}"

    @classmethod
    def create(cls, prefix: str = "podswitch_e2e") -> Database:
        db = cls(unique(prefix))
        db._execute(f"CREATE DATABASE `{db.name}` CHARACTER SET utf8mb4")
        return db

    def drop(self) -> None:
        self._execute(f"DROP DATABASE IF EXISTS `{self.name}`")

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        conn = pymysql.connect(**MARIADB, database=self.name, autocommit=True)  # type: ignore[arg-type]
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def _execute(self, sql: str) -> None:
        conn = pymysql.connect(**MARIADB, autocommit=True)  # type: ignore[arg-type]
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()


@dataclass
class MessageBus:
    """Where this session's RPC goes: a vhost of its own when rabbitmqctl can make one (root on the broker's
    machine), else the shared vhost `/` with an exchange of its own (oslo.messaging's control_exchange), which
    keeps the topics apart too."""

    vhost: str | None
    exchange: str

    @property
    def transport_url(self) -> str:
        path = self.vhost if self.vhost is not None else ""
        return f"rabbit://{RABBIT_USER}:{RABBIT_USER}@{RABBIT}/{path}"

    @classmethod
    def create(cls) -> MessageBus:
        exchange = unique("neutron")
        vhost = unique("podswitch-e2e")
        ctl = shutil.which("rabbitmqctl")
        if ctl is None or os.geteuid() != 0:
            return cls(None, exchange)
        made = subprocess.run([ctl, "add_vhost", vhost], capture_output=True, text=True, timeout=60)
        if made.returncode != 0:
            return cls(None, exchange)
        subprocess.run(
            [ctl, "set_permissions", "-p", vhost, RABBIT_USER, ".*", ".*", ".*"],
            capture_output=True,
            check=True,
            timeout=60,
        )
        return cls(vhost, exchange)

    def drop(self) -> None:
        ctl = shutil.which("rabbitmqctl")
        if self.vhost is not None and ctl is not None:
            subprocess.run([ctl, "delete_vhost", self.vhost], capture_output=True, timeout=60)
