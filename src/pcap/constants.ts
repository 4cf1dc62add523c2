// Numbers from the pcap and pcapng specifications (draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng)
// and the LINKTYPE registry. Values only; no behaviour.

/** Classic pcap magics, as read in the file's own byte order. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** The same magics read in the opposite byte order. */
export const PCAP_MAGIC_US_SWAPPED = 0xd4c3b2a1;
export const PCAP_MAGIC_NS_SWAPPED = 0x4d3cb2a1;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

/** Link-type word of a classic pcap header: FCS len (4 bits) | R | P | reserved (10) | link type (16). */
export const PCAP_LT_LINKTYPE_MASK = 0x0000ffff;
export const PCAP_LT_RESERVED_MASK = 0x03ff0000;
export const PCAP_LT_FCS_PRESENT = 0x04000000;
export const PCAP_LT_R_BIT = 0x08000000;
export const PCAP_LT_FCS_SHIFT = 28;

/** pcapng byte-order magic in the Section Header Block. */
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const PCAPNG_BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;
export const PCAPNG_VERSION_MAJOR = 1;
export const PCAPNG_VERSION_MINOR = 0;

/** pcapng block types. */
export const BlockType = {
  SHB: 0x0a0d0d0a,
  IDB: 0x00000001,
  /** Obsolete Packet Block. */
  PB: 0x00000002,
  SPB: 0x00000003,
  NRB: 0x00000004,
  ISB: 0x00000005,
  EPB: 0x00000006,
  /** systemd Journal Export Block. */
  SYSTEMD_JOURNAL: 0x00000009,
  DSB: 0x0000000a,
  /** Custom Block that rewriters may copy. */
  CUSTOM: 0x00000bad,
  /** Custom Block that rewriters should not copy. */
  CUSTOM_NOCOPY: 0x40000bad,
} as const;

/** Smallest pcapng block: type, length, length. */
export const PCAPNG_MIN_BLOCK_LEN = 12;
/** SHB up to and including Section Length, plus the trailing length. */
export const PCAPNG_SHB_MIN_LEN = 28;

/** Options valid in any block. */
export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
export const OPT_CUSTOM_STRING = 2988;
export const OPT_CUSTOM_BINARY = 2989;
export const OPT_CUSTOM_STRING_NOCOPY = 19372;
export const OPT_CUSTOM_BINARY_NOCOPY = 19373;

export const ShbOption = { HARDWARE: 2, OS: 3, USERAPPL: 4 } as const;

export const IdbOption = {
  NAME: 2,
  DESCRIPTION: 3,
  IPV4ADDR: 4,
  IPV6ADDR: 5,
  MACADDR: 6,
  EUIADDR: 7,
  SPEED: 8,
  TSRESOL: 9,
  TZONE: 10,
  FILTER: 11,
  OS: 12,
  FCSLEN: 13,
  TSOFFSET: 14,
  HARDWARE: 15,
  TXSPEED: 16,
  RXSPEED: 17,
  IANA_TZNAME: 18,
} as const;

export const EpbOption = {
  FLAGS: 2,
  HASH: 3,
  DROPCOUNT: 4,
  PACKETID: 5,
  QUEUE: 6,
  VERDICT: 7,
  PROCESSID_THREADID: 8,
} as const;

/** Options of the obsolete Packet Block. */
export const PbOption = { FLAGS: 2, HASH: 3 } as const;

export const NrbRecordType = { END: 0, IPV4: 1, IPV6: 2, EUI48: 3, EUI64: 4 } as const;
export const NrbOption = { DNSNAME: 2, DNSIP4ADDR: 3, DNSIP6ADDR: 4 } as const;

export const IsbOption = {
  STARTTIME: 2,
  ENDTIME: 3,
  IFRECV: 4,
  IFDROP: 5,
  FILTERACCEPT: 6,
  OSDROP: 7,
  USRDELIV: 8,
} as const;

/** Decryption Secrets Block secret types. */
export const SecretsType = {
  TLS_KEY_LOG: 0x544c534b,
  OPCUA_KEY_LOG: 0x55414b4c,
  WIREGUARD_KEY_LOG: 0x57474b4c,
  ZIGBEE_NWK_KEY: 0x5a4e574b,
  ZIGBEE_APS_KEY: 0x5a415053,
} as const;

/** if_filter kinds (first octet of the option). */
export const FilterKind = { PCAP_STRING: 0, BPF_PROGRAM: 1 } as const;

/** Link types (LINKTYPE_* registry). Only the commonly met ones; any u16 is accepted everywhere. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  PPP: 9,
  RAW: 101,
  IEEE802_11: 105,
  LOOP: 108,
  LINUX_SLL: 113,
  IEEE802_11_RADIOTAP: 127,
  IPV4: 228,
  IPV6: 229,
  NFLOG: 239,
  NETLINK: 253,
  LINUX_SLL2: 276,
} as const;

/** Default cap on a single block / record, so a corrupt length never sizes an allocation. */
export const DEFAULT_MAX_BLOCK_LENGTH = 64 * 1024 * 1024;
/**
 * Bytes read from a file or stream per chunk. Small enough that the memory of chunks the caller
 * has dropped is freed at the next minor GC and handed out again by malloc without fresh page
 * faults (4 MiB chunks were mapped and unmapped each time: about 5000 more faults per 80 MB read,
 * a third of the cold reading time); big enough that per-read costs do not show.
 */
export const DEFAULT_CHUNK_SIZE = 512 * 1024;
/** Packets per batch at most. */
export const DEFAULT_BATCH_PACKETS = 16384;
/**
 * Largest captured length a classic pcap record may claim when the header's snaplen is smaller.
 * libpcap accepts up to 256 KiB for most link types whatever the header says; so do we.
 */
export const PCAP_REASONABLE_CAPLEN = 262144;
