// The inspector of a decision-table node: its rules as a table, a row per
// rule and a column per input, and each rule's fields as JSON.
import { useState } from 'react';
import {
  addInput,
  addRule,
  cellText,
  parseThen,
  removeInput,
  removeRule,
  setCell,
  setInput,
  setThen,
  thenText,
  type DecisionTable,
  type Rule,
} from '../model/decide';

type Props = { table: DecisionTable; onChange: (table: DecisionTable) => void };

export function DecisionTableEditor({ table, onChange }: Props) {
  return (
    <fieldset className="decision-table">
      <legend>Decision table</legend>
      <label>
        Hit policy{' '}
        <select value={table.hit ?? 'first'} onChange={(e) => onChange({ ...table, hit: e.target.value as DecisionTable['hit'] })}>
          <option value="first">first: the first rule that matches</option>
          <option value="unique">unique: rules may not overlap</option>
          <option value="collect">collect: every rule that matches</option>
        </select>
      </label>
      <table>
        <thead>
          <tr>
            <th scope="col">#</th>
            {table.inputs.map((input, column) => (
              <th scope="col" key={`input:${column}`}>
                <input aria-label={`Input ${column + 1}`} value={input} onChange={(e) => onChange(setInput(table, column, e.target.value))} />
                {table.inputs.length > 1 && (
                  <button type="button" aria-label={`Remove input ${column + 1}`} onClick={() => onChange(removeInput(table, column))}>
                    ×
                  </button>
                )}
              </th>
            ))}
            <th scope="col">Then (JSON)</th>
            <th scope="col">
              <button type="button" onClick={() => onChange(addInput(table))}>
                Add input
              </button>
            </th>
          </tr>
        </thead>
        <tbody>
          {table.rules.map((rule, r) => (
            <tr key={`rule:${r}`}>
              <th scope="row">{r + 1}</th>
              {rule.when.map((cell, column) => (
                <td key={`cell:${r}:${column}:${cellText(cell)}`}>
                  <CellField label={`Rule ${r + 1}, ${table.inputs[column] ?? `input ${column + 1}`}`} text={cellText(cell)} onCommit={(text) => onChange(setCell(table, r, column, text))} />
                </td>
              ))}
              <td>
                <ThenField key={`then:${r}:${thenText(rule)}`} label={`Rule ${r + 1} sets`} rule={rule} onCommit={(then) => onChange(setThen(table, r, then))} />
              </td>
              <td>
                <button type="button" aria-label={`Remove rule ${r + 1}`} onClick={() => onChange(removeRule(table, r))}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" onClick={() => onChange(addRule(table))}>
        Add rule
      </button>
      <p className="meta">
        A cell: <code>-</code> (any), a value, <code>&gt;= 100</code>, <code>[10..20)</code>, or <code>a, b</code> (one of them).
      </p>
    </fieldset>
  );
}

/** A cell's text, committed when it loses focus (a half-typed `>=` is not a value yet). */
function CellField({ label, text, onCommit }: { label: string; text: string; onCommit: (text: string) => void }) {
  const [draft, setDraft] = useState(text);
  return <input aria-label={label} value={draft} onChange={(e) => setDraft(e.target.value)} onBlur={() => draft !== text && onCommit(draft)} />;
}

/** A rule's fields as JSON, committed when valid. */
function ThenField({ label, rule, onCommit }: { label: string; rule: Rule; onCommit: (then: Rule['then']) => void }) {
  const [draft, setDraft] = useState(thenText(rule));
  const parsed = parseThen(draft);
  return (
    <>
      <input
        aria-label={label}
        aria-invalid={!parsed.ok}
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
        onBlur={() => parsed.ok && draft !== thenText(rule) && onCommit(parsed.then)}
      />
      {!parsed.ok && <span role="alert">{parsed.error}</span>}
    </>
  );
}
