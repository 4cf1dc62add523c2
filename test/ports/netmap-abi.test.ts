// The netmap ABI as compiled into the addon (native/ports/netmap/netmap_abi.h) against the documented values:
// API 14, ioctl numbers on x86_64 Linux, struct sizes and field offsets (LP64).
import { arch } from 'node:os';
import { describe, expect, it } from 'vitest';
import { nativeTest as native } from '../helpers/native-test.js';

const L = native.netmapTest.layout();

describe('netmap ABI', () => {
  it('speaks API 14 (the module accepts 14 to 15)', () => {
    expect(L.api).toEqual({ version: 14, min: 14, max: 15 });
  });

  it.skipIf(arch() !== 'x64' && arch() !== 'arm64')('computes the documented ioctl numbers', () => {
    expect(L.ioctls).toEqual({
      NIOCGINFO: 0xc03c6991,
      NIOCREGIF: 0xc03c6992,
      NIOCTXSYNC: 0x6994,
      NIOCRXSYNC: 0x6995,
      NIOCCONFIG: 0xc1106996,
      NIOCCTRL: 0xc0586997,
    });
  });

  it('has the documented struct sizes', () => {
    expect(L.sizes).toEqual({
      nmreq_header: 88,
      nmreq_register: 56,
      nmreq_option: 24,
      nmreq_pools_info: 64,
      nmreq_legacy: 60,
      netmap_slot: 16,
      netmap_ring: 256,
      netmap_if: 56,
      timeval: 16,
    });
  });

  it('has the documented field offsets', () => {
    expect(L.offsets).toEqual({
      'nmreq_header.nr_version': 0,
      'nmreq_header.nr_reqtype': 2,
      'nmreq_header.nr_reserved': 4,
      'nmreq_header.nr_name': 8,
      'nmreq_header.nr_options': 72,
      'nmreq_header.nr_body': 80,
      'nmreq_register.nr_offset': 0,
      'nmreq_register.nr_memsize': 8,
      'nmreq_register.nr_tx_slots': 16,
      'nmreq_register.nr_rx_slots': 20,
      'nmreq_register.nr_tx_rings': 24,
      'nmreq_register.nr_rx_rings': 26,
      'nmreq_register.nr_host_tx_rings': 28,
      'nmreq_register.nr_host_rx_rings': 30,
      'nmreq_register.nr_mem_id': 32,
      'nmreq_register.nr_ringid': 34,
      'nmreq_register.nr_mode': 36,
      'nmreq_register.nr_extra_bufs': 40,
      'nmreq_register.nr_flags': 48,
      'nmreq_option.nro_next': 0,
      'nmreq_option.nro_reqtype': 8,
      'nmreq_option.nro_status': 12,
      'nmreq_option.nro_size': 16,
      'netmap_slot.buf_idx': 0,
      'netmap_slot.len': 4,
      'netmap_slot.flags': 6,
      'netmap_slot.ptr': 8,
      'netmap_ring.buf_ofs': 0,
      'netmap_ring.num_slots': 8,
      'netmap_ring.nr_buf_size': 12,
      'netmap_ring.ringid': 16,
      'netmap_ring.dir': 18,
      'netmap_ring.head': 20,
      'netmap_ring.cur': 24,
      'netmap_ring.tail': 28,
      'netmap_ring.flags': 32,
      'netmap_ring.ts': 40,
      'netmap_ring.offset_mask': 56,
      'netmap_ring.buf_align': 64,
      'netmap_ring.sem': 128,
      'netmap_ring.slot': 256,
      'netmap_if.ni_name': 0,
      'netmap_if.ni_version': 16,
      'netmap_if.ni_flags': 20,
      'netmap_if.ni_tx_rings': 24,
      'netmap_if.ni_rx_rings': 28,
      'netmap_if.ni_bufs_head': 32,
      'netmap_if.ni_host_tx_rings': 36,
      'netmap_if.ni_host_rx_rings': 40,
      'netmap_if.ring_ofs': 56,
    });
  });

  it('has the documented constants', () => {
    expect(L.constants).toEqual({
      NETMAP_REQ_REGISTER: 1,
      NETMAP_REQ_POOLS_INFO_GET: 12,
      NETMAP_REQ_CSB_ENABLE: 15,
      NETMAP_REQ_OPT_OFFSETS: 5,
      NR_REG_ALL_NIC: 1,
      NR_REG_SW: 2,
      NR_REG_NIC_SW: 3,
      NR_REG_ONE_NIC: 4,
      NR_REG_PIPE_MASTER: 5,
      NR_REG_PIPE_SLAVE: 6,
      NR_REG_NULL: 7,
      NR_REG_ONE_SW: 8,
      NR_MONITOR_TX: 0x100,
      NR_MONITOR_RX: 0x200,
      NR_ZCOPY_MON: 0x400,
      NR_EXCLUSIVE: 0x800,
      NR_RX_RINGS_ONLY: 0x2000,
      NR_TX_RINGS_ONLY: 0x4000,
      NR_ACCEPT_VNET_HDR: 0x8000,
      NR_DO_RX_POLL: 0x10000,
      NR_NO_TX_POLL: 0x20000,
      NR_TIMESTAMP: 0x2,
      NR_FORWARD: 0x4,
      NS_BUF_CHANGED: 0x1,
      NS_REPORT: 0x2,
      NS_FORWARD: 0x4,
      NS_NO_LEARN: 0x8,
      NS_INDIRECT: 0x10,
      NS_MOREFRAG: 0x20,
      NS_TXMON: 0x40,
      NETMAP_RING_MASK: 0x0fff,
      NETMAP_REQ_IFNAMSIZ: 64,
    });
  });
});
