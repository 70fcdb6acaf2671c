/**
 * A device as the prober uses it: parsed, validated, and small enough to travel in a queue job.
 * Only `snmpCommunity` is sensitive; it is never logged and never a metric label.
 */
export interface Device {
  id: number;
  name: string;
  /** `management_ip` if set, else `hostname`; always a validated IP literal or RFC 1123 hostname. */
  target: string;
  organization: { id: number; name: string } | null;
  type: { id: number; name: string } | null;
  /** The status the inventory reported in this sweep; null when it had none. */
  inventoryStatus: boolean | null;
  updatedAt: string | null;
  /** The device's own community from the inventory; undefined means "use the configured default". */
  snmpCommunity: string | undefined;
}

/** A device without its community: what a probe job carries, and all the figures and logs need. */
export type DeviceWithoutCommunity = Omit<Device, 'snmpCommunity'>;

/** Labels that identify a device in logs and metrics; never contains secrets. */
export const deviceLabels = (d: Pick<Device, 'id' | 'name' | 'organization' | 'type'>) => ({
  deviceId: d.id,
  device: d.name,
  organization: d.organization?.name ?? '',
  type: d.type?.name ?? '',
});
