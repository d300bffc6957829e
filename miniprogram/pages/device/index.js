/**
 * The device page, opened from the QR code on a device (`?model_id=&sn=&code=`): the state of
 * each of the device's notifications for this user, and a button that asks for them with
 * wx.requestSubscribeDeviceMessage (docs/wechat.md §11). The page gets the device's
 * sn_ticket from the backend as soon as it opens, so that the tap can show the popup at once.
 *
 * The backend hands a device's ticket only to users bound to it (docs/api.md, device
 * bindings). So the page first redeems the device binding code of the QR code, when it has
 * one; a user still not bound (403) is shown a form to scan the device's code (wx.scanCode)
 * or type it, and the ticket is asked for again once the device is linked.
 */

const subscribe = require('../../lib/subscribe')
const device = require('../../lib/device')
const { describeError, describeResults, deviceError } = require('../../lib/explain')
const { isRetryable } = require('../../lib/errors')
const { t, pick } = require('../../lib/i18n')
const { noNotice, noticeData } = require('../../lib/notice')

const SCENE = 'device'
/** What a notice's button does, and its label. */
const ACTIONS = { retryLogin: 'retry', retryTicket: 'retry', refresh: 'retry' }
/** A scan the user closed: nothing to say. */
const CANCELED = /cancel/
/** Words for a template's state (lib/device.js templateState). */
const STATE_WORDS = { audio: 'deviceOnAudio', on: 'deviceOn', off: 'deviceOff', ban: 'creditsBanned', none: 'deviceNotYet' }

/**
 * @typedef {import('../../lib/notice').Notice} Notice
 * @typedef {import('../../lib/device').Device} Device
 * @typedef {import('../../lib/device').DeviceTemplate} DeviceTemplate
 */

Page({
  data: {
    signingIn: false,
    signingInText: '',
    /** A device of a type this mini program knows: the rest of the page can show. */
    known: false,
    ready: false,
    busy: false,
    /** @type {Device} */
    device: { model_id: '', sn: '' },
    /** @type {DeviceTemplate[]} */
    templates: [],
    deviceName: '',
    /** @type {{value: string, expiresAt: number}} */
    ticket: { value: '', expiresAt: 0 },
    ticketReady: false,
    /** The device binding code from the QR code, redeemed once the user is logged in. */
    pendingCode: '',
    /** The ticket was refused (403): the user is not bound to the device; the form shows. */
    needsBinding: false,
    binding: false,
    codeInput: '',
    words: { placeholder: '', scan: '', bind: '' },
    /** @type {any[]} */
    subscriptions: [],
    /** @type {{id: string, title: string, state: string, stateText: string}[]} */
    rows: [],
    /** @type {string[]} */
    plan: [],
    label: '',
    hint: '',
    /** @type {Notice} */
    notice: noNotice(),
  },

  /** @param {Record<string, string | undefined>} query */
  onLoad(query) {
    wx.setNavigationBarTitle({ title: t('deviceTitle') })
    const opened = device.deviceFromQuery(query)
    const model = opened ? device.deviceModel(opened.model_id) : null
    if (!opened || !model) {
      this.showNotice({ level: 'error', text: t(opened ? 'deviceUnknown' : 'deviceMissing') })
      return
    }
    this.setData({
      known: true,
      device: opened,
      templates: model.templates,
      deviceName: t('deviceName', { name: pick(model.title), sn: opened.sn }),
      signingInText: t('signingIn'),
      pendingCode: device.bindingCodeFromQuery(query),
      words: { placeholder: t('deviceCodePlaceholder'), scan: t('deviceScan'), bind: t('deviceBindButton') },
    })
    this.rebuild()
    return this.start(false)
  },

  onShow() {
    // Back from the background: the ticket may have run out, and the subscriptions changed.
    if (!this.data.ready) return
    const ticket = device.ticketUsable(this.data.ticket) ? Promise.resolve() : this.renewTicket()
    return Promise.all([ticket, this.refresh()]).then(() => {})
  },

  onPullDownRefresh() {
    return (this.data.ready ? this.refresh() : Promise.resolve()).then(() => wx.stopPullDownRefresh())
  },

  /** @param {boolean} again log in anew (after a failure) rather than await the launch's log-in */
  start(again) {
    const app = /** @type {IAppOption} */ (getApp())
    this.setData({ signingIn: true })
    return (again ? app.relogin() : app.whenLoggedIn()).then(
      () => {
        this.setData({ signingIn: false, ready: true })
        return Promise.all([this.bindThenTicket(), this.refresh()])
      },
      /** @param {unknown} error */
      (error) => {
        this.setData({ signingIn: false })
        this.showNotice({ level: 'error', text: describeError(error, 'login'), action: 'retryLogin' })
      },
    )
  },

  /**
   * The QR code's device binding code first, if it has one, then the ticket. A code that fails
   * (used already, e.g. by this user on an earlier scan) is said only if the ticket is refused.
   */
  bindThenTicket() {
    const code = this.data.pendingCode
    if (!code) return this.renewTicket()
    this.setData({ pendingCode: '' })
    return device.redeemCode(code).then(
      (bound) => this.renewTicket(this.otherDevice(bound) ? t('deviceCodeOtherDevice') : ''),
      /** @param {any} error */
      (error) => this.renewTicket(describeError(error, 'bind')),
    )
  },

  /** @param {{model_id: string, sn: string}} bound the binding a code made */
  otherDevice(bound) {
    return bound.model_id !== this.data.device.model_id || bound.sn !== this.data.device.sn
  },

  /**
   * A fresh ticket from the backend; until it is here the button waits. Refused because the
   * user is not bound to the device: the form to link it shows, with `why` when a code failed.
   * @param {string} [why]
   */
  renewTicket(why = '') {
    this.setData({ ticketReady: false })
    this.rebuild()
    return device.fetchTicket(this.data.device).then(
      (ticket) => {
        this.setData({ ticket, ticketReady: true, needsBinding: false })
        this.rebuild()
        if (this.data.notice.action === 'retryTicket') this.clearNotice()
      },
      /** @param {any} error */
      (error) => {
        if (error && error.kind === 'api' && error.code === 'forbidden') {
          this.setData({ needsBinding: true })
          this.showNotice({ level: why ? 'error' : 'info', text: why || describeError(error, 'ticket') })
          return
        }
        const action = isRetryable(error) ? 'retryTicket' : ''
        this.showNotice({ level: 'error', text: describeError(error, 'ticket'), action })
      },
    )
  },

  /** @param {{detail: {value: string}}} event */
  onCodeInput(event) {
    this.setData({ codeInput: event.detail.value })
  },

  onBind() {
    return this.link(this.data.codeInput.trim())
  },

  /** The device's QR code through the camera (or an image of it). */
  onScan() {
    if (this.data.binding) return
    return device.scan().then(
      (scanned) => this.link(device.codeFromScan(scanned)),
      /** @param {any} error */
      (error) => {
        if (!CANCELED.test(String(error && error.message))) this.showNotice({ level: 'error', text: describeError(error, 'bind') })
      },
    )
  },

  /**
   * Redeem a device binding code for this device, then ask for the ticket.
   * @param {string} code
   */
  link(code) {
    if (!code || this.data.binding) return
    this.setData({ binding: true })
    return device
      .redeemCode(code)
      .then(
        (bound) => {
          if (this.otherDevice(bound)) {
            this.showNotice({ level: 'error', text: t('deviceCodeOtherDevice') })
            return
          }
          this.setData({ codeInput: '' })
          this.showNotice({ level: 'success', text: t('deviceBound') })
          return this.renewTicket()
        },
        /** @param {any} error */
        (error) => this.showNotice({ level: 'error', text: describeError(error, 'bind') }),
      )
      .then(() => this.setData({ binding: false }))
  },

  /** Reports still waiting are sent first, so the states shown include them. */
  refresh() {
    return subscribe
      .flushOutbox()
      .catch(() => 0)
      .then(() => subscribe.listSubscriptions())
      .then(
        (subscriptions) => {
          this.setData({ subscriptions })
          this.rebuild()
          if (this.data.notice.action === 'refresh') this.clearNotice()
        },
        (error) => this.showNotice({ level: 'error', text: describeError(error, 'load'), action: 'refresh' }),
      )
  },

  /** The rows, and what the button would ask for. */
  rebuild() {
    const byId = device.deviceSubscriptions(this.data.subscriptions, this.data.device)
    const rows = this.data.templates.map((template) => {
      const state = device.templateState(byId[template.id])
      const words = /** @type {Record<string, any>} */ (STATE_WORDS)[state]
      return { id: template.id, title: pick(template.title), state, stateText: t(words) }
    })
    const plan = device.planDevicePopup(this.data.templates, byId)
    let label = t('subscribeAllSet')
    if (!this.data.ticketReady) label = t('deviceGettingReady')
    else if (plan.length) label = t('deviceButton', { count: plan.length })
    this.setData({ rows, plan, label, hint: plan.length ? t('deviceHint') : '' })
  },

  onTap() {
    const plan = this.data.plan
    if (this.data.busy || !plan.length) return
    if (!device.ticketUsable(this.data.ticket)) {
      // The page stayed open past the ticket's 5 minutes: the popup would fail with 19720727.
      this.showNotice({ level: 'info', text: deviceError(19720727) })
      return this.renewTicket()
    }
    this.setData({ busy: true })
    // First thing in the handler, before any await: WeChat shows the popup only in answer to a tap.
    const asked = device.askDevice(this.data.device, this.data.ticket.value, plan)
    return asked
      .then(
        (results) => this.reportResults(results),
        (error) => this.popupFailed(error),
      )
      .then(() => this.setData({ busy: false }))
  },

  /** @param {Record<string, string>} results */
  reportResults(results) {
    const sentences = describeResults(results, this.data.templates)
    const accepted = Object.keys(results).some((id) => id !== 'errMsg' && /^accept/.test(results[id]))
    return subscribe.report(results, SCENE, this.data.device).then(
      (answer) => {
        const subscriptions = device.mergeDeviceSubscriptions(this.data.subscriptions, answer.subscriptions || [])
        this.setData({ subscriptions })
        this.rebuild()
        this.showNotice({ level: accepted ? 'success' : 'info', text: sentences.join(' ') })
      },
      /** @param {any} error */
      (error) => {
        if (isRetryable(error)) {
          // Kept in the outbox and sent again later (lib/subscribe.js flushOutbox).
          this.showNotice({ level: 'info', text: sentences.concat([t('resultQueued')]).join(' ') })
        } else {
          this.showNotice({ level: 'error', text: describeError(error, 'report') })
        }
      },
    )
  },

  /** @param {any} error a WxApiError from wx.requestSubscribeDeviceMessage */
  popupFailed(error) {
    const code = error && error.kind === 'wx' ? Number(error.errCode) : NaN
    this.showNotice({ level: 'error', text: describeError(error, 'subscribe') })
    // 19720726 (the ticket failed its check) and 19720727 (it expired): a new one for the next tap.
    if (code === 19720726 || code === 19720727) return this.renewTicket()
  },

  /** @param {Notice} notice */
  showNotice(notice) {
    this.setData({ notice: noticeData(notice, ACTIONS) })
  },

  clearNotice() {
    this.setData({ notice: noNotice() })
  },

  onNoticeClose() {
    this.clearNotice()
  },

  onNoticeAction() {
    const action = this.data.notice.action
    this.clearNotice()
    if (action === 'retryLogin') return this.start(true)
    if (action === 'retryTicket') return this.renewTicket()
    if (action === 'refresh') return this.refresh()
  },
})
