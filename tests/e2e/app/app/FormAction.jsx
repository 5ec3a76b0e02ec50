'use client';

import { useActionState } from 'react';
import { submitForm } from './actions';

// <form action={...}> with no try/catch: a thrown error reaches app/error.jsx.
export default function FormAction() {
  const [state, formAction, pending] = useActionState(submitForm, null);
  return (
    <form action={formAction} id="js-form">
      <input name="note" defaultValue="hello from the form" />
      <button id="form-submit" type="submit" disabled={pending}>Submit the form</button>
      <p>
        form result: <b id="form-result">{state ? `form action served by build ${state.servedBy}` : ''}</b>
      </p>
    </form>
  );
}
