/**
 * The backend's prompts drive the subscribe button (GET /api/v1/me/prompts: held messages
 * first), the launch reports wx.getSetting, and a user whose main switch is off is sent to
 * the settings page, which says why and leads to WeChat's settings.
 */

const { createWx } = require('./helpers/wx')
const { createFakeBackend } = require('./helpers/fake-backend')
const { boot, waitFor, settle, tap } = require('./helpers/harness')

function start(options = {}) {
  const backend = createFakeBackend()
  const wx = createWx({ transport: backend.transport, ...options })
  return { backend, wx, boot: () => boot(wx) }
}

async function openPage(mp) {
  const page = mp.render('pages/index/index')
  await page.instance.loading
  await waitFor(() => page.instance.data.loaded || page.instance.data.notice.text)
  return page
}

const HELD = {
  templates: [
    { template_id: 'tmpl-washer', reason: 'waiting', waiting: 2 },
    { template_id: 'tmpl-order-shipped', reason: 'no_credit', waiting: 0 },
  ],
  main_switch: true,
}

describe('the subscribe button asks for the prompts', () => {
  test('exactly the prompts’ templates, in their order, and the report goes to the backend', async () => {
    const { backend, wx, boot } = start()
    backend.setSubscription('tmpl-order-shipped', { remaining: 0 })
    backend.setPrompts(HELD)
    const page = await openPage(boot())
    const button = page.querySelector('#subscribe')
    expect(button.instance.data.label).toBe('Notify me (2)')
    expect(button.instance.data.hint).toBe('2 waiting: allow them and they are sent to you at once.')

    await tap(button.querySelector('.subscribe__button'), wx)
    await waitFor(() => backend.routes('POST /api/v1/subscriptions').length)
    expect(wx.requestSubscribeMessage.mock.calls[0][0].tmplIds).toEqual(['tmpl-washer', 'tmpl-order-shipped'])
    expect(backend.routes('POST /api/v1/subscriptions')[0].data.results).toEqual({
      errMsg: 'requestSubscribeMessage:ok',
      'tmpl-washer': 'accept',
      'tmpl-order-shipped': 'accept',
    })
    // One accept released one of the two waiting messages: the button asks for the other at
    // once, and then for what the backend says.
    await waitFor(() => button.instance.data.hint === '1 waiting: allow them and they are sent to you at once.')
    expect(button.instance.data.plan.ids).toEqual(['tmpl-washer'])
    backend.setPrompts({ templates: [], main_switch: true })
    await waitFor(() => backend.routes('GET /api/v1/me/prompts').length === 2)
    await page.instance.refresh()
    expect(button.instance.data.label).toBe('You are all set')
  })

  test('a Chinese WeChat reads how many messages wait', async () => {
    const { backend, boot } = start({ language: 'zh_CN' })
    backend.setPrompts(HELD)
    const page = await openPage(boot())
    expect(page.querySelector('#subscribe').instance.data.hint).toBe('有 2 条通知正在等待：允许后会立即发送给您。')
  })

  test('without the prompts (an older backend) the button plans from the credits, as before', async () => {
    const { backend, boot } = start()
    backend.setSubscription('tmpl-order-shipped', { remaining: 1 })
    const page = await openPage(boot())
    expect(page.querySelector('#subscribe').instance.data.plan.ids).toEqual(['tmpl-washer'])
  })

  test('at most what this client’s popup takes', async () => {
    const { backend, wx, boot } = start({ sdkVersion: '2.8.0' }) // one template per popup
    backend.setPrompts(HELD)
    const page = await openPage(boot())
    await tap(page.querySelector('#subscribe').querySelector('.subscribe__button'), wx)
    expect(wx.requestSubscribeMessage.mock.calls[0][0].tmplIds).toEqual(['tmpl-washer'])
  })
})

describe('standing settings', () => {
  test('the launch reports wx.getSetting to the backend', async () => {
    const { backend, wx, boot } = start()
    wx.subscriptionsSetting = { mainSwitch: true, itemSettings: { 'tmpl-order-shipped': 'accept' } }
    await openPage(boot())
    expect(backend.standing.setting).toEqual({ mainSwitch: true, itemSettings: { 'tmpl-order-shipped': 'accept' } })
  })

  test('a main switch that is off sends the user to the settings page, once', async () => {
    const { backend, wx, boot } = start()
    wx.subscriptionsSetting = { mainSwitch: false, itemSettings: {} }
    const page = await openPage(boot())
    await waitFor(() => backend.standing.setting)
    expect(backend.standing.setting.mainSwitch).toBe(false)
    expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/settings/settings' })
    await page.instance.refresh()
    expect(wx.navigateTo).toHaveBeenCalledTimes(1)
  })
})

describe('the settings page', () => {
  test('says why, in English, and its button opens WeChat’s settings from the tap', async () => {
    const { backend, wx, boot } = start()
    wx.subscriptionsSetting = { mainSwitch: false, itemSettings: {} }
    wx.navigateBack = jest.fn()
    const mp = boot()
    const page = mp.render('pages/settings/settings')
    await settle()
    expect(page.dom.textContent).toContain('You switched off all notifications from this mini program in WeChat')
    expect(page.dom.textContent).toContain('Open settings')
    expect(wx.setNavigationBarTitle).toHaveBeenCalledWith({ title: 'Notifications are off' })

    wx.subscriptionsSetting = { mainSwitch: true, itemSettings: {} } // the user turns it on there
    await tap(page.querySelector('.settings__button'), wx)
    await waitFor(() => wx.navigateBack.mock.calls.length)
    expect(wx.openSetting).toHaveBeenCalledWith(expect.objectContaining({ withSubscriptions: true }))
    expect(wx.openSetting.mock.results.length).toBe(1)
    await waitFor(() => backend.standing.setting && backend.standing.setting.mainSwitch === true)
    expect(page.instance.data.on).toBe(true)
  })

  test('says why in Chinese too, and stays while the switch is still off', async () => {
    const { wx, boot } = start({ language: 'zh_CN' })
    wx.subscriptionsSetting = { mainSwitch: false, itemSettings: {} }
    wx.navigateBack = jest.fn()
    const mp = boot()
    const page = mp.render('pages/settings/settings')
    await settle()
    expect(page.dom.textContent).toContain('您已在微信中关闭了本小程序的全部通知')
    expect(page.dom.textContent).toContain('去设置')
    await tap(page.querySelector('.settings__button'), wx)
    await settle(50)
    expect(wx.navigateBack).not.toHaveBeenCalled()
    expect(page.instance.data.on).toBe(false)
  })
})
