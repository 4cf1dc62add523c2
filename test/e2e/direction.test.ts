// Direction on AF_PACKET: frames the captured interface sent are flagged outbound in their EPB,
// frames it received inbound (pcapng epb_flags bits 0-1). tshark reads the flags as the oracle.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PcapWriter, encodeEPB, openSink } from '../../src/pcap/index.js';
import { nativeTest } from '../helpers/native-test.js';
import { run, start, tempDir } from '../helpers/cli.js';
import { createVethBed, netnsUnavailable, type VethBed } from '../helpers/netns.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('native EPB with epb_flags', () => {
  it('matches src/pcap byte for byte for every direction value', () => {
    for (const flags of [1, 2, 3]) {
      for (const len of [0, 1, 3, 4, 60, 61]) {
        const data = Buffer.alloc(len, 0xab);
        expect(nativeTest.encodeEpb(2, 123_456_789_012n, data, len + 5, flags)).toEqual(encodeEPB(2, 123_456_789_012n, data, len + 5, { flags }, 'le'));
      }
    }
  });
});

const why = netnsUnavailable();
describe.skipIf(why !== null)(`direction flags on veth${why ? ` (skipped: ${why})` : ''}`, () => {
  let bed: VethBed;
  let inbound: string;
  const SENT = 12; // datagrams va sends
  const RECEIVED = 9; // frames vb sends to va
  beforeAll(async () => {
    bed = createVethBed();
    bed.exec('ip', ['addr', 'add', '10.9.0.1/24', 'dev', 'va']);
    // A neighbour that exists only in va's table: datagrams to it leave through va, with no ARP.
    bed.exec('ip', ['neigh', 'add', '10.9.0.99', 'lladdr', '02:00:00:00:00:99', 'dev', 'va', 'nud', 'permanent']);
    inbound = tmp.path('in.pcap');
    const w = new PcapWriter(openSink(inbound), { linkType: 1, snapLen: 65535 });
    for (let i = 0; i < RECEIVED; i++) {
      const f = Buffer.alloc(64, i);
      Buffer.from([0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x88, 0xb5]).copy(f);
      w.writePacket({ ts: BigInt(i) * 1000n, data: f });
    }
    await w.close();
  });
  afterAll(() => bed?.destroy());

  it('sent frames are outbound, received ones inbound (tshark agrees)', async () => {
    const ns = ['ip', 'netns', 'exec', bed.ns];
    const out = tmp.path('dir.pcapng');
    const c = start('nmcap', ['-i', 'af_packet:va', '-w', out, '-c', String(SENT + RECEIVED), '-a', 'duration:60', 'udp port 9999 or ether proto 0x88b5'], {
      prefix: ns,
    });
    await c.waitFor(/^listening on/);
    const send = `const s=require('dgram').createSocket('udp4');let n=0;const go=()=>s.send(Buffer.from('x'),9999,'10.9.0.99',()=>{if(++n<${SENT})go();else s.close();});go();`;
    bed.exec(process.execPath, ['-e', send]);
    const rep = await run('nmreplay', ['-i', 'af_packet:vb', '-t', inbound], { prefix: ns });
    expect(rep.code, rep.stderr).toBe(0);
    const cap = await c.done;
    expect(cap.code, cap.stderr).toBe(0);
    const rows = execFileSync('tshark', ['-r', out, '-T', 'fields', '-e', 'frame.packet_flags_direction', '-e', 'eth.type'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    expect(rows).toHaveLength(SENT + RECEIVED);
    const dir = (v: string): number => Number(v);
    const udp = rows.filter((r) => r[1] === '0x0800');
    const exp = rows.filter((r) => r[1] === '0x88b5');
    expect(udp).toHaveLength(SENT);
    expect(exp).toHaveLength(RECEIVED);
    expect(udp.every((r) => dir(r[0]!) === 2)).toBe(true); // outbound
    expect(exp.every((r) => dir(r[0]!) === 1)).toBe(true); // inbound
  });
});
