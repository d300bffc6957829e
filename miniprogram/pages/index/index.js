/**
 * The one page: the phone number, the credits left per template, and the subscribe
 * button. The page only wires things together: the logic is in the components and lib/.
 */

const { request, updateUser } = require('../../lib/request')
const subscribe = require('../../lib/subscribe')
const { describeError } = require('../../lib/explain')
const { t } = require('../../lib/i18n')
const { noNotice, noticeData } = require('../../lib/notice')

/** What a notice's button does, and its label. */
const ACTIONS = {
  openSettings: 'openSettings',
  retryLogin: 'retry',
  refresh: 'retry',
}

/**
 * @typedef {import('../../lib/notice').Notice} Notice
 */

Page({
  data: {
    signingIn: true,
    signingInText: '',
    /** The way to pages/link: binding the business system's account. */
    linkLabel: '',
    myDataLabel: '',
    /** Logged in: the rest of the page can show. */
    ready: false,
    /** The credits have been read once: until then the subscribe button can't know what is short. */
    loaded: false,
    hasPhone: false,
    phoneNumber: '',
    /** @type {any[]} */
    subscriptions: [],
    /** @type {any} */
    setting: null,
    /** @type {Notice} */
    notice: noNotice(),
  },

  onLoad() {
    wx.setNavigationBarTitle({ title: t('pageTitle') })
    this.setData({ signingInText: t('signingIn'), linkLabel: t('linkEntry'), myDataLabel: t('myDataEntry') })
    return this.start(false)
  },

  onShow() {
    // Back from WeChat's settings page or from the background: the standing choices and
    // the credits may have changed meanwhile.
    if (this.data.ready) return this.refresh()
  },

  onPullDownRefresh() {
    return this.refresh().then(() => wx.stopPullDownRefresh())
  },

  /** @param {boolean} again log in anew (after a failure) rather than await the launch's log-in */
  start(again) {
    const app = /** @type {IAppOption} */ (getApp())
    this.setData({ signingIn: true })
    return (again ? app.relogin() : app.whenLoggedIn()).then(
      () => {
        this.setData({ signingIn: false, ready: true })
        return this.refresh()
      },
      /** @param {unknown} error */
      (error) => {
        this.setData({ signingIn: false })
        this.showNotice({ level: 'error', text: describeError(error, 'login'), action: 'retryLogin' })
      },
    )
  },

  /** Reports still waiting are sent first, so the credits shown include them. */
  refresh() {
    const setting = subscribe.readSetting()
    const account = subscribe
      .flushOutbox()
      .catch(() => 0)
      .then(() => Promise.all([request('GET', '/api/v1/me'), subscribe.listSubscriptions()]))
    return Promise.all([account, setting]).then(
      ([[me, subscriptions], standing]) => {
        this.setData({
          hasPhone: Boolean(me.has_phone),
          phoneNumber: me.phone_number || '',
          subscriptions,
          setting: standing,
          loaded: true,
        })
        if (this.data.notice.action === 'refresh') this.clearNotice()
      },
      (error) => {
        this.showNotice({ level: 'error', text: describeError(error, 'load'), action: 'refresh' })
      },
    )
  },

  /** @param {Notice} notice */
  showNotice(notice) {
    this.setData({ notice: noticeData(notice, ACTIONS) })
  },

  clearNotice() {
    this.setData({ notice: noNotice() })
  },

  /** @param {{detail: Notice}} event */
  onNotice(event) {
    this.showNotice(event.detail)
  },

  onNoticeClose() {
    this.clearNotice()
  },

  onNoticeAction() {
    const action = this.data.notice.action
    this.clearNotice()
    if (action === 'openSettings') {
      // Still inside the user's tap (events pass on synchronously): openSetting needs it.
      wx.openSetting({ withSubscriptions: true, complete: () => this.onSettingChange() })
      return
    }
    if (action === 'retryLogin') return this.start(true)
    if (action === 'refresh') return this.refresh()
  },

  /** @param {{detail: {phone_number?: string, pure_phone_number?: string}}} event */
  onPhoneLinked(event) {
    updateUser({ has_phone: true })
    this.setData({ hasPhone: true, phoneNumber: event.detail.phone_number || event.detail.pure_phone_number || '' })
  },

  /** @param {{detail: {subscriptions: any[]}}} event */
  onReported(event) {
    this.setData({ subscriptions: subscribe.mergeSubscriptions(this.data.subscriptions, event.detail.subscriptions) })
  },

  onOpenMyData() {
    wx.navigateTo({ url: '/pages/mydata/mydata' })
  },

  onOpenLink() {
    wx.navigateTo({ url: '/pages/link/link' })
  },

  onSettingChange() {
    return subscribe.readSetting().then((setting) => this.setData({ setting }))
  },
})
