// Writes docs/SIGNALS.md from the built catalog (run after `npm run build`)
import { writeFileSync, mkdirSync } from 'node:fs'
import { catalogMarkdown } from '../dist/src/lib/signals/catalog.js'
mkdirSync(new URL('../docs/', import.meta.url), { recursive: true })
writeFileSync(new URL('../docs/SIGNALS.md', import.meta.url), catalogMarkdown())
console.log('docs/SIGNALS.md written')
