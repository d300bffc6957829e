/** @type {import('jest').Config} */
module.exports = {
  // miniprogram-simulate renders components into a DOM.
  testEnvironment: 'jsdom',
  testMatch: ['<rootDir>/test/**/*.test.js'],
  testTimeout: 15000,
  // Leave CPU to the servers the end-to-end test starts.
  maxWorkers: '50%',
}
