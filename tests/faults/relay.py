"""A TCP relay between the server and PostgreSQL that the tests control, like a bad network."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Pair:
    client: socket.socket
    server: socket.socket
    writing: bool = False  # this session is writing events (it notified their channel)
    lose_answer: bool = False  # the answer to the COMMIT just sent is to be lost
    closed: bool = field(default=False)

    def close(self) -> None:
        self.closed = True
        for s in (self.client, self.server):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                s.close()


class Relay:
    """Relays connections to `upstream`; can cut them, refuse new ones, or go silent.

    - `cut()` closes every open connection (each side sees it closed);
    - `down()` cuts and refuses new connections until `up()`;
    - `partition()` stops relaying in both directions while connections stay open (a silent
      network: nothing is refused, nothing answers) until `heal()`;
    - `lose_commit_answers(n)`: the next n event-writing transactions reach PostgreSQL and
      commit, and the connection is cut before the answer reaches the server.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: set[_Pair] = set()
        self._refusing = False
        self._flowing = threading.Event()
        self._flowing.set()
        self._commit_losses = 0
        self.answers_lost = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database_url: str) -> str:
        """The same database URL, reaching it through the relay."""
        host, port = self.upstream
        return database_url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}", 1)

    def cut(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            pair.close()

    def down(self) -> None:
        self._refusing = True
        self.cut()

    def up(self) -> None:
        self._refusing = False

    def partition(self) -> None:
        self._flowing.clear()

    def heal(self) -> None:
        self._flowing.set()

    def lose_commit_answers(self, count: int) -> None:
        with self._lock:
            self._commit_losses += count

    def close(self) -> None:
        self.heal()
        with suppress(OSError):
            self.listener.close()
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._refusing:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            pair = _Pair(client, server)
            with self._lock:
                self._pairs.add(pair)
            threading.Thread(target=self._to_server, args=(pair,), daemon=True).start()
            threading.Thread(target=self._to_client, args=(pair,), daemon=True).start()

    def _to_server(self, pair: _Pair) -> None:
        with suppress(OSError):
            while data := pair.client.recv(65536):
                self._flowing.wait()
                if b'NOTIFY "ledger_events"' in data:
                    pair.writing = True
                if pair.writing and b"COMMIT" in data:
                    pair.writing = False
                    with self._lock:
                        if self._commit_losses > 0:
                            self._commit_losses -= 1
                            pair.lose_answer = True
                pair.server.sendall(data)
        pair.close()

    def _to_client(self, pair: _Pair) -> None:
        with suppress(OSError):
            while data := pair.server.recv(65536):
                self._flowing.wait()
                if pair.lose_answer:
                    # PostgreSQL committed and answered: the answer is lost on the way.
                    self.answers_lost += 1
                    break
                pair.client.sendall(data)
        pair.close()
