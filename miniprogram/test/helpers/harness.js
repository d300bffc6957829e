/**
 * Runs the mini program in jest: `App` and `Page` shims around miniprogram-simulate (which
 * loads components but not pages), a fresh module registry per boot, and `waitFor`.
 *
 * The page shim turns `Page(options)` into a component whose `attached` plays onLoad and
 * onShow, as a page's lifecycle would; the page's handlers become methods.
 */

const path = require('path')

// Loaded once per test file and kept across boots: it caches the compiled WXML (wcc, the
// official compiler shipped in miniprogram-compiler). Each boot still runs the mini
// program's own modules afresh.
const simulate = require('miniprogram-simulate')

const ROOT = path.resolve(__dirname, '..', '..')
/**
 * 'official' compiles WXML with wcc, WeChat's own compiler (a binary inside the
 * miniprogram-compiler package), which also rejects invalid WXML; 'simulate' is the pure
 * JavaScript one, for a machine where wcc can't run (MP_COMPILER=simulate).
 */
const COMPILER = process.env.MP_COMPILER || 'official'
const PAGE_LIFECYCLE = ['onLoad', 'onShow', 'onReady', 'onHide', 'onUnload']

/** @param {Record<string, any>} options the object a page passes to Page() */
function pageAsComponent(options) {
  const methods = {}
  const data = options.data || {}
  Object.keys(options).forEach((key) => {
    if (typeof options[key] === 'function') methods[key] = options[key]
  })
  return {
    data,
    methods,
    lifetimes: {
      attached() {
        // As on a phone, onShow follows onLoad at once, without waiting for its promise.
        const loaded = this.onLoad && this.onLoad(this.__query || {})
        if (this.onShow) this.onShow()
        // Kept so a test can await the page's own onLoad.
        this.loading = Promise.resolve(loaded)
      },
      detached() {
        if (this.onUnload) this.onUnload()
      },
    },
  }
}

/**
 * A fresh mini program with this `wx`: modules, the app (onLaunch run) and the shims.
 * @param {object} wx from test/helpers/wx.js createWx
 */
function boot(wx) {
  jest.resetModules()
  // simulate installed its own wx mock on require; the tests' boundary replaces it whole.
  global.wx = wx
  let app = null
  global.App = (options) => {
    app = options
  }
  global.getApp = () => app
  global.Page = (options) => global.Component(pageAsComponent(options))
  require(path.join(ROOT, 'app.js'))
  app.onLaunch({ path: 'pages/index/index', query: {}, scene: 1001 })
  return {
    app,
    simulate,
    /** Requires a module of the mini program from this boot's registry. */
    module: (name) => require(path.join(ROOT, name)),
    /**
     * Renders and attaches a page or component (path relative to miniprogram/); a page's
     * onLoad gets `query`, as from the URL it was opened with.
     */
    render(relative, properties, query) {
      const id = simulate.load(path.join(ROOT, relative), { rootPath: ROOT, compiler: COMPILER })
      const comp = simulate.render(id, properties)
      comp.instance.__query = query
      comp.attach(document.createElement('parent-wrapper'))
      return comp
    },
  }
}

/**
 * Polls until `check()` returns a truthy value (returned), or fails after `ms`.
 * @template T
 * @param {() => T} check
 * @param {number} [ms]
 * @returns {Promise<T>}
 */
async function waitFor(check, ms = 3000) {
  const deadline = Date.now() + ms
  let lastError = null
  for (;;) {
    try {
      const value = check()
      if (value) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      throw new Error(`waitFor timed out after ${ms} ms${lastError ? `: ${lastError.message}` : ''}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Lets pending callbacks and promise chains settle. */
function settle(ms = 20) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

module.exports = { ROOT, boot, waitFor, settle }

/**
 * Taps a node as a user would: WeChat's "user gesture" lasts while the tap's handler runs
 * (its synchronous part and the microtasks it queues), not across later callbacks.
 * @param {any} node a simulate component or element wrapper
 * @param {any} wx the fake wx
 * @param {string} [eventName] 'tap' unless another event is played
 * @param {object} [options] dispatchEvent options (detail, ...)
 */
async function tap(node, wx, eventName = 'tap', options = {}) {
  wx.gesture = true
  node.dispatchEvent(eventName, options)
  await new Promise((resolve) => setTimeout(resolve, 0))
  wx.gesture = false
}

module.exports.tap = tap

/**
 * The mini program's modules alone, fresh, with this `wx` (no app launch, no page).
 * @param {object} wx
 * @returns {(name: string) => any} requires a module by its path under miniprogram/
 */
function modules(wx) {
  jest.resetModules()
  global.wx = wx
  return (name) => require(path.join(ROOT, name))
}

module.exports.modules = modules
