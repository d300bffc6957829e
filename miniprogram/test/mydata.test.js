/**
 * pages/mydata: the export of everything held about the user, and "Delete my data"
 * (`DELETE /api/v1/me`), after which the page logs nobody in again by itself.
 */

const { createWx } = require('./helpers/wx')
const { createFakeBackend } = require('./helpers/fake-backend')
const { boot, waitFor, tap } = require('./helpers/harness')

function start(options = {}) {
  const backend = createFakeBackend()
  const wx = createWx({ transport: backend.transport, ...options })
  const mp = boot(wx)
  return { backend, wx, mp }
}

async function openMyData(mp) {
  const page = mp.render('pages/mydata/mydata')
  await page.instance.loading
  await waitFor(() => !page.instance.data.loading)
  return page
}

describe('the my data page', () => {
  test('shows what the backend holds, from the export', async () => {
    const { backend, mp, wx } = start()
    backend.setSubscription('tmpl-order-shipped', { remaining: 2 })
    const page = await openMyData(mp)
    expect(wx.setNavigationBarTitle).toHaveBeenCalledWith({ title: 'My data' })
    expect(backend.routes('GET /api/v1/me/export')).toHaveLength(1)
    const rows = page.instance.data.summary
    expect(rows.find((row) => row.label === 'Notifications set up').value).toBe('1')
    expect(rows.find((row) => row.label === 'Phone number').value).toBe('none')
    expect(JSON.parse(page.instance.data.json).subscriptions[0].remaining).toBe(2)
    expect(page.dom.textContent).toContain('Delete my data')
  })

  test('deletes after the user confirms, signs out, and does not log in again', async () => {
    const { backend, mp, wx } = start()
    const page = await openMyData(mp)
    expect(wx.storage.has('wxsub.session')).toBe(true)
    const logins = backend.routes('POST /api/v1/auth/login').length
    await tap(page.querySelector('.mydata__delete'), wx)
    await waitFor(() => page.instance.data.erased)

    expect(wx.showModal).toHaveBeenCalledTimes(1)
    const [erased] = backend.routes('DELETE /api/v1/me')
    expect(erased.header.Authorization).toBe('Bearer token-1')
    expect(page.dom.textContent).toContain('Your data has been deleted and you are signed out.')
    expect(page.querySelector('.mydata__delete')).toBeFalsy()
    expect(wx.storage.has('wxsub.session')).toBe(false)
    expect(backend.routes('POST /api/v1/auth/login')).toHaveLength(logins) // no silent re-login
  })

  test('nothing is deleted when the user cancels', async () => {
    const { backend, mp, wx } = start()
    wx.modalConfirm = false
    const page = await openMyData(mp)
    await tap(page.querySelector('.mydata__delete'), wx)
    await waitFor(() => wx.showModal.mock.calls.length === 1)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(backend.routes('DELETE /api/v1/me')).toHaveLength(0)
    expect(page.instance.data.erased).toBe(false)
  })

  test('speaks Chinese to a Chinese WeChat', async () => {
    const { mp, wx } = start({ language: 'zh_CN' })
    const page = await openMyData(mp)
    expect(wx.setNavigationBarTitle).toHaveBeenCalledWith({ title: '我的数据' })
    expect(page.dom.textContent).toContain('删除我的数据')
  })
})

describe('the privacy agreement', () => {
  async function openHome(mp) {
    const page = mp.render('pages/index/index')
    await page.instance.loading
    await waitFor(() => page.instance.data.ready)
    return page
  }

  test('WeChat asks before the phone button: our popup, then agree is passed back', async () => {
    const { mp, wx } = start()
    const page = await openHome(mp)
    expect(wx.onNeedPrivacyAuthorization).toHaveBeenCalledTimes(1)
    const popup = page.querySelector('#privacy')
    expect(popup.querySelector('.privacy__sheet')).toBeFalsy()

    const resolve = jest.fn()
    wx.privacyListener(resolve, { referrer: 'getPhoneNumber' }) // the phone button was tapped
    await waitFor(() => popup.querySelector('.privacy__sheet'))
    expect(popup.dom.textContent).toContain('Read the privacy guide')
    await tap(popup.querySelector('.privacy__guide'), wx)
    expect(wx.openPrivacyContract).toHaveBeenCalledTimes(1)

    popup.querySelector('.privacy__agree').dispatchEvent('agreeprivacyauthorization', {})
    await waitFor(() => resolve.mock.calls.length === 1)
    expect(resolve).toHaveBeenCalledWith({ event: 'agree', buttonId: 'privacy-agree' })
    expect(popup.querySelector('.privacy__sheet')).toBeFalsy()
  })

  test('declining is passed back, and the phone button explains it', async () => {
    const { mp, wx } = start()
    const page = await openHome(mp)
    const popup = page.querySelector('#privacy')
    const resolve = jest.fn()
    wx.privacyListener(resolve, { referrer: 'getPhoneNumber' })
    await waitFor(() => popup.querySelector('.privacy__sheet'))
    await tap(popup.querySelector('.privacy__decline'), wx)
    expect(resolve).toHaveBeenCalledWith({ event: 'disagree' })

    // WeChat then fails the gated call with errno 104.
    const phone = page.querySelector('#phone')
    phone.instance.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:fail privacy permission is not authorized', errno: 104 } })
    await waitFor(() => page.instance.data.notice.text)
    expect(page.instance.data.notice.text).toContain('You did not agree to the privacy guide')
  })
})
