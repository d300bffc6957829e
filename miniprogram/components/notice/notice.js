/**
 * A message for the user, on the page rather than in a toast: a toast vanishes in two
 * seconds and can't carry a button, and most of these messages say what to do next.
 * Emits `action` when its button is tapped (the page decides what it does: open the
 * settings, try again), and `close`.
 */

const { t } = require('../../lib/i18n')

Component({
  properties: {
    text: { type: String, value: '' },
    /** info | success | error */
    level: { type: String, value: 'info' },
    /** The action button's label; none when empty. */
    actionLabel: { type: String, value: '' },
  },

  data: {
    closeLabel: '',
  },

  lifetimes: {
    attached() {
      this.setData({ closeLabel: t('dismiss') })
    },
  },

  methods: {
    onAction() {
      // Passed on synchronously, so the page's handler still runs inside the user's tap:
      // wx.openSetting works only there.
      this.triggerEvent('action')
    },
    onClose() {
      this.triggerEvent('close')
    },
  },
})
