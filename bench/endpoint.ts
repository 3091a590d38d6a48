/**
 * The bench's token endpoint and downstream API, run in a process of its own so that its CPU is never
 * counted as the client's: POST /token answers a canned RFC 8693 §2.2.1 success (the body is
 * encoded once), GET /resource answers a small JSON body, and /__stats and /__reset let a section
 * count the token requests that reached it. Keep-alive, 127.0.0.1 only.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

// About the size of a TokenX access token.
const accessToken = [
  Buffer.from(JSON.stringify({ kid: 'tokenx-bench', typ: 'JWT', alg: 'RS256' })).toString('base64url'),
  Buffer.from(
    JSON.stringify({
      sub: 'x'.repeat(43),
      iss: 'https://tokenx.dev-gcp.nav.cloud.nais.io',
      aud: 'dev-gcp:team:downstream',
      client_id: 'dev-gcp:team:app',
      pid: '10000000000',
      acr: 'idporten-loa-high',
      idp: 'https://test.idporten.no',
      nbf: 1,
      iat: 1,
      exp: 4102444800,
      jti: '00000000-0000-4000-8000-000000000000',
      consumer: { authority: 'iso6523-actorid-upis', ID: '0192:889640782' },
    }),
  ).toString('base64url'),
  Buffer.alloc(256, 7).toString('base64url'),
].join('.')

const TOKEN_BODY = Buffer.from(
  JSON.stringify({
    access_token: accessToken,
    issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    token_type: 'Bearer',
    expires_in: 900,
  }),
)
const TOKEN_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': TOKEN_BODY.length }
const RESOURCE_BODY = Buffer.from('{"ok":true}')
const RESOURCE_HEADERS = { 'content-type': 'application/json', 'content-length': RESOURCE_BODY.length }

let tokenRequests = 0
let connections = 0

const server = createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
  request.resume()
  request.once('end', () => {
    if (request.method === 'POST' && request.url === '/token') {
      tokenRequests += 1
      response.writeHead(200, TOKEN_HEADERS).end(TOKEN_BODY)
    } else if (request.method === 'GET' && request.url === '/resource') {
      response.writeHead(200, RESOURCE_HEADERS).end(RESOURCE_BODY)
    } else if (request.url === '/__stats') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ tokenRequests, connections }))
    } else if (request.method === 'POST' && request.url === '/__reset') {
      tokenRequests = 0
      connections = 0
      response.writeHead(204).end()
    } else {
      response.writeHead(404).end()
    }
  })
})
server.on('connection', () => {
  connections += 1
})
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.send?.({ url: `http://127.0.0.1:${port}` })
})
// Ends with the bench: when the parent goes away, so does the IPC channel.
process.on('disconnect', () => process.exit(0))
