"""`getApiQuota` (docs/wechat.md §15): how much of an API's daily quota an app has left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backend.wechat.client import WeChatClient

SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"


@dataclass(frozen=True)
class ApiQuota:
    daily_limit: int
    used: int
    remain: int


class QuotaAPI:
    def __init__(self, client: WeChatClient) -> None:
        self._client = client

    def get(self, cgi_path: str = SUBSCRIBE_SEND) -> ApiQuota:
        """`POST /cgi-bin/openapi/quota/get`: the day's quota of `cgi_path`. The quota API is itself
        limited: callers cache its answer (backend/ops/quota.py)."""
        reply = self._client.call("quota_get", "POST", "/cgi-bin/openapi/quota/get", json={"cgi_path": cgi_path})
        quota = reply.get("quota") or {}
        return ApiQuota(int(quota.get("daily_limit", 0)), int(quota.get("used", 0)), int(quota.get("remain", 0)))
