// Types for the pcap-parser devDependency (it ships none); only what the cross-check tests use.
declare module 'pcap-parser' {
  import type { EventEmitter } from 'node:events';
  export interface PacketHeader {
    timestampSeconds: number;
    timestampMicroseconds: number;
    capturedLength: number;
    originalLength: number;
  }
  export interface GlobalHeader {
    magicNumber: number;
    majorVersion: number;
    minorVersion: number;
    snapshotLength: number;
    linkLayerType: number;
  }
  export function parse(input: string | NodeJS.ReadableStream): EventEmitter;
}
