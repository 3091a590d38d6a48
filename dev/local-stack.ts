/**
 * The stack of `tokenx-local` (dev/local-cli.ts), for a consumer's own project: a local ID-porten, a
 * local TokenX (dev/local-tokenx.ts) with several clients and an access policy, and downstream
 * stand-ins that accept TokenX tokens for their audience, all on 127.0.0.1, from a small JSON file:
 *
 *   {
 *     "tokenx": { "port": 4500 },                       optional; default 4500
 *     "idporten": { "port": 4501 },                     optional; default 4501
 *     "clients": {                                      the consumer's own apps (its functions)
 *       "local:team:frontend": { "audiences": ["local:team:profile", "local:team:orders"] },
 *       "local:team:orders": { "audiences": ["local:team:ledger"], "url": "http://127.0.0.1:3000" }
 *     },
 *     "downstreams": {                                  stand-ins, each echoing who called it
 *       "local:team:profile": { "port": 4510 },
 *       "local:team:ledger": { "port": 4511, "name": "ledger" }
 *     }
 *   }
 *
 * An audience is a downstream stand-in or another client (a chained call: that client's function
 * receives the TokenX token and exchanges it onward). The access policy is the clients' audiences.
 * Only jose and node: are imported here: this is compiled into the package (build/tokenx-local/).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { JWK } from 'jose'
import { startDownstream, type Downstream } from './downstream.ts'
import { LOOPBACK } from './http.ts'
import { startIdPorten, type IdPorten } from './idporten.ts'
import { loadOrCreateRsaJwk, type RsaJwkPair } from './keys.ts'
import { startLocalTokenX, type LocalTokenX } from './local-tokenx.ts'

export const DEFAULT_TOKENX_PORT = 4500
export const DEFAULT_IDPORTEN_PORT = 4501
export const DEFAULT_CONFIG_FILE = 'tokenx-local.json'
export const DEFAULT_STATE_DIR = '.tokenx-local'

export interface LocalClient {
  readonly audiences: readonly string[]
  /** Where this app's function answers, if another client calls it (printed as its DOWNSTREAM_*_URL). */
  readonly url?: string
  /** The DOWNSTREAM_<NAME>_* name when another client calls it; default the app part of the id. */
  readonly name?: string
}

export interface LocalDownstream {
  /** 0 = a free port (printed, and read by `env` from the running stack). */
  readonly port: number
  readonly name?: string
}

export interface LocalConfig {
  readonly tokenx: { readonly port: number }
  readonly idporten: { readonly port: number }
  readonly clients: Readonly<Record<string, LocalClient>>
  readonly downstreams: Readonly<Record<string, LocalDownstream>>
}

/** A bad configuration file: one message naming the file and what is wrong. */
export class LocalConfigError extends Error {
  override readonly name = 'LocalConfigError'
}

const APP_ID = /^[a-z0-9][a-z0-9-]*:[a-z0-9][a-z0-9-]*:[a-z0-9][a-z0-9-]*$/i

function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new LocalConfigError(`${where} must be an object`)
  return value as Record<string, unknown>
}

function known(value: Record<string, unknown>, keys: readonly string[], where: string): void {
  const unknown = Object.keys(value).filter((key) => !keys.includes(key))
  if (unknown.length > 0)
    throw new LocalConfigError(`${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${keys.join(', ')})`)
}

function port(value: unknown, where: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65535)
    throw new LocalConfigError(`${where} must be a port number from 0 to 65535`)
  return value as number
}

function name(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(value))
    throw new LocalConfigError(`${where} must be letters, digits and _ (an environment variable part)`)
  return value
}

/** Checks a parsed configuration file; `LocalConfigError` names the first problem. */
export function parseLocalConfig(raw: unknown): LocalConfig {
  const top = object(raw, 'the configuration')
  known(top, ['tokenx', 'idporten', 'clients', 'downstreams'], 'the configuration')
  const piece = (key: 'tokenx' | 'idporten', fallback: number): { port: number } => {
    const value = object(top[key] ?? {}, key)
    known(value, ['port'], key)
    return { port: port(value.port, `${key}.port`, fallback) }
  }
  const clients: Record<string, LocalClient> = {}
  for (const [id, value] of Object.entries(object(top.clients, 'clients'))) {
    const where = `clients["${id}"]`
    if (!APP_ID.test(id)) throw new LocalConfigError(`${where}: a client id is cluster:namespace:app`)
    const client = object(value, where)
    known(client, ['audiences', 'url', 'name'], where)
    if (!Array.isArray(client.audiences) || client.audiences.some((a) => typeof a !== 'string'))
      throw new LocalConfigError(`${where}.audiences must be a list of audiences`)
    if (client.url !== undefined && (typeof client.url !== 'string' || !/^https?:\/\//.test(client.url)))
      throw new LocalConfigError(`${where}.url must be an http(s) URL`)
    const clientName = name(client.name, `${where}.name`)
    clients[id] = {
      audiences: client.audiences as string[],
      ...(client.url === undefined ? {} : { url: client.url as string }),
      ...(clientName === undefined ? {} : { name: clientName }),
    }
  }
  if (Object.keys(clients).length === 0) throw new LocalConfigError('clients must name at least one client')
  const downstreams: Record<string, LocalDownstream> = {}
  for (const [id, value] of Object.entries(object(top.downstreams ?? {}, 'downstreams'))) {
    const where = `downstreams["${id}"]`
    if (!APP_ID.test(id)) throw new LocalConfigError(`${where}: an audience is cluster:namespace:app`)
    if (clients[id] !== undefined)
      throw new LocalConfigError(
        `${where}: ${id} is also a client; an app is either your own function (a client) or a stand-in (a downstream)`,
      )
    const downstream = object(value, where)
    known(downstream, ['port', 'name'], where)
    const downstreamName = name(downstream.name, `${where}.name`)
    downstreams[id] = { port: port(downstream.port, `${where}.port`), ...(downstreamName === undefined ? {} : { name: downstreamName }) }
  }
  for (const [id, client] of Object.entries(clients)) {
    for (const audience of client.audiences) {
      if (downstreams[audience] === undefined && clients[audience] === undefined) {
        throw new LocalConfigError(`clients["${id}"].audiences: ${audience} is neither a downstream nor a client`)
      }
    }
  }
  const names = new Map<string, string>()
  for (const id of [...Object.keys(downstreams), ...Object.keys(clients)]) {
    const variable = envName(id, { clients, downstreams } as LocalConfig)
    const other = names.get(variable)
    if (other !== undefined) throw new LocalConfigError(`${other} and ${id} would both be DOWNSTREAM_${variable}_*: give one a "name"`)
    names.set(variable, id)
  }
  return { tokenx: piece('tokenx', DEFAULT_TOKENX_PORT), idporten: piece('idporten', DEFAULT_IDPORTEN_PORT), clients, downstreams }
}

export async function readLocalConfig(file: string): Promise<LocalConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new LocalConfigError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new LocalConfigError(`${file} is not JSON: ${(error as Error).message}`)
  }
  try {
    return parseLocalConfig(raw)
  } catch (error) {
    throw new LocalConfigError(`${file}: ${(error as Error).message}`)
  }
}

/** The `<NAME>` of an app's DOWNSTREAM_<NAME>_URL and _AUDIENCE: its `name`, else its app part. */
export function envName(id: string, config: Pick<LocalConfig, 'clients' | 'downstreams'>): string {
  const explicit = config.downstreams[id]?.name ?? config.clients[id]?.name
  return (explicit ?? id.split(':').at(-1) ?? id).toUpperCase().replace(/[^A-Z0-9]/g, '_')
}

/** What a running stack writes to `<state dir>/running.json`: its process and where each piece is. */
export interface RunningState {
  readonly pid: number
  readonly tokenxIssuer: string
  readonly idportenIssuer: string
  /** Audience → URL of its stand-in. */
  readonly downstreams: Readonly<Record<string, string>>
}

export const RUNNING_FILE = 'running.json'
export const TOKENX_KEY_FILE = 'tokenx-signing-jwk.json'
export const IDPORTEN_KEY_FILE = 'idporten-jwk.json'
export const clientKeyFile = (clientId: string): string => join('clients', `${clientId.replaceAll(':', '_')}.json`)

/** The keys in the state folder, created on first use and kept, so tokens and env stay valid across restarts. */
export async function localKeys(
  stateDir: string,
  config: LocalConfig,
): Promise<{ tokenx: RsaJwkPair; idporten: RsaJwkPair; clients: Map<string, RsaJwkPair> }> {
  await mkdir(join(stateDir, 'clients'), { recursive: true, mode: 0o700 })
  // Keeps the folder out of the consumer's commits without touching their .gitignore.
  await writeFile(join(stateDir, '.gitignore'), '*\n')
  const tokenx = (await loadOrCreateRsaJwk(join(stateDir, TOKENX_KEY_FILE))).pair
  const idporten = (await loadOrCreateRsaJwk(join(stateDir, IDPORTEN_KEY_FILE))).pair
  const clients = new Map<string, RsaJwkPair>()
  for (const id of Object.keys(config.clients)) clients.set(id, (await loadOrCreateRsaJwk(join(stateDir, clientKeyFile(id)))).pair)
  return { tokenx, idporten, clients }
}

export interface LocalStack {
  readonly tokenx: LocalTokenX
  readonly idporten: IdPorten
  readonly downstreams: ReadonlyMap<string, Downstream>
  readonly state: RunningState
  close(): Promise<void>
}

export async function startLocalStack(config: LocalConfig, stateDir: string): Promise<LocalStack> {
  const keys = await localKeys(stateDir, config)
  const closers: Array<() => Promise<void>> = []
  const close = async (): Promise<void> => {
    for (const closer of closers.splice(0).reverse()) await closer().catch(() => {})
  }
  try {
    const idporten = await startIdPorten({ port: config.idporten.port, key: keys.idporten })
    closers.push(() => idporten.close())
    const policy = new Map<string, Set<string>>()
    for (const [id, client] of Object.entries(config.clients)) {
      for (const audience of client.audiences) policy.set(audience, (policy.get(audience) ?? new Set()).add(id))
    }
    // Every app is a known audience, even one nobody may call yet (tokendings: "not authorized", not "invalid").
    for (const id of [...Object.keys(config.clients), ...Object.keys(config.downstreams)]) if (!policy.has(id)) policy.set(id, new Set())
    const tokenx = await startLocalTokenX({
      port: config.tokenx.port,
      signingKey: keys.tokenx,
      clients: new Map([...keys.clients].map(([id, pair]) => [id, [pair.publicJwk] as JWK[]])),
      accessPolicy: policy,
      subjectIssuers: new Map([[idporten.issuer, [keys.idporten.publicJwk]]]),
    })
    closers.push(() => tokenx.close())
    const downstreams = new Map<string, Downstream>()
    for (const [audience, downstream] of Object.entries(config.downstreams)) {
      const started = await startDownstream({
        port: downstream.port,
        audience,
        issuer: tokenx.issuer,
        jwksUri: tokenx.jwksUri,
        anyPath: true,
      })
      closers.push(() => started.close())
      downstreams.set(audience, started)
    }
    const state: RunningState = {
      pid: process.pid,
      tokenxIssuer: tokenx.issuer,
      idportenIssuer: idporten.issuer,
      downstreams: Object.fromEntries([...downstreams].map(([audience, d]) => [audience, d.url])),
    }
    const running = join(stateDir, RUNNING_FILE)
    await writeFile(running, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
    closers.unshift(() => rm(running, { force: true }))
    return { tokenx, idporten, downstreams, state, close }
  } catch (error) {
    await close()
    throw error
  }
}

/** The running stack's state, if its process is alive; else what the configured fixed ports give. */
export async function currentState(config: LocalConfig, stateDir: string): Promise<RunningState | undefined> {
  try {
    const state = JSON.parse(await readFile(join(stateDir, RUNNING_FILE), 'utf8')) as RunningState
    process.kill(state.pid, 0)
    return state
  } catch {
    // Not running: fixed ports still say where it will be.
  }
  const zero = [config.tokenx.port, config.idporten.port, ...Object.values(config.downstreams).map((d) => d.port)].includes(0)
  if (zero) return undefined
  return {
    pid: 0,
    tokenxIssuer: `http://${LOOPBACK}:${config.tokenx.port}`,
    idportenIssuer: `http://${LOOPBACK}:${config.idporten.port}`,
    downstreams: Object.fromEntries(Object.entries(config.downstreams).map(([audience, d]) => [audience, `http://${LOOPBACK}:${d.port}`])),
  }
}

/**
 * The environment client `clientId`'s function needs: TOKEN_X_* (its id, key, TokenX's endpoints),
 * IDPORTEN_* (citizen tokens, for inbound validation) and DOWNSTREAM_<NAME>_URL / _AUDIENCE for each
 * audience it may call (a URL where the stack or the configuration knows one).
 */
export function functionEnv(config: LocalConfig, state: RunningState, clientId: string, key: RsaJwkPair): Record<string, string> {
  const client = config.clients[clientId]
  if (client === undefined)
    throw new LocalConfigError(`${clientId} is not a client in the configuration (clients: ${Object.keys(config.clients).join(', ')})`)
  const env: Record<string, string> = {
    TOKEN_X_CLIENT_ID: clientId,
    TOKEN_X_PRIVATE_JWK: JSON.stringify(key.privateJwk),
    TOKEN_X_ISSUER: state.tokenxIssuer,
    TOKEN_X_TOKEN_ENDPOINT: `${state.tokenxIssuer}/token`,
    TOKEN_X_JWKS_URI: `${state.tokenxIssuer}/jwks`,
    IDPORTEN_ISSUER: state.idportenIssuer,
    IDPORTEN_JWKS_URI: `${state.idportenIssuer}/jwks`,
    IDPORTEN_AUDIENCE: clientId,
  }
  for (const audience of client.audiences) {
    const variable = envName(audience, config)
    env[`DOWNSTREAM_${variable}_AUDIENCE`] = audience
    const url = state.downstreams[audience] ?? config.clients[audience]?.url
    if (url !== undefined) env[`DOWNSTREAM_${variable}_URL`] = url
  }
  return env
}
