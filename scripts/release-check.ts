/**
 * `npm run release:check`: package.json's version, CHANGELOG.md's headings and the release tags
 * agree, by the rule in RELEASING.md:
 *
 * - between releases, package.json says `X.Y.Z-dev` (X.Y.Z the next release, one semver step over the
 *   newest released heading) and the CHANGELOG's top heading is `## [Unreleased]`;
 * - a release commit says `X.Y.Z` and its top heading is `## [X.Y.Z] - YYYY-MM-DD` (no `[Unreleased]`
 *   left), and the only `v*` tag on it is `vX.Y.Z`;
 * - every `vX.Y.Z` tag points at a commit whose package.json says `X.Y.Z`, with a `[X.Y.Z]` heading.
 *
 * Prints each problem and exits 1, or prints the version and exits 0. The checks are exported for
 * test/release.test.ts.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SEMVER = /^(\d+)\.(\d+)\.(\d+)$/
const DEV = /^(\d+\.\d+\.\d+)-dev$/

/** A `## ` heading of the CHANGELOG: `[Unreleased]`, or a version with its date when it has one. */
export interface Heading {
  readonly line: number
  readonly text: string
  /** `'Unreleased'` or `X.Y.Z`; undefined for a heading of neither form. */
  readonly version: string | undefined
  readonly date: string | undefined
}

export function changelogHeadings(changelog: string): Heading[] {
  const headings: Heading[] = []
  changelog.split('\n').forEach((text, index) => {
    if (!text.startsWith('## ')) return
    const match = /^## \[(Unreleased|\d+\.\d+\.\d+)\](?: - (\d{4}-\d{2}-\d{2}))?$/.exec(text)
    headings.push({ line: index + 1, text, version: match?.[1], date: match?.[2] })
  })
  return headings
}

function parts(version: string): [number, number, number] {
  const match = SEMVER.exec(version)
  return [Number(match?.[1]), Number(match?.[2]), Number(match?.[3])]
}

function compare(a: string, b: string): number {
  const [x, y] = [parts(a), parts(b)]
  for (let i = 0; i < 3; i += 1) if (x[i] !== y[i]) return x[i]! - y[i]!
  return 0
}

/** The versions one semver step after `version`: patch, minor, major. */
export function nextVersions(version: string): string[] {
  const [major, minor, patch] = parts(version)
  return [`${major}.${minor}.${patch + 1}`, `${major}.${minor + 1}.0`, `${major + 1}.0.0`]
}

/**
 * The problems with one state of the repository: package.json's `version`, CHANGELOG.md's text and
 * the `v*` tags on the commit checked (HEAD). Empty when they agree.
 */
export function versionProblems(version: string, changelog: string, tagsAtHead: readonly string[] = []): string[] {
  const problems: string[] = []
  const headings = changelogHeadings(changelog)
  for (const heading of headings) {
    if (heading.version === undefined)
      problems.push(`CHANGELOG.md:${heading.line}: "${heading.text}" is neither "## [Unreleased]" nor "## [X.Y.Z] - YYYY-MM-DD"`)
  }
  const released = headings.filter((h) => h.version !== undefined && h.version !== 'Unreleased').map((h) => h.version!)
  for (let i = 1; i < released.length; i += 1) {
    if (compare(released[i - 1]!, released[i]!) <= 0)
      problems.push(`CHANGELOG.md: [${released[i - 1]}] is above [${released[i]}]: newest first`)
  }
  const unreleased = headings.filter((h) => h.version === 'Unreleased')
  const top = headings[0]
  const vTags = tagsAtHead.filter((tag) => tag.startsWith('v'))

  const dev = DEV.exec(version)
  if (dev !== null) {
    const next = dev[1]!
    if (top?.version !== 'Unreleased')
      problems.push(
        `package.json says ${version} (unreleased work), so CHANGELOG.md's top heading must be "## [Unreleased]", not "${top?.text ?? 'nothing'}"`,
      )
    const newest = released[0]
    if (newest !== undefined && !nextVersions(newest).includes(next)) {
      problems.push(`package.json says ${version}, but the release after ${newest} is one of ${nextVersions(newest).join(', ')}`)
    }
    if (vTags.length > 0) problems.push(`a commit with version ${version} is tagged ${vTags.join(', ')}: only a release commit is tagged`)
  } else if (SEMVER.test(version)) {
    if (top?.version !== version || top.date === undefined) {
      problems.push(
        `package.json says ${version} (a release), so CHANGELOG.md's top heading must be "## [${version}] - YYYY-MM-DD", not "${top?.text ?? 'nothing'}"`,
      )
    }
    if (unreleased.length > 0)
      problems.push(`a release (${version}) has an "## [Unreleased]" heading left at CHANGELOG.md:${unreleased[0]!.line}`)
    const wrong = vTags.filter((tag) => tag !== `v${version}`)
    if (wrong.length > 0) problems.push(`version ${version} is tagged ${wrong.join(', ')}: its tag is v${version}`)
  } else {
    problems.push(`package.json's version "${version}" is neither X.Y.Z (a release) nor X.Y.Z-dev (work towards X.Y.Z)`)
  }
  if (unreleased.length > 1 || (unreleased.length === 1 && unreleased[0] !== top)) {
    problems.push('CHANGELOG.md: "## [Unreleased]" must be the top heading, and the only one')
  }
  return problems
}

/** A `v*` tag against the package.json and CHANGELOG.md of the commit it points at. */
export function tagProblems(tag: string, version: string, changelog: string): string[] {
  if (!/^v\d+\.\d+\.\d+$/.test(tag)) return [`tag ${tag} is not vX.Y.Z`]
  const tagged = tag.slice(1)
  if (version !== tagged) return [`tag ${tag} points at a commit whose package.json says ${version}`]
  return versionProblems(version, changelog, [tag]).map((problem) => `tag ${tag}: ${problem}`)
}

function git(root: string, args: readonly string[]): string {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Every problem in the repository at `root`: the checkout's files and HEAD's tags, and every `v*` tag. */
export function repositoryProblems(root: string): string[] {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
  const changelog = readFileSync(join(root, 'CHANGELOG.md'), 'utf8')
  const atHead = git(root, ['tag', '--points-at', 'HEAD', '--list', 'v*']).split('\n').filter(Boolean)
  const problems = versionProblems(version, changelog, atHead)
  for (const tag of git(root, ['tag', '--list', 'v*']).split('\n').filter(Boolean)) {
    let taggedVersion: string
    let taggedChangelog: string
    try {
      taggedVersion = (JSON.parse(git(root, ['show', `${tag}:package.json`])) as { version: string }).version
      taggedChangelog = git(root, ['show', `${tag}:CHANGELOG.md`])
    } catch {
      problems.push(`tag ${tag}: no package.json or CHANGELOG.md in the tagged commit`)
      continue
    }
    problems.push(...tagProblems(tag, taggedVersion, taggedChangelog))
  }
  return problems
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..')
  const problems = repositoryProblems(root)
  if (problems.length > 0) {
    for (const problem of problems) console.error(`release:check: ${problem}`)
    process.exit(1)
  }
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
  console.log(`release:check: package.json ${version}, CHANGELOG.md and the v* tags agree`)
}
