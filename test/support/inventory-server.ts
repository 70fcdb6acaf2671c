import type { FakeDevice } from '../../src/demo/inventory-server.js';

export * from '../../src/demo/inventory-server.js';

/**
 * A device as the spec shows it, on loopback so any probe a test triggers stays on 127.0.0.0/8:
 * device `id` gets hostname 127.0.x.y derived from its id.
 */
export function fakeDevice(id: number, overrides: Partial<FakeDevice> = {}): FakeDevice {
  return {
    id,
    name: `device-${id}`,
    hostname: `127.0.${Math.floor(id / 250) % 250}.${(id % 250) + 1}`,
    serial_number: `SN-${id}`,
    type: { id: 1, name: 'Router', model: 'Test ISR' },
    organization: { id: 123, name: 'Headquarters Network' },
    status: true,
    last_status_change: '2024-01-15T08:30:00Z',
    pending_config: false,
    location: 'Lab',
    created_at: '2024-01-10T14:20:00Z',
    updated_at: '2024-01-15T08:30:00Z',
    ...overrides,
  };
}

/** `n` devices with ids 1..n (or from `firstId`). */
export function fakeFleet(n: number, firstId = 1, overrides: Partial<FakeDevice> = {}): FakeDevice[] {
  return Array.from({ length: n }, (_, i) => fakeDevice(firstId + i, overrides));
}
