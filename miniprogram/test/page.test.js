/**
 * The page and its components against the fake backend: launch, credits, the subscribe
 * tap, standing choices from wx.getSetting, the phone button.
 */

const { createWx } = require('./helpers/wx')
const { createFakeBackend } = require('./helpers/fake-backend')
const fs = require('fs')
const path = require('path')
const { boot, waitFor, settle, tap, ROOT } = require('./helpers/harness')

function start(options = {}) {
  const backend = createFakeBackend()
  const wx = createWx({ transport: backend.transport, ...options })
  const mp = boot(wx)
  return { backend, wx, mp }
}

async function openPage(mp) {
  const page = mp.render('pages/index/index')
  await page.instance.loading
  await waitFor(() => page.instance.data.loaded || page.instance.data.notice.text)
  return page
}

/** The credit rows as the user reads them: "title: count (note)". */
function creditTexts(page) {
  const list = page.querySelector('#credits')
  return list.instance.data.rows.map((row) => `${row.title}: ${row.countText}${row.note ? ` (${row.note})` : ''}`)
}

function subscribeButton(page) {
  return page.querySelector('#subscribe')
}

function noticeText(page) {
  return page.instance.data.notice.text
}

describe('launch', () => {
  test('logs in silently with wx.login and shows the credits per template', async () => {
    const { backend, wx, mp } = start()
    backend.setSubscription('tmpl-order-shipped', { remaining: 2 })
    const page = await openPage(mp)

    expect(wx.login).toHaveBeenCalledTimes(1)
    expect(backend.calls[0]).toMatchObject({ route: 'POST /api/v1/auth/login', data: { code: 'wx-code-1' } })
    expect(wx.storage.get('wxsub.session')).toContain('token-1')
    expect(wx.getSetting).toHaveBeenCalledWith(expect.objectContaining({ withSubscriptions: true }))
    expect(creditTexts(page)).toEqual(['Order shipped: 2 left', 'Washer fault: None left', 'Bus arrival: Off'])
    expect(page.dom.textContent).toContain('Order shipped')
    expect(page.dom.textContent).toContain('2 left')
    // No popup without a tap.
    expect(wx.requestSubscribeMessage).not.toHaveBeenCalled()
  })

  test('the page title and words follow a Chinese WeChat', async () => {
    const { mp, wx } = start({ language: 'zh_CN' })
    const page = await openPage(mp)
    expect(wx.setNavigationBarTitle).toHaveBeenCalledWith({ title: '消息通知' })
    expect(creditTexts(page)).toEqual(['发货通知: 没有剩余', '洗衣机故障提醒: 没有剩余', '到站提醒: 未开启'])
    expect(subscribeButton(page).instance.data.label).toBe('接收通知（2）')
  })
})

describe('the subscribe tap', () => {
  test('asks only for the one-time templates short of credits, and reports the result as it came', async () => {
    const { backend, wx, mp } = start()
    backend.setSubscription('tmpl-order-shipped', { remaining: 1 })
    const page = await openPage(mp)
    const button = subscribeButton(page)
    expect(button.instance.data.label).toBe('Notify me (1)')

    await tap(button.querySelector('.subscribe__button'), wx)
    await waitFor(() => backend.routes('POST /api/v1/subscriptions').length)
    await waitFor(() => noticeText(page))

    expect(wx.requestSubscribeMessage).toHaveBeenCalledTimes(1)
    expect(wx.requestSubscribeMessage.mock.calls[0][0].tmplIds).toEqual(['tmpl-washer'])
    const [reported] = backend.routes('POST /api/v1/subscriptions')
    expect(reported.data).toEqual({
      results: { errMsg: 'requestSubscribeMessage:ok', 'tmpl-washer': 'accept' },
      scene: 'home',
    })
    expect(reported.header['Idempotency-Key']).toMatch(/^popup-/)
    expect(reported.header.Authorization).toBe('Bearer token-1')
    expect(noticeText(page)).toBe('Subscribed: “Washer fault”.')
    expect(page.instance.data.notice.level).toBe('success')
    expect(creditTexts(page)).toEqual(['Order shipped: 1 left', 'Washer fault: 1 left', 'Bus arrival: Off'])
    // One-time templates are stocked: the next kind (long-term) is offered next, alone.
    expect(button.instance.data.label).toBe('Notify me (1)')
    expect(button.instance.data.plan).toMatchObject({ kind: 'long_term', ids: ['tmpl-bus-arrival'] })
    // The popup may have changed the standing choices: they are read again.
    expect(wx.getSetting.mock.calls.length).toBeGreaterThanOrEqual(2)
  })

  test('the popup is asked for within the tap itself, before anything asynchronous', async () => {
    const { wx, mp } = start()
    const page = await openPage(mp)
    const button = subscribeButton(page)
    wx.gesture = true
    button.instance.onTap()
    // Synchronously: a popup asked for after an await would be refused outside the tap.
    expect(wx.requestSubscribeMessage).toHaveBeenCalledTimes(1)
    wx.gesture = false
    await waitFor(() => noticeText(page))
  })

  test('a refused popup is reported too, and the user reads that nothing was subscribed', async () => {
    const { backend, wx, mp } = start()
    const page = await openPage(mp)
    wx.popupAnswer = 'reject'
    await tap(subscribeButton(page).querySelector('.subscribe__button'), wx)
    await waitFor(() => noticeText(page))
    expect(backend.routes('POST /api/v1/subscriptions')[0].data.results).toEqual({
      errMsg: 'requestSubscribeMessage:ok',
      'tmpl-order-shipped': 'reject',
      'tmpl-washer': 'reject',
    })
    expect(noticeText(page)).toBe(
      'Not subscribed: “Order shipped”, “Washer fault”. You can change your mind here any time.',
    )
    expect(page.instance.data.notice.level).toBe('info')
  })

  test('ban and filter answers get their own words', async () => {
    const { backend, wx, mp } = start({
      popup: async (ids) => ({ errMsg: 'requestSubscribeMessage:ok', [ids[0]]: 'ban', [ids[1]]: 'filter' }),
    })
    const page = await openPage(mp)
    await tap(subscribeButton(page).querySelector('.subscribe__button'), wx)
    await waitFor(() => noticeText(page))
    expect(backend.routes('POST /api/v1/subscriptions')).toHaveLength(1)
    expect(noticeText(page)).toBe(
      'WeChat has blocked “Order shipped” for this mini program. ' +
        '“Washer fault” skipped: another notification has the same title.',
    )
  })

  test('with every credit in stock there is nothing to ask for', async () => {
    const { backend, wx, mp } = start()
    backend.setSubscription('tmpl-order-shipped', { remaining: 3 })
    backend.setSubscription('tmpl-washer', { remaining: 1 })
    backend.setSubscription('tmpl-bus-arrival', { status: 'accept' })
    const page = await openPage(mp)
    const button = subscribeButton(page)
    expect(button.instance.data.label).toBe('You are all set')
    await tap(button.querySelector('.subscribe__button'), wx)
    await settle()
    expect(wx.requestSubscribeMessage).not.toHaveBeenCalled()
  })

  test('"always decline" from wx.getSetting: left out of the popup, and explained in the list', async () => {
    const { wx, mp } = start()
    wx.subscriptionsSetting = { mainSwitch: true, itemSettings: { 'tmpl-order-shipped': 'reject', 'tmpl-washer': 'acceptWithAudio' } }
    const page = await openPage(mp)
    expect(creditTexts(page)).toEqual([
      'Order shipped: None left (You chose “always decline”. To change it, open Settings.)',
      'Washer fault: None left (Always allowed: each tap adds one without asking.)',
      'Bus arrival: Off',
    ])
    await tap(subscribeButton(page).querySelector('.subscribe__button'), wx)
    await waitFor(() => noticeText(page))
    expect(wx.requestSubscribeMessage.mock.calls[0][0].tmplIds).toEqual(['tmpl-washer'])
  })

  test('main switch off: the button opens the settings instead of a popup doomed to 20004', async () => {
    const { wx, mp } = start()
    wx.subscriptionsSetting = { mainSwitch: false, itemSettings: {} }
    const page = await openPage(mp)
    const button = subscribeButton(page)
    expect(button.instance.data.label).toBe('Turn notifications on')
    expect(page.querySelector('#credits').instance.data.switchOffText).toBe(
      'Notifications from this mini program are turned off in WeChat. Turn them on in Settings to get updates.',
    )
    wx.openSetting.mockImplementation(({ complete }) => {
      wx.subscriptionsSetting = { mainSwitch: true, itemSettings: {} }
      setTimeout(() => complete({ errMsg: 'openSetting:ok' }), 0)
    })
    await tap(button.querySelector('.subscribe__button'), wx)
    await waitFor(() => button.instance.data.label === 'Notify me (2)')
    expect(wx.requestSubscribeMessage).not.toHaveBeenCalled()
    expect(wx.openSetting).toHaveBeenCalledWith(expect.objectContaining({ withSubscriptions: true }))
  })

  test('coming back to the page reads the standing choices and credits again', async () => {
    const { backend, wx, mp } = start()
    const page = await openPage(mp)
    backend.setSubscription('tmpl-order-shipped', { remaining: 4 })
    wx.subscriptionsSetting = { mainSwitch: false, itemSettings: {} }
    await page.instance.onShow()
    expect(creditTexts(page)[0]).toBe('Order shipped: 4 left')
    expect(subscribeButton(page).instance.data.label).toBe('Turn notifications on')
  })
})

describe('an expired or revoked session', () => {
  test("the tap's report meets 401, logs in again silently and lands; the user sees only the result", async () => {
    const { backend, wx, mp } = start()
    const page = await openPage(mp)
    backend.revokeTokens()
    await tap(subscribeButton(page).querySelector('.subscribe__button'), wx)
    await waitFor(() => noticeText(page))
    expect(noticeText(page)).toBe('Subscribed: “Order shipped”, “Washer fault”.')
    const reports = backend.routes('POST /api/v1/subscriptions')
    expect(reports.map((call) => call.header.Authorization)).toEqual(['Bearer token-1', 'Bearer token-2'])
    expect(reports[1].header['Idempotency-Key']).toBe(reports[0].header['Idempotency-Key'])
    expect(wx.login).toHaveBeenCalledTimes(2)
    expect(creditTexts(page)).toEqual(['Order shipped: 1 left', 'Washer fault: 1 left', 'Bus arrival: Off'])
  })
})

describe('the phone button', () => {
  function phoneButton(page) {
    return page.querySelector('#phone').querySelector('.phone__button')
  }

  test('sends the event code to /api/v1/auth/phone and shows the number, masked', async () => {
    const { backend, wx, mp } = start()
    const page = await openPage(mp)
    // simulate's built-in <button> keeps no attributes: read the template itself.
    const wxml = fs.readFileSync(path.join(ROOT, 'components/phone-button/phone-button.wxml'), 'utf8')
    expect(wxml).toMatch(/open-type="getPhoneNumber"\s+bindgetphonenumber="onGetPhoneNumber"/)
    await tap(phoneButton(page), wx, 'getphonenumber', {
      detail: { errMsg: 'getPhoneNumber:ok', code: 'phone-code-1' },
    })
    await waitFor(() => page.instance.data.hasPhone)
    expect(backend.routes('POST /api/v1/auth/phone')[0].data).toEqual({ code: 'phone-code-1' })
    expect(noticeText(page)).toBe('Your phone number is linked.')
    await settle()
    expect(page.querySelector('#phone').dom.textContent).toBe('Phone number: 138****1234')
  })
})
