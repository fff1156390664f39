"""A local stand-in for the Hub's read API (repo info, tree listing, file resolve with ranges), so
``HfFileSystem`` itself can be pointed at it: what ``hf://datasets/...`` sources really go through."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


class FakeHub:
    """Serves ``files`` (path → bytes) of one dataset repo on 127.0.0.1; counts bytes served per path."""

    def __init__(self, repo_id: str, files: dict[str, bytes]) -> None:
        self.repo_id, self.files = repo_id, files
        self.served: Counter = Counter()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, body: bytes, ctype: str = "application/json", extra=None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                path = unquote(urlparse(self.path).path)
                repo = re.escape(hub.repo_id)
                if re.fullmatch(rf"/api/datasets/{repo}(/revision/[^/]+)?", path):
                    return self._send(200, json.dumps({"id": hub.repo_id, "sha": "0" * 40}).encode())
                if m := re.fullmatch(rf"/api/datasets/{repo}/tree/[^/]+/?(?P<sub>.*)", path):
                    return self._send(200, json.dumps(hub.tree(m["sub"].strip("/"))).encode())
                if m := re.fullmatch(rf"/datasets/{repo}/resolve/[^/]+/(?P<file>.+)", path):
                    data = hub.files.get(m["file"])
                    if data is None:
                        return self._send(404, b"{}", extra={"X-Error-Code": "EntryNotFound"})
                    headers = {"ETag": f'"{hashlib.sha1(data).hexdigest()}"', "X-Repo-Commit": "0" * 40}
                    if rng := self.headers.get("Range"):
                        start, end = (int(x or 0) for x in rng.removeprefix("bytes=").split("-"))
                        part = data[start : end + 1]
                        hub.served[m["file"]] += len(part) if self.command == "GET" else 0
                        headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{len(data)}"
                        return self._send(206, part, "application/octet-stream", headers)
                    hub.served[m["file"]] += len(data) if self.command == "GET" else 0
                    return self._send(200, data, "application/octet-stream", headers)
                return self._send(404, b"{}", extra={"X-Error-Code": "RepoNotFound"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def tree(self, sub: str) -> list[dict]:
        """Recursive listing under ``sub``: folders and files, as the Hub's tree endpoint returns them."""
        prefix = f"{sub}/" if sub else ""
        folders, out = set(), []
        for path, data in sorted(self.files.items()):
            if not path.startswith(prefix):
                continue
            parts = path.split("/")
            for i in range(len(prefix.split("/")) if prefix else 1, len(parts)):
                folders.add("/".join(parts[:i]))
            out.append(
                {"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
            )
        return [{"type": "directory", "path": f, "oid": "0" * 40} for f in sorted(folders)] + out

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
