"""The one local HTTP server of the tests (fixture ``http_server`` in conftest.py): files on 127.0.0.1.

It serves ``files`` (URL path -> bytes), else the file of that path under ``root`` (a folder the test
fills), with GET and HEAD and single-range requests (``Range: bytes=N-``, answered 206 with
``Content-Range``). Fault injection: ``status`` forces an error code for a path; ``drop_once`` paths
send half the body and close the connection on their first request; ``stall`` paths send half the
body and then hang until the server closes (a process killed meanwhile leaves a half ``.part``).
Every request is logged in ``requests`` as (method, path, Range header or None).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


class LocalServer:
    def __init__(self, root: Path):
        self.root = root.resolve()
        self.files: dict[str, bytes] = {}
        self.status: dict[str, int] = {}
        self.drop_once: set[str] = set()
        self.stall: set[str] = set()
        self.requests: list[tuple[str, str, str | None]] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer(send_body=True)

            def do_HEAD(self):
                self._answer(send_body=False)

            def _answer(self, send_body: bool):
                rng = self.headers.get("Range")
                server.requests.append((self.command, self.path, rng))
                if self.path in server.status:
                    self.send_response(server.status[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.body(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = data[start:]
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not send_body:
                    return
                if self.path in server.drop_once or self.path in server.stall:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if self.path in server.drop_once:
                        server.drop_once.discard(self.path)
                    else:
                        server.release.wait(30)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def body(self, path: str) -> bytes | None:
        if path in self.files:
            return self.files[path]
        local = self.root / unquote(path.split("?")[0]).lstrip("/")
        if self.root in local.resolve().parents and local.is_file():
            return local.read_bytes()
        return None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def gets(self, path: str) -> list[str | None]:
        """The Range header of each GET of ``path`` (None for a request of the whole file)."""
        return [r for c, p, r in self.requests if c == "GET" and p == path]

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
