/**
 * Chooses the user's language once (Chinese for a zh WeChat, English otherwise) and fills
 * in the sentences of lib/strings.js.
 */

const strings = require('./strings')

/** @typedef {keyof typeof strings.en} StringKey */
/** @typedef {'en' | 'zh_CN'} Language */

/** @type {Language | null} */
let language = null

/** @returns {Language} */
function detectLanguage() {
  let lang = ''
  try {
    // wx.getAppBaseInfo is the current API (base library 2.20.1+); older clients have
    // only wx.getSystemInfoSync.
    lang = typeof wx.getAppBaseInfo === 'function' ? wx.getAppBaseInfo().language : wx.getSystemInfoSync().language
  } catch (_) {
    // fall through to English
  }
  return /^zh/i.test(lang || '') ? 'zh_CN' : 'en'
}

/** @returns {Language} */
function currentLanguage() {
  if (!language) language = detectLanguage()
  return language
}

/** For tests, and for an app that lets the user choose. @param {Language | null} lang */
function setLanguage(lang) {
  language = lang
}

/**
 * @param {StringKey} key
 * @param {Record<string, string | number>} [params]
 * @returns {string}
 */
function t(key, params) {
  const table = strings[currentLanguage()]
  const text = table[key] || strings.en[key] || key
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    params && params[name] !== undefined ? String(params[name]) : whole,
  )
}

/** @param {string} key */
function has(key) {
  return Object.prototype.hasOwnProperty.call(strings.en, key)
}

/**
 * A config title `{en, zh_CN}` (or a plain string) in the user's language.
 * @param {string | Record<string, string>} title
 */
function pick(title) {
  if (typeof title === 'string') return title
  return title[currentLanguage()] || title.en || ''
}

/**
 * Titles as a quoted list: “A”, “B” (“A”、“B” in Chinese).
 * @param {string[]} titles
 */
function quoteList(titles) {
  return titles.map((title) => t('quoted', { title })).join(t('listSeparator'))
}

module.exports = { t, has, pick, quoteList, currentLanguage, setLanguage }
