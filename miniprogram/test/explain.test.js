/**
 * lib/explain.js and lib/strings.js: words for every backend error code, every
 * requestSubscribeMessage errCode, and both languages complete.
 */

const { createWx } = require('./helpers/wx')
const { modules } = require('./helpers/harness')
const strings = require('../lib/strings')

function load(language = 'en') {
  const require_ = modules(createWx({ language }))
  return { explain: require_('lib/explain'), errors: require_('lib/errors'), i18n: require_('lib/i18n') }
}

describe("the backend's error codes (docs/api.md)", () => {
  const cases = [
    ['invalid_request', 400, 'The request was not accepted. Please update the mini program and try again.'],
    ['unauthorized', 401, 'Your session has ended. Please close and reopen the mini program.'],
    ['wechat_code_invalid', 401, 'WeChat did not accept the request. Please try again.'],
    ['wechat_user_blocked', 403, 'WeChat has restricted this account, so it cannot sign in here.'],
    ['user_not_found', 404, 'We could not find your account. Please close and reopen the mini program.'],
    ['not_found', 404, 'That could not be found. Please update the mini program.'],
    ['consent_required', 409, 'You have no notifications of this kind left. Subscribe again to get the next one.'],
    ['consent_revoked', 409, 'You turned these notifications off in WeChat.'],
    ['invalid_template_data', 422, 'The notification could not be prepared. We are looking into it.'],
    ['wechat_rejected', 422, 'WeChat refused the request. Please try again later.'],
    ['idempotency_conflict', 422, 'This clashed with an earlier attempt. Please try again.'],
    ['idempotency_in_progress', 409, 'Your previous attempt is still being saved. Please wait a moment.'],
    ['rate_limited', 429, 'Too many requests right now. Please wait a moment and try again.'],
    ['wechat_unavailable', 503, 'WeChat is not responding right now. Please try again in a moment.'],
    ['wechat_unavailable', 502, 'WeChat is not responding right now. Please try again in a moment.'],
    ['server_error', 502, 'Our server had a problem. Please try again later.'],
    ['internal_server_error', 500, 'Our server had a problem. Please try again later.'],
    ['something_new', 418, 'Something went wrong (something_new). Please try again later.'],
  ]

  test.each(cases)('%s (%i)', (code, status, words) => {
    const { explain, errors } = load()
    expect(explain.describeError(new errors.ApiError(status, code, 'backend words'), 'load')).toBe(words)
  })

  test('a code means what the user was doing', () => {
    const { explain, errors } = load()
    const invalid = new errors.ApiError(401, 'wechat_code_invalid', '')
    expect(explain.describeError(invalid, 'login')).toBe('WeChat did not accept the sign-in. Please try again.')
    expect(explain.describeError(invalid, 'phone')).toBe(
      'That permission expired before we could use it. Please tap the button again.',
    )
  })
})

test('network failures and failed wx calls', () => {
  const { explain, errors } = load()
  expect(explain.describeError(new errors.NetworkError('request:fail timeout'), 'load')).toBe(
    'Our server took too long to answer. Please try again.',
  )
  expect(explain.describeError(new errors.NetworkError('request:fail'), 'load')).toBe(
    'Cannot reach our server. Check your connection and try again.',
  )
  expect(explain.describeError(new errors.WxApiError('login', 'login:fail'), 'login')).toBe(
    'WeChat sign-in did not work. Check your connection and try again.',
  )
  expect(explain.describeError(new errors.WxApiError('requestSubscribeMessage', 'x', 20005), 'subscribe')).toBe(
    'WeChat has suspended notifications for this mini program. You will not get reminders for now.',
  )
  expect(explain.describeError(new Error('boom'), 'load')).toBe('Something went wrong (boom). Please try again later.')
})

test('every requestSubscribeMessage errCode of docs/wechat.md §5 has its own sentence', () => {
  const { explain } = load()
  const sentences = explain.SUBSCRIBE_ERRCODES.map((code) => explain.subscribeError(code))
  expect(explain.SUBSCRIBE_ERRCODES).toEqual([10001, 10002, 10003, 10004, 10005, 20001, 20002, 20003, 20004, 20005, 20013])
  expect(new Set(sentences).size).toBe(sentences.length)
  sentences.forEach((sentence) => expect(sentence).not.toMatch(/error \d+|\{/))
  expect(explain.subscribeError('20004')).toBe(explain.subscribeError(20004))
  expect(explain.subscribeError(undefined)).toBe('WeChat could not set up notifications (error ?). Please try again later.')
})

test('popup results in words, in Chinese too', () => {
  const templates = [
    { id: 't1', title: { en: 'Order shipped', zh_CN: '发货通知' } },
    { id: 't2', title: { en: 'Washer fault', zh_CN: '洗衣机故障提醒' } },
  ]
  const results = { errMsg: 'requestSubscribeMessage:ok', t1: 'accept', t2: 'reject', t3: 'filter' }
  expect(load().explain.describeResults(results, templates)).toEqual([
    'Subscribed: “Order shipped”.',
    'Not subscribed: “Washer fault”. You can change your mind here any time.',
    '“t3” skipped: another notification has the same title.',
  ])
  expect(load('zh_CN').explain.describeResults(results, templates)).toEqual([
    '订阅成功：“发货通知”。',
    '未订阅：“洗衣机故障提醒”。之后可随时在本页重新订阅。',
    '已跳过“t3”：与另一条通知标题相同。',
  ])
})

test('both languages have every sentence, with the same placeholders', () => {
  expect(Object.keys(strings.zh_CN).sort()).toEqual(Object.keys(strings.en).sort())
  const placeholders = (text) => (text.match(/\{\w+\}/g) || []).sort()
  Object.keys(strings.en).forEach((key) => {
    expect([key, placeholders(strings.zh_CN[key])]).toEqual([key, placeholders(strings.en[key])])
    expect(strings.zh_CN[key]).toBeTruthy()
  })
})

test('language: zh* is Chinese, anything else English; older clients use getSystemInfoSync', () => {
  expect(load('zh_TW').i18n.currentLanguage()).toBe('zh_CN')
  expect(load('en_US').i18n.currentLanguage()).toBe('en')
  const wx = createWx({ language: 'zh_CN' })
  delete wx.getAppBaseInfo
  expect(modules(wx)('lib/i18n').currentLanguage()).toBe('zh_CN')
})
