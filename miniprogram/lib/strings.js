/**
 * Every sentence the user can see, in English and Simplified Chinese. `{name}` marks a
 * value filled in by lib/i18n.js. Both tables have the same keys (a test checks).
 */

const en = {
  pageTitle: 'Notifications',
  signingIn: 'Signing in…',
  retry: 'Try again',
  openSettings: 'Open settings',
  dismiss: 'Close',
  listSeparator: ', ',
  quoted: '“{title}”',

  // Phone number (components/phone-button)
  phoneIntro: 'Share your phone number so that we can reach you about your orders.',
  phoneButton: 'Share my phone number',
  phoneLinked: 'Phone number: {phone}',
  phoneLinkedNotice: 'Your phone number is linked.',
  phoneDenied: 'You did not share your phone number. You can do it any time from this page.',
  phoneUpdateWeChat: 'Please update WeChat to share your phone number.',
  phoneUnavailable: 'Sharing a phone number is not available in this mini program right now.',
  phoneQuota: 'Sharing a phone number is temporarily unavailable. Please try again later.',
  phoneFailed: 'WeChat could not share your phone number. Please try again.',
  phoneCodeInvalid: 'That permission expired before we could use it. Please tap the button again.',

  // Subscriptions (components/subscribe-button, components/credit-list)
  subscribeButton: 'Notify me ({count})',
  subscribeAllSet: 'You are all set',
  subscribeTurnOn: 'Turn notifications on',
  subscribeHint: 'Each time you allow a notification, we may send you one message of that kind.',
  creditsTitle: 'Notifications you will get',
  creditsEmpty: 'No notifications are set up in this mini program.',
  creditsOneTime: 'One-time',
  creditsLongTerm: 'Ongoing',
  creditsLeft: '{count} left',
  creditsNone: 'None left',
  creditsOn: 'On',
  creditsOff: 'Off',
  creditsAlwaysDeclined: 'You chose “always decline”. To change it, open Settings.',
  creditsAlwaysAllowed: 'Always allowed: each tap adds one without asking.',
  creditsBanned: 'Blocked by WeChat.',
  mainSwitchOff:
    'Notifications from this mini program are turned off in WeChat. Turn them on in Settings to get updates.',

  // What the popup returned
  resultAccepted: 'Subscribed: {titles}.',
  resultRejected: 'Not subscribed: {titles}. You can change your mind here any time.',
  resultBanned: 'WeChat has blocked {titles} for this mini program.',
  resultFiltered: '{titles} skipped: another notification has the same title.',
  resultQueued: 'Your choice is saved on this phone and will reach our server when you are back online.',

  // wx.requestSubscribeMessage errCodes (docs/wechat.md §5)
  sub10001: 'There is nothing to subscribe to right now.',
  sub10002: 'WeChat could not load the notifications. Check your connection and tap again.',
  sub10003: 'WeChat could not save your choice because of a network problem. Please tap again.',
  sub10004: 'These notifications cannot be set up right now. Please try again after an update.',
  sub10005: 'WeChat could not show the subscription window. Stay on this page and tap again.',
  sub20001: 'These notifications are no longer available. Please try again after an update.',
  sub20002: 'These notifications cannot be set up together. Please try again after an update.',
  sub20003: 'Your WeChat asks for fewer notifications at a time. Please tap again.',
  sub20004:
    'Notifications from this mini program are turned off in WeChat. Turn them on in Settings to get updates.',
  sub20005: 'WeChat has suspended notifications for this mini program. You will not get reminders for now.',
  sub20013: 'This kind of notification cannot be set up here.',
  subUnsupported: 'Please update WeChat to subscribe to notifications.',
  subUnknown: 'WeChat could not set up notifications (error {code}). Please try again later.',

  // Signing in
  loginWx: 'WeChat sign-in did not work. Check your connection and try again.',
  loginCodeInvalid: 'WeChat did not accept the sign-in. Please try again.',
  loginBlocked: 'WeChat has restricted this account, so it cannot sign in here.',

  // Network
  netOffline: 'Cannot reach our server. Check your connection and try again.',
  netTimeout: 'Our server took too long to answer. Please try again.',

  // The backend's error codes (docs/api.md, "Errors")
  api_invalid_request: 'The request was not accepted. Please update the mini program and try again.',
  api_unauthorized: 'Your session has ended. Please close and reopen the mini program.',
  api_wechat_code_invalid: 'WeChat did not accept the request. Please try again.',
  api_wechat_user_blocked: 'WeChat has restricted this account, so it cannot sign in here.',
  api_user_not_found: 'We could not find your account. Please close and reopen the mini program.',
  api_not_found: 'That could not be found. Please update the mini program.',
  api_consent_required: 'You have no notifications of this kind left. Subscribe again to get the next one.',
  api_consent_revoked: 'You turned these notifications off in WeChat.',
  api_invalid_template_data: 'The notification could not be prepared. We are looking into it.',
  api_wechat_rejected: 'WeChat refused the request. Please try again later.',
  api_idempotency_conflict: 'This clashed with an earlier attempt. Please try again.',
  api_idempotency_in_progress: 'Your previous attempt is still being saved. Please wait a moment.',
  api_rate_limited: 'Too many requests right now. Please wait a moment and try again.',
  api_wechat_unavailable: 'WeChat is not responding right now. Please try again in a moment.',
  api_server_error: 'Our server had a problem. Please try again later.',
  api_unknown: 'Something went wrong ({code}). Please try again later.',
}

/** @type {typeof en} */
const zh_CN = {
  pageTitle: '消息通知',
  signingIn: '正在登录…',
  retry: '重试',
  openSettings: '去设置',
  dismiss: '关闭',
  listSeparator: '、',
  quoted: '“{title}”',

  phoneIntro: '绑定手机号，方便我们就订单与您联系。',
  phoneButton: '授权手机号',
  phoneLinked: '手机号：{phone}',
  phoneLinkedNotice: '手机号已绑定。',
  phoneDenied: '您没有授权手机号。之后可随时在本页授权。',
  phoneUpdateWeChat: '请升级微信后再授权手机号。',
  phoneUnavailable: '本小程序暂不支持授权手机号。',
  phoneQuota: '手机号授权暂时不可用，请稍后再试。',
  phoneFailed: '微信未能提供手机号，请重试。',
  phoneCodeInvalid: '授权已过期，请再点一次按钮。',

  subscribeButton: '接收通知（{count}）',
  subscribeAllSet: '已全部订阅',
  subscribeTurnOn: '开启通知',
  subscribeHint: '每允许一次，我们可以向您发送一条该类通知。',
  creditsTitle: '您将收到的通知',
  creditsEmpty: '本小程序尚未设置通知。',
  creditsOneTime: '一次性',
  creditsLongTerm: '长期',
  creditsLeft: '剩余 {count} 条',
  creditsNone: '没有剩余',
  creditsOn: '已开启',
  creditsOff: '未开启',
  creditsAlwaysDeclined: '您选择了“总是拒绝”。如需更改，请前往设置。',
  creditsAlwaysAllowed: '已设为总是允许：每点一次增加一条，不再询问。',
  creditsBanned: '已被微信屏蔽。',
  mainSwitchOff: '您已在微信中关闭本小程序的通知。如需接收，请在设置中开启。',

  resultAccepted: '订阅成功：{titles}。',
  resultRejected: '未订阅：{titles}。之后可随时在本页重新订阅。',
  resultBanned: '微信已屏蔽本小程序的{titles}。',
  resultFiltered: '已跳过{titles}：与另一条通知标题相同。',
  resultQueued: '您的选择已保存在手机上，联网后会自动提交。',

  sub10001: '当前没有可订阅的通知。',
  sub10002: '微信未能加载通知列表，请检查网络后再点一次。',
  sub10003: '网络问题导致微信未能保存您的选择，请再点一次。',
  sub10004: '暂时无法设置这些通知，请更新后再试。',
  sub10005: '微信未能弹出订阅窗口，请停留在本页再点一次。',
  sub20001: '这些通知已不可用，请更新后再试。',
  sub20002: '这些通知不能同时订阅，请更新后再试。',
  sub20003: '您的微信版本一次只能订阅较少的通知，请再点一次。',
  sub20004: '您已在微信中关闭本小程序的通知。如需接收，请在设置中开启。',
  sub20005: '微信已暂停本小程序的订阅消息，暂时无法接收提醒。',
  sub20013: '此类通知不能在这里订阅。',
  subUnsupported: '请升级微信后再订阅通知。',
  subUnknown: '微信未能设置通知（错误 {code}），请稍后再试。',

  loginWx: '微信登录失败，请检查网络后重试。',
  loginCodeInvalid: '微信未接受本次登录，请重试。',
  loginBlocked: '微信已限制此账号，无法在此登录。',

  netOffline: '无法连接服务器，请检查网络后重试。',
  netTimeout: '服务器响应超时，请重试。',

  api_invalid_request: '请求未被接受，请更新小程序后重试。',
  api_unauthorized: '登录已失效，请关闭并重新打开小程序。',
  api_wechat_code_invalid: '微信未接受本次请求，请重试。',
  api_wechat_user_blocked: '微信已限制此账号，无法在此登录。',
  api_user_not_found: '找不到您的账号，请关闭并重新打开小程序。',
  api_not_found: '未找到相关内容，请更新小程序。',
  api_consent_required: '此类通知已没有剩余，请重新订阅以接收下一条。',
  api_consent_revoked: '您已在微信中关闭此类通知。',
  api_invalid_template_data: '通知内容生成失败，我们正在处理。',
  api_wechat_rejected: '微信拒绝了本次请求，请稍后再试。',
  api_idempotency_conflict: '与之前的操作冲突，请重试。',
  api_idempotency_in_progress: '上一次操作仍在保存中，请稍候。',
  api_rate_limited: '请求过于频繁，请稍后再试。',
  api_wechat_unavailable: '微信暂时无响应，请稍后再试。',
  api_server_error: '服务器出现问题，请稍后再试。',
  api_unknown: '出现问题（{code}），请稍后再试。',
}

module.exports = { en, zh_CN }
