/**
 * pages/link: the user types the business system's binding code, redeemed through
 * `POST /api/v1/me/binding`; every answer ends in words of the user's language.
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

async function openLinkPage(mp, query) {
  const page = mp.render('pages/link/link')
  await page.instance.loading
  if (query) await page.instance.onLoad(query) // opened as pages/link/link?code=…
  await waitFor(() => page.instance.data.ready || page.instance.data.notice.text)
  return page
}

/** The user types `code` into the field and taps the button. */
async function enter(page, wx, code) {
  page.querySelector('.link__input').dispatchEvent('input', { detail: { value: code } })
  await waitFor(() => page.instance.data.code === code)
  await tap(page.querySelector('.link__button'), wx)
  await waitFor(() => !page.instance.data.linking && page.instance.data.notice.text)
}

const noticeText = (page) => page.instance.data.notice.text

describe('the link page', () => {
  test('redeems the code: the user is linked, and the page says to which account', async () => {
    const { backend, wx, mp } = start()
    backend.addBindingCode('7KQ2M9XD4HWP', 'EMP-00123')
    const page = await openLinkPage(mp)
    expect(wx.setNavigationBarTitle).toHaveBeenCalledWith({ title: 'Link your account' })
    expect(page.dom.textContent).toContain('Enter the code you were given')
    expect(page.querySelector('.link__linked')).toBeFalsy()

    await enter(page, wx, ' 7kq2-m9xd-4hwp ')

    const [redeemed] = backend.routes('POST /api/v1/me/binding')
    expect(redeemed.data).toEqual({ code: '7kq2-m9xd-4hwp' })
    expect(redeemed.header.Authorization).toBe('Bearer token-1')
    expect(noticeText(page)).toBe('Your account is linked. You will get its notifications here.')
    expect(page.instance.data.notice.level).toBe('success')
    expect(page.querySelector('.link__linked').dom.textContent).toBe('Linked to account EMP-00123.')
    expect(page.instance.data.code).toBe('')
  })

  test('a wrong or used code is explained, and the user stays unlinked', async () => {
    const { backend, wx, mp } = start()
    backend.addBindingCode('7KQ2M9XD4HWP', 'EMP-00123')
    const page = await openLinkPage(mp)
    await enter(page, wx, '7KQ2M9XD4HWP')
    await tap(page.querySelector('#notice').querySelector('.notice__close'), wx)
    await waitFor(() => noticeText(page) === '')

    await enter(page, wx, '7KQ2M9XD4HWP') // used up
    expect(noticeText(page)).toBe(
      'That code is not valid: it may be mistyped, expired or already used. Please ask for a new one.',
    )
    expect(page.instance.data.notice.level).toBe('error')
    expect(page.instance.data.linkedAs).toBe('EMP-00123') // still the first link
  })

  test('after too many wrong codes it asks the user to wait', async () => {
    const { wx, mp } = start()
    const page = await openLinkPage(mp)
    for (let n = 0; n < 5; n += 1) await enter(page, wx, `WRONG${n}WRONG${n}`)
    await enter(page, wx, 'WRONGWRONG99')
    expect(noticeText(page)).toBe('Too many wrong codes. Please wait a minute and try again.')
  })

  test('an account already linked is shown, and a code in the query fills the field', async () => {
    const { backend, mp } = start()
    backend.users.set(1, { id: 1, has_phone: false, phone_number: null, external_id: 'CUST-42' })
    const page = await openLinkPage(mp, { code: '7KQ2M9XD4HWP' })
    expect(page.querySelector('.link__linked').dom.textContent).toBe('Linked to account CUST-42.')
    expect(page.instance.data.code).toBe('7KQ2M9XD4HWP')
  })

  test('the button does nothing without a code', async () => {
    const { backend, wx, mp } = start()
    const page = await openLinkPage(mp)
    await tap(page.querySelector('.link__button'), wx)
    expect(backend.routes('POST /api/v1/me/binding')).toEqual([])
  })

  test('in Chinese', async () => {
    const { backend, wx, mp } = start({ language: 'zh_CN' })
    backend.addBindingCode('7KQ2M9XD4HWP', 'EMP-00123')
    const page = await openLinkPage(mp)
    expect(wx.setNavigationBarTitle).toHaveBeenCalledWith({ title: '关联账号' })
    await enter(page, wx, 'NOPE')
    expect(noticeText(page)).toBe('绑定码无效：可能输错、已过期或已被使用，请重新获取。')
    await enter(page, wx, '7KQ2M9XD4HWP')
    expect(noticeText(page)).toBe('账号已关联，您将在这里收到它的通知。')
    expect(page.querySelector('.link__linked').dom.textContent).toBe('已关联账号 EMP-00123。')
  })

  test('the home page leads to it', async () => {
    const { wx, mp } = start()
    const home = mp.render('pages/index/index')
    await home.instance.loading
    await waitFor(() => home.instance.data.ready)
    const link = home.querySelector('.page__link')
    expect(link.dom.textContent).toBe('Link your account')
    await tap(link, wx)
    expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/link/link' })
  })
})
