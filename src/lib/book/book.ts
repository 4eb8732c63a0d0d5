// The local L2 order book: two sorted price ladders, best level at the end of each array so the busy top of the
// book is changed with cheap pushes and pops rather than shifting thousands of deeper levels

import type { BookLevel } from '../types.js'

export type BookSide = 'bid' | 'ask'

/** One side of the book; `better(a, b)` is true when price a is nearer the top than b. */
class Ladder {
  // prices[i] ascending in "goodness": prices[len-1] is the best level
  prices: number[] = []
  amounts: number[] = []

  constructor(private readonly isBid: boolean) {}

  /** Index of `price`, or -(insertion point) - 1 when absent. */
  private find(price: number): number {
    const p = this.prices
    // Updates cluster at the top: check the best few levels before bisecting
    let n = p.length
    if (n === 0) return -1
    const bid = this.isBid
    let lo = 0
    let hi = n - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const v = p[mid]
      if (v === price) return mid
      // For bids the ladder is ascending in price, for asks descending
      if (bid ? v < price : v > price) lo = mid + 1
      else hi = mid - 1
    }
    n = lo
    return -n - 1
  }

  set(price: number, amount: number): void {
    const i = this.find(price)
    if (i >= 0) {
      if (amount === 0) {
        if (i === this.prices.length - 1) {
          this.prices.pop()
          this.amounts.pop()
        } else {
          this.prices.splice(i, 1)
          this.amounts.splice(i, 1)
        }
      } else {
        this.amounts[i] = amount
      }
      return
    }
    // Deleting an unknown level is normal (it was beyond the snapshot's depth)
    if (amount === 0) return
    const at = -i - 1
    if (at === this.prices.length) {
      this.prices.push(price)
      this.amounts.push(amount)
    } else {
      this.prices.splice(at, 0, price)
      this.amounts.splice(at, 0, amount)
    }
  }

  clear(): void {
    this.prices = []
    this.amounts = []
  }

  get length(): number {
    return this.prices.length
  }

  /** Level k from the top (0 = best), undefined past the end. */
  price(k: number): number | undefined {
    return this.prices[this.prices.length - 1 - k]
  }

  amount(k: number): number | undefined {
    return this.amounts[this.amounts.length - 1 - k]
  }

  amountAt(price: number): number | undefined {
    const i = this.find(price)
    return i >= 0 ? this.amounts[i] : undefined
  }

  top(n: number): BookLevel[] {
    const out: BookLevel[] = []
    const len = this.prices.length
    for (let k = 0; k < n && k < len; k++) out.push({ price: this.prices[len - 1 - k], amount: this.amounts[len - 1 - k] })
    return out
  }
}

/** A price-level (L2) book. Amounts are absolute; setting 0 deletes the level. */
export class OrderBook {
  private readonly bidLadder = new Ladder(true)
  private readonly askLadder = new Ladder(false)

  /** Sets a level to an absolute amount; 0 removes it. */
  set(side: BookSide, price: number, amount: number): void {
    ;(side === 'bid' ? this.bidLadder : this.askLadder).set(price, amount)
  }

  /** Applies lists of absolute levels, as carried by `BookChange`. */
  apply(bids: readonly BookLevel[], asks: readonly BookLevel[]): void {
    for (let i = 0; i < bids.length; i++) this.bidLadder.set(bids[i].price, bids[i].amount)
    for (let i = 0; i < asks.length; i++) this.askLadder.set(asks[i].price, asks[i].amount)
  }

  clear(): void {
    this.bidLadder.clear()
    this.askLadder.clear()
  }

  get bidLevels(): number {
    return this.bidLadder.length
  }

  get askLevels(): number {
    return this.askLadder.length
  }

  /** Price and amount of level k (0 = best) on one side; undefined past the end. */
  bidPrice(k = 0): number | undefined {
    return this.bidLadder.price(k)
  }
  bidAmount(k = 0): number | undefined {
    return this.bidLadder.amount(k)
  }
  askPrice(k = 0): number | undefined {
    return this.askLadder.price(k)
  }
  askAmount(k = 0): number | undefined {
    return this.askLadder.amount(k)
  }

  /** Amount resting at an exact price, undefined when the level is absent. */
  amountAt(side: BookSide, price: number): number | undefined {
    return (side === 'bid' ? this.bidLadder : this.askLadder).amountAt(price)
  }

  /** Best `n` levels per side, best first. */
  top(n: number): { bids: BookLevel[]; asks: BookLevel[] } {
    return { bids: this.bidLadder.top(n), asks: this.askLadder.top(n) }
  }

  /** True when the best bid is at or above the best ask (a book that cannot be right). */
  isCrossed(): boolean {
    const b = this.bidLadder.price(0)
    const a = this.askLadder.price(0)
    return b !== undefined && a !== undefined && b >= a
  }

  /** Mid price, undefined when a side is empty. */
  mid(): number | undefined {
    const b = this.bidLadder.price(0)
    const a = this.askLadder.price(0)
    return b === undefined || a === undefined ? undefined : (a + b) / 2
  }
}
