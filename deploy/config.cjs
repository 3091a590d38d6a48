/**
 * Deploy settings and functions for serverless.yml, resolved by osls through
 * `${file(./deploy/config.cjs):...}`.
 *
 * Every deploy setting is read once here, from (first match wins)
 *   1. `--param NAME=value` on the command line,
 *   2. `params.<stage>.NAME` in serverless.yml (per-stage values),
 *   3. `params.default.NAME` in serverless.yml,
 *   4. the environment variable NAME (only the names below: nothing else of the shell reaches a function).
 *
 * Each function gets only what it uses (`custom.functions.<name>.kit`, older name `tokenX`: exchange,
 * api, none, entra-obo, entra-machine or maskinporten): the settings, the environment and the IAM role.
 * Its environment is then checked with the kit's own run-time checks (deploy/checks.ts, imported from
 * lib/), so `sls package` / `sls deploy` refuse what the function would refuse when it starts, naming
 * the function and the setting (never a value).
 *
 * A kind's secret setting (TOKEN_X_PRIVATE_JWK_SECRET_ID, AZURE_APP_JWK_SECRET_ID,
 * MASKINPORTEN_CLIENT_JWK_SECRET_ID: a name or an ARN) feeds both the environment of the functions of
 * that kind and their role's grant, so the two cannot disagree.
 */
'use strict'

const { readdirSync } = require('node:fs')
const path = require('node:path')
const { pathToFileURL } = require('node:url')

/**
 * What a function of each kind (`custom.functions.<name>.kit`, or its older name `tokenX`) gets of the
 * deploy settings (when set), and the one secret setting whose secret its role may read:
 * - exchange: the `tokenX()` middleware; api: `tokenXApi()`; none: no kit settings;
 * - entra-obo: `entraOnBehalfOf()` (tokenx-handler-kit/entra), entra-machine: `createEntraClient()`
 *   (client credentials), maskinporten: `createMaskinportenClient()`: NAIS's variable names. Their
 *   private key is deployed only as a Secrets Manager secret (never inline in the environment).
 */
const ENTRA_CLIENT = [
  'AZURE_APP_CLIENT_ID',
  'AZURE_APP_JWK_SECRET_ID',
  'AZURE_OPENID_CONFIG_ISSUER',
  'AZURE_OPENID_CONFIG_TOKEN_ENDPOINT',
  'AZURE_APP_WELL_KNOWN_URL',
]
const KINDS = {
  exchange: {
    settings: [
      'TOKEN_X_CLIENT_ID',
      'TOKEN_X_TOKEN_ENDPOINT',
      'TOKEN_X_ISSUER',
      'TOKEN_X_PRIVATE_JWK_SECRET_ID',
      'TOKEN_X_ASSERTION_AUDIENCE',
      'IDPORTEN_ISSUER',
      'IDPORTEN_JWKS_URI',
      'IDPORTEN_WELL_KNOWN_URL',
      'IDPORTEN_AUDIENCE',
      'TOKEN_X_JWKS_URI',
      'TOKEN_X_WELL_KNOWN_URL',
      'REQUIRED_ACR',
      'INBOUND_VALIDATION',
    ],
    secret: 'TOKEN_X_PRIVATE_JWK_SECRET_ID',
    role: 'TokenXExchangeRole',
    policy: 'token-exchange',
  },
  // The API side validates TokenX tokens issued for its own client id (a setting of its own).
  api: { settings: ['TOKEN_X_ISSUER', 'TOKEN_X_JWKS_URI', 'TOKEN_X_WELL_KNOWN_URL', 'REQUIRED_ACR'] },
  none: { settings: [] },
  'entra-obo': {
    settings: [...ENTRA_CLIENT, 'AZURE_OPENID_CONFIG_JWKS_URI', 'AZURE_APP_PRE_AUTHORIZED_APPS'],
    secret: 'AZURE_APP_JWK_SECRET_ID',
    role: 'EntraKeyRole',
    policy: 'entra-key',
  },
  'entra-machine': { settings: ENTRA_CLIENT, secret: 'AZURE_APP_JWK_SECRET_ID', role: 'EntraKeyRole', policy: 'entra-key' },
  maskinporten: {
    settings: [
      'MASKINPORTEN_CLIENT_ID',
      'MASKINPORTEN_CLIENT_JWK_SECRET_ID',
      'MASKINPORTEN_ISSUER',
      'MASKINPORTEN_TOKEN_ENDPOINT',
      'MASKINPORTEN_WELL_KNOWN_URL',
    ],
    secret: 'MASKINPORTEN_CLIENT_JWK_SECRET_ID',
    role: 'MaskinportenKeyRole',
    policy: 'maskinporten-key',
  },
}
const KIT_SETTINGS = Object.fromEntries(Object.entries(KINDS).map(([kind, { settings }]) => [kind, settings]))
const USES = Object.keys(KINDS)
/** Every kit setting of any kind: none of them may be set in a function's `environment:`. */
const ALL_KIT_SETTINGS = [...new Set(Object.values(KIT_SETTINGS).flat())]
/** Our keys in `custom.functions.<name>`; osls never sees them. */
const OWN_KEYS = ['kit', 'tokenX', 'settings', 'optional']

/** Secrets Manager secret names: 1–512 of ASCII letters, digits and /_+=.@- */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/
/** arn:<partition>:secretsmanager:<region>:<account>:secret:<name>[-<6 chars>] */
const SECRET_ARN = /^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:([A-Za-z0-9/_+=.@-]{1,512})$/
/** The six random characters Secrets Manager appends to a secret's name in its ARN. */
const ARN_SUFFIX = /-[A-Za-z0-9]{6}$/

const HINT =
  'Deploy settings: --param "<NAME>=<value>", params.<stage>.<NAME> in serverless.yml, or an environment variable <NAME> (docs/deploying.md).'

/** An error osls prints as its message alone (it prints `error.stack`). */
function settingsError(message) {
  const error = new Error(message)
  error.stack = message
  return error
}

/** The IAM statement's secret check: a name or an ARN, in the stage's region. Returns a problem or undefined. */
function secretProblem(secretId, region, setting = 'TOKEN_X_PRIVATE_JWK_SECRET_ID') {
  if (secretId === undefined) return undefined
  const arn = SECRET_ARN.exec(secretId)
  if (!arn && (secretId.startsWith('arn:') || !SECRET_NAME.test(secretId))) {
    return `${setting} must be a Secrets Manager secret name (letters, digits, /_+=.@-) or its ARN`
  }
  // The function's Secrets Manager client works in the function's region.
  if (arn && region !== undefined && arn[2] !== region) {
    return `${setting} is a secret in ${arn[2]}, but the stage deploys to ${region}`
  }
  return undefined
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

/** `settings:` of a function: a list of names, or a map variable → deploy setting. */
function ownSettings(name, settings) {
  if (settings === undefined || settings === null) return {}
  if (Array.isArray(settings)) return Object.fromEntries(settings.map((setting) => [String(setting), String(setting)]))
  if (typeof settings === 'object') return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, String(v)]))
  throw settingsError(`custom.functions.${name}.settings in serverless.yml must be a list of setting names or a map VARIABLE: SETTING`)
}

/**
 * Plans the service from what serverless.yml says (`declared`: custom.functions) and the settings
 * (`read(name)`: a deploy setting's trimmed value or undefined): each function's settings, use and
 * environment. Pure, so test/deploy runs it without osls.
 */
function plan({ declared, files, read, stage, region, service, custom = {} }) {
  const problems = []
  for (const name of files) {
    if (!Object.hasOwn(declared, name)) {
      problems.push(`functions/${name}.ts has no entry under custom.functions in serverless.yml (add its events there)`)
    }
  }
  for (const name of Object.keys(declared)) {
    if (!files.includes(name)) problems.push(`custom.functions.${name} in serverless.yml has no functions/${name}.ts`)
  }
  if (problems.length > 0) throw settingsError(problems.join('\n'))

  const sharedCache = read('TOKEN_X_SHARED_CACHE') ?? 'false'
  if (sharedCache !== 'true' && sharedCache !== 'false') problems.push('TOKEN_X_SHARED_CACHE must be "true" or "false"')
  const table = sharedCache === 'true' ? `${service}-${stage}-token-cache` : undefined

  const functions = {}
  const skipped = []
  for (const name of files) {
    const entry = declared[name] || {}
    if (entry.kit !== undefined && entry.tokenX !== undefined) {
      problems.push(`custom.functions.${name} in serverless.yml sets both kit and tokenX (tokenX is kit's older name): keep kit`)
      continue
    }
    const key = entry.kit !== undefined ? 'kit' : 'tokenX'
    const use = entry[key] === undefined ? 'none' : String(entry[key])
    if (!USES.includes(use)) {
      problems.push(`custom.functions.${name}.${key} in serverless.yml must be one of ${USES.join(', ')}`)
      continue
    }
    const own = ownSettings(name, entry.settings)
    const given = Object.values(own).filter((setting) => read(setting) !== undefined)
    // An optional function (an example nobody configured) is left out rather than deployed broken.
    if (entry.optional === true && given.length === 0) {
      skipped.push(`${name} (none of ${Object.values(own).join(', ')} is set)`)
      continue
    }
    const environment = {}
    for (const setting of KIT_SETTINGS[use]) {
      const value = read(setting)
      if (value !== undefined) environment[setting] = value
    }
    // What the kit checks sees: a listed setting that is not given is there, empty (a named "not set").
    const checked = {}
    for (const [variable, setting] of Object.entries(own)) {
      const value = read(setting)
      if (value !== undefined) environment[variable] = value
      checked[variable] = value ?? ''
    }
    const extra = { ...(custom || {}), ...(entry.environment || {}) }
    const clashes = Object.keys(extra).filter(
      (variable) => variable in environment || variable in checked || ALL_KIT_SETTINGS.includes(variable),
    )
    if (clashes.length > 0) {
      problems.push(
        `function ${name}: its environment in serverless.yml sets ${clashes.join(', ')}, which are deploy settings: ` +
          'set them as params (or list them under settings:)',
      )
    }
    functions[name] = { use, own, environment, check: { ...environment, ...checked }, table }
  }
  if (problems.length > 0) throw settingsError(problems.join('\n'))
  // Each secret setting feeds both the environment of the functions that use it and their role's grant.
  const secretIds = {}
  for (const fn of Object.values(functions)) {
    const setting = KINDS[fn.use].secret
    if (setting === undefined || setting in secretIds) continue
    secretIds[setting] = read(setting)
    const problem = secretProblem(secretIds[setting], region, setting)
    if (problem !== undefined) problems.push(problem)
  }
  if (problems.length > 0) throw settingsError(problems.join('\n'))
  return { functions, skipped, sharedCache, table, secretIds, secretId: secretIds.TOKEN_X_PRIVATE_JWK_SECRET_ID }
}

/** Runs the kit's own checks on each planned function's environment; throws naming each problem. */
async function checkPlan(planned) {
  const { configurationProblems } = await import(pathToFileURL(path.join(__dirname, 'checks.ts')).href)
  const problems = []
  for (const [name, fn] of Object.entries(planned.functions)) {
    // The shared cache's table as the function will see it (its name; the template has a Ref).
    const env = { ...fn.check, ...(fn.use === 'exchange' && planned.table !== undefined ? { TOKEN_X_CACHE_TABLE: planned.table } : {}) }
    for (const problem of configurationProblems(fn.use, env)) {
      let text = problem
      // A variable fed by a setting of another name: say both.
      for (const [variable, setting] of Object.entries(fn.own)) {
        if (variable !== setting) text = text.replace(new RegExp(`\\b${variable}\\b`), `${variable} (deploy setting ${setting})`)
      }
      problems.push(`function ${name}: ${text}`)
    }
  }
  if (problems.length > 0) {
    throw settingsError(`bad deploy settings for this stage:\n  ${problems.join('\n  ')}\n${HINT}`)
  }
}

async function stageOf({ options, resolveConfigurationProperty }) {
  if (options?.stage) return String(options.stage)
  return String((await resolveConfigurationProperty(['provider', 'stage'])) || 'dev')
}

async function regionOf({ options, resolveConfigurationProperty }) {
  if (options?.region) return String(options.region)
  const region = await resolveConfigurationProperty(['provider', 'region'])
  return region ? String(region) : undefined
}

/** Every setting name serverless.yml may refer to: the kit's, the functions' own, the cache switch. */
function settingNames(declared) {
  const names = new Set([...ALL_KIT_SETTINGS, 'TOKEN_X_SHARED_CACHE'])
  for (const [name, entry] of Object.entries(declared)) {
    for (const setting of Object.values(ownSettings(name, entry?.settings))) names.add(setting)
  }
  return [...names]
}

let memo
const noticed = new Set()
/** Resolves, plans and checks once per osls run (and stage/region). */
async function resolveMemo(context) {
  const stage = await stageOf(context)
  const region = await regionOf(context)
  const key = `${stage}\0${region}`
  if (memo === undefined || memo.key !== key) {
    const declared = (await context.resolveConfigurationProperty(['custom', 'functions'])) || {}
    const custom = (await context.resolveConfigurationProperty(['provider', 'environment'])) || {}
    const service = String((await context.resolveConfigurationProperty(['service'])) || 'service')
    const values = {}
    for (const name of settingNames(declared)) {
      const param = await context.resolveVariable(`param:${name}`).catch((error) => {
        if (error && error.code === 'MISSING_VARIABLE_DEPENDENCY') throw error
        return null
      })
      const value = param !== null && param !== undefined && String(param).trim() !== '' ? param : process.env[name]
      values[name] = value === undefined || value === null || String(value).trim() === '' ? undefined : String(value).trim()
    }
    const read = (name) => values[name]
    const planned = Promise.resolve().then(() =>
      plan({ declared, files: functionFiles(context.root), read, stage, region, service, custom }),
    )
    memo = {
      key,
      planned,
      checked: planned.then(async (result) => {
        await checkPlan(result)
        for (const line of result.skipped) {
          // osls resolves the configuration more than once: one notice per function.
          if (!noticed.has(line)) process.stderr.write(`not packaged: ${line}\n`)
          noticed.add(line)
        }
        return result
      }),
    }
    // Reported once, through `functions`; the other users fall back to a stand-in.
    planned.catch(() => {})
    memo.checked.catch(() => {})
  }
  return memo
}

/** The plan, checked: what `functions` builds on (and the one place a problem is reported). */
async function resolvePlan(context) {
  return (await resolveMemo(context)).checked
}

/** The plan, unchecked, or undefined when it fails (then `functions` reports why). */
async function plannedOrNothing(context) {
  return (await resolveMemo(context)).planned.catch(() => undefined)
}

/**
 * `functions:` of serverless.yml, generated: for each file in functions/, its handler, package
 * settings (esbuild.config.mjs builds it to dist/<name>/index.mjs, with its source map), environment
 * and role, merged with what `custom.functions.<name>` says about it (events, description, ...).
 */
async function functions(context) {
  const planned = await resolvePlan(context)
  const declared = (await context.resolveConfigurationProperty(['custom', 'functions'])) || {}
  const service = String((await context.resolveConfigurationProperty(['service'])) || 'service')
  const result = {}
  for (const [name, fn] of Object.entries(planned.functions)) {
    const own = Object.fromEntries(Object.entries(declared[name] || {}).filter(([key]) => !OWN_KEYS.includes(key)))
    result[name] = {
      ...own,
      handler: `dist/${name}/index.handler`,
      environment: {
        ...(own.environment || {}),
        ...fn.environment,
        ...(fn.use === 'exchange' && planned.table !== undefined ? { TOKEN_X_CACHE_TABLE: { Ref: 'TokenXCacheTable' } } : {}),
        // Log lines' `service` and the metrics' service dimension: this function.
        POWERTOOLS_SERVICE_NAME: `${service}-${name}`,
      },
      // Only a function with a key may read it, and only exchanging ones the cache table (deploy/config.cjs:roles).
      ...(KINDS[fn.use].role === undefined ? {} : { role: KINDS[fn.use].role }),
      package: {
        patterns: [`dist/${name}/**`, `!dist/${name}/meta.json`],
      },
    }
  }
  return result
}

/** 'true' or 'false': whether the shared cache table exists (the TokenXSharedCache condition). */
async function sharedCache(context) {
  return (await plannedOrNothing(context))?.sharedCache ?? 'false'
}

/**
 * Resources of the functions that hold a key: a role per key (logs, and GetSecretValue on that one
 * secret; the exchanging functions' role also the cache table when it exists). Every other function
 * keeps osls's default role, which may only write logs.
 */
async function roles(context) {
  const planned = await plannedOrNothing(context)
  if (planned === undefined) return {}
  const service = String((await context.resolveConfigurationProperty(['service'])) || 'service')
  return rolesFor(planned, service, await stageOf(context))
}

/** The role resources of a plan: one per secret setting in use (pure, for test/deploy). */
function rolesFor(planned, service, stage) {
  const logGroups = {
    'Fn::Sub': `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${service}-${stage}-*:*`,
  }
  const resources = {}
  const used = new Set(Object.values(planned.functions).map((fn) => fn.use))
  for (const kind of USES.filter((use) => used.has(use) && KINDS[use].role !== undefined)) {
    const { role, policy, secret } = KINDS[kind]
    const secretId = planned.secretIds?.[secret]
    if (role in resources || secretId === undefined) continue
    resources[role] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: ['lambda.amazonaws.com'] }, Action: ['sts:AssumeRole'] }],
        },
        Policies: [
          {
            PolicyName: `${service}-${stage}-${policy}`,
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:CreateLogGroup', 'logs:TagResource'], Resource: [logGroups] },
                { Effect: 'Allow', Action: ['logs:PutLogEvents'], Resource: [{ 'Fn::Sub': `${logGroups['Fn::Sub']}:*` }] },
                // Least privilege: the one secret this key's setting names.
                { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: secretResource(secretId) },
              ],
            },
          },
        ],
      },
    }
  }
  if ('TokenXExchangeRole' in resources) {
    // The shared cache: single items of this one table, nothing else (no Query, Scan, Delete).
    resources.TokenXCacheTablePolicy = {
      Type: 'AWS::IAM::Policy',
      Condition: 'TokenXSharedCache',
      Properties: {
        PolicyName: `${service}-${stage}-token-cache`,
        Roles: [{ Ref: 'TokenXExchangeRole' }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Resource: { 'Fn::GetAtt': ['TokenXCacheTable', 'Arn'] } },
          ],
        },
      },
    }
  }
  return Object.keys(resources).length === 0 ? {} : { Resources: resources }
}

module.exports = { functions, sharedCache, roles, rolesFor, plan, checkPlan, secretResource, functionFiles, KIT_SETTINGS }
