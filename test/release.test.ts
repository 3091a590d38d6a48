/**
 * Version discipline (RELEASING.md): package.json's version, CHANGELOG.md's top heading and the
 * release tags agree, in this repository and for the states the rule allows and refuses.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { nextVersions, repositoryProblems, tagProblems, versionProblems } from '../scripts/release-check.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

const HEADER = '# Changelog\n\nSome words.\n\n'
const OLD = '## [0.2.0]\n\n### Added\n- a thing\n\n## [0.1.0]\n- first\n'

describe('the repository', () => {
  it('has a package.json version, CHANGELOG heading and v* tags that agree', () => {
    expect(repositoryProblems(root)).toEqual([])
  })
})

describe('versionProblems', () => {
  it('accepts work towards the next release: X.Y.Z-dev under "## [Unreleased]"', () => {
    for (const next of ['0.2.1', '0.3.0', '1.0.0']) {
      expect(versionProblems(`${next}-dev`, `${HEADER}## [Unreleased]\n- x\n\n${OLD}`), next).toEqual([])
    }
  })

  it('refuses the released version under "## [Unreleased]" (a pack of unreleased work named as the last release)', () => {
    expect(versionProblems('0.2.0', `${HEADER}## [Unreleased]\n- x\n\n${OLD}`).join('\n')).toMatch(
      /top heading must be "## \[0\.2\.0\] - YYYY-MM-DD"/,
    )
  })

  it('refuses a -dev version that is not one step over the newest release', () => {
    for (const next of ['0.2.0', '0.1.5', '0.4.0', '0.3.1', '2.0.0']) {
      expect(versionProblems(`${next}-dev`, `${HEADER}## [Unreleased]\n\n${OLD}`).join('\n'), next).toMatch(
        /the release after 0\.2\.0 is one of 0\.2\.1, 0\.3\.0, 1\.0\.0/,
      )
    }
  })

  it('refuses a -dev version whose top heading is a release', () => {
    expect(versionProblems('0.3.0-dev', `${HEADER}${OLD}`).join('\n')).toMatch(/top heading must be "## \[Unreleased\]"/)
  })

  it('accepts a release commit: X.Y.Z under "## [X.Y.Z] - date", tagged vX.Y.Z or not yet', () => {
    const changelog = `${HEADER}## [0.3.0] - 2026-12-03\n- x\n\n${OLD}`
    expect(versionProblems('0.3.0', changelog)).toEqual([])
    expect(versionProblems('0.3.0', changelog, ['v0.3.0'])).toEqual([])
  })

  it('refuses a release without a date, with an [Unreleased] heading left, or with another tag', () => {
    expect(versionProblems('0.3.0', `${HEADER}## [0.3.0]\n\n${OLD}`).join('\n')).toMatch(/must be "## \[0\.3\.0\] - YYYY-MM-DD"/)
    expect(versionProblems('0.3.0', `${HEADER}## [0.3.0] - 2026-12-03\n\n## [Unreleased]\n\n${OLD}`).join('\n')).toMatch(
      /\[Unreleased\]" heading left/,
    )
    expect(versionProblems('0.3.0', `${HEADER}## [0.3.0] - 2026-12-03\n\n${OLD}`, ['v0.2.0']).join('\n')).toMatch(
      /tagged v0\.2\.0: its tag is v0\.3\.0/,
    )
  })

  it('refuses a tag on unreleased work, other version forms, odd headings and headings out of order', () => {
    expect(versionProblems('0.3.0-dev', `${HEADER}## [Unreleased]\n\n${OLD}`, ['v0.3.0']).join('\n')).toMatch(
      /only a release commit is tagged/,
    )
    expect(versionProblems('0.3.0-rc.1', `${HEADER}## [Unreleased]\n\n${OLD}`).join('\n')).toMatch(/neither X\.Y\.Z/)
    expect(versionProblems('0.3.0-dev', `${HEADER}## [Unreleased]\n\n## Next\n\n${OLD}`).join('\n')).toMatch(/"## Next" is neither/)
    expect(versionProblems('0.3.0-dev', `${HEADER}## [Unreleased]\n\n## [0.1.0]\n\n## [0.2.0]\n`).join('\n')).toMatch(
      /\[0\.1\.0\] is above \[0\.2\.0\]/,
    )
  })

  it('knows the three next versions', () => {
    expect(nextVersions('0.2.0')).toEqual(['0.2.1', '0.3.0', '1.0.0'])
  })
})

describe('tagProblems', () => {
  it('wants vX.Y.Z on a commit whose package.json says X.Y.Z', () => {
    const changelog = `${HEADER}## [0.3.0] - 2026-12-03\n\n${OLD}`
    expect(tagProblems('v0.3.0', '0.3.0', changelog)).toEqual([])
    expect(tagProblems('v0.3.0', '0.3.0-dev', changelog).join('\n')).toMatch(/package\.json says 0\.3\.0-dev/)
    expect(tagProblems('v0.3', '0.3.0', changelog).join('\n')).toMatch(/not vX\.Y\.Z/)
  })
})
