import { describe, expect, it } from 'vitest'
import { isLocalHost, isSafeUrlString } from '../../../lib/util/url.ts'

describe('isLocalHost (a URL hostname that names this machine or its link)', () => {
  const hostOf = (url: string) => new URL(url).hostname
  it.each([
    'https://127.0.0.1/',
    'https://127.255.255.254/',
    'https://0.0.0.0/',
    'https://0.1.2.3/',
    'https://169.254.169.254/',
    'https://localhost/',
    'https://localhost./',
    'https://x.localhost/',
    'https://[::1]/',
    'https://[::]/',
    'https://[0:0:0:0:0:0:0:1]/',
    'https://[fe80::1]/',
    'https://[febf::1]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:a9fe:a9fe]/',
    'https://[::127.0.0.1]/',
    'https://[64:ff9b::127.0.0.1]/',
    'https://2130706433/',
    'https://0177.0.0.1/',
  ])('%s is local', (url) => {
    expect(isLocalHost(hostOf(url))).toBe(true)
  })

  it.each([
    'https://api.example/',
    'https://126.255.255.255/',
    'https://128.0.0.1/',
    'https://169.253.0.1/',
    'https://169.255.0.1/',
    'https://localhost.example/',
    'https://[fec0::1]/',
    'https://[fe7f::1]/',
    'https://[2001:db8::1]/',
    'https://[::ffff:8.8.8.8]/',
    'https://[64:ff9b::8.8.8.8]/',
    'https://[::2:0:0:1]/',
  ])('%s is not', (url) => {
    expect(isLocalHost(hostOf(url))).toBe(false)
  })
})

describe('isSafeUrlString (a URL text credentials may be sent to)', () => {
  it('accepts https:, and http: on a loopback host only', () => {
    for (const url of ['https://tokenx.example/token', 'http://127.0.0.1:8080/x', 'http://localhost/x', 'http://[::1]:1/']) {
      expect(isSafeUrlString(url), url).toBe(true)
    }
  })

  it('refuses cleartext elsewhere, other schemes, non-URLs and non-strings', () => {
    for (const value of [
      'http://tokenx.example/token',
      'ftp://127.0.0.1/x',
      'file:///etc/passwd',
      '/relative',
      'not a url',
      '',
      undefined,
      42,
    ]) {
      expect(isSafeUrlString(value), String(value)).toBe(false)
    }
  })
})
