// Capture filters: tcpdump expressions, compiled to classic BPF by libpcap (loaded at run time by
// the addon), for the link type and snap length of the port they filter. A program returns the
// number of bytes to keep (the snap length, or 0 to drop), the same contract in the kernel
// (SO_ATTACH_FILTER) and in our interpreter on the capture thread.
import { FilterError } from '../errors.js';
import { native } from '../ports/binding.js';

export interface CompiledFilter {
  /** the expression as the user wrote it (recorded in the IDB's if_filter) */
  expression: string;
  /** 8-byte struct bpf_insn records, host byte order */
  program: Buffer;
}

/** The expression tcpdump would filter with: the words after the options, joined by spaces. */
export function filterExpression(words: readonly string[]): string | undefined {
  const e = words.join(' ').trim();
  return e === '' ? undefined : e;
}

export function compileFilter(expression: string, linkType: number, snaplen: number): CompiledFilter {
  try {
    return { expression, program: native.filter.compile(expression, linkType, snaplen) };
  } catch (e) {
    throw FilterError.from(e);
  }
}

/** The program as `tcpdump -d` prints it, one instruction per line. */
export function filterImage(program: Uint8Array): string[] {
  try {
    return native.filter.image(program);
  } catch (e) {
    throw FilterError.from(e);
  }
}
