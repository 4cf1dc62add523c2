#!/usr/bin/env node
// Writes test/fixtures/demo.pcapng: a small, realistic trace for `npm run demo` and the end-to-end
// tests (ARP, ICMP echo, DNS over UDP, a TCP handshake with an HTTP request and reply, and a
// burst of 64-byte UDP frames), with correct IPv4/UDP/TCP checksums so dissectors show no errors.
// Deterministic: the same bytes every time. Run after changing it: node scripts/make-demo-trace.mjs
import { PcapngWriter, openSink } from '../dist/pcap/index.js';

const out = process.argv[2] ?? new URL('../test/fixtures/demo.pcapng', import.meta.url).pathname;

const macA = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
const macB = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];
const ipA = [10, 0, 0, 1];
const ipB = [10, 0, 0, 2];

function sum16(bytes, init = 0) {
  let s = init;
  for (let i = 0; i + 1 < bytes.length; i += 2) s += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length & 1) s += bytes[bytes.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const csum = (bytes, init) => ~sum16(bytes, init) & 0xffff;
const u16 = (v) => [(v >> 8) & 0xff, v & 0xff];
const u32 = (v) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

function ether(dst, src, type, payload) {
  const f = [...dst, ...src, ...u16(type), ...payload];
  while (f.length < 60) f.push(0); // Ethernet minimum (without FCS)
  return Buffer.from(f);
}

let ipId = 0x1000;
function ipv4(src, dst, proto, payload) {
  const h = [0x45, 0, ...u16(20 + payload.length), ...u16(ipId++), 0x40, 0, 64, proto, 0, 0, ...src, ...dst];
  const c = csum(h);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  return [...h, ...payload];
}

function pseudo(src, dst, proto, len) {
  return sum16([...src, ...dst, 0, proto, ...u16(len)]);
}

function udp(src, dst, sport, dport, data) {
  const len = 8 + data.length;
  const seg = [...u16(sport), ...u16(dport), ...u16(len), 0, 0, ...data];
  const c = csum(seg, pseudo(src, dst, 17, len)) || 0xffff;
  seg[6] = c >> 8;
  seg[7] = c & 0xff;
  return ipv4(src, dst, 17, seg);
}

function tcp(src, dst, sport, dport, seq, ack, flags, data = []) {
  const seg = [...u16(sport), ...u16(dport), ...u32(seq), ...u32(ack), 0x50, flags, ...u16(64240), 0, 0, 0, 0, ...data];
  const c = csum(seg, pseudo(src, dst, 6, seg.length));
  seg[16] = c >> 8;
  seg[17] = c & 0xff;
  return ipv4(src, dst, 6, seg);
}

function icmpEcho(src, dst, type, id, seq) {
  const data = [...Buffer.from('nmcap demo ping!')];
  const m = [type, 0, 0, 0, ...u16(id), ...u16(seq), ...data];
  const c = csum(m);
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return ipv4(src, dst, 1, m);
}

function arp(op, sha, spa, tha, tpa) {
  return [0, 1, 8, 0, 6, 4, 0, op, ...sha, ...spa, ...tha, ...tpa];
}

function dnsQuery(id, name, isReply) {
  const q = [];
  for (const label of name.split('.')) q.push(label.length, ...Buffer.from(label));
  q.push(0, 0, 1, 0, 1); // type A, class IN
  const hdr = [...u16(id), isReply ? 0x81 : 0x01, isReply ? 0x80 : 0x00, 0, 1, 0, isReply ? 1 : 0, 0, 0, 0, 0];
  const ans = isReply ? [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 10, 0, 0, 80] : [];
  return [...hdr, ...q, ...ans];
}

const frames = [];
let t = 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z
const at = (dtUs) => (t += BigInt(Math.round(dtUs * 1000)));
const push = (dtUs, frame) => frames.push({ ts: at(dtUs), data: frame });

const bcast = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
push(0, ether(bcast, macA, 0x0806, arp(1, macA, ipA, [0, 0, 0, 0, 0, 0], ipB)));
push(120, ether(macA, macB, 0x0806, arp(2, macB, ipB, macA, ipA)));
for (let i = 0; i < 3; i++) {
  push(i === 0 ? 300 : 1_000_000, ether(macB, macA, 0x0800, icmpEcho(ipA, ipB, 8, 0x4242, i + 1)));
  push(85, ether(macA, macB, 0x0800, icmpEcho(ipB, ipA, 0, 0x4242, i + 1)));
}
push(5000, ether(macB, macA, 0x0800, udp(ipA, ipB, 53001, 53, dnsQuery(0xbeef, 'demo.nmcap.test', false))));
push(410, ether(macA, macB, 0x0800, udp(ipB, ipA, 53, 53001, dnsQuery(0xbeef, 'demo.nmcap.test', true))));
const req = [...Buffer.from('GET / HTTP/1.1\r\nHost: demo.nmcap.test\r\nUser-Agent: nmcap-demo\r\n\r\n')];
const body = 'hello from the nmcap demo\n';
const resp = [...Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nContent-Type: text/plain\r\n\r\n${body}`)];
let cs = 1000, ss = 5000;
push(900, ether(macB, macA, 0x0800, tcp(ipA, ipB, 40000, 80, cs, 0, 0x02)));
push(60, ether(macA, macB, 0x0800, tcp(ipB, ipA, 80, 40000, ss, cs + 1, 0x12)));
push(40, ether(macB, macA, 0x0800, tcp(ipA, ipB, 40000, 80, cs + 1, ss + 1, 0x10)));
push(30, ether(macB, macA, 0x0800, tcp(ipA, ipB, 40000, 80, cs + 1, ss + 1, 0x18, req)));
push(250, ether(macA, macB, 0x0800, tcp(ipB, ipA, 80, 40000, ss + 1, cs + 1 + req.length, 0x18, resp)));
push(45, ether(macB, macA, 0x0800, tcp(ipA, ipB, 40000, 80, cs + 1 + req.length, ss + 1 + resp.length, 0x11)));
push(70, ether(macA, macB, 0x0800, tcp(ipB, ipA, 80, 40000, ss + 1 + resp.length, cs + 2 + req.length, 0x11)));
push(35, ether(macB, macA, 0x0800, tcp(ipA, ipB, 40000, 80, cs + 2 + req.length, ss + 2 + resp.length, 0x10)));
// A burst of minimum-size UDP frames, 10 us apart (100 kpps), numbered in the payload.
for (let i = 0; i < 200; i++) {
  push(i === 0 ? 2000 : 10, ether(macB, macA, 0x0800, udp(ipA, ipB, 9000, 9001, [...u32(i), 0x6e, 0x6d])));
}

const sink = openSink(out);
const w = new PcapngWriter(sink, { userAppl: 'nmcap demo trace generator', comments: ['nmcap demo trace'] });
const ifc = w.addInterface({ linkType: 1, snapLen: 262144, name: 'demo0', description: 'synthetic demo link' });
for (const f of frames) w.writePacket(ifc, { ts: f.ts, data: f.data });
await w.close();
console.log(`wrote ${frames.length} packets to ${out}`);
