'use client';

// Its text is inlined per build, so A's chunk and B's chunk have different names.
export default function LazyPanel() {
  return (
    <p id="lazy-panel" style={{ background: '#eef', padding: '0.5rem' }}>
      lazy chunk from build {process.env.BUILD_LABEL}
    </p>
  );
}
