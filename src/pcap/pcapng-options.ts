// pcapng option lists: TLV records of u16 code, u16 length, value padded to 32 bits, ended by
// opt_endofopt or by the end of the block. Walking them is shared by every block type; what a code
// means depends on the block and lives with each block's parser.

import { PcapErrorCode, PcapFormatError, PcapWarningCode, type PcapWarning } from '../errors.js';
import { OPT_ENDOFOPT } from './constants.js';
import { u16be, u16le } from './bytes.js';

/** Called for each option; `start` is the value's offset in the buffer, `len` its unpadded length. */
export type OptionVisitor = (code: number, start: number, len: number) => void;

/**
 * Visits the options in buf[start, end). An option whose value runs past `end` is a
 * PcapFormatError (ERR_PCAP_BAD_OPTION); `base` turns buffer positions into stream offsets.
 */
export function walkOptions(
  buf: Uint8Array,
  start: number,
  end: number,
  le: boolean,
  base: number,
  blockName: string,
  visit: OptionVisitor,
): void {
  let p = start;
  while (end - p >= 4) {
    const code = le ? u16le(buf, p) : u16be(buf, p);
    const len = le ? u16le(buf, p + 2) : u16be(buf, p + 2);
    if (code === OPT_ENDOFOPT) return;
    const vstart = p + 4;
    if (len > end - vstart) {
      throw new PcapFormatError(
        PcapErrorCode.BAD_OPTION,
        base + p,
        `${blockName} option ${code} claims ${len} bytes but only ${end - vstart} remain in the block`,
      );
    }
    visit(code, vstart, len);
    p = vstart + ((len + 3) & ~3);
  }
}

/** Reports an option of the wrong length that does not change how packets read: skip and warn. */
export function badLengthWarning(
  warn: (w: PcapWarning) => void,
  offset: number,
  blockName: string,
  optionName: string,
  len: number,
  expected: string,
): void {
  warn({
    code: PcapWarningCode.BAD_OPTION,
    offset,
    message: `${blockName} option ${optionName} has length ${len}, expected ${expected}; skipped`,
  });
}

/** An option whose wrong length would change timestamps or lengths: refuse the file. */
export function badLengthError(offset: number, blockName: string, optionName: string, len: number, expected: string): never {
  throw new PcapFormatError(
    PcapErrorCode.BAD_OPTION,
    offset,
    `${blockName} option ${optionName} has length ${len}, expected ${expected}`,
  );
}
