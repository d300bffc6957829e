/**
 * What this mini program needs to know about its backend and WeChat account.
 *
 * Nothing here is secret, and nothing secret may ever be added: every file of a mini
 * program is downloaded to users' phones. The AppSecret and business API keys live on the
 * backend only.
 */

module.exports = {
  /**
   * The backend's base URL for each release channel of the mini program
   * (`wx.getAccountInfoSync().miniProgram.envVersion`). `develop` points at `make run` on
   * the developer's machine; the others must be HTTPS domains listed in the mini program's
   * console (开发管理 → 服务器域名 → request合法域名).
   */
  backendUrls: {
    develop: 'http://127.0.0.1:5000',
    trial: 'https://notify.example.com',
    release: 'https://notify.example.com',
  },

  /** Give up on a backend call after this long (wx.request's own default is 60 s). */
  requestTimeoutMs: 15000,

  /**
   * The subscribe-message templates this mini program asks for, in the order they are
   * offered. `id` is the template id (priTmplId) from the console (订阅消息 → 我的模板);
   * `kind` must match the template's type there (one-time 一次性 or long-term 长期), since
   * WeChat refuses to mix the two in one popup (errCode 20002). For a one-time template,
   * `keep` is how many send credits the user should hold: the subscribe button asks again
   * only when fewer are left. `title` is shown in this app; keep it close to the console's.
   *
   * The defaults are the dev emulator's templates from the README's walk-through.
   */
  templates: [
    {
      id: 'tmpl-order-shipped',
      kind: 'one_time',
      keep: 1,
      title: { en: 'Order shipped', zh_CN: '发货通知' },
    },
    {
      id: 'tmpl-washer',
      kind: 'one_time',
      keep: 1,
      title: { en: 'Washer fault', zh_CN: '洗衣机故障提醒' },
    },
    {
      id: 'tmpl-bus-arrival',
      kind: 'long_term',
      title: { en: 'Bus arrival', zh_CN: '到站提醒' },
    },
  ],

  /**
   * The most template ids one wx.requestSubscribeMessage call may carry: 5 on current
   * clients, 3 on older ones. The app learns the lower limit by itself when WeChat answers
   * errCode 20003, so this rarely needs changing.
   */
  maxPerPopup: 5,

  /** The `scene` label sent with each report, for the backend's records. */
  scene: 'home',

  /**
   * Device messages (docs/wechat.md §11): for each device type that passed device access
   * (设备接入), its `model_id` and the device templates the device page (pages/device/index,
   * opened from the QR code on a device with `?model_id=&sn=`) asks for, at most 3. A
   * device template belongs to one device type; its values are enum values set by WeChat.
   *
   * The default is the dev emulator's washer from the README's walk-through.
   */
  devices: [
    {
      model_id: 'washer-model-1',
      title: { en: 'Washing machine', zh_CN: '洗衣机' },
      templates: [
        { id: 'tmpl-laundry-done', title: { en: 'Laundry done', zh_CN: '洗衣完成提醒' } },
        { id: 'tmpl-washer-fault', title: { en: 'Washer fault', zh_CN: '设备故障提醒' } },
      ],
    },
  ],
}
