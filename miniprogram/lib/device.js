/**
 * Device subscribe messages on the phone's side (docs/wechat.md §11): which device a page
 * was opened for, binding the user to it with a device binding code, its sn_ticket from the
 * backend, the device popup, and the state of each device template for that device. Reports go through lib/subscribe.js `report`, with the
 * device beside the results, so they share its outbox.
 */

const config = require('../config')
const { request } = require('./request')
const { WxApiError } = require('./errors')

/** Ask for a new ticket this long before the backend's expiry: the user still has to tap. */
const TICKET_MARGIN_MS = 15 * 1000
/** wx.requestSubscribeDeviceMessage takes at most 3 template ids (§11b). */
const MAX_PER_DEVICE_POPUP = 3

/**
 * @typedef {{model_id: string, sn: string}} Device
 * @typedef {{id: string, title: string | Record<string, string>}} DeviceTemplate
 * @typedef {{model_id: string, title: string | Record<string, string>, templates: DeviceTemplate[]}} DeviceModel
 * @typedef {{value: string, expiresAt: number}} Ticket
 * @typedef {import('./subscribe').Subscription} Subscription
 */

/** @param {unknown} value */
function text(value) {
  if (typeof value !== 'string' || !value) return ''
  try {
    return decodeURIComponent(value).trim()
  } catch (_) {
    return value.trim()
  }
}

/**
 * The page's query as the QR code gave it: `?model_id=&sn=&code=` directly, or inside `q`
 * (the whole URL of a QR code of an ordinary link, 扫普通链接二维码).
 * @param {Record<string, string | undefined>} query the page's onLoad query
 * @returns {Record<string, string | undefined>}
 */
function queryParams(query) {
  const params = query || {}
  const url = text(params.q)
  return url && url.indexOf('?') >= 0 ? paramsOf(url) : params
}

/**
 * The parameters of a URL's query (or of `a=1&b=2`).
 * @param {string} url
 * @returns {Record<string, string>}
 */
function paramsOf(url) {
  /** @type {Record<string, string>} */
  const params = {}
  url
    .slice(url.indexOf('?') + 1)
    .split('&')
    .forEach((pair) => {
      const [name, value = ''] = pair.split('=')
      params[name] = value
    })
  return params
}

/**
 * The device a page was opened for, or null when either of model_id and sn is missing.
 * @param {Record<string, string | undefined>} query the page's onLoad query
 * @returns {Device | null}
 */
function deviceFromQuery(query) {
  const params = queryParams(query)
  const model_id = text(params.model_id)
  const sn = text(params.sn)
  return model_id && sn ? { model_id, sn } : null
}

/**
 * The device binding code the device's QR code carries (`code=`), or ''.
 * @param {Record<string, string | undefined>} query the page's onLoad query
 */
function bindingCodeFromQuery(query) {
  return text(queryParams(query).code)
}

/**
 * The code in what wx.scanCode read: a URL or query with `code=` (the device's QR code), or
 * the code itself (a code printed as a QR code of its own).
 * @param {string} scanned
 */
function codeFromScan(scanned) {
  const read = text(scanned)
  if (/[?&]code=/.test(read) || /^code=/.test(read)) return text(paramsOf(read).code)
  return read
}

/**
 * This mini program's configuration of a device type, or null.
 * @param {string} modelId
 * @returns {DeviceModel | null}
 */
function deviceModel(modelId) {
  const models = /** @type {DeviceModel[]} */ (config.devices || [])
  return models.find((model) => model.model_id === modelId) || null
}

/**
 * A ticket for the device's popup, from `POST /api/v1/devices/sn-ticket`.
 * @param {Device} device
 * @returns {Promise<Ticket>}
 */
async function fetchTicket(device) {
  const body = await request('POST', '/api/v1/devices/sn-ticket', { data: { model_id: device.model_id, sn: device.sn } })
  return { value: String(body.sn_ticket), expiresAt: Date.now() + Number(body.expires_in || 0) * 1000 - TICKET_MARGIN_MS }
}

/**
 * Bind this user to the device of a device binding code (`POST /api/v1/me/devices`): the
 * binding, `{model_id, sn, ...}`. The backend hands a device's ticket to bound users only.
 * @param {string} code
 * @returns {Promise<Device>}
 */
async function redeemCode(code) {
  return request('POST', '/api/v1/me/devices', { data: { code } })
}

/**
 * What wx.scanCode read (the camera, or an image from the album).
 * @returns {Promise<string>}
 */
function scan() {
  return new Promise((resolve, reject) => {
    wx.scanCode({
      scanType: ['qrCode'],
      success: (res) => resolve(String(res.result || '')),
      fail: (err) => reject(new WxApiError('scanCode', err && err.errMsg, '')),
    })
  })
}

/** @param {Ticket | null} ticket */
function ticketUsable(ticket) {
  return Boolean(ticket && ticket.value && ticket.expiresAt > Date.now())
}

/**
 * The device popup. Call it synchronously from a tap handler, before any `await`: WeChat
 * shows it only in answer to a tap (§11b). Needs base library 2.20.0.
 * @param {Device} device
 * @param {string} snTicket
 * @param {string[]} tmplIds
 * @returns {Promise<Record<string, string>>} the raw success object, errMsg included
 */
function askDevice(device, snTicket, tmplIds) {
  const api = 'requestSubscribeDeviceMessage'
  return new Promise((resolve, reject) => {
    if (typeof wx.requestSubscribeDeviceMessage !== 'function') {
      reject(new WxApiError(api, `${api}:fail unsupported`, 'unsupported'))
      return
    }
    wx.requestSubscribeDeviceMessage({
      tmplIds,
      sn: device.sn,
      snTicket,
      modelId: device.model_id,
      success: (res) => resolve(/** @type {any} */ (res)),
      fail: (err) => reject(new WxApiError(api, err && err.errMsg, err && /** @type {any} */ (err).errCode)),
    })
  })
}

/**
 * The user's subscriptions for this device, by template id.
 * @param {Subscription[]} subscriptions everything GET /api/v1/subscriptions lists
 * @param {Device} device
 * @returns {Record<string, Subscription>}
 */
function deviceSubscriptions(subscriptions, device) {
  /** @type {Record<string, Subscription>} */
  const byId = {}
  ;(subscriptions || []).forEach((sub) => {
    const of = sub.device
    if (of && of.model_id === device.model_id && of.sn === device.sn) byId[sub.template_id] = sub
  })
  return byId
}

/**
 * Where a template stands for this device: 'audio' (on, with a voice reminder), 'on',
 * 'off', 'ban' or 'none' (never asked).
 * @param {Subscription | undefined} sub
 */
function templateState(sub) {
  if (!sub) return 'none'
  if (/^accept/.test(sub.status)) return sub.audio ? 'audio' : 'on'
  return sub.status === 'ban' ? 'ban' : 'off'
}

/**
 * The templates worth asking for: those not on and not banned, at most 3.
 * @param {DeviceTemplate[]} templates
 * @param {Record<string, Subscription>} byId deviceSubscriptions()
 * @returns {string[]}
 */
function planDevicePopup(templates, byId) {
  return templates
    .filter((template) => ['none', 'off'].indexOf(templateState(byId[template.id])) >= 0)
    .slice(0, MAX_PER_DEVICE_POPUP)
    .map((template) => template.id)
}

/**
 * The list after a device report: the report's answer names only the templates it was about.
 * @param {Subscription[]} current
 * @param {Subscription[]} fresh
 * @returns {Subscription[]}
 */
function mergeDeviceSubscriptions(current, fresh) {
  /** @param {Subscription} sub */
  const key = (sub) => [sub.template_id, sub.device ? sub.device.model_id : '', sub.device ? sub.device.sn : ''].join(' ')
  const replaced = new Set((fresh || []).map(key))
  return (current || []).filter((sub) => !replaced.has(key(sub))).concat(fresh || [])
}

module.exports = {
  deviceFromQuery,
  bindingCodeFromQuery,
  codeFromScan,
  redeemCode,
  scan,
  deviceModel,
  fetchTicket,
  ticketUsable,
  askDevice,
  deviceSubscriptions,
  templateState,
  planDevicePopup,
  mergeDeviceSubscriptions,
  MAX_PER_DEVICE_POPUP,
}
