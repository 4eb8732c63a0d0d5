import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { catalogMarkdown } from '../../src/lib/signals/catalog.js'
import { ROOT } from '../helpers.js'

it('docs/SIGNALS.md is the catalog as the code defines it (run npm run docs:signals after changes)', () => {
  expect(readFileSync(join(ROOT, 'docs', 'SIGNALS.md'), 'utf8')).toBe(catalogMarkdown())
})
