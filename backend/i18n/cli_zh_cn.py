"""Simplified Chinese for `flask --app wsgi wx doctor`, keyed by its English, for LANG=zh_CN.UTF-8.

Each check's name and every Text(...) of backend/ops/doctor.py, with the same {placeholders};
setting names, commands and errcodes stay as they are. tests/test_doctor_i18n.py names every
string that is missing.
"""

TEXTS = {
    # wx component, wx keys (backend/ops/platform_cli.py)
    "no third-party platform is configured: set WX_COMPONENT_*": "未配置第三方平台：请设置 WX_COMPONENT_*",
    "WeChat refused this machine's IP (61004): add it to the platform's whitelist": (
        "微信拒绝了本机 IP（61004）：请把它加入第三方平台的白名单"
    ),
    "no valid component_verify_ticket yet: WeChat pushes one every 10 minutes": (
        "还没有有效的 component_verify_ticket：微信每 10 分钟推送一次"
    ),
    "{appid} authorized: {state}": "{appid} 已授权：{state}",
    "{appid} refresh token recovered": "{appid} 的刷新令牌已恢复",
    "{appid} not listed by WeChat: it must authorize the platform again": (
        "{appid} 不在微信返回的授权方列表中：需要重新授权本平台"
    ),
    "{appid!r} is not an app of this backend": "{appid!r} 不是本后端服务的小程序",
    "{key_id} for {appid}: {key}": "{key_id}（用于 {appid}）：{key}",
    "keep it now: it is stored only as a hash": "请立即保存：后端只保存它的哈希",
    "revoked {at}": "已于 {at} 吊销",
    "live": "有效",
    "no live key {key_id}": "没有有效的密钥 {key_id}",
    "{key_id} revoked": "{key_id} 已吊销",
    # The checks' names
    "configuration": "配置",
    "apps": "小程序",
    "database reachable": "数据库可连接",
    "database migrated": "数据库已迁移",
    "redis": "Redis",
    "WeChat reachable": "微信可连接",
    "access token": "access token 可获取",
    "templates synced": "模板已同步",
    "push configured": "消息推送已配置",
    "unknown messages": "结果未知的消息",
    "webhooks": "Webhook",
    "platform ticket": "第三方平台 ticket",
    "platform token": "第三方平台令牌",
    "merchant apps": "商家小程序",
    "none configured: only a third-party platform's merchant apps": "未配置：只有第三方平台的商家小程序",
    "none yet: check that WeChat reaches {url}": "还没有：请检查微信能否访问 {url}",
    "refused by WeChat (61005/61006): a new push was asked for": "被微信拒绝（61005/61006）：已请求重新推送",
    "received {seconds} s ago": "{seconds} 秒前收到",
    "obtainable": "可获取",
    "errcode 61004: add this machine's IP to the platform's whitelist": (
        "errcode 61004：请把本机 IP 加入第三方平台的白名单"
    ),
    "{authorized} authorized, {frozen} frozen, {no_set_18} without set 18": (
        "{authorized} 个已授权，{frozen} 个已冻结，{no_set_18} 个没有权限集 18"
    ),
    "refresh token lost for {appids}: run flask --app wsgi wx component recover": (
        "{appids} 的刷新令牌丢失：请运行 flask --app wsgi wx component recover"
    ),
    # What they say
    "not configured (no WEBHOOK_URL, no webhook_url in WX_APPS_FILE): no events": (
        "未配置（没有 WEBHOOK_URL，WX_APPS_FILE 中也没有 webhook_url）：不产生事件"
    ),
    "none, no events written": "无，不写入事件",
    "{url} (its own webhook_url)": "{url}（它自己的 webhook_url）",
    "{url} (WEBHOOK_URL)": "{url}（WEBHOOK_URL）",
    "to {where}": "发往 {where}",
    "{appid} to {where}": "{appid} 发往 {where}",
    "needs its store (see above)": "需要它的存储（见上文）",
    "needs the database, migrated": "需要已迁移的数据库",
    "needs the database": "需要数据库",
    "dev mode (WX_APPID and WX_SECRET unset): the backend talks to {base}": (
        "开发模式（未设置 WX_APPID 和 WX_SECRET）：后端连接的是 {base}"
    ),
    "no BUSINESS_API_KEYS: business callers cannot send": "未设置 BUSINESS_API_KEYS：业务代码无法发送",
    "one, from WX_APPID: {names}": "一个，来自 WX_APPID：{names}",
    "{count} from WX_APPS_FILE {path}: {names}": "{count} 个，来自 WX_APPS_FILE {path}：{names}",
    "the file can no longer be read ({error})": "该文件已无法读取（{error}）",
    "it holds AppSecrets and keys, yet other users may read it: chmod 600 it": (
        "它保存着 AppSecret 和密钥，其他用户却可以读取：请执行 chmod 600"
    ),
    "{problem}: check DATABASE_URL and that the server is running": (
        "{problem}：请检查 DATABASE_URL，以及数据库服务是否在运行"
    ),
    "at {heads}": "位于 {heads}",
    "run flask --app wsgi db upgrade": "请运行 flask --app wsgi db upgrade",
    "no schema yet: {upgrade}": "还没有表结构：{upgrade}",
    "at {at}, the code needs {needed}: {upgrade}": "位于 {at}，代码需要 {needed}：{upgrade}",
    "not configured (one machine: tokens in the database, batches in-process)": (
        "未配置（单台机器：token 存在数据库中，批量发送在进程内投递）"
    ),
    "REDIS_URL does not answer ({error}): start Redis or fix REDIS_URL": (
        "REDIS_URL 没有响应（{error}）：请启动 Redis 或修正 REDIS_URL"
    ),
    "{error}: allow outbound HTTPS to it (firewall; a proxy: HTTPS_PROXY) or fix WX_API_BASE": (
        "{error}：请允许到它的出站 HTTPS（防火墙；代理：HTTPS_PROXY），或修正 WX_API_BASE"
    ),
    "WeChat answered errcode {errcode} ({errmsg})": "微信返回 errcode {errcode}（{errmsg}）",
    "errcode {errcode}: {advice}": "errcode {errcode}：{advice}",
    "the shared token store ({store}) failed: {error}": "共享的 token 存储（{store}）出错：{error}",
    "the database": "数据库",
    "obtainable ({token_api})": "可以获取（{token_api}）",
    "{count} in use but never confirmed by WeChat ({shown}): run flask --app wsgi wx templates sync "
    "(an id that stays unconfirmed is not among the account's templates)": (
        "{count} 个在用的模板从未经微信确认（{shown}）：请运行 flask --app wsgi wx templates sync"
        "（同步后仍未确认的 id 不在该账号的模板中）"
    ),
    "{count} in use": "{count} 个在用",
    "none in use yet": "还没有在用的模板",
    "Token and EncodingAESKey (safe mode) at {url}": "已设置 Token 和 EncodingAESKey（安全模式），地址 {url}",
    "plaintext mode (no {key_name}), whose signature does not cover the body: set an EncodingAESKey "
    "and choose safe mode (开发管理 → 消息推送)": (
        "明文模式（没有 {key_name}），其签名不覆盖请求体：请设置 EncodingAESKey 并选择安全模式（开发管理 → 消息推送）"
    ),
    "{key_name} is set without {token_name}: {url} answers 404": (
        "设置了 {key_name} 却没有 {token_name}：{url} 返回 404"
    ),
    "no {token_name}: credits rest on the mini program's reports; set the push URL ({url}), Token and "
    "EncodingAESKey (开发管理 → 消息推送, safe mode) and {token_name}, {key_name}": (
        "没有 {token_name}：额度只能依据小程序的上报；请在 开发管理 → 消息推送 中设置推送 URL（{url}）、Token 和 "
        "EncodingAESKey（安全模式），并设置 {token_name}、{key_name}"
    ),
    "{count} may or may not have reached their users: see flask --app wsgi wx unknown": (
        "{count} 条消息可能已送达，也可能没有：见 flask --app wsgi wx unknown"
    ),
    "none": "没有",
    # What to do about a token API's errcode (backend/ops/doctor.py TOKEN_ADVICE)
    "add this machine's outbound IP{ip} to the mini program's IP whitelist (开发管理 → 开发设置 → IP白名单)": (
        "把本机的出口 IP{ip} 加入小程序的 IP 白名单（开发管理 → 开发设置 → IP白名单）"
    ),
    "WeChat refused the AppSecret: check WX_SECRET (or reset it in 开发管理 → 开发设置)": (
        "微信拒绝了 AppSecret：请检查 WX_SECRET（或在 开发管理 → 开发设置 中重置）"
    ),
    "WeChat does not know the AppID: check WX_APPID": "微信不认识这个 AppID：请检查 WX_APPID",
    "the AppSecret is frozen: unfreeze it in the mini program console": "AppSecret 已被冻结：请在小程序后台解冻",
    "WX_APPID is empty": "WX_APPID 为空",
    "WX_SECRET is empty": "WX_SECRET 为空",
    "this account may not use the token API": "该账号不能使用 token 接口",
    "the account is frozen": "账号已被冻结",
}
