/**
 * lib/request.js: JSON, the stored session token, one silent re-login on 401, and errors
 * in the backend's shape.
 */

const { createWx } = require('./helpers/wx')
const { createFakeBackend, apiError } = require('./helpers/fake-backend')
const { modules } = require('./helpers/harness')

function setup(wxOptions = {}) {
  const backend = createFakeBackend()
  const wx = createWx({ transport: backend.transport, ...wxOptions })
  const load = modules(wx)
  return { backend, wx, lib: load('lib/request'), load }
}

test('logs in with a wx.login code and keeps the session with wx.setStorageSync', async () => {
  const { backend, wx, lib } = setup()
  const session = await lib.login()
  expect(session).toMatchObject({ token: 'token-1', user: { id: 1, has_phone: false } })
  expect(backend.calls[0]).toMatchObject({ route: 'POST /api/v1/auth/login', data: { code: 'wx-code-1' } })
  expect(wx.setStorageSync).toHaveBeenCalledWith('wxsub.session', expect.objectContaining({ token: 'token-1' }))
  expect(lib.currentUser()).toEqual({ id: 1, has_phone: false })
})

test('logs in to this mini program: the appid of wx.getAccountInfoSync goes with the code', async () => {
  const { backend, wx, lib } = setup({ appId: 'wxb0000000000b0002' })
  await lib.login()
  expect(wx.getAccountInfoSync).toHaveBeenCalled()
  expect(backend.calls[0]).toMatchObject({ data: { code: 'wx-code-1', appid: 'wxb0000000000b0002' } })
})

test('a base library without the account info logs in with the code alone', async () => {
  const { backend, wx, lib } = setup()
  wx.getAccountInfoSync.mockImplementation(() => {
    throw new Error('not available')
  })
  await lib.login()
  expect(backend.calls[0].data).toStrictEqual({ code: 'wx-code-1' })
})

test('sends JSON with the bearer token to the base URL of the release channel', async () => {
  const { wx, lib } = setup()
  await lib.login()
  await lib.request('GET', '/api/v1/me')
  const call = wx.request.mock.calls.find(([req]) => req.url.endsWith('/api/v1/me'))[0]
  expect(call.url).toBe('http://127.0.0.1:5000/api/v1/me')
  expect(call.header).toMatchObject({
    'Content-Type': 'application/json',
    Accept: 'application/json',
    Authorization: 'Bearer token-1',
  })
  expect(call.timeout).toBe(15000)
})

test('a release build calls the release URL, never a developer machine', () => {
  const { wx, lib } = setup()
  wx.getAccountInfoSync.mockReturnValue({ miniProgram: { appId: 'wx1', envVersion: 'release' } })
  expect(lib.backendUrl()).toBe('https://notify.example.com')
  wx.getAccountInfoSync.mockImplementation(() => {
    throw new Error('not available')
  })
  expect(lib.backendUrl()).toBe('https://notify.example.com')
})

test('with no session yet, a call logs in first', async () => {
  const { backend, lib } = setup()
  const me = await lib.request('GET', '/api/v1/me')
  expect(me).toEqual({ id: 1, has_phone: false, phone_number: null, external_id: null })
  expect(backend.calls.map((call) => call.route)).toEqual(['POST /api/v1/auth/login', 'GET /api/v1/me'])
})

test('an expired session is renewed before the call, not after a 401', async () => {
  const { backend, wx, lib } = setup()
  await lib.login()
  const stored = JSON.parse(wx.storage.get('wxsub.session'))
  wx.storage.set('wxsub.session', JSON.stringify({ ...stored, expiresAt: Date.now() - 1 }))
  await lib.request('GET', '/api/v1/me')
  expect(backend.calls.map((call) => call.route)).toEqual([
    'POST /api/v1/auth/login',
    'POST /api/v1/auth/login',
    'GET /api/v1/me',
  ])
})

describe('401 → re-login → retry', () => {
  test('a revoked token: one silent re-login with a fresh code, then the call is retried', async () => {
    const { backend, wx, lib } = setup()
    await lib.login()
    backend.revokeTokens()
    const answer = await lib.request('POST', '/api/v1/subscriptions', {
      data: { results: { 'tmpl-order-shipped': 'accept' } },
      headers: { 'Idempotency-Key': 'k1' },
    })
    expect(answer.subscriptions[0]).toMatchObject({ template_id: 'tmpl-order-shipped', remaining: 1 })
    expect(backend.calls.map((call) => call.route)).toEqual([
      'POST /api/v1/auth/login',
      'POST /api/v1/subscriptions',
      'POST /api/v1/auth/login',
      'POST /api/v1/subscriptions',
    ])
    const [first, retry] = backend.routes('POST /api/v1/subscriptions')
    expect(first.header.Authorization).toBe('Bearer token-1')
    expect(retry.header.Authorization).toBe('Bearer token-2')
    // The retry is the same request: same body, same Idempotency-Key.
    expect(retry.data).toEqual(first.data)
    expect(retry.header['Idempotency-Key']).toBe('k1')
    expect(backend.routes('POST /api/v1/auth/login').map((call) => call.data.code)).toEqual(['wx-code-1', 'wx-code-2'])
    expect(JSON.parse(wx.storage.get('wxsub.session')).token).toBe('token-2')
  })

  test('a 401 again after the re-login is an error, not a loop', async () => {
    const { backend, lib } = setup()
    await lib.login()
    backend.script('GET /api/v1/me', apiError(401, 'unauthorized'), apiError(401, 'unauthorized'))
    await expect(lib.request('GET', '/api/v1/me')).rejects.toMatchObject({ kind: 'api', status: 401, code: 'unauthorized' })
    expect(backend.routes('POST /api/v1/auth/login')).toHaveLength(2)
    expect(backend.routes('GET /api/v1/me')).toHaveLength(2)
  })

  test('a 401 without the error shape (a proxy) is treated as an expired session too', async () => {
    const { backend, lib } = setup()
    await lib.login()
    backend.script('GET /api/v1/me', { statusCode: 401, data: 'Unauthorized' })
    await expect(lib.request('GET', '/api/v1/me')).resolves.toMatchObject({ id: 1 })
    expect(backend.routes('POST /api/v1/auth/login')).toHaveLength(2)
  })

  test('several calls meeting 401 at once share one re-login', async () => {
    const { backend, lib } = setup()
    await lib.login()
    backend.revokeTokens()
    await Promise.all([lib.request('GET', '/api/v1/me'), lib.request('GET', '/api/v1/subscriptions'), lib.request('GET', '/api/v1/me')])
    expect(backend.routes('POST /api/v1/auth/login')).toHaveLength(2)
  })

  test('a 401 wechat_code_invalid (a bad phone code) does not log in again', async () => {
    const { backend, lib } = setup()
    await lib.login()
    backend.script('POST /api/v1/auth/phone', apiError(401, 'wechat_code_invalid'))
    await expect(lib.request('POST', '/api/v1/auth/phone', { data: { code: 'x' } })).rejects.toMatchObject({
      code: 'wechat_code_invalid',
    })
    expect(backend.routes('POST /api/v1/auth/login')).toHaveLength(1)
  })

  test('the re-login itself failing is that failure, for the UI to explain', async () => {
    const { backend, lib } = setup()
    await lib.login()
    backend.revokeTokens()
    backend.script('POST /api/v1/auth/login', apiError(403, 'wechat_user_blocked'))
    await expect(lib.request('GET', '/api/v1/me')).rejects.toMatchObject({ code: 'wechat_user_blocked', status: 403 })
  })
})

describe('errors', () => {
  test("the backend's error shape becomes an ApiError with code, message and details", async () => {
    const { backend, lib } = setup()
    backend.script('POST /api/v1/subscriptions', apiError(400, 'invalid_request', 'Bad body', { results: 'must name a template' }))
    const error = await lib.request('POST', '/api/v1/subscriptions', { data: { results: {} } }).catch((e) => e)
    expect(error).toMatchObject({
      kind: 'api',
      name: 'ApiError',
      status: 400,
      code: 'invalid_request',
      message: 'Bad body',
      details: { results: 'must name a template' },
    })
  })

  test('a body without the error shape still has a code to branch on', async () => {
    const { backend, lib } = setup()
    backend.script('GET /api/v1/me', { statusCode: 502, data: '<html>Bad Gateway</html>' })
    backend.script('GET /api/v1/subscriptions', { statusCode: 418, data: '' })
    await expect(lib.request('GET', '/api/v1/me')).rejects.toMatchObject({ code: 'server_error', status: 502 })
    await expect(lib.request('GET', '/api/v1/subscriptions')).rejects.toMatchObject({ code: 'unexpected_response' })
  })

  test('no answer at all is a NetworkError, a time-out flagged as such', async () => {
    const { backend, lib } = setup()
    await lib.login()
    backend.script('GET /api/v1/me', { errMsg: 'request:fail timeout' }, { errMsg: 'request:fail net::ERR_CONNECTION_REFUSED' })
    await expect(lib.request('GET', '/api/v1/me')).rejects.toMatchObject({ kind: 'network', timeout: true })
    await expect(lib.request('GET', '/api/v1/me')).rejects.toMatchObject({ kind: 'network', timeout: false })
  })

  test('wx.login failing is a WxApiError of the login API', async () => {
    const { wx, lib } = setup()
    wx.login.mockImplementation(({ fail }) => setTimeout(() => fail({ errMsg: 'login:fail timeout' }), 0))
    await expect(lib.login()).rejects.toMatchObject({ kind: 'wx', api: 'login', message: 'login:fail timeout' })
  })
})

test('storage failing does not break the session for this run', async () => {
  const { wx, lib } = setup()
  wx.setStorageSync.mockImplementation(() => {
    throw new Error('quota')
  })
  await lib.login()
  await expect(lib.request('GET', '/api/v1/me')).resolves.toMatchObject({ id: 1 })
})
