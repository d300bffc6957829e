/**
 * An in-memory backend that keeps to docs/api.md closely enough for the unit tests:
 * log-in, phone, /me, binding codes, device bindings (a device's ticket for bound users only, as
 * outside dev mode), subscriptions with credits and Idempotency-Key replays. It answers
 * wx.request through the fake wx's transport. `backend.script(route, answer)` queues a
 * one-off answer for a route (an HTTP answer, or {errMsg} for a network failure), and
 * `backend.calls` records every request.
 */

const LONG_TERM = new Set(['tmpl-bus-arrival'])

function apiError(statusCode, code, message = code, details = {}) {
  return { statusCode, data: { error: { code, message, details } } }
}

function createFakeBackend() {
  const users = new Map() // id → {id, has_phone, phone_number, external_id}
  const bindingCodes = new Map() // code → external_id, until redeemed
  const bindingFailures = [] // when wrong codes were tried (one user: the backend allows 5 a minute)
  const tokens = new Map() // token → user id
  const subs = new Map() // `${userId} ${templateId}` → subscription
  const replays = new Map() // `${userId} ${key}` → {hash, answer}
  const scripted = new Map() // route → [answer, ...]
  const calls = []
  const tickets = [] // the devices each sn_ticket was issued for
  const deviceCodes = new Map() // code → device, until redeemed
  const boundDevices = new Set() // `${model_id} ${sn}` the user is bound to
  const standing = { setting: null } // the last POST /api/v1/me/subscription-settings
  /** GET /api/v1/me/prompts' answer; null: the route answers 404, as a backend without it would. */
  let prompts = null
  let nextToken = 1
  let currentUserId = 1 // the openid's user; a new one after an erase, as the backend makes

  function user(req) {
    const token = (req.header.Authorization || '').replace(/^Bearer /, '')
    return tokens.has(token) ? users.get(tokens.get(token)) : null
  }

  function meBody(me) {
    return { id: me.id, has_phone: me.has_phone, phone_number: me.phone_number, external_id: me.external_id || null }
  }

  function subscriptionsOf(userId) {
    return [...subs.entries()].filter(([key]) => key.startsWith(`${userId} `)).map(([, sub]) => ({ ...sub }))
  }

  /**
   * A code redeemed from `codes` (account or device ones: wrong guesses of both count together,
   * 5 a minute, as the backend counts them): the code as the backend reads it, or the refusal.
   */
  function guess(req, codes) {
    const typed = req.data && req.data.code
    if (typeof typed !== 'string' || !typed) return { refused: apiError(400, 'invalid_request', 'code', { code: 'required' }) }
    const now = Date.now()
    while (bindingFailures.length && bindingFailures[0] <= now - 60000) bindingFailures.shift()
    if (bindingFailures.length >= 5) return { refused: apiError(429, 'rate_limited', 'too many', { retry_after: 60 }) }
    const code = typed.replace(/[\s-]/g, '').toUpperCase()
    if (codes.has(code)) return { code }
    bindingFailures.push(now)
    return { refused: apiError(400, 'binding_code_invalid', 'The binding code is invalid, expired or already used.') }
  }

  const routes = {
    'POST /api/v1/auth/login': (req) => {
      const code = req.data && req.data.code
      if (!code) return apiError(400, 'invalid_request', 'code is required', { code: 'required' })
      const id = currentUserId
      if (!users.has(id)) users.set(id, { id, has_phone: false, phone_number: null, external_id: null })
      const token = `token-${nextToken++}`
      tokens.set(token, id)
      return { statusCode: 200, data: { token, token_type: 'Bearer', expires_in: 604800, user: { id, has_phone: users.get(id).has_phone } } }
    },
    'POST /api/v1/auth/phone': (req, me) => {
      me.has_phone = true
      me.phone_number = '13800001234'
      return { statusCode: 200, data: { phone_number: '13800001234', pure_phone_number: '13800001234', country_code: '86' } }
    },
    'GET /api/v1/me': (req, me) => ({ statusCode: 200, data: meBody(me) }),
    'GET /api/v1/me/export': (req, me) => ({
      statusCode: 200,
      data: {
        user: { id: me.id, app_id: 'wxd0000000000e0001', openid: 'oFakeUser', unionid: null, external_id: me.external_id || null, phone_number: me.phone_number, country_code: me.phone_number ? '86' : null, created_at: '2026-12-01T08:00:00.000Z', erased_at: null },
        subscriptions: subscriptionsOf(me.id),
        device_subscriptions: [],
        consent_events: [],
        messages: [],
        webhook_events: [],
        exported_at: '2026-12-08T03:00:00.000Z',
      },
    }),
    'DELETE /api/v1/me': (req, me) => {
      // The erase: the user's tokens stop working, and the same openid logs in as a new user.
      for (const [token, id] of [...tokens]) if (id === me.id) tokens.delete(token)
      users.delete(me.id)
      currentUserId = me.id + 1
      return { statusCode: 200, data: { id: me.id, erased_at: '2026-12-08T03:00:00.000Z' } }
    },
    'POST /api/v1/me/binding': (req, me) => {
      const { code, refused } = guess(req, bindingCodes)
      if (refused) return refused
      me.external_id = bindingCodes.get(code)
      bindingCodes.delete(code)
      return { statusCode: 200, data: meBody(me) }
    },
    'GET /api/v1/subscriptions': (req, me) => ({ statusCode: 200, data: { subscriptions: subscriptionsOf(me.id) } }),
    'POST /api/v1/me/devices': (req, me) => {
      const { code, refused } = guess(req, deviceCodes)
      if (refused) return refused
      const device = deviceCodes.get(code)
      deviceCodes.delete(code)
      boundDevices.add(`${device.model_id} ${device.sn}`)
      return { statusCode: 200, data: { appid: 'wx-fake', ...device, user_id: me.id, created_at: new Date().toISOString() } }
    },
    'GET /api/v1/me/prompts': () => (prompts ? { statusCode: 200, data: JSON.parse(JSON.stringify(prompts)) } : apiError(404, 'not_found')),
    'POST /api/v1/me/subscription-settings': (req) => {
      const body = req.data || {}
      if (typeof body.mainSwitch !== 'boolean') return apiError(400, 'invalid_request', 'mainSwitch', { mainSwitch: 'required' })
      standing.setting = { mainSwitch: body.mainSwitch, itemSettings: body.itemSettings || {} }
      return { statusCode: 200, data: { main_switch: body.mainSwitch, always: body.itemSettings || {}, seen_at: new Date().toISOString() } }
    },
    'POST /api/v1/devices/sn-ticket': (req) => {
      const { model_id: modelId, sn } = req.data || {}
      if (!modelId || !sn) return apiError(400, 'invalid_request', 'model_id and sn are required')
      if (!boundDevices.has(`${modelId} ${sn}`)) {
        return apiError(403, 'forbidden', 'You are not bound to this device.', { device: 'not bound to this user' })
      }
      tickets.push({ model_id: modelId, sn })
      return { statusCode: 200, data: { sn_ticket: `ticket-${tickets.length}`, expires_in: 300 } }
    },
    'POST /api/v1/subscriptions': (req, me) => {
      const results = { ...((req.data && req.data.results) || {}) }
      const errMsg = results.errMsg
      delete results.errMsg
      if (errMsg !== undefined && !/:ok$/.test(errMsg)) return apiError(400, 'invalid_request', 'popup failed')
      if (req.data.device) return deviceReport(me, results, req.data.device)
      const ids = Object.keys(results)
      if (!ids.length || ids.length > 5) return apiError(400, 'invalid_request', 'results', { results: 'bad size' })
      if (ids.some((id) => !['accept', 'reject', 'ban', 'filter'].includes(results[id]))) {
        return apiError(400, 'invalid_request', 'bad status', { results: 'must be accept, reject, ban or filter' })
      }
      const answer = ids.map((id) => {
        const key = `${me.id} ${id}`
        const kind = LONG_TERM.has(id) ? 'long_term' : 'one_time'
        const sub = subs.get(key) || { template_id: id, kind, status: 'reject', remaining: kind === 'one_time' ? 0 : null }
        sub.status = results[id]
        sub.reported = results[id]
        if (kind === 'one_time' && results[id] === 'accept') sub.remaining += 1
        sub.updated_at = new Date().toISOString()
        subs.set(key, sub)
        return { ...sub }
      })
      if (prompts) prompts = { ...prompts, templates: afterAccepts(prompts.templates, results) }
      return { statusCode: 200, data: { subscriptions: answer } }
    },
  }

  /**
   * The prompts after a report, as the backend's: an accept releases one held message of its
   * template (or, with none held, is the credit the prompt asked for).
   */
  function afterAccepts(templates, results) {
    return templates
      .map((prompt) => (results[prompt.template_id] === 'accept' ? { ...prompt, waiting: Math.max(0, prompt.waiting - 1) } : prompt))
      .filter((prompt) => results[prompt.template_id] !== 'accept' || prompt.waiting > 0)
  }

  /** A device popup's report (docs/api.md): long-term subscriptions of (template, model_id, sn). */
  function deviceReport(me, results, device) {
    const ids = Object.keys(results)
    if (!ids.length || ids.length > 3) return apiError(400, 'invalid_request', 'results', { results: 'bad size' })
    const statuses = ['accept', 'acceptWithAudio', 'reject', 'ban', 'filter']
    if (ids.some((id) => !statuses.includes(results[id]))) return apiError(400, 'invalid_request', 'bad status')
    const answer = ids.map((id) => {
      const sub = {
        template_id: id,
        kind: 'long_term',
        status: results[id] === 'acceptWithAudio' ? 'accept' : results[id],
        remaining: null,
        reported: results[id],
        device: { model_id: device.model_id, sn: device.sn },
        audio: results[id] === 'acceptWithAudio',
        updated_at: new Date().toISOString(),
      }
      subs.set(`${me.id} ${id} ${device.model_id} ${device.sn}`, sub)
      return { ...sub }
    })
    return { statusCode: 200, data: { subscriptions: answer } }
  }

  const losing = new Set() // routes whose next answer is lost on the way back

  function handle(req) {
    const path = req.url.replace(/^https?:\/\/[^/]+/, '')
    const route = `${req.method} ${path}`
    calls.push({ route, data: req.data, header: req.header })
    if (losing.delete(route)) {
      // Done here, but the phone never hears back.
      return answerFor(route, req).then(() => Promise.reject({ errMsg: 'request:fail timeout' }))
    }
    return answerFor(route, req)
  }

  function answerFor(route, req) {
    const queue = scripted.get(route)
    if (queue && queue.length) {
      const answer = queue.shift()
      if (answer.errMsg) return Promise.reject(answer)
      if (typeof answer === 'function') return Promise.resolve(answer(req))
      return Promise.resolve(answer)
    }
    const handler = routes[route]
    if (!handler) return Promise.resolve(apiError(404, 'not_found'))
    if (route === 'POST /api/v1/auth/login') return Promise.resolve(handler(req))
    const me = user(req)
    if (!me) return Promise.resolve(apiError(401, 'unauthorized', 'Authentication is required.'))
    const key = req.header['Idempotency-Key']
    if (key) {
      const hash = JSON.stringify(req.data)
      const seen = replays.get(`${me.id} ${key}`)
      if (seen) return Promise.resolve(seen.hash === hash ? seen.answer : apiError(422, 'idempotency_conflict'))
      const answer = handler(req, me)
      replays.set(`${me.id} ${key}`, { hash, answer })
      return Promise.resolve(answer)
    }
    return Promise.resolve(handler(req, me))
  }

  return {
    transport: handle,
    calls,
    subs,
    tickets,
    users,
    /** Queue one answer for `METHOD /path`: an HTTP answer, a function of the request, or {errMsg}. */
    script(route, ...answers) {
      scripted.set(route, (scripted.get(route) || []).concat(answers))
    },
    /** The next request on `METHOD /path` is handled, but its answer is lost (a time-out). */
    loseNextAnswer(route) {
      losing.add(route)
    },
    /** What GET /api/v1/me/prompts answers from now on ({templates, main_switch}). */
    setPrompts(answer) {
      prompts = answer
    },
    standing,
    /** Every token stops working, as after a logout elsewhere or an expiry. */
    revokeTokens() {
      tokens.clear()
    },
    /** A code the business system issued (`POST /api/v1/binding-codes`), single-use. */
    addBindingCode(code, externalId) {
      bindingCodes.set(code, externalId)
    },
    /** A device binding code the business issued (`POST /api/v1/device-binding-codes`), single-use. */
    addDeviceCode(code, device) {
      deviceCodes.set(code, { model_id: device.model_id, sn: device.sn })
    },
    /** The user is bound to the device already (business code bound them). */
    bindDevice(device) {
      boundDevices.add(`${device.model_id} ${device.sn}`)
    },
    /** Credits as the backend would hold them after earlier popups. */
    setSubscription(templateId, fields) {
      const kind = LONG_TERM.has(templateId) ? 'long_term' : 'one_time'
      subs.set(`1 ${templateId}`, { template_id: templateId, kind, status: 'accept', remaining: kind === 'one_time' ? 0 : null, ...fields })
    },
    /** A device subscription as the backend would hold it after an earlier device popup. */
    setDeviceSubscription(templateId, device, fields) {
      subs.set(`1 ${templateId} ${device.model_id} ${device.sn}`, {
        template_id: templateId,
        kind: 'long_term',
        status: 'accept',
        remaining: null,
        device: { ...device },
        audio: false,
        ...fields,
      })
    },
    routes: (prefix) => calls.filter((call) => call.route.startsWith(prefix)),
  }
}

module.exports = { createFakeBackend, apiError }
