import { metricByLabel, metricValue } from './metrics-text';

const TEXT = `# HELP mmctr_x_total Things.
# TYPE mmctr_x_total counter
mmctr_x_total{reason="history"} 10
mmctr_x_total{app="scorer",reason="items"} 2
mmctr_x_total{reason="say \\"hi\\""} 1
mmctr_x_total_other{reason="history"} 99
mmctr_y 4.5
`;

describe('Prometheus text', () => {
  it('reads one series, 0 when it is absent', () => {
    expect(metricValue(TEXT, 'mmctr_x_total{reason="history"}')).toBe(10);
    expect(metricValue(TEXT, 'mmctr_y')).toBe(4.5);
    expect(metricValue(TEXT, 'mmctr_x_total{reason="aggregates"}')).toBe(0);
  });

  it("reads a metric's series by one label, whatever the other labels, and no other metric", () => {
    expect(metricByLabel(TEXT, 'mmctr_x_total', 'reason')).toEqual(
      new Map([
        ['history', 10],
        ['items', 2],
        ['say \\"hi\\"', 1],
      ]),
    );
    expect(metricByLabel(TEXT, 'mmctr_x_total', 'missing')).toEqual(new Map());
    expect(metricByLabel(TEXT, 'mmctr_y', 'reason')).toEqual(new Map());
  });
});
