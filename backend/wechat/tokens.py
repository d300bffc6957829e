"""The access-token store shared by every process and machine, and the refresh protocol over it.

WeChat invalidates tokens when another holder fetches a new one (classic `cgi-bin/token`)
and limits how often they may be fetched, so every process must use one shared token:
- the store is given to the client (a `TokenStore`): the backend passes rows of its database
  (backend/infra/token_storage.py), or Redis when `REDIS_URL` is set (the database again while Redis
  is down: a process then reads and refreshes the token there, and WeChat's 40001 for a token
  the other store still holds is the compare-then-expire below);
- every app has its own store entry, its own `TokenManager` and so its own lock: one app's
  refresh or failure never touches another's (docs/wechat.md §12);
- where a token comes from is a `TokenSource`: `cgi-bin/stable_token` or `cgi-bin/token` today;
  a third-party platform's `authorizer_access_token` would be one more source;
- one refresher at a time holds a short *lease*; the others keep using the old token
  while it is still valid, or wait for the new one;
- a token WeChat refused is dropped only if it is still the stored one
  (compare-then-expire), so N processes that all saw the same 40001 cause one refresh.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from backend.wechat.errors import WeChatUnreachable


@dataclass(frozen=True)
class CachedToken:
    token: str
    expires_at: float  # Unix time


class TokenStore(Protocol):
    """Where the shared token lives; every method is one short atomic step."""

    def read(self) -> CachedToken | None: ...

    def try_lease(self, owner: str, seconds: float) -> bool: ...

    def save(self, owner: str, token: CachedToken) -> None: ...

    def release(self, owner: str) -> None: ...

    def expire_if(self, token: str) -> bool: ...


# Delete the key only while it still holds the caller's value: the atomic half of
# compare-then-expire and of releasing a lease that may have passed to someone else.
_DELETE_IF_EQUAL = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_SAVE_IF_LEASED = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'expires_at', ARGV[3])
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(ARGV[3])))
redis.call('DEL', KEYS[2])
return 1
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class RedisTokenStore:
    """The token in a Redis hash; the lease is a `SET NX PX` key."""

    def __init__(self, redis_client, name: str) -> None:  # redis.Redis
        self.redis = redis_client
        self.key = f"wxsub:access_token:{name}"
        self.lease_key = f"{self.key}:lease"
        self._delete_if_equal = redis_client.register_script(_DELETE_IF_EQUAL)
        self._save_if_leased = redis_client.register_script(_SAVE_IF_LEASED)
        self._release = redis_client.register_script(_RELEASE)

    def read(self) -> CachedToken | None:
        values = self.redis.hgetall(self.key)
        token = values.get(b"token")
        if not token:
            return None
        return CachedToken(token.decode(), float(values.get(b"expires_at", b"0")))

    def try_lease(self, owner: str, seconds: float) -> bool:
        return bool(self.redis.set(self.lease_key, owner, nx=True, px=int(seconds * 1000)))

    def save(self, owner: str, token: CachedToken) -> None:
        self._save_if_leased(keys=[self.key, self.lease_key], args=[owner, token.token, repr(token.expires_at)])

    def release(self, owner: str) -> None:
        self._release(keys=[self.lease_key], args=[owner])

    def expire_if(self, token: str) -> bool:
        return bool(self._delete_if_equal(keys=[self.key], args=["token", token]))


# The client's raw request without a token: (api, method, path, params=, json=) -> the JSON reply.
Request = Callable[..., dict[str, Any]]


class TokenSource(Protocol):
    """Where one app's access token comes from: `fetch(request)` returns `(token, expires_in)`.

    `api` names the source in logs and metrics. A third-party platform's
    `authorizer_access_token` (docs/wechat.md §12) would be another source, holding the
    component token and the authorizer's refresh token; nothing above the client changes.
    """

    api: str

    def fetch(self, request: Request) -> tuple[str, int]: ...


class StableTokenSource:
    """`POST /cgi-bin/stable_token` (docs/wechat.md §2b): leaves other holders' tokens valid."""

    api = "stable"

    def __init__(self, appid: str, secret: str) -> None:
        self.appid, self._secret = appid, secret

    def fetch(self, request: Request) -> tuple[str, int]:
        body = {"grant_type": "client_credential", "appid": self.appid, "secret": self._secret, "force_refresh": False}
        reply = request("stable_token", "POST", "/cgi-bin/stable_token", json=body)
        return reply["access_token"], int(reply["expires_in"])


class ClassicTokenSource:
    """`GET /cgi-bin/token` (docs/wechat.md §2a): each fetch invalidates the previous token."""

    api = "classic"

    def __init__(self, appid: str, secret: str) -> None:
        self.appid, self._secret = appid, secret

    def fetch(self, request: Request) -> tuple[str, int]:
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self._secret}
        reply = request("token", "GET", "/cgi-bin/token", params=params)
        return reply["access_token"], int(reply["expires_in"])


TOKEN_SOURCES: dict[str, type[StableTokenSource] | type[ClassicTokenSource]] = {
    "stable": StableTokenSource,
    "classic": ClassicTokenSource,
}


Fetch = Callable[[], tuple[str, int]]


class TokenManager:
    """Hands out a valid access token, refreshing it through `fetch` at most once at a time.

    `fetch()` returns `(token, expires_in)`; `expires_in` is the token's *remaining*
    lifetime (stable_token renews in the last 5 minutes and says how long is left), so the
    expiry is counted from the moment the fetch started.
    """

    def __init__(
        self,
        store: TokenStore,
        fetch: Fetch,
        *,
        refresh_margin: float = 120.0,
        lease_seconds: float = 15.0,
        wait_seconds: float = 20.0,
        poll_seconds: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.fetch = fetch
        self.refresh_margin = refresh_margin
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.fetches = 0  # tokens this process fetched from WeChat
        self._memo: CachedToken | None = None
        self._lock = threading.Lock()

    def _fresh(self, cached: CachedToken | None) -> bool:
        return cached is not None and cached.expires_at - self.clock() > self.refresh_margin

    def get(self) -> str:
        """A token that is not about to expire, fetched by this process only if no one else is."""
        memo = self._memo
        if self._fresh(memo):
            return memo.token
        with self._lock:  # threads of one process queue here instead of polling the store
            return self._get_shared()

    def _get_shared(self) -> str:
        deadline = self.clock() + self.wait_seconds
        while True:
            cached = self.store.read()
            if self._fresh(cached):
                self._memo = cached
                return cached.token
            owner = uuid.uuid4().hex
            if self.store.try_lease(owner, self.lease_seconds):
                try:
                    return self._refresh(owner)
                finally:
                    self.store.release(owner)
            # Someone else is refreshing: a token that has not expired yet is still good.
            if cached is not None and cached.expires_at > self.clock():
                return cached.token
            if self.clock() > deadline:
                raise WeChatUnreachable("timed out waiting for another process to refresh the access token")
            time.sleep(self.poll_seconds)

    def _refresh(self, owner: str) -> str:
        cached = self.store.read()  # it may have been refreshed between our read and our lease
        if self._fresh(cached):
            self._memo = cached
            return cached.token
        return self._fetch_and_save(owner)

    def refresh(self) -> str:
        """Fetch a token from WeChat now, even while the store holds a fresh one, and share it.

        This proves that this machine can obtain a token (AppSecret, IP whitelist: `wx doctor`).
        stable_token hands back the same token; a classic fetch replaces the shared one for
        every process, and WeChat keeps the old one valid for 5 minutes (docs/wechat.md §2).
        """
        with self._lock:
            deadline = self.clock() + self.wait_seconds
            owner = uuid.uuid4().hex
            while not self.store.try_lease(owner, self.lease_seconds):
                if self.clock() > deadline:
                    raise WeChatUnreachable("timed out waiting for another process to refresh the access token")
                time.sleep(self.poll_seconds)
            try:
                return self._fetch_and_save(owner)
            finally:
                self.store.release(owner)

    def _fetch_and_save(self, owner: str) -> str:
        started = self.clock()
        token, expires_in = self.fetch()
        self.fetches += 1
        fresh = CachedToken(token, started + expires_in)
        self.store.save(owner, fresh)
        self._memo = fresh
        return token

    def adopt(self, token: str, expires_in: int) -> None:
        """Share a token that came another way (a platform's `api_query_auth` hands one with the
        authorization): saved under the lease like a fetched one, so no one fetches another."""
        with self._lock:
            owner = uuid.uuid4().hex
            if not self.store.try_lease(owner, self.lease_seconds):
                return  # someone is refreshing already: theirs will do
            try:
                fresh = CachedToken(token, self.clock() + expires_in)
                self.store.save(owner, fresh)
                self._memo = fresh
            finally:
                self.store.release(owner)

    def invalidate(self, token: str) -> None:
        """WeChat refused `token`: drop it, but only if it is still the current one."""
        with self._lock:
            if self._memo is not None and self._memo.token == token:
                self._memo = None
            self.store.expire_if(token)
