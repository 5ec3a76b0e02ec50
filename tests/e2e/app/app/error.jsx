'use client';

// The error boundary the form's action falls into (the form has no try/catch).
export default function ErrorBoundary({ error, reset }) {
  return (
    <div role="alert" style={{ border: '2px solid #c00', padding: '1rem' }}>
      <h2>Something went wrong (error boundary, client build {process.env.BUILD_LABEL})</h2>
      <p id="boundary-error">{error?.message}</p>
      <button onClick={() => reset()}>Try again</button>
    </div>
  );
}
