import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * "Sites" for multi-site tests: each a network namespace `ipms-<name>-<pid>` holding devices as
 * addresses on its loopback (addresses that may repeat from site to site, as private networks
 * do), joined to the host by a veth pair on a link-local /30. The kernel answers ICMP for the
 * devices; SNMP agents run inside the namespace. The device subnet is also routed onto a veth
 * pair inside the namespace, with a permanent neighbour entry per device pointing at a MAC no
 * interface has: once a device's address is removed, its packets go there and are dropped
 * without a word (no ARP failure, no ICMP error), as if the device were unplugged.
 *
 * Traffic stays inside these namespaces and their veths. Needs root (CAP_NET_ADMIN) and `ip`.
 */
export const canCreateSites = process.getuid?.() === 0 && spawnSync('ip', ['-V']).status === 0;

const DIST = resolve(import.meta.dirname, '../../dist');

export interface Site {
  name: string;
  netns: string;
  /** The host's end of the veth: Redis and the inventory are relayed there for the site. */
  hostAddress: string;
  /** The namespace's end: the site worker's /metrics listens there. */
  siteAddress: string;
  /** Makes a device silent (no ICMP, no SNMP) or answering again. */
  setReachable(address: string, reachable: boolean): void;
  /** A TCP relay on `hostAddress` to a service on the host's 127.0.0.1; returns its port. */
  relay(targetPort: number): Promise<number>;
  /** Real SNMP agents on `addresses` inside the namespace, all on port 161, reporting `uptimeTicks`. */
  startAgents(addresses: string[], community: string, uptimeTicks: number): Promise<void>;
  remove(): Promise<void>;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
}

const AGENTS_SCRIPT = `
const { startSnmpAgent } = await import(${JSON.stringify(`${DIST}/demo/snmp-agent.js`)});
const [community, ticks, ...addresses] = process.argv.slice(2);
const agents = [];
for (const address of addresses) {
  const agent = await startSnmpAgent({ address, port: 161, community });
  agent.setUptimeTicks(Number(ticks));
  agents.push(agent);
}
console.log('ready');
// The test's end of stdin closing (or the test dying) ends the agents.
process.stdin.resume();
process.stdin.on('close', () => process.exit(0));
`;

/**
 * Creates site `index` (1..180) named `name`, with `devices` addresses (e.g. 10.77.0.1) in `subnet`
 * (the sink's own address and prefix, e.g. 10.77.0.254/24). Everything is undone by `remove`, and by
 * process exit if the test never gets there.
 */
export function createSite(name: string, index: number, subnet: string, devices: string[]): Site {
  const netns = `ipms-${name}-${process.pid}`;
  const hostIf = `ipms${index}h${process.pid}`.slice(0, 15);
  const siteIf = `ipms${index}n${process.pid}`.slice(0, 15);
  const hostAddress = `169.254.${70 + index}.1`;
  const siteAddress = `169.254.${70 + index}.2`;
  const relays: Server[] = [];
  const sockets = new Set<Socket>();
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), `ipms-${name}-`));
  let removed = false;
  const removeSync = () => {
    if (removed) return;
    removed = true;
    for (const child of children) child.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', netns]);
    spawnSync('ip', ['link', 'del', hostIf], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', removeSync);
  try {
    ip(['netns', 'add', netns]);
    ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', siteIf]);
    ip(['link', 'set', siteIf, 'netns', netns]);
    ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostIf]);
    ip(['link', 'set', hostIf, 'up']);
    ip(['-n', netns, 'addr', 'add', `${siteAddress}/30`, 'dev', siteIf]);
    ip(['-n', netns, 'link', 'set', siteIf, 'up']);
    ip(['-n', netns, 'link', 'add', 'sink0', 'type', 'veth', 'peer', 'name', 'sink1']);
    ip(['-n', netns, 'link', 'set', 'sink0', 'up']);
    ip(['-n', netns, 'link', 'set', 'sink1', 'up']);
    ip(['-n', netns, 'addr', 'add', subnet, 'dev', 'sink0']);
    for (const address of devices) {
      ip(['-n', netns, 'neigh', 'replace', address, 'lladdr', '02:00:00:00:00:01', 'dev', 'sink0', 'nud', 'permanent']);
      ip(['-n', netns, 'addr', 'add', `${address}/32`, 'dev', 'lo']);
    }
  } catch (err) {
    removeSync();
    throw err;
  }
  return {
    name,
    netns,
    hostAddress,
    siteAddress,
    setReachable(address, reachable) {
      ip(['-n', netns, 'addr', reachable ? 'add' : 'del', `${address}/32`, 'dev', 'lo']);
    },
    async relay(targetPort) {
      const server = createServer((inbound) => {
        const outbound = createConnection({ host: '127.0.0.1', port: targetPort });
        for (const s of [inbound, outbound]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {
            inbound.destroy();
            outbound.destroy();
          });
        }
        inbound.pipe(outbound).pipe(inbound);
      });
      relays.push(server);
      await new Promise<void>((done, fail) => server.once('error', fail).listen(0, hostAddress, () => done()));
      return (server.address() as AddressInfo).port;
    },
    async startAgents(addresses, community, uptimeTicks) {
      const script = join(dir, 'agents.mjs');
      writeFileSync(script, AGENTS_SCRIPT);
      const child = spawn('ip', ['netns', 'exec', netns, process.execPath, script, community, String(uptimeTicks), ...addresses], { stdio: ['pipe', 'pipe', 'pipe'] });
      children.push(child);
      let err = '';
      child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
      await new Promise<void>((done, fail) => {
        child.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && done());
        child.once('exit', (code) => fail(new Error(`SNMP agents in ${netns} exited (${code}): ${err}`)));
      });
    },
    async remove() {
      for (const s of sockets) s.destroy();
      await Promise.all(relays.map((r) => new Promise((done) => r.close(done))));
      removeSync();
      process.removeListener('exit', removeSync);
    },
  };
}
