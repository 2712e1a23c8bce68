// Load something once per key, with its error: the screens' one data hook.
import { useEffect, useState } from 'react';

export type Loaded<T> = { state: 'loading' } | { state: 'ready'; value: T } | { state: 'failed'; error: string };

export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
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
    // `load` is recreated each render; `key` says when to load again.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return loaded.key === key ? loaded.result : { state: 'loading' };
}
