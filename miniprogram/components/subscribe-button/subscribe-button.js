/**
 * The subscribe action. A tap asks wx.requestSubscribeMessage for exactly the templates the
 * backend's prompts name (GET /api/v1/me/prompts: those with messages waiting first, at most
 * 5, one kind: lib/subscribe.js planFromPrompts); without them (the backend could not say)
 * for the templates whose credits are short (planPopup). Then it reports the popup's result
 * as it came to `/api/v1/subscriptions`: an accept there releases a waiting message.
 *
 * Properties: `subscriptions` (the backend's list), `setting` (lib/subscribe.js readSetting,
 * or null), `prompts` (the backend's prompts, or null). Events:
 * - `reported` {subscriptions}: the backend's answer for the reported templates;
 * - `notice` {level, text, action?}: words for the user; action 'openSettings' when the
 *   fix is in WeChat's settings page;
 * - `settingchange`: the user's standing choices may have changed; read them again.
 */

const config = require('../../config')
const subscribe = require('../../lib/subscribe')
const { describeError, describeResults, subscribeError } = require('../../lib/explain')
const { isRetryable } = require('../../lib/errors')
const { t } = require('../../lib/i18n')

Component({
  properties: {
    subscriptions: { type: Array, value: [] },
    setting: { type: Object, value: /** @type {any} */ (null) },
    prompts: { type: Object, value: /** @type {any} */ (null) },
    scene: { type: String, value: '' },
  },

  data: {
    busy: false,
    /** @type {{kind: string | null, ids: string[], blocked: string | null}} */
    plan: { kind: null, ids: [], blocked: null },
    label: '',
    hint: '',
  },

  observers: {
    'subscriptions, setting, prompts'() {
      this.replan()
    },
  },

  lifetimes: {
    attached() {
      this.replan()
    },
  },

  methods: {
    replan() {
      const prompts = /** @type {any} */ (this.data.prompts)
      const setting = /** @type {any} */ (this.data.setting)
      const plan = prompts
        ? subscribe.planFromPrompts(prompts, setting, subscribe.popupLimit())
        : subscribe.planPopup(
            /** @type {any} */ (config.templates),
            /** @type {any} */ (this.data.subscriptions),
            setting,
            subscribe.popupLimit(),
          )
      let label = t('subscribeAllSet')
      if (plan.blocked) label = t('subscribeTurnOn')
      else if (plan.ids.length) label = t('subscribeButton', { count: plan.ids.length })
      // Messages waiting for this tap say more than the general hint.
      const waiting = prompts
        ? prompts.templates
            .filter((/** @type {any} */ prompt) => plan.ids.includes(prompt.template_id))
            .reduce((/** @type {number} */ sum, /** @type {any} */ prompt) => sum + (prompt.waiting || 0), 0)
        : 0
      let hint = plan.ids.length && plan.kind === 'one_time' ? t('subscribeHint') : ''
      if (plan.ids.length && waiting) hint = t('subscribeWaiting', { count: waiting })
      this.setData({ plan, label, hint })
    },

    /** @param {{level: string, text: string, action?: string}} notice */
    notify(notice) {
      this.triggerEvent('notice', notice)
    },

    onTap() {
      const plan = this.data.plan
      if (this.data.busy) return
      if (plan.blocked === 'main_switch_off') {
        // The popup would fail with 20004; only the settings page can turn it back on,
        // and it opens only from a tap, which this is.
        return this.openSettings()
      }
      if (!plan.ids.length) return
      this.setData({ busy: true })
      // First thing in the handler, before any await: WeChat shows the popup only in
      // answer to a tap (base library 2.8.2+).
      const asked = subscribe.askWeChat(plan.ids)
      return asked
        .then(
          (results) => this.reportResults(results),
          (error) => this.popupFailed(error),
        )
        .then(() => {
          this.setData({ busy: false })
          // A ticked "always keep this choice" shows up in wx.getSetting only now.
          this.triggerEvent('settingchange')
        })
    },

    /** @param {Record<string, string>} results */
    reportResults(results) {
      const sentences = describeResults(results, /** @type {any} */ (config.templates))
      const accepted = Object.keys(results).some((id) => id !== 'errMsg' && /^accept/.test(results[id]))
      return subscribe.report(results, this.data.scene || config.scene).then(
        (answer) => {
          this.triggerEvent('reported', { subscriptions: answer.subscriptions || [] })
          this.notify({ level: accepted ? 'success' : 'info', text: sentences.join(' ') })
        },
        (error) => {
          if (isRetryable(error)) {
            // Kept in the outbox and sent again later (lib/subscribe.js flushOutbox).
            this.notify({ level: 'info', text: sentences.concat([t('resultQueued')]).join(' ') })
          } else {
            this.notify({ level: 'error', text: describeError(error, 'report') })
          }
        },
      )
    },

    /** @param {any} error a WxApiError from wx.requestSubscribeMessage */
    popupFailed(error) {
      const code = error && error.kind === 'wx' ? Number(error.errCode) : NaN
      if (code === 20003) {
        // Too many ids for this client (older ones take 3): ask for fewer on the next tap.
        subscribe.lowerPopupLimit()
        this.replan()
      }
      if (code === 20004) {
        // The main switch is off: say so, and offer the settings page.
        this.notify({ level: 'error', text: subscribeError(20004), action: 'openSettings' })
        return
      }
      this.notify({ level: 'error', text: describeError(error, 'subscribe') })
    },

    openSettings() {
      wx.openSetting({
        withSubscriptions: true,
        complete: () => this.triggerEvent('settingchange'),
      })
    },
  },
})
