"""The board's session with the API: DPoP-bound tokens for its OAuth client (the proofs and the
token request are journalloft/client.py's), and its requests.

The client's private key and its tokens live here, in the board's server process; the browser
never sees them. Tokens are bound (RFC 9449) to a key the board makes when it starts, so a
token copied from this process is worth nothing without that key.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from joserfc.jwk import ECKey

from journalloft.client import demo_client_form, dpop_proof

RENEW_SECONDS = 60
"""A token is renewed this long before it expires."""


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class ApiSession:
    """One demo client talking to the API with DPoP-bound tokens."""

    def __init__(self, api_url: str, client: dict[str, Any]) -> None:
        self.api_url = api_url.rstrip("/")
        self.client = client
        self.dpop_key = ECKey.generate_key("P-256", auto_kid=True)
        self.http = httpx.AsyncClient(base_url=self.api_url, timeout=httpx.Timeout(10))
        self._token: str | None = None
        self._expires = 0.0
        self.scopes: set[str] = set()
        self._metadata: dict[str, Any] | None = None

    async def close(self) -> None:
        await self.http.aclose()

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            response = await self.http.get("/.well-known/oauth-authorization-server")
            response.raise_for_status()
            self._metadata = response.json()
        return self._metadata

    def proof(self, method: str, url: str, token: str | None = None) -> str:
        return dpop_proof(self.dpop_key, method=method, url=url, access_token=token)

    async def token(self) -> tuple[str, float]:
        """A DPoP-bound access token and when it expires (renewed ahead of that)."""
        if self._token is None or time.time() > self._expires - RENEW_SECONDS:
            metadata = await self.metadata()
            endpoint = metadata["token_endpoint"]
            form = demo_client_form(self.client, audience=metadata["issuer"], scope=None)
            response = await self.http.post(
                endpoint, data=form, headers={"DPoP": self.proof("POST", endpoint)}
            )
            if response.status_code != 200:
                raise ApiError(response.status_code, response.text[:300])
            answer = response.json()
            self._token = answer["access_token"]
            self._expires = time.time() + float(answer["expires_in"])
            self.scopes = set(answer.get("scope", "").split())
        assert self._token is not None
        return self._token, self._expires

    async def headers(self, method: str, path: str) -> dict[str, str]:
        token, _ = await self.token()
        issuer = (await self.metadata())["issuer"].rstrip("/")
        return {
            "Authorization": f"DPoP {token}",
            "DPoP": self.proof(method, issuer + path, token),
        }

    async def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = await self.headers(method, path)
        return await self.http.request(method, path, json=body, headers=headers)

    @asynccontextmanager
    async def stream(self, path: str, last_event_id: str | None) -> AsyncIterator[httpx.Response]:
        headers = await self.headers("GET", path)
        headers["Accept"] = "text/event-stream"
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        timeout = httpx.Timeout(10, read=60)
        async with self.http.stream("GET", path, headers=headers, timeout=timeout) as response:
            yield response
