/**
 * Real servers for the end-to-end test: the repository's WeChat emulator and the backend
 * under gunicorn, each a child process in its own process group, with a SQLite database
 * in a temporary folder. Every wait is bounded; `stop()` ends the whole group.
 */

const { spawn, execFile } = require('child_process')
const crypto = require('crypto')
const fs = require('fs')
const http = require('http')
const net = require('net')
const os = require('os')
const path = require('path')
const { ROOT } = require('./harness')

const REPO = path.resolve(ROOT, '..')
/** The repository's virtualenv, made by `make install`. */
const VENV_BIN = path.join(ROOT, '..', '.venv', 'bin')
const START_SECONDS = 30

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/**
 * One HTTP exchange with a JSON body; the answer's body parsed when it is JSON.
 * @returns {Promise<{statusCode: number, data: any, header: Record<string, string>}>}
 */
function httpJson(method, url, { data, header = {}, timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    let body = null
    if (data !== undefined && data !== null) {
      if (method === 'GET') {
        // wx.request puts a GET's data into the query string.
        Object.entries(data).forEach(([key, value]) => target.searchParams.append(key, String(value)))
      } else {
        body = Buffer.from(typeof data === 'string' ? data : JSON.stringify(data))
      }
    }
    const headers = { ...header }
    if (body) headers['Content-Length'] = String(body.length)
    const req = http.request(target, { method, headers, timeout }, (res) => {
      const chunks = []
      res.on('data', (chunk) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed = text
        try {
          parsed = text ? JSON.parse(text) : ''
        } catch (_) {
          // not JSON: wx.request gives the text as it is
        }
        resolve({ statusCode: res.statusCode, data: parsed, header: res.headers })
      })
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { errMsg: 'request:fail timeout' })))
    req.on('error', (error) => reject({ errMsg: error.errMsg || `request:fail ${error.message}` }))
    if (body) req.write(body)
    req.end()
  })
}

class Server {
  constructor(name, args, env, port, probe) {
    this.name = name
    this.url = `http://127.0.0.1:${port}`
    this.probe = probe
    this.output = ''
    this.exited = null
    this.child = spawn(args[0], args.slice(1), {
      cwd: REPO,
      env: { ...process.env, ...env },
      detached: true, // its own process group: stop() ends gunicorn's workers too
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const keep = (chunk) => {
      this.output = (this.output + chunk.toString()).slice(-8000)
    }
    this.child.stdout.on('data', keep)
    this.child.stderr.on('data', keep)
    this.child.on('exit', (code, signal) => {
      this.exited = { code, signal }
    })
    this.child.on('error', (error) => {
      this.exited = { code: null, signal: null, error }
    })
  }

  async waitUntilUp(seconds = START_SECONDS) {
    const deadline = Date.now() + seconds * 1000
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${this.name} exited (${JSON.stringify(this.exited)}):\n${this.output}`)
      try {
        await httpJson('GET', this.url + this.probe, { timeout: 1000 })
        return this
      } catch (_) {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    throw new Error(`${this.name} did not answer on ${this.url} within ${seconds} s:\n${this.output}`)
  }

  /** SIGTERM to the group, SIGKILL after `seconds`. */
  async stop(seconds = 10) {
    if (this.exited || !this.child.pid) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    const signal = (name) => {
      try {
        process.kill(-this.child.pid, name)
      } catch (_) {
        // already gone
      }
    }
    signal('SIGTERM')
    const timer = new Promise((resolve) => setTimeout(resolve, seconds * 1000, 'timeout'))
    if ((await Promise.race([exited, timer])) === 'timeout') {
      signal('SIGKILL')
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
    }
  }
}

function requireVenv() {
  const missing = ['python', 'gunicorn', 'flask'].filter((name) => !fs.existsSync(path.join(VENV_BIN, name)))
  if (missing.length) {
    throw new Error(`${VENV_BIN} lacks ${missing.join(', ')}: run \`make install\` in ${REPO} first`)
  }
}

/**
 * An apps file (the backend's WX_APPS_FILE, the emulator's --apps-file) in a temporary
 * folder, readable by its owner only, as a file of AppSecrets should be.
 * @param {{appid: string, secret: string, name?: string, api_keys?: string[]}[]} apps
 * @returns {{path: string, remove: () => void}}
 */
function writeAppsFile(apps) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxsub-e2e-apps-'))
  const file = path.join(dir, 'apps.toml')
  const entries = apps.map((app) =>
    ['[[app]]', ...Object.entries(app).map(([key, value]) => `${key} = ${JSON.stringify(value)}`)].join('\n'),
  )
  fs.writeFileSync(file, entries.join('\n\n') + '\n', { mode: 0o600 })
  return { path: file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/** @param {{appsFile?: string}} [options] with `appsFile`, the emulator hosts its apps too */
async function startEmulator({ appsFile } = {}) {
  requireVenv()
  const port = await freePort()
  const args = [path.join(VENV_BIN, 'python'), '-m', 'wxemu', '--host', '127.0.0.1', '--port', String(port)]
  if (appsFile) args.push('--apps-file', appsFile)
  const server = new Server('emulator', args, { PYTHONPATH: REPO }, port, '/_emulator/log')
  try {
    return await server.waitUntilUp()
  } catch (error) {
    await server.stop()
    throw error
  }
}

/**
 * The backend against `emulatorUrl`, on a fresh SQLite database brought to the current schema
 * by `flask db upgrade`: in dev mode (no AppID / AppSecret), or serving the apps of `appsFile`
 * (WX_APPS_FILE, with a SECRET_KEY made up for this run).
 * @param {string} emulatorUrl
 * @param {{apiKey?: string, appsFile?: string, env?: Record<string, string>}} options `apiKey`: a
 *   business key for every app (BUSINESS_API_KEYS); the apps file may give each app its own;
 *   `env` more settings (e.g. DEVICE_BINDING_REQUIRED, which dev mode turns off)
 */
async function startBackend(emulatorUrl, { apiKey = '', appsFile, env: extra = {} } = {}) {
  requireVenv()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxsub-e2e-'))
  const env = {
    DATABASE_URL: `sqlite:///${path.join(dir, 'backend.sqlite3')}`,
    WX_API_BASE: emulatorUrl,
    BUSINESS_API_KEYS: apiKey,
    WX_APPID: '',
    WX_SECRET: '',
    WX_TOKEN: '',
    REDIS_URL: '',
    PYTHONPATH: REPO,
    ...extra,
    ERASURE_LOG: path.join(dir, 'erasures.log'), // never the project's instance folder
  }
  if (appsFile) {
    Object.assign(env, {
      WX_APPS_FILE: appsFile,
      SECRET_KEY: crypto.randomBytes(32).toString('hex'),
      DATA_KEY: crypto.randomBytes(32).toString('base64'),
    })
  }
  await new Promise((resolve, reject) => {
    execFile(
      path.join(VENV_BIN, 'flask'),
      ['--app', 'wsgi', 'db', 'upgrade'],
      { cwd: REPO, env: { ...process.env, ...env }, timeout: 60000 },
      (error, stdout, stderr) => (error ? reject(new Error(`db upgrade failed: ${error.message}\n${stderr}`)) : resolve()),
    )
  })
  const port = await freePort()
  const args = [
    path.join(VENV_BIN, 'gunicorn'),
    '--workers', '1',
    '--threads', '4',
    '--graceful-timeout', '5',
    '--bind', `127.0.0.1:${port}`,
    'wsgi:app',
  ]
  const server = new Server('backend', args, env, port, '/healthz')
  server.dir = dir
  const stop = server.stop.bind(server)
  server.stop = async () => {
    await stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    return await server.waitUntilUp()
  } catch (error) {
    await server.stop()
    throw error
  }
}

module.exports = { startEmulator, startBackend, writeAppsFile, httpJson, REPO, VENV_BIN }
