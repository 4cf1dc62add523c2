// What a VALE learning switch delivers, as netmap_vale.c specifies it (netmap.md §3): frames under
// 14 bytes are dropped; a unicast source MAC is learnt at its ingress port; a known unicast
// destination goes to its port only, and nowhere if that is the ingress port; everything else
// floods to every port but the ingress one. The regression suite compares captures with this.

export interface SwitchEvent {
  /** ingress port name */
  port: string;
  frame: Buffer;
}

const mac = (f: Buffer, at: number): string => f.subarray(at, at + 6).toString('hex');
const isGroup = (f: Buffer, at: number): boolean => (f[at]! & 1) === 1;

/** The frames each of `ports` receives, in order, for events in order. */
export function switchDeliveries(events: SwitchEvent[], ports: string[]): Map<string, Buffer[]> {
  const table = new Map<string, string>(); // MAC -> port
  const out = new Map<string, Buffer[]>(ports.map((p) => [p, []]));
  for (const { port, frame } of events) {
    if (frame.length < 14) continue;
    if (!isGroup(frame, 6)) table.set(mac(frame, 6), port);
    const known = isGroup(frame, 0) ? undefined : table.get(mac(frame, 0));
    if (known !== undefined) {
      if (known !== port) out.get(known)?.push(frame);
      continue;
    }
    for (const p of ports) if (p !== port) out.get(p)!.push(frame);
  }
  return out;
}
