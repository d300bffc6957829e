/**
 * The privacy agreement, asked before any interface WeChat gates behind the mini program's
 * privacy guide (the phone button among them; docs/wechat.md §13). WeChat calls the handler
 * given to `wx.onNeedPrivacyAuthorization` when such an interface is used before the user
 * agreed; this popup then shows our own words and the guide, and answers WeChat with what the
 * user chose: `agree` (from the button of open-type `agreePrivacyAuthorization`, so WeChat
 * records it) or `disagree`. Until then the gated call waits; after a `disagree` it fails with
 * errno 104, and the phone button says so.
 *
 * Emits `decided` with {agreed: boolean}.
 */

const { t } = require('../../lib/i18n')

/** @typedef {(result: {event: 'agree' | 'disagree', buttonId?: string}) => void} Resolve */

/**
 * WeChat's answer callback while the popup is open. One per mini program: the listener is
 * global (the last page to register it gets the calls), so it is kept here, not per instance.
 * @type {Resolve | null}
 */
let pending = null

Component({
  data: {
    open: false,
    words: { title: '', body: '', guide: '', agree: '', decline: '' },
  },

  lifetimes: {
    attached() {
      this.setData({
        words: {
          title: t('privacyTitle'),
          body: t('privacyBody'),
          guide: t('privacyGuide'),
          agree: t('privacyAgree'),
          decline: t('privacyDecline'),
        },
      })
      // Base library 2.32.3 or later; before it nothing is gated, and nothing needs asking.
      if (typeof wx.onNeedPrivacyAuthorization === 'function') {
        wx.onNeedPrivacyAuthorization((resolve) => {
          // The typings call the first argument a result object; WeChat passes the resolve function.
          pending = /** @type {Resolve} */ (/** @type {unknown} */ (resolve))
          this.setData({ open: true })
        })
      }
    },
  },

  methods: {
    onOpenGuide() {
      if (typeof wx.openPrivacyContract === 'function') wx.openPrivacyContract({})
    },

    /** The agree button (open-type="agreePrivacyAuthorization") was tapped: WeChat has recorded it. */
    onAgree() {
      this.answer('agree')
    },

    onDecline() {
      this.answer('disagree')
    },

    /** @param {'agree' | 'disagree'} event */
    answer(event) {
      const resolve = pending
      pending = null
      this.setData({ open: false })
      if (resolve) resolve(event === 'agree' ? { event, buttonId: 'privacy-agree' } : { event })
      this.triggerEvent('decided', { agreed: event === 'agree' })
    },
  },
})
