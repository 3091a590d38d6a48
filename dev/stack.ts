/**
 * The local dev stack: everything the example function needs, on 127.0.0.1.
 *
 *   caller ──► serverless-offline (GET /resource, the kit in-process)
 *                 ├─► local ID-porten         (JWKS: the kit validates the citizen token first)
 *                 ├─► local Secrets Manager   (the app's private JWK)
 *                 ├─► local TokenX            (token exchange, tokendings rules)
 *                 │      └─► local ID-porten  (discovery + JWKS of citizen tokens)
 *                 └─► downstream API          (records, then forwards to serverless-offline's
 *                                              GET /api/resource: the kit's API side, which accepts
 *                                              TokenX tokens for its audience from the example only)
 *
 *   caller ──► serverless-offline (GET /employee; machine and maskinporten through the invoke API)
 *                 ├─► local Entra ID / Maskinporten (dev/flows-stand-ins.ts: tokens, JWKS)
 *                 ├─► local Secrets Manager         (their private JWK, as deployed)
 *                 └─► flows downstream              (dev/flows-downstream.ts: checks their tokens)
 *
 * `startStack` is used by `npm start` (scripts/dev-stack.ts, keys kept in `.dev/`) and by the e2e
 * tests (fresh keys, free ports). Nothing here logs a token, an assertion or a key.
 */
import { spawn } from 'node:child_process'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import type { JWK } from 'jose'
import { LOOPBACK } from './http.ts'
import { startDownstream, type Downstream } from './downstream.ts'
import { startDynamoDB, type LocalDynamoDB } from './dynamodb.ts'
import { startFlowsDownstream, type FlowsDownstream } from './flows-downstream.ts'
import { FLOW_APP, FLOW_CALLER, FLOW_DOWNSTREAM, MASKINPORTEN_SCOPE, startFlowStandIns, type FlowStandIns } from './flows-stand-ins.ts'
import { startIdPorten, type IdPorten } from './idporten.ts'
import { generateRsaJwk, loadOrCreateRsaJwk, type RsaJwkPair } from './keys.ts'
import { startOffline, type Offline } from './offline.ts'
import { isAddressInUse, PortInUseError } from './ports.ts'
import { startSecretsManager, type LocalSecretsManager } from './secrets-manager.ts'
import { startTokenX, type TokenX } from './tokenx.ts'

export const APP_CLIENT_ID = 'local:team:tokenx-kit-example'
export const DOWNSTREAM_AUDIENCE = 'local:team:downstream-api'
export const APP_KEY_SECRET_ID = 'tokenx-kit-example/private-jwk'
export const REGION = 'eu-north-1'
export const ENTRA_KEY_SECRET_ID = 'tokenx-kit-example/entra-jwk'
export const MASKINPORTEN_KEY_SECRET_ID = 'tokenx-kit-example/maskinporten-jwk'
/** serverless.yml's service; offline names each function `<service>-local-<name>`. */
const SERVICE = 'tokenx-handler-kit'

/** Where each piece listens. 0 = any free port. */
export interface StackPorts {
  /** serverless-offline's HTTP API (the example function). */
  readonly http: number
  /** serverless-offline's Lambda invoke API. */
  readonly lambda: number
  readonly tokenx: number
  readonly idporten: number
  readonly downstream: number
  readonly secretsManager: number
}

export const DEFAULT_PORT_BASE = 4400

/** The fixed block used by `npm start`: 4400–4405, in the order of StackPorts. */
export function portsFrom(base: number = DEFAULT_PORT_BASE): StackPorts {
  return { http: base, lambda: base + 1, tokenx: base + 2, idporten: base + 3, downstream: base + 4, secretsManager: base + 5 }
}

/** The environment variable that moves each piece to another port (DEV_PORT_BASE moves them all). */
export const PORT_VARIABLES: Readonly<Record<keyof StackPorts, string>> = {
  http: 'DEV_HTTP_PORT',
  lambda: 'DEV_LAMBDA_PORT',
  tokenx: 'DEV_TOKENX_PORT',
  idporten: 'DEV_IDPORTEN_PORT',
  downstream: 'DEV_DOWNSTREAM_PORT',
  secretsManager: 'DEV_SECRETS_MANAGER_PORT',
}

const PORT_PIECES: Readonly<Record<keyof StackPorts, string>> = {
  http: 'the example function, serverless-offline',
  lambda: "serverless-offline's Lambda invoke API",
  tokenx: 'local TokenX',
  idporten: 'local ID-porten',
  downstream: 'downstream API',
  secretsManager: 'local Secrets Manager',
}

/** Ports from `DEV_PORT_BASE` and the per-piece `DEV_*_PORT` variables. */
export function portsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): StackPorts {
  const base = portsFrom(numberOr(env, 'DEV_PORT_BASE', DEFAULT_PORT_BASE))
  if (base.secretsManager > 65535) throw new Error(`DEV_PORT_BASE must leave room for six ports (at most 65530): ${env.DEV_PORT_BASE}`)
  const ports = {} as Record<keyof StackPorts, number>
  for (const [piece, variable] of Object.entries(PORT_VARIABLES) as Array<[keyof StackPorts, string]>) {
    ports[piece] = numberOr(env, variable, base[piece])
  }
  return ports
}

function numberOr(env: Readonly<Record<string, string | undefined>>, name: string, fallback: number): number {
  const text = env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!/^\d+$/.test(text) || value > 65535) throw new Error(`${name} must be a port number from 0 to 65535, not "${text}"`)
  return value
}

/** A taken port, named with the piece that wanted it and the variable that moves it: one line. */
export class StackPortError extends PortInUseError {
  override readonly name = 'PortInUseError'
  readonly variable: string
  constructor(piece: keyof StackPorts, port: number, options?: ErrorOptions) {
    const variable = PORT_VARIABLES[piece]
    super(
      port,
      `port ${port} on ${LOOPBACK} (${PORT_PIECES[piece]}) is already in use: ` +
        `set ${variable} (or DEV_PORT_BASE for all six) to a free port, or stop what listens there`,
      options,
    )
    this.variable = variable
  }
}

/** A port that was free a moment ago (for serverless-offline, which cannot report an ephemeral one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, LOOPBACK, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export interface StackOptions {
  /** Default: all free ports (tests). `npm start` passes portsFromEnv(). */
  readonly ports?: Partial<StackPorts>
  /**
   * Folder for keys and `stack.json` (`.dev` for `npm start`): the app key and the ID-porten key
   * are loaded from it or created in it, so restarts keep them and `npm run token` can sign with
   * the running stack's key. Default: none, fresh keys in memory only.
   */
  readonly stateDir?: string
  /** The repository root (serverless.yml, package.json). Default the current directory. */
  readonly root?: string
  /** Run `npm run build` before serving the functions. Default true. */
  readonly build?: boolean
  /** Serve the functions with serverless-offline. Default true (false: only the servers). */
  readonly functions?: boolean
  /** Progress lines and serverless-offline's output. Default: nothing. */
  readonly log?: (line: string) => void
  /** Extra environment for the functions (e.g. shorter timeouts in tests). */
  readonly functionEnv?: Readonly<Record<string, string>>
  /**
   * The kit's shared token cache (TOKEN_X_CACHE_TABLE) on a local DynamoDB (dynalite, dev/dynamodb.ts).
   * Default on, on a free port (`DEV_DYNAMODB_PORT` for `npm start`); `false` leaves it off.
   */
  readonly sharedCache?: boolean | { readonly port?: number }
  /**
   * The Entra ID and Maskinporten stand-ins, their downstream, and the settings that make
   * serverless.yml serve functions/employee.ts, machine.ts and maskinporten.ts. Default on, on free
   * ports (`DEV_ENTRA_PORT`, `DEV_MASKINPORTEN_PORT`, `DEV_FLOWS_DOWNSTREAM_PORT` for `npm start`);
   * `false` leaves them off (those functions are then not packaged).
   */
  readonly flows?: boolean | { readonly entraPort?: number; readonly maskinportenPort?: number; readonly downstreamPort?: number }
}

/** The Entra ID and Maskinporten side of the stack. */
export interface FlowsStack {
  readonly standIns: FlowStandIns
  readonly downstream: FlowsDownstream
  /**
   * NAIS's Entra ID and Maskinporten variables (no keys: those are in Secrets Manager) and the three
   * functions' deploy settings, given to serverless-offline besides `functionEnv`.
   */
  readonly env: Readonly<Record<string, string>>
  /** An Entra ID user token for GET /employee, from the pre-authorized caller app; `ttl` in seconds, default 3600. */
  userToken(ttl?: number): Promise<string>
}

export interface Stack {
  readonly idporten: IdPorten
  readonly tokenx: TokenX
  readonly secretsManager: LocalSecretsManager
  readonly downstream: Downstream
  /** The local DynamoDB holding the shared token cache table; undefined when `sharedCache: false`. */
  readonly dynamodb: LocalDynamoDB | undefined
  /** Undefined when started with `functions: false`. */
  readonly offline: Offline | undefined
  /** Undefined when started with `flows: false`. */
  readonly flows: FlowsStack | undefined
  /**
   * serverless-offline's invoke URL of a function (`machine`, `maskinporten`; AWS Lambda's Invoke
   * API, POST an event); undefined without functions.
   */
  invokeUrl(name: string): string | undefined
  /** The example function: `${apiUrl}/resource`. */
  readonly apiUrl: string | undefined
  readonly clientId: string
  readonly secretId: string
  /** The environment the functions run with (no secrets in it: the key is in Secrets Manager). */
  readonly functionEnv: Readonly<Record<string, string>>
  /** The app's current key pair (its public half is the one registered at TokenX). */
  appKey(): RsaJwkPair
  /**
   * Rotates the app key the way a NAIS key rotation does: a new key is stored in Secrets Manager,
   * registered at TokenX, and the old key unregistered.
   */
  rotateAppKey(): Promise<RsaJwkPair>
  close(): Promise<void>
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const log = options.log ?? (() => {})
  const root = options.root ?? process.cwd()
  const ports: Record<keyof StackPorts, number> = {
    http: 0,
    lambda: 0,
    tokenx: 0,
    idporten: 0,
    downstream: 0,
    secretsManager: 0,
    ...options.ports,
  }
  const closers: Array<() => Promise<void>> = []
  const close = async (): Promise<void> => {
    // Reverse order: the functions first, so nothing calls a server that is already gone.
    for (const closer of closers.splice(0).reverse()) {
      await closer().catch((error: unknown) => log(`close failed: ${(error as Error).message}`))
    }
  }

  try {
    const keys = await stackKeys(options.stateDir)
    let appKey = keys.app

    const secretsManager = await startSecretsManager({ port: ports.secretsManager, region: REGION })
    closers.push(() => secretsManager.close())
    secretsManager.putSecret(APP_KEY_SECRET_ID, JSON.stringify(appKey.privateJwk))

    const idporten = await startIdPorten({ port: ports.idporten, key: keys.idporten })
    closers.push(() => idporten.close())

    const tokenx = await startTokenX({
      port: ports.tokenx,
      clients: [{ clientId: APP_CLIENT_ID, jwks: [appKey.publicJwk] }],
      accessPolicy: { [DOWNSTREAM_AUDIENCE]: [APP_CLIENT_ID] },
      subjectIssuers: [idporten.discoveryUrl],
    })
    closers.push(() => tokenx.close())

    // The downstream API is the kit's own API side (functions/api-resource.ts) once serverless-offline
    // runs; this server records what reaches it and forwards there.
    let apiSide: string | undefined
    const downstream = await startDownstream({
      port: ports.downstream,
      audience: DOWNSTREAM_AUDIENCE,
      issuer: tokenx.issuer,
      jwksUri: tokenx.jwksUri,
      forwardTo: () => apiSide,
    })
    closers.push(() => downstream.close())

    let dynamodb: LocalDynamoDB | undefined
    if (options.sharedCache !== false) {
      const port = typeof options.sharedCache === 'object' ? options.sharedCache.port : undefined
      dynamodb = await startDynamoDB({ port: port ?? 0, region: REGION })
      closers.push(() => dynamodb?.close() ?? Promise.resolve())
    }

    let flows: FlowsStack | undefined
    let flowSettings: Record<string, string> = {}
    if (options.flows !== false) {
      const flowPorts = typeof options.flows === 'object' ? options.flows : {}
      const standIns = await startFlowStandIns({ entraPort: flowPorts.entraPort ?? 0, maskinportenPort: flowPorts.maskinportenPort ?? 0 })
      closers.push(() => standIns.close())
      const flowsDownstream = await startFlowsDownstream({
        port: flowPorts.downstreamPort ?? 0,
        entra: { issuer: standIns.entra.issuer, jwksUri: standIns.entra.jwksUri, audience: FLOW_DOWNSTREAM.clientId },
        maskinporten: { issuer: standIns.maskinporten.issuer, jwksUri: standIns.maskinporten.jwksUri, scope: MASKINPORTEN_SCOPE },
      })
      closers.push(() => flowsDownstream.close())
      // The keys go where they do when deployed (Secrets Manager, by secret id), never inline.
      const { AZURE_APP_JWK, MASKINPORTEN_CLIENT_JWK, AZURE_APP_WELL_KNOWN_URL, MASKINPORTEN_WELL_KNOWN_URL, DOWNSTREAM_SCOPE, ...nais } =
        standIns.env
      secretsManager.putSecret(ENTRA_KEY_SECRET_ID, AZURE_APP_JWK as string)
      secretsManager.putSecret(MASKINPORTEN_KEY_SECRET_ID, MASKINPORTEN_CLIENT_JWK as string)
      // Deploy settings (serverless.yml, custom.functions.<name>.settings): setting one packages the
      // optional function; deploy/config.cjs maps each to the function's DOWNSTREAM_URL/_SCOPE.
      flowSettings = {
        ...nais,
        AZURE_APP_JWK_SECRET_ID: ENTRA_KEY_SECRET_ID,
        MASKINPORTEN_CLIENT_JWK_SECRET_ID: MASKINPORTEN_KEY_SECRET_ID,
        EMPLOYEE_DOWNSTREAM_URL: flowsDownstream.url,
        EMPLOYEE_DOWNSTREAM_SCOPE: FLOW_DOWNSTREAM.name,
        MACHINE_DOWNSTREAM_URL: `${flowsDownstream.url}/machine`,
        MACHINE_DOWNSTREAM_SCOPE: FLOW_DOWNSTREAM.name,
        EXTERNAL_API_URL: `${flowsDownstream.url}/external`,
      }
      flows = {
        standIns,
        env: flowSettings,
        downstream: flowsDownstream,
        userToken: (ttl = 3600) =>
          standIns.entra.mintUserToken({
            aud: FLOW_APP.clientId,
            azp: FLOW_CALLER.clientId,
            sub: 'local-employee',
            name: 'Local Employee',
            exp: Math.floor(Date.now() / 1000) + ttl,
          }),
      }
    }

    const functionEnv: Record<string, string> = {
      TOKEN_X_CLIENT_ID: APP_CLIENT_ID,
      TOKEN_X_TOKEN_ENDPOINT: tokenx.tokenEndpoint,
      TOKEN_X_ISSUER: tokenx.issuer,
      TOKEN_X_PRIVATE_JWK_SECRET_ID: APP_KEY_SECRET_ID,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.url,
      AWS_REGION: REGION,
      // Dummy credentials: the local Secrets Manager does not check signatures, but the SDK
      // insists on signing, and must never find real credentials (a profile, SSO) on this machine.
      AWS_ACCESS_KEY_ID: 'local-dev-access-key',
      AWS_SECRET_ACCESS_KEY: 'local-dev-secret-key',
      DOWNSTREAM_URL: downstream.url,
      DOWNSTREAM_AUDIENCE,
      // Observability as on Lambda: JSON log lines and one EMF metrics record per invocation, on stdout.
      POWERTOOLS_SERVICE_NAME: 'tokenx-dev-resource',
      POWERTOOLS_METRICS_NAMESPACE: 'TokenXLocal',
      // dynalite answers in a few ms on an idle machine but shares its process with the stack's
      // other servers: roomier budgets than DynamoDB needs, so a busy laptop still sees hits.
      // Off: an empty TOKEN_X_CACHE_TABLE. serverless.yml never sets it under stage local (no
      // TOKEN_X_SHARED_CACHE), so the in-process handlers see this one.
      ...(dynamodb === undefined
        ? { TOKEN_X_CACHE_TABLE: '' }
        : {
            TOKEN_X_CACHE_TABLE: dynamodb.table,
            AWS_ENDPOINT_URL_DYNAMODB: dynamodb.url,
            TOKEN_X_CACHE_READ_TIMEOUT: '1000',
            TOKEN_X_CACHE_WRITE_TIMEOUT: '1000',
          }),
      // Inbound validation of the example function: citizen tokens from the local ID-porten, and
      // TokenX tokens for our client id; the login level is serverless.yml's REQUIRED_ACR default.
      IDPORTEN_ISSUER: idporten.issuer,
      IDPORTEN_JWKS_URI: idporten.jwksUri,
      IDPORTEN_AUDIENCE: APP_CLIENT_ID,
      TOKEN_X_JWKS_URI: tokenx.jwksUri,
      // The API side (GET /api/resource) is the downstream app, and only the example may call it.
      API_TOKEN_X_CLIENT_ID: DOWNSTREAM_AUDIENCE,
      API_ALLOWED_CALLERS: APP_CLIENT_ID,
      ...options.functionEnv,
    }

    let offline: Offline | undefined
    if (options.functions ?? true) {
      if (options.build ?? true) await runBuild(root, log)
      const httpPort = ports.http === 0 ? await freePort() : ports.http
      const lambdaPort = ports.lambda === 0 ? await freePort() : ports.lambda
      ports.http = httpPort
      ports.lambda = lambdaPort
      log(`starting serverless-offline on ${LOOPBACK}:${httpPort}`)
      offline = await startOffline({
        cwd: root,
        httpPort,
        lambdaPort,
        env: { ...inheritedEnv(), ...flowSettings, ...functionEnv },
        log: (line) => log(`[offline] ${line}`),
      })
      closers.push(() => offline?.close() ?? Promise.resolve())
      apiSide = offline.url
    }

    const stack: Stack = {
      idporten,
      tokenx,
      secretsManager,
      downstream,
      dynamodb,
      offline,
      flows,
      invokeUrl: (name) =>
        offline === undefined ? undefined : `${offline.lambdaUrl}/2015-03-31/functions/${SERVICE}-local-${name}/invocations`,
      apiUrl: offline?.url,
      clientId: APP_CLIENT_ID,
      secretId: APP_KEY_SECRET_ID,
      functionEnv,
      appKey: () => appKey,
      async rotateAppKey() {
        const next = await generateRsaJwk()
        secretsManager.putSecret(APP_KEY_SECRET_ID, JSON.stringify(next.privateJwk))
        tokenx.setClientJwks(APP_CLIENT_ID, [next.publicJwk])
        appKey = next
        if (options.stateDir !== undefined) await writeKey(join(options.stateDir, APP_KEY_FILE), next.privateJwk)
        return next
      },
      close,
    }

    if (options.stateDir !== undefined) {
      const stateFile = join(options.stateDir, stateFileName(ports.http))
      await writeFile(stateFile, `${JSON.stringify(stackState(stack), null, 2)}\n`, { mode: 0o600 })
      closers.unshift(() => rm(stateFile, { force: true }))
      if (flows !== undefined) {
        // For the printed curl: a file rather than the terminal, so the token stays out of logs.
        const tokenFile = join(options.stateDir, entraTokenFileName(ports.http))
        await writeFile(tokenFile, `${await flows.userToken(ENTRA_TOKEN_TTL)}\n`, { mode: 0o600 })
        closers.unshift(() => rm(tokenFile, { force: true }))
      }
    }
    return stack
  } catch (error) {
    await close()
    throw portError(error, ports) ?? error
  }
}

/** EADDRINUSE from any piece, as a StackPortError naming the piece and its variable. */
function portError(error: unknown, ports: Readonly<Record<keyof StackPorts, number>>): StackPortError | undefined {
  if (!isAddressInUse(error)) return undefined
  const port = (error as { port?: unknown }).port
  const piece = (Object.keys(ports) as Array<keyof StackPorts>).find((name) => ports[name] === port && port !== 0)
  return piece === undefined ? undefined : new StackPortError(piece, port as number, { cause: error })
}

/** Seconds the Entra ID user token in the state folder lasts: a working day. */
export const ENTRA_TOKEN_TTL = 8 * 3600

/** An Entra ID user token for GET /employee of the stack on `httpPort` (removed when it stops). */
export function entraTokenFileName(httpPort: number): string {
  return `entra-user-token-${httpPort}.jwt`
}

export const APP_KEY_FILE = 'app-private-jwk.json'
export const IDPORTEN_KEY_FILE = 'idporten-private-jwk.json'
/**
 * The running stack's state file in the state folder, one per HTTP port: stacks on different ports
 * (DEV_PORT_BASE) share the keys but never each other's state.
 */
export function stateFileName(httpPort: number): string {
  return `stack-${httpPort}.json`
}

/** What `.dev/stack-<http port>.json` says about a running stack (no secrets: key files are separate). */
export interface StackState {
  readonly pid: number
  readonly idportenIssuer: string
  readonly tokenxIssuer: string
  readonly downstreamUrl: string
  readonly secretsManagerUrl: string
  readonly apiUrl: string | undefined
  readonly dynamodbUrl?: string | undefined
}

function stackState(stack: Stack): StackState {
  return {
    pid: process.pid,
    idportenIssuer: stack.idporten.issuer,
    tokenxIssuer: stack.tokenx.issuer,
    downstreamUrl: stack.downstream.url,
    secretsManagerUrl: stack.secretsManager.url,
    apiUrl: stack.apiUrl,
    dynamodbUrl: stack.dynamodb?.url,
  }
}

async function stackKeys(stateDir: string | undefined): Promise<{ app: RsaJwkPair; idporten: RsaJwkPair }> {
  if (stateDir === undefined) return { app: await generateRsaJwk(), idporten: await generateRsaJwk() }
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
  const app = await loadOrCreateRsaJwk(join(stateDir, APP_KEY_FILE))
  const idporten = await loadOrCreateRsaJwk(join(stateDir, IDPORTEN_KEY_FILE))
  return { app: app.pair, idporten: idporten.pair }
}

async function writeKey(file: string, jwk: JWK): Promise<void> {
  await writeFile(file, `${JSON.stringify(jwk, null, 2)}\n`, { mode: 0o600 })
}

/**
 * The parent's environment minus anything that could point the AWS SDK elsewhere (profiles, SSO,
 * real credentials, other endpoints): the functions see only the local Secrets Manager.
 */
function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || name.startsWith('AWS_') || name.startsWith('TOKEN_X_')) continue
    env[name] = value
  }
  return env
}

/** `npm run build` (esbuild.config.mjs → dist/<function>/index.mjs). */
function runBuild(root: string, log: (line: string) => void): Promise<void> {
  log('building the functions (npm run build)')
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    const output: string[] = []
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')))
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code === 0) resolve()
      else reject(new Error(`npm run build failed (exit ${code}):\n${output.join('').slice(-4000)}`))
    })
  })
}
