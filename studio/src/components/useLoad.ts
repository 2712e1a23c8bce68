// Load something per key, with its error: the screens' one data hook.
// A new `key` (another workflow, another execution) shows `loading` until it
// arrives; a new `generation` of the same key (reload after a change) keeps
// showing what was loaded until the fresh value replaces it.
import { useEffect, useState } from 'react';

export type Loaded<T> = { state: 'loading' } | { state: 'ready'; value: T } | { state: 'failed'; error: string };

export function useLoad<T>(load: () => Promise<T>, key: string, generation = 0): Loaded<T> {
  const [loaded, setLoaded] = useState<{ key: string; result: Loaded<T> }>({ key, result: { state: 'loading' } });
  useEffect(() => {
    let live = true;
    load().then(
      (value) => live && setLoaded({ key, result: { state: 'ready', value } }),
      (e: unknown) => live && setLoaded({ key, result: { state: 'failed', error: e instanceof Error ? e.message : String(e) } }),
    );
    return () => {
      live = false;
    };
    // `load` is recreated each render; `key` and `generation` say when to load again.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, generation]);
  return loaded.key === key ? loaded.result : { state: 'loading' };
}
