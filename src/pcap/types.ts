// Shapes shared by the reader and the writers: what a section, an interface, a packet and a non-packet
// block look like to callers.

/** Timestamp resolution: one unit is base^-exponent seconds (if_tsresol). */
export interface TsResolution {
  base: 10 | 2;
  exponent: number;
}

export type ByteOrder = 'le' | 'be';
export type TraceFormat = 'pcap' | 'pcapng';

export interface IfFilter {
  /** First octet of if_filter: 0 = libpcap filter string, 1 = BPF program, others as defined later. */
  kind: number;
  /** The filter as text when kind is 0 (libpcap string). */
  text?: string;
  /** Bytes after the kind octet (a copy). */
  data: Uint8Array;
}

/** One interface of a section: an Interface Description Block, or the header of a classic pcap file. */
export interface InterfaceInfo {
  /** Interface ID within its section (0-based, in IDB order). */
  index: number;
  linkType: number;
  /** 0 means "no limit" in pcapng. */
  snapLen: number;
  name?: string;
  description?: string;
  /** if_IPv4addr: "address/netmask" in dotted quads. */
  ipv4Addresses?: string[];
  /** if_IPv6addr: "address/prefix". */
  ipv6Addresses?: string[];
  /** if_MACaddr as aa:bb:cc:dd:ee:ff. */
  macAddress?: string;
  /** if_EUIaddr as eight colon-separated octets. */
  euiAddress?: string;
  /** if_speed, bits per second. */
  speed?: bigint;
  txSpeed?: bigint;
  rxSpeed?: bigint;
  tsResolution: TsResolution;
  /** if_tsoffset: seconds added to every timestamp of this interface (already applied by the reader). */
  tsOffset: bigint;
  /** if_tzone raw value (deprecated in the spec; kept for completeness). */
  tzone?: number;
  ianaTzName?: string;
  filter?: IfFilter;
  os?: string;
  hardware?: string;
  /**
   * FCS length in bits: if_fcslen as stored (the spec says bits), or, in classic pcap with the P bit
   * set, the link-type word's FCS length (16-bit words) times 16.
   */
  fcsLen?: number;
  comments: string[];
}

/** One section: a pcapng Section Header Block and what follows it, or a whole classic pcap file. */
export interface SectionInfo {
  /** 0-based position of this section in the file. */
  index: number;
  format: TraceFormat;
  byteOrder: ByteOrder;
  version: { major: number; minor: number };
  /** pcapng Section Length; -1n when unspecified (always -1n for classic pcap). */
  sectionLength: bigint;
  hardware?: string;
  os?: string;
  userAppl?: string;
  comments: string[];
  /** Interfaces described so far in this section, by Interface ID. Grows as IDBs are read. */
  interfaces: InterfaceInfo[];
  /** Byte offset of the SHB (0 for classic pcap). */
  offset: number;
}

export interface PacketHash {
  /** 0 2s complement, 1 XOR, 2 CRC32, 3 MD5, 4 SHA-1, 5 Toeplitz. */
  algorithm: number;
  value: Uint8Array;
}

export interface PacketVerdict {
  /** 0 hardware, 1 Linux eBPF TC, 2 Linux eBPF XDP. */
  type: number;
  value: Uint8Array;
}

/** Per-packet information from EPB or PB options (and the PB drops count). */
export interface PacketExtras {
  /** epb_flags / pack_flags word. */
  flags?: number;
  /** epb_dropcount, or the PB Drops Count unless it is 0xFFFF (unknown). */
  dropCount?: bigint;
  queue?: number;
  hashes?: PacketHash[];
  packetId?: bigint;
  verdicts?: PacketVerdict[];
  processId?: number;
  threadId?: number;
  comments: string[];
}

export type PacketBlockType = 'pcap' | 'epb' | 'spb' | 'pb';

/** A packet as an object: the convenience form. The batch form is PacketBatch. */
export interface Packet {
  /** Nanoseconds since the epoch, after if_tsoffset; null when the block has no timestamp (SPB). */
  ts: bigint | null;
  /** A view into the reader's chunk, not a copy. */
  data: Buffer;
  capLen: number;
  origLen: number;
  /** Interface index within its section (0 for classic pcap). */
  interface: number;
  linkType: number;
  section: SectionInfo;
  blockType: PacketBlockType;
  extras?: PacketExtras;
}

export interface NameResolutionEntry {
  type: 'ipv4' | 'ipv6' | 'eui48' | 'eui64';
  /** Address in its usual text form. */
  address: string;
  names: string[];
}

interface RecordBase {
  /** Byte offset of the block (or header) in the stream. */
  offset: number;
}

/** The first block of a pcapng section. */
export interface ShbRecord extends RecordBase {
  kind: 'shb';
  section: SectionInfo;
}
/** The 24-byte header of a classic pcap file (it describes the section and its one interface). */
export interface PcapHeaderRecord extends RecordBase {
  kind: 'pcap-header';
  section: SectionInfo;
}
export interface IdbRecord extends RecordBase {
  kind: 'idb';
  section: SectionInfo;
  interface: InterfaceInfo;
}
export interface NrbRecord extends RecordBase {
  kind: 'nrb';
  entries: NameResolutionEntry[];
  dnsName?: string;
  dnsIPv4?: string;
  dnsIPv6?: string;
  comments: string[];
}
export interface IsbRecord extends RecordBase {
  kind: 'isb';
  interface: number;
  /** ns since the epoch (if_tsresol and if_tsoffset of the interface applied). */
  ts: bigint;
  startTime?: bigint;
  endTime?: bigint;
  ifRecv?: bigint;
  ifDrop?: bigint;
  filterAccept?: bigint;
  osDrop?: bigint;
  usrDeliv?: bigint;
  comments: string[];
}
export interface DsbRecord extends RecordBase {
  kind: 'dsb';
  secretsType: number;
  /** The secrets (a copy). */
  data: Uint8Array;
  comments: string[];
}
export interface CustomRecord extends RecordBase {
  kind: 'custom';
  blockType: number;
  /** False for 0x40000BAD (rewriters should not copy it). */
  copyable: boolean;
  pen: number;
  /** Custom data and any options, opaque (a copy): only the PEN's owner knows where options start. */
  data: Uint8Array;
}
/** Any other block (including local-use types), skipped but reported. */
export interface UnknownRecord extends RecordBase {
  kind: 'unknown';
  blockType: number;
  /** Body length in bytes (the body itself is not kept). */
  bodyLength: number;
}

/** A non-packet block, in file order. */
export type TraceRecord =
  | ShbRecord
  | PcapHeaderRecord
  | IdbRecord
  | NrbRecord
  | IsbRecord
  | DsbRecord
  | CustomRecord
  | UnknownRecord;
