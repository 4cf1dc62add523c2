// Hand-built capture bytes for tests, written from the specifications independently of src/pcap's
// encoders, so reader tests do not check our reader against our own writer.

export type Order = 'le' | 'be';

export function u8(...v: number[]): Buffer {
  return Buffer.from(v);
}
export function u16(v: number, o: Order): Buffer {
  const b = Buffer.alloc(2);
  if (o === 'le') b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
}
export function u32(v: number, o: Order): Buffer {
  const b = Buffer.alloc(4);
  if (o === 'le') b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}
export function u64(v: bigint, o: Order): Buffer {
  const b = Buffer.alloc(8);
  if (o === 'le') b.writeBigUInt64LE(BigInt.asUintN(64, v));
  else b.writeBigUInt64BE(BigInt.asUintN(64, v));
  return b;
}
/** Two u32 (high then low), as EPB/ISB timestamps are stored. */
export function ts64(v: bigint, o: Order): Buffer {
  return Buffer.concat([u32(Number(v >> 32n), o), u32(Number(v & 0xffffffffn), o)]);
}
export function pad(b: Buffer): Buffer {
  const n = (4 - (b.length % 4)) % 4;
  return n === 0 ? b : Buffer.concat([b, Buffer.alloc(n)]);
}
export function str(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** One option TLV (padded). */
export function opt(code: number, value: Buffer, o: Order): Buffer {
  return Buffer.concat([u16(code, o), u16(value.length, o), pad(value)]);
}
export function endOpt(o: Order): Buffer {
  return Buffer.concat([u16(0, o), u16(0, o)]);
}
/** Options list with opt_endofopt. */
export function opts(o: Order, ...list: Buffer[]): Buffer {
  return list.length === 0 ? Buffer.alloc(0) : Buffer.concat([...list, endOpt(o)]);
}

/** A generic block: type, total length, body (padded), total length. */
export function block(type: number, body: Buffer, o: Order): Buffer {
  const b = pad(body);
  const len = 12 + b.length;
  return Buffer.concat([u32(type, o), u32(len, o), b, u32(len, o)]);
}

export function shb(o: Order, options: Buffer = Buffer.alloc(0), version: [number, number] = [1, 0], sectionLength = -1n): Buffer {
  return block(0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d, o), u16(version[0], o), u16(version[1], o), u64(sectionLength, o), options]), o);
}

export function idb(o: Order, linkType: number, snapLen: number, options: Buffer = Buffer.alloc(0)): Buffer {
  return block(1, Buffer.concat([u16(linkType, o), u16(0, o), u32(snapLen, o), options]), o);
}

export function epb(o: Order, iface: number, units: bigint, data: Buffer, origLen = data.length, options: Buffer = Buffer.alloc(0)): Buffer {
  return block(6, Buffer.concat([u32(iface, o), ts64(units, o), u32(data.length, o), u32(origLen, o), pad(data), options]), o);
}

export function spb(o: Order, origLen: number, data: Buffer): Buffer {
  return block(3, Buffer.concat([u32(origLen, o), pad(data)]), o);
}

export function pb(o: Order, iface: number, drops: number, units: bigint, data: Buffer, origLen = data.length, options: Buffer = Buffer.alloc(0)): Buffer {
  return block(2, Buffer.concat([u16(iface, o), u16(drops, o), ts64(units, o), u32(data.length, o), u32(origLen, o), pad(data), options]), o);
}

export function isb(o: Order, iface: number, units: bigint, options: Buffer = Buffer.alloc(0)): Buffer {
  return block(5, Buffer.concat([u32(iface, o), ts64(units, o), options]), o);
}

export function nrbRecord(type: number, value: Buffer, o: Order): Buffer {
  return Buffer.concat([u16(type, o), u16(value.length, o), pad(value)]);
}

export function nrb(o: Order, records: Buffer[], options: Buffer = Buffer.alloc(0)): Buffer {
  return block(4, Buffer.concat([...records, u16(0, o), u16(0, o), options]), o);
}

export function dsb(o: Order, type: number, secrets: Buffer, options: Buffer = Buffer.alloc(0)): Buffer {
  return block(10, Buffer.concat([u32(type, o), u32(secrets.length, o), pad(secrets), options]), o);
}

export function custom(o: Order, copyable: boolean, pen: number, data: Buffer): Buffer {
  return block(copyable ? 0x00000bad : 0x40000bad, Buffer.concat([u32(pen, o), data]), o);
}

/** Classic pcap file header. */
export function pcapHeader(o: Order, nanos: boolean, snapLen: number, linkWord: number, version: [number, number] = [2, 4]): Buffer {
  return Buffer.concat([
    u32(nanos ? 0xa1b23c4d : 0xa1b2c3d4, o),
    u16(version[0], o),
    u16(version[1], o),
    u32(0, o),
    u32(0, o),
    u32(snapLen, o),
    u32(linkWord, o),
  ]);
}

export function pcapRecord(o: Order, sec: number, frac: number, data: Buffer, origLen = data.length): Buffer {
  return Buffer.concat([u32(sec, o), u32(frac, o), u32(data.length, o), u32(origLen, o), data]);
}

/** A recognisable packet of n bytes: byte i is (seed + i) & 0xff. */
export function bytesOf(n: number, seed = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i) & 0xff;
  return b;
}

/** An Ethernet/IPv4/UDP frame with a payload of `payload` bytes. */
export function udpFrame(payload: number, srcPort = 1234, dstPort = 5678, seed = 0): Buffer {
  const eth = Buffer.from([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload, 2);
  ip[8] = 64;
  ip[9] = 17;
  Buffer.from([10, 0, 0, 1]).copy(ip, 12);
  Buffer.from([10, 0, 0, 2]).copy(ip, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(srcPort, 0);
  udp.writeUInt16BE(dstPort, 2);
  udp.writeUInt16BE(8 + payload, 4);
  return Buffer.concat([eth, ip, udp, bytesOf(payload, seed)]);
}
