export { TemplateMiner, type MinerMatch, type MinerOptions, type MinerStats, type MinerState } from './miner.ts';
export { saveMiner, loadMiner, minerKey } from './persist.ts';
export { WILDCARD, type ExtraMask } from './tokenize.ts';
