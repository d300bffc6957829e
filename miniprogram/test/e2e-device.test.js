/**
 * End to end for device messages (docs/wechat.md §11), as test/e2e.test.js: the mini program
 * in jest with wx.request bridged to real HTTP, against the backend under gunicorn and the
 * repository's WeChat emulator. The device popup is the emulator's: it checks the ticket the
 * page got from the backend, as the phone would.
 *
 * The backend requires device bindings, as outside dev mode: the device's QR code carries a
 * device binding code the business issued, which the page redeems before asking for a ticket.
 *
 * a neighbour without the code is refused the ticket → open the device page from its QR code
 * → the code binds the user → a ticket → tap → the device popup (the user accepts, one with a
 * voice reminder) → the report with the device → the states on the page → the device's server
 * sends to its subscribers (the neighbour's forged report reaches nobody) → the user cancels
 * one in WeChat → 43101 revokes that one → the page shows it off → the business unbinds the
 * user: nothing more reaches them.
 */

const crypto = require('crypto')
const { createWx } = require('./helpers/wx')
const { boot, waitFor, tap } = require('./helpers/harness')
const { startEmulator, startBackend, httpJson } = require('./helpers/servers')

const DEV_APPID = 'wxd0000000000e0001'

jest.setTimeout(120000)

const OPENID = 'oE2eDevice000000000000000001'
const NEIGHBOUR = 'oE2eDevice000000000000000002'
const API_KEY = `e2e-${crypto.randomBytes(12).toString('hex')}`
const WASHER = { model_id: 'washer-model-1', sn: 'SN-E2E-1' }
const DONE = 'tmpl-laundry-done'
const FAULT = 'tmpl-washer-fault'
// The device type as device access registered it, with the templates config.js names.
const WASHER_DEVICE = {
  model_id: WASHER.model_id,
  templates: [
    {
      priTmplId: DONE,
      title: '洗衣完成提醒',
      keywords: [{ key: 'thing1', name: '状态', enum: ['洗衣完成', '烘干完成'] }],
    },
    {
      priTmplId: FAULT,
      title: '设备故障提醒',
      keywords: [{ key: 'thing1', name: '故障', enum: ['进水异常', '排水异常'] }],
    },
  ],
}

let emulator = null
let backend = null

async function control(method, path, body) {
  const res = await httpJson(method, `${emulator.url}/_emulator${path}`, {
    data: body,
    header: { 'Content-Type': 'application/json' },
  })
  if (res.statusCode >= 400) throw new Error(`emulator ${path}: ${res.statusCode} ${JSON.stringify(res.data)}`)
  return res.data
}

/** The business system, with its API key. */
function business(method, path, data) {
  return httpJson(method, `${backend.url}${path}`, {
    data,
    header: { 'Content-Type': 'application/json', 'X-Api-Key': API_KEY },
  })
}

function deviceSend(templateId, value) {
  return business('POST', '/api/v1/device-messages', { template_id: templateId, ...WASHER, data: { thing1: value } })
}

/** A phone of `openid` with the mini program, talking to the backend over HTTP. */
function phone(openid, devicePopup) {
  const wx = createWx({
    appId: DEV_APPID, // the one app of a dev-mode backend: the emulator's (wxemu/defaults.py)
    transport: (req) => httpJson(req.method, req.url, { data: req.data, header: req.header, timeout: 15000 }),
    loginCode: () => control('POST', '/login_codes', { openid }).then((issued) => issued.code),
    devicePopup,
  })
  const mp = boot(wx)
  mp.module('config').backendUrls.develop = backend.url
  return { wx, mp }
}

async function openDevice(mp, query) {
  const page = mp.render('pages/device/index', undefined, query)
  await page.instance.loading
  await waitFor(() => page.instance.data.ticketReady || page.instance.data.notice.text, 20000)
  return page
}

beforeAll(async () => {
  emulator = await startEmulator()
  backend = await startBackend(emulator.url, { apiKey: API_KEY, env: { DEVICE_BINDING_REQUIRED: 'on' } })
  await control('POST', '/devices', WASHER_DEVICE)
})

afterAll(async () => {
  if (backend) await backend.stop()
  if (emulator) await emulator.stop()
})

test('device code → ticket → device popup → report → a send reaches the subscriber → 43101 revokes one → unbind', async () => {
  const asked = []
  // The phone: WeChat (the emulator) checks the ticket, then the user taps accept, the
  // laundry reminder with a voice reminder.
  const { wx, mp } = phone(OPENID, async ({ tmplIds, sn, snTicket, modelId }) => {
    asked.push({ tmplIds, sn, modelId })
    const results = Object.fromEntries(tmplIds.map((id) => [id, id === DONE ? 'acceptWithAudio' : 'accept']))
    const { result } = await control('POST', '/device_popup', { openid: OPENID, model_id: modelId, sn, sn_ticket: snTicket, results })
    if (result.errCode) throw result
    return result
  })

  // The washer's QR code carries a device binding code from the business system.
  const issued = await business('POST', '/api/v1/device-binding-codes', WASHER)
  expect(issued.statusCode).toBe(201)

  // A neighbour who knows the washer's sn but not its code gets no ticket (straight over HTTP:
  // one mini program runs in this test).
  const { code: neighbourCode } = await control('POST', '/login_codes', { openid: NEIGHBOUR })
  const login = await httpJson('POST', `${backend.url}/api/v1/auth/login`, {
    data: { code: neighbourCode },
    header: { 'Content-Type': 'application/json' },
  })
  const asNeighbour = { 'Content-Type': 'application/json', Authorization: `Bearer ${login.data.token}` }
  const refusedTicket = await httpJson('POST', `${backend.url}/api/v1/devices/sn-ticket`, { data: WASHER, header: asNeighbour })
  expect([refusedTicket.statusCode, refusedTicket.data.error.code]).toEqual([403, 'forbidden'])
  expect((await control('GET', '/log')).calls.filter((call) => call.api === 'getsnticket')).toEqual([])

  // Opened from the washer's QR code: a silent log-in, the code redeemed, then the ticket.
  const page = await openDevice(mp, { ...WASHER, code: issued.data.code })
  expect(page.instance.data.notice.text).toBe('')
  expect(page.instance.data.ticketReady).toBe(true)
  const states = () => page.instance.data.rows.map((row) => `${row.id}: ${row.stateText}`)
  expect(states()).toEqual([`${DONE}: Not set up`, `${FAULT}: Not set up`])
  const bound = await business('GET', `/api/v1/devices/${WASHER.model_id}/${WASHER.sn}/users`)
  expect(bound.data.users).toHaveLength(1)
  const userId = bound.data.users[0].user_id

  // The tap: the device popup with the backend's ticket, accepted; the report carries the device.
  await tap(page.querySelector('.device__button'), wx)
  await waitFor(() => page.instance.data.notice.text, 10000)
  expect(asked).toEqual([{ tmplIds: [DONE, FAULT], sn: WASHER.sn, modelId: WASHER.model_id }])
  expect(page.instance.data.notice.level).toBe('success')
  expect(states()).toEqual([`${DONE}: On, with a voice reminder`, `${FAULT}: On`])
  // WeChat holds the subscriptions for this device, as the backend's ledger does.
  const atWeChat = await control('GET', `/device_subscriptions?openid=${OPENID}`)
  expect(atWeChat.subscriptions.map((sub) => [sub.template_id, sub.sn, sub.status, sub.audio]).sort()).toEqual([
    [DONE, WASHER.sn, 'accept', true],
    [FAULT, WASHER.sn, 'accept', false],
  ])

  // The washer's own server: the laundry is done. The backend tells its subscriber.
  const sent = await deviceSend(DONE, '洗衣完成')
  expect(sent.statusCode).toBe(201)
  expect(sent.data.skipped).toEqual([])
  expect(sent.data.messages.map((m) => m.status)).toEqual(['sent'])
  const delivered = await control('GET', '/device_sent')
  expect(delivered.map((m) => [m.touser, m.template_id, m.sn])).toEqual([[OPENID, DONE, WASHER.sn]])

  // The neighbour's made-up report (no binding, no ticket handed to them) is refused: they get nothing.
  const forged = await httpJson('POST', `${backend.url}/api/v1/subscriptions`, {
    data: { results: { [DONE]: 'accept' }, device: WASHER },
    header: asNeighbour,
  })
  expect([forged.statusCode, forged.data.error.code]).toEqual([403, 'forbidden'])
  expect((await deviceSend(DONE, '烘干完成')).data.messages.map((m) => m.user_id)).toEqual([userId])

  // A value outside the template's enum never reaches WeChat.
  const bad = await deviceSend(DONE, '洗好了')
  expect(bad.statusCode).toBe(422)
  expect(bad.data.error.code).toBe('invalid_template_data')

  // The user turns the fault reminder off in WeChat: the next fault send meets 43101, which
  // revokes that subscription only; the page shows it off, and offers it again.
  await control('POST', '/device_settings', { openid: OPENID, template_id: FAULT, ...WASHER })
  const refused = await deviceSend(FAULT, '进水异常')
  expect(refused.data.messages.map((m) => [m.status, m.outcome, m.errcode])).toEqual([['failed', 'consent_revoked', 43101]])
  await page.instance.refresh()
  expect(states()).toEqual([`${DONE}: On, with a voice reminder`, `${FAULT}: Off`])
  expect(page.instance.data.plan).toEqual([FAULT])
  expect((await control('GET', '/device_sent')).length).toBe(2)

  // The washer is sold: the business unbinds the user, which revokes their subscriptions to it.
  const unbound = await business('DELETE', `/api/v1/devices/${WASHER.model_id}/${WASHER.sn}/users/${userId}`)
  expect(unbound.statusCode).toBe(204)
  const after = await deviceSend(DONE, '烘干完成')
  expect(after.data.messages).toEqual([])
  await page.instance.refresh()
  expect(states()).toEqual([`${DONE}: Off`, `${FAULT}: Off`])
  expect((await control('GET', '/device_sent')).length).toBe(2)
})
