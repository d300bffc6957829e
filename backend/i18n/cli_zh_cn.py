"""Simplified Chinese for `flask --app wsgi wx …`, keyed by its English, for LANG=zh_CN.UTF-8.

Every Text(...) and say(...) template of backend/ops (`wx doctor`'s checks and findings, each
command's messages and one-line errors), with the same {placeholders}; setting names, options,
commands and errcodes stay as they are. Then click's own messages (its gettext msgids), which
backend/ops/texts.py routes here. A command's new message is one line in the section of its
command; tests/test_cli_i18n.py names every string that is missing, and every line here that
no code says any more.
"""

TEXTS = {
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
    "cannot use the database: {error}": "无法使用数据库：{error}",
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
    # Every command: the one line when a service is down (backend/ops/cli.py OutagesInOneLine)
    "DATABASE_URL: cannot use the database: {error}": "DATABASE_URL：无法使用数据库：{error}",
    "REDIS_URL: Redis at {address} does not answer ({error})": "REDIS_URL：{address} 上的 Redis 没有响应（{error}）",
    "WX_API_BASE: WeChat does not answer ({api}): check the network and WX_API_BASE": (
        "WX_API_BASE：微信没有响应（{api}）：请检查网络和 WX_API_BASE"
    ),
    "a call": "一次调用",
    "WeChat refused {api}: errcode {errcode} {errmsg}": "微信拒绝了 {api}：errcode {errcode} {errmsg}",
    # --app, and the options of send and send-batch
    "{appid!r} is not a configured app ({known})": "{appid!r} 不是已配置的小程序（{known}）",
    "several apps are configured: choose one with --app APPID": "配置了多个小程序：请用 --app APPID 选择一个",
    "{pair!r} is not key=value": "{pair!r} 不是 key=value 的形式",
    "give exactly one of openid, user_id, external_id or phone_number": (
        "openid、user_id、external_id、phone_number 必须且只能给出一个"
    ),
    "{value!r} is not a phone number": "{value!r} 不是手机号",
    "{value!r} is not a user id": "{value!r} 不是用户 id",
    # wx apps
    "no token yet": "还没有 token",
    "token valid {seconds} s": "token 还有 {seconds} 秒有效",
    "token expired": "token 已过期",
    "no push": "未配置消息推送",
    "push safe mode": "消息推送（安全模式）",
    "push plaintext": "消息推送（明文模式）",
    "{templates} templates  {credits} credits outstanding": "{templates} 个模板  {credits} 个剩余额度",
    # wx worker
    "REDIS_URL is not set; without Redis the web process delivers batches itself.": (
        "未设置 REDIS_URL；没有 Redis 时由 Web 进程自己投递批量发送。"
    ),
    "--metrics-port {port}: {error}": "--metrics-port {port}：{error}",
    # wx unknown
    "user {id}": "用户 {id}",
    # wx webhooks
    "give --replay ID or --replay-all-failing, not both": "--replay ID 和 --replay-all-failing 只能给出一个",
    "no failing or dead webhook event {id}": "没有投递失败或已放弃的 webhook 事件 {id}",
    "{count} event(s) due again": "{count} 个事件将重新投递",
    "{failing} failing, {dead} dead": "{failing} 个投递失败，{dead} 个已放弃",
    "next try {at}": "下次尝试 {at}",
    "gave up": "已放弃",
    "{count} attempts": "已尝试 {count} 次",
    # wx send-batch
    "CSV_FILE line {line}": "CSV_FILE 第 {line} 行",
    "batch {id}: {total} recipients": "批量发送 {id}：{total} 个接收者",
    "delivering": "投递中",
    "WX_API_BASE: WeChat did not answer for {unreached} of {total} messages: check the network": (
        "WX_API_BASE：{total} 条消息中有 {unreached} 条微信没有响应：请检查网络"
    ),
    # Click's own messages, by their gettext msgid (click/exceptions.py, core.py, parser.py, types.py,
    # formatting.py): its usage errors, and the words of a usage line.
    "Error: {message}": "错误：{message}",
    "Try '{command} {option}' for help.": "运行 '{command} {option}' 查看帮助。",
    "Invalid value: {message}": "无效的值：{message}",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效：{message}",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing parameter: {param_name}": "缺少参数：{param_name}",
    "Missing command.": "缺少命令。",
    "No such option {name!r}.": "没有选项 {name!r}。",
    "No such command {name!r}.": "没有命令 {name!r}。",
    "Did you mean {possibility}?": "您是想用 {possibility} 吗？",
    "(Did you mean one of: {possibilities}?)": "（您是想用其中之一吗：{possibilities}？）",
    "Got unexpected extra argument ({args})": "多余的参数（{args}）",
    "Got unexpected extra arguments ({args})": "多余的参数（{args}）",
    "Option {name!r} requires an argument.": "选项 {name!r} 需要一个值。",
    "Option {name!r} requires {nargs} arguments.": "选项 {name!r} 需要 {nargs} 个值。",
    "Option {name!r} does not take a value.": "选项 {name!r} 不接受值。",
    "{value!r} is not {choice}.": "{value!r} 不是 {choice}。",
    "{value!r} is not one of {choices}.": "{value!r} 不是 {choices} 之一。",
    "{value!r} is not a valid {number_type}.": "{value!r} 不是有效的 {number_type}。",
    "{value} is not in the range {range}.": "{value} 不在范围 {range} 内。",
    "Could not open file {filename!r}: {message}": "无法打开文件 {filename!r}：{message}",
    "Aborted!": "已中止！",
    "Usage:": "用法：",
    "Options": "选项",
    "Commands": "命令",
    "default: {default}": "默认：{default}",
}
