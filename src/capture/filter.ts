// Capture filters: tcpdump expressions, compiled to classic BPF by libpcap (loaded at run time by
// the addon), for the link type and snap length of the port they filter. A program returns the
// number of bytes to keep (the snap length, or 0 to drop), the same contract in the kernel
// (SO_ATTACH_FILTER) and in our interpreter on the capture thread.
import { FilterError } from '../errors.js';
import type { PacketBatch } from '../pcap/batch.js';
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

/** libpcap's largest snap length: what a program is compiled for when an interface says 0 (no limit). */
const FILTER_MAX_SNAPLEN = 262144;

/**
 * A filter over saved packets (`nmcap -r FILE EXPR`, as `tcpdump -r FILE EXPR`): the expression is
 * compiled for each input interface's link type and snap length, once per pair, and the native
 * interpreter judges each batch in one call. A packet is kept whole when the program accepts it
 * (tcpdump reading a file uses the verdict as yes or no, not as a length).
 */
export class SavedPacketFilter {
  /** packets judged (up to the last one accepted once the limit is reached), and of those accepted */
  read = 0;
  accepted = 0;
  private readonly programs = new Map<string, Buffer>();
  private readonly perSection = new WeakMap<object, (Buffer | undefined)[]>();
  private kept = new Uint32Array(0);

  /** `limit`: accept at most this many (-c); packets after the last one accepted are not judged. */
  constructor(
    readonly expression: string,
    private readonly limit = Infinity,
  ) {}

  private programsFor(section: { interfaces: readonly { linkType: number; snapLen: number }[] }): (Buffer | undefined)[] {
    let list = this.perSection.get(section);
    if (list === undefined || list.length < section.interfaces.length) {
      list = section.interfaces.map(({ linkType, snapLen }) => {
        const snap = snapLen === 0 || snapLen > FILTER_MAX_SNAPLEN ? FILTER_MAX_SNAPLEN : snapLen;
        const key = `${linkType}/${snap}`;
        let p = this.programs.get(key);
        if (p === undefined) {
          p = compileFilter(this.expression, linkType, snap).program;
          this.programs.set(key, p);
        }
        return p;
      });
      this.perSection.set(section, list);
    }
    return list;
  }

  /** The packets of `batch` the expression accepts, as a batch over the same memory. */
  select(batch: PacketBatch): PacketBatch {
    if (batch.count === 0) return batch;
    if (this.accepted >= this.limit) return batch.slice(0, 0);
    const programs = this.programsFor(batch.section);
    if (this.kept.length < batch.count) this.kept = new Uint32Array(Math.max(batch.count, 2 * this.kept.length));
    let n: number;
    try {
      n = native.filter.selectBatch(programs, batch.buffer, batch.dataOffset, batch.capLen, batch.origLen, batch.iface, this.kept);
    } catch (e) {
      throw FilterError.from(e);
    }
    const room = this.limit - this.accepted;
    if (n >= room) {
      n = room;
      this.read += n === 0 ? 0 : this.kept[n - 1]! + 1;
    } else {
      this.read += batch.count;
    }
    this.accepted += n;
    return batch.pick(this.kept.subarray(0, n));
  }

  /** The batches, each reduced to the packets the expression accepts (records kept). */
  async *batches(source: AsyncIterable<PacketBatch>): AsyncGenerator<PacketBatch> {
    for await (const b of source) {
      yield this.select(b);
      if (this.accepted >= this.limit) return;
    }
  }
}
