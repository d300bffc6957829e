/**
 * Every failure the user can meet ends in words on the page: each errCode of
 * wx.requestSubscribeMessage (docs/wechat.md §5), log-in and network failures, the
 * backend's error codes, and the phone button's refusals.
 */

const { createWx } = require('./helpers/wx')
const { createFakeBackend, apiError } = require('./helpers/fake-backend')
const { boot, waitFor, settle, tap } = require('./helpers/harness')

/** @param {(wx: any, backend: any) => void} [setup] runs before the launch */
function start(options = {}, setup = () => {}) {
  const backend = createFakeBackend()
  const wx = createWx({ transport: backend.transport, ...options })
  setup(wx, backend)
  const mp = boot(wx)
  return { backend, wx, mp }
}

async function openPage(mp) {
  const page = mp.render('pages/index/index')
  await page.instance.loading
  await waitFor(() => page.instance.data.loaded || page.instance.data.notice.text)
  return page
}

const notice = (page) => page.instance.data.notice

/** Waits for the notice to change from `before`, and returns it. */
async function nextNotice(page, before = '') {
  await waitFor(() => notice(page).text && notice(page).text !== before)
  return notice(page)
}

describe('wx.requestSubscribeMessage errCodes', () => {
  const cases = [
    [10001, 'TmplIds can\'t be empty', 'There is nothing to subscribe to right now.'],
    [10002, 'Request list fail', 'WeChat could not load the notifications. Check your connection and tap again.'],
    [10003, 'Request subscribe fail', 'WeChat could not save your choice because of a network problem. Please tap again.'],
    [10004, 'Invalid template id', 'These notifications cannot be set up right now. Please try again after an update.'],
    [10005, 'Cannot show subscribe message UI', 'WeChat could not show the subscription window. Stay on this page and tap again.'],
    [20001, 'No template data return, verify the template id exist', 'These notifications are no longer available. Please try again after an update.'],
    [20002, 'Templates type must be same', 'These notifications cannot be set up together. Please try again after an update.'],
    [20003, 'Templates count out of max bounds', 'Your WeChat asks for fewer notifications at a time. Please tap again.'],
    [20004, 'The main switch is switched off', 'Notifications from this mini program are turned off in WeChat. Turn them on in Settings to get updates.'],
    [20005, 'This mini program was banned from subscribing messages', 'WeChat has suspended notifications for this mini program. You will not get reminders for now.'],
    [20013, 'Reject DeviceMsg Template', 'This kind of notification cannot be set up here.'],
    [99999, 'something new', 'WeChat could not set up notifications (error 99999). Please try again later.'],
  ]

  test.each(cases)('%i (%s) has its own words, and nothing is reported', async (errCode, errMsg, words) => {
    const { backend, wx, mp } = start()
    wx.requestSubscribeMessage.mockImplementation(({ fail }) => {
      setTimeout(() => fail({ errCode, errMsg: `requestSubscribeMessage:fail ${errMsg}` }), 0)
    })
    const page = await openPage(mp)
    await tap(page.querySelector('#subscribe').querySelector('.subscribe__button'), wx)
    const shown = await nextNotice(page)
    expect(shown.text).toBe(words)
    expect(shown.level).toBe('error')
    expect(backend.routes('POST /api/v1/subscriptions')).toHaveLength(0)
    // The button is usable again.
    expect(page.querySelector('#subscribe').instance.data.busy).toBe(false)
  })

  test('20004 offers the settings page, opened from the notice button within its tap', async () => {
    const { wx, mp } = start()
    wx.requestSubscribeMessage.mockImplementation(({ fail }) => {
      setTimeout(() => fail({ errCode: 20004, errMsg: 'requestSubscribeMessage:fail The main switch is switched off' }), 0)
    })
    const page = await openPage(mp)
    await tap(page.querySelector('#subscribe').querySelector('.subscribe__button'), wx)
    const shown = await nextNotice(page)
    expect(shown.actionLabel).toBe('Open settings')
    await tap(page.querySelector('#notice').querySelector('.notice__action'), wx)
    await waitFor(() => wx.openSetting.mock.calls.length)
    // The fake refuses openSetting outside a tap: no failure means it came within it.
    expect(wx.openSetting.mock.calls[0][0].withSubscriptions).toBe(true)
    await settle()
    expect(notice(page).text).toBe('')
  })

  test('20003 lowers the number of templates asked for on the next tap', async () => {
    const { wx, mp } = start()
    const subscribe = mp.module('lib/subscribe')
    expect(subscribe.popupLimit()).toBe(5)
    wx.requestSubscribeMessage.mockImplementationOnce(({ fail }) => {
      setTimeout(() => fail({ errCode: 20003, errMsg: 'requestSubscribeMessage:fail Templates count out of max bounds' }), 0)
    })
    const page = await openPage(mp)
    await tap(page.querySelector('#subscribe').querySelector('.subscribe__button'), wx)
    await nextNotice(page)
    expect(subscribe.popupLimit()).toBe(3)
  })

  test('a WeChat without the API (base library < 2.4.4) is asked to update', async () => {
    const { wx, mp } = start()
    delete wx.requestSubscribeMessage
    const page = await openPage(mp)
    await tap(page.querySelector('#subscribe').querySelector('.subscribe__button'), wx)
    expect((await nextNotice(page)).text).toBe('Please update WeChat to subscribe to notifications.')
  })
})

describe('reporting the popup result fails', () => {
  async function tapWithReportAnswer(answer) {
    const context = start()
    context.backend.script('POST /api/v1/subscriptions', answer)
    const page = await openPage(context.mp)
    await tap(page.querySelector('#subscribe').querySelector('.subscribe__button'), context.wx)
    await nextNotice(page)
    return { ...context, page }
  }

  test('offline: the choice is kept on the phone and sent, with the same key, when the page shows again', async () => {
    const { backend, wx, page } = await tapWithReportAnswer({ errMsg: 'request:fail net::ERR_INTERNET_DISCONNECTED' })
    expect(notice(page).text).toBe(
      'Subscribed: “Order shipped”, “Washer fault”. ' +
        'Your choice is saved on this phone and will reach our server when you are back online.',
    )
    const outbox = JSON.parse(wx.storage.get('wxsub.reportOutbox'))
    expect(outbox).toHaveLength(1)

    await page.instance.onShow()
    const reports = backend.routes('POST /api/v1/subscriptions')
    expect(reports).toHaveLength(2)
    expect(reports[1].header['Idempotency-Key']).toBe(reports[0].header['Idempotency-Key'])
    expect(reports[1].data).toEqual(reports[0].data)
    expect(wx.storage.has('wxsub.reportOutbox')).toBe(false)
    const rows = page.querySelector('#credits').instance.data.rows
    expect(rows.map((row) => row.countText)).toEqual(['1 left', '1 left', 'Off'])
  })

  test('the backend is overloaded (429): kept for later, with the same words', async () => {
    const { wx, page } = await tapWithReportAnswer(apiError(429, 'rate_limited'))
    expect(notice(page).text).toContain('Your choice is saved on this phone')
    expect(JSON.parse(wx.storage.get('wxsub.reportOutbox'))).toHaveLength(1)
  })

  test('the backend refuses the report (400): said so, and not kept', async () => {
    const { wx, page } = await tapWithReportAnswer(apiError(400, 'invalid_request', 'bad', { results: 'x' }))
    expect(notice(page).text).toBe('The request was not accepted. Please update the mini program and try again.')
    expect(notice(page).level).toBe('error')
    expect(wx.storage.has('wxsub.reportOutbox')).toBe(false)
  })

  test('idempotency_conflict', async () => {
    const { page } = await tapWithReportAnswer(apiError(422, 'idempotency_conflict'))
    expect(notice(page).text).toBe('This clashed with an earlier attempt. Please try again.')
  })
})

describe('log-in failures', () => {
  test('wx.login fails: words and a "Try again" that logs in', async () => {
    const { wx, mp } = start({}, (wx) =>
      wx.login.mockImplementationOnce(({ fail }) => setTimeout(() => fail({ errMsg: 'login:fail timeout' }), 0)),
    )
    const page = await openPage(mp)
    expect(notice(page)).toMatchObject({
      level: 'error',
      text: 'WeChat sign-in did not work. Check your connection and try again.',
      actionLabel: 'Try again',
    })
    expect(page.instance.data.ready).toBe(false)
    await tap(page.querySelector('#notice').querySelector('.notice__action'), wx)
    await waitFor(() => page.instance.data.loaded)
    expect(wx.login).toHaveBeenCalledTimes(2)
    expect(notice(page).text).toBe('')
  })

  const backendCases = [
    ['a code WeChat rejects twice', () => apiError(401, 'wechat_code_invalid'), 'WeChat did not accept the sign-in. Please try again.'],
    ['a blocked user', () => apiError(403, 'wechat_user_blocked'), 'WeChat has restricted this account, so it cannot sign in here.'],
    ['WeChat down', () => apiError(503, 'wechat_unavailable'), 'WeChat is not responding right now. Please try again in a moment.'],
    ['too many log-ins', () => apiError(429, 'rate_limited'), 'Too many requests right now. Please wait a moment and try again.'],
    ['a proxy error page', () => ({ statusCode: 502, data: '<html>Bad Gateway</html>' }), 'Our server had a problem. Please try again later.'],
    ['no network', () => ({ errMsg: 'request:fail net::ERR_NAME_NOT_RESOLVED' }), 'Cannot reach our server. Check your connection and try again.'],
    ['a time-out', () => ({ errMsg: 'request:fail timeout' }), 'Our server took too long to answer. Please try again.'],
  ]

  test.each(backendCases)('%s', async (_name, answer, words) => {
    const { mp } = start({}, (_wx, backend) => backend.script('POST /api/v1/auth/login', answer(), answer()))
    const page = await openPage(mp)
    expect(notice(page)).toMatchObject({ level: 'error', text: words, actionLabel: 'Try again' })
  })

  test('a rejected code is retried once with a fresh wx.login code before the user hears of it', async () => {
    const { backend, wx, mp } = start({}, (_wx, backend) =>
      backend.script('POST /api/v1/auth/login', apiError(401, 'wechat_code_invalid')),
    )
    const page = await openPage(mp)
    expect(page.instance.data.loaded).toBe(true)
    expect(notice(page).text).toBe('')
    expect(wx.login).toHaveBeenCalledTimes(2)
    expect(backend.routes('POST /api/v1/auth/login').map((call) => call.data.code)).toEqual(['wx-code-1', 'wx-code-2'])
  })

  test('loading the credits fails: words and a "Try again" that reloads', async () => {
    const { wx, mp } = start({}, (_wx, backend) =>
      backend.script('GET /api/v1/subscriptions', apiError(500, 'internal_server_error')),
    )
    const page = await openPage(mp)
    expect(notice(page)).toMatchObject({ text: 'Our server had a problem. Please try again later.', actionLabel: 'Try again' })
    await tap(page.querySelector('#notice').querySelector('.notice__action'), wx)
    await waitFor(() => page.instance.data.loaded)
  })
})

describe('phone button refusals and failures', () => {
  async function phoneEvent(detail, backendAnswer) {
    const context = start()
    if (backendAnswer) context.backend.script('POST /api/v1/auth/phone', backendAnswer)
    const page = await openPage(context.mp)
    await tap(page.querySelector('#phone').querySelector('.phone__button'), context.wx, 'getphonenumber', { detail })
    await nextNotice(page)
    return { ...context, page }
  }

  const refusals = [
    ['the user says no', { errMsg: 'getPhoneNumber:fail user deny' }, 'You did not share your phone number. You can do it any time from this page.'],
    ['the user says no (older wording)', { errMsg: 'getPhoneNumber:fail:user deny' }, 'You did not share your phone number. You can do it any time from this page.'],
    ['a client older than 2.21.2 (no code)', { errMsg: 'getPhoneNumber:ok', encryptedData: 'x', iv: 'y' }, 'Please update WeChat to share your phone number.'],
    ['the quota is used up (errno 1400001)', { errMsg: 'getPhoneNumber:fail', errno: 1400001 }, 'Sharing a phone number is temporarily unavailable. Please try again later.'],
    ['the account may not use it', { errMsg: 'getPhoneNumber:fail no permission' }, 'Sharing a phone number is not available in this mini program right now.'],
    ['anything else', { errMsg: 'getPhoneNumber:fail system error' }, 'WeChat could not share your phone number. Please try again.'],
  ]

  test.each(refusals)('%s: words, and nothing sent', async (_name, detail, words) => {
    const { backend, page } = await phoneEvent(detail)
    expect(notice(page).text).toBe(words)
    expect(backend.routes('POST /api/v1/auth/phone')).toHaveLength(0)
  })

  test('the backend says the phone code is invalid: no re-login, ask to tap again', async () => {
    const { wx, page } = await phoneEvent(
      { errMsg: 'getPhoneNumber:ok', code: 'stale' },
      apiError(401, 'wechat_code_invalid'),
    )
    expect(notice(page).text).toBe('That permission expired before we could use it. Please tap the button again.')
    expect(wx.login).toHaveBeenCalledTimes(1)
    expect(page.instance.data.hasPhone).toBe(false)
  })

  test('WeChat is down while linking the phone', async () => {
    const { page } = await phoneEvent({ errMsg: 'getPhoneNumber:ok', code: 'c' }, apiError(503, 'wechat_unavailable'))
    expect(notice(page).text).toBe('WeChat is not responding right now. Please try again in a moment.')
  })

  test('no network while linking the phone', async () => {
    const { page } = await phoneEvent({ errMsg: 'getPhoneNumber:ok', code: 'c' }, { errMsg: 'request:fail' })
    expect(notice(page).text).toBe('Cannot reach our server. Check your connection and try again.')
  })
})
