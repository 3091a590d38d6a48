/**
 * File names in a zip archive, from its central directory (APPNOTE.TXT §4.3.12, §4.3.16): enough to
 * check what a Lambda package contains without another dependency.
 */
import { readFile } from 'node:fs/promises'

export async function zipEntries(file: string): Promise<string[]> {
  const zip = await readFile(file)
  // End of central directory record: signature 0x06054b50, at most 64 KiB of comment after it.
  let end = -1
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      end = i
      break
    }
  }
  if (end < 0) throw new Error(`${file} is not a zip archive`)
  const count = zip.readUInt16LE(end + 10)
  let offset = zip.readUInt32LE(end + 16)
  const names: string[] = []
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error(`${file}: bad central directory entry`)
    const nameLength = zip.readUInt16LE(offset + 28)
    const extraLength = zip.readUInt16LE(offset + 30)
    const commentLength = zip.readUInt16LE(offset + 32)
    names.push(zip.subarray(offset + 46, offset + 46 + nameLength).toString('utf8'))
    offset += 46 + nameLength + extraLength + commentLength
  }
  return names
}
