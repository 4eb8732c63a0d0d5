// NumPy `.npy` files (format 1.0 to 3.0, C order, little-endian): the exchange format between mercury and the
// Python trainer in kaggle/ (features.npy, ts.npy, the reference windows and logits a training run writes).
// Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html

import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { DataError } from '../errors.js'

export const NPY_DTYPES = ['<f4', '<f8', '<i8', '<i4'] as const
export type NpyDtype = (typeof NPY_DTYPES)[number]

export type NpyData = Float32Array | Float64Array | BigInt64Array | Int32Array

export interface NpyArray {
  readonly dtype: NpyDtype
  readonly shape: readonly number[]
  readonly data: NpyData
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]) // \x93NUMPY

const BYTES: Record<NpyDtype, number> = { '<f4': 4, '<f8': 8, '<i8': 8, '<i4': 4 }

function bad(path: string, reason: string): DataError {
  return new DataError(`${path}: ${reason}`, path, [{ file: path, line: 1, reason }])
}

/** Parses the bytes of one `.npy` file; `path` only names it in errors. */
export function parseNpy(buf: Buffer, path = '<npy>'): NpyArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw bad(path, 'not a .npy file (magic \\x93NUMPY missing)')
  const major = buf[6]
  let headerLen: number
  let start: number
  if (major === 1) {
    headerLen = buf.readUInt16LE(8)
    start = 10
  } else if (major === 2 || major === 3) {
    headerLen = buf.readUInt32LE(8)
    start = 12
  } else {
    throw bad(path, `unsupported .npy version ${major}.${buf[7]}, expected 1.0 to 3.0`)
  }
  const header = buf.subarray(start, start + headerLen).toString(major === 3 ? 'utf8' : 'latin1')
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1]
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1]
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1]
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(path, `malformed .npy header '${header.trim()}'`)
  if (fortran !== 'False') throw bad(path, 'Fortran-ordered arrays are not supported, expected C order')
  const dtype = (NPY_DTYPES as readonly string[]).includes(descr) ? (descr as NpyDtype) : undefined
  if (dtype === undefined) throw bad(path, `unsupported dtype '${descr}', expected one of ${NPY_DTYPES.join(', ')}`)
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number)
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(path, `bad shape (${shapeText})`)
  const count = shape.reduce((a, b) => a * b, 1)
  const offset = start + headerLen
  const bytes = count * BYTES[dtype]
  if (buf.length - offset < bytes) throw bad(path, `truncated: the header promises ${bytes} data bytes, the file holds ${buf.length - offset}`)
  // A copy, so the typed array is aligned whatever the Buffer's pool offset
  const ab = buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + bytes)
  const data =
    dtype === '<f4' ? new Float32Array(ab) : dtype === '<f8' ? new Float64Array(ab) : dtype === '<i8' ? new BigInt64Array(ab) : new Int32Array(ab)
  return { dtype, shape, data }
}

/** Reads one `.npy` file. */
export function readNpy(path: string): NpyArray {
  return parseNpy(readFileSync(path), path)
}

function dtypeOf(data: NpyData): NpyDtype {
  if (data instanceof Float32Array) return '<f4'
  if (data instanceof Float64Array) return '<f8'
  if (data instanceof BigInt64Array) return '<i8'
  return '<i4'
}

/** Encodes an array as `.npy` format 1.0 bytes. */
export function encodeNpy(data: NpyData, shape: readonly number[]): Buffer {
  const count = shape.reduce((a, b) => a * b, 1)
  if (count !== data.length) throw new Error(`shape (${shape.join(', ')}) holds ${count} values, the data ${data.length}`)
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ')
  let header = `{'descr': '${dtypeOf(data)}', 'fortran_order': False, 'shape': (${dims}), }`
  // numpy pads the header with spaces so the data starts on a 64-byte boundary, then ends it with a newline
  const total = Math.ceil((10 + header.length + 1) / 64) * 64
  header = header.padEnd(total - 10 - 1, ' ') + '\n'
  const head = Buffer.alloc(10)
  MAGIC.copy(head, 0)
  head[6] = 1
  head[7] = 0
  head.writeUInt16LE(header.length, 8)
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)])
}

/** Writes one `.npy` file atomically (tmp then rename). */
export function writeNpy(path: string, data: NpyData, shape: readonly number[]): void {
  writeFileSync(`${path}.tmp`, encodeNpy(data, shape))
  renameSync(`${path}.tmp`, path)
}
