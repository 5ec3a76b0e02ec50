'use client';

import { useState } from 'react';

// import()s a client component on click: its chunk is fetched only then.
export default function LazyLoader() {
  const [Panel, setPanel] = useState(null);
  const [error, setError] = useState('');
  function load() {
    import('./LazyPanel')
      .then((m) => setPanel(() => m.default))
      .catch((e) => setError(`${e?.name}: ${e?.message}`));
  }
  return (
    <div>
      <button id="lazy-button" onClick={load}>Load the lazy component</button>
      {Panel ? <Panel /> : null}
      <p style={{ color: '#c00' }}>
        lazy error: <b id="lazy-error">{error}</b>
      </p>
    </div>
  );
}
