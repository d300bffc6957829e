"""The WeChat server-API client, cut into one module per API area (as wechatpy does)."""

from backend.wechat.client import WeChatClient
from backend.wechat.errors import WeChatAPIError, WeChatError

__all__ = ["WeChatClient", "WeChatAPIError", "WeChatError", "build_client"]


def build_client(config: dict, engine, **hooks) -> WeChatClient:
    """The client for an app's config: tokens in Redis when REDIS_URL is set, else in the database."""
    from backend.wechat.tokens import DatabaseTokenStore, RedisTokenStore

    name = f"{config['WX_TOKEN_API']}:{config['WX_APPID']}"
    if config.get("REDIS_URL"):
        import redis

        store = RedisTokenStore(redis.Redis.from_url(config["REDIS_URL"]), name)
    else:
        store = DatabaseTokenStore(engine, name)
    return WeChatClient(
        config["WX_APPID"],
        config["WX_SECRET"],
        api_base=config["WX_API_BASE"],
        token_store=store,
        token_api=config["WX_TOKEN_API"],
        timeout=(config["WX_CONNECT_TIMEOUT"], config["WX_READ_TIMEOUT"]),
        max_attempts=config.get("WX_MAX_ATTEMPTS", 3),
        backoff=config.get("WX_RETRY_BACKOFF", 0.2),
        **hooks,
    )
