"""Simplified Chinese for every error message the API can answer, keyed by its English template.

A new message is one line here: `"<the English template, exactly as raised>": "<中文>",` with
the same {placeholders}. tests/test_i18n.py names every error class and every raise whose
message is missing.
"""

MESSAGES = {
    # The error classes' own messages (backend/errors.py and the services' ApiError subclasses)
    "The request is invalid.": "请求无效。",
    "Authentication is required.": "需要身份认证。",
    "WeChat rejected the code; get a new one.": "微信拒绝了该 code，请重新获取。",
    "WeChat blocked this user's login.": "微信拦截了该用户的登录。",
    "Not found.": "资源不存在。",
    "No such user.": "用户不存在。",
    "This user was erased.": "该用户的数据已被删除。",
    "The erasure log (ERASURE_LOG) can't be written; nothing was erased.": (
        "无法写入删除日志（ERASURE_LOG）；没有删除任何数据。"
    ),
    "No user with that {kind}.": "没有与该 {kind} 对应的用户。",
    "Several users have that phone number.": "有多个用户使用该手机号。",
    "That external_id is bound to another user.": "该 external_id 已绑定到另一个用户。",
    "The binding code is invalid, expired or already used.": "绑定码无效、已过期或已被使用。",
    "No such app.": "没有这个小程序。",
    "This API key may not act for this app.": "此 API 密钥不能代表这个小程序操作。",
    "Name the app: this API key may act for several apps.": "请指明小程序（appid）：此 API 密钥可代表多个小程序。",
    "Name the app: several apps are configured.": "请指明小程序（appid）：后端配置了多个小程序。",
    "The user has no send credit for this template.": "该用户对此模板没有剩余的发送额度。",
    "WeChat says the user refuses this template.": "微信表示该用户已拒收此模板的消息。",
    "The user switched subscribe messages off in the mini program's settings.": (
        "该用户已在小程序设置中关闭了订阅消息总开关。"
    ),
    "Template data breaks WeChat's rules.": "模板数据不符合微信的规则。",
    "Only a scheduled, queued or held message can be canceled.": "只能取消定时、排队中或等待授权的消息。",
    "WeChat refused the request.": "微信拒绝了该请求。",
    "The merchant app has not authorized this platform for subscribe messages; nothing can be done for it.": (
        "该商家小程序未授权本第三方平台使用订阅消息（已取消授权或未授予权限集 18），无法为其执行任何操作。"
    ),
    "WeChat refused this machine's IP: add this machine's IP to the platform's whitelist.": (
        "微信拒绝了本机 IP：请把本机 IP 加入第三方平台的白名单。"
    ),
    "The platform has no valid component_verify_ticket; WeChat was asked to push one. Try again shortly.": (
        "第三方平台没有有效的 component_verify_ticket，已请求微信重新推送，请稍后重试。"
    ),
    "The merchant app's refresh token is lost; run wx component recover.": (
        "该商家小程序的刷新令牌已丢失，请运行 wx component recover。"
    ),
    "The platform could not complete the authorization: {reason}.": "第三方平台未能完成授权：{reason}。",
    "This Idempotency-Key was used for another request.": "此 Idempotency-Key 已用于另一个请求。",
    "Too many requests; slow down.": "请求过于频繁，请降低频率。",
    "The database does not answer.": "数据库无响应。",
    "A service the backend needs is down; try again later.": "后端依赖的服务暂时不可用，请稍后重试。",
    "WeChat is unavailable; try again later.": "微信暂时不可用，请稍后重试。",
    "WeChat has banned this template; nothing was sent.": "微信已封禁此模板，消息未发送。",
    "An unexpected error occurred.": "发生了意外错误。",
    "A request with this Idempotency-Key is still running.": "使用此 Idempotency-Key 的请求仍在处理中。",
    "WeChat is busy; the message was queued again.": "微信繁忙，消息已重新排队。",
    "The push could not be authenticated.": "无法验证该推送的来源。",
    "The push body could not be read.": "无法解析推送内容。",
    # Authentication (backend/api/guards.py, backend/users/sessions.py, backend/api/admin.py)
    "Send the session token as 'Authorization: Bearer <token>'.": (
        "请以 'Authorization: Bearer <token>' 的形式发送会话令牌。"
    ),
    "Send a valid business API key in X-Api-Key.": "请在 X-Api-Key 中发送有效的业务接口密钥。",
    "The session token has expired; log in again.": "会话令牌已过期，请重新登录。",
    "The session token is invalid.": "会话令牌无效。",
    "The session token was revoked; log in again.": "会话令牌已被吊销，请重新登录。",
    "Log in with the admin password (HTTP Basic, any user name).": "请使用管理员密码登录（HTTP Basic，用户名任意）。",
    # Request bodies (backend/api/guards.py, backend/api/schemas/__init__.py)
    "The request failed validation.": "请求未通过校验。",
    "The body is nested too deeply.": "请求体嵌套层级过深。",
    "The body is not valid Unicode.": "请求体不是有效的 Unicode。",
    "The body must be a JSON object.": "请求体必须是 JSON 对象。",
    # Sending (backend/sending/single.py, validation.py, batches.py, ratelimit.py)
    "No user with that openid or user_id; they must log in or subscribe first.": (
        "没有与该 openid 或 user_id 对应的用户；用户须先登录或订阅。"
    ),
    "Template data breaks WeChat's rules; nothing was sent.": "模板数据不符合微信的规则，消息未发送。",
    "Template data breaks WeChat's rules; nothing was queued.": "模板数据不符合微信的规则，未加入发送队列。",
    "WeChat did not answer after the message was sent; it may have been delivered.": (
        "消息发出后微信没有应答，消息可能已送达。"
    ),
    "WeChat refused the message: {errmsg}": "微信拒绝了该消息：{errmsg}",
    "WeChat's quota is reached; try again later.": "已达到微信接口的调用额度上限，请稍后重试。",
    "More than {limit} requests a minute; try again in {retry_after} s.": (
        "每分钟请求超过 {limit} 次，请在 {retry_after} 秒后重试。"
    ),
    "{count} failed attempts in the last minute; try again in {retry_after} s.": (
        "最近一分钟内已失败 {count} 次，请在 {retry_after} 秒后重试。"
    ),
    # Device messages (backend/consent/sn_tickets.py)
    "WeChat does not accept this device's {field}.": "微信不接受该设备的 {field}。",
    # Device bindings (backend/consent/device_bindings.py)
    "No device of this model_id is bound in this mini program.": "本小程序中没有绑定任何该 model_id 的设备。",
    "You are not bound to this device.": "你没有绑定该设备。",
    "No sn_ticket for this device was handed to you recently: get one before the popup.": (
        "最近没有向你发放该设备的 sn_ticket：请在弹出订阅窗口前先获取。"
    ),
    # Device subscriptions and sends (backend/consent/device_subscriptions.py)
    "This template is not of the kind this endpoint takes.": "该模板的类型不适用于这个接口。",
    "{template_id} is not a device template of this mini program.": "{template_id} 不是本小程序的设备消息模板。",
    "{template_id} is a device template: use POST /api/v1/device-messages.": (
        "{template_id} 是设备消息模板：请使用 POST /api/v1/device-messages。"
    ),
    # Resources (backend/api/messages.py, batches.py)
    "No message with that id.": "没有该 id 的消息。",
    "No batch with that id.": "没有该 id 的批次。",
    # Message push (backend/consent/push.py)
    "The push has no valid timestamp.": "推送没有有效的时间戳。",
    "The push timestamp is more than {max_skew} s from our clock.": (
        "推送的时间戳与本服务器时钟相差超过 {max_skew} 秒。"
    ),
    "The signature does not match.": "签名不匹配。",
    "The msg_signature does not match.": "msg_signature 不匹配。",
    "The encrypted push was refused: {reason}.": "加密推送被拒绝：{reason}。",
    "An encrypted push arrived but WX_ENCODING_AES_KEY is not set.": "收到了加密推送，但未设置 WX_ENCODING_AES_KEY。",
    "The push body is neither JSON nor XML.": "推送内容既不是 JSON 也不是 XML。",
    "XML with a DTD or entities is refused.": "不接受含 DTD 或实体的 XML。",
    "The push body must be an object.": "推送内容必须是一个对象。",
    "WX_ENCODING_AES_KEY is set: a push must carry Encrypt and msg_signature.": (
        "已设置 WX_ENCODING_AES_KEY：推送必须带有 Encrypt 和 msg_signature。"
    ),
    "This signed query came with another body before.": "该签名查询此前已携带过不同的推送内容。",
    "The push body is over {limit} bytes.": "推送内容超过 {limit} 字节。",
    "The push's {field} is not valid.": "推送的 {field} 无效。",
    "The push's {field} is longer than {limit} characters.": "推送的 {field} 超过 {limit} 个字符。",
    "A push lists at most {limit} items.": "一次推送的 List 最多包含 {limit} 项。",
    # Werkzeug's HTTP errors, answered before a view runs (unknown URL, wrong method, body too large...)
    "The browser (or proxy) sent a request that this server could not understand.": "服务器无法理解该请求。",
    "The server could not verify that you are authorized to access the URL requested. You either supplied "
    "the wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the "
    "credentials required.": "服务器无法确认您有权访问所请求的 URL：凭据有误，或客户端未按要求提供凭据。",
    "You don't have the permission to access the requested resource. It is either read-protected or not "
    "readable by the server.": "您无权访问所请求的资源。",
    "The requested URL was not found on the server. If you entered the URL manually please check your "
    "spelling and try again.": "服务器上没有所请求的 URL。如果 URL 是手动输入的，请检查拼写后重试。",
    "The method is not allowed for the requested URL.": "所请求的 URL 不支持该 HTTP 方法。",
    "The resource identified by the request is only capable of generating response entities which have "
    "content characteristics not acceptable according to the accept headers sent in the request.": (
        "所请求的资源无法生成符合请求 Accept 系列头部的响应。"
    ),
    "The server closed the network connection because the browser didn't finish the request within the "
    "specified time.": "客户端未在规定时间内发完请求，服务器已关闭连接。",
    "A conflict happened while processing the request. The resource might have been modified while the "
    "request was being processed.": "处理请求时发生冲突，资源可能在处理期间被修改。",
    "The requested URL is no longer available on this server and there is no forwarding address. If you "
    "followed a link from a foreign page, please contact the author of this page.": (
        "所请求的 URL 在本服务器上已不可用，且没有转发地址。"
    ),
    "A request with this method requires a valid <code>Content-Length</code> header.": (
        "使用该方法的请求必须带有有效的 Content-Length 头部。"
    ),
    "The precondition on the request for the URL failed positive evaluation.": "请求的前提条件不成立。",
    "The data value transmitted exceeds the capacity limit.": "请求体超过了大小上限。",
    "The length of the requested URL exceeds the capacity limit for this server. The request cannot be "
    "processed.": "所请求的 URL 过长，无法处理。",
    "The server does not support the media type transmitted in the request.": "服务器不支持请求所用的媒体类型。",
    "The server cannot provide the requested range.": "服务器无法提供所请求的范围。",
    "The server could not meet the requirements of the Expect header": "服务器无法满足 Expect 头部的要求。",
    "This server is a teapot, not a coffee machine": "本服务器是茶壶，不是咖啡机。",
    "The server is not able to produce a response.": "服务器无法生成响应。",
    "The request was well-formed but was unable to be followed due to semantic errors.": (
        "请求格式正确，但因语义错误无法执行。"
    ),
    "The resource that is being accessed is locked.": "所访问的资源已被锁定。",
    "The method could not be performed on the resource because the requested action depended on another "
    "action and that action failed.": "所依赖的另一项操作失败，无法对该资源执行此方法。",
    'This request is required to be conditional; try using "If-Match" or "If-Unmodified-Since".': (
        "该请求必须是条件请求，请使用 If-Match 或 If-Unmodified-Since。"
    ),
    "This user has exceeded an allotted request count. Try again later.": "请求次数超过了限额，请稍后重试。",
    "One or more header fields exceeds the maximum size.": "有请求头部超过了大小上限。",
    "Unavailable for legal reasons.": "因法律原因不可用。",
    "The server encountered an internal error and was unable to complete your request. Either the server "
    "is overloaded or there is an error in the application.": "服务器内部错误，无法完成请求：服务器过载或应用出错。",
    "The server does not support the action requested by the browser.": "服务器不支持所请求的操作。",
    "The proxy server received an invalid response from an upstream server.": (
        "代理服务器从上游服务器收到了无效的响应。"
    ),
    "The server is temporarily unable to service your request due to maintenance downtime or capacity "
    "problems. Please try again later.": "服务器因维护或容量问题暂时无法处理请求，请稍后重试。",
    "The connection to an upstream server timed out.": "连接上游服务器超时。",
    "The server does not support the HTTP protocol version used in the request.": (
        "服务器不支持请求所用的 HTTP 协议版本。"
    ),
}
