/**
 * Turns failures and popup results into words for the user. Every branch the UI can meet
 * ends in a sentence of lib/strings.js, never in WeChat's or the backend's own text.
 */

const { t, has, pick, quoteList } = require('./i18n')

/**
 * wx.requestSubscribeMessage's errCodes (docs/wechat.md §5).
 * 10001 empty list, 10002 / 10003 network, 10004 bad parameter type, 10005 UI could not be
 * shown, 20001 unknown template, 20002 one-time and long-term mixed, 20003 too many ids,
 * 20004 main switch off, 20005 mini program banned, 20013 device-message template.
 */
const SUBSCRIBE_ERRCODES = [10001, 10002, 10003, 10004, 10005, 20001, 20002, 20003, 20004, 20005, 20013]

/** @param {number | string | undefined} errCode */
function subscribeError(errCode) {
  if (errCode === 'unsupported') return t('subUnsupported')
  const code = Number(errCode)
  if (SUBSCRIBE_ERRCODES.indexOf(code) >= 0) return t(/** @type {any} */ (`sub${code}`))
  return t('subUnknown', { code: errCode === undefined ? '?' : String(errCode) })
}

/**
 * wx.requestSubscribeDeviceMessage's own errCodes (docs/wechat.md §11b): 19720726 the
 * sn_ticket failed its check, 19720727 it expired, 19720728 unknown template, 19720736 a
 * template of another device type. Its other codes (10001, 10004, 20001, 20003) mean what
 * they mean for wx.requestSubscribeMessage.
 */
const DEVICE_ERRCODES = [19720726, 19720727, 19720728, 19720736]

/** @param {number | string | undefined} errCode */
function deviceError(errCode) {
  if (errCode === 'unsupported') return t('devUnsupported')
  const code = Number(errCode)
  if (DEVICE_ERRCODES.indexOf(code) >= 0) return t(/** @type {any} */ (`dev${code}`))
  return subscribeError(errCode)
}

/**
 * The getPhoneNumber button's event, when it carries no code.
 * @param {{errMsg?: string, errno?: number}} detail
 */
function phoneRefusal(detail) {
  const errMsg = detail.errMsg || ''
  // "getPhoneNumber:fail user deny" (or ":fail:user deny"): the user said no.
  if (/deny|cancel/i.test(errMsg)) return t('phoneDenied')
  // errno 104: the user declined the privacy agreement (docs/wechat.md §13), which gates the button.
  if (detail.errno === 104 || /privacy/i.test(errMsg)) return t('privacyDeclined')
  // errno 1400001: the mini program's paid quota of phone-number checks is used up.
  if (detail.errno === 1400001) return t('phoneQuota')
  // "fail no permission": the account may not use the button (e.g. not verified).
  if (/no permission|access denied/i.test(errMsg)) return t('phoneUnavailable')
  // Success without a code: a client older than base library 2.21.2, which gives only
  // encryptedData that this backend does not take.
  if (/:ok$/.test(errMsg)) return t('phoneUpdateWeChat')
  return t('phoneFailed')
}

/**
 * @typedef {'login' | 'phone' | 'subscribe' | 'report' | 'load' | 'ticket' | 'link' | 'bind' | 'data'} Context
 * @param {any} error an ApiError, NetworkError or WxApiError (lib/errors.js), or anything
 * @param {Context} context what the user was doing
 * @returns {string}
 */
function describeError(error, context) {
  if (!error) return t('api_server_error')
  if (error.kind === 'network') return t(error.timeout ? 'netTimeout' : 'netOffline')
  if (error.kind === 'wx') {
    if (error.api === 'requestSubscribeMessage') return subscribeError(error.errCode)
    if (error.api === 'requestSubscribeDeviceMessage') return deviceError(error.errCode)
    if (error.api === 'login') return t('loginWx')
    return t('api_unknown', { code: error.api })
  }
  if (error.kind === 'api') {
    // The same code means different things depending on what the user was doing.
    if (error.code === 'wechat_code_invalid' && context === 'login') return t('loginCodeInvalid')
    if (error.code === 'wechat_code_invalid' && context === 'phone') return t('phoneCodeInvalid')
    if (error.code === 'wechat_user_blocked') return t('loginBlocked')
    // POST /api/v1/devices/sn-ticket: WeChat refused the QR code's sn or model_id.
    if (error.code === 'invalid_request' && context === 'ticket') return t('deviceInvalid')
    // With device bindings required, the backend hands a device's ticket to bound users only.
    if (error.code === 'forbidden' && context === 'ticket') return t('deviceNotBound')
    // Redeeming binding codes (account or device): the backend holds a user after 5 wrong ones in a minute.
    if (error.code === 'rate_limited' && (context === 'link' || context === 'bind')) return t('linkTooManyTries')
    const key = `api_${error.code}`
    if (has(key)) return t(/** @type {any} */ (key))
    if (error.status >= 500) return t('api_server_error')
    return t('api_unknown', { code: error.code })
  }
  return t('api_unknown', { code: String((error && error.message) || error) })
}

/**
 * Sentences for what one popup returned, one per kind of answer present.
 * @param {Record<string, string>} results the popup's result object (errMsg included)
 * @param {{id: string, title: string | Record<string, string>}[]} templates config.templates
 * @returns {string[]}
 */
function describeResults(results, templates) {
  /** @type {Record<string, string[]>} */
  const groups = { accept: [], reject: [], ban: [], filter: [] }
  Object.keys(results).forEach((id) => {
    if (id === 'errMsg' || id === 'errCode') return
    const status = /^accept/.test(results[id]) ? 'accept' : results[id]
    const template = templates.find((item) => item.id === id)
    if (groups[status]) groups[status].push(template ? pick(template.title) : id)
  })
  /** @type {string[]} */
  const sentences = []
  if (groups.accept.length) sentences.push(t('resultAccepted', { titles: quoteList(groups.accept) }))
  if (groups.reject.length) sentences.push(t('resultRejected', { titles: quoteList(groups.reject) }))
  if (groups.ban.length) sentences.push(t('resultBanned', { titles: quoteList(groups.ban) }))
  if (groups.filter.length) sentences.push(t('resultFiltered', { titles: quoteList(groups.filter) }))
  return sentences
}

module.exports = {
  describeError,
  describeResults,
  subscribeError,
  deviceError,
  phoneRefusal,
  SUBSCRIBE_ERRCODES,
  DEVICE_ERRCODES,
}
