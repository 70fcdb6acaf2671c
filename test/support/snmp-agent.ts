export { startSnmpAgent, type SnmpAgent, type SnmpAgentOptions, type SnmpAgentV3User } from '../../src/demo/snmp-agent.js';
