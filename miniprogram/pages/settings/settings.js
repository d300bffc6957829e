/**
 * "Notifications are off": where a user whose main switch is off (wx.getSetting's
 * `mainSwitch: false`) is sent. One sentence says why it matters, and one button opens
 * WeChat's settings page (wx.openSetting needs a tap, which the button is). Back from there
 * the page reads wx.getSetting again, reports it to the backend (sends are refused while the
 * switch is off) and, once it is on, returns to where the user came from.
 */

const subscribe = require('../../lib/subscribe')
const { t } = require('../../lib/i18n')

Page({
  data: {
    words: { title: '', why: '', button: '', on: '' },
    /** The switch as last read: false until WeChat says it is on. */
    on: false,
  },

  onLoad() {
    wx.setNavigationBarTitle({ title: t('settingsTitle') })
    this.setData({
      words: { title: t('settingsTitle'), why: t('settingsWhy'), button: t('openSettings'), on: t('settingsOn') },
    })
  },

  /** The button: WeChat's settings page for this mini program, subscriptions shown. */
  onOpenSettings() {
    wx.openSetting({ withSubscriptions: true, complete: () => this.recheck() })
  },

  onShow() {
    return this.recheck()
  },

  /** What wx.getSetting says now: reported to the backend; back to the last page once on. */
  recheck() {
    return subscribe.readSetting().then((setting) => {
      if (!setting) return
      subscribe.reportSetting(setting).catch(() => {})
      if (setting.mainSwitch && !this.data.on) {
        this.setData({ on: true })
        wx.navigateBack({ delta: 1 })
      }
    })
  },
})
