import type { Config } from '../config/types.js';
import type { Device } from '../inventory/device.js';
import type { SnmpCredentials } from './types.js';

/**
 * The SNMP credentials to probe `device` with, or undefined when there are none: such a device
 * is checked by ICMP alone (and SNMP never counts against it).
 *
 * - v1/v2c: the device's own community from the inventory, else the configured default.
 * - v3: the configured user with both keys; the inventory has no per-device v3 settings, and
 *   authPriv without a key cannot be spoken, so a partial v3 setup means no SNMP.
 *
 * This is one of the few places a Secret is revealed: the values go straight to net-snmp.
 */
export function snmpCredentialsFor(device: Device, config: Config): SnmpCredentials | undefined {
  const snmp = config.probes.snmp;
  if (!snmp.enabled) return undefined;
  if (snmp.version === '3') return v3Credentials(snmp.v3);
  const community = nonEmpty(device.snmpCommunity) ?? nonEmpty(snmp.community?.reveal());
  return community === undefined ? undefined : { version: snmp.version, community };
}

function v3Credentials(v3: Config['probes']['snmp']['v3']): SnmpCredentials | undefined {
  const user = nonEmpty(v3.user);
  const authKey = nonEmpty(v3.auth_key?.reveal());
  const privKey = nonEmpty(v3.priv_key?.reveal());
  if (user === undefined || authKey === undefined || privKey === undefined) return undefined;
  return { version: '3', user, authProtocol: v3.auth_protocol, authKey, privProtocol: v3.priv_protocol, privKey };
}

// An empty community or key would only ever time out; treat it as "not configured".
const nonEmpty = (value: string | undefined): string | undefined => (value ? value : undefined);
