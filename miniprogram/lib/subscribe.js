/**
 * Subscribe messages on the phone's side: which templates to ask for, the popup itself,
 * reporting what it returned, and what wx.getSetting says about the user's standing choices.
 */

const config = require('../config')
const { request } = require('./request')
const { WxApiError, isRetryable } = require('./errors')

const OUTBOX_KEY = 'wxsub.reportOutbox'
const LIMIT_KEY = 'wxsub.popupLimit'
/** The backend keeps Idempotency-Keys for at least 24 hours: an older report could count twice. */
const OUTBOX_MAX_AGE_MS = 23 * 60 * 60 * 1000
const OUTBOX_MAX_ENTRIES = 20

/**
 * @typedef {{id: string, kind: 'one_time' | 'long_term', keep?: number, title: string | Record<string, string>}} TemplateConfig
 * @typedef {{template_id: string, kind: string, status: string, remaining: number | null, reported?: string, device?: Device, audio?: boolean}} Subscription
 * @typedef {{mainSwitch: boolean, itemSettings: Record<string, string>}} SubscriptionSetting
 * @typedef {{kind: string | null, ids: string[], blocked: 'main_switch_off' | null}} Plan
 * @typedef {{model_id: string, sn: string}} Device
 * @typedef {{key: string, body: {results: Record<string, string>, scene: string, device?: Device}, at: number}} OutboxEntry
 * @typedef {{template_id: string, reason: 'waiting' | 'no_credit', waiting: number}} Prompt
 * @typedef {{templates: Prompt[], main_switch: boolean | null}} Prompts
 */

/**
 * "1.2.3" vs "1.10": -1, 0 or 1.
 * @param {string} a
 * @param {string} b
 */
function compareVersions(a, b) {
  const x = String(a).split('.')
  const y = String(b).split('.')
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (parseInt(x[i], 10) || 0) - (parseInt(y[i], 10) || 0)
    if (d) return d > 0 ? 1 : -1
  }
  return 0
}

/** The client's base library version, or '' when it can't be read. */
function sdkVersion() {
  try {
    return typeof wx.getAppBaseInfo === 'function' ? wx.getAppBaseInfo().SDKVersion : wx.getSystemInfoSync().SDKVersion
  } catch (_) {
    return ''
  }
}

/** How many template ids one popup may carry on this client. */
function popupLimit() {
  let limit = config.maxPerPopup || 5
  try {
    // Learned from an earlier errCode 20003 ("Templates count out of max bounds").
    const learned = Number(wx.getStorageSync(LIMIT_KEY))
    if (learned > 0) limit = Math.min(limit, learned)
  } catch (_) {
    // keep the configured limit
  }
  const version = sdkVersion()
  // Base library 2.4.4 to 2.8.3 take a single template id per call.
  if (version && compareVersions(version, '2.8.4') < 0) limit = 1
  return limit
}

/** After errCode 20003: remember a lower limit (5 → 3 → 1) for the next tap. */
function lowerPopupLimit() {
  const next = popupLimit() > 3 ? 3 : 1
  try {
    wx.setStorageSync(LIMIT_KEY, next)
  } catch (_) {
    // the next tap will meet 20003 again and try again
  }
  return next
}

/** A standing choice from getSetting's itemSettings, normalised. @param {string | undefined} status */
function standing(status) {
  if (!status) return null
  // 'acceptWithAudio' / 'acceptWithAlert' are accepts with a reminder style.
  return /^accept/.test(status) ? 'accept' : status
}

/**
 * The templates worth one popup now: those short of credits (a one-time template with
 * fewer than `keep` left, a long-term one not accepted), of one kind only, since WeChat
 * refuses mixed kinds (20002), and at most `limit` of them (20003).
 * Templates the user set to "always decline" or that are banned are left out: WeChat
 * would show nothing and answer for the user.
 * @param {TemplateConfig[]} templates
 * @param {Subscription[]} subscriptions
 * @param {SubscriptionSetting | null} setting
 * @param {number} limit
 * @returns {Plan}
 */
function planPopup(templates, subscriptions, setting, limit) {
  if (setting && setting.mainSwitch === false) return { kind: null, ids: [], blocked: 'main_switch_off' }
  const byId = indexSubscriptions(subscriptions)
  const short = templates.filter((template) => {
    const sub = byId[template.id]
    const choice = setting ? standing(setting.itemSettings[template.id]) : null
    if (choice === 'reject' || choice === 'ban' || (sub && sub.status === 'ban')) return false
    if (kindOf(template, sub) === 'long_term') return !sub || sub.status !== 'accept'
    return (sub && sub.remaining ? sub.remaining : 0) < (template.keep || 1)
  })
  if (!short.length) return { kind: null, ids: [], blocked: null }
  const kind = kindOf(short[0], byId[short[0].id])
  const ids = short
    .filter((template) => kindOf(template, byId[template.id]) === kind)
    .slice(0, Math.max(1, limit))
    .map((template) => template.id)
  return { kind, ids, blocked: null }
}

/**
 * The popup the backend asks for (GET /api/v1/me/prompts): exactly its templates, in its
 * order (held messages first), cut to what this client's popup takes. The backend already
 * keeps them to one kind and to at most 5; a main switch off, here or as last reported
 * there, means no popup at all: the settings page is the way.
 * @param {Prompts} prompts
 * @param {SubscriptionSetting | null} setting
 * @param {number} limit
 * @returns {Plan}
 */
function planFromPrompts(prompts, setting, limit) {
  if ((setting && setting.mainSwitch === false) || (!setting && prompts.main_switch === false)) {
    return { kind: null, ids: [], blocked: 'main_switch_off' }
  }
  const ids = (prompts.templates || []).slice(0, Math.max(1, limit)).map((prompt) => prompt.template_id)
  const first = config.templates.find((template) => template.id === ids[0])
  return { kind: ids.length ? (first ? first.kind : 'one_time') : null, ids, blocked: null }
}

/**
 * The prompts after a report, without asking the backend again: an accepted template's
 * accept went to one waiting message (or is a credit now), so it is asked for again only
 * while more messages wait for it.
 * @param {Prompts} prompts
 * @param {Subscription[]} reported the report's answer
 * @returns {Prompts}
 */
function afterReport(prompts, reported) {
  const accepted = new Set((reported || []).filter((sub) => sub.status === 'accept').map((sub) => sub.template_id))
  const templates = (prompts.templates || [])
    .map((prompt) => (accepted.has(prompt.template_id) ? { ...prompt, waiting: Math.max(0, prompt.waiting - 1) } : prompt))
    .filter((prompt) => !accepted.has(prompt.template_id) || prompt.waiting > 0)
  return { ...prompts, templates }
}

/** @returns {Promise<Prompts>} the templates the backend would have the user asked for now */
function fetchPrompts() {
  return request('GET', '/api/v1/me/prompts')
}

/**
 * Tell the backend what wx.getSetting said: the main switch and the "always keep" choices.
 * The backend stores them (they never add a credit) and refuses sends while the switch is off.
 * @param {SubscriptionSetting} setting
 */
function reportSetting(setting) {
  return request('POST', '/api/v1/me/subscription-settings', {
    data: { mainSwitch: setting.mainSwitch, itemSettings: setting.itemSettings || {} },
  })
}

/**
 * The backend learns each template's real kind from WeChat; trust it over config.js.
 * @param {TemplateConfig} template
 * @param {Subscription | undefined} sub
 */
function kindOf(template, sub) {
  return sub && sub.kind ? sub.kind : template.kind
}

/** @param {Subscription[]} subscriptions @returns {Record<string, Subscription>} */
function indexSubscriptions(subscriptions) {
  /** @type {Record<string, Subscription>} */
  const byId = {}
  ;(subscriptions || []).forEach((sub) => {
    byId[sub.template_id] = sub
  })
  return byId
}

/**
 * The popup. Call it synchronously from a tap handler, before any `await`: since base
 * library 2.8.2 WeChat shows it only in answer to a tap (the Promise executor runs at once).
 * @param {string[]} tmplIds
 * @returns {Promise<Record<string, string>>} the raw success object, errMsg included
 */
function askWeChat(tmplIds) {
  return new Promise((resolve, reject) => {
    if (typeof wx.requestSubscribeMessage !== 'function') {
      // Base library older than 2.4.4.
      reject(new WxApiError('requestSubscribeMessage', 'requestSubscribeMessage:fail unsupported', 'unsupported'))
      return
    }
    wx.requestSubscribeMessage({
      tmplIds,
      success: (res) => resolve(/** @type {any} */ (res)),
      fail: (err) => reject(new WxApiError('requestSubscribeMessage', err && err.errMsg, err && err.errCode)),
    })
  })
}

/** An Idempotency-Key unique enough for one user's reports. */
function newKey() {
  const random = Math.random().toString(36).slice(2, 12)
  return `popup-${Date.now().toString(36)}-${random}`
}

/** @returns {OutboxEntry[]} */
function readOutbox() {
  try {
    const entries = wx.getStorageSync(OUTBOX_KEY)
    return Array.isArray(entries) ? entries : []
  } catch (_) {
    return []
  }
}

/** @param {OutboxEntry[]} entries */
function writeOutbox(entries) {
  try {
    if (entries.length) wx.setStorageSync(OUTBOX_KEY, entries.slice(-OUTBOX_MAX_ENTRIES))
    else wx.removeStorageSync(OUTBOX_KEY)
  } catch (_) {
    // Storage unavailable: the report is tried this once only.
  }
}

/** @param {string} key */
function dropFromOutbox(key) {
  writeOutbox(readOutbox().filter((entry) => entry.key !== key))
}

/** @param {OutboxEntry} entry */
function sendReport(entry) {
  return request('POST', '/api/v1/subscriptions', {
    data: entry.body,
    headers: { 'Idempotency-Key': entry.key },
  })
}

/**
 * Report what one popup returned, as it came (errMsg included): the backend records every
 * answer, rejects too. The report is written to storage first and kept there until the
 * backend has it, so a lost connection or a closed app doesn't lose a credit the user gave;
 * its Idempotency-Key makes a resend count once.
 * @param {Record<string, string>} results the popup's success object
 * @param {string} [scene]
 * @param {Device} [device] for a device popup (wx.requestSubscribeDeviceMessage): its device
 * @returns {Promise<{subscriptions: Subscription[]}>}
 */
async function report(results, scene, device) {
  /** @type {Record<string, string>} */
  const body = {}
  Object.keys(results).forEach((key) => {
    // The backend takes accept / reject / ban / filter; newer clients may say
    // 'acceptWithAudio' or 'acceptWithAlert' for an accept with a reminder style. A device
    // report keeps 'acceptWithAudio': the backend records the voice reminder (docs/api.md).
    body[key] = !device && key !== 'errMsg' && /^accept./.test(results[key]) ? 'accept' : results[key]
  })
  /** @type {OutboxEntry['body']} */
  const payload = { results: body, scene: scene || config.scene }
  if (device) payload.device = { model_id: device.model_id, sn: device.sn }
  /** @type {OutboxEntry} */
  const entry = { key: newKey(), body: payload, at: Date.now() }
  writeOutbox(readOutbox().concat([entry]))
  try {
    const answer = await sendReport(entry)
    dropFromOutbox(entry.key)
    return answer
  } catch (error) {
    // A refusal (400, 422) will not change on a resend; anything else waits in the outbox.
    if (!isRetryable(error)) dropFromOutbox(entry.key)
    throw error
  }
}

/**
 * Resend reports that did not reach the backend (at launch, and when a page shows again).
 * Stops at the first one that still can't be delivered.
 * @returns {Promise<number>} how many were delivered
 */
async function flushOutbox() {
  let delivered = 0
  const now = Date.now()
  for (const entry of readOutbox()) {
    if (now - entry.at > OUTBOX_MAX_AGE_MS) {
      dropFromOutbox(entry.key)
      continue
    }
    try {
      await sendReport(entry)
      delivered += 1
      dropFromOutbox(entry.key)
    } catch (error) {
      if (isRetryable(error)) break
      dropFromOutbox(entry.key)
    }
  }
  return delivered
}

/** @returns {Promise<Subscription[]>} every template the user has reported on */
async function listSubscriptions() {
  const body = await request('GET', '/api/v1/subscriptions')
  return body.subscriptions || []
}

/**
 * The user's standing choices: the main switch, and the templates for which they ticked
 * "always keep this choice" (总是保持以上选择，不再询问). Null when WeChat can't say.
 * @returns {Promise<SubscriptionSetting | null>}
 */
function readSetting() {
  return new Promise((resolve) => {
    if (typeof wx.getSetting !== 'function') {
      resolve(null)
      return
    }
    wx.getSetting({
      withSubscriptions: true,
      success: (res) => {
        const setting = /** @type {any} */ (res).subscriptionsSetting
        if (!setting) {
          resolve(null)
          return
        }
        resolve({ mainSwitch: setting.mainSwitch !== false, itemSettings: setting.itemSettings || {} })
      },
      // Not knowing is not an error for the user: the popup will tell.
      fail: () => resolve(null),
    })
  })
}

module.exports = {
  planPopup,
  planFromPrompts,
  afterReport,
  fetchPrompts,
  reportSetting,
  popupLimit,
  lowerPopupLimit,
  askWeChat,
  report,
  flushOutbox,
  readOutbox,
  listSubscriptions,
  readSetting,
  standing,
  compareVersions,
  OUTBOX_KEY,
  LIMIT_KEY,
}

/**
 * The list after a report: the report's answer names only the templates it was about.
 * @param {Subscription[]} current
 * @param {Subscription[]} fresh
 * @returns {Subscription[]}
 */
function mergeSubscriptions(current, fresh) {
  const byId = indexSubscriptions(fresh)
  const merged = (current || []).map((sub) => byId[sub.template_id] || sub)
  ;(fresh || []).forEach((sub) => {
    if (!merged.some((item) => item.template_id === sub.template_id)) merged.push(sub)
  })
  return merged
}

module.exports.mergeSubscriptions = mergeSubscriptions
