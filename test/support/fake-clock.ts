export { FakeClock } from '../../src/ha/fake-clock.ts';
