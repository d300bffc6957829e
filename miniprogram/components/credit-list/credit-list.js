/**
 * Remaining credits per template: how many more one-time messages the user will get, and
 * whether each long-term template is on. Notes the standing choices from wx.getSetting
 * ("always decline", "always allow", banned) and a main switch turned off, since those
 * explain why a tap on the subscribe button may show no popup.
 */

const config = require('../../config')
const { standing } = require('../../lib/subscribe')
const { t, pick } = require('../../lib/i18n')

/**
 * @typedef {{id: string, title: string, kindLabel: string, countText: string, tone: string, note: string}} Row
 * @param {any[]} templates
 * @param {any[]} subscriptions
 * @param {any} setting
 * @returns {Row[]}
 */
function buildRows(templates, subscriptions, setting) {
  /** @type {Record<string, any>} */
  const byId = {}
  ;(subscriptions || []).forEach((sub) => {
    byId[sub.template_id] = sub
  })
  return templates.map((template) => {
    const sub = byId[template.id]
    const kind = sub && sub.kind ? sub.kind : template.kind
    const choice = setting && setting.itemSettings ? standing(setting.itemSettings[template.id]) : null
    let countText
    let tone
    if (kind === 'long_term') {
      const on = Boolean(sub && sub.status === 'accept')
      countText = t(on ? 'creditsOn' : 'creditsOff')
      tone = on ? 'good' : 'off'
    } else {
      const left = sub && sub.remaining ? sub.remaining : 0
      countText = left ? t('creditsLeft', { count: left }) : t('creditsNone')
      tone = left >= (template.keep || 1) ? 'good' : 'low'
    }
    let note = ''
    if (choice === 'ban' || (sub && sub.status === 'ban')) note = t('creditsBanned')
    else if (choice === 'reject') note = t('creditsAlwaysDeclined')
    else if (choice === 'accept') note = t('creditsAlwaysAllowed')
    return {
      id: template.id,
      title: pick(template.title),
      kindLabel: t(kind === 'long_term' ? 'creditsLongTerm' : 'creditsOneTime'),
      countText,
      tone,
      note,
    }
  })
}

Component({
  properties: {
    subscriptions: { type: Array, value: [] },
    setting: { type: Object, value: /** @type {any} */ (null) },
  },

  data: {
    /** @type {Row[]} */
    rows: [],
    titleText: '',
    emptyText: '',
    switchOffText: '',
  },

  observers: {
    'subscriptions, setting'() {
      this.rebuild()
    },
  },

  lifetimes: {
    attached() {
      this.setData({ titleText: t('creditsTitle'), emptyText: t('creditsEmpty') })
      this.rebuild()
    },
  },

  methods: {
    rebuild() {
      const setting = /** @type {any} */ (this.data.setting)
      this.setData({
        rows: buildRows(config.templates, this.data.subscriptions, setting),
        switchOffText: setting && setting.mainSwitch === false ? t('mainSwitchOff') : '',
      })
    },
  },
})
