/**
 * The three ways a call can fail, each with what the UI needs to put it into words.
 *
 * Callers branch on `kind` rather than `instanceof`: code transpiled to ES5 (DevTools'
 * "ES6 → ES5" option) can lose the prototype chain of Error subclasses.
 */

/** The backend answered with its error shape `{"error": {"code", "message", "details"}}`. */
class ApiError extends Error {
  /**
   * @param {number} status HTTP status
   * @param {string} code the backend's snake_case code (docs/api.md, "Errors")
   * @param {string} message the backend's words, for logs: the UI has its own
   * @param {Record<string, unknown>} [details]
   */
  constructor(status, code, message, details) {
    super(message || code)
    this.name = 'ApiError'
    /** @type {'api'} */
    this.kind = 'api'
    this.status = status
    this.code = code
    this.details = details || {}
  }

  /**
   * The error of a non-2xx response; a body without the error shape (a proxy's HTML page,
   * say) still yields a code, so the UI always has one to branch on.
   * @param {{statusCode: number, data?: unknown}} response
   */
  static fromResponse(response) {
    const body = /** @type {any} */ (response.data)
    const error = body && typeof body === 'object' ? body.error : null
    if (error && typeof error.code === 'string') {
      return new ApiError(response.statusCode, error.code, String(error.message || ''), error.details)
    }
    const code = response.statusCode >= 500 ? 'server_error' : 'unexpected_response'
    return new ApiError(response.statusCode, code, `HTTP ${response.statusCode}`)
  }
}

/** wx.request failed before any answer: offline, DNS, TLS, time-out. */
class NetworkError extends Error {
  /** @param {string} [errMsg] wx.request's fail errMsg, e.g. "request:fail timeout" */
  constructor(errMsg) {
    super(errMsg || 'request:fail')
    this.name = 'NetworkError'
    /** @type {'network'} */
    this.kind = 'network'
    this.timeout = /time ?out/i.test(errMsg || '')
  }
}

/** A wx.* API called its `fail` callback (wx.login, wx.requestSubscribeMessage, ...). */
class WxApiError extends Error {
  /**
   * @param {string} api the wx API's name, e.g. "requestSubscribeMessage"
   * @param {string} [errMsg]
   * @param {number | string} [errCode] WeChat's errCode / errno, when it gave one
   */
  constructor(api, errMsg, errCode) {
    super(errMsg || `${api}:fail`)
    this.name = 'WxApiError'
    /** @type {'wx'} */
    this.kind = 'wx'
    this.api = api
    this.errCode = errCode
  }
}

/**
 * Whether the same call may succeed later. Only a refusal of the request itself is final
 * (400 invalid_request, 403, 404, 422 idempotency_conflict...); anything else may pass on
 * another try: no answer at all, a failed re-login on the way (wx.login offline, a
 * rejected code), 401, 408, 409 idempotency_in_progress, 429, 5xx.
 * @param {any} error
 */
function isRetryable(error) {
  if (!error) return false
  if (error.kind !== 'api') return true
  const status = Number(error.status)
  const final = status >= 400 && status < 500 && [401, 408, 409, 429].indexOf(status) < 0
  return !final
}

module.exports = { ApiError, NetworkError, WxApiError, isRetryable }
