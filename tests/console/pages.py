"""A plain HTTP client for the console (urllib3): sign in, read forms' CSRF tokens, post."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import urllib3

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class ConsoleClient:
    endpoint: str
    ca_certs: str | None = None
    cookie: str = ""
    http: urllib3.PoolManager = field(init=False)

    def __post_init__(self) -> None:
        options: dict[str, Any] = {"ca_certs": self.ca_certs} if self.ca_certs else {}
        self.http = urllib3.PoolManager(**options)

    def request(
        self, method: str, path: str, fields: dict[str, str] | None = None
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if method == "GET":
            return self.http.request(method, self.endpoint + path, headers=headers, redirect=False)
        return self.http.request(
            method,
            self.endpoint + path,
            fields=fields or {},
            encode_multipart=False,
            headers=headers,
            redirect=False,
        )

    def sign_in(self, access_key_id: str, secret: str, token: str = "") -> urllib3.BaseHTTPResponse:
        fields = {"access_key_id": access_key_id, "secret_access_key": secret}
        if token:
            fields["session_token"] = token
        reply = self.request("POST", "/console/signin", fields)
        if reply.status == 303:
            self.cookie = reply.headers["set-cookie"].split(";", 1)[0]
        return reply

    def csrf(self, path: str = "/console/keys") -> str:
        page = self.request("GET", path)
        assert page.status == 200, page.data
        match = CSRF.search(page.data.decode())
        assert match is not None
        return match.group(1)

    def post(self, path: str, fields: dict[str, str]) -> urllib3.BaseHTTPResponse:
        return self.request("POST", path, fields)
