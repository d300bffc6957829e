"""The WeChat server-API client, cut into one module per API area (as wechatpy does).

Nothing here imports the rest of the backend: the token store, the hooks and the
settings are handed in (backend/apps.py builds one client per app).
"""

from backend.wechat.client import WeChatClient
from backend.wechat.errors import WeChatAPIError, WeChatError

__all__ = ["WeChatAPIError", "WeChatClient", "WeChatError"]
