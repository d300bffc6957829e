"""Simplified Chinese for the API document's prose, served by `/openapi.json?lang=zh-CN` (and `/docs`).

Keyed by the English as the document has it with its whitespace collapsed to single spaces
(a docstring re-wrapped keeps its key): the document's title and description, and each
operation's summary and description, which a view's docstring gives (backend/api/openapi.py). Field,
parameter and error descriptions stay English, as do codes, paths and field names.
tests/test_openapi_i18n.py names every summary or description without its Chinese form.
"""

TEXTS = {
    # /docs's page title (backend/api/docs.py PAGE_TITLE), the document's title
    "WeChat subscribe-message backend: API": "微信订阅消息后端：API",
    "WeChat subscribe-message backend": "微信订阅消息后端",
    # The document's description (backend/api/openapi.py DESCRIPTION)
    "The backend of a WeChat Mini Program's subscribe messages: the mini program logs in and reports what its "
    "subscribe popups returned; business code sends messages, one or in batches, under the consent ledger's rules; "
    "WeChat pushes consent changes and delivery results. Every error is "
    '`{"error": {"code": "<snake_case>", "message": "<for a human>", "details": {...}}}`; callers branch on `code`, '
    "which is English whatever the language. The `message` is in Simplified Chinese when `Accept-Language` prefers "
    "it (`zh`, `zh-CN`, `zh-Hans`; q-values count), English otherwise; `Content-Language` says which (a replayed "
    "Idempotency-Key answer keeps the first one's). `details` stay English. Every response carries `X-Request-Id` "
    "(the caller's, when it sent a well-formed one). `GET /metrics` serves Prometheus text; `/admin` is the "
    "operator's dashboard.": (
        "微信小程序订阅消息的后端：小程序登录并上报订阅弹窗的结果；业务代码按授权台账的规则发送消息，单条或批量；"
        "微信推送授权变化和投递结果。\n\n"
        '每个错误都是 `{"error": {"code": "<snake_case>", "message": "<for a human>", "details": {...}}}`；'
        "调用方按 `code` 分支，无论哪种语言它都是英文。当 `Accept-Language` 优先简体中文（`zh`、`zh-CN`、`zh-Hans`；"
        "按 q 值）时 `message` 为简体中文，否则为英文；`Content-Language` 说明是哪种（重放的 Idempotency-Key "
        "应答保持第一次的语言）。`details` 保持英文。"
        "每个响应都带 `X-Request-Id`（调用方发送了格式正确的 id 时即为它）。"
        "`GET /metrics` 提供 Prometheus 文本；`/admin` 是运维仪表盘。\n\n"
        "本文档的字段、参数和错误说明为英文；中文说明见 docs/zh-CN/api.md。"
    ),
    # POST /api/v1/auth/login
    "Log in with a `wx.login` code.": "用 `wx.login` 的 code 登录。",
    "Calls the app's jscode2session and creates or updates the user by openid. The session_key stays on the server; "
    "the answer is a session token for `Authorization: Bearer <token>`, which carries the app: every later call acts "
    "within it.": (
        "调用该小程序的 jscode2session，按 openid 创建或更新用户。session_key 只留在服务器上；应答是一个会话 token，"
        "用于 `Authorization: Bearer <token>`，它带着小程序：之后的每次调用都在该小程序内进行。"
    ),
    # POST /api/v1/auth/logout
    "Log out: this session token, and the user's older ones, stop working.": (
        "退出登录：这个会话 token 以及该用户更早的 token 都失效。"
    ),
    # POST /api/v1/auth/phone
    "Store the user's phone number from a getPhoneNumber button's code.": (
        "用 getPhoneNumber 按钮给出的 code 保存用户的手机号。"
    ),
    # POST /api/v1/batches
    "Send one template to many users (up to 10,000).": "向多个用户发送同一个模板（最多 10,000 个）。",
    "The values are validated up front; consent is checked per message at delivery, which goes on after the answer. "
    "With `send_at` the messages are `scheduled` until then, and each can be canceled "
    "(`DELETE /api/v1/messages/{message_id}`).": (
        "各个值在应答前校验；授权在投递每条消息时检查，投递在应答之后进行。带 `send_at` 时，消息在那之前处于 "
        "`scheduled`，每条都可以取消（`DELETE /api/v1/messages/{message_id}`）。"
    ),
    # GET /api/v1/batches/{batch_id}, …/messages
    "A batch's progress: its status and its messages counted by outcome.": (
        "批量发送的进度：它的状态，以及按结果统计的消息数。"
    ),
    "A batch's messages with their outcomes, a page at a time.": "批量发送中的消息及其结果，分页返回。",
    # POST /api/v1/binding-codes
    "A single-use code that binds `external_id` to whoever redeems it in the mini program.": (
        "一个一次性的绑定码：在小程序里兑换它的人即与 `external_id` 绑定。"
    ),
    "For a business system that can show the person something (a page, an e-mail) but doesn't know their WeChat "
    "user. The code is shown once; only its hash is kept.": (
        "适用于能给对方看到某些内容（一个页面、一封邮件）但不知道其微信用户的业务系统。绑定码只显示一次；只保存它的哈希。"
    ),
    # POST /api/v1/device-messages
    "Send a device message to the subscribers of one device.": "向某个设备的订阅者发送设备消息。",
    "Without `recipients`, everyone whose subscription to the template on this (model_id, sn) is active (with "
    "DEVICE_BINDING_REQUIRED, of those bound to the device). Each "
    "recipient with an active subscription gets a message of their own (one WeChat call each, so every outcome is "
    "known per person: `consent_revoked` for 43101, which ends that subscription, `wechat_rejected` with errcode "
    "9800006 when WeChat holds the user's subscription for another device); the others are listed in `skipped` and "
    "cost nothing. Up to 100 messages are delivered before the answer (201); more run as a batch (202): follow "
    "`GET /api/v1/batches/{batch_id}`.": (
        "不带 `recipients` 时，发给在该 (model_id, sn) 上订阅了此模板且订阅有效的每个人（开启 "
        "DEVICE_BINDING_REQUIRED 时，仅限绑定了该设备的人）。每个订阅有效的接收者各得一条"
        "消息（每条一次微信调用，因此每个人的结果都可知：43101 为 `consent_revoked`，并结束该订阅；微信认为该用户的订阅"
        "属于另一台设备时为 `wechat_rejected`，errcode 9800006）；其余的列在 `skipped` 中，不产生任何消耗。"
        "最多 100 条在应答前投递（201）；更多的作为批量发送进行（202）：请跟踪 `GET /api/v1/batches/{batch_id}`。"
    ),
    # POST /api/v1/devices/sn-ticket
    "Get the sn_ticket for one device's subscribe popup.": "获取某个设备订阅弹窗所需的 sn_ticket。",
    "Pass it to `wx.requestSubscribeDeviceMessage` as `snTicket`, with the same `modelId` and `sn`. A ticket is valid "
    "5 minutes for that device and any user; the same one is handed out again while it has at least a minute left. "
    "A `sn` or `model_id` WeChat does not accept is 422 `invalid_request` naming the field. With "
    "DEVICE_BINDING_REQUIRED (on outside dev mode) only a user bound to the device gets it (403 `forbidden` "
    "otherwise), and the hand-out is recorded: the device popup's report is believed only from a user handed the "
    "ticket within its lifetime.": (
        "把它作为 `snTicket` 传给 `wx.requestSubscribeDeviceMessage`，并带上相同的 `modelId` 和 `sn`。一个 ticket "
        "对该设备和任何用户有效 5 分钟；只要还剩至少一分钟，就会再次发出同一个。微信不接受的 `sn` 或 `model_id` 返回 "
        "422 `invalid_request`，并指出该字段。"
        "开启 DEVICE_BINDING_REQUIRED（开发模式以外默认开启）时，只有绑定了该设备的用户才能拿到它"
        "（否则 403 `forbidden`），并且每次发放都会记录："
        "只有在 ticket 有效期内拿到过它的用户，其设备弹窗上报才被采信。"
    ),
    # Device bindings: PUT/DELETE/GET /api/v1/devices/{model_id}/{sn}/users, codes, POST /api/v1/me/devices
    "A single-use code that binds the device to whoever redeems it in the mini program.": (
        "一次性的绑定码：在小程序中兑换它的人即与该设备绑定。"
    ),
    "Print it as the device's QR code, or show it in the business app to the person setting the device up. It is "
    "shown once; only its hash is kept.": (
        "把它印成设备上的二维码，或在业务 App 中展示给正在安装设备的人。它只显示一次；服务器只保存它的哈希。"
    ),
    "The users bound to a device, oldest binding first (in each app the key may act for).": (
        "绑定了该设备的用户，最早的绑定在前（在该密钥可操作的每个小程序内）。"
    ),
    "Bind a user to a device: they may then follow it (its sn_ticket, its popup, its messages).": (
        "把用户与设备绑定：之后该用户可以关注它（它的 sn_ticket、订阅弹窗和消息）。"
    ),
    "Idempotent: binding a bound user answers the same binding. The device belongs to the user's mini program.": (
        "幂等：再次绑定已绑定的用户，返回同一个绑定。设备属于该用户所在的小程序。"
    ),
    "Unbind a user from a device and revoke their device subscriptions for it.": (
        "解除用户与设备的绑定，并撤销该用户对该设备的设备订阅。"
    ),
    "They get no more of its messages; nothing happens when they were not bound.": (
        "该用户不再收到该设备的消息；原本未绑定时不做任何事。"
    ),
    "Redeem a device binding code: the logged-in user is bound to the code's device.": (
        "兑换设备绑定码：当前登录的用户与绑定码对应的设备绑定。"
    ),
    # Personal data: DELETE /api/v1/users/{user_id}, GET …/export, DELETE /api/v1/me, GET /api/v1/me/export
    "Erase the person (PIPL art. 47): nothing of theirs stays in any table.": (
        "删除此人（《个人信息保护法》第 47 条）：任何表中都不再留有其个人信息。"
    ),
    "Their pending and scheduled messages are canceled, their session tokens stop working, and a `user.erased` "
    "webhook carries their external_id. Erasing again answers the same, and changes nothing.": (
        "其待发送和定时的消息被取消，会话 token 失效，并由 `user.erased` webhook 带上其 external_id。"
        "再次删除返回相同的应答，不做任何改动。"
    ),
    "Everything held about the person, as one JSON document (PIPL art. 45).": (
        "以一个 JSON 文档给出后端保存的此人全部信息（《个人信息保护法》第 45 条）。"
    ),
    'Erase the logged-in user (the mini program\'s "delete my data").': (
        "删除当前登录的用户（小程序的“删除我的数据”）。"
    ),
    "As `DELETE /api/v1/users/{user_id}` does; their session token stops working with it.": (
        "与 `DELETE /api/v1/users/{user_id}` 相同；其会话 token 随之失效。"
    ),
    'Everything held about the logged-in user (the mini program\'s "my data" page).': (
        "后端保存的当前登录用户的全部信息（小程序的“我的数据”页面）。"
    ),
    # Third-party platforms: /wechat/component/auth, /push/{appid}, /authorize, /authorized
    "The platform's authorization event URL.": "第三方平台的授权事件接收 URL。",
    "It takes `component_verify_ticket`, `authorized`, `updateauthorized` and `unauthorized`. A ticket is kept "
    "until a newer one arrives; an authorization is completed after the answer (`api_query_auth`); `unauthorized` "
    "freezes the app at once.": (
        "它接收 `component_verify_ticket`、`authorized`、`updateauthorized` 和 `unauthorized`。ticket 一直保留到"
        "更新的一个到达；授权在应答之后完成（`api_query_auth`）；`unauthorized` 会立即冻结该小程序。"
    ),
    "The platform's message and event URL for the merchant app `appid` (`$APPID$` at WeChat).": (
        "第三方平台为商家小程序 `appid` 接收消息与事件的 URL（在微信处配置为 `$APPID$`）。"
    ),
    "Its subscribe-message events, which are the authority for its credits. A push for an app this backend "
    "doesn't know is answered `success` and records nothing.": (
        "这里收到的是它的订阅消息事件，它们是其额度的权威来源。本后端不认识的小程序的推送返回 `success`，不做任何记录。"
    ),
    "A merchant's link to authorize the platform.": "商家授权本平台的链接。",
    "302 to WeChat's authorization page for mini programs (`auth_type=2`) with a fresh pre-auth code; WeChat "
    "sends them back to `/wechat/component/authorized`.": (
        "302 跳转到微信的小程序授权页面（`auth_type=2`），带一个新的预授权码；微信随后把商家送回 "
        "`/wechat/component/authorized`。"
    ),
    "Where WeChat sends a merchant after the authorization page.": "商家在授权页面之后被微信送回的地址。",
    "It completes the authorization (as the `authorized` push does) and shows a short page saying so, in the "
    "browser's language.": ("它完成授权（与 `authorized` 推送的作用相同），并以浏览器的语言显示一个简短的说明页面。"),
    # GET /api/v1/me, POST /api/v1/me/binding
    "The logged-in user.": "当前登录的用户。",
    "Redeem a binding code: the logged-in user is bound to the code's external_id.": (
        "兑换绑定码：当前登录的用户与该绑定码的 external_id 绑定。"
    ),
    # GET /api/v1/messages
    "Messages, oldest first, a page at a time.": "消息列表，最早的在前，分页返回。",
    "Operators' view, e.g. `?status=unknown`: messages WeChat may or may not have delivered.": (
        "供运维查看，例如 `?status=unknown`：微信可能已投递、也可能没有投递的消息。"
    ),
    # POST /api/v1/messages
    "Send one subscribe message.": "发送一条订阅消息。",
    "The recipient is exactly one of openid, user_id, external_id or phone_number. Checks, in order: the API key, the "
    "body, the recipient, the template data (against the keyword rules of the template, learnt from WeChat the first "
    "time its id is seen), the user's consent; then exactly one WeChat call per credit spent. With "
    "`Prefer: respond-async` or `send_at` the answer is 202 once the values are checked: the workers deliver it (now, "
    "or at `send_at`), checking consent then; `GET /api/v1/messages/{message_id}` shows the outcome.": (
        "接收者是 openid、user_id、external_id、phone_number 中的恰好一个。依次检查：API key、请求体、接收者、模板数据"
        "（按模板的关键词规则，规则在第一次见到该模板 id 时从微信获取）、用户的授权；"
        "然后每消耗一个额度恰好调用一次微信。"
        "带 `Prefer: respond-async` 或 `send_at` 时，值校验通过后即应答 202：由 worker 投递（立即或在 `send_at`），"
        "届时再检查授权；`GET /api/v1/messages/{message_id}` 显示结果。"
    ),
    # DELETE /api/v1/messages/{message_id}
    "Cancel a scheduled, held or queued message.": "取消一条定时、暂存或排队中的消息。",
    "It becomes `canceled`: it spends no credit and never reaches WeChat, even when its delivery was about to start. "
    "A message being sent or already settled is 409 `not_cancelable`.": (
        "它变为 `canceled`：不消耗额度，也不会到达微信，即使它的投递正要开始。正在发送或已有结果的消息返回 409 "
        "`not_cancelable`。"
    ),
    # GET /api/v1/messages/{message_id}
    "A message's record: its status, errcode and timestamps.": "一条消息的记录：状态、errcode 和时间戳。",
    "The status is one of `scheduled`, `awaiting_consent`, `queued`, `sent`, `failed`, `unknown`, `canceled`.": (
        "状态是 `scheduled`、`awaiting_consent`、`queued`、`sent`、`failed`、`unknown`、`canceled` 之一。"
    ),
    # GET /api/v1/subscriptions
    "Every template the user has reported on, with the credits left.": "用户上报过的每个模板，以及剩余额度。",
    "Device subscriptions (one per template and device) carry `device` and `audio`.": (
        "设备订阅（每个模板和设备一条）带有 `device` 和 `audio`。"
    ),
    # POST /api/v1/subscriptions
    "Report what one `wx.requestSubscribeMessage` popup returned.": (
        "上报一次 `wx.requestSubscribeMessage` 弹窗的结果。"
    ),
    "Each `accept` of a one-time template adds a send credit; `reject` records the choice and keeps earlier credits. "
    "When message push is configured, WeChat's own popup event is the authority for credits and a report only "
    "records the choice. The user comes from the session token. The answer lists the subscriptions of the templates "
    "reported. A device popup (`wx.requestSubscribeDeviceMessage`, at most 3 device templates) is reported with "
    "`device: {model_id, sn}`: each `accept` or `acceptWithAudio` (an accept with a voice reminder, `audio: true`) "
    "subscribes the user on that device until revoked.": (
        "一次性模板的每个 `accept` 增加一个发送额度；`reject` 记录该选择并保留之前的额度。"
        "配置了消息推送时，以微信自己的弹窗事件为额度的依据，上报只记录选择。"
        "用户取自会话 token。应答列出所上报模板的订阅。\n\n"
        "设备弹窗（`wx.requestSubscribeDeviceMessage`，最多 3 个设备模板）带 `device: {model_id, sn}` 上报：每个 "
        "`accept` 或 `acceptWithAudio`（带语音提醒的同意，`audio: true`）让用户在该设备上订阅，直到撤销。"
    ),
    # GET /api/v1/users, /api/v1/users/{user_id}
    "The users matching exactly one filter: none, one, or (a shared phone number) several.": (
        "匹配恰好一个筛选条件的用户：没有、一个，或（共用一个手机号时）多个。"
    ),
    "A user with their external_id, whether they shared a phone number, and their credits per template.": (
        "一个用户：其 external_id、是否提供了手机号，以及每个模板的额度。"
    ),
    'Also their held messages per template (`waiting`), their main switch and "always keep" settings. For '
    "business code to decide before it sends (e.g. fall back to SMS without a credit).": (
        "还有每个模板暂存的消息数（`waiting`）、总开关和“总是保持”设置。供业务代码在发送前做决定"
        "（例如没有额度时改发短信）。"
    ),
    # GET /api/v1/me/prompts, POST /api/v1/me/subscription-settings, GET /api/v1/apps/{appid}/quota
    "The templates the subscribe button should ask for now.": "订阅按钮现在应当请求的模板。",
    "Those with held messages first (oldest first), then the app's `prompt_templates` without a credit, in their "
    "order; at most 5, never one-time and long-term together. None while the main switch is off.": (
        "先是有暂存消息的模板（最早的在前），然后是该小程序 `prompt_templates` 中没有额度的模板，按列出的顺序；"
        "最多 5 个，一次性与长期订阅从不混在一起。总开关关闭时不列出任何模板。"
    ),
    "Report `wx.getSetting({withSubscriptions: true})`'s `subscriptionsSetting`, as it came.": (
        "原样上报 `wx.getSetting({withSubscriptions: true})` 返回的 `subscriptionsSetting`。"
    ),
    'Stored per user and template with the time seen. It never adds a credit: "always keep this choice" only hides '
    "the popup, each one-time message still needs an accept. With `mainSwitch: false` sends to the user are refused "
    "(409 `main_switch_off`, no WeChat call; held sends keep waiting) and `GET /api/v1/me/prompts` lists nothing.": (
        "按用户和模板保存，并记下看到的时间。它从不增加额度：“总是保持以上选择”只是不再弹窗，每条一次性消息仍需一次同意。"
        "`mainSwitch: false` 时，发给该用户的消息被拒绝（409 `main_switch_off`，不请求微信；暂存发送继续等待），"
        "`GET /api/v1/me/prompts` 也不列出任何模板。"
    ),
    "WeChat's daily quota of `subscribe/send` for the app (getApiQuota).": (
        "该小程序 `subscribe/send` 的微信每日额度（getApiQuota）。"
    ),
    "Read from WeChat at most once per 10 minutes across every process; `read_at` says when.": (
        "所有进程合计每 10 分钟最多向微信读取一次；`read_at` 说明读取时间。"
    ),
    # /api/v1/users/{user_id}/external-id
    "Unbind the user's external_id (nothing happens when none is bound).": (
        "解除用户的 external_id 绑定（未绑定时什么也不做）。"
    ),
    "Bind the business system's id to the user: from then on a send may name them by `external_id`.": (
        "把业务系统的 id 绑定到该用户：此后发送时可以用 `external_id` 指定他。"
    ),
    # GET /healthz, GET /metrics
    "Whether the backend, its database and Redis answer.": "后端、它的数据库和 Redis 是否有响应。",
    "Prometheus metrics, counted across all worker processes.": "Prometheus 指标，汇总所有 worker 进程。",
    # /wechat/push
    "WeChat's check of the message-push URL: the `echostr` back when the signature holds.": (
        "微信对消息推送 URL 的校验：签名正确时原样返回 `echostr`。"
    ),
    "A message push from WeChat (plaintext or safe mode, JSON or XML).": (
        "来自微信的消息推送（明文或安全模式，JSON 或 XML）。"
    ),
    "Handles subscribe_msg_popup_event, subscribe_msg_change_event and subscribe_msg_sent_event. With an "
    "EncodingAESKey set, only the ciphertext (`Encrypt` under `msg_signature`) is accepted. A replayed item answers "
    "`success` and changes nothing. Templates the backend does not know yet are looked up at WeChat after the "
    "answer, never while WeChat waits for it.": (
        "处理 subscribe_msg_popup_event、subscribe_msg_change_event 和 subscribe_msg_sent_event。设置了 "
        "EncodingAESKey 时只接受密文（`msg_signature` 下的 `Encrypt`）。重放的条目应答 `success` 且不做任何改动。"
        "后端还不认识的模板在应答之后向微信查询，绝不在微信等待应答时查询。"
    ),
}
