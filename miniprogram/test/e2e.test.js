/**
 * End to end, with no WeChat DevTools: the mini program runs in jest with wx.request
 * bridged to real HTTP, against the backend under gunicorn and the repository's WeChat
 * emulator, both started here and serving two mini programs (one apps file, as
 * WX_APPS_FILE and the emulator's --apps-file). The mini program is the second of them and
 * logs in to it by its AppID (wx.getAccountInfoSync); business code sends with that app's
 * own key. The wx stand-ins play the phone: wx.login gets a code from
 * the emulator, and the subscribe popup is a user who accepts (the emulator counts it, as
 * WeChat would).
 *
 * launch → login → phone → tap subscribe → the ledger shows the credit → a business send
 * through /api/v1/messages succeeds → a revoked session is renewed silently.
 * And the link page: a binding code from business code, typed by the user, then a send by
 * the business system's own id.
 */

const crypto = require('crypto')
const { createWx } = require('./helpers/wx')
const { boot, waitFor, tap } = require('./helpers/harness')
const { startEmulator, startBackend, writeAppsFile, httpJson } = require('./helpers/servers')

jest.setTimeout(120000)

const OPENID = 'oE2eUser00000000000000000001'
// Two apps at WeChat and in the backend; this mini program is STAFF.
const SHOP = 'wxe2e0000000000a01'
const STAFF = 'wxe2e0000000000b02'
// Made up per run: secrets and keys for these processes only, never written into the project.
const made = (prefix) => `${prefix}-${crypto.randomBytes(12).toString('hex')}`
const SHOP_KEY = made('e2e-shop')
const API_KEY = made('e2e-staff') // acts for STAFF alone: its requests need not name the app

const TEMPLATES = [
  {
    priTmplId: 'tmpl-order-shipped',
    title: 'Order shipped',
    type: 2,
    keywords: [{ key: 'thing1', name: 'Item' }, { key: 'time2', name: 'Shipped at' }],
  },
  {
    priTmplId: 'tmpl-washer',
    title: 'Washer fault',
    type: 2,
    keywords: [{ key: 'time1', name: 'At' }, { key: 'enum_string2', name: 'Where' }],
    enums: { enum_string2: ['Laundry room', 'Balcony'] },
  },
  {
    priTmplId: 'tmpl-bus-arrival',
    title: 'Bus arrival',
    type: 3,
    keywords: [{ key: 'thing1', name: 'Line' }, { key: 'phrase2', name: 'Status' }],
  },
]

let emulator = null
let backend = null
let appsFile = null

async function control(method, path, body) {
  // Every control call is about STAFF's users and catalog, unless it names its app.
  const res = await httpJson(method, `${emulator.url}/_emulator${path}`, {
    data: body && method !== 'GET' ? { appid: STAFF, ...body } : body,
    header: { 'Content-Type': 'application/json' },
  })
  if (res.statusCode >= 400) throw new Error(`emulator ${path}: ${res.statusCode} ${JSON.stringify(res.data)}`)
  return res.data
}

async function api(method, path, { token, key, data, header = {} } = {}) {
  const headers = { 'Content-Type': 'application/json', ...header }
  if (token) headers.Authorization = `Bearer ${token}`
  if (key) headers['X-Api-Key'] = key
  return httpJson(method, backend.url + path, { data, header: headers })
}

beforeAll(async () => {
  appsFile = writeAppsFile([
    { appid: SHOP, secret: made('shop-secret'), name: 'Shop', api_keys: [SHOP_KEY] },
    { appid: STAFF, secret: made('staff-secret'), name: 'Staff', api_keys: [API_KEY] },
  ])
  emulator = await startEmulator({ appsFile: appsFile.path })
  backend = await startBackend(emulator.url, { appsFile: appsFile.path })
  for (const template of TEMPLATES) await control('POST', '/templates', template)
})

afterAll(async () => {
  if (backend) await backend.stop()
  if (emulator) await emulator.stop()
  if (appsFile) appsFile.remove()
})

test('launch → login → phone → subscribe → credit in the ledger → a business send → silent re-login', async () => {
  const popups = []
  const wx = createWx({
    appId: STAFF,
    // wx.request → Node's http, to the live backend.
    transport: (req) => httpJson(req.method, req.url, { data: req.data, header: req.header, timeout: 15000 }),
    // wx.login: the phone asks WeChat (the emulator) for a code for this user.
    loginCode: () => control('POST', '/login_codes', { openid: OPENID }).then((issued) => issued.code),
    // The popup: the user accepts every template; WeChat (the emulator) counts it.
    popup: async (tmplIds) => {
      popups.push(tmplIds)
      const results = Object.fromEntries(tmplIds.map((id) => [id, 'accept']))
      await control('POST', '/popup', { openid: OPENID, results })
      return { errMsg: 'requestSubscribeMessage:ok', ...results }
    },
  })
  const mp = boot(wx)
  const config = mp.module('config')
  config.backendUrls.develop = backend.url

  // Launch: a silent log-in, then the page with no credits yet.
  const page = mp.render('pages/index/index')
  await page.instance.loading
  await waitFor(() => page.instance.data.loaded || page.instance.data.notice.text, 20000)
  expect(page.instance.data.notice.text).toBe('')
  const token = () => JSON.parse(wx.storage.get('wxsub.session')).token
  const firstToken = token()
  const credits = () => page.querySelector('#credits').instance.data.rows.map((row) => row.countText)
  expect(credits()).toEqual(['None left', 'None left', 'Off'])
  // It logged in to STAFF: the code is STAFF's at WeChat, which SHOP's AppSecret could not redeem.
  const logIn = wx.request.mock.calls.map(([req]) => req).find((req) => req.url.endsWith('/api/v1/auth/login'))
  expect(logIn.data).toMatchObject({ appid: STAFF })

  // The phone button: WeChat gives the event a code; the backend exchanges it.
  const { code: phoneCode } = await control('POST', '/phone_codes', { openid: OPENID, phone_number: '13800001234' })
  await tap(page.querySelector('#phone').querySelector('.phone__button'), wx, 'getphonenumber', {
    detail: { errMsg: 'getPhoneNumber:ok', code: phoneCode },
  })
  await waitFor(() => page.instance.data.hasPhone, 10000)
  expect((await api('GET', '/api/v1/me', { token: token() })).data).toMatchObject({ has_phone: true })

  // Tap subscribe: the one-time templates short of credits, in one popup.
  const button = () => page.querySelector('#subscribe')
  await tap(button().querySelector('.subscribe__button'), wx)
  await waitFor(() => /^Subscribed/.test(page.instance.data.notice.text), 10000)
  expect(popups).toEqual([['tmpl-order-shipped', 'tmpl-washer']])
  expect(page.instance.data.notice.text).toBe('Subscribed: “Order shipped”, “Washer fault”.')
  expect(credits()).toEqual(['1 left', '1 left', 'Off'])

  // The backend's ledger has the credits.
  const ledger = await api('GET', '/api/v1/subscriptions', { token: token() })
  expect(ledger.statusCode).toBe(200)
  const byId = Object.fromEntries(ledger.data.subscriptions.map((sub) => [sub.template_id, sub]))
  expect(byId['tmpl-order-shipped']).toMatchObject({ kind: 'one_time', status: 'accept', remaining: 1 })
  expect(byId['tmpl-washer']).toMatchObject({ kind: 'one_time', status: 'accept', remaining: 1 })

  // Business code sends one message: it spends the credit.
  const sent = await api('POST', '/api/v1/messages', {
    key: API_KEY,
    header: { 'Idempotency-Key': `e2e-${Date.now()}` },
    data: {
      openid: OPENID,
      template_id: 'tmpl-order-shipped',
      data: { thing1: 'Blue kettle', time2: '2026-11-27 15:01' },
      page: 'pages/index/index',
    },
  })
  expect(sent.statusCode).toBe(201)
  expect(sent.data).toMatchObject({ status: 'sent', template_id: 'tmpl-order-shipped', remaining: 0 })
  // The other app's key may not act for this one.
  const elsewhere = await api('POST', '/api/v1/messages', { key: SHOP_KEY, data: { appid: STAFF, openid: OPENID } })
  expect(elsewhere.statusCode).toBe(403)
  const delivered = await control('GET', '/sent')
  expect(JSON.stringify(delivered)).toContain('Blue kettle')

  // The next tap offers the other kind alone: one-time and long-term never share a popup.
  expect(button().instance.data.plan).toMatchObject({ kind: 'long_term', ids: ['tmpl-bus-arrival'] })
  await tap(button().querySelector('.subscribe__button'), wx)
  await waitFor(() => popups.length === 2 && credits()[2] === 'On', 10000)
  expect(popups[1]).toEqual(['tmpl-bus-arrival'])
  await waitFor(() => page.instance.data.notice.text === 'Subscribed: “Bus arrival”.')
  await tap(page.querySelector('#notice').querySelector('.notice__close'), wx)
  await waitFor(() => page.instance.data.notice.text === '')

  // The session is revoked (a log-out elsewhere): the next call meets 401, logs in again
  // silently with a fresh wx.login code, and is retried.
  expect((await api('POST', '/api/v1/auth/logout', { token: firstToken })).statusCode).toBe(204)
  expect((await api('GET', '/api/v1/me', { token: firstToken })).statusCode).toBe(401)
  await page.instance.refresh()
  expect(page.instance.data.notice.text).toBe('')
  expect(token()).not.toBe(firstToken)
  expect(wx.login).toHaveBeenCalledTimes(2)
  // The send spent the order's credit; the page shows the ledger as it is now.
  expect(credits()).toEqual(['None left', '1 left', 'On'])
})

test('link page: a binding code from business code → typed by the user → a send by external_id', async () => {
  const openid = 'oE2eUser00000000000000000002'
  const wx = createWx({
    appId: STAFF,
    transport: (req) => httpJson(req.method, req.url, { data: req.data, header: req.header, timeout: 15000 }),
    loginCode: () => control('POST', '/login_codes', { openid }).then((issued) => issued.code),
  })
  const mp = boot(wx)
  mp.module('config').backendUrls.develop = backend.url
  await control('POST', '/popup', { openid, results: { 'tmpl-order-shipped': 'accept' } })

  const issued = await api('POST', '/api/v1/binding-codes', { key: API_KEY, data: { external_id: 'EMP-E2E-7' } })
  expect(issued.statusCode).toBe(201)

  const page = mp.render('pages/link/link')
  await page.instance.loading
  await waitFor(() => page.instance.data.ready || page.instance.data.notice.text, 20000)
  expect(page.instance.data.linkedAs).toBe('')
  page.querySelector('.link__input').dispatchEvent('input', { detail: { value: issued.data.code.toLowerCase() } })
  await waitFor(() => page.instance.data.code)
  await tap(page.querySelector('.link__button'), wx)
  await waitFor(() => page.instance.data.notice.text, 10000)
  expect(page.instance.data.notice.text).toBe('Your account is linked. You will get its notifications here.')
  expect(page.instance.data.linkedAs).toBe('EMP-E2E-7')

  // A second try with the same code: used up.
  page.instance.setData({ code: issued.data.code })
  await tap(page.querySelector('.link__button'), wx)
  await waitFor(() => /not valid/.test(page.instance.data.notice.text), 10000)

  // Business code knows the person by its own id now.
  const found = await api('GET', '/api/v1/users?external_id=EMP-E2E-7', { key: API_KEY })
  expect(found.data.users).toHaveLength(1)
  const report = { results: { 'tmpl-order-shipped': 'accept', errMsg: 'requestSubscribeMessage:ok' } }
  const token = JSON.parse(wx.storage.get('wxsub.session')).token
  expect((await api('POST', '/api/v1/subscriptions', { token, data: report })).statusCode).toBe(200)
  const sent = await api('POST', '/api/v1/messages', {
    key: API_KEY,
    data: { external_id: 'EMP-E2E-7', template_id: 'tmpl-order-shipped', data: { thing1: 'Linked', time2: '15:01' } },
  })
  expect(sent.statusCode).toBe(201)
  expect(sent.data.user_id).toBe(found.data.users[0].id)
})

test('my data: the export, the privacy agreement, then "delete my data" erases the user at the backend', async () => {
  const openid = 'oE2eUser00000000000000000003'
  const wx = createWx({
    appId: STAFF,
    transport: (req) => httpJson(req.method, req.url, { data: req.data, header: req.header, timeout: 15000 }),
    loginCode: () => control('POST', '/login_codes', { openid }).then((issued) => issued.code),
  })
  const mp = boot(wx)
  mp.module('config').backendUrls.develop = backend.url

  // The home page: WeChat asks for the privacy agreement before the phone button; the user agrees.
  const home = mp.render('pages/index/index')
  await home.instance.loading
  await waitFor(() => home.instance.data.ready || home.instance.data.notice.text, 20000)
  const agreed = jest.fn()
  wx.privacyListener(agreed, { referrer: 'getPhoneNumber' })
  const popup = home.querySelector('#privacy')
  await waitFor(() => popup.querySelector('.privacy__agree'))
  popup.querySelector('.privacy__agree').dispatchEvent('agreeprivacyauthorization', {})
  await waitFor(() => agreed.mock.calls.length === 1)
  expect(agreed).toHaveBeenCalledWith({ event: 'agree', buttonId: 'privacy-agree' })
  const { code: phoneCode } = await control('POST', '/phone_codes', { openid, phone_number: '13700001111' })
  await tap(home.querySelector('#phone').querySelector('.phone__button'), wx, 'getphonenumber', {
    detail: { errMsg: 'getPhoneNumber:ok', code: phoneCode },
  })
  await waitFor(() => home.instance.data.hasPhone, 10000)

  // My data: the export, as the backend holds it.
  const page = mp.render('pages/mydata/mydata')
  await page.instance.loading
  await waitFor(() => !page.instance.data.loading, 20000)
  const exported = JSON.parse(page.instance.data.json)
  expect(exported.user).toMatchObject({ openid, phone_number: '13700001111' })
  const userId = exported.user.id
  expect((await api('GET', `/api/v1/users/${userId}`, { key: API_KEY })).statusCode).toBe(200)

  // Delete my data: confirmed, erased at the backend, signed out.
  const token = JSON.parse(wx.storage.get('wxsub.session')).token
  await tap(page.querySelector('.mydata__delete'), wx)
  await waitFor(() => page.instance.data.erased, 10000)
  expect(wx.storage.has('wxsub.session')).toBe(false)
  const gone = await api('GET', `/api/v1/users/${userId}`, { key: API_KEY })
  expect(gone.statusCode).toBe(410)
  expect(gone.data.error.code).toBe('user_erased')
  expect((await api('GET', '/api/v1/me', { token })).statusCode).toBe(401)
  const byPhone = await api('GET', '/api/v1/users?phone_number=13700001111', { key: API_KEY })
  expect(byPhone.data.users).toEqual([])

  // Opening the mini program again starts afresh: a new user.
  const again = await api('POST', '/api/v1/auth/login', {
    data: { code: (await control('POST', '/login_codes', { openid })).code, appid: STAFF },
  })
  expect(again.statusCode).toBe(200)
  expect(again.data.user.id).not.toBe(userId)
})
