'use client';

import { useState } from 'react';
import { buttonAction } from './action-names';

// Calls a server action from a click handler, with try/catch showing any error.
export default function ActionButton() {
  const [calls, setCalls] = useState(0);
  const [result, setResult] = useState('');
  const [error, setError] = useState('');
  const [status, setStatus] = useState('idle');

  async function onClick() {
    setResult('');
    setError('');
    setStatus('pending');
    try {
      const answer = await buttonAction('hello');
      // Stock Next.js 15.1 resolves a stale action's promise to undefined.
      setResult(answer === undefined ? '' : `action served by build ${answer.servedBy}`);
      setStatus(answer === undefined ? 'resolved-undefined' : 'resolved');
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setStatus('rejected');
    } finally {
      setCalls((n) => n + 1);
    }
  }

  return (
    <div>
      <button id="action-button" onClick={onClick}>Call the server action</button>
      <p>
        result: <b id="action-result">{result}</b>
      </p>
      <p style={{ color: '#c00' }}>
        error: <b id="action-error">{error}</b>
      </p>
      <p style={{ color: '#888', fontSize: '0.8rem' }}>
        calls finished: <span id="action-calls">{calls}</span>, last: <span id="action-status">{status}</span>
      </p>
    </div>
  );
}
