export {
  type RawAnswer as Answer,
  type RawRequest as Sent,
  rawRequest as call,
  until,
} from '../../src/rawRequest';
export { seededRandom as prng } from '../../src/seededRandom';
