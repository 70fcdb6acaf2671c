import { describe, it, expect } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { Secret } from '../../src/config/secret.js';
import type { Config, SnmpV3Config } from '../../src/config/types.js';
import type { Device } from '../../src/inventory/device.js';
import { snmpCredentialsFor } from '../../src/probes/credentials.js';

type SnmpSettings = Config['probes']['snmp'];

function config(snmp: Partial<Omit<SnmpSettings, 'v3'>> & { v3?: Partial<SnmpV3Config> } = {}): Config {
  const base = DEFAULTS as unknown as Config;
  const v3 = { ...base.probes.snmp.v3, ...snmp.v3 };
  return { ...base, probes: { ...base.probes, snmp: { ...base.probes.snmp, ...snmp, v3 } } };
}

function device(snmpCommunity?: string): Device {
  return { id: 9, name: 'sw-9', target: '10.0.0.9', organization: null, type: null, inventoryStatus: true, updatedAt: null, snmpCommunity };
}

const v3Complete = { user: 'prober', auth_key: new Secret('auth-key-1'), priv_key: new Secret('priv-key-1'), auth_protocol: 'sha256', priv_protocol: 'aes' } as const;

describe('snmpCredentialsFor v1/v2c', () => {
  it('uses the device\'s own community from the inventory first', () => {
    expect(snmpCredentialsFor(device('dev-comm'), config({ community: new Secret('default-comm') }))).toEqual({ version: '2c', community: 'dev-comm' });
  });

  it('falls back to the configured community, revealed from its Secret', () => {
    expect(snmpCredentialsFor(device(), config({ version: '1', community: new Secret('default-comm') }))).toEqual({ version: '1', community: 'default-comm' });
  });

  it('gives no credentials (ICMP only) when neither the device nor the config has a community', () => {
    expect(snmpCredentialsFor(device(), config({ community: undefined }))).toBeUndefined();
  });

  it('treats an empty configured community as none', () => {
    expect(snmpCredentialsFor(device(), config({ community: new Secret('') }))).toBeUndefined();
  });

  it('gives no credentials when SNMP is disabled', () => {
    expect(snmpCredentialsFor(device('dev-comm'), config({ enabled: false }))).toBeUndefined();
  });
});

describe('snmpCredentialsFor v3', () => {
  it('builds authPriv credentials from probes.snmp.v3 with both keys revealed', () => {
    expect(snmpCredentialsFor(device(), config({ version: '3', v3: v3Complete }))).toEqual({
      version: '3',
      user: 'prober',
      authProtocol: 'sha256',
      authKey: 'auth-key-1',
      privProtocol: 'aes',
      privKey: 'priv-key-1',
    });
  });

  it('ignores the device community: the inventory carries no v3 settings', () => {
    expect(snmpCredentialsFor(device('dev-comm'), config({ version: '3', v3: v3Complete }))).toMatchObject({ version: '3', user: 'prober' });
  });

  it('gives no credentials when the user is missing', () => {
    expect(snmpCredentialsFor(device(), config({ version: '3', v3: { ...v3Complete, user: '' } }))).toBeUndefined();
  });

  it('gives no credentials when a key is missing', () => {
    expect(snmpCredentialsFor(device(), config({ version: '3', v3: { ...v3Complete, auth_key: undefined } }))).toBeUndefined();
    expect(snmpCredentialsFor(device(), config({ version: '3', v3: { ...v3Complete, priv_key: undefined } }))).toBeUndefined();
  });
});
