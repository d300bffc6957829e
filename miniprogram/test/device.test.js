/**
 * The device page (pages/device) against the fake backend: opened from a device's QR code,
 * it gets the sn_ticket, asks wx.requestSubscribeDeviceMessage from a tap, reports the result
 * with the device beside it, shows each template's state, and has words for each errCode.
 */

const { createWx } = require('./helpers/wx')
const { createFakeBackend, apiError } = require('./helpers/fake-backend')
const { boot, waitFor, settle, tap, modules } = require('./helpers/harness')

const WASHER = { model_id: 'washer-model-1', sn: 'SN-0001' }
const DONE = 'tmpl-laundry-done'
const FAULT = 'tmpl-washer-fault'

/** The app with the user already bound to the washer, unless `bound: false`. */
function start({ bound = true, ...options } = {}) {
  const backend = createFakeBackend()
  if (bound) backend.bindDevice(WASHER)
  const wx = createWx({ transport: backend.transport, ...options })
  const mp = boot(wx)
  return { backend, wx, mp }
}

async function openDevice(mp, query = WASHER) {
  const page = mp.render('pages/device/index', undefined, query)
  await page.instance.loading
  await waitFor(() => page.instance.data.ticketReady || page.instance.data.notice.text)
  return page
}

/** The rows as the user reads them: "title: state". */
function states(page) {
  return page.instance.data.rows.map((row) => `${row.title}: ${row.stateText}`)
}

const noticeText = (page) => page.instance.data.notice.text
const button = (page) => page.querySelector('.device__button')

describe('opening the page', () => {
  test('gets a ticket for the device of the QR code and shows each template, nothing asked yet', async () => {
    const { backend, wx, mp } = start()
    const page = await openDevice(mp)
    expect(backend.routes('POST /api/v1/devices/sn-ticket')).toHaveLength(1)
    expect(backend.routes('POST /api/v1/devices/sn-ticket')[0].data).toEqual(WASHER)
    expect(backend.routes('POST /api/v1/devices/sn-ticket')[0].header.Authorization).toBe('Bearer token-1')
    expect(page.instance.data.deviceName).toBe('Washing machine · SN-0001')
    expect(states(page)).toEqual(['Laundry done: Not set up', 'Washer fault: Not set up'])
    expect(page.instance.data.label).toBe('Notify me about this device (2)')
    expect(page.dom.textContent).toContain('Laundry done')
    expect(wx.requestSubscribeDeviceMessage).not.toHaveBeenCalled()
  })

  test('shows the subscriptions of this device only, voice reminder included', async () => {
    const { backend, mp } = start()
    backend.setDeviceSubscription(DONE, WASHER, { audio: true })
    backend.setDeviceSubscription(FAULT, { ...WASHER, sn: 'SN-0002' })
    const page = await openDevice(mp)
    expect(states(page)).toEqual(['Laundry done: On, with a voice reminder', 'Washer fault: Not set up'])
    expect(page.instance.data.plan).toEqual([FAULT])
  })

  test('the sn and model_id may come URL-encoded inside q, as from a QR code of a link', async () => {
    const { backend, mp } = start()
    const q = encodeURIComponent('https://example.com/device?model_id=washer-model-1&sn=SN-0001')
    await openDevice(mp, { q })
    expect(backend.routes('POST /api/v1/devices/sn-ticket')[0].data).toEqual(WASHER)
  })

  test.each([
    [{}, 'This page needs a device. Scan the code on your device again.'],
    [{ model_id: 'toaster-1', sn: 'SN-1' }, 'This mini program does not support this device yet.'],
  ])('without a known device (%j) it says so and asks the backend nothing', async (query, words) => {
    const { backend, mp } = start()
    const page = mp.render('pages/device/index', undefined, query)
    await page.instance.loading
    expect(noticeText(page)).toBe(words)
    expect(backend.routes('POST /api/v1/devices/sn-ticket')).toEqual([])
  })

  test("a device WeChat does not recognise (422) gets words, and no retry that can't help", async () => {
    const { backend, mp } = start()
    backend.script('POST /api/v1/devices/sn-ticket', apiError(422, 'invalid_request', 'no', { model_id: 'refused by WeChat' }))
    const page = await openDevice(mp)
    expect(noticeText(page)).toBe('WeChat does not recognise this device. Scan the code on your device again.')
    expect(page.instance.data.notice.action).toBe('')
    expect(page.instance.data.label).toBe('Getting ready…')
  })

  test('Chinese words in a Chinese WeChat', async () => {
    const { mp, wx } = start({ language: 'zh_CN' })
    const page = await openDevice(mp)
    expect(wx.setNavigationBarTitle).toHaveBeenCalledWith({ title: '设备通知' })
    expect(states(page)).toEqual(['洗衣完成提醒: 尚未设置', '设备故障提醒: 尚未设置'])
    expect(page.instance.data.label).toBe('接收该设备的通知（2）')
  })
})

describe('the tap', () => {
  test('asks WeChat with the ticket, reports the answer with the device, and shows the new states', async () => {
    const { backend, wx, mp } = start({
      devicePopup: async () => ({ errMsg: 'requestSubscribeDeviceMessage:ok', [DONE]: 'acceptWithAudio', [FAULT]: 'reject' }),
    })
    const page = await openDevice(mp)
    await tap(button(page), wx)
    await waitFor(() => noticeText(page))

    expect(wx.requestSubscribeDeviceMessage).toHaveBeenCalledTimes(1)
    expect(wx.requestSubscribeDeviceMessage.mock.calls[0][0]).toMatchObject({
      tmplIds: [DONE, FAULT],
      sn: 'SN-0001',
      snTicket: 'ticket-1',
      modelId: 'washer-model-1',
    })
    const [reported] = backend.routes('POST /api/v1/subscriptions')
    expect(reported.data).toEqual({
      results: { errMsg: 'requestSubscribeDeviceMessage:ok', [DONE]: 'acceptWithAudio', [FAULT]: 'reject' },
      scene: 'device',
      device: WASHER,
    })
    expect(reported.header['Idempotency-Key']).toMatch(/^popup-/)
    expect(noticeText(page)).toBe(
      'Subscribed: “Laundry done”. Not subscribed: “Washer fault”. You can change your mind here any time.',
    )
    expect(states(page)).toEqual(['Laundry done: On, with a voice reminder', 'Washer fault: Off'])
    expect(page.instance.data.plan).toEqual([FAULT])
  })

  test('the popup is asked for within the tap itself, before anything asynchronous', async () => {
    const { wx, mp } = start()
    const page = await openDevice(mp)
    wx.gesture = true
    page.instance.onTap()
    expect(wx.requestSubscribeDeviceMessage).toHaveBeenCalledTimes(1)
    wx.gesture = false
    await waitFor(() => noticeText(page))
    expect(noticeText(page)).toBe('Subscribed: “Laundry done”, “Washer fault”.')
  })

  test('every template on: nothing to ask for', async () => {
    const { backend, wx, mp } = start()
    backend.setDeviceSubscription(DONE, WASHER)
    backend.setDeviceSubscription(FAULT, WASHER)
    const page = await openDevice(mp)
    expect(page.instance.data.label).toBe('You are all set')
    await tap(button(page), wx)
    await settle()
    expect(wx.requestSubscribeDeviceMessage).not.toHaveBeenCalled()
  })

  test('a report that cannot reach the backend waits in the outbox and is sent on return', async () => {
    const { backend, wx, mp } = start()
    const page = await openDevice(mp)
    backend.script('POST /api/v1/subscriptions', { errMsg: 'request:fail timeout' })
    await tap(button(page), wx)
    await waitFor(() => noticeText(page))
    expect(noticeText(page)).toContain('will reach our server when you are back online')
    await page.instance.onShow()
    const reports = backend.routes('POST /api/v1/subscriptions')
    expect(reports).toHaveLength(2)
    expect(reports[1].data.device).toEqual(WASHER)
    expect(reports[1].header['Idempotency-Key']).toBe(reports[0].header['Idempotency-Key'])
    expect(states(page)).toEqual(['Laundry done: On', 'Washer fault: On'])
  })

  test.each([19720726, 19720727])('errCode %i: words, and a new ticket for the next tap', async (errCode) => {
    const { backend, wx, mp } = start()
    const page = await openDevice(mp)
    wx.devicePopupError = { errMsg: 'requestSubscribeDeviceMessage:fail', errCode }
    await tap(button(page), wx)
    await waitFor(() => backend.routes('POST /api/v1/devices/sn-ticket').length === 2)
    expect(noticeText(page)).toMatch(/We are getting a new one: tap again in a moment\.$/)
    wx.devicePopupError = null
    await waitFor(() => page.instance.data.ticketReady)
    await tap(button(page), wx)
    await waitFor(() => backend.routes('POST /api/v1/subscriptions').length)
    expect(wx.requestSubscribeDeviceMessage.mock.calls[1][0].snTicket).toBe('ticket-2')
  })

  test('a page left open past the ticket: the tap fetches a new one instead of a popup doomed to 19720727', async () => {
    const { backend, wx, mp } = start()
    const page = await openDevice(mp)
    page.instance.setData({ ticket: { value: 'ticket-1', expiresAt: Date.now() - 1 } })
    await tap(button(page), wx)
    await waitFor(() => page.instance.data.ticketReady)
    expect(wx.requestSubscribeDeviceMessage).not.toHaveBeenCalled()
    expect(backend.routes('POST /api/v1/devices/sn-ticket')).toHaveLength(2)
    expect(noticeText(page)).toBe("This device's pass has expired. We are getting a new one: tap again in a moment.")
  })

  test('a WeChat too old for device popups says so', async () => {
    const { wx, mp } = start()
    delete wx.requestSubscribeDeviceMessage
    const page = await openDevice(mp)
    await tap(button(page), wx)
    await waitFor(() => noticeText(page))
    expect(noticeText(page)).toBe('Please update WeChat to get notifications from this device.')
  })
})

describe('linking the device (device bindings)', () => {
  const CODE = '7KQ2M9XD4HWP'

  test("the QR code's device binding code is redeemed before the ticket is asked for", async () => {
    const { backend, mp } = start({ bound: false })
    backend.addDeviceCode(CODE, WASHER)
    const page = await openDevice(mp, { ...WASHER, code: CODE })
    const order = backend.calls.map((call) => call.route).filter((route) => /me\/devices|sn-ticket/.test(route))
    expect(order).toEqual(['POST /api/v1/me/devices', 'POST /api/v1/devices/sn-ticket'])
    expect(backend.routes('POST /api/v1/me/devices')[0].data).toEqual({ code: CODE })
    expect(page.instance.data.ticketReady).toBe(true)
    expect(page.instance.data.needsBinding).toBe(false)
    expect(noticeText(page)).toBe('')
  })

  test('the code may come inside q, with the device, as from a QR code of a link', async () => {
    const { backend, mp } = start({ bound: false })
    backend.addDeviceCode(CODE, WASHER)
    const q = encodeURIComponent(`https://example.com/device?model_id=washer-model-1&sn=SN-0001&code=${CODE}`)
    const page = await openDevice(mp, { q })
    expect(backend.routes('POST /api/v1/me/devices')[0].data).toEqual({ code: CODE })
    expect(page.instance.data.ticketReady).toBe(true)
  })

  test('a user bound already is not bothered by a used code of the QR code', async () => {
    const { backend, mp } = start() // bound earlier: the QR code's code was used then
    const page = await openDevice(mp, { ...WASHER, code: CODE })
    expect(backend.routes('POST /api/v1/me/devices')).toHaveLength(1)
    expect(page.instance.data.ticketReady).toBe(true)
    expect(noticeText(page)).toBe('')
  })

  test('not bound and no code: the form to link it, no popup possible', async () => {
    const { backend, mp } = start({ bound: false })
    const page = await openDevice(mp)
    expect(backend.routes('POST /api/v1/devices/sn-ticket')).toHaveLength(1)
    expect(page.instance.data.needsBinding).toBe(true)
    expect(page.instance.data.ticketReady).toBe(false)
    expect(noticeText(page)).toBe(
      'This device is not linked to you yet. Scan the code on the device, or type the code that came with it.',
    )
    expect(page.querySelector('.device__code')).toBeTruthy()
    expect(page.instance.data.label).toBe('Getting ready…') // the button stays disabled: no ticket
  })

  test('a code used by someone else: says so, with the form', async () => {
    const { mp } = start({ bound: false })
    const page = await openDevice(mp, { ...WASHER, code: CODE })
    expect(page.instance.data.needsBinding).toBe(true)
    expect(noticeText(page)).toBe(
      'That code is not valid: it may be mistyped, expired or already used. Please ask for a new one.',
    )
  })

  test('scanning the device (wx.scanCode) links it, then the ticket comes and the tap works', async () => {
    const { backend, wx, mp } = start({ bound: false })
    const page = await openDevice(mp)
    backend.addDeviceCode(CODE, WASHER)
    wx.scanResult = `https://example.com/device?model_id=washer-model-1&sn=SN-0001&code=${CODE}`
    await page.instance.onScan()
    expect(wx.scanCode).toHaveBeenCalledTimes(1)
    expect(backend.routes('POST /api/v1/me/devices')[0].data).toEqual({ code: CODE })
    await waitFor(() => page.instance.data.ticketReady)
    expect(page.instance.data.needsBinding).toBe(false)
    expect(noticeText(page)).toBe('This device is linked to you.')
    await tap(button(page), wx)
    await waitFor(() => backend.routes('POST /api/v1/subscriptions').length)
    expect(backend.routes('POST /api/v1/subscriptions')[0].data.device).toEqual(WASHER)
  })

  test('a typed code (any case, with dashes) links it; a closed camera says nothing', async () => {
    const { backend, wx, mp } = start({ bound: false })
    const page = await openDevice(mp)
    wx.scanError = { errMsg: 'scanCode:fail cancel' }
    await page.instance.onScan()
    expect(noticeText(page)).toMatch(/not linked to you yet/)
    backend.addDeviceCode(CODE, WASHER)
    page.instance.onCodeInput({ detail: { value: ' 7kq2-m9xd-4hwp ' } })
    await page.instance.onBind()
    await waitFor(() => page.instance.data.ticketReady)
    expect(backend.routes('POST /api/v1/me/devices')[0].data).toEqual({ code: '7kq2-m9xd-4hwp' })
    expect(page.instance.data.codeInput).toBe('')
  })

  test("another device's code: says so and asks for no ticket", async () => {
    const { backend, mp } = start({ bound: false })
    const page = await openDevice(mp)
    backend.addDeviceCode(CODE, { ...WASHER, sn: 'SN-0002' })
    page.instance.onCodeInput({ detail: { value: CODE } })
    await page.instance.onBind()
    expect(noticeText(page)).toBe('That code belongs to another device. Scan the code on this device.')
    expect(backend.routes('POST /api/v1/devices/sn-ticket')).toHaveLength(1)
    expect(page.instance.data.needsBinding).toBe(true)
  })

  test('too many wrong codes: the wait is said, in Chinese too', async () => {
    const { backend, mp } = start({ bound: false, language: 'zh_CN' })
    const page = await openDevice(mp)
    backend.script('POST /api/v1/me/devices', apiError(429, 'rate_limited', 'too many', { retry_after: 60 }))
    page.instance.onCodeInput({ detail: { value: CODE } })
    await page.instance.onBind()
    expect(noticeText(page)).toBe('错误次数过多，请等一分钟后再试。')
    expect(page.instance.data.words.bind).toBe('绑定设备')
  })
})

describe('words for the device popup', () => {
  function load(language = 'en') {
    const require_ = modules(createWx({ language }))
    return { explain: require_('lib/explain'), errors: require_('lib/errors') }
  }

  test('each 197207xx errCode of docs/wechat.md §11b has its own sentence, in both languages', () => {
    for (const language of ['en', 'zh_CN']) {
      const { explain, errors } = load(language)
      expect(explain.DEVICE_ERRCODES).toEqual([19720726, 19720727, 19720728, 19720736])
      const sentences = explain.DEVICE_ERRCODES.map((code) =>
        explain.describeError(new errors.WxApiError('requestSubscribeDeviceMessage', 'fail', code), 'subscribe'),
      )
      expect(new Set(sentences).size).toBe(sentences.length)
      sentences.forEach((sentence) => expect(sentence).not.toMatch(/error|错误|\{/))
    }
    const { explain } = load('zh_CN')
    expect(explain.deviceError(19720736)).toBe('这些通知不属于该设备，请更新后再试。')
  })

  test('the codes it shares with wx.requestSubscribeMessage mean the same', () => {
    const { explain } = load()
    expect(explain.deviceError(20003)).toBe(explain.subscribeError(20003))
    expect(explain.deviceError('10001')).toBe(explain.subscribeError(10001))
  })
})
