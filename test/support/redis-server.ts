export { freePort, startRedis, type ThrowAwayRedis } from '../../src/demo/redis-server.js';
