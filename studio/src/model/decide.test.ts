import { describe, expect, it } from 'vitest';
import { addInput, addRule, cellText, cellValue, emptyTable, parseThen, removeInput, removeRule, setCell, setInput, setThen } from './decide';

describe('decision tables', () => {
  it('reads a cell as the engine will: any, lists, numbers, booleans, comparisons and ranges', () => {
    expect(cellValue('')).toBe('-');
    expect(cellValue(' - ')).toBe('-');
    expect(cellValue('gold')).toBe('gold');
    expect(cellValue('15')).toBe(15);
    expect(cellValue('-2.5')).toBe(-2.5);
    expect(cellValue('true')).toBe(true);
    expect(cellValue('>= 100')).toBe('>= 100');
    expect(cellValue('[50..100)')).toBe('[50..100)');
    expect(cellValue('silver, bronze')).toEqual(['silver', 'bronze']);
    expect(cellValue('1, 2')).toEqual([1, 2]);
    for (const text of ['gold', '>= 100', '[50..100)', 'silver, bronze', '-', '15']) expect(cellText(cellValue(text))).toBe(text);
    expect(cellText(null)).toBe('-');
  });

  it('edits cells, columns, rules and fields immutably', () => {
    const start = emptyTable();
    let table = setInput(start, 0, 'tier');
    table = addInput(table);
    table = setInput(table, 1, 'total');
    table = setCell(table, 0, 0, 'gold');
    table = setCell(table, 0, 1, '>= 100');
    table = setThen(table, 0, { discount: 15 });
    table = addRule(table);
    expect(table).toEqual({
      hit: 'first',
      inputs: ['tier', 'total'],
      rules: [
        { when: ['gold', '>= 100'], then: { discount: 15 } },
        { when: ['-', '-'], then: {} },
      ],
    });
    expect(start).toEqual(emptyTable());
    expect(removeInput(table, 0)).toEqual({ hit: 'first', inputs: ['total'], rules: [{ when: ['>= 100'], then: { discount: 15 } }, { when: ['-'], then: {} }] });
    expect(removeRule(table, 0).rules).toEqual([{ when: ['-', '-'], then: {} }]);
  });

  it('takes fields as a JSON object only', () => {
    expect(parseThen('{"discount": 10}')).toEqual({ ok: true, then: { discount: 10 } });
    expect(parseThen('[1]').ok).toBe(false);
    expect(parseThen('{discount').ok).toBe(false);
  });
});
