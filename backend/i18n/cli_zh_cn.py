"""Simplified Chinese for `flask --app wsgi wx …`, keyed by its English, for LANG=zh_CN.UTF-8.

Every Text(...) and say(...) template of backend/ops (`wx doctor`'s checks and findings, each
command's messages and one-line errors) and every command's --help (its docstring and its
options' help=, each paragraph on one line), with the same {placeholders}; setting names,
options, commands and errcodes stay as they are. Then click's own messages (its gettext msgids), which
backend/ops/texts.py routes here. A command's new message is one line in the section of its
command; tests/test_cli_i18n.py names every string that is missing, and every line here that
no code says any more.
"""

TEXTS = {
    # wx users erase / export (personal data)
    "One person's data: erase it, export it (docs/api.md, Personal data).": (
        "某个人的数据：删除、导出（docs/zh-CN/api.md，个人信息）。"
    ),
    'Erase one person (PIPL art. 47) and print {"id", "erased_at"}; erasing again changes nothing.\n\n'
    "After restoring a backup taken before some erasures: `--reapply` erases every person of the erasure log "
    'again, and prints {"erased": how many}.': (
        '删除一个人（《个人信息保护法》第 47 条）并打印 {"id", "erased_at"}；再次删除不做任何改动。\n\n'
        "恢复了在某些删除之前做的备份后：`--reapply` 再次删除删除日志中的每个人，并打印 "
        '{"erased": 人数}。'
    ),
    "Print everything held about one person as one JSON document (PIPL art. 45).": (
        "以一个 JSON 文档打印后端保存的某个人的全部信息（《个人信息保护法》第 45 条）。"
    ),
    "The user's app (required with several apps).": "该用户所在的小程序（有多个小程序时必填）。",
    "The user's openid.": "该用户的 openid。",
    "The business system's id bound to the user.": "与该用户绑定的业务系统 id。",
    "The user's id.": "该用户的 id。",
    "Erase again every person of the erasure log found in this database.": (
        "再次删除删除日志中、在本数据库里找到的每个人。"
    ),
    "With --reapply: this erasure log (default: ERASURE_LOG).": (
        "与 --reapply 一起使用：读取此删除日志（默认：ERASURE_LOG）。"
    ),
    "give exactly one of them": "只能且必须给出其中一个",
    "--reapply takes no --openid, --external-id or --user-id": "--reapply 不接受 --openid、--external-id 或 --user-id",
    "--from goes with --reapply": "--from 只能与 --reapply 一起使用",
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
    "WeChat refused: {error}": "微信拒绝：{error}",
    # The checks' names
    "configuration": "配置",
    "apps": "小程序",
    "database reachable": "数据库可连接",
    "database migrated": "数据库已迁移",
    "redis": "Redis",
    "WeChat reachable": "微信可连接",
    "access token": "access token 可获取",
    "send quota": "发送额度",
    "WeChat did not tell (getApiQuota failed)": "微信未告知（getApiQuota 调用失败）",
    "{remain} of {daily_limit} left today": "今日剩余 {remain}，共 {daily_limit}",
    "under 10 %: once it is spent every send fails with 45009 until midnight, Beijing time": (
        "不足 10%：用完后所有发送都会以 45009 失败，直到北京时间午夜"
    ),
    "templates synced": "模板已同步",
    "push configured": "消息推送已配置",
    "unknown messages": "结果未知的消息",
    "webhooks": "Webhook",
    "erasure log": "删除日志",
    "{path} (made at the first erase)": "{path}（首次删除时创建）",
    "{path} can't be written: erases answer 503 (ERASURE_LOG)": "{path} 无法写入：删除会返回 503（ERASURE_LOG）",
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
    "DEVICE_BINDING_REQUIRED is off: anyone logged in may follow any device": (
        "DEVICE_BINDING_REQUIRED 已关闭：任何已登录的用户都能关注任何设备"
    ),
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
    # --help: each command's docstring and each option's help= (backend/ops/texts.py help_key:
    # a paragraph on one line, paragraphs apart by a blank line)
    "Work with WeChat through the backend.": "通过后端操作微信。",
    "The account's subscribe-message templates.": "账号的订阅消息模板。",
    "Store every template of each app's account (kind, keywords, enum values) from its WeChat.": (
        "从微信获取并保存每个小程序账号的所有模板（类型、关键词、枚举值）。"
    ),
    "Only this app (default: every app).": "只处理这个小程序（默认：全部）。",
    "The apps this backend serves, one line each: appid, its state (`configured` for an app of the configuration; "
    "a platform's merchant app is `authorized`, `frozen` or `no set 18`), name, push configured, the state of its "
    "access token, its templates and its credits outstanding.": (
        "本后端服务的小程序，每个一行：appid、状态（配置中的小程序为 `configured`；第三方平台的商家小程序为 "
        "`authorized`、`frozen` 或 `no set 18`）、名称、是否配置了消息推送、access token 的状态、模板数，以及剩余额度。"
    ),
    "Send one subscribe message under the ledger's rules and print the outcome as JSON.\n\nThe recipient is "
    "exactly one of --openid, --user-id, --external-id or --phone-number.": (
        "按授权台账的规则发送一条订阅消息，并以 JSON 打印结果。\n\n"
        "接收者是 --openid、--user-id、--external-id、--phone-number 中的恰好一个。"
    ),
    "The recipient's openid.": "接收者的 openid。",
    "The recipient's user id.": "接收者的用户 id。",
    "The business system's id bound to the recipient.": "与接收者绑定的业务系统 id。",
    "A phone number the recipient shared, e.g. +8613800138000.": "接收者提供过的手机号，例如 +8613800138000。",
    "The app to send from (required with several apps).": "从哪个小程序发送（配置了多个小程序时必填）。",
    "The template id (priTmplId).": "模板 id（priTmplId）。",
    "A keyword value; repeat per keyword (send-batch: shared by every recipient).": (
        "一个关键词的值；每个关键词写一次（send-batch：所有接收者共用）。"
    ),
    "The mini-program page the card opens.": "点击消息卡片打开的小程序页面。",
    "Shorten over-long thing values instead of refusing them.": "截短过长的 thing 值，而不是拒绝。",
    "Deliver queued messages from Redis (RQ), queue scheduled ones when due, and sweep for lost work.\n\nRun one "
    "or more; webhooks are delivered from here too when WEBHOOK_URL is set. Its sends are counted by gunicorn's "
    "/metrics when both share PROMETHEUS_MULTIPROC_DIR (one machine), else on --metrics-port.": (
        "从 Redis（RQ）投递排队的消息，到时把定时消息放入队列，并清扫丢失的任务。\n\n"
        "可以运行一个或多个；设置了 WEBHOOK_URL 时也从这里投递 webhook。两者共用 PROMETHEUS_MULTIPROC_DIR"
        "（同一台机器）时，它的发送计入 gunicorn 的 /metrics，否则见 --metrics-port。"
    ),
    "Stop when the queue is empty.": "队列为空时停止。",
    "Serve this worker's Prometheus metrics on this port (a worker on a machine without gunicorn).": (
        "在这个端口上提供本 worker 的 Prometheus 指标（用于没有 gunicorn 的机器上的 worker）。"
    ),
    "Once: queue again messages whose job was lost; mark abandoned sends `unknown`.": (
        "执行一次：把任务丢失的消息重新放入队列；把中途放弃的发送标记为 `unknown`。"
    ),
    "Messages WeChat may or may not have delivered (a worker died or WeChat did not answer).": (
        "微信可能已投递、也可能没有投递的消息（worker 中途退出，或微信没有应答）。"
    ),
    "Webhook deliveries that are failing or dead, newest first; or replay them.\n\nA replayed event is posted "
    "again by the next runner (a web process or `wx worker`), with the same webhook-id, and gets its retries again.": (
        "投递失败或已放弃的 webhook 事件，最新的在前；或重新投递它们。\n\n"
        "重新投递的事件由下一个投递者（Web 进程或 `wx worker`）以相同的 webhook-id 再次发送，并重新获得重试次数。"
    ),
    "Make this failing or dead event due now.": "让这个投递失败或已放弃的事件立即重新投递。",
    "Make every failing and dead event due now.": "让所有投递失败和已放弃的事件立即重新投递。",
    "Check this deployment from this machine, one line per check.\n\nEach line is `ok`, `warn` (a "
    "recommendation: the deployment works), `FAIL` with what to do, or `skip` (it needs a check that failed). Exit "
    "status 0 unless a check failed (with --strict: or warned). No line carries a secret.": (
        "在本机检查这个部署，每项检查一行。\n\n"
        "每行是 `ok`、`warn`（建议：部署可以工作）、带处理办法的 `FAIL`，或 `skip`（它依赖的检查失败了）。"
        "除非有检查失败（带 --strict 时：或有警告），退出状态为 0。任何一行都不含密钥。"
    ),
    "Count warnings (recommendations) as failures too.": "把警告（建议）也算作失败。",
    "Send one template to the recipients of CSV_FILE.\n\nThe CSV has a header; an `openid`, `user_id`, "
    "`external_id` or `phone_number` column names each recipient (one per row), and any other column is that "
    "recipient's value for the keyword of the same name (e.g. `thing1`).": (
        "向 CSV_FILE 中的接收者发送同一个模板。\n\n"
        "CSV 带表头；`openid`、`user_id`、`external_id` 或 `phone_number` 列指定每个接收者（每行一个），"
        "其他列是该接收者在同名关键词（例如 `thing1`）上的值。"
    ),
    "Follow the batch with a progress bar (default).": "用进度条跟踪批量发送（默认）。",
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
    "Show this message and exit.": "显示此帮助并退出。",
    "Positional arguments": "位置参数",
    "Options": "选项",
    "Commands": "命令",
    "default: {default}": "默认：{default}",
    # wx keys rotate, wx retention run, and wx doctor's retention line
    "retention": "保留期限",
    "{table}: {rows} rows read, {resealed} values sealed again, {rehashed} hashes written again": (
        "{table}：读取 {rows} 行，重新加密 {resealed} 个值，重写 {rehashed} 个哈希"
    ),
    "every sealed value and look-up hash is under the current DATA_KEY: DATA_KEYS_OLD may now be emptied": (
        "所有加密值和查找哈希都已使用当前的 DATA_KEY：现在可以清空 DATA_KEYS_OLD"
    ),
    "{kind}: {rows} rows purged": "{kind}：清除 {rows} 行",
    "{setting} {days} days": "{setting} {days} 天",
    "{setting} {days} days (apps of their own: {own})": "{setting} {days} 天（自行设置的小程序：{own}）",
    "idempotency records {days} days": "幂等记录 {days} 天",
    "Keys: business API keys that act for one app (add, list, revoke) and the data keys that seal personal data "
    "at rest (rotate: DATA_KEY, DATA_KEYS_OLD).": (
        "密钥：只代表一个小程序的业务 API 密钥（add、list、revoke），以及静态加密个人信息的数据密钥"
        "（rotate：DATA_KEY、DATA_KEYS_OLD）。"
    ),
    "Seal every sealed value and write every look-up hash again under the current DATA_KEY.\n\nIn batches of "
    "1,000 rows; a row already under the current key is left alone, so running it again (or after an "
    "interruption) is safe. Afterwards DATA_KEYS_OLD may be emptied.": (
        "用当前的 DATA_KEY 重新加密每个加密值、重写每个查找哈希。\n\n"
        "每批 1,000 行；已经使用当前密钥的行保持不动，所以再次运行（或中断后运行）是安全的。"
        "完成后可以清空 DATA_KEYS_OLD。"
    ),
    "Purge what the retention in force no longer keeps.": "清除现行保留期限不再保留的数据。",
    "Purge now what the retention in force no longer keeps, as the worker does every RETENTION_INTERVAL.\n\n"
    "In batches of at most 1,000 rows, each its own short transaction; prints the rows purged per kind.": (
        "立即清除现行保留期限不再保留的数据，与 worker 每隔 RETENTION_INTERVAL 所做的相同。\n\n"
        "每批最多 1,000 行，每批是一个独立的短事务；按类别输出清除的行数。"
    ),
}
