/**
 * The app: log in silently at launch. wx.login shows nothing and needs no tap, so the
 * first page finds a session ready (or the reason there is none). The first page then tells
 * the backend what wx.getSetting says (pages/index: the main switch, the "always keep"
 * choices), and does again whenever it shows.
 */

const { login } = require('./lib/request')

App({
  /** @type {Promise<import('./lib/request').Session> | null} */
  session: null,

  onLaunch() {
    this.relogin()
  },

  /** The launch's log-in (or a new one if none was started). */
  whenLoggedIn() {
    return this.session || this.relogin()
  },

  /** Log in again: the page's "Try again" after a failed launch log-in. */
  relogin() {
    const session = login()
    // The page reports a failure; this only keeps it from counting as unhandled.
    session.catch(() => {})
    this.session = session
    return session
  },
})
