/**
 * lib/subscribe.js: which templates one popup asks for, the popup limits, the report and
 * its outbox, and wx.getSetting's standing choices.
 */

const { createWx } = require('./helpers/wx')
const { createFakeBackend, apiError } = require('./helpers/fake-backend')
const { modules } = require('./helpers/harness')

function setup(wxOptions = {}) {
  const backend = createFakeBackend()
  const wx = createWx({ transport: backend.transport, ...wxOptions })
  wx.enforceGesture = false
  const load = modules(wx)
  return { backend, wx, subscribe: load('lib/subscribe'), load }
}

const T = {
  a: { id: 'tmpl-a', kind: 'one_time', keep: 1, title: 'A' },
  b: { id: 'tmpl-b', kind: 'one_time', keep: 2, title: 'B' },
  long: { id: 'tmpl-long', kind: 'long_term', title: 'L' },
}
const sub = (id, fields) => ({ template_id: id, kind: 'one_time', status: 'accept', remaining: 0, ...fields })
const OPEN = { mainSwitch: true, itemSettings: {} }

describe('planPopup', () => {
  test('one-time templates with fewer credits than `keep` are asked for', () => {
    const { subscribe } = setup()
    const plan = subscribe.planPopup([T.a, T.b], [sub('tmpl-a', { remaining: 1 }), sub('tmpl-b', { remaining: 1 })], OPEN, 5)
    expect(plan).toEqual({ kind: 'one_time', ids: ['tmpl-b'], blocked: null })
  })

  test('one kind per popup: one-time and long-term are never mixed (20002)', () => {
    const { subscribe } = setup()
    expect(subscribe.planPopup([T.long, T.a], [], OPEN, 5)).toEqual({ kind: 'long_term', ids: ['tmpl-long'], blocked: null })
    expect(subscribe.planPopup([T.a, T.long, T.b], [], OPEN, 5).ids).toEqual(['tmpl-a', 'tmpl-b'])
  })

  test("the backend's kind wins over config.js", () => {
    const { subscribe } = setup()
    const plan = subscribe.planPopup([T.a, T.b], [sub('tmpl-a', { kind: 'long_term', status: 'reject', remaining: null })], OPEN, 5)
    expect(plan).toEqual({ kind: 'long_term', ids: ['tmpl-a'], blocked: null })
  })

  test('an accepted long-term template is not asked for again', () => {
    const { subscribe } = setup()
    expect(subscribe.planPopup([T.long], [sub('tmpl-long', { kind: 'long_term', remaining: null })], OPEN, 5).ids).toEqual([])
  })

  test('at most `limit` ids (5 today, 3 on older clients: 20003)', () => {
    const { subscribe } = setup()
    const many = Array.from({ length: 7 }, (_, i) => ({ id: `tmpl-${i}`, kind: 'one_time', title: `${i}` }))
    expect(subscribe.planPopup(many, [], OPEN, 5).ids).toHaveLength(5)
    expect(subscribe.planPopup(many, [], OPEN, 3).ids).toHaveLength(3)
  })

  test('"always decline" and banned templates are left out; "always allow" is kept', () => {
    const { subscribe } = setup()
    const setting = { mainSwitch: true, itemSettings: { 'tmpl-a': 'reject', 'tmpl-b': 'acceptWithAlert' } }
    expect(subscribe.planPopup([T.a, T.b], [], setting, 5).ids).toEqual(['tmpl-b'])
    expect(subscribe.planPopup([T.a, T.b], [sub('tmpl-b', { status: 'ban' })], OPEN, 5).ids).toEqual(['tmpl-a'])
  })

  test('main switch off: nothing to ask, the plan says why', () => {
    const { subscribe } = setup()
    expect(subscribe.planPopup([T.a], [], { mainSwitch: false, itemSettings: {} }, 5)).toEqual({
      kind: null,
      ids: [],
      blocked: 'main_switch_off',
    })
  })

  test('without getSetting (null) every short template is asked for', () => {
    const { subscribe } = setup()
    expect(subscribe.planPopup([T.a, T.b], [], null, 5).ids).toEqual(['tmpl-a', 'tmpl-b'])
  })
})

describe('popupLimit', () => {
  test('5, then 3 after a 20003, then 1', () => {
    const { subscribe } = setup()
    expect(subscribe.popupLimit()).toBe(5)
    subscribe.lowerPopupLimit()
    expect(subscribe.popupLimit()).toBe(3)
    subscribe.lowerPopupLimit()
    expect(subscribe.popupLimit()).toBe(1)
  })

  test('base library 2.4.4 to 2.8.3 takes one id per call', () => {
    expect(setup({ sdkVersion: '2.8.3' }).subscribe.popupLimit()).toBe(1)
    expect(setup({ sdkVersion: '2.8.4' }).subscribe.popupLimit()).toBe(5)
    expect(setup({ sdkVersion: '2.10.0' }).subscribe.popupLimit()).toBe(5)
  })

  test('compareVersions compares numerically', () => {
    const { subscribe } = setup()
    expect(subscribe.compareVersions('2.10.0', '2.8.4')).toBe(1)
    expect(subscribe.compareVersions('2.8', '2.8.0')).toBe(0)
    expect(subscribe.compareVersions('1.9.9', '2.0.0')).toBe(-1)
  })
})

describe('askWeChat', () => {
  test('passes tmplIds and gives the raw success object', async () => {
    const { wx, subscribe } = setup()
    await expect(subscribe.askWeChat(['tmpl-a'])).resolves.toEqual({ errMsg: 'requestSubscribeMessage:ok', 'tmpl-a': 'accept' })
    expect(wx.requestSubscribeMessage.mock.calls[0][0].tmplIds).toEqual(['tmpl-a'])
  })

  test('a fail callback becomes a WxApiError with the errCode', async () => {
    const { wx, subscribe } = setup()
    wx.requestSubscribeMessage.mockImplementation(({ fail }) => fail({ errCode: 20004, errMsg: 'requestSubscribeMessage:fail x' }))
    await expect(subscribe.askWeChat(['tmpl-a'])).rejects.toMatchObject({ kind: 'wx', api: 'requestSubscribeMessage', errCode: 20004 })
  })
})

describe('report and its outbox', () => {
  async function loggedIn(options) {
    const context = setup(options)
    await context.load('lib/request').login()
    return context
  }

  test('forwards the result as it came, errMsg included, with an Idempotency-Key', async () => {
    const { backend, wx, subscribe } = await loggedIn()
    const raw = { errMsg: 'requestSubscribeMessage:ok', 'tmpl-order-shipped': 'accept', 'tmpl-washer': 'reject' }
    const answer = await subscribe.report(raw, 'checkout')
    expect(answer.subscriptions).toHaveLength(2)
    const [call] = backend.routes('POST /api/v1/subscriptions')
    expect(call.data).toEqual({ results: raw, scene: 'checkout' })
    expect(call.header['Idempotency-Key']).toMatch(/^popup-[0-9a-z]+-[0-9a-z]+$/)
    expect(wx.storage.has('wxsub.reportOutbox')).toBe(false)
  })

  test("accepts with a reminder style ('acceptWithAudio', 'acceptWithAlert') are reported as accept", async () => {
    const { backend, subscribe } = await loggedIn()
    await subscribe.report({ errMsg: 'requestSubscribeMessage:ok', 'tmpl-order-shipped': 'acceptWithAudio' })
    expect(backend.routes('POST /api/v1/subscriptions')[0].data.results).toEqual({
      errMsg: 'requestSubscribeMessage:ok',
      'tmpl-order-shipped': 'accept',
    })
  })

  test('each report has its own key; a resend of one keeps it', async () => {
    const { backend, subscribe } = await loggedIn()
    backend.script('POST /api/v1/subscriptions', { errMsg: 'request:fail' })
    await expect(subscribe.report({ errMsg: 'requestSubscribeMessage:ok', 'tmpl-washer': 'accept' })).rejects.toMatchObject({ kind: 'network' })
    await subscribe.report({ errMsg: 'requestSubscribeMessage:ok', 'tmpl-order-shipped': 'accept' })
    expect(await subscribe.flushOutbox()).toBe(1)
    const keys = backend.routes('POST /api/v1/subscriptions').map((call) => call.header['Idempotency-Key'])
    expect(keys).toHaveLength(3)
    expect(keys[2]).toBe(keys[0])
    expect(keys[1]).not.toBe(keys[0])
  })

  test('a report the backend already counted is not counted twice on resend', async () => {
    const { backend, subscribe } = await loggedIn()
    // The backend counted it, but the answer was lost on the way back.
    backend.loseNextAnswer('POST /api/v1/subscriptions')
    await expect(subscribe.report({ errMsg: 'requestSubscribeMessage:ok', 'tmpl-washer': 'accept' })).rejects.toMatchObject({
      kind: 'network',
      timeout: true,
    })
    expect(backend.subs.get('1 tmpl-washer').remaining).toBe(1)
    expect(await subscribe.flushOutbox()).toBe(1)
    expect(await subscribe.flushOutbox()).toBe(0)
    expect(backend.routes('POST /api/v1/subscriptions')).toHaveLength(2)
    expect(backend.subs.get('1 tmpl-washer').remaining).toBe(1)
  })

  test('the outbox drops reports the backend refuses, and those older than the backend keeps keys', async () => {
    const { backend, wx, subscribe } = await loggedIn()
    const old = { key: 'old', body: { results: { 'tmpl-washer': 'accept' }, scene: 'home' }, at: Date.now() - 25 * 3600 * 1000 }
    const bad = { key: 'bad', body: { results: { 'tmpl-washer': 'accept' }, scene: 'home' }, at: Date.now() }
    wx.setStorageSync('wxsub.reportOutbox', [old, bad])
    backend.script('POST /api/v1/subscriptions', apiError(400, 'invalid_request'))
    expect(await subscribe.flushOutbox()).toBe(0)
    expect(backend.routes('POST /api/v1/subscriptions')).toHaveLength(1)
    expect(subscribe.readOutbox()).toEqual([])
  })

  test('a re-login that fails on the way (wx.login offline) keeps the report for later', async () => {
    const { backend, wx, subscribe } = await loggedIn()
    backend.revokeTokens()
    wx.login.mockImplementationOnce(({ fail }) => setTimeout(() => fail({ errMsg: 'login:fail offline' }), 0))
    await expect(subscribe.report({ errMsg: 'requestSubscribeMessage:ok', 'tmpl-washer': 'accept' })).rejects.toMatchObject({
      kind: 'wx',
      api: 'login',
    })
    expect(subscribe.readOutbox()).toHaveLength(1)
    expect(await subscribe.flushOutbox()).toBe(1)
    expect(backend.subs.get('1 tmpl-washer').remaining).toBe(1)
  })

  test('which failures keep a report: all but a refusal of the request itself', () => {
    const { load } = setup()
    const { ApiError, NetworkError, WxApiError, isRetryable } = load('lib/errors')
    expect(isRetryable(new NetworkError('request:fail'))).toBe(true)
    expect(isRetryable(new WxApiError('login', 'login:fail'))).toBe(true)
    ;[401, 408, 409, 429, 500, 502, 503].forEach((status) => expect([status, isRetryable(new ApiError(status, 'x', ''))]).toEqual([status, true]))
    ;[400, 403, 404, 422].forEach((status) => expect([status, isRetryable(new ApiError(status, 'x', ''))]).toEqual([status, false]))
  })

  test('flushing stops at the first report that still cannot be delivered, and keeps it', async () => {
    const { backend, wx, subscribe } = await loggedIn()
    const entry = (key) => ({ key, body: { results: { 'tmpl-washer': 'accept' }, scene: 'home' }, at: Date.now() })
    wx.setStorageSync('wxsub.reportOutbox', [entry('k1'), entry('k2')])
    backend.script('POST /api/v1/subscriptions', apiError(503, 'wechat_unavailable'))
    expect(await subscribe.flushOutbox()).toBe(0)
    expect(subscribe.readOutbox().map((e) => e.key)).toEqual(['k1', 'k2'])
    expect(await subscribe.flushOutbox()).toBe(2)
    expect(subscribe.readOutbox()).toEqual([])
  })
})

describe('readSetting', () => {
  test('reads withSubscriptions: the main switch and the standing choices', async () => {
    const { wx, subscribe } = setup()
    wx.subscriptionsSetting = { mainSwitch: false, itemSettings: { 'tmpl-a': 'reject' } }
    await expect(subscribe.readSetting()).resolves.toEqual({ mainSwitch: false, itemSettings: { 'tmpl-a': 'reject' } })
    expect(wx.getSetting.mock.calls[0][0].withSubscriptions).toBe(true)
  })

  test('no subscriptionsSetting (never asked yet) or a failure: null, unknown', async () => {
    const { wx, subscribe } = setup()
    wx.getSetting.mockImplementationOnce(({ success }) => success({ errMsg: 'getSetting:ok', authSetting: {} }))
    await expect(subscribe.readSetting()).resolves.toBeNull()
    wx.getSetting.mockImplementationOnce(({ fail }) => fail({ errMsg: 'getSetting:fail' }))
    await expect(subscribe.readSetting()).resolves.toBeNull()
  })
})

test('mergeSubscriptions replaces the reported templates and adds new ones', () => {
  const { subscribe } = setup()
  const merged = subscribe.mergeSubscriptions(
    [sub('tmpl-a', { remaining: 1 }), sub('tmpl-b', { remaining: 0 })],
    [sub('tmpl-b', { remaining: 1 }), sub('tmpl-c', { remaining: 1 })],
  )
  expect(merged.map((s) => [s.template_id, s.remaining])).toEqual([['tmpl-a', 1], ['tmpl-b', 1], ['tmpl-c', 1]])
})
