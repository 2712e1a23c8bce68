// A labelled choice among workflow ids, with one entry for none.
export function WorkflowSelect({ value, ids, none, onChange }: { value: string; ids: string[]; none: string; onChange: (id: string) => void }) {
  return (
    <label>
      Workflow{' '}
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{none}</option>
        {ids.map((id) => (
          <option key={id} value={id}>
            {id}
          </option>
        ))}
      </select>
    </label>
  );
}
