// Types for `getApp()` in pages: what app.js adds to the App instance.
interface IAppOption {
  session: Promise<import('../lib/request').Session> | null
  whenLoggedIn(): Promise<import('../lib/request').Session>
  relogin(): Promise<import('../lib/request').Session>
}
