/**
 * Login levels (`acr`, OpenID Connect Core §2) and when one satisfies another.
 *
 * ID-porten issues `idporten-loa-substantial` and `idporten-loa-high` (eIDAS levels); tokendings may
 * map them to the older `Level3` / `Level4` in the tokens it issues. Each spelling is accepted where
 * a level is checked: `idporten-loa-high` is satisfied by `Level4`, and `idporten-loa-substantial` by
 * `Level3` and by anything higher.
 */

/** A level that can be required. */
export type AcrLevel = 'idporten-loa-substantial' | 'idporten-loa-high' | 'Level3' | 'Level4'

const RANK: Readonly<Record<AcrLevel, number>> = Object.freeze({
  'idporten-loa-substantial': 3,
  Level3: 3,
  'idporten-loa-high': 4,
  Level4: 4,
})

/** Every level that can be required, lowest first. */
export const acrLevels: readonly AcrLevel[] = Object.freeze(['idporten-loa-substantial', 'Level3', 'idporten-loa-high', 'Level4'])

export function isAcrLevel(value: unknown): value is AcrLevel {
  return typeof value === 'string' && Object.hasOwn(RANK, value)
}

/**
 * Whether a token whose `acr` claim is `actual` meets `required`. An absent, unknown or non-string
 * `acr` meets no requirement.
 */
export function satisfiesAcr(actual: unknown, required: AcrLevel): boolean {
  if (!isAcrLevel(actual)) return false
  return RANK[actual] >= RANK[required]
}

/**
 * The `acr_values` of an RFC 9470 §3 challenge for `required`: the level in ID-porten's current
 * spelling, which is what a client sends back to ID-porten's authorize endpoint.
 */
export function acrValuesFor(required: AcrLevel): string {
  return RANK[required] >= 4 ? 'idporten-loa-high' : 'idporten-loa-substantial'
}
