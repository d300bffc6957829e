/**
 * The phone-number button: `open-type="getPhoneNumber"` → the event's one-time `code` →
 * `/api/v1/auth/phone`. The backend exchanges the code with WeChat; the phone never sees
 * the session key or any secret.
 *
 * Emits `linked` with the backend's answer ({phone_number, pure_phone_number,
 * country_code}) and `notice` with {level, text} for everything the user should read.
 */

const { request } = require('../../lib/request')
const { describeError, phoneRefusal } = require('../../lib/explain')
const { t } = require('../../lib/i18n')

/**
 * "13800001234" → "138****1234": enough for the user to recognise it on screen.
 * @param {string} phone
 */
function mask(phone) {
  const digits = String(phone || '')
  return digits.length >= 7 ? `${digits.slice(0, 3)}****${digits.slice(-4)}` : digits
}

Component({
  properties: {
    hasPhone: { type: Boolean, value: false },
    /** The number to show once linked (masked here). */
    phoneNumber: { type: String, value: '' },
  },

  data: {
    busy: false,
    introText: '',
    buttonText: '',
    linkedText: '',
  },

  observers: {
    phoneNumber(phone) {
      this.setData({ linkedText: t('phoneLinked', { phone: mask(phone) }) })
    },
  },

  lifetimes: {
    attached() {
      this.setData({
        introText: t('phoneIntro'),
        buttonText: t('phoneButton'),
        linkedText: t('phoneLinked', { phone: mask(this.data.phoneNumber) }),
      })
    },
  },

  methods: {
    /** @param {{detail: {errMsg?: string, code?: string, errno?: number}}} event */
    onGetPhoneNumber(event) {
      const detail = event.detail || {}
      // The code exists only when the user allowed it ("getPhoneNumber:ok") on base
      // library 2.21.2 or later; every other case gets its own words.
      if (!detail.code || !/:ok$/.test(detail.errMsg || '')) {
        this.triggerEvent('notice', { level: 'info', text: phoneRefusal(detail) })
        return
      }
      if (this.data.busy) return
      this.setData({ busy: true })
      return request('POST', '/api/v1/auth/phone', { data: { code: detail.code } })
        .then((answer) => {
          this.triggerEvent('linked', answer)
          this.triggerEvent('notice', { level: 'success', text: t('phoneLinkedNotice') })
        })
        .catch((error) => {
          this.triggerEvent('notice', { level: 'error', text: describeError(error, 'phone') })
        })
        .then(() => this.setData({ busy: false }))
    },
  },
})
