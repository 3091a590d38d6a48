/**
 * A local AWS Secrets Manager endpoint for the dev stack and the tests: the real
 * `@aws-sdk/client-secrets-manager` client talks to it through `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
 *
 * It speaks the service's AWS JSON 1.1 protocol (POST /, `X-Amz-Target: secretsmanager.<Operation>`)
 * for CreateSecret, PutSecretValue, GetSecretValue and DescribeSecret, looks secrets up by name or
 * ARN, and can be told to fail the next requests the way AWS does (throttling, access denied), so
 * tests can show the kit's behaviour under those faults. Request signatures are not verified.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { listen } from './http.ts'

export interface SecretsManagerFault {
  /** AWS error type, e.g. `ThrottlingException`, `AccessDeniedException`. */
  readonly type: string
  /** HTTP status; AWS uses 400 for most client errors. Default 400. */
  readonly status?: number
  /** How many requests fail this way. Default 1. */
  readonly times?: number
  /** Milliseconds to wait before answering (a slow endpoint). Default 0. */
  readonly delay?: number
}

export interface LocalSecretsManager {
  /** The endpoint URL, for `AWS_ENDPOINT_URL_SECRETS_MANAGER`. */
  readonly url: string
  readonly region: string
  /** Creates or replaces a secret's value; returns its ARN. */
  putSecret(name: string, value: string): string
  deleteSecret(name: string): void
  /** The ARN of an existing secret. */
  arnOf(name: string): string
  /** Makes the next requests fail (or stall) as described. */
  fail(fault: SecretsManagerFault): void
  /** GetSecretValue requests answered so far (successful or not). */
  readonly stats: { getSecretValue: number }
  close(): Promise<void>
}

interface Secret {
  readonly name: string
  readonly arn: string
  value: string
  versionId: string
  readonly created: number
}

const ACCOUNT = '000000000000'

export async function startSecretsManager(
  options: { port?: number; region?: string; secrets?: Readonly<Record<string, string>> } = {},
): Promise<LocalSecretsManager> {
  const region = options.region ?? 'eu-north-1'
  const secrets = new Map<string, Secret>()
  const faults: Array<{ -readonly [K in keyof SecretsManagerFault]-?: SecretsManagerFault[K] }> = []
  const stats = { getSecretValue: 0 }

  const putSecret = (name: string, value: string): string => {
    const existing = secrets.get(name)
    if (existing !== undefined) {
      existing.value = value
      existing.versionId = randomUUID()
      return existing.arn
    }
    // Real ARNs end in a dash and six random characters.
    const arn = `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${name}-${randomUUID().slice(0, 6)}`
    secrets.set(name, { name, arn, value, versionId: randomUUID(), created: Date.now() / 1000 })
    return arn
  }
  for (const [name, value] of Object.entries(options.secrets ?? {})) putSecret(name, value)

  const find = (id: unknown): Secret | undefined => {
    if (typeof id !== 'string') return undefined
    return secrets.get(id) ?? [...secrets.values()].find((secret) => secret.arn === id)
  }

  const operations: Record<string, (input: Record<string, unknown>) => [number, object]> = {
    GetSecretValue(input) {
      stats.getSecretValue += 1
      const secret = find(input.SecretId)
      if (secret === undefined) return notFound()
      return [
        200,
        {
          ARN: secret.arn,
          Name: secret.name,
          VersionId: secret.versionId,
          SecretString: secret.value,
          VersionStages: ['AWSCURRENT'],
          CreatedDate: secret.created,
        },
      ]
    },
    CreateSecret(input) {
      if (typeof input.Name !== 'string' || typeof input.SecretString !== 'string') return invalid('Name and SecretString are required')
      if (secrets.has(input.Name)) return [400, { __type: 'ResourceExistsException', message: 'The secret already exists.' }]
      const arn = putSecret(input.Name, input.SecretString)
      return [200, { ARN: arn, Name: input.Name, VersionId: secrets.get(input.Name)?.versionId }]
    },
    PutSecretValue(input) {
      const secret = find(input.SecretId)
      if (secret === undefined) return notFound()
      if (typeof input.SecretString !== 'string') return invalid('SecretString is required')
      putSecret(secret.name, input.SecretString)
      return [200, { ARN: secret.arn, Name: secret.name, VersionId: secret.versionId, VersionStages: ['AWSCURRENT'] }]
    },
    DescribeSecret(input) {
      const secret = find(input.SecretId)
      if (secret === undefined) return notFound()
      return [200, { ARN: secret.arn, Name: secret.name, CreatedDate: secret.created }]
    },
  }

  const server = createServer((request, response) => {
    void handle(request, response)
  })

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const body = await readBody(request)
    const target = String(request.headers['x-amz-target'] ?? '')
    const operation = operations[target.replace(/^secretsmanager\./, '')]
    const fault = faults[0]
    if (fault !== undefined) {
      fault.times -= 1
      if (fault.times <= 0) faults.shift()
      if (fault.delay > 0) await new Promise((resolve) => setTimeout(resolve, fault.delay))
      if (fault.type !== '') {
        if (target.endsWith('GetSecretValue')) stats.getSecretValue += 1
        return send(response, fault.status, { __type: fault.type, message: `injected ${fault.type}` })
      }
    }
    if (request.method !== 'POST' || operation === undefined) {
      return send(response, 400, { __type: 'UnknownOperationException', message: `unknown operation ${target}` })
    }
    let input: Record<string, unknown>
    try {
      input = JSON.parse(body === '' ? '{}' : body) as Record<string, unknown>
    } catch {
      return send(response, 400, { __type: 'SerializationException', message: 'body is not JSON' })
    }
    const [status, output] = operation(input)
    send(response, status, output)
  }

  // listen() rejects (EADDRINUSE, ...) instead of leaving an unhandled 'error' event.
  const port = await listen(server, options.port ?? 0)
  return {
    url: `http://127.0.0.1:${port}`,
    region,
    putSecret,
    deleteSecret: (name) => void secrets.delete(name),
    arnOf(name) {
      const secret = secrets.get(name)
      if (secret === undefined) throw new Error(`no secret ${name}`)
      return secret.arn
    },
    fail: (fault) => void faults.push({ status: 400, times: 1, delay: 0, ...fault }),
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function notFound(): [number, object] {
  return [400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }]
}

function invalid(message: string): [number, object] {
  return [400, { __type: 'InvalidParameterException', message }]
}

function send(response: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body)
  const type = (body as { __type?: string }).__type
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...(status >= 400 && type !== undefined ? { 'x-amzn-errortype': type } : {}),
  })
  response.end(text)
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    request.once('error', reject)
  })
}
