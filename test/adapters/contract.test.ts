import { adapterContract, memoryBackend, postgresBackend, redisBackend } from './contract.ts';

adapterContract('postgres', postgresBackend);
adapterContract('redis', redisBackend);
adapterContract('memory', memoryBackend);
