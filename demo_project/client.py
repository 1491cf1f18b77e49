"""The one way the demo talks to a release's server: a JSON request on loopback.

A fresh connection per request (``Connection: close``): a kept-alive connection that the
server closed while idle would fail the next request and count as an error the rollout
never caused.
"""

from __future__ import annotations

import http.client
import json
from typing import Any, NamedTuple


class Address(NamedTuple):
    host: str
    port: int


class RequestFailed(Exception):
    """No response (``status`` None), or not the status the caller expected."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def call(
    address: Address,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    expect: int = 200,
    timeout: float = 10.0,
) -> Any:
    """Send one request and return the decoded JSON response."""
    connection = http.client.HTTPConnection(address.host, address.port, timeout=timeout)
    try:
        connection.request(
            method,
            path,
            body=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json", "Connection": "close"},
        )
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise RequestFailed(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
    if response.status != expect:
        text = data.decode(errors="replace").strip().replace("\n", " ")
        raise RequestFailed(
            f"{method} {path}: HTTP {response.status}: {text[:300]}", response.status
        )
    try:
        return json.loads(data)
    except ValueError as exc:
        raise RequestFailed(
            f"{method} {path}: response is not JSON: {exc}", response.status
        ) from exc
