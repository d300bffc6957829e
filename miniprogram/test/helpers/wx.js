/**
 * A stand-in for the `wx` global, mocking WeChat at its boundary only: storage, the account
 * info, wx.login, wx.request, wx.requestSubscribeMessage, wx.getSetting, wx.openSetting and
 * the few system-info calls. Callbacks run asynchronously, as on a phone. Every API is a jest.fn,
 * so a test can script one (`wx.login.mockImplementation(...)`) or read its calls.
 */

/** Calls back on a later tick, as WeChat does. */
function later(fn, ...args) {
  setTimeout(() => fn && fn(...args), 0)
}

/**
 * @param {object} [options]
 * @param {(req: {url: string, method: string, data: any, header: Record<string, string>}) => Promise<{statusCode: number, data?: any, header?: object}> | {statusCode: number, data?: any}} [options.transport]
 *   answers wx.request; throw/reject with {errMsg} to play a network failure
 * @param {() => Promise<string>} [options.loginCode] gives wx.login's code (default: wx-code-N)
 * @param {(tmplIds: string[]) => Promise<Record<string, string>>} [options.popup] plays the
 *   user in the subscribe popup and gives its success object (default: answers wx.popupAnswer)
 * @param {string} [options.appId] this mini program's AppID (wx.getAccountInfoSync)
 * @param {string} [options.language]
 * @param {string} [options.sdkVersion]
 */
function createWx(options = {}) {
  const storage = new Map()
  let loginCount = 0
  const setting = { mainSwitch: true, itemSettings: {} }

  const wx = {
    storage,
    /** What wx.getSetting will say; tests change it. */
    subscriptionsSetting: setting,
    /** The default popup answers with this, per template id. */
    popupAnswer: 'accept',
    /**
     * True while a tap is being handled (test/helpers/harness.js `tap`). WeChat shows the
     * subscribe popup and the settings page only in answer to a tap (base library 2.8.2+).
     */
    gesture: false,
    /** Play that rule; tests of lib/ modules alone turn it off. */
    enforceGesture: true,

    getStorageSync: jest.fn((key) => (storage.has(key) ? JSON.parse(storage.get(key)) : '')),
    setStorageSync: jest.fn((key, value) => {
      // Real storage keeps a copy, not the object itself.
      storage.set(key, JSON.stringify(value))
    }),
    removeStorageSync: jest.fn((key) => {
      storage.delete(key)
    }),

    getAccountInfoSync: jest.fn(() => ({
      miniProgram: { appId: options.appId || 'wx0000000000000000', envVersion: 'develop' },
    })),
    getAppBaseInfo: jest.fn(() => ({ language: options.language || 'en', SDKVersion: options.sdkVersion || '3.4.0' })),
    getSystemInfoSync: jest.fn(() => ({ language: options.language || 'en', SDKVersion: options.sdkVersion || '3.4.0' })),
    setNavigationBarTitle: jest.fn(),
    stopPullDownRefresh: jest.fn(),
    navigateTo: jest.fn(),

    login: jest.fn(({ success, fail }) => {
      loginCount += 1
      const code = options.loginCode ? options.loginCode() : Promise.resolve(`wx-code-${loginCount}`)
      code.then(
        (value) => later(success, { errMsg: 'login:ok', code: value }),
        (error) => later(fail, { errMsg: `login:fail ${error && error.message}` }),
      )
    }),

    request: jest.fn((req) => {
      const transport = options.transport
      Promise.resolve()
        .then(() => {
          if (!transport) throw { errMsg: 'request:fail no transport' }
          return transport({ url: req.url, method: req.method || 'GET', data: req.data, header: req.header || {} })
        })
        .then(
          (res) => later(req.success, { errMsg: 'request:ok', header: {}, ...res }),
          (err) => later(req.fail, { errMsg: (err && err.errMsg) || 'request:fail' }),
        )
    }),

    requestSubscribeMessage: jest.fn(({ tmplIds, success, fail }) => {
      if (wx.enforceGesture && !wx.gesture) {
        later(fail, { errMsg: 'requestSubscribeMessage:fail can only be invoked by user TAP gesture.' })
        return
      }
      const answer = options.popup
        ? options.popup(tmplIds)
        : Promise.resolve(
            tmplIds.reduce((result, id) => ({ ...result, [id]: wx.popupAnswer }), {
              errMsg: 'requestSubscribeMessage:ok',
            }),
          )
      answer.then(
        (result) => later(success, result),
        (error) => later(fail, { errMsg: `requestSubscribeMessage:fail ${error && error.message}` }),
      )
    }),

    /**
     * The device popup (docs/wechat.md §11b): answers with `options.devicePopup(object)` (a rejection
     * with {errMsg, errCode} is the fail object) or
     * wx.devicePopupAnswer per template; `wx.devicePopupError` {errMsg, errCode} makes it fail.
     */
    requestSubscribeDeviceMessage: jest.fn((object) => {
      const { tmplIds, success, fail } = object
      if (wx.enforceGesture && !wx.gesture) {
        later(fail, { errMsg: 'requestSubscribeDeviceMessage:fail can only be invoked by user TAP gesture.' })
        return
      }
      if (wx.devicePopupError) {
        later(fail, wx.devicePopupError)
        return
      }
      const answer = options.devicePopup
        ? options.devicePopup(object)
        : Promise.resolve(
            tmplIds.reduce((result, id) => ({ ...result, [id]: wx.devicePopupAnswer }), {
              errMsg: 'requestSubscribeDeviceMessage:ok',
            }),
          )
      answer.then(
        (result) => later(success, result),
        // A fail object ({errMsg, errCode}, e.g. the emulator's answer) is handed on as it is.
        (error) =>
          later(
            fail,
            error && error.errCode ? error : { errMsg: `requestSubscribeDeviceMessage:fail ${error && error.message}` },
          ),
      )
    }),
    /**
     * wx.scanCode: reads `wx.scanResult` (what the QR code holds); `wx.scanError` {errMsg}
     * makes it fail (`scanCode:fail cancel` when the user closes the camera).
     */
    scanCode: jest.fn(({ success, fail }) => {
      if (wx.scanError) later(fail, wx.scanError)
      else later(success, { errMsg: 'scanCode:ok', result: wx.scanResult, scanType: 'QR_CODE', charSet: 'utf-8' })
    }),
    scanResult: '',
    /** @type {{errMsg: string} | null} */
    scanError: null,
    /** The default device popup answers with this, per template id. */
    devicePopupAnswer: 'accept',
    /** @type {{errMsg: string, errCode?: number} | null} */
    devicePopupError: null,

    getSetting: jest.fn(({ success }) => {
      later(success, {
        errMsg: 'getSetting:ok',
        authSetting: {},
        subscriptionsSetting: JSON.parse(JSON.stringify(wx.subscriptionsSetting)),
      })
    }),

    /** What the user answers wx.showModal: confirm unless a test says otherwise. */
    modalConfirm: true,
    showModal: jest.fn(({ success }) => {
      later(success, { confirm: wx.modalConfirm, cancel: !wx.modalConfirm, errMsg: 'showModal:ok' })
    }),
    /** The listener the page registered with wx.onNeedPrivacyAuthorization (WeChat calls it). */
    privacyListener: /** @type {any} */ (null),
    onNeedPrivacyAuthorization: jest.fn((listener) => {
      wx.privacyListener = listener
    }),
    openPrivacyContract: jest.fn(),
    openSetting: jest.fn(({ success, fail, complete }) => {
      if (wx.enforceGesture && !wx.gesture) {
        const res = { errMsg: 'openSetting:fail can only be invoked by user TAP gesture.' }
        later(() => {
          if (fail) fail(res)
          if (complete) complete(res)
        })
        return
      }
      later(() => {
        const res = { errMsg: 'openSetting:ok', authSetting: {} }
        if (success) success(res)
        if (complete) complete(res)
      })
    }),
  }
  return wx
}

module.exports = { createWx, later }
