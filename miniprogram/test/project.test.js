/**
 * The project as WeChat DevTools opens it, and the rule that nothing secret ships: every
 * file of a mini program is downloaded to users' phones.
 */

const fs = require('fs')
const path = require('path')
const { ROOT } = require('./helpers/harness')

const readJson = (name) => JSON.parse(fs.readFileSync(path.join(ROOT, name), 'utf8'))

/** Every file under miniprogram/ except installed packages. */
function walk(dir = ROOT) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name === 'coverage') return []
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? walk(full) : [full]
  })
}

const ALL = walk()
/** What DevTools uploads: everything but tests, typings and the Node tooling. */
const SHIPPED = ALL.filter((file) => {
  const rel = path.relative(ROOT, file)
  return !/^(test|typings)\//.test(rel) && !/^(package(-lock)?\.json|jest\.config\.js|tsconfig\.json|\.gitignore)$/.test(rel)
})

describe('no secret under miniprogram/', () => {
  // Spelled in pieces, so that this file does not contain what it looks for.
  const known = [
    ['dev', 'emulator', 'secret', 'not', 'for', 'production'].join('-'), // the emulator's AppSecret
    ['test', 'api', 'key'].join('-'), // tests/ business key
    ['dev', 'api', 'key'].join('-'), // `make run`'s business key
  ]

  test.each(known)('the known secret %s appears nowhere', (secret) => {
    const hits = ALL.filter((file) => fs.readFileSync(file, 'utf8').includes(secret))
    expect(hits).toEqual([])
  })

  test('shipped code never sends a business API key, nor holds an AppSecret or a secret value', () => {
    const patterns = [
      /x-api-key/i, // business calls belong on servers
      /app_?secret\s*[:=]/i,
      /\b(secret|api_?key|password|token)\s*[:=]\s*['"][^'"\s]{8,}['"]/i,
      /\b[0-9a-f]{32}\b/, // the shape of a WeChat AppSecret
      /BUSINESS_API_KEYS|WX_SECRET|SECRET_KEY|ADMIN_PASSWORD/,
    ]
    const hits = []
    SHIPPED.forEach((file) => {
      const text = fs.readFileSync(file, 'utf8')
      patterns.forEach((pattern) => {
        if (pattern.test(text)) hits.push(`${path.relative(ROOT, file)}: ${pattern}`)
      })
    })
    expect(hits).toEqual([])
  })

  test('no real AppID is committed: project.config.json holds the placeholder', () => {
    expect(readJson('project.config.json').appid).toBe('touristappid')
    const hits = SHIPPED.filter((file) => /\bwx[0-9a-f]{16}\b/.test(fs.readFileSync(file, 'utf8')))
    expect(hits.map((file) => path.relative(ROOT, file))).toEqual([])
  })

  test('DevTools uploads neither tests nor node_modules', () => {
    const ignored = readJson('project.config.json').packOptions.ignore.map((rule) => rule.value)
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'test', 'package.json', 'package-lock.json']))
  })
})

describe('project layout', () => {
  test('every page and component has its four files, and every usingComponents path resolves', () => {
    const app = readJson('app.json')
    const seen = new Set()
    const check = (base) => {
      if (seen.has(base)) return
      seen.add(base)
      ;['.js', '.json', '.wxml', '.wxss'].forEach((ext) => expect([base, fs.existsSync(path.join(ROOT, base + ext))]).toEqual([base, true]))
      const using = readJson(`${base}.json`).usingComponents || {}
      Object.values(using).forEach((target) => {
        check(target.startsWith('/') ? target.slice(1) : path.join(path.dirname(base), target))
      })
    }
    app.pages.forEach(check)
    expect(fs.existsSync(path.join(ROOT, app.sitemapLocation))).toBe(true)
  })

  test('config.js: distinct template ids of a known kind, HTTPS outside development', () => {
    const config = require('../config')
    const ids = config.templates.map((template) => template.id)
    expect(new Set(ids).size).toBe(ids.length)
    config.templates.forEach((template) => {
      expect(['one_time', 'long_term']).toContain(template.kind)
      expect(template.title.en && template.title.zh_CN).toBeTruthy()
    })
    expect(config.backendUrls.trial).toMatch(/^https:\/\//)
    expect(config.backendUrls.release).toMatch(/^https:\/\//)
    expect(config.maxPerPopup).toBeLessThanOrEqual(5)
  })

  test('config.js devices: distinct model_ids, 1 to 3 device templates each (one device popup), named in both languages', () => {
    const config = require('../config')
    const models = config.devices.map((model) => model.model_id)
    expect(new Set(models).size).toBe(models.length)
    const ordinary = new Set(config.templates.map((template) => template.id))
    config.devices.forEach((model) => {
      expect(model.templates.length).toBeGreaterThanOrEqual(1)
      expect(model.templates.length).toBeLessThanOrEqual(3)
      expect(model.title.en && model.title.zh_CN).toBeTruthy()
      model.templates.forEach((template) => {
        expect(ordinary.has(template.id)).toBe(false) // a device template is never an ordinary one
        expect(template.title.en && template.title.zh_CN).toBeTruthy()
      })
    })
  })
})
