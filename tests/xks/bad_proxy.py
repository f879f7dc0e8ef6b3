"""A misbehaving XKS proxy, run as a process of its own by the tests: a real HTTP server
(``http.server``) on 127.0.0.1 whose answers are wrong on purpose, to provoke the failure
mappings of Trent's external key store client.

``python -m tests.xks.bad_proxy PORT MODES_FILE``. The first segment of the request path is a
name looked up in the JSON object ``MODES_FILE`` holds (read on every request, so that a test
changes the behaviour of a store it already made); the mode says how to answer:

- ``garbage``: every call answers 200 with a body that is not an XKS answer (not JSON for
  the key calls, a JSON object without the spec's members for GetHealthStatus);
- ``healthy``: GetHealthStatus and GetKeyMetadata answer as the spec says (an enabled AES_256
  key), Encrypt and Decrypt answer 200 with a JSON object lacking the spec's members;
- ``crypto-hang``: as ``healthy``, but Encrypt and Decrypt never answer;
- ``hang``: no call is ever answered (the connection stays open, silent).

It checks no signature: it stands for a broken proxy, not for Trent's.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HEALTH = {
    "xksProxyFleetSize": 1,
    "xksProxyVendor": "tests",
    "xksProxyModel": "bad proxy",
    "ekmVendor": "tests",
    "ekmFleetDetails": [{"id": "ekm-1", "model": "tests", "healthStatus": "ACTIVE"}],
}
METADATA = {"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"}
FOREVER = threading.Event()  # never set: a hanging request waits on it


class Handler(BaseHTTPRequestHandler):
    modes_file: Path

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        name = self.path.strip("/").split("/")[0]
        mode = json.loads(self.modes_file.read_text()).get(name, "garbage")
        call = self.path.rstrip("/").rsplit("/", 1)[-1]  # health, metadata, encrypt, decrypt
        crypto = call in ("encrypt", "decrypt")
        if mode == "hang" or (mode == "crypto-hang" and crypto):
            FOREVER.wait(600)
            return
        if mode == "garbage":
            body = b'{"hello": "not an XKS answer"}' if call == "health" else b"<html>no</html>"
        elif call == "health":
            body = json.dumps(HEALTH).encode()
        elif call == "metadata":
            body = json.dumps(METADATA).encode()
        else:
            body = b'{"ciphertext": 12}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    port, modes_file = int(sys.argv[1]), Path(sys.argv[2])
    Handler.modes_file = modes_file
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
