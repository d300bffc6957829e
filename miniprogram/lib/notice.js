// The notice bar of a page (components/notice): what it shows, with the label of its action.
const { t } = require('./i18n')

/**
 * @typedef {{level: string, text: string, action?: string, actionLabel?: string}} Notice
 */

/** @returns {Notice} nothing to show */
function noNotice() {
  return { level: 'info', text: '', action: '', actionLabel: '' }
}

/**
 * The bar's data for `notice`: its action's label looked up in the page's `actions`
 * ({action: string key}), in the user's language.
 * @param {Notice} notice
 * @param {Record<string, string>} actions
 * @returns {Notice}
 */
function noticeData(notice, actions) {
  const action = notice.action || ''
  const label = actions[action]
  return {
    level: notice.level || 'info',
    text: notice.text,
    action,
    actionLabel: label ? t(/** @type {any} */ (label)) : '',
  }
}

module.exports = { noNotice, noticeData }
