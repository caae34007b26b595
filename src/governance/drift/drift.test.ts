import { describe, expect, it } from 'vitest';
import { slope } from './drift.js';

describe('drift helpers', () => {
  it('fits a least-squares slope', () => {
    expect(slope([])).toBeNull();
    expect(slope([{ x: 0, y: 1 }])).toBeNull();
    expect(
      slope([
        { x: 1, y: 1 },
        { x: 1, y: 2 },
      ]),
    ).toBeNull();
    expect(
      slope([
        { x: 0, y: 0.5 },
        { x: 1, y: 0.55 },
        { x: 2, y: 0.6 },
      ]),
    ).toBeCloseTo(0.05, 10);
    expect(
      slope([
        { x: -6, y: 0.9 },
        { x: -3, y: 0.6 },
        { x: 0, y: 0.3 },
      ]),
    ).toBeCloseTo(-0.1, 10);
    // Noise around a flat line has (close to) no slope.
    expect(
      Math.abs(
        slope([
          { x: 0, y: 0.8 },
          { x: 1, y: 0.9 },
          { x: 2, y: 0.8 },
          { x: 3, y: 0.9 },
          { x: 4, y: 0.85 },
        ])!,
      ),
    ).toBeLessThan(0.02);
  });
});
