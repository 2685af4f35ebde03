export { parseGoDuration } from './goDuration';
