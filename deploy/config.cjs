/**
 * Deploy settings for serverless.yml, resolved by osls through `${file(./deploy/config.cjs):...}`.
 *
 * One source of truth: every setting is read once here, from (first match wins)
 *   1. `--param NAME=value` on the command line,
 *   2. `params.<stage>.NAME` in serverless.yml (per-stage values),
 *   3. `params.default.NAME` in serverless.yml,
 *   4. the environment variable NAME.
 * A stage's params win over the shell's environment, so variables exported for one stage cannot leak
 * into another stage that sets its own values.
 *
 * A required setting that is missing or malformed stops `sls package` / `sls deploy` with one message
 * naming it (no empty defaults). The secret setting (TOKEN_X_PRIVATE_JWK_SECRET_ID, a name or an ARN)
 * feeds both the function's environment and its least-privilege IAM grant, so the two cannot disagree.
 *
 * Plain CommonJS without dependencies: osls `require`s it, and test/deploy/ reuses its helpers.
 */
'use strict'

const { readdirSync } = require('node:fs')
const path = require('node:path')

/** Settings every deployed function needs. Values are never printed, only names. */
const REQUIRED = [
  ['TOKEN_X_CLIENT_ID', 'our client id at TokenX, cluster:namespace:app'],
  ['TOKEN_X_TOKEN_ENDPOINT', "TokenX's token endpoint URL"],
  ['TOKEN_X_ISSUER', "TokenX's issuer URL (the client assertion's aud)"],
  ['TOKEN_X_PRIVATE_JWK_SECRET_ID', 'name or ARN of the Secrets Manager secret holding the private JWK'],
  ['DOWNSTREAM_URL', "the downstream API's base URL"],
  ['DOWNSTREAM_AUDIENCE', "the downstream app's TokenX name, cluster:namespace:app"],
]

/** Settings passed to the functions only when set. */
const OPTIONAL = [
  ['TOKEN_X_ASSERTION_AUDIENCE', '"issuer" (default when TOKEN_X_ISSUER is set) or "token_endpoint"'],
  // Inbound validation (docs/inbound-validation.md): the example function refuses every token until
  // an issuer is configured (IDPORTEN_* and/or TOKEN_X_JWKS_URI / TOKEN_X_WELL_KNOWN_URL).
  ['IDPORTEN_ISSUER', "ID-porten's issuer URL (exact iss)"],
  ['IDPORTEN_JWKS_URI', "ID-porten's JWKS URL"],
  ['IDPORTEN_WELL_KNOWN_URL', "ID-porten's discovery document URL"],
  ['IDPORTEN_AUDIENCE', 'the aud ID-porten tokens must carry'],
  ['TOKEN_X_JWKS_URI', "TokenX's JWKS URL (accept TokenX tokens for our client id)"],
  ['TOKEN_X_WELL_KNOWN_URL', "TokenX's discovery document URL"],
  ['REQUIRED_ACR', 'idporten-loa-high (default), idporten-loa-substantial, Level3 or Level4'],
  ['INBOUND_VALIDATION', '"on" (default) or "off"'],
]

const CLIENT_ID = /^[a-z0-9][a-z0-9-]*:[a-z0-9][a-z0-9-]*:[a-z0-9][a-z0-9-.]*$/i
/** Secrets Manager secret names: 1–512 of ASCII letters, digits and /_+=.@- */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/
/** arn:<partition>:secretsmanager:<region>:<account>:secret:<name>[-<6 chars>] */
const SECRET_ARN = /^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:([A-Za-z0-9/_+=.@-]{1,512})$/
/** The six random characters Secrets Manager appends to a secret's name in its ARN. */
const ARN_SUFFIX = /-[A-Za-z0-9]{6}$/

const CHECKS = {
  TOKEN_X_CLIENT_ID: (v) => CLIENT_ID.test(v) || 'must be "cluster:namespace:app"',
  DOWNSTREAM_AUDIENCE: (v) => CLIENT_ID.test(v) || 'must be "cluster:namespace:app"',
  TOKEN_X_TOKEN_ENDPOINT: (v) => isHttpUrl(v) || 'must be an http(s) URL',
  TOKEN_X_ISSUER: (v) => isHttpUrl(v) || 'must be an http(s) URL',
  DOWNSTREAM_URL: (v) => isHttpUrl(v) || 'must be an http(s) URL',
  TOKEN_X_PRIVATE_JWK_SECRET_ID: (v) =>
    SECRET_ARN.test(v) || (SECRET_NAME.test(v) && !v.startsWith('arn:')) ||
    'must be a Secrets Manager secret name (letters, digits, /_+=.@-) or its ARN',
  TOKEN_X_ASSERTION_AUDIENCE: (v) => v === 'issuer' || v === 'token_endpoint' || 'must be "issuer" or "token_endpoint"',
  IDPORTEN_ISSUER: (v) => isHttpUrl(v) || 'must be an http(s) URL',
  IDPORTEN_JWKS_URI: (v) => isHttpUrl(v) || 'must be an http(s) URL',
  IDPORTEN_WELL_KNOWN_URL: (v) => isHttpUrl(v) || 'must be an http(s) URL',
  TOKEN_X_JWKS_URI: (v) => isHttpUrl(v) || 'must be an http(s) URL',
  TOKEN_X_WELL_KNOWN_URL: (v) => isHttpUrl(v) || 'must be an http(s) URL',
  REQUIRED_ACR: (v) => ['idporten-loa-high', 'idporten-loa-substantial', 'Level3', 'Level4'].includes(v) || 'must be idporten-loa-high, idporten-loa-substantial, Level3 or Level4',
  INBOUND_VALIDATION: (v) => v === 'on' || v === 'off' || 'must be "on" or "off"',
}

function isHttpUrl(value) {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:'
  } catch {
    return false
  }
}

/** An error osls prints as its message alone (it prints `error.stack`). */
function settingsError(message) {
  const error = new Error(message)
  error.stack = message
  return error
}

/**
 * Checks `values` (setting name → string or undefined) and returns the complete, trimmed settings.
 * Throws one error naming every missing or malformed setting (never a value).
 */
function checkSettings(values, stage, region) {
  const settings = {}
  const missing = []
  const malformed = []
  for (const [name] of [...REQUIRED, ...OPTIONAL]) {
    const raw = values[name]
    const value = raw === undefined || raw === null ? '' : String(raw).trim()
    if (value === '') {
      if (REQUIRED.some(([required]) => required === name)) missing.push(name)
      continue
    }
    const verdict = CHECKS[name] ? CHECKS[name](value) : true
    if (verdict !== true) malformed.push(`${name} ${verdict}`)
    settings[name] = value
  }
  if (settings.TOKEN_X_PRIVATE_JWK_SECRET_ID !== undefined && region !== undefined) {
    const arn = SECRET_ARN.exec(settings.TOKEN_X_PRIVATE_JWK_SECRET_ID)
    // The function's Secrets Manager client works in the function's region.
    if (arn && arn[2] !== region) {
      malformed.push(`TOKEN_X_PRIVATE_JWK_SECRET_ID is a secret in ${arn[2]}, but the stage deploys to ${region}`)
    }
  }
  const problems = []
  if (missing.length > 0) {
    problems.push(
      `missing deploy setting${missing.length > 1 ? 's' : ''} ${missing.join(', ')} for stage "${stage}": ` +
        `export ${missing.length > 1 ? "them as environment variables" : "it as an environment variable"}, ` +
        `set params.${stage}.<NAME> in serverless.yml, or pass --param "<NAME>=<value>" ` +
        '(see docs/deploying.md)',
    )
  }
  if (malformed.length > 0) problems.push(`bad deploy setting: ${malformed.join('; ')}`)
  if (problems.length > 0) throw settingsError(problems.join('\n'))
  return settings
}

/**
 * The IAM `Resource` that lets a function read exactly this secret:
 * - a name: `arn:<partition>:secretsmanager:<region>:<account>:secret:NAME-??????` (the ARN of a
 *   secret ends in `-` and six random characters, which a name does not carry);
 * - a complete ARN (name plus the six-character suffix): that ARN;
 * - a partial ARN (no suffix): that ARN plus `-??????`.
 * AWS advises against secret names that end in a hyphen and six characters, because a partial ARN of
 * such a name is indistinguishable from a complete one.
 */
function secretResource(secretId) {
  const arn = SECRET_ARN.exec(secretId)
  if (arn) return ARN_SUFFIX.test(arn[4]) ? secretId : `${secretId}-??????`
  return { 'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${secretId}-??????` }
}

async function stageOf({ options, resolveConfigurationProperty }) {
  if (options && options.stage) return String(options.stage)
  return String((await resolveConfigurationProperty(['provider', 'stage'])) || 'dev')
}

async function regionOf({ options, resolveConfigurationProperty }) {
  if (options && options.region) return String(options.region)
  const region = await resolveConfigurationProperty(['provider', 'region'])
  return region ? String(region) : undefined
}

let memo
/** Resolves and checks every setting once per osls run. */
async function resolveSettings(context) {
  const stage = await stageOf(context)
  const region = await regionOf(context)
  const key = `${stage}\0${region}`
  if (memo === undefined || memo.key !== key) {
    const values = {}
    for (const [name] of [...REQUIRED, ...OPTIONAL]) {
      const param = await context.resolveVariable(`param:${name}`).catch((error) => {
        if (error && error.code === 'MISSING_VARIABLE_DEPENDENCY') throw error
        return null
      })
      values[name] = param !== null && param !== undefined && String(param).trim() !== '' ? param : process.env[name]
    }
    memo = { key, values, stage, region, settings: Promise.resolve().then(() => checkSettings(values, stage, region)) }
  }
  return memo.settings
}

/** Only the secret setting, checked alone: the environment reports every other problem, once. */
async function resolveSecretId(context) {
  try {
    return (await resolveSettings(context)).TOKEN_X_PRIVATE_JWK_SECRET_ID
  } catch (error) {
    if (error && error.code === 'MISSING_VARIABLE_DEPENDENCY') throw error
    const { values, stage, region } = memo
    const secret = { TOKEN_X_PRIVATE_JWK_SECRET_ID: values.TOKEN_X_PRIVATE_JWK_SECRET_ID }
    for (const [name] of REQUIRED) if (name !== 'TOKEN_X_PRIVATE_JWK_SECRET_ID') secret[name] = SATISFIED[name]
    return checkSettings(secret, stage, region).TOKEN_X_PRIVATE_JWK_SECRET_ID
  }
}

/** Valid stand-ins for the other required settings when only the secret is checked. */
const SATISFIED = {
  TOKEN_X_CLIENT_ID: 'a:b:c',
  TOKEN_X_TOKEN_ENDPOINT: 'https://a.invalid',
  TOKEN_X_ISSUER: 'https://a.invalid',
  DOWNSTREAM_URL: 'https://a.invalid',
  DOWNSTREAM_AUDIENCE: 'a:b:c',
}

/**
 * `provider.environment`: the required settings, the optional ones that are set, and the fixed
 * variables listed under `custom.environment` in serverless.yml (e.g. POWERTOOLS_SERVICE_NAME, a
 * table name). A deploy setting cannot be set there: it has one source, the settings above.
 */
async function environment(context) {
  const settings = await resolveSettings(context)
  const extra = (await context.resolveConfigurationProperty(['custom', 'environment'])) || {}
  const clashes = Object.keys(extra).filter((name) => [...REQUIRED, ...OPTIONAL].some(([setting]) => setting === name))
  if (clashes.length > 0) {
    throw settingsError(`custom.environment in serverless.yml sets the deploy setting${clashes.length > 1 ? 's' : ''} ${clashes.join(', ')}: ` +
      'set deploy settings as params or environment variables (see docs/deploying.md)')
  }
  return { ...extra, ...settings }
}

/** The IAM statement granting `secretsmanager:GetSecretValue` on the configured secret only. */
async function secretStatement(context) {
  return {
    Effect: 'Allow',
    Action: 'secretsmanager:GetSecretValue',
    Resource: secretResource(await resolveSecretId(context)),
  }
}

/**
 * Function files: every `functions/*.ts` is a Lambda function named after its file. Shared modules
 * live in functions/shared/ (a folder, so never a function).
 */
function functionFiles(root = path.join(__dirname, '..')) {
  return readdirSync(path.join(root, 'functions'), { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => entry.name.slice(0, -'.ts'.length))
    .sort()
}

/**
 * `functions:` of serverless.yml, generated: for each file in functions/, its handler and package
 * settings (esbuild.config.mjs builds it to dist/<name>/index.mjs), merged with what
 * `custom.functions.<name>` in serverless.yml says about it (events, description, memorySize, ...).
 * A function file without an entry, or an entry without a file, stops the package with a message.
 */
async function functions({ resolveConfigurationProperty, root }) {
  const declared = (await resolveConfigurationProperty(['custom', 'functions'])) || {}
  const files = functionFiles(root)
  const problems = []
  for (const name of files) {
    if (!Object.prototype.hasOwnProperty.call(declared, name)) {
      problems.push(`functions/${name}.ts has no entry under custom.functions in serverless.yml (add its events there)`)
    }
  }
  for (const name of Object.keys(declared)) {
    if (!files.includes(name)) problems.push(`custom.functions.${name} in serverless.yml has no functions/${name}.ts`)
  }
  if (problems.length > 0) throw settingsError(problems.join('\n'))
  const result = {}
  for (const name of files) {
    const own = declared[name] || {}
    result[name] = {
      ...own,
      handler: `dist/${name}/index.handler`,
      package: {
        patterns: [`dist/${name}/**`, `!dist/${name}/**/*.map`, `!dist/${name}/meta.json`],
      },
    }
  }
  return result
}

module.exports = { environment, secretStatement, functions, checkSettings, secretResource, functionFiles, REQUIRED, OPTIONAL }
