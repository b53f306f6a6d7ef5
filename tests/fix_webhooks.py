"""A CRM's webhook endpoint: a real HTTP server on loopback that records what it is sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


class Receiver(ThreadingHTTPServer):
    """A CRM endpoint: answers 500 to the first `fail_first` requests of each event (after
    recording them, as a receiver that crashed after processing would), then 200."""

    def __init__(self, fail_first: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fail_first = fail_first
        self.requests: list[tuple[dict, bytes, dict[str, str]]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def unique_events(self) -> list[dict]:
        """Events in order of first arrival, each once (deduplicated on the event id)."""
        seen: dict[str, dict] = {}
        with self.lock:
            for body, _, _ in self.requests:
                seen.setdefault(body["id"], body)
        return list(seen.values())


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = orjson.loads(raw)
        with self.server.lock:
            self.server.requests.append((body, raw, dict(self.headers)))
            tries = sum(1 for b, _, _ in self.server.requests if b["id"] == body["id"])
        self.send_response(500 if tries <= self.server.fail_first else 200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def receiving(fail_first: int) -> Iterator[Receiver]:
    receiver = Receiver(fail_first)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()
