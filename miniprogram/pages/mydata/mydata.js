/**
 * "My data": everything the backend holds about the user (`GET /api/v1/me/export`, docs/api.md
 * "Personal data"), and "Delete my data" (`DELETE /api/v1/me`), which erases them for good and
 * logs them out. After it the page says so and nothing logs in again by itself: a new log-in
 * would be a new person, which only the user's next visit should start.
 */

const { request, forgetSession } = require('../../lib/request')
const { describeError } = require('../../lib/explain')
const { t } = require('../../lib/i18n')

/** @typedef {{level: string, text: string}} Notice */

/** @param {any} document the export */
function summaryOf(document) {
  const user = document.user || {}
  return [
    { label: t('myDataOpenid'), value: user.openid || '' },
    { label: t('myDataPhone'), value: user.phone_number || t('myDataNone') },
    { label: t('myDataAccount'), value: user.external_id || t('myDataNone') },
    { label: t('myDataSince'), value: (user.created_at || '').slice(0, 10) },
    { label: t('myDataSubscriptions'), value: String((document.subscriptions || []).length) },
    { label: t('myDataMessages'), value: String((document.messages || []).length) },
    { label: t('myDataEvents'), value: String((document.consent_events || []).length) },
  ]
}

Page({
  data: {
    loading: true,
    deleting: false,
    erased: false,
    /** @type {{label: string, value: string}[]} */
    summary: [],
    json: '',
    words: { intro: '', remove: '', removed: '', raw: '' },
    /** @type {Notice} */
    notice: { level: 'info', text: '' },
  },

  onLoad() {
    wx.setNavigationBarTitle({ title: t('myDataTitle') })
    this.setData({
      words: { intro: t('myDataIntro'), remove: t('myDataDelete'), removed: t('myDataDeleted'), raw: t('myDataRaw') },
    })
    return this.load()
  },

  load() {
    const app = /** @type {IAppOption} */ (getApp())
    return app
      .whenLoggedIn()
      .then(() => request('GET', '/api/v1/me/export'))
      .then(
        (document) =>
          this.setData({ loading: false, summary: summaryOf(document), json: JSON.stringify(document, null, 2) }),
        /** @param {unknown} error */
        (error) => this.setData({ loading: false, notice: { level: 'error', text: describeError(error, 'data') } }),
      )
  },

  /** Asks first: an erase cannot be undone. */
  onDelete() {
    if (this.data.deleting || this.data.erased) return
    return new Promise((resolve) => {
      wx.showModal({
        title: t('myDataConfirmTitle'),
        content: t('myDataConfirmBody'),
        confirmText: t('myDataConfirm'),
        confirmColor: '#fa5151',
        cancelText: t('myDataCancel'),
        success: (res) => resolve(res.confirm ? this.erase() : undefined),
        fail: () => resolve(undefined),
      })
    })
  },

  erase() {
    this.setData({ deleting: true, notice: { level: 'info', text: '' } })
    return request('DELETE', '/api/v1/me').then(
      () => {
        forgetSession() // the token is void now; a silent re-login would make a new user
        const app = /** @type {IAppOption} */ (getApp())
        app.session = null
        this.setData({ deleting: false, erased: true, summary: [], json: '' })
      },
      /** @param {unknown} error */
      (error) => this.setData({ deleting: false, notice: { level: 'error', text: describeError(error, 'data') } }),
    )
  },

  onNoticeClose() {
    this.setData({ notice: { level: 'info', text: '' } })
  },
})
