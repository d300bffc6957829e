"""Every setting of the backend, once: its name, type, default and what it is for, in English and Chinese.

`backend/config.py` reads the environment through this table; the Configure tables of the
READMEs and `.env.example` are generated from it (`python -m scripts.settings_table`), and a
test keeps them in step. A new setting is one more `Setting(...)` in `SETTINGS`.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.wechat.crypto import PushCipher, PushCryptoError

# Dev mode: the backend talks to the bundled emulator (wxemu) under the emulator's own fixed
# identity. The emulator keeps these values itself; tests/wxemu checks that the two agree.
DEV_APPID = "wxd0000000000e0001"
DEV_SECRET = "dev-emulator-secret-not-for-production"  # noqa: S105 - public on purpose
EMULATOR_PORT = 8090
DEV_EMULATOR_URL = f"http://127.0.0.1:{EMULATOR_PORT}"
MINIPROGRAM_STATES = ("developer", "trial", "formal")
TOKEN_APIS = ("stable", "classic")
SECRET_KEY_MIN_LENGTH = 32

# Headings of `.env.example`, in order: (English, Chinese).
GROUPS: dict[str, tuple[str, str]] = {
    "wechat": ("The mini program", "小程序"),
    "push": ("Message push", "消息推送"),
    "storage": ("Database and Redis", "数据库与 Redis"),
    "access": ("Who may call the backend", "谁可以调用后端"),
    "calls": ("Calls to WeChat", "调用微信接口"),
    "delivery": ("Delivery and workers", "投递与 worker"),
    "webhooks": ("Webhooks to business code", "发给业务系统的 Webhook"),
    "platform": ("Third-party platform", "第三方平台"),
    "privacy": ("Personal data", "个人信息"),
}


def _text(raw: str) -> str:
    return raw


def _whole_number(raw: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", raw):
        raise ValueError("must be a whole number")
    return int(raw)


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _comma_separated(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


_FLAG_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _flag(raw: str) -> bool:
    try:
        return _FLAG_WORDS[raw.lower()]
    except KeyError:
        raise ValueError("must be on or off (1, true, yes / 0, false, no)") from None


KINDS: dict[str, Callable[[str], Any]] = {
    "text": _text,
    "flag": _flag,
    "int": _whole_number,
    "float": _number,
    "list": _comma_separated,
}


@dataclass(frozen=True)
class Setting:
    """One environment variable.

    `default` is the value when the variable is unset or empty (None: unset), `dev_default`
    the one in dev mode where it differs (the emulator's identity and URL). `unset_en` /
    `unset_zh` describe what happens when it is unset, where the bare default would not say
    it (dev mode, a computed path). A `secret` value is never echoed: not in an error, not by
    `wx doctor`, not in a log line.
    """

    name: str
    group: str
    en: str
    zh: str
    kind: str = "text"
    default: Any = None
    secret: bool = False
    choices: tuple[str, ...] = ()
    positive: bool = False  # numbers: more than 0 (else 0 or more)
    schemes: tuple[str, ...] = ()  # URLs: the schemes accepted
    dev_default: Any = None  # the default in dev mode, when it differs
    unset_en: str = ""
    unset_zh: str = ""
    example: str = ""  # shown, commented out, in .env.example

    def parse(self, raw: str) -> Any:
        """The typed value of `raw` (not empty), or ValueError saying what is wrong, without the value if secret."""
        value = KINDS[self.kind](raw)
        if self.choices and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}")
        if self.kind in ("int", "float"):
            if self.positive and value <= 0:
                raise ValueError("must be more than 0")
            if value < 0:
                raise ValueError("must be 0 or more")
        if self.schemes and not raw.startswith(tuple(f"{scheme}://" for scheme in self.schemes)):
            raise ValueError(f"must be a URL starting with {' or '.join(f'{s}://' for s in self.schemes)}")
        return value

    def default_text(self, lang: str) -> str:
        """The README's "default" column."""
        unset = self.unset_zh if lang == "zh-CN" else self.unset_en
        if unset:
            return unset
        if self.default is None or self.default == []:
            return "无" if lang == "zh-CN" else "none"
        return f"`{self.default:g}`" if isinstance(self.default, float) else f"`{self.default}`"


SETTINGS: tuple[Setting, ...] = (
    # -- the mini program -------------------------------------------------------------------
    Setting(
        "WX_APPID",
        "wechat",
        "The mini program's AppID (mp.weixin.qq.com → 开发 → 开发管理 → 开发设置); set it together with "
        "`WX_SECRET`, or neither.",
        "小程序的 AppID（mp.weixin.qq.com → 开发 → 开发管理 → 开发设置）；与 `WX_SECRET` 一起设置，或都不设置。",
        dev_default=DEV_APPID,
        unset_en="none: dev mode, against the bundled WeChat emulator",
        unset_zh="无：开发模式，连接自带的微信模拟器",
    ),
    Setting(
        "WX_SECRET",
        "wechat",
        "The mini program's AppSecret; set it together with `WX_APPID`.",
        "小程序的 AppSecret；与 `WX_APPID` 一起设置。",
        secret=True,
        dev_default=DEV_SECRET,
        unset_en="none: dev mode",
        unset_zh="无：开发模式",
    ),
    Setting(
        "WX_APPS_FILE",
        "wechat",
        "A TOML file listing several mini programs (`[[app]]` with `appid`, `secret`, `name`, `token`, "
        "`encoding_aes_key`, `miniprogram_state`, `api_keys`, `webhook_url`, `webhook_secret`), instead of "
        "`WX_APPID`, `WX_SECRET`, `WX_TOKEN` and `WX_ENCODING_AES_KEY` (setting both is an error).",
        "列出多个小程序的 TOML 文件（每个 `[[app]]` 含 `appid`、`secret`、`name`、`token`、`encoding_aes_key`、"
        "`miniprogram_state`、`api_keys`、`webhook_url`、`webhook_secret`），"
        "代替 `WX_APPID`、`WX_SECRET`、`WX_TOKEN` 和 `WX_ENCODING_AES_KEY`"
        "（两者同时设置会报错）。",
        unset_en="none: one mini program, from `WX_APPID`",
        unset_zh="无：一个小程序，取自 `WX_APPID`",
        example="apps.toml",
    ),
    Setting(
        "WX_API_BASE",
        "wechat",
        "Base URL of WeChat's server API (a forward proxy or the emulator may stand in).",
        "微信服务端接口的基础 URL（可换成正向代理或模拟器）。",
        default="https://api.weixin.qq.com",
        schemes=("http", "https"),
        dev_default=DEV_EMULATOR_URL,
        unset_en=f"`https://api.weixin.qq.com` (dev mode: the emulator, `{DEV_EMULATOR_URL}`)",
        unset_zh=f"`https://api.weixin.qq.com`（开发模式：模拟器 `{DEV_EMULATOR_URL}`）",
    ),
    Setting(
        "WX_TOKEN_API",
        "wechat",
        "How the access token is fetched: `stable` (`cgi-bin/stable_token`, which leaves other holders' "
        "tokens valid) or `classic` (`cgi-bin/token`, which invalidates them).",
        "获取 access token 的接口：`stable`（`cgi-bin/stable_token`，不会让其他持有者的 token 失效）"
        "或 `classic`（`cgi-bin/token`，会让它们失效）。",
        default="stable",
        choices=TOKEN_APIS,
    ),
    Setting(
        "WX_PROMPT_TEMPLATES",
        "wechat",
        "Comma-separated template ids the mini program should ask for when the user has no credit left "
        "(`GET /api/v1/me/prompts`), in this order; per app, `prompt_templates` in `WX_APPS_FILE`.",
        "用户没有剩余额度时，小程序应请求订阅的模板 ID（`GET /api/v1/me/prompts`），用逗号分隔，按此顺序；"
        "多个小程序时在 `WX_APPS_FILE` 中按小程序设置 `prompt_templates`。",
        kind="list",
        default=[],
    ),
    Setting(
        "WX_MINIPROGRAM_STATE",
        "wechat",
        "The version of the mini program a message opens unless the send says otherwise: "
        "`developer`, `trial` or `formal`.",
        "发送时未指定 `miniprogram_state` 时，消息打开的小程序版本：`developer`（开发版）、`trial`（体验版）"
        "或 `formal`（正式版）。",
        default="formal",
        choices=MINIPROGRAM_STATES,
    ),
    # -- message push -------------------------------------------------------------------------
    Setting(
        "WX_TOKEN",
        "push",
        "The message-push Token set in the console (开发管理 → 消息推送); with it, WeChat's pushes are the "
        "authority for credits.",
        "在小程序后台（开发管理 → 消息推送）设置的消息推送 Token；设置后，订阅次数以微信的推送为准。",
        secret=True,
        unset_en="none: `/wechat/push` answers 404",
        unset_zh="无：`/wechat/push` 返回 404",
    ),
    Setting(
        "WX_ENCODING_AES_KEY",
        "push",
        "The 43-character EncodingAESKey of safe (or compatible) mode. Recommended: a plaintext push's "
        "signature does not cover its body.",
        "安全模式（或兼容模式）的 43 位 EncodingAESKey。建议设置：明文模式的签名不覆盖消息体。",
        secret=True,
        unset_en="none: plaintext push only",
        unset_zh="无：只接受明文推送",
    ),
    # -- database and Redis -------------------------------------------------------------------
    Setting(
        "DATABASE_URL",
        "storage",
        "SQLAlchemy URL of the database. `postgres://…`, `postgresql://…` and `postgresql+psycopg://…` "
        "all use psycopg 3.",
        "数据库的 SQLAlchemy URL。`postgres://…`、`postgresql://…` 和 `postgresql+psycopg://…` 都使用 psycopg 3。",
        secret=True,  # it usually holds the database password
        unset_en="SQLite file `instance/backend.sqlite3`",
        unset_zh="SQLite 文件 `instance/backend.sqlite3`",
        example="postgresql://user:password@db-host:5432/wxsub",
    ),
    Setting(
        "DB_POOL_SIZE",
        "storage",
        "Database connections each process keeps open (up to as many again under load); at least the "
        "request threads plus `WORKER_THREADS`.",
        "每个进程保持的数据库连接数（高峰时最多再多开同样数量）；至少为请求线程数加 `WORKER_THREADS`。",
        kind="int",
        default=20,
        positive=True,
    ),
    Setting(
        "REDIS_URL",
        "storage",
        "Redis shared by every process and machine: the access token, rate limits, the batch queue (RQ) "
        "and the send pace.",
        "所有进程和机器共用的 Redis：access token、限流、批量发送队列（RQ）和发送节奏。",
        secret=True,  # it may hold a password
        schemes=("redis", "rediss", "unix"),
        unset_en="none: one machine (token in the database, batches delivered in-process)",
        unset_zh="无：单机模式（token 存在数据库中，批量消息在 Web 进程内投递）",
        example="redis://127.0.0.1:6379/0",
    ),
    Setting(
        "REDIS_TIMEOUT",
        "storage",
        "Seconds a Redis command may take, connecting included.",
        "一条 Redis 命令（含建立连接）最多等待的秒数。",
        kind="float",
        default=1.0,
        positive=True,
    ),
    Setting(
        "REDIS_RETRY_AFTER",
        "storage",
        "Seconds Redis counts as down after a failure (its uses fall back meanwhile) before it is tried again.",
        "Redis 出错后被视为不可用的秒数（期间各项功能改用后备方案），之后再重试。",
        kind="float",
        default=5.0,
    ),
    # -- who may call the backend -------------------------------------------------------------
    Setting(
        "SECRET_KEY",
        "access",
        f"Signs session tokens; at least {SECRET_KEY_MIN_LENGTH} characters, e.g. from "
        '`python -c "import secrets; print(secrets.token_urlsafe(32))"`.',
        f"用于签名会话 token；至少 {SECRET_KEY_MIN_LENGTH} 个字符，例如由 "
        '`python -c "import secrets; print(secrets.token_urlsafe(32))"` 生成。',
        secret=True,
        dev_default="dev-mode-secret-key-not-for-production",
        unset_en="required outside dev mode",
        unset_zh="开发模式以外必须设置",
    ),
    Setting(
        "SESSION_VERSION_TTL",
        "access",
        "Seconds a process trusts a user's session-token version it read, so that a call with a session "
        "token does not read the user: a logout or an erase takes effect in other processes within this time, "
        "or at once through Redis when REDIS_URL is set.",
        "进程信任已读到的用户会话 token 版本的秒数（这样带会话 token 的调用无需读取用户）："
        "退出登录或删除用户在其他进程中最迟在这段时间内生效；设置了 REDIS_URL 时通过 Redis 立即生效。",
        kind="float",
        default=5.0,
        positive=True,
    ),
    Setting(
        "BUSINESS_API_KEYS",
        "access",
        "Comma-separated keys that business callers send in `X-Api-Key`.",
        "业务系统在 `X-Api-Key` 中发送的密钥，用逗号分隔。",
        kind="list",
        default=[],
        secret=True,
        unset_en="none (`make run`: `dev-api-key`)",
        unset_zh="无（`make run`：`dev-api-key`）",
    ),
    Setting(
        "ADMIN_PASSWORD",
        "access",
        "Guards the operator's dashboard at `/admin` (HTTP Basic, any user name).",
        "保护 `/admin` 运维看板的密码（HTTP Basic，用户名任意）。",
        secret=True,
        unset_en="none: `/admin` answers 404",
        unset_zh="无：`/admin` 返回 404",
    ),
    Setting(
        "TRUSTED_PROXIES",
        "access",
        "How many proxies in front of the app set `X-Forwarded-For` (one load balancer: `1`), so that "
        "per-IP limits and logs see the client.",
        "应用前面有几层会设置 `X-Forwarded-For` 的代理（一个负载均衡器：`1`），以便按 IP 的限流和日志看到真实客户端。",
        kind="int",
        default=0,
    ),
    Setting(
        "PUBLIC_BASE_URL",
        "access",
        "The backend's public URL as WeChat and browsers reach it (`https://api.example.com`): the platform's "
        "authorization link sends merchants back to it.",
        "浏览器和微信访问后端所用的公网 URL（如 `https://api.example.com`）：第三方平台的授权链接授权后回到这里。",
        schemes=("http", "https"),
        unset_en="none: the request's own host (behind proxies, as `TRUSTED_PROXIES` says)",
        unset_zh="无：使用请求自身的主机名（有代理时按 `TRUSTED_PROXIES` 取）",
    ),
    Setting(
        "RATE_LIMIT_LOGIN",
        "access",
        "Log-ins per minute per client IP (users behind one carrier NAT share an IP); then 429 "
        "`rate_limited` with `Retry-After`; shared through Redis when set; 0: no limit.",
        "每个客户端 IP 每分钟的登录次数（同一运营商 NAT 后的用户共用一个 IP）；超出返回 429 `rate_limited` 和 "
        "`Retry-After`；设置了 Redis 时在所有进程间共享；0：不限。",
        kind="int",
        default=300,
    ),
    Setting(
        "RATE_LIMIT_REPORTS",
        "access",
        "Subscription reports, phone-number and sn-ticket requests per minute per user (each kind counted "
        "on its own); 0: no limit.",
        "每个用户每分钟上报订阅结果、获取手机号和获取设备票据（sn_ticket）的次数（各自分别计数）；0：不限。",
        kind="int",
        default=60,
    ),
    Setting(
        "DEVICE_BINDING_REQUIRED",
        "access",
        "Only users bound to a device (`PUT /api/v1/devices/<model_id>/<sn>/users/<user_id>` or a device "
        "binding code) get its sn_ticket, report its popup and receive its messages; off: anyone logged in may.",
        "只有绑定了设备的用户（`PUT /api/v1/devices/<model_id>/<sn>/users/<user_id>` 或设备绑定码）才能获取该设备的 "
        "sn_ticket、上报其订阅弹窗结果并收到其消息；关闭时任何已登录用户都可以。",
        kind="flag",
        default=True,
        dev_default=False,
        unset_en="on (dev mode: off)",
        unset_zh="开启（开发模式：关闭）",
    ),
    # -- calls to WeChat ----------------------------------------------------------------------
    Setting(
        "WX_CONNECT_TIMEOUT",
        "calls",
        "Seconds to wait for a connection to WeChat.",
        "连接微信服务器的等待秒数。",
        kind="float",
        default=3.05,
        positive=True,
    ),
    Setting(
        "WX_READ_TIMEOUT",
        "calls",
        "Seconds to wait for WeChat's answer once a request is sent.",
        "请求发出后等待微信响应的秒数。",
        kind="float",
        default=10.0,
        positive=True,
    ),
    Setting(
        "WX_MAX_ATTEMPTS",
        "calls",
        "Attempts per WeChat call when it fails in a way that is safe to repeat (no connection, WeChat's "
        "`-1` busy); a send that may have arrived is never repeated.",
        "微信调用以可安全重试的方式失败时（无法连接、微信返回 `-1` 系统繁忙）的最多尝试次数；"
        "可能已送达的发送绝不重复。",
        kind="int",
        default=3,
        positive=True,
    ),
    Setting(
        "WX_RETRY_BACKOFF",
        "calls",
        "Seconds before the second attempt of a WeChat call, doubling for each further one (with jitter).",
        "微信调用第二次尝试前等待的秒数，之后每次翻倍（带随机抖动）。",
        kind="float",
        default=0.2,
    ),
    Setting(
        "WX_SEND_RATE",
        "calls",
        "Ceiling on WeChat send calls per second across all workers (a token bucket, in Redis when set); 0: none.",
        "所有 worker 合计每秒调用微信发送接口的上限（令牌桶，设置了 Redis 时存于 Redis）；0：不限。",
        kind="float",
        default=0.0,
    ),
    # -- delivery and workers -----------------------------------------------------------------
    Setting(
        "WORKER_THREADS",
        "delivery",
        "Delivery threads per worker (or in the web process without Redis); a worker claims this many "
        "messages at a time.",
        "每个 worker（无 Redis 时为 Web 进程）的投递线程数；worker 每次认领这么多条消息。",
        kind="int",
        default=16,
        positive=True,
    ),
    Setting(
        "SENDING_TIMEOUT",
        "delivery",
        "Seconds after which a message still `sending` (its worker died) becomes `unknown`, its credit kept spent.",
        "消息处于 `sending` 超过这么多秒（其 worker 已退出）即标记为 `unknown`，订阅次数不退回。",
        kind="float",
        default=120.0,
        positive=True,
    ),
    Setting(
        "REQUEUE_AFTER",
        "delivery",
        "Seconds after which a message still `queued` (its job was lost) is queued again.",
        "消息处于 `queued` 超过这么多秒（其任务已丢失）即重新入队。",
        kind="float",
        default=60.0,
        positive=True,
    ),
    Setting(
        "SWEEP_INTERVAL",
        "delivery",
        "Seconds between two sweeps (requeue lost messages, mark abandoned sends `unknown`) of each worker.",
        "每个 worker 两次清扫（重新入队丢失的消息、把中断的发送标记为 `unknown`）之间的秒数。",
        kind="float",
        default=30.0,
        positive=True,
    ),
    Setting(
        "SEND_LOCK_WAIT",
        "delivery",
        "Seconds a send waits for its turn (one send per user in flight, WeChat's 43108); "
        "then it fails as passing: 503, or requeued in a batch, credit returned.",
        "一次发送等待轮到它的秒数（每个用户同时只有一条发送在途，微信的 43108）；"
        "超时按临时失败处理：503，批量中重新排队，订阅次数退回。",
        kind="float",
        default=5.0,
        positive=True,
    ),
    Setting(
        "SEND_LOCK_TTL",
        "delivery",
        "Seconds a send's turn lasts when its holder dies before giving it back.",
        "持有者在归还前退出时，一次发送的轮次保留的秒数。",
        kind="float",
        default=30.0,
        positive=True,
    ),
    # -- webhooks to business code ------------------------------------------------------------
    Setting(
        "WEBHOOK_URL",
        "webhooks",
        "Where the backend POSTs status events (`message.sent`, `message.failed`, `subscription.updated`, ...) "
        "for business code, signed per the Standard Webhooks specification; set it together with "
        "`WEBHOOK_SECRET`.",
        "后端以 POST 发送状态事件（`message.sent`、`message.failed`、`subscription.updated` 等）给业务系统的地址，"
        "按 Standard Webhooks 规范签名；与 `WEBHOOK_SECRET` 一起设置。",
        secret=True,  # its query string may carry a token
        schemes=("http", "https"),
        unset_en="none: no events are written or sent",
        unset_zh="无：不记录也不发送事件",
        example="https://crm.example.com/hooks/wechat",
    ),
    Setting(
        "WEBHOOK_SECRET",
        "webhooks",
        "The signing secret, `whsec_` and base64 of 24 to 64 random bytes, e.g. from "
        "`python -c \"import base64, os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\"`.",
        "签名密钥：`whsec_` 加 24 到 64 个随机字节的 base64，例如由 "
        "`python -c \"import base64, os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\"` 生成。",
        secret=True,
        unset_en="required with `WEBHOOK_URL`",
        unset_zh="设置 `WEBHOOK_URL` 时必须设置",
    ),
    Setting(
        "WEBHOOK_TIMEOUT",
        "webhooks",
        "Seconds the receiver has to answer a webhook with a 2xx; then the delivery is retried later.",
        "接收方以 2xx 响应一次 Webhook 的最长秒数；超时则稍后重试。",
        kind="float",
        default=5.0,
        positive=True,
    ),
    # -- third-party platform -------------------------------------------------------------------
    Setting(
        "WX_COMPONENT_APPID",
        "platform",
        "The third-party platform's AppID (open.weixin.qq.com → 管理中心 → 第三方平台): with it, merchants' mini "
        "programs that authorize the platform are served with its tokens, beside any apps of `WX_APPID` or "
        "`WX_APPS_FILE`. Set all four `WX_COMPONENT_*` or none (or a `[component]` table in the apps file).",
        "第三方平台的 AppID（open.weixin.qq.com → 管理中心 → 第三方平台）：设置后，授权给该平台的商家小程序"
        "用平台的令牌服务，可与 `WX_APPID` 或 `WX_APPS_FILE` 的小程序并用。四个 `WX_COMPONENT_*` 要么都设置，"
        "要么都不设置（或在 apps 文件中写 `[component]` 表）。",
        unset_en="none: no third-party platform",
        unset_zh="无：不作为第三方平台",
    ),
    Setting(
        "WX_COMPONENT_SECRET",
        "platform",
        "The third-party platform's AppSecret.",
        "第三方平台的 AppSecret。",
        secret=True,
    ),
    Setting(
        "WX_COMPONENT_TOKEN",
        "platform",
        "The platform's message-verification Token (消息校验Token): signs the pushes to both of its URLs.",
        "第三方平台的消息校验 Token：两个推送地址收到的推送都用它签名。",
        secret=True,
    ),
    Setting(
        "WX_COMPONENT_AES_KEY",
        "platform",
        "The platform's message encryption key (消息加解密Key, 43 characters): every push to the platform is "
        "encrypted with it.",
        "第三方平台的消息加解密 Key（43 个字符）：发给平台的推送都用它加密。",
        secret=True,
    ),
    Setting(
        "COMPONENT_UNAUTHORIZED_RETAIN_DAYS",
        "platform",
        "Days the users of a merchant app that revoked the authorization are kept before they are erased "
        "(PIPL art. 21).",
        "商家小程序取消授权后，其用户数据保留的天数，之后删除（《个人信息保护法》第二十一条）。",
        kind="int",
        default=30,
    ),
    # -- personal data ----------------------------------------------------------------------
    Setting(
        "DATA_KEY",
        "privacy",
        "Seals phone numbers, session keys and refresh tokens at rest (AES-GCM): 32 bytes in base64, e.g. from "
        '`python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"`.',
        "静态加密手机号、session_key 与刷新令牌（AES-GCM）的密钥：32 字节的 base64，例如由 "
        '`python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"` 生成。',
        secret=True,
        unset_en="required outside dev mode (dev mode: derived from `SECRET_KEY`)",
        unset_zh="开发模式以外必须设置（开发模式：由 `SECRET_KEY` 派生）",
    ),
    Setting(
        "DATA_KEYS_OLD",
        "privacy",
        "Comma-separated earlier `DATA_KEY`s, still accepted for reading until `wx keys rotate` re-seals every row.",
        "以前用过的 `DATA_KEY`，用逗号分隔；在 `wx keys rotate` 重新加密所有行之前仍可用于读取。",
        kind="list",
        default=[],
        secret=True,
    ),
    Setting(
        "RETAIN_MESSAGE_VALUES_DAYS",
        "privacy",
        "Days a message keeps its values (`data`); after that it keeps its status, errcode and dates only "
        "(`retain_message_values_days` per app in `WX_APPS_FILE`).",
        "消息保留其取值（`data`）的天数；之后只保留状态、errcode 和时间（在 `WX_APPS_FILE` 中可按小程序设置 "
        "`retain_message_values_days`）。",
        kind="int",
        default=180,
        positive=True,
    ),
    Setting(
        "RETAIN_EVENTS_DAYS",
        "privacy",
        "Days consent events (reports and pushes) are kept; never the last one that explains a credit the user "
        "still has (`retain_events_days` per app).",
        "授权事件（上报与推送）保留的天数；用户仍持有的额度所依据的最后一条事件永不删除（可按小程序设置 "
        "`retain_events_days`）。",
        kind="int",
        default=365,
        positive=True,
    ),
    Setting(
        "RETAIN_WEBHOOK_EVENTS_DAYS",
        "privacy",
        "Days delivered (and given-up) webhook events are kept, payload included (`retain_webhook_events_days` "
        "per app).",
        "已投递（及已放弃）的 Webhook 事件连同其内容保留的天数（可按小程序设置 `retain_webhook_events_days`）。",
        kind="int",
        default=30,
        positive=True,
    ),
    Setting(
        "RETENTION_INTERVAL",
        "privacy",
        "Seconds between two purges of what retention allows no longer (by `flask wx worker`, or by the web "
        "process without Redis); one process purges at a time.",
        "两次按保留期清除数据之间的秒数（由 `flask wx worker` 执行，没有 Redis 时由 Web 进程执行）；"
        "同一时间只有一个进程清除。",
        kind="int",
        default=3600,
        positive=True,
    ),
    Setting(
        "ERASURE_KEY",
        "privacy",
        "Keys the hashes of erased people's openids in the tombstones and the erasure log; any long random "
        "string. Never `DATA_KEY`, so that `wx keys rotate` leaves the erasure log readable.",
        "为已删除用户的 openid 计算墓碑与删除日志中带密钥哈希的密钥；任意较长的随机字符串。"
        "从不使用 `DATA_KEY`，因此 `wx keys rotate` 之后删除日志仍然可用。",
        secret=True,
        unset_en="derived from `SECRET_KEY`",
        unset_zh="由 `SECRET_KEY` 派生",
    ),
    Setting(
        "ERASURE_LOG",
        "privacy",
        "The file each erasure is appended to (one line: keyed hashes and the time, no personal data), kept "
        "outside the database so that `wx users erase --reapply` can erase again after a restore; a relative "
        "path is relative to the instance folder.",
        "每次删除追加一行的文件（只有带密钥的哈希和时间，没有个人信息），放在数据库之外，"
        "以便恢复备份后用 `wx users erase --reapply` 再次删除；相对路径相对于 instance 目录。",
        default="erasures.log",
        unset_en="`instance/erasures.log`",
        unset_zh="`instance/erasures.log`",
    ),
)

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


class ConfigError(RuntimeError):
    """A setting is missing or wrong: the app refuses to start. The message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable} {problem}")
        self.variable = variable


def check_encoding_aes_key(key: str) -> None:
    """43 characters of base64 decoding to a 32-byte AES key, as the push cipher needs (docs/wechat.md §6)."""

    if len(key) != 43:
        raise ConfigError(
            "WX_ENCODING_AES_KEY",
            f"has {len(key)} characters; it must be the 43-character EncodingAESKey from the mini program console",
        )
    try:
        PushCipher(key, DEV_APPID)
    except PushCryptoError:
        raise ConfigError(
            "WX_ENCODING_AES_KEY", "is not base64 (letters and digits): copy it again from the mini program console"
        ) from None


WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_SECRET_BYTES = (24, 64)  # the Standard Webhooks specification's range


def check_webhook_settings(
    url: str | None, secret: str | None, url_name: str = "WEBHOOK_URL", secret_name: str = "WEBHOOK_SECRET"
) -> None:
    """Both or neither; the secret `whsec_` and base64 of 24 to 64 bytes (never echoed).

    `url_name` and `secret_name` name them in the error: the variables, or an app's keys in WX_APPS_FILE.
    """
    if url and not secret:
        raise ConfigError(secret_name, f"is not set: webhooks to {url_name} are signed with it")
    if secret is None:
        return
    if not url:
        raise ConfigError(url_name, f"is not set: {secret_name} signs webhooks sent there; set both or neither")
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ConfigError(secret_name, f"must start with {WEBHOOK_SECRET_PREFIX} (whsec_ and base64)")
    try:
        key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ConfigError(secret_name, "is not whsec_ followed by base64") from None
    low, high = WEBHOOK_SECRET_BYTES
    if not low <= len(key) <= high:
        raise ConfigError(secret_name, f"decodes to {len(key)} bytes; it must be {low} to {high} random bytes")
