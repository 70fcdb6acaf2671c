import type { FakeDevice } from './fake-inventory.js';

const ORGANIZATIONS = [
  { id: 101, name: 'Headquarters Network' },
  { id: 102, name: 'Branch North' },
  { id: 103, name: 'Branch South' },
];
const TYPES = [
  { id: 1, name: 'Router', model: 'Demo ISR 4451' },
  { id: 2, name: 'Switch', model: 'Demo Catalyst 2960' },
  { id: 3, name: 'Firewall', model: 'Demo FortiGate 600E' },
];

export const DEMO_COMMUNITY = 'demo-public';

/**
 * The demo's fleet: devices on loopback addresses 127.0.20.x (every 127/8 address answers
 * ICMP on Linux), spread over organizations and types, each with its own SNMP community in
 * the detail record as the spec shows.
 */
export function demoFleet(size: number): FakeDevice[] {
  const prefixes = { 1: 'core-router', 2: 'access-switch', 3: 'edge-firewall' } as Record<number, string>;
  return Array.from({ length: size }, (_, i) => {
    const type = TYPES[i % TYPES.length] as (typeof TYPES)[number];
    const organization = ORGANIZATIONS[Math.floor(i / 3) % ORGANIZATIONS.length] as (typeof ORGANIZATIONS)[number];
    const address = `127.0.20.${i + 1}`;
    return {
      id: 1001 + i,
      name: `${prefixes[type.id]}-${String(i + 1).padStart(2, '0')}`,
      hostname: address,
      management_ip: address,
      snmp_community: DEMO_COMMUNITY,
      serial_number: `DEMO-${1001 + i}`,
      type,
      organization,
      status: true,
      last_status_change: '2026-01-01T00:00:00Z',
      pending_config: false,
      location: `Demo rack ${(i % 5) + 1}`,
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
    };
  });
}
