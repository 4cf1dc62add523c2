// netmap port names through the addon's name parser (names.parse: the code the backend registers
// with, no TypeScript copy of it), and the NIOCCTRL register request a name and the open options become.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/ports/binding.js';
import { nativeTest } from '../helpers/native-test.js';

const t = nativeTest.netmapTest;
const names = native.names;

/** nmreq_register.nr_mode values (netmap's net/netmap.h). */
const NR_REG = { DEFAULT: 0, ALL_NIC: 1, SW: 2, NIC_SW: 3, ONE_NIC: 4, PIPE_MASTER: 5, PIPE_SLAVE: 6, NULL: 7, ONE_SW: 8 } as const;
/** nmreq_register.nr_flags bits a port name can set (net/netmap.h). */
const NR_FLAG = { MONITOR_TX: 0x100, MONITOR_RX: 0x200, ZCOPY_MON: 0x400, EXCLUSIVE: 0x800, RX_RINGS_ONLY: 0x2000, TX_RINGS_ONLY: 0x4000 } as const;

function nativeError(name: string): { code: string; message: string } {
  try {
    // names.parse hands netmap* and vale* names to the netmap parser; others go to it directly.
    if (/^(netmap|vale)/.test(name)) names.parse(name);
    else t.parseName(name);
  } catch (e) {
    const err = e as Error & { code: string };
    return { code: err.code, message: err.message };
  }
  throw new Error(`native parser accepted ${name}`);
}

// name -> the fields that matter (the rest must be at their defaults)
const VALID: Array<[string, Record<string, unknown>]> = [
  ['netmap:eth0', { kind: 'nic', kernelName: 'eth0', port: 'eth0', mode: NR_REG.ALL_NIC, modeName: 'ALL_NIC' }],
  ['netmap:eth0-0', { kernelName: 'eth0', mode: NR_REG.ONE_NIC, ringid: 0 }],
  ['netmap:eth0-15', { mode: NR_REG.ONE_NIC, ringid: 15, description: 'netmap interface eth0, NIC ring pair 15' }],
  ['netmap:eth0-4094', { mode: NR_REG.ONE_NIC, ringid: 4094 }],
  ['netmap:eth0^', { mode: NR_REG.SW, modeName: 'SW', description: 'netmap interface eth0, host rings' }],
  ['netmap:eth0^1', { mode: NR_REG.ONE_SW, modeName: 'ONE_SW', ringid: 1 }],
  ['netmap:eth0*', { mode: NR_REG.NIC_SW, modeName: 'NIC_SW' }],
  ['netmap:eth0*/x', { mode: NR_REG.NIC_SW, flags: NR_FLAG.EXCLUSIVE }],
  ['netmap:eth0/R', { flags: NR_FLAG.RX_RINGS_ONLY }],
  ['netmap:eth0/T', { flags: NR_FLAG.TX_RINGS_ONLY }],
  ['netmap:eth0-1/Rx', { mode: NR_REG.ONE_NIC, ringid: 1, flags: NR_FLAG.RX_RINGS_ONLY | NR_FLAG.EXCLUSIVE }],
  ['netmap:eth0/z', { flags: NR_FLAG.ZCOPY_MON, description: 'netmap interface eth0, zero-copy monitor' }],
  ['netmap:eth0/tr', { flags: NR_FLAG.MONITOR_TX | NR_FLAG.MONITOR_RX }],
  ['netmap:eth0/r', { flags: NR_FLAG.MONITOR_RX, description: 'netmap interface eth0, monitor of RX rings' }],
  ['netmap:eth0^/t', { mode: NR_REG.SW, flags: NR_FLAG.MONITOR_TX }],
  ['netmap:eth0@2', { memId: 2 }],
  ['netmap:eth0-1@3/R', { mode: NR_REG.ONE_NIC, ringid: 1, memId: 3, flags: NR_FLAG.RX_RINGS_ONLY }],
  ['netmap:eth0/x@7', { flags: NR_FLAG.EXCLUSIVE, memId: 7 }],
  ['netmap:eth0@2@2', { memId: 2 }],
  ['netmap:x{0', { kind: 'pipe', kernelName: 'x{0', port: 'x', pipe: { master: true, id: '0' } }],
  ['netmap:x}0', { kind: 'pipe', kernelName: 'x}0', pipe: { master: false, id: '0' } }],
  ['netmap:eth0{pipe_1/T', { kind: 'pipe', kernelName: 'eth0{pipe_1', port: 'eth0', pipe: { master: true, id: 'pipe_1' }, flags: NR_FLAG.TX_RINGS_ONLY }],
  ['netmap:x{3', { description: 'netmap pipe master end 3 of x' }],
  ['netmap:x}3-1', { kind: 'pipe', kernelName: 'x}3', mode: NR_REG.ONE_NIC, ringid: 1 }],
  ['vale0:p1', { kind: 'vale', kernelName: 'vale0:p1', port: 'p1', valeSwitch: 'vale0', description: 'netmap port p1 of VALE switch vale0' }],
  ['vale:p', { kind: 'vale', kernelName: 'vale:p', port: 'p', valeSwitch: 'vale' }],
  ['valeBIG_1:Port_2', { kind: 'vale', kernelName: 'valeBIG_1:Port_2', valeSwitch: 'valeBIG_1', port: 'Port_2' }],
  ['vale0:p{2/R', { kind: 'vale', kernelName: 'vale0:p{2', port: 'p', pipe: { master: true, id: '2' }, flags: NR_FLAG.RX_RINGS_ONLY }],
  ['vale0:p1@conf:slots=1024', { kernelName: 'vale0:p1', txSlots: 1024, rxSlots: 1024 }],
  ['vale0:p1@conf:rings=4,slots=512,tx-slots=2048', { txRings: 4, rxRings: 4, txSlots: 2048, rxSlots: 512 }],
  // the specific key wins whatever the order, as in libnetmap
  ['vale0:p1@conf:tx_slots=2048,slots=512', { txSlots: 2048, rxSlots: 512 }],
  ['vale0:p1@conf:tx-rings=2,rx-rings=3', { txRings: 2, rxRings: 3 }],
  ['vale0:p1@conf:host-rings=1', { hostTxRings: 1, hostRxRings: 1 }],
  ['vale0:p1@conf:host_tx_rings=2,host-rx-rings=3', { hostTxRings: 2, hostRxRings: 3 }],
  ['vale0:p1@conf:rx-slots=0', { rxSlots: 0 }],
  ['vale0:p1@conf:', {}],
  ['vale0:p1@conf:slots=1@conf:slots=2', { txSlots: 2, rxSlots: 2 }],
  ['netmap:eth0/R@conf:rings=1', { flags: NR_FLAG.RX_RINGS_ONLY, txRings: 1, rxRings: 1 }],
  ['netmap:eth0@4@conf:slots=64', { memId: 4, txSlots: 64, rxSlots: 64 }],
  ['netmap:e01234567890123', { port: 'e01234567890123' }], // 15 characters: the longest
  ['vale01234567890:p', { kind: 'vale', valeSwitch: 'vale01234567890' }], // 15 characters
];

// Everything a vector does not mention must be at its default.
const DEFAULTS = {
  ringid: 0,
  flags: 0,
  memId: 0,
  txSlots: 0,
  rxSlots: 0,
  txRings: 0,
  rxRings: 0,
  hostTxRings: 0,
  hostRxRings: 0,
};

// name -> [code, a piece of the message]
const INVALID: Array<[string, string, string]> = [
  ['eth0', 'ERR_PORT_BAD_NAME', "it must start with 'netmap:' or 'vale'"],
  ['netmap', 'ERR_PORT_BAD_NAME', "missing ':'"],
  ['netmap;eth0', 'ERR_PORT_BAD_NAME', "missing ':'"],
  ['netmapx:eth0', 'ERR_PORT_BAD_NAME', "nothing may stand between 'netmap' and ':'"],
  ['netmap:', 'ERR_PORT_BAD_NAME', 'the port name is empty'],
  ['netmap:-1', 'ERR_PORT_BAD_NAME', 'the port name is empty'],
  ['netmap:{1', 'ERR_PORT_BAD_NAME', 'the port name is empty'],
  ['netmap:eth0.100', 'ERR_PORT_BAD_NAME', "the port name 'eth0.100' has characters other than letters"],
  ['netmap:veth-a', 'ERR_PORT_BAD_NAME', "expected a ring number after '-'"],
  ['netmap:eth0-', 'ERR_PORT_BAD_NAME', "expected a ring number after '-'"],
  ['netmap:eth0-4095', 'ERR_PORT_BAD_NAME', 'ring number 4095 is out of range (0 to 4094)'],
  ['netmap:eth0-99999999999999999999', 'ERR_PORT_BAD_NAME', 'is out of range (0 to 4094)'],
  ['netmap:eth0-1x', 'ERR_PORT_BAD_NAME', "unexpected 'x' after the ring selection"],
  ['netmap:eth0-1-2', 'ERR_PORT_BAD_NAME', "unexpected '-' after the ring selection"],
  ['netmap:eth0*1', 'ERR_PORT_BAD_NAME', "unexpected '1' after the ring selection"],
  ['netmap:eth0^-1', 'ERR_PORT_BAD_NAME', "unexpected '-' after the ring selection"],
  ['netmap:eth0^^', 'ERR_PORT_BAD_NAME', "unexpected '^' after the ring selection"],
  ['netmap:eth0/', 'ERR_PORT_BAD_NAME', "no flags after '/'"],
  ['netmap:eth0/q', 'ERR_PORT_BAD_NAME', "unknown flag 'q'"],
  ['netmap:eth0/R-1', 'ERR_PORT_BAD_NAME', "unknown flag '-'"],
  ['netmap:eth0/RT', 'ERR_PORT_BAD_NAME', 'flags R and T exclude each other'],
  ['netmap:eth0@', 'ERR_PORT_BAD_NAME', "nothing follows '@'"],
  ['netmap:eth0@0', 'ERR_PORT_BAD_NAME', 'memory region @0 is invalid'],
  ['netmap:eth0@70000', 'ERR_PORT_BAD_NAME', 'memory region @70000 is out of range'],
  ['netmap:eth0@1@2', 'ERR_PORT_BAD_NAME', 'two memory regions (@1 and @2)'],
  ['netmap:eth0@foo', 'ERR_PORT_BAD_NAME', "unknown option '@foo'"],
  ['netmap:eth0@conf', 'ERR_PORT_BAD_NAME', "option '@conf' needs KEY=VALUE pairs"],
  ['netmap:eth0@conf=3', 'ERR_PORT_BAD_NAME', "option '@conf' needs KEY=VALUE pairs"],
  ['netmap:eth0@conf:bogus=1', 'ERR_PORT_BAD_NAME', "unknown @conf key 'bogus'"],
  ['netmap:eth0@conf:slots', 'ERR_PORT_BAD_NAME', "@conf key 'slots' needs a value"],
  ['netmap:eth0@conf:slots=', 'ERR_PORT_BAD_NAME', "@conf key 'slots' needs a value"],
  ['netmap:eth0@conf:slots=12k', 'ERR_PORT_BAD_NAME', "@conf value '12k' for 'slots' is not a number"],
  ['netmap:eth0@conf:slots=-1', 'ERR_PORT_BAD_NAME', "@conf value '-1' for 'slots' is not a number"],
  ['netmap:eth0@conf:rings=65536', 'ERR_PORT_BAD_NAME', "@conf value 65536 for 'rings' is out of range (0 to 65535)"],
  ['netmap:eth0@conf:slots=4294967296', 'ERR_PORT_BAD_NAME', 'out of range (0 to 4294967295)'],
  ['netmap:eth0@conf:slots=1,slots=2', 'ERR_PORT_BAD_NAME', "@conf key 'slots' is given twice"],
  ['netmap:eth0@conf:tx-slots=1,tx_slots=2', 'ERR_PORT_BAD_NAME', "@conf key 'tx_slots' is given twice"],
  ['netmap:eth0@conf:slots=1,', 'ERR_PORT_BAD_NAME', "unknown @conf key ''"],
  ['netmap:eth0@conf:,slots=1', 'ERR_PORT_BAD_NAME', "unknown @conf key ''"],
  ['netmap:eth0@conf:slots=1@', 'ERR_PORT_BAD_NAME', "empty option after '@'"],
  ['netmap:eth0@@', 'ERR_PORT_BAD_NAME', "empty option after '@'"],
  ['netmap:eth0@extmem:file=/tmp/x', 'ERR_PORT_UNSUPPORTED', "option '@extmem' is not supported by nmcap"],
  ['netmap:eth0@share=eth1', 'ERR_PORT_UNSUPPORTED', "option '@share' is not supported by nmcap"],
  ['netmap:x{', 'ERR_PORT_BAD_NAME', "the pipe number after '{' is empty"],
  ['netmap:x}/R', 'ERR_PORT_BAD_NAME', "the pipe number after '}' is empty"],
  ['netmap:x{1{2', 'ERR_PORT_BAD_NAME', "the pipe identifier '1{2' may hold only"],
  ['netmap:x{a.b', 'ERR_PORT_BAD_NAME', "the pipe identifier 'a.b' may hold only"],
  ['netmap:e012345678901234', 'ERR_PORT_BAD_NAME', 'is longer than 15 characters'],
  ['vale0', 'ERR_PORT_BAD_NAME', "missing ':'"],
  ['vale0:', 'ERR_PORT_BAD_NAME', 'the port name is empty'],
  ['vale-0:p1', 'ERR_PORT_BAD_NAME', "the VALE switch name 'vale-0' may hold only letters"],
  ['vale0123456789012:p', 'ERR_PORT_BAD_NAME', "the VALE switch name 'vale0123456789012' is longer than 15"],
  ['vale0:p.1', 'ERR_PORT_BAD_NAME', "the port name 'p.1' has characters other than letters"],
  ['vale0:p1234567890123456', 'ERR_PORT_BAD_NAME', 'is longer than 15 characters'],
  [`netmap:x{${'a'.repeat(62)}`, 'ERR_PORT_BAD_NAME', 'is longer than 63 characters'],
];

describe('other port names', () => {
  it('pipes and interface backends: what the name selects', () => {
    expect(names.parse('pipe:lab{3')).toEqual({ name: 'pipe:lab{3', backend: 'pipe', ifname: null, netmap: null, pipe: { base: 'lab', number: '3', master: true } });
    expect(names.parse('pipe:lab}3').pipe).toEqual({ base: 'lab', number: '3', master: false });
    expect(names.parse('af_packet:eth0')).toMatchObject({ backend: 'af_packet', ifname: 'eth0', pipe: null, netmap: null });
    expect(names.parse('af_xdp:veth1')).toMatchObject({ backend: 'af_xdp', ifname: 'veth1' });
  });

  it.each([['pipe:x'], ['pipe:{1'], ['af_packet:'], ['af_xdp:a/b'], ['af_packet:waytoolonginterfacename'], ['eth0'], ['tap:x']])(
    'refuses %s with ERR_PORT_BAD_NAME and one line',
    (name) => {
      const e = nativeError(name);
      expect(e.code).toBe('ERR_PORT_BAD_NAME');
      expect(e.message).not.toContain('\n');
    },
  );
});

describe('netmap port names', () => {
  it.each(VALID)('parses %s', (name, want) => {
    const parsed = names.parse(name);
    expect(parsed.backend).toBe('netmap');
    const n = parsed.netmap!;
    expect(t.parseName(name)).toEqual(n); // the test hook and the shipped parser are one
    const kind = name.startsWith('vale') ? 'vale' : /[{}]/.test(name) ? 'pipe' : 'nic';
    expect(n.kind).toBe(kind);
    if (!('mode' in want)) expect(n.mode).toBe(NR_REG.ALL_NIC);
    if (kind !== 'vale') expect(n.valeSwitch).toBeNull();
    if (!/[{}]/.test(name)) expect(n.pipe).toBeNull();
    expect(n).toMatchObject({ ...DEFAULTS, name, ...want });
    expect(parsed.ifname).toBe(kind === 'nic' ? n.port : null);
    expect(names.isNetmapName(name)).toBe(true);
  });

  it.each(INVALID)('refuses %s', (name, code, piece) => {
    const e = nativeError(name);
    expect(e.code).toBe(code);
    expect(e.message).toContain(piece);
    expect(e.message).not.toContain('\n');
    if (code === 'ERR_PORT_BAD_NAME') {
      expect(e.message).toMatch(/^bad netmap port name '.*': .* \(.+\)$/); // says what, then what to do
    }
  });

  it('the pipe name limits of 63 characters hold exactly at the edge', () => {
    const ok = `netmap:x{${'a'.repeat(61)}`;
    expect(names.parse(ok).netmap!.kernelName).toHaveLength(63);
  });

  it('recognizes netmap names', () => {
    const cases: Array<[string, boolean]> = [
      ['netmap:eth0', true],
      ['netmap:', true],
      ['vale0:p', true],
      ['vale:p', true],
      ['valeA_1:p', true],
      ['vale0', false],
      ['vale-x:p', false],
      ['eth0', false],
      ['pipe:x{1', false],
      ['af_packet:eth0', false],
      ['net:eth0', false],
    ];
    for (const [name, want] of cases) {
      expect(names.isNetmapName(name), name).toBe(want);
    }
  });
});

// nmreq_header (88 bytes) then nmreq_register (56 bytes)
function decodeRequest(b: Buffer) {
  expect(b.length).toBe(88 + 56);
  const r = 88;
  return {
    version: b.readUInt16LE(0),
    reqtype: b.readUInt16LE(2),
    reserved: b.readUInt32LE(4),
    name: b.subarray(8, 72).toString('latin1').replace(/\0.*$/s, ''),
    nameBytes: b.subarray(8, 72),
    options: b.readBigUInt64LE(72),
    body: b.readBigUInt64LE(80),
    offset: b.readBigUInt64LE(r + 0),
    memsize: b.readBigUInt64LE(r + 8),
    txSlots: b.readUInt32LE(r + 16),
    rxSlots: b.readUInt32LE(r + 20),
    txRings: b.readUInt16LE(r + 24),
    rxRings: b.readUInt16LE(r + 26),
    hostTxRings: b.readUInt16LE(r + 28),
    hostRxRings: b.readUInt16LE(r + 30),
    memId: b.readUInt16LE(r + 32),
    ringid: b.readUInt16LE(r + 34),
    mode: b.readUInt32LE(r + 36),
    extraBufs: b.readUInt32LE(r + 40),
    pad: b.readUInt32LE(r + 44),
    flags: Number(b.readBigUInt64LE(r + 48)),
  };
}

describe('netmap register request', () => {
  it('fills nmreq_header for API 14 NETMAP_REQ_REGISTER with the kernel name', () => {
    const q = decodeRequest(t.registerRequest('netmap:eth0-2/x'));
    expect(q).toMatchObject({
      version: 14,
      reqtype: 1,
      reserved: 0,
      name: 'eth0',
      options: 0n,
      body: 0n, // pointed at the body right before the ioctl
      offset: 0n,
      memsize: 0n,
      mode: NR_REG.ONE_NIC,
      ringid: 2,
      flags: NR_FLAG.EXCLUSIVE,
      memId: 0,
      extraBufs: 0,
      pad: 0,
    });
    expect([...q.nameBytes.subarray(4)].every((x) => x === 0)).toBe(true);
    expect(decodeRequest(t.registerRequest('vale0:p1')).name).toBe('vale0:p1');
    expect(decodeRequest(t.registerRequest('netmap:x}7')).name).toBe('x}7');
    expect(decodeRequest(t.registerRequest('netmap:eth0^1')).mode).toBe(NR_REG.ONE_SW);
    expect(decodeRequest(t.registerRequest('netmap:eth0@9')).memId).toBe(9);
  });

  it('turns the direction into /R or /T unless the name chose', () => {
    expect(decodeRequest(t.registerRequest('netmap:eth0', { direction: 'rx' })).flags).toBe(NR_FLAG.RX_RINGS_ONLY);
    expect(decodeRequest(t.registerRequest('netmap:eth0', { direction: 'tx' })).flags).toBe(NR_FLAG.TX_RINGS_ONLY);
    expect(decodeRequest(t.registerRequest('netmap:eth0', { direction: 'both' })).flags).toBe(0);
    expect(decodeRequest(t.registerRequest('netmap:eth0')).flags).toBe(0);
    expect(decodeRequest(t.registerRequest('netmap:eth0/R', { direction: 'both' })).flags).toBe(NR_FLAG.RX_RINGS_ONLY);
    expect(decodeRequest(t.registerRequest('netmap:eth0/T', { direction: 'tx' })).flags).toBe(NR_FLAG.TX_RINGS_ONLY);
    expect(decodeRequest(t.registerRequest('netmap:eth0/r', { direction: 'rx' })).flags).toBe(
      NR_FLAG.MONITOR_RX | NR_FLAG.RX_RINGS_ONLY,
    );
  });

  it('refuses a name that contradicts the direction, with what to change', () => {
    const cases: Array<[string, 'rx' | 'tx', string]> = [
      ['netmap:eth0/R', 'tx', '/R opens RX rings only, but TX rings are needed here (drop the R flag)'],
      ['netmap:eth0/T', 'rx', '/T opens TX rings only, but RX rings are needed here (drop the T flag)'],
      ['netmap:eth0/t', 'tx', 'monitor ports (/r, /t, /z) only receive'],
    ];
    for (const [name, direction, piece] of cases) {
      expect(() => t.registerRequest(name, { direction }), name).toThrow(
        expect.objectContaining({ code: 'ERR_PORT_BAD_NAME', message: expect.stringContaining(piece) }),
      );
    }
  });

  it('turns a queue into one NIC ring pair, and refuses a clash with the name', () => {
    const q = decodeRequest(t.registerRequest('netmap:eth0', { queue: 3 }));
    expect([q.mode, q.ringid]).toEqual([NR_REG.ONE_NIC, 3]);
    const same = decodeRequest(t.registerRequest('netmap:eth0-3', { queue: 3 }));
    expect([same.mode, same.ringid]).toEqual([NR_REG.ONE_NIC, 3]);
    for (const name of ['netmap:eth0-2', 'netmap:eth0^', 'netmap:eth0*']) {
      expect(() => t.registerRequest(name, { queue: 3 }), name).toThrow(
        expect.objectContaining({ code: 'ERR_PORT_BAD_NAME', message: expect.stringContaining('drop the queue option') }),
      );
    }
    expect(() => t.registerRequest('netmap:eth0', { queue: 4095 })).toThrow(
      expect.objectContaining({ code: 'ERR_PORT_BAD_NAME' }),
    );
  });

  it('asks for ring sizes only on ports the open creates (VALE ports, pipes); @conf wins', () => {
    const v = decodeRequest(t.registerRequest('vale0:p1', { txSlots: 256, rxSlots: 512 }));
    expect([v.txSlots, v.rxSlots]).toEqual([256, 512]);
    const c = decodeRequest(t.registerRequest('vale0:p1@conf:tx-slots=1024', { txSlots: 256, rxSlots: 512 }));
    expect([c.txSlots, c.rxSlots]).toEqual([1024, 512]);
    const p = decodeRequest(t.registerRequest('netmap:x{1', { txSlots: 64, rxSlots: 64 }));
    expect([p.txSlots, p.rxSlots]).toEqual([64, 64]);
    const nic = decodeRequest(t.registerRequest('netmap:eth0', { txSlots: 256, rxSlots: 512 }));
    expect([nic.txSlots, nic.rxSlots]).toEqual([0, 0]);
    const conf = decodeRequest(t.registerRequest('vale0:p1@conf:rings=2,host-rings=1,slots=128'));
    expect(conf).toMatchObject({ txRings: 2, rxRings: 2, hostTxRings: 1, hostRxRings: 1, txSlots: 128, rxSlots: 128 });
  });
});
