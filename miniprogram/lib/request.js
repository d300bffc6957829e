/**
 * The request helper: every backend call goes through `request()`.
 *
 * - JSON in and out, against the base URL for this release channel (config.js).
 * - The session token from `/api/v1/auth/login` is kept with wx.setStorageSync, so it
 *   survives the mini program being closed; it never goes anywhere but our backend.
 * - A 401 `unauthorized` (token expired, or revoked by a logout) triggers one silent
 *   re-login with a fresh wx.login code, then the call is retried once.
 * - Failures become ApiError (the backend's error shape), NetworkError or WxApiError.
 */

const config = require('../config')
const { ApiError, NetworkError, WxApiError } = require('./errors')

const SESSION_KEY = 'wxsub.session'
/** Log in again a little before the backend's expiry, rather than meet a 401. */
const EXPIRY_MARGIN_MS = 60 * 1000

/**
 * @typedef {{id: number, has_phone: boolean}} User
 * @typedef {{token: string, expiresAt: number, user: User}} Session
 * @typedef {{statusCode: number, data: unknown, header?: Record<string, string>}} Response
 */

/**
 * Used only when storage fails; storage stays the source of truth otherwise.
 * @type {Session | null}
 */
let memorySession = null

function backendUrl() {
  let env = 'release'
  try {
    env = wx.getAccountInfoSync().miniProgram.envVersion || 'release'
  } catch (_) {
    // Unknown channel: assume production, so a release build never calls a dev machine.
  }
  const urls = /** @type {Record<string, string>} */ (config.backendUrls)
  return (urls[env] || config.backendUrls.release).replace(/\/+$/, '')
}

/**
 * This mini program's AppID, sent at log-in: a backend serving several mini programs logs the
 * user in to this one (docs/api.md). Undefined when the base library can't tell; a backend
 * serving one app needs none.
 * @returns {string | undefined}
 */
function appId() {
  try {
    return wx.getAccountInfoSync().miniProgram.appId || undefined
  } catch (_) {
    return undefined
  }
}

/** @returns {Session | null} */
function readSession() {
  try {
    const session = wx.getStorageSync(SESSION_KEY)
    return session && typeof session.token === 'string' ? session : null
  } catch (_) {
    return null
  }
}

/** @param {Session} session */
function saveSession(session) {
  try {
    wx.setStorageSync(SESSION_KEY, session)
  } catch (_) {
    // Storage full or unavailable: the session still works for this run, from memory.
  }
  memorySession = session
}

function clearSession() {
  memorySession = null
  try {
    wx.removeStorageSync(SESSION_KEY)
  } catch (_) {
    // nothing to clear
  }
}

function currentSession() {
  return readSession() || memorySession
}

/**
 * One HTTP exchange. wx.request calls `success` for every HTTP answer, 4xx and 5xx
 * included; `fail` means no answer at all.
 * @param {'GET' | 'POST' | 'PUT' | 'DELETE'} method
 * @param {string} path
 * @param {unknown} data
 * @param {Record<string, string>} headers
 * @returns {Promise<Response>}
 */
function send(method, path, data, headers) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: backendUrl() + path,
      method,
      data: /** @type {any} */ (data),
      header: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
      dataType: 'json',
      timeout: config.requestTimeoutMs,
      success: (res) => resolve({ statusCode: res.statusCode, data: res.data, header: res.header }),
      fail: (err) => reject(new NetworkError(err && err.errMsg)),
    })
  })
}

/**
 * The body of a 2xx answer, or the ApiError of any other.
 * @param {Response} response
 * @returns {any}
 */
function unwrap(response) {
  if (response.statusCode >= 200 && response.statusCode < 300) return response.data
  throw ApiError.fromResponse(response)
}

/** @param {Response} response */
function errorCode(response) {
  const body = /** @type {any} */ (response.data)
  return body && body.error && typeof body.error.code === 'string' ? body.error.code : null
}

/** @returns {Promise<string>} a wx.login code, valid for one jscode2session within 5 minutes */
function wxLoginCode() {
  return new Promise((resolve, reject) => {
    wx.login({
      timeout: config.requestTimeoutMs,
      success: (res) =>
        res.code ? resolve(res.code) : reject(new WxApiError('login', res.errMsg || 'login:fail no code')),
      fail: (err) => reject(new WxApiError('login', err && err.errMsg, err && /** @type {any} */ (err).errno)),
    })
  })
}

/** @returns {Promise<Session>} */
async function loginOnce() {
  const code = await wxLoginCode()
  const appid = appId()
  const body = unwrap(await send('POST', '/api/v1/auth/login', appid ? { code, appid } : { code }, {}))
  /** @type {Session} */
  const session = {
    token: body.token,
    expiresAt: Date.now() + Number(body.expires_in || 0) * 1000 - EXPIRY_MARGIN_MS,
    user: body.user,
  }
  saveSession(session)
  return session
}

/** @type {Promise<Session> | null} */
let pendingLogin = null

/**
 * wx.login → /api/v1/auth/login → a stored session. Concurrent callers (the launch, and a
 * page's first calls, or several 401s at once) share one log-in.
 * @returns {Promise<Session>}
 */
function login() {
  if (!pendingLogin) {
    pendingLogin = loginOnce()
      .catch((error) => {
        // 40029 / 40163 (wechat_code_invalid): a code is single-use and short-lived; one
        // fresh code is worth a try before the user is told anything.
        if (error && error.kind === 'api' && error.code === 'wechat_code_invalid') return loginOnce()
        throw error
      })
      .then(
        (session) => {
          pendingLogin = null
          return session
        },
        (error) => {
          pendingLogin = null
          throw error
        },
      )
  }
  return pendingLogin
}

/**
 * Call the backend. With `auth` (the default) the session token goes along; a missing or
 * expired session is renewed first, and a 401 `unauthorized` answer once.
 * @param {'GET' | 'POST' | 'PUT' | 'DELETE'} method
 * @param {string} path e.g. "/api/v1/subscriptions"
 * @param {{data?: unknown, headers?: Record<string, string>, auth?: boolean}} [options]
 * @returns {Promise<any>} the parsed JSON body (null for 204)
 */
async function request(method, path, options = {}) {
  const { data, headers = {}, auth = true } = options
  if (!auth) return unwrap(await send(method, path, data, headers))

  let session = currentSession()
  if (!session || session.expiresAt <= Date.now()) session = await login()
  let response = await send(method, path, data, { ...headers, Authorization: `Bearer ${session.token}` })

  // Only `unauthorized` is about our session: a 401 `wechat_code_invalid` from
  // /auth/phone is about the phone code, and a new session would not help.
  const code = response.statusCode === 401 ? errorCode(response) : null
  if (response.statusCode === 401 && (code === 'unauthorized' || code === null)) {
    const newer = currentSession()
    // Another call may already have logged in again while this one was on the wire.
    if (newer && newer.token !== session.token && newer.expiresAt > Date.now()) {
      session = newer
    } else {
      clearSession()
      session = await login()
    }
    // Once only: a second 401 means something else is wrong, and looping would hide it.
    response = await send(method, path, data, { ...headers, Authorization: `Bearer ${session.token}` })
  }
  return unwrap(response)
}

/** The user of the stored session, as the last log-in or /me described it. */
function currentUser() {
  const session = currentSession()
  return session ? session.user : null
}

/** @param {Partial<User>} changes */
function updateUser(changes) {
  const session = currentSession()
  if (session) saveSession({ ...session, user: { ...session.user, ...changes } })
}

/** Forget the stored session without a new log-in (after `DELETE /api/v1/me` erased the user). */
function forgetSession() {
  clearSession()
}

module.exports = { request, login, currentUser, updateUser, forgetSession, backendUrl, SESSION_KEY }
