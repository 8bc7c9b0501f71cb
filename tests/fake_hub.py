"""A Hugging Face hub on loopback serving one model folder, for download tests that never leave this machine.

It answers the four requests ``huggingface_hub.snapshot_download`` makes for a public model repo:
the revision's info, its file tree, and a HEAD and a GET per file (no Xet, no LFS pointers).
Every request is counted, so a test can also show that an offline path asked nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


class FakeHub:
    def __init__(self, repo_id: str, folder: Path, sha: str | None = None):
        self.repo_id = repo_id
        self.files = {p.relative_to(folder).as_posix(): p.read_bytes()
                      for p in sorted(Path(folder).rglob("*")) if p.is_file()}
        digest = hashlib.sha1(b"".join(k.encode() + v for k, v in self.files.items())).hexdigest()
        self.sha = sha or digest
        self.requests: list[str] = []

    @property
    def total_bytes(self) -> int:
        return sum(len(v) for v in self.files.values())

    def _answer(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        path = unquote(urlparse(handler.path).path)
        self.requests.append(f"{handler.command} {path}")
        api = f"/api/models/{self.repo_id}/"
        if path.startswith(api + "revision/"):
            body = json.dumps({"id": self.repo_id, "modelId": self.repo_id, "sha": self.sha, "private": False,
                               "siblings": [{"rfilename": f} for f in self.files]}).encode()
            return self._send(handler, 200, body, {"Content-Type": "application/json"}, head)
        if path.startswith(api + "tree/"):
            body = json.dumps([{"type": "file", "path": f, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                               for f, b in self.files.items()]).encode()
            return self._send(handler, 200, body, {"Content-Type": "application/json"}, head)
        prefix = f"/{self.repo_id}/resolve/"
        if path.startswith(prefix):
            _, _, name = path[len(prefix):].partition("/")
            if name in self.files:
                data = self.files[name]
                return self._send(handler, 200, data, {"X-Repo-Commit": self.sha,
                                                       "ETag": f'"{hashlib.sha1(data).hexdigest()}"'}, head)
        self._send(handler, 404, b'{"error": "not found"}', {"X-Error-Code": "RepoNotFound"}, head)

    @staticmethod
    def _send(handler, status: int, body: bytes, headers: dict, head: bool) -> None:
        handler.send_response(status)
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)


@contextmanager
def serve(hub: FakeHub):
    """Yield the endpoint URL (http://127.0.0.1:PORT) while ``hub`` answers on it."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hub._answer(self, head=False)

        def do_HEAD(self):
            hub._answer(self, head=True)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> str:
    """An endpoint on loopback where nothing listens (a machine without network, answered at once)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
