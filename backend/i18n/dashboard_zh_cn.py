"""Simplified Chinese for every operator-facing string of the dashboard (/admin), keyed by its English.

The page (backend/pages/admin/dashboard.html) writes each string as `_("<English>")`; the charts'
strings are backend/api/admin.py's CHART_TEXTS, the outcomes' meanings backend/ops/stats.py's
OUTCOME_REASONS. A new string is one line here with the same {placeholders};
tests/test_admin_i18n.py names every string that is missing. Markup in a string (`<code>`) is
the page's own, never a value's: values are escaped when they fill a placeholder.
"""

TEXTS = {
    # The header
    "Operator dashboard · WeChat subscribe messages": "运维仪表盘 · 微信订阅消息",
    "WeChat subscribe messages": "微信订阅消息",
    "Operator dashboard": "运维仪表盘",
    "Back to the dashboard": "返回仪表盘",
    "(the last {days} days, every app).": "（最近 {days} 天，全部小程序）。",
    "Generated {time} UTC": "生成于 {time} UTC",
    "days are UTC calendar days": "按 UTC 自然日统计",
    "consent counted from WeChat's popup pushes": "订阅授权以微信的弹窗推送为准",
    "consent counted from the mini program's reports": "订阅授权以小程序的上报为准",
    "Time window": "时间范围",
    "Last": "最近",
    "{days} d": "{days} 天",
    "App": "小程序",
    "all apps": "全部小程序",
    # A platform's merchant apps (backend/component/merchants.py STATE_WORDS)
    "authorized": "已授权",
    "frozen": "已冻结",
    "no set 18": "未授予权限集 18",
    "Language": "语言",
    # The tiles
    "Key figures": "关键数据",
    "Credits outstanding": "剩余额度",
    "unspent one-time send credits, now": "当前未用的一次性发送额度",
    "Acceptance rate": "同意率",
    "Awaiting consent": "等待授权",
    "held sends waiting for the user's next accept, now": "当前等待用户下一次同意的暂存消息",
    "WeChat send quota": "微信发送额度",
    "left of {limit} today": "今日剩余（共 {limit}）",
    "not read yet": "尚未读取",
    "{accepted} accepted, {rejected} rejected": "同意 {accepted}，拒绝 {rejected}",
    "last {days} d": "最近 {days} 天",
    "Sends": "发送",
    "requested": "请求发送",
    "Failed": "失败",
    "not sent": "未发出",
    "Unknown": "结果未知",
    "may or may not have arrived": "可能已送达，也可能没有",
    "all time": "全部时间",
    "WeChat send latency": "微信发送耗时",
    "p95 of subscribe/send": "subscribe/send 的 p95",
    "since start": "自启动以来",
    # Consent by template
    "Consent by template": "各模板的订阅授权",
    "What users answered in <code>wx.requestSubscribeMessage</code> popups over the last {days} days, "
    "and the one-time credits they have left now. Acceptance rate = accepted ÷ (accepted + rejected).": (
        "最近 {days} 天用户在 <code>wx.requestSubscribeMessage</code> 弹窗中的选择，以及他们当前剩余的"
        "一次性额度。同意率 = 同意 ÷（同意 + 拒绝）。"
    ),
    "Template": "模板",
    "Kind": "类型",
    "Accepted": "同意",
    "Rejected": "拒绝",
    "(not looked up yet)": "（尚未查询）",
    "one-time": "一次性",
    "long-term": "长期",
    "device": "设备",
    "Accepted and rejected per day for {template}": "{template} 每天的同意与拒绝次数",
    "No popup answers in the last {days} days, and no credits outstanding.": (
        "最近 {days} 天没有弹窗选择，也没有剩余额度。"
    ),
    # Sends
    "Messages requested over the last {days} days (single sends and batch recipients), by outcome, "
    "and WeChat's errcode for those that failed or ended unknown.": (
        "最近 {days} 天请求发送的消息（单条发送和批量发送的每个接收者），按结果分列；失败或结果未知的，"
        "另按微信的 errcode 分列。"
    ),
    "Sends per day by outcome": "每天的发送数（按结果）",
    "Outcome": "结果",
    "Messages": "消息数",
    "Meaning": "含义",
    "Failed sends per day by WeChat errcode": "每天失败的发送数（按微信 errcode）",
    "WeChat errcode": "微信 errcode",
    "No WeChat errcode on a failed or unknown send in the last {days} days.": (
        "最近 {days} 天失败或结果未知的发送都没有微信 errcode。"
    ),
    "No sends in the last {days} days.": "最近 {days} 天没有发送。",
    # WeChat latency
    "WeChat latency": "微信接口耗时",
    "Time per call to WeChat's server API since the backend started, over all workers; "
    "p50 and p95 are estimated from the <code>wxsub_wechat_call_seconds</code> histogram's buckets.": (
        "后端启动以来每次调用微信服务端接口所用的时间，包括所有 worker；p50 和 p95 由 "
        "<code>wxsub_wechat_call_seconds</code> 直方图的分桶估算。"
    ),
    "WeChat latency by API": "各接口的微信耗时",
    "API": "接口",
    "Calls": "调用次数",
    "Mean": "平均",
    "No call to WeChat since the backend started.": "后端启动以来没有调用过微信。",
    # Recent failures and unknown messages
    "Recent failures": "最近的失败",
    "The {count} most recent failed messages, newest first.": "最近失败的 {count} 条消息，最新的在前。",
    "Created (UTC)": "创建时间（UTC）",
    "Message": "消息",
    "User": "用户",
    "Reason": "原因",
    "batch": "批量",
    "No failed message.": "没有失败的消息。",
    "Unknown messages": "结果未知的消息",
    "WeChat did not answer after these requests went out, so they may have been delivered; their credit "
    "stays spent. Check with the user or WeChat's <code>subscribe_msg_sent_event</code> before sending again.": (
        "这些请求发出后微信没有应答，所以消息可能已经送达；它们的额度仍算花掉。重新发送之前，先向用户确认，"
        "或查看微信的 <code>subscribe_msg_sent_event</code>。"
    ),
    "The newest {count} are listed.": "下面列出最新的 {count} 条。",
    "No message in doubt.": "没有结果存疑的消息。",
    # Failing webhooks
    "Failing webhooks": "投递失败的 Webhook",
    "{count} dead": "{count} 条已放弃",
    "Events business code has not acknowledged with a 2xx: <em>failing</em> ones are retried with back-off, "
    "<em>dead</em> ones were given up after 3 days. Replay them with "
    "<code>flask --app wsgi wx webhooks --replay ID</code> (or <code>--replay-all-failing</code>) "
    "once the receiver works.": (
        "业务代码没有以 2xx 确认的事件：<em>失败中</em>（<code>failing</code>）的按退避间隔重试，"
        "<em>已放弃</em>（<code>dead</code>）的"
        "在 3 天后不再重试。接收方恢复后，用 <code>flask --app wsgi wx webhooks --replay ID</code>"
        "（或 <code>--replay-all-failing</code>）重新投递。"
    ),
    "Event": "事件",
    "Type": "类型",
    "Status": "状态",
    "Attempts": "尝试次数",
    "Last error": "最近的错误",
    "Next try (UTC)": "下次重试（UTC）",
    "failing": "失败中",
    "dead": "已放弃",
    "No failing webhook delivery.": "没有投递失败的 Webhook。",
    # The charts (backend/api/admin.py CHART_TEXTS)
    "day (UTC)": "日期（UTC）",
    "count": "次数",
    "{title}: popup answers per day": "{title}：每天的弹窗选择",
    "accepted": "同意",
    "rejected": "拒绝",
    "messages": "消息数",
    "Failed or unknown sends per day by WeChat errcode": "每天失败或结果未知的发送数（按微信 errcode）",
    "WeChat call latency by API": "各接口的微信调用耗时",
    "WeChat API": "微信接口",
    "milliseconds": "毫秒",
    # What each outcome means (backend/ops/stats.py OUTCOME_REASONS)
    "The merchant app revoked the platform's authorization (or lacks permission set 18); nothing was sent.": (
        "该商家小程序已取消对第三方平台的授权（或没有权限集 18）；未发送任何内容。"
    ),
    "No send credit left for this user and template; WeChat was not called.": (
        "该用户对此模板已没有发送额度；没有调用微信。"
    ),
    "WeChat answered 43101: the user refuses this template; their credits were set to 0.": (
        "微信返回 43101：用户拒收此模板；其额度已清零。"
    ),
    "WeChat refused the request itself (see errcode); the credit was returned.": (
        "微信拒绝了请求本身（见 errcode）；额度已退回。"
    ),
    "WeChat kept failing after bounded retries; the credit was returned.": "有限次重试后微信仍然失败；额度已退回。",
    "WeChat's send quota was reached (45009 / 45011); the credit was returned.": (
        "达到了微信的发送配额（45009 / 45011）；额度已退回。"
    ),
    "No user with that openid or user_id; nothing was sent.": "没有与该 openid 或 user_id 对应的用户；什么都没有发出。",
    "WeChat did not answer after the request went out: it may have been delivered. The credit stays spent.": (
        "请求发出后微信没有应答：消息可能已经送达。额度仍算花掉。"
    ),
    # Retention
    "Retention": "保留期限",
    "Rows purged so far because the retention in force no longer keeps them (<code>flask --app wsgi wx doctor</code> "
    "prints it; <code>flask --app wsgi wx retention run</code> purges at once).": (
        "因超过现行保留期限而已清除的行数（<code>flask --app wsgi wx doctor</code> 会显示保留期限；"
        "<code>flask --app wsgi wx retention run</code> 立即清除）。"
    ),
    "Rows purged": "已清除行数",
}
