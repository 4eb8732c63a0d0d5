// Real data loaders for the book, funding, open-interest and liquidation sources (filled by the microstructure work)
import type { Columns, Source } from '../../src/lib/signals/types.js'

export const MICRO_SOURCES: Partial<Record<Source, () => Promise<Columns>>> = {}
