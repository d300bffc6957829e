"""The WeChat server-API client, cut into one module per API area (as wechatpy does)."""

from backend.wechat.client import WeChatClient
from backend.wechat.errors import WeChatAPIError, WeChatError

__all__ = ["WeChatClient", "WeChatAPIError", "WeChatError", "build_client"]


def build_client(config: dict, engine, redis_link=None, **hooks) -> WeChatClient:
    """The client for an app's config: tokens in the database, or in Redis given a link to it.

    `redis_link` (a `client` and `with_fallback(primary, fallback, use)`) serves the token from
    Redis while it answers and from the database while it doesn't.
    """
    from backend.wechat.tokens import DatabaseTokenStore, RedisTokenStore

    name = f"{config['WX_TOKEN_API']}:{config['WX_APPID']}"
    store = DatabaseTokenStore(engine, name)
    if redis_link is not None:
        store = redis_link.with_fallback(RedisTokenStore(redis_link.client, name), store, "access_token")
    return WeChatClient(
        config["WX_APPID"],
        config["WX_SECRET"],
        api_base=config["WX_API_BASE"],
        token_store=store,
        token_api=config["WX_TOKEN_API"],
        timeout=(config["WX_CONNECT_TIMEOUT"], config["WX_READ_TIMEOUT"]),
        max_attempts=config["WX_MAX_ATTEMPTS"],
        backoff=config["WX_RETRY_BACKOFF"],
        **hooks,
    )
