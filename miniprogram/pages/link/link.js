/**
 * "Link your account": the user types the binding code the business system showed them
 * (a page after its own log-in, an e-mail), and the backend binds that system's id to this
 * WeChat user (`POST /api/v1/me/binding`, docs/api.md). From then on the business system
 * can notify the user by its own id. The page may be opened with the code in its query
 * (`pages/link/link?code=…`, e.g. from a QR code), which fills the field.
 */

const { request } = require('../../lib/request')
const { describeError } = require('../../lib/explain')
const { t } = require('../../lib/i18n')

/** @typedef {{level: string, text: string}} Notice */

Page({
  data: {
    ready: false,
    code: '',
    linking: false,
    /** The business system's id this user is linked to, '' while none. */
    linkedAs: '',
    words: { intro: '', placeholder: '', button: '', linkedAs: '' },
    /** @type {Notice} */
    notice: { level: 'info', text: '' },
  },

  /** @param {{code?: string}} query */
  onLoad(query) {
    wx.setNavigationBarTitle({ title: t('linkTitle') })
    this.setData({
      code: (query && query.code) || '',
      words: { intro: t('linkIntro'), placeholder: t('linkPlaceholder'), button: t('linkButton'), linkedAs: '' },
    })
    const app = /** @type {IAppOption} */ (getApp())
    return app
      .whenLoggedIn()
      .then(() => request('GET', '/api/v1/me'))
      .then(
        (me) => {
          this.setData({ ready: true })
          this.showLinked(me.external_id || '')
        },
        /** @param {unknown} error */
        (error) => this.setData({ notice: { level: 'error', text: describeError(error, 'login') } }),
      )
  },

  /** @param {string} externalId */
  showLinked(externalId) {
    this.setData({
      linkedAs: externalId,
      'words.linkedAs': externalId ? t('linkLinkedAs', { account: externalId }) : '',
    })
  },

  /** @param {{detail: {value: string}}} event */
  onInput(event) {
    this.setData({ code: event.detail.value })
  },

  onSubmit() {
    const code = this.data.code.trim()
    if (!code || this.data.linking) return
    this.setData({ linking: true, notice: { level: 'info', text: '' } })
    return request('POST', '/api/v1/me/binding', { data: { code } }).then(
      (me) => {
        this.showLinked(me.external_id || '')
        this.setData({ linking: false, code: '', notice: { level: 'success', text: t('linkDone') } })
      },
      /** @param {any} error */
      (error) => this.setData({ linking: false, notice: { level: 'error', text: describeError(error, 'link') } }),
    )
  },

  onNoticeClose() {
    this.setData({ notice: { level: 'info', text: '' } })
  },
})
